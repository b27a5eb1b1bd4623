"""Rule sources of the processors: a directory of YAML, re-read on change, bad files reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from logsentinel import manifests
from logsentinel.processors import rules as sources
from logsentinel.processors.rules import DirectoryRules

RULE = {
    "apiVersion": "logsentinel.io/v1alpha1",
    "kind": "DetectionRule",
    "metadata": {"name": "errors", "namespace": "shop"},
    "spec": {
        "match": {"levels": ["error"]},
        "detector": {"type": "threshold", "threshold": {"count": 5}},
        "severity": "high",
        "incidentType": "ErrorBurst",
    },
}


@pytest.fixture(autouse=True)
def no_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "DIRECTORY_POLL_SECONDS", 0.0)


def test_valid_rules_load_and_broken_ones_are_refused_with_the_field(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(RULE))
    broken = {**RULE, "spec": {**RULE["spec"], "detector": {"type": "zscore", "zscore": {}}}}  # type: ignore[dict-item]
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    (tmp_path / "not-yaml.yaml").write_text("kind: [unclosed")
    (tmp_path / "playbook.yaml").write_text("")  # empty files are nothing, not errors
    source = DirectoryRules(tmp_path)
    loaded = source.latest()
    assert loaded is not None
    assert [rule.metadata.name for rule in loaded.rules] == ["errors"]
    assert set(loaded.refused) == {str(tmp_path / "broken.yaml"), str(tmp_path / "not-yaml.yaml")}
    assert "spec.detector.zscore.sigma" in loaded.refused[str(tmp_path / "broken.yaml")]
    assert "invalid YAML" in loaded.refused[str(tmp_path / "not-yaml.yaml")]


def test_a_changed_file_gives_a_new_rule_set_and_no_change_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump(RULE))
    source = DirectoryRules(tmp_path)
    assert source.latest() is not None
    assert source.latest() is None, "nothing changed"
    changed = {**RULE, "spec": {**RULE["spec"], "severity": "critical"}}  # type: ignore[dict-item]
    path.write_text(yaml.safe_dump(changed))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse file clocks
    update = source.latest()
    assert update is not None
    assert update.rules[0].spec.severity.value == "critical"
    path.unlink()
    emptied = source.latest()
    assert emptied is not None
    assert emptied.rules == []


def test_a_missing_directory_means_no_rules(tmp_path: Path) -> None:
    source = DirectoryRules(tmp_path / "absent")
    source.start()
    loaded = source.latest()
    assert loaded is not None
    assert loaded.rules == []


def test_a_file_that_is_not_text_or_vanishes_is_refused_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API writes into the directory the processors read: a binary file, or one deleted
    between listing and reading, must not stop a processor."""
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(RULE))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00kind")
    vanished = tmp_path / "vanished.yaml"
    vanished.write_text(yaml.safe_dump(RULE))
    listed = manifests.yaml_files

    def listing_then_delete(paths: list[Path]) -> list[Path]:
        found = list(listed(paths))
        if vanished.exists():  # another writer deletes it after the rule loader listed it
            vanished.unlink()
        return found

    source = DirectoryRules(tmp_path)
    monkeypatch.setattr(manifests, "yaml_files", listing_then_delete)
    loaded = source.latest()
    assert loaded is not None
    assert [rule.metadata.name for rule in loaded.rules] == ["errors"]
    assert list(loaded.refused) == [str(tmp_path / "binary.yaml")]
    assert loaded.refused[str(tmp_path / "binary.yaml")].startswith("unreadable: 'utf-8' codec")
