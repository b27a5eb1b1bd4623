"""New-pattern detector on deterministic streams: silent while learning, one firing per new
template after it, keys apart, rollout gating read from pod-template-hash labels or pod names,
seeding from storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logsentinel.detection.detectors import Firing
from logsentinel.detection.newpattern import NewPatternDetector
from logsentinel.detection.rollouts import PodRevision, RolloutTracker, pod_revision
from logsentinel.domain.logrecord import Level, LogRecord
from logsentinel.domain.rule import NewPatternParams

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = ("shop", "checkout")
OTHER = ("shop", "payments")
OLD_POD = "checkout-7d9f8b6c5d-x2x9k"
NEW_POD = "checkout-5c8b7f9d4d-q7w2z"
LEARNING = timedelta(hours=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(minutes: float, template: str | None, pod: str = OLD_POD) -> LogRecord:
    return LogRecord(
        timestamp=at(minutes),
        level=Level.ERROR,
        message="boom",
        service="checkout",
        namespace="shop",
        pod=pod,
        template_id=template,
    )


def detector(within_after_rollout: timedelta | None = None) -> NewPatternDetector:
    return NewPatternDetector(
        NewPatternParams(learning_period=LEARNING, within_after_rollout=within_after_rollout)
    )


def feed(
    detector: NewPatternDetector,
    minutes: float,
    template: str | None,
    key: tuple[str, ...] = KEY,
    pod: str = OLD_POD,
    matched: bool = True,
) -> Firing | None:
    return detector.observe_record(key, record(minutes, template, pod), matched)


# --- learning and firing ---------------------------------------------------------------------


def test_templates_seen_while_learning_are_silent_and_known_afterwards() -> None:
    patterns = detector()
    assert feed(patterns, 0, "a") is None
    assert feed(patterns, 30, "b") is None
    assert feed(patterns, 59.9, "c") is None, "still inside the learning period"
    assert all(feed(patterns, 61, template) is None for template in ("a", "b", "c"))


def test_a_new_template_after_learning_fires_once_with_its_id() -> None:
    patterns = detector()
    feed(patterns, 0, "a")
    firing = feed(patterns, 60, "d")
    assert firing is not None, "learning ends exactly learningPeriod after the first record"
    assert (firing.key, firing.at, firing.statistic) == (KEY, at(60), "newTemplate")
    assert (firing.value, firing.threshold, firing.matched, firing.detail) == (1, 0, 1, "d")
    assert feed(patterns, 61, "d") is None, "known after firing: not twice"
    assert feed(patterns, 62, "e") is not None, "another new one fires on its own"


def test_learning_starts_at_the_first_record_even_an_unmatched_one() -> None:
    patterns = detector()
    assert feed(patterns, 0, "a", matched=False) is None
    assert feed(patterns, 60, "a") is not None, "an unmatched record teaches no template"
    plain = detector()
    assert plain.observe(KEY, at(0), True) is None, "observe without the record starts the clock"
    assert feed(plain, 60, "a") is not None


def test_unmatched_records_and_records_without_template_never_fire() -> None:
    patterns = detector()
    feed(patterns, 0, "a")
    assert feed(patterns, 90, "z", matched=False) is None
    assert feed(patterns, 91, None) is None
    assert feed(patterns, 92, "z") is not None, "z was not learned from the unmatched record"
    assert patterns.needs_unmatched, "unmatched records start learning and show rollouts"


def test_keys_learn_and_fire_separately() -> None:
    patterns = detector()
    feed(patterns, 0, "a")
    assert feed(patterns, 30, "b", key=OTHER) is None, "OTHER learns from its own first record"
    assert feed(patterns, 70, "c", key=OTHER) is None, "OTHER is still learning until 90"
    assert feed(patterns, 70, "b") is not None, "b is known for OTHER only"
    assert feed(patterns, 90, "a", key=OTHER) is not None, "a is known for KEY only"
    assert patterns.keys() == 2


# --- rollouts --------------------------------------------------------------------------------


def test_pod_revision_reads_deployment_pods_only() -> None:
    assert pod_revision(OLD_POD) == PodRevision("checkout", "7d9f8b6c5d")
    assert pod_revision("checkout-service-x2x9k") is None, "a vowel: not a pod-template-hash"
    assert pod_revision("fluent-bit-abcde") is None
    assert pod_revision("db-0") is None
    assert pod_revision("") is None


def test_rollout_tracker_tracks_hashes_per_deployment() -> None:
    rollouts = RolloutTracker()
    window = timedelta(minutes=30)
    rollouts.observe(OLD_POD, at(0))
    rollouts.observe("worker-6b7c8d9f5b-abcde", at(1))
    assert not rollouts.rollout_within(at(1), window), "a second Deployment is not a rollout"
    rollouts.observe(NEW_POD, at(10))
    assert rollouts.rollout_within(at(10), window)
    assert rollouts.rollout_within(at(40), window)
    assert not rollouts.rollout_within(at(40.1), window)
    assert not rollouts.rollout_within(at(9), window), "not before the rollout"
    rollouts.observe("checkout-5c8b7f9d4d-zzzzz", at(8))
    assert rollouts.rollout_within(at(9), window), "an earlier record of the new hash moves it"


def test_after_rollout_only_templates_within_the_period_fire() -> None:
    patterns = detector(within_after_rollout=timedelta(minutes=30))
    feed(patterns, 0, "a")
    assert feed(patterns, 70, "b") is None, "no rollout yet: learned silently"
    assert feed(patterns, 100, None, pod=NEW_POD) is None, "the rollout itself fires nothing"
    firing = feed(patterns, 110, "c", pod=NEW_POD)
    assert firing is not None
    assert firing.detail == "c"
    assert feed(patterns, 115, "b", pod=NEW_POD) is None, "b was learned outside the period"
    assert feed(patterns, 130.5, "d") is None, "more than 30 min after the rollout"
    patterns_at_edge = detector(within_after_rollout=timedelta(minutes=30))
    feed(patterns_at_edge, 0, "a")
    feed(patterns_at_edge, 100, None, pod=NEW_POD)
    assert feed(patterns_at_edge, 130, "d") is not None, "exactly 30 min after still counts"


def test_no_rollout_is_read_from_the_first_hash_or_non_deployment_pods() -> None:
    patterns = detector(within_after_rollout=timedelta(minutes=30))
    feed(patterns, 0, "a", pod="db-0")
    assert feed(patterns, 70, "b", pod="db-1") is None
    assert feed(patterns, 75, "c", pod=NEW_POD) is None, "the first hash seen is not a rollout"
    assert feed(patterns, 80, "d", pod=OLD_POD) is not None, "a second hash is"


def test_a_rollout_during_learning_still_opens_its_period_after_learning() -> None:
    patterns = detector(within_after_rollout=timedelta(minutes=30))
    feed(patterns, 0, "a")
    feed(patterns, 40, "b", pod=NEW_POD)
    assert feed(patterns, 65, "c", pod=NEW_POD) is not None, "learning over, rollout 25 min ago"
    assert feed(patterns, 71, "e", pod=NEW_POD) is None, "31 min after the rollout"


# --- seeding and the bounded known set -------------------------------------------------------


def test_learn_known_seeds_templates_and_ends_learning_at_since() -> None:
    patterns = detector()
    patterns.learn_known(KEY, ["a", "b"], since=at(0))
    assert feed(patterns, 0, "a") is None, "seeded: known"
    firing = feed(patterns, 0, "c")
    assert firing is not None, "no learning period after seeding"
    assert firing.detail == "c"
    late = detector()
    late.learn_known(KEY, ["a"], since=at(10))
    assert feed(late, 5, "x") is None, "before since the key is still learning"
    assert feed(late, 11, "x") is None, "x was learned at 5"
    assert feed(late, 12, "y") is not None
    assert late.known_templates(KEY) == 3


def test_learn_known_does_not_extend_a_learning_period_already_shorter() -> None:
    patterns = detector()
    feed(patterns, 0, "a")
    patterns.learn_known(KEY, ["b"], since=at(120))
    assert feed(patterns, 60, "c") is not None, "live learning ended at 60, before since"


def test_a_full_known_set_stops_learning_but_keeps_detecting() -> None:
    patterns = NewPatternDetector(
        NewPatternParams(learning_period=LEARNING), max_known_templates=2, max_overflow_templates=1
    )
    for template in ("a", "b"):
        feed(patterns, 0, template)
    assert feed(patterns, 1, "c") is None, "still learning: overflow is remembered silently"
    assert feed(patterns, 61, "c") is None
    assert feed(patterns, 61, "d") is not None, "full, yet a new template fires"
    assert feed(patterns, 62, "d") is None, "the overflow memory keeps it from firing twice"
    assert feed(patterns, 62, "c") is not None, "pushed out of the overflow memory by d"
    assert feed(patterns, 63, "a") is None, "the capped set itself is kept"
    assert patterns.known_templates(KEY) == 2
    assert patterns.known_templates(OTHER) == 0


def test_template_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        NewPatternDetector(NewPatternParams(), max_known_templates=0)


def test_the_pod_template_hash_label_names_the_revision_whatever_the_pod_name() -> None:
    # A hash with a vowel, which the name rule cannot take for one: only the label tells.
    assert pod_revision("checkout-abc123-x2x9k") is None
    assert pod_revision("checkout-abc123-x2x9k", "abc123") == PodRevision("checkout", "abc123")
    assert pod_revision("api-proxy", "7d9f8b6c5d") is None, "a label naming another pod's hash"
    rollouts = RolloutTracker()
    rollouts.observe("checkout-abc123-x2x9k", at(0), "abc123")
    rollouts.observe("checkout-def456-q7w2z", at(10), "def456")
    assert rollouts.rollout_within(at(11), timedelta(minutes=30))


def test_the_detector_reads_rollouts_from_record_labels() -> None:
    patterns = detector(within_after_rollout=timedelta(minutes=30))

    def labelled(minutes: float, template: str, pod: str, template_hash: str) -> Firing | None:
        line = record(minutes, template, pod).model_copy(
            update={"labels": {"pod-template-hash": template_hash}}
        )
        return patterns.observe_record(KEY, line, True)

    assert labelled(0, "a", "checkout-abc123-x2x9k", "abc123") is None
    assert labelled(70, "b", "checkout-abc123-x2x9k", "abc123") is None, "no rollout yet"
    assert labelled(80, "a", "checkout-def456-q7w2z", "def456") is None, "known template"
    firing = labelled(81, "c", "checkout-def456-q7w2z", "def456")
    assert firing is not None
    assert firing.detail == "c"
