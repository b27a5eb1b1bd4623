"""Where a processor's DetectionRules come from: the Kubernetes API or a directory of YAML.

Both sources hand the processor's main thread a whole new rule set when something changed
(latest() returns None otherwise), so the rule engine is only ever touched from that thread.
Refused documents are logged with the reason once per change; they never stop the processor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from logsentinel.domain.resources import DetectionRule
from logsentinel.manifests import load_rules, yaml_files

log = structlog.get_logger("logsentinel.processors")

DIRECTORY_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class RuleSet:
    rules: list[DetectionRule]
    refused: dict[str, str] = field(default_factory=dict)


class RuleSource(Protocol):
    def start(self) -> None: ...

    def latest(self) -> RuleSet | None:
        """A new rule set when it changed since the last call, else None."""

    def stop(self) -> None: ...


def report(rules: RuleSet, source: str) -> None:
    """Log the documents a source refused (the detection stage counts them with the rules the
    engine refuses)."""
    for where, reason in sorted(rules.refused.items()):
        log.error("rule refused", rule=where, source=source, reason=reason)
    log.info("rules loaded", source=source, rules=len(rules.rules), refused=len(rules.refused))


class StaticRules:
    """A fixed rule set (tests and benchmarks)."""

    def __init__(self, rules: list[DetectionRule]) -> None:
        self._pending: RuleSet | None = RuleSet(rules)

    def start(self) -> None:
        pass

    def latest(self) -> RuleSet | None:
        pending, self._pending = self._pending, None
        return pending

    def stop(self) -> None:
        pass


class DirectoryRules:
    """Rules from *.yaml files under a directory, re-read when a file changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._next_check = 0.0

    def start(self) -> None:
        if not self.directory.is_dir():
            log.error("rules directory missing; no rules", directory=str(self.directory))

    def _state(self) -> tuple[tuple[str, int, int], ...]:
        if not self.directory.is_dir():
            return ()
        files = []
        for path in yaml_files([self.directory]):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(files)

    def latest(self) -> RuleSet | None:
        now = time.monotonic()
        if now < self._next_check:
            return None
        self._next_check = now + DIRECTORY_POLL_SECONDS
        state = self._state()
        if state == self._seen:
            return None
        self._seen = state
        loaded = load_rules([self.directory]) if state else None
        rules = RuleSet(loaded.rules, loaded.refused) if loaded else RuleSet([])
        report(rules, str(self.directory))
        return rules

    def stop(self) -> None:
        pass


class Watcher(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class KubernetesRules:
    """Rules from DetectionRule custom resources, through the kube adapter's watch."""

    def __init__(self, make_watcher: Callable[[Callable[[RuleSet], None]], Watcher]) -> None:
        self._lock = threading.Lock()
        self._pending: RuleSet | None = None
        self._watcher = make_watcher(self._changed)

    def _changed(self, rules: RuleSet) -> None:  # on the watch thread
        with self._lock:
            self._pending = rules

    def start(self) -> None:
        self._watcher.start()

    def latest(self) -> RuleSet | None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            report(pending, "kubernetes")
        return pending

    def stop(self) -> None:
        self._watcher.stop()
