"""The default rule pack: valid, needing no per-service configuration, watching every
namespace from the central one, and the chart's copy identical to rules/default."""

from __future__ import annotations

from pathlib import Path

import pytest

from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.rule import DetectorType
from logsentinel.manifests import load_rules

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "rules" / "default"
CHART_COPY = REPO / "charts" / "logsentinel" / "files" / "default-rules"


def test_every_rule_is_valid_and_watches_every_workload_without_configuration() -> None:
    loaded = load_rules([PACK])
    assert loaded.refused == {}
    assert len(loaded.rules) == len(list(PACK.glob("*.yaml")))
    for rule in loaded.rules:
        assert rule.metadata.namespace == DEFAULT_CENTRAL_NAMESPACE
        assert rule.spec.selector.all_namespaces
        assert rule.spec.selector.services == []
        assert rule.spec.detector.group_by == ["namespace", "service"]


def test_the_pack_covers_each_fault_class_and_keeps_the_forest_opt_in() -> None:
    types = {rule.spec.detector.type for rule in load_rules([PACK]).rules}
    assert {
        DetectorType.ZSCORE, DetectorType.RATIO, DetectorType.ABSENCE,
        DetectorType.NEW_PATTERN, DetectorType.LATENCY,
    } == types  # fmt: skip


@pytest.mark.parametrize("path", sorted(PACK.glob("*.yaml")), ids=lambda p: p.name)
def test_the_charts_copy_is_identical(path: Path) -> None:
    assert (CHART_COPY / path.name).read_text() == path.read_text(), "run `make crds`"


def test_the_chart_has_no_rule_the_pack_lacks() -> None:
    assert {p.name for p in CHART_COPY.glob("*.yaml")} == {p.name for p in PACK.glob("*.yaml")}
