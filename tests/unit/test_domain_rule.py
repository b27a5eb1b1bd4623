"""DetectionRule: each detector's valid and invalid parameters, matches, unions, paths."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from logsentinel.domain import DetectionRule, DetectorType, InvalidResourceError
from logsentinel.domain.rule import (
    Detector,
    FieldCondition,
    Match,
    RuleSelector,
    ThresholdParams,
    scope_problem,
    watched_namespaces,
)
from logsentinel.domain.types import parse_duration

VALID_PARAMETERS: dict[str, dict[str, Any]] = {
    "threshold": {"count": 5},
    "ratio": {"above": 0.1},
    "zscore": {"sigma": 3, "minCount": 10},
    "ewma": {},
    "absence": {"silentFor": "10m"},
    "newPattern": {},
    "isolationForest": {},
    "latency": {"attribute": "request_time_ms", "above": 250},
}


def rule(detector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": "r", "namespace": "shop"},
        "spec": {"detector": detector, "severity": "high", "incidentType": "Test", **spec},
    }


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidResourceError) as raised:
        DetectionRule.from_manifest(document)
    return {problem.path: problem.message for problem in raised.value.problems}


@pytest.mark.parametrize("detector_type", list(DetectorType))
def test_every_detector_type_validates(detector_type: DetectorType) -> None:
    name = detector_type.value
    parsed = DetectionRule.from_manifest(rule({"type": name, name: VALID_PARAMETERS[name]}))
    assert parsed.spec.detector.type is detector_type
    assert parsed.spec.detector.to_wire()[name] == parsed.spec.detector.member.to_wire()
    assert parsed.spec.detector.group_by == ["namespace", "service"]


def test_defaults_fill_in() -> None:
    parsed = DetectionRule.from_manifest(rule({"type": "threshold", "threshold": {"count": 3}}))
    assert parsed.spec.detector.threshold == ThresholdParams(count=3, window=timedelta(minutes=1))
    assert parsed.spec.cooldown == timedelta(minutes=10)
    assert parsed.spec.auto_resolve_after == timedelta(minutes=15)
    assert parsed.spec.suspend is False


def test_member_with_only_defaults_may_be_omitted() -> None:
    parsed = DetectionRule.from_manifest(rule({"type": "ewma"}))
    assert parsed.spec.detector.ewma is not None
    assert parsed.spec.detector.ewma.alpha == 0.3


def test_member_with_required_fields_may_not_be_omitted() -> None:
    assert problems(rule({"type": "threshold"})) == {
        "spec.detector.threshold": "is required when type is 'threshold'"
    }


def test_other_members_are_refused() -> None:
    found = problems(rule({"type": "ratio", "ratio": {"above": 0.5}, "threshold": {"count": 1}}))
    assert found == {"spec.detector.threshold": "must not be set when type is 'ratio'"}


@pytest.mark.parametrize(
    ("detector", "path", "fragment"),
    [
        (
            {"type": "threshold", "threshold": {"count": 0}},
            "spec.detector.threshold.count",
            "greater than or equal to 1",
        ),
        (
            {"type": "ratio", "ratio": {"above": 1.5}},
            "spec.detector.ratio.above",
            "less than or equal to 1",
        ),
        ({"type": "ratio", "ratio": {"above": 0}}, "spec.detector.ratio.above", "greater than 0"),
        (
            {"type": "zscore", "zscore": {"sigma": 3}},
            "spec.detector.zscore.minCount",
            "Field required",
        ),
        (
            {
                "type": "zscore",
                "zscore": {"sigma": 3, "minCount": 5, "window": "5m", "baseline": "10m"},
            },
            "spec.detector.zscore.baseline",
            "at least 3 windows",
        ),
        ({"type": "ewma", "ewma": {"alpha": 0}}, "spec.detector.ewma.alpha", "greater than 0"),
        ({"type": "absence", "absence": {}}, "spec.detector.absence.silentFor", "Field required"),
        (
            {"type": "newPattern", "newPattern": {"learningPeriod": "soon"}},
            "spec.detector.newPattern.learningPeriod",
            "invalid duration",
        ),
        (
            {"type": "isolationForest", "isolationForest": {"baselinePeriod": "10m"}},
            "spec.detector.isolationForest.baselinePeriod",
            "minBaselineIntervals",
        ),
        (
            {"type": "isolationForest", "isolationForest": {"contamination": 0.9}},
            "spec.detector.isolationForest.contamination",
            "less than or equal to 0.5",
        ),
        (
            {"type": "latency", "latency": {"attribute": "t", "above": 1, "percentile": 101}},
            "spec.detector.latency.percentile",
            "less than or equal to 100",
        ),
        ({"type": "bogus"}, "spec.detector.type", "threshold"),
        (
            {"type": "threshold", "threshold": {"count": 1}, "groupBy": ["namespace", "pod"]},
            "spec.detector.groupBy",
            "must include service",
        ),
        (
            {
                "type": "threshold",
                "threshold": {"count": 1},
                "groupBy": ["namespace", "service", "service"],
            },
            "spec.detector.groupBy",
            "repeat",
        ),
        (
            {
                "type": "threshold",
                "threshold": {"count": 1},
                "groupBy": ["namespace", "service", "color"],
            },
            "spec.detector.groupBy[2]",
            "pattern",
        ),
    ],
)
def test_invalid_detectors_name_the_field(
    detector: dict[str, Any], path: str, fragment: str
) -> None:
    found = problems(rule(detector))
    assert path in found, found
    assert fragment in found[path]


def test_zscore_baseline_of_exactly_three_windows_is_enough() -> None:
    detector = {
        "type": "zscore",
        "zscore": {"sigma": 3, "minCount": 5, "window": "1m", "baseline": "3m"},
    }
    assert DetectionRule.from_manifest(rule(detector)).spec.detector.zscore is not None


@pytest.mark.parametrize(
    ("condition", "path", "fragment"),
    [
        ({"field": "attributes.status", "op": "in"}, "values", "at least one value"),
        (
            {"field": "attributes.status", "op": "in", "values": ["1"], "value": "1"},
            "value",
            "use values",
        ),
        ({"field": "attributes.status", "op": "gt", "value": "fast"}, "value", "must be a number"),
        ({"field": "attributes.status", "op": "equals"}, "value", "required"),
        ({"field": "attributes.status", "op": "exists", "value": "x"}, "value", "must not be set"),
        ({"field": "attributes.status", "op": "equals", "values": ["x"]}, "values", "only allowed"),
        ({"field": "message", "op": "regex", "value": "(x"}, "value", "invalid regular expression"),
        ({"field": "colour", "op": "exists"}, "field", "pattern"),
    ],
)
def test_field_conditions(condition: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(
        rule({"type": "threshold", "threshold": {"count": 1}}, match={"fields": [condition]})
    )
    full_path = f"spec.match.fields[0].{path}"
    assert full_path in found, found
    assert fragment in found[full_path]


def test_valid_match() -> None:
    match = Match.model_validate(
        {
            "levels": ["error"],
            "regex": "timeout",
            "template": "Timeout after <*>",
            "fields": [
                {"field": "attributes.status", "op": "gte", "value": "500"},
                {"field": "pod", "op": "in", "values": ["a", "b"]},
                {"field": "attributes.user", "op": "notExists"},
            ],
        }
    )
    assert match.fields[1] == FieldCondition(field="pod", op="in", values=["a", "b"])


def test_wire_form_round_trips() -> None:
    document = rule({"type": "zscore", "zscore": {"sigma": 2.5, "minCount": 4}}, cooldown="90s")
    parsed = DetectionRule.from_manifest(document)
    wire = parsed.to_wire()
    assert wire["spec"]["cooldown"] == "1m30s"
    assert wire["spec"]["detector"]["zscore"]["baseline"] == "1h"
    assert DetectionRule.from_manifest(wire) == parsed


def test_wrong_kind_and_version_are_reported() -> None:
    document = rule({"type": "threshold", "threshold": {"count": 1}})
    document["apiVersion"] = "logsentinel.io/v2"
    assert "apiVersion" in problems(document)


# --- namespace scope ---------------------------------------------------------------------------

THRESHOLD = {"type": "threshold", "threshold": {"count": 1}}


def test_all_namespaces_and_a_namespace_list_exclude_each_other() -> None:
    found = problems(rule(THRESHOLD, selector={"namespaces": ["a"], "allNamespaces": True}))
    assert found == {"spec.selector.namespaces": "must be empty when allNamespaces is true"}


@pytest.mark.parametrize(
    ("home", "selector", "watched"),
    [
        ("shop", {}, {"shop"}),
        ("shop", {"namespaces": ["shop"]}, {"shop"}),
        ("ops", {}, {"ops"}),
        ("ops", {"namespaces": ["shop", "search"]}, {"shop", "search"}),
        ("ops", {"allNamespaces": True}, None),
    ],
)
def test_a_rule_watches_its_own_namespace_unless_central_and_explicit(
    home: str, selector: dict[str, Any], watched: set[str] | None
) -> None:
    parsed = RuleSelector.model_validate(selector)
    assert scope_problem(parsed, home, central_namespace="ops") is None
    assert watched_namespaces(parsed, home) == (None if watched is None else frozenset(watched))


@pytest.mark.parametrize(
    ("selector", "path", "fragment"),
    [
        ({"namespaces": ["shop", "search"]}, "spec.selector.namespaces", "watching search"),
        ({"allNamespaces": True}, "spec.selector.allNamespaces", "every namespace"),
    ],
)
def test_a_rule_outside_the_central_namespace_may_not_reach_further(
    selector: dict[str, Any], path: str, fragment: str
) -> None:
    problem = scope_problem(RuleSelector.model_validate(selector), "shop", central_namespace="ops")
    assert problem is not None
    assert problem.path == path
    assert fragment in problem.message
    assert "'ops'" in problem.message, "names the central namespace"


@pytest.mark.parametrize(
    ("detector", "window", "baseline"),
    [
        ({"type": "threshold", "threshold": {"count": 5, "window": "2m"}}, "2m", None),
        ({"type": "ratio", "ratio": {"above": 0.2}}, "5m", None),
        ({"type": "zscore", "zscore": {"sigma": 3, "minCount": 5, "baseline": "2h"}}, "1m", "2h"),
        ({"type": "ewma", "ewma": {"alpha": 0.25, "warmupWindows": 10}}, "1m", "20m"),
        ({"type": "absence", "absence": {"silentFor": "10m"}}, "10m", None),
        ({"type": "newPattern", "newPattern": {}}, "0s", None),
        ({"type": "isolationForest", "isolationForest": {"interval": "2m", "baselinePeriod": "6h"}},
         "2m", "6h"),
        ({"type": "latency", "latency": {"attribute": "latency_ms", "above": 500}}, "5m", None),
    ],
)  # fmt: skip
def test_each_detector_says_its_own_window_and_baseline(
    detector: dict[str, object], window: str, baseline: str | None
) -> None:
    params = Detector.model_validate(detector).params
    assert params.decision_window() == parse_duration(window)
    assert params.baseline_span() == (None if baseline is None else parse_duration(baseline))


def test_only_latency_and_isolation_forest_read_record_attributes() -> None:
    reading = {
        name
        for name, params in VALID_PARAMETERS.items()
        if Detector.model_validate({"type": name, name: params}).params.reads_attributes()
    }
    assert reading == {"latency", "isolationForest"}
