"""The API's directory store of rules and playbooks: one readable file per object, names of any
valid length (a namespace and a name together exceed what a file name can hold), writers that
take turns, and invalid files left out of lists."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
import structlog

from logsentinel.api import manifests
from logsentinel.api.manifests import (
    LOCK_FILE,
    MAX_FILE_NAME,
    BusyError,
    DirectoryStore,
    InvalidStoredError,
    NotFoundError,
)
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


def files(directory: Path) -> list[str]:
    """The directory's files but the lock file (always there once something was written)."""
    return sorted(p.name for p in directory.iterdir() if p.name != LOCK_FILE)


def test_short_names_keep_readable_file_names(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, DetectionRule)
    assert store.put(rule("shop", "error-burst"))
    assert files(tmp_path) == ["detectionrule-shop_error-burst.yaml"]


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
    assert len(files(tmp_path)) == 2
    assert store.get("a-b", "c").metadata.namespace == "a-b"
    assert store.get("a", "b-c").metadata.namespace == "a"


def test_concurrent_writers_take_turns_and_leave_one_whole_file(tmp_path: Path) -> None:
    stores = [DirectoryStore(tmp_path, DetectionRule) for _ in range(2)]  # two "workers"
    start = threading.Barrier(20)
    created: list[bool] = []

    def put(n: int) -> None:
        start.wait()
        created.append(stores[n % 2].put(rule("shop", "burst")))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [False] * 19 + [True], "exactly one put created the file"
    assert files(tmp_path) == ["detectionrule-shop_burst.yaml"], "no temporary file is left"
    assert stores[0].get("shop", "burst").metadata.name == "burst"


def test_a_writer_gives_up_when_the_lock_is_held_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifests, "LOCK_WAIT", 0.05)
    store = DirectoryStore(tmp_path, DetectionRule)
    store.put(rule("shop", "burst"))
    holder = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(BusyError, match="another writer"):
            store.put(rule("shop", "burst"))
        with pytest.raises(BusyError):
            store.delete("shop", "burst")
    finally:
        os.close(holder)
    store.delete("shop", "burst")
    assert files(tmp_path) == []


def test_invalid_files_are_left_out_of_lists_and_named(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, DetectionRule)
    store.put(rule("shop", "good"))
    (tmp_path / "detectionrule-shop_yaml.yaml").write_text("spec: [unclosed\n")
    (tmp_path / "detectionrule-shop_list.yaml").write_text("- not an object\n")
    (tmp_path / "detectionrule-shop_binary.yaml").write_bytes(b"\xff\xfe")
    (tmp_path / "detectionrule-shop_spec.yaml").write_text(
        "kind: DetectionRule\nmetadata: {name: spec, namespace: shop}\nspec: {severity: no}\n"
    )
    with structlog.testing.capture_logs() as logs:
        assert [r.metadata.name for r in store.list(None)] == ["good"]
    skipped = {Path(entry["file"]).name: entry["error"] for entry in logs}
    assert set(skipped) == {
        "detectionrule-shop_yaml.yaml",
        "detectionrule-shop_list.yaml",
        "detectionrule-shop_binary.yaml",
        "detectionrule-shop_spec.yaml",
    }
    assert "expected a mapping" in skipped["detectionrule-shop_list.yaml"]
    assert "spec.severity" in skipped["detectionrule-shop_spec.yaml"]
    with pytest.raises(InvalidStoredError, match=r"detectionrule-shop_yaml\.yaml"):
        store.get("shop", "yaml")
    assert not store.put(rule("shop", "yaml")), "a valid put replaces an invalid file"
    assert store.get("shop", "yaml").metadata.name == "yaml"
