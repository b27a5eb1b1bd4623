"""Broken variants of the examples: each names the field its error must mention.

Shared by the unit tests (domain models and the CRD schema) and the e2e tests (the apiserver).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMESPACES_EXAMPLE = EXAMPLES / "00-namespaces.yaml"
"""The Namespace objects the examples live in (not a Log Sentinel kind)."""


def resource_examples() -> list[Path]:
    """Every example file holding a Log Sentinel resource (one per file)."""
    return sorted(path for path in EXAMPLES.rglob("*.yaml") if path != NAMESPACES_EXAMPLE)


Document = dict[str, Any]


@dataclass(frozen=True)
class BrokenVariant:
    """An example with one thing wrong.

    ``field`` is the path the domain error must name; ``schema_field`` is the field the CRD
    schema's error names, or None where only the domain (and so the operator's status
    conditions) can tell.
    """

    id: str
    example: str
    mutate: Callable[[Document], None]
    field: str
    schema_field: str | None

    def document(self) -> Document:
        original = yaml.safe_load((EXAMPLES / self.example).read_text())
        broken = copy.deepcopy(original)
        self.mutate(broken)
        return broken


def _set(path: str, value: Any) -> Callable[[Document], None]:
    """A mutation that sets a dotted path (list indexes as numbers) to value."""

    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


THRESHOLD = "rules/threshold-error-burst.yaml"
ZSCORE = "rules/zscore-warning-surge.yaml"
AUTO = "playbooks/auto-restart-then-rollback.yaml"
APPROVAL = "playbooks/approval-scale-up.yaml"
PIPELINE = "logpipeline.yaml"

VARIANTS = [
    BrokenVariant(
        "bad-duration",
        THRESHOLD,
        _set("spec.detector.threshold.window", "5 minutes"),
        "spec.detector.threshold.window",
        "spec.detector.threshold.window",
    ),
    BrokenVariant(
        "unknown-severity",
        THRESHOLD,
        _set("spec.severity", "apocalyptic"),
        "spec.severity",
        "spec.severity",
    ),
    BrokenVariant(
        "zero-count",
        THRESHOLD,
        _set("spec.detector.threshold.count", 0),
        "spec.detector.threshold.count",
        "spec.detector.threshold.count",
    ),
    BrokenVariant(
        "unknown-field",
        THRESHOLD,
        _set("spec.detector.threshold.limit", 3),
        "spec.detector.threshold.limit",
        "spec.detector.threshold",
    ),
    BrokenVariant(
        "member-does-not-match-type",
        THRESHOLD,
        _set("spec.detector.type", "ratio"),
        "spec.detector.threshold",
        "spec.detector",
    ),
    BrokenVariant(
        "missing-detector",
        THRESHOLD,
        _delete("spec.detector"),
        "spec.detector",
        "spec",
    ),
    BrokenVariant(
        "regex-does-not-compile",
        THRESHOLD,
        _set("spec.match.regex", "(unclosed"),
        "spec.match.regex",
        None,
    ),
    BrokenVariant(
        "regex-lookahead-not-re2",
        THRESHOLD,
        _set("spec.match.regex", "timeout(?=.*retry)"),
        "spec.match.regex",
        None,
    ),
    BrokenVariant(
        "all-namespaces-and-a-list",
        THRESHOLD,
        _set("spec.selector.allNamespaces", True),
        "spec.selector.namespaces",
        "spec.selector",
    ),
    BrokenVariant(
        "regex-too-long",
        THRESHOLD,
        _set("spec.match.regex", "a" * 1025),
        "spec.match.regex",
        "spec.match.regex",
    ),
    BrokenVariant(
        "group-not-partition-local",
        THRESHOLD,
        _set("spec.detector.groupBy", ["namespace"]),
        "spec.detector.groupBy",
        None,
    ),
    BrokenVariant(
        "zscore-baseline-shorter-than-windows",
        ZSCORE,
        _set("spec.detector.zscore.baseline", "2m"),
        "spec.detector.zscore.baseline",
        None,
    ),
    BrokenVariant(
        "rollback-on-daemonset",
        AUTO,
        _set("spec.triggers.targetKinds", ["Deployment", "DaemonSet"]),
        "spec.onFailure",
        None,
    ),
    BrokenVariant(
        "notify-without-target",
        AUTO,
        _set("spec.steps.0.notify", {"message": "hello"}),
        "spec.steps[0].notify.webhook",
        None,
    ),
    BrokenVariant(
        "unknown-mode",
        AUTO,
        _set("spec.mode", "yolo"),
        "spec.mode",
        "spec.mode",
    ),
    BrokenVariant(
        "wait-without-duration",
        AUTO,
        _set("spec.steps.2.wait", {}),
        "spec.steps[2].wait.duration",
        "spec.steps[2].wait",
    ),
    BrokenVariant(
        "scale-out-of-bounds",
        APPROVAL,
        _set("spec.steps.0.scale", {"replicas": 20, "maxReplicas": 12}),
        "spec.steps[0].scale.replicas",
        None,
    ),
    BrokenVariant(
        "ephemeral-buffer-without-size",
        PIPELINE,
        _set("spec.buffer", {"type": "ephemeral", "ephemeral": {"storageClassName": "standard"}}),
        "spec.buffer.ephemeral.size",
        "spec.buffer.ephemeral",
    ),
    BrokenVariant(
        "buffer-limit-larger-than-volume",
        PIPELINE,
        _set(
            "spec.buffer",
            {"type": "ephemeral", "totalLimitSize": "8Gi", "ephemeral": {"size": "4Gi"}},
        ),
        "spec.buffer.totalLimitSize",
        None,
    ),
    BrokenVariant(
        "no-bootstrap-servers",
        PIPELINE,
        _set("spec.kafka.bootstrapServers", []),
        "spec.kafka.bootstrapServers",
        "spec.kafka.bootstrapServers",
    ),
    BrokenVariant(
        "custom-parser-without-named-group",
        PIPELINE,
        _set("spec.processors.customParsers.0.regex", "^(\\w+) (.*)$"),
        "spec.processors.customParsers[0].regex",
        None,
    ),
]
