"""DetectionRule: which logs to watch, which detector decides, and what incident to open.

A rule sees the records of its own namespace. Only a rule in the central namespace (a setting of
the operator and the processors, see DEFAULT_CENTRAL_NAMESPACE) may watch others, and only when
it says so: spec.selector.namespaces names them, or spec.selector.allNamespaces takes every one.
scope_problem() says when a rule reaches further than it may; watched_namespaces() what it sees.
"""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.common import Condition, Selector, Severity
from logsentinel.domain.errors import FieldProblem
from logsentinel.domain.logrecord import Level
from logsentinel.domain.regex import regex_problem
from logsentinel.domain.types import Duration, Identifier, NamespaceName, Regex, ShortText
from logsentinel.domain.union import TaggedUnion

# --- whose records ---------------------------------------------------------------------------


class RuleSelector(Selector):
    """Which records a rule sees: those of its own namespace, narrowed by services and labels.
    Only a rule in the central namespace may watch other namespaces (namespaces) or every
    namespace (allNamespaces)."""

    model_config = Selector.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.allNamespaces) || !self.allNamespaces"
                    " || !has(self.namespaces) || size(self.namespaces) == 0",
                    "message": "namespaces must be empty when allNamespaces is true",
                }
            ]
        }
    }

    namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=100,
        description="Namespaces watched; empty: the rule's own. Others: central namespace only.",
    )
    all_namespaces: bool = Field(
        default=False, description="Watch every namespace (rules in the central namespace only)."
    )

    @model_validator(mode="after")
    def _namespaces_or_all(self) -> Self:
        if self.all_namespaces and self.namespaces:
            raise field_error("namespaces", "must be empty when allNamespaces is true")
        return self


def scope_problem(selector: RuleSelector, home: str, central_namespace: str) -> FieldProblem | None:
    """Why a rule living in namespace home may not watch what its selector names, or None."""
    if home == central_namespace:
        return None
    if selector.all_namespaces:
        return FieldProblem(
            "spec.selector.allNamespaces",
            f"only rules in the central namespace {central_namespace!r} may watch every "
            f"namespace; this rule is in {home!r} and sees its own namespace only",
        )
    others = sorted(set(selector.namespaces) - {home})
    if others:
        return FieldProblem(
            "spec.selector.namespaces",
            f"a rule in namespace {home!r} sees its own namespace only; watching "
            f"{', '.join(others)} takes a rule in the central namespace {central_namespace!r}",
        )
    return None


def watched_namespaces(selector: RuleSelector, home: str) -> frozenset[str] | None:
    """The namespaces whose records a rule living in home sees; None for every namespace.

    Only meaningful once scope_problem() found nothing wrong.
    """
    if selector.all_namespaces:
        return None
    return frozenset(selector.namespaces or (home,))


# --- what to match ---------------------------------------------------------------------------

RECORD_FIELDS = ("service", "namespace", "pod", "container", "node", "stream", "level", "message")
FIELD_PATH_PATTERN = rf"^({'|'.join(RECORD_FIELDS)}|attributes\.[A-Za-z0-9_.-]+)$"
FieldPath = Annotated[str, StringConstraints(max_length=253, pattern=FIELD_PATH_PATTERN)]
"""A record field (pod) or a parsed attribute (attributes.status)."""


class FieldOperator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "notEquals"
    IN = "in"
    NOT_IN = "notIn"
    GREATER_THAN = "gt"
    GREATER_OR_EQUAL = "gte"
    LESS_THAN = "lt"
    LESS_OR_EQUAL = "lte"
    EXISTS = "exists"
    NOT_EXISTS = "notExists"
    REGEX = "regex"


NUMERIC_OPERATORS = frozenset(
    {
        FieldOperator.GREATER_THAN,
        FieldOperator.GREATER_OR_EQUAL,
        FieldOperator.LESS_THAN,
        FieldOperator.LESS_OR_EQUAL,
    }
)
SET_OPERATORS = frozenset({FieldOperator.IN, FieldOperator.NOT_IN})
PRESENCE_OPERATORS = frozenset({FieldOperator.EXISTS, FieldOperator.NOT_EXISTS})

ConditionValue = Annotated[str, StringConstraints(max_length=1024)]


class FieldCondition(SchemaModel):
    """A test on one field. Values are strings; numeric operators compare them as numbers."""

    field: FieldPath
    op: FieldOperator = FieldOperator.EQUALS
    value: ConditionValue | None = None
    values: list[ConditionValue] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _operands_fit_operator(self) -> Self:
        op = self.op
        if op in SET_OPERATORS:
            if not self.values:
                raise field_error("values", f"needs at least one value for op {op.value!r}")
            if self.value is not None:
                raise field_error("value", f"must not be set for op {op.value!r}; use values")
            return self
        if self.values:
            raise field_error("values", f"only allowed for op 'in' or 'notIn', not {op.value!r}")
        if op in PRESENCE_OPERATORS:
            if self.value is not None:
                raise field_error("value", f"must not be set for op {op.value!r}")
            return self
        if self.value is None:
            raise field_error("value", f"is required for op {op.value!r}")
        if op in NUMERIC_OPERATORS:
            try:
                float(self.value)
            except ValueError:
                raise field_error(
                    "value", f"must be a number for op {op.value!r}, got {self.value!r}"
                ) from None
        if op is FieldOperator.REGEX:
            problem = regex_problem(self.value)
            if problem is not None:
                raise field_error("value", problem)
        return self


class Match(SchemaModel):
    """Which records count. Every part that is set must hold (AND); an empty match takes all."""

    levels: list[Level] = Field(default_factory=list, max_length=len(Level))
    regex: Regex | None = Field(
        default=None, description="Searched in the message (RE2 syntax: no lookaround)."
    )
    template: Regex | None = Field(
        default=None,
        description="Searched in the mined template text, e.g. 'Timeout after <*>' (RE2 syntax).",
    )
    fields: list[FieldCondition] = Field(default_factory=list, max_length=20)


# --- detectors -------------------------------------------------------------------------------


class DetectorType(StrEnum):
    THRESHOLD = "threshold"
    RATIO = "ratio"
    ZSCORE = "zscore"
    EWMA = "ewma"
    ABSENCE = "absence"
    NEW_PATTERN = "newPattern"
    ISOLATION_FOREST = "isolationForest"
    LATENCY = "latency"


Count = Annotated[int, Field(ge=1, le=100_000_000)]


class DetectorParams(SchemaModel):
    """What every detector's parameters say about time (the engine, the processors' baseline
    restore and remediation's verification read it here, for every detector alike)."""

    def decision_window(self) -> timedelta:
        """The span of records one decision of the detector looks at (zero: a single record)."""
        return timedelta(0)

    def baseline_span(self) -> timedelta | None:
        """How much stored history rebuilds the detector's baseline; None: it keeps none."""
        return None

    def reads_attributes(self) -> bool:
        """Whether the detector looks at records' parsed attributes (not only their columns)."""
        return False


class ThresholdParams(DetectorParams):
    """Fire the moment matching records in the sliding window reach count."""

    count: Count
    window: Duration = timedelta(minutes=1)

    def decision_window(self) -> timedelta:
        return self.window


class RatioParams(DetectorParams):
    """Fire when matching/total records in the window exceed above (with enough volume)."""

    above: Annotated[float, Field(gt=0, le=1)]
    min_total: Count = 20
    window: Duration = timedelta(minutes=5)

    def decision_window(self) -> timedelta:
        return self.window


class ZScoreParams(DetectorParams):
    """Fire when the count in the window is sigma standard deviations above the baseline.

    The baseline is the series of window-sized counts over baseline; minCount keeps a
    quiet service from firing on a handful of lines.
    """

    sigma: Annotated[float, Field(gt=0, le=100)]
    min_count: Count
    window: Duration = timedelta(minutes=1)
    baseline: Duration = timedelta(hours=1)

    def decision_window(self) -> timedelta:
        return self.window

    def baseline_span(self) -> timedelta:
        return self.baseline

    @model_validator(mode="after")
    def _baseline_spans_windows(self) -> Self:
        if self.baseline < 3 * self.window:
            raise field_error(
                "baseline",
                "must be at least 3 windows long to give a standard deviation "
                f"(window is {int(self.window.total_seconds())}s)",
            )
        return self


class EwmaParams(DetectorParams):
    """Fire when the window's count leaves an exponentially weighted band around the baseline."""

    alpha: Annotated[float, Field(gt=0, le=1)] = 0.3
    tolerance: Annotated[float, Field(gt=0, le=100)] = 3.0
    min_count: Count = 10
    window: Duration = timedelta(minutes=1)
    warmup_windows: Annotated[int, Field(ge=1, le=10_000)] = 10

    def decision_window(self) -> timedelta:
        return self.window

    def baseline_span(self) -> timedelta:
        """Enough windows to warm up and for older windows' weight to fade (5 / alpha)."""
        return self.window * max(self.warmup_windows, math.ceil(5 / self.alpha))


class AbsenceParams(DetectorParams):
    """Fire when a service that was logging writes nothing matching for silentFor."""

    silent_for: Duration
    min_prior_count: Count = 1

    def decision_window(self) -> timedelta:
        return self.silent_for


class NewPatternParams(DetectorParams):
    """Fire when a template never seen for the service appears after the learning period."""

    learning_period: Duration = timedelta(hours=1)
    within_after_rollout: Duration | None = Field(
        default=None, description="Only fire this long after a rollout of the workload."
    )


class IsolationFeature(StrEnum):
    COUNT_BY_LEVEL = "countByLevel"
    DISTINCT_TEMPLATES = "distinctTemplates"
    ERROR_RATIO = "errorRatio"
    LATENCY_PERCENTILES = "latencyPercentiles"


class IsolationForestParams(DetectorParams):
    """Score per-interval feature vectors with an isolation forest trained on a baseline."""

    interval: Duration = timedelta(minutes=1)
    baseline_period: Duration = timedelta(hours=6)
    min_baseline_intervals: Annotated[int, Field(ge=10, le=100_000)] = 30
    contamination: Annotated[float, Field(gt=0, le=0.5)] = 0.01
    estimators: Annotated[int, Field(ge=10, le=1000)] = 100
    features: list[IsolationFeature] = Field(
        default_factory=lambda: list(IsolationFeature),
        min_length=1,
        max_length=len(IsolationFeature),
    )
    latency_attribute: Identifier = "latency_ms"

    def decision_window(self) -> timedelta:
        return self.interval

    def baseline_span(self) -> timedelta:
        return self.baseline_period

    def reads_attributes(self) -> bool:
        return True  # latency percentiles among its features

    @model_validator(mode="after")
    def _baseline_holds_enough_intervals(self) -> Self:
        if self.baseline_period < self.interval * self.min_baseline_intervals:
            raise field_error(
                "baselinePeriod",
                f"must hold at least minBaselineIntervals "
                f"({self.min_baseline_intervals}) intervals",
            )
        return self


class LatencyParams(DetectorParams):
    """Fire when a percentile of a numeric attribute over the window exceeds above."""

    attribute: Identifier = Field(description="Parsed attribute holding the latency.")
    above: Annotated[float, Field(gt=0)]
    percentile: Annotated[float, Field(gt=0, le=100)] = 99
    min_count: Count = 20
    window: Duration = timedelta(minutes=5)

    def decision_window(self) -> timedelta:
        return self.window

    def reads_attributes(self) -> bool:
        return True


GROUP_KEY_PATTERN = (
    r"^(namespace|service|pod|container|node|level|template|attributes\.[A-Za-z0-9_.-]+)$"
)
GroupKey = Annotated[str, StringConstraints(max_length=253, pattern=GROUP_KEY_PATTERN)]
PARTITION_KEYS = ("namespace", "service")


class Detector(TaggedUnion):
    """The decision: type names it and the member of the same name holds its parameters."""

    COMMON_FIELDS: ClassVar[frozenset[str]] = frozenset({"type", "group_by"})

    type: DetectorType
    group_by: list[GroupKey] = Field(
        default_factory=lambda: list(PARTITION_KEYS),
        max_length=8,
        description="Keys of separate windows; must include namespace and service.",
    )
    threshold: ThresholdParams | None = None
    ratio: RatioParams | None = None
    zscore: ZScoreParams | None = None
    ewma: EwmaParams | None = None
    absence: AbsenceParams | None = None
    new_pattern: NewPatternParams | None = None
    isolation_forest: IsolationForestParams | None = None
    latency: LatencyParams | None = None

    @property
    def params(self) -> DetectorParams:
        """The chosen detector's parameters."""
        member = self.member
        if not isinstance(member, DetectorParams):  # every member field is a DetectorParams
            raise TypeError(f"detector {self.type} has parameters of {type(member).__name__}")
        return member

    @model_validator(mode="after")
    def _groups_stay_partition_local(self) -> Self:
        missing = [key for key in PARTITION_KEYS if key not in self.group_by]
        if missing:
            raise field_error(
                "groupBy",
                f"must include {' and '.join(missing)}: records are partitioned by "
                "namespace/service, so coarser groups would split a window across processors",
            )
        if len(set(self.group_by)) != len(self.group_by):
            raise field_error("groupBy", "must not repeat a key")
        return self


# --- the resource ----------------------------------------------------------------------------


class DetectionRuleSpec(SchemaModel):
    """Desired behaviour of a DetectionRule."""

    description: ShortText = ""
    selector: RuleSelector = Field(default_factory=RuleSelector)
    match: Match = Field(default_factory=Match)
    detector: Detector
    severity: Severity
    incident_type: Identifier = Field(description="Playbooks trigger on this, e.g. ErrorSpike.")
    cooldown: Duration = Field(
        default=timedelta(minutes=10),
        description="After an incident resolves, no new one for the same target for this long.",
    )
    auto_resolve_after: Duration = Field(
        default=timedelta(minutes=15), description="Resolve an incident after this long quiet."
    )
    suspend: bool = False


class DetectionRuleStatus(SchemaModel):
    """Observed state of a DetectionRule, written by the operator and the processors."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_fired_at: AwareDatetime | None = None
    fired_count: Annotated[int, Field(ge=0)] = 0


__all__ = [
    "AbsenceParams",
    "DetectionRuleSpec",
    "DetectionRuleStatus",
    "Detector",
    "DetectorType",
    "EwmaParams",
    "FieldCondition",
    "FieldOperator",
    "IsolationFeature",
    "IsolationForestParams",
    "LatencyParams",
    "Match",
    "NewPatternParams",
    "RatioParams",
    "RuleSelector",
    "ThresholdParams",
    "ZScoreParams",
    "scope_problem",
    "watched_namespaces",
]
