"""Which detector class runs a rule: one entry per DetectorType."""

from __future__ import annotations

from typing import Any

from logsentinel.detection.detectors import (
    AbsenceDetector,
    EwmaDetector,
    KeyedDetector,
    LatencyDetector,
    RatioDetector,
    ThresholdDetector,
    ZScoreDetector,
)
from logsentinel.detection.isolation import IsolationForestDetector
from logsentinel.detection.newpattern import NewPatternDetector
from logsentinel.domain.rule import (
    AbsenceParams,
    Detector,
    EwmaParams,
    IsolationForestParams,
    LatencyParams,
    NewPatternParams,
    RatioParams,
    ThresholdParams,
    ZScoreParams,
)

_DETECTORS: dict[type[Any], type[KeyedDetector[Any]]] = {
    ThresholdParams: ThresholdDetector,
    RatioParams: RatioDetector,
    LatencyParams: LatencyDetector,
    AbsenceParams: AbsenceDetector,
    ZScoreParams: ZScoreDetector,
    EwmaParams: EwmaDetector,
    NewPatternParams: NewPatternDetector,
    IsolationForestParams: IsolationForestDetector,
}


def build(detector: Detector) -> KeyedDetector[Any]:
    """A fresh detector for a rule's spec."""
    member = detector.member
    return _DETECTORS[type(member)](member)  # type: ignore[call-arg]
