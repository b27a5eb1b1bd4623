"""The API's directory store of rules and playbooks: one readable file per object, and names of
any valid length (a namespace and a name together exceed what a file name can hold)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logsentinel.api.manifests import MAX_FILE_NAME, DirectoryStore, NotFoundError
from logsentinel.domain.resources import DetectionRule


def rule(namespace: str, name: str) -> DetectionRule:
    return DetectionRule.from_manifest(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
                "severity": "high",
                "incidentType": "ErrorBurst",
            },
        }
    )


def test_short_names_keep_readable_file_names(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, DetectionRule)
    assert store.put(rule("shop", "error-burst"))
    assert [p.name for p in tmp_path.iterdir()] == ["detectionrule-shop_error-burst.yaml"]


def test_the_longest_valid_names_fit_in_a_file_name(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, DetectionRule)
    namespace, name = "n" * 63, ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters
    other = name[:-1] + "c"  # same cut, different hash
    assert store.put(rule(namespace, name))
    assert store.put(rule(namespace, other))
    assert all(len(p.name.encode()) <= MAX_FILE_NAME for p in tmp_path.iterdir())
    assert store.get(namespace, name).metadata.name == name
    assert {r.metadata.name for r in store.list(namespace)} == {name, other}
    store.delete(namespace, name)
    with pytest.raises(NotFoundError):
        store.get(namespace, name)
    assert store.get(namespace, other).metadata.name == other


def test_dashes_cannot_make_two_objects_share_a_file(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, DetectionRule)
    assert store.put(rule("a-b", "c"))
    assert store.put(rule("a", "b-c"))
    assert len(list(tmp_path.iterdir())) == 2
    assert store.get("a-b", "c").metadata.namespace == "a-b"
    assert store.get("a", "b-c").metadata.namespace == "a"
