"""New-pattern detection: a log template never seen for a key, once the key has been learned.

Per key the detector learns the template ids of matching records for learningPeriod from the
key's first record, silently. After that a template not known for the key fires once and is
known from then on. With withinAfterRollout, only templates appearing that long after a rollout
of the key's workload fire (rollouts are read from the pod-template-hash label, or the pod name
without it, see detection.rollouts); new
templates at other times are learned silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from logsentinel.detection.detectors import Firing, Key, KeyedDetector
from logsentinel.detection.rollouts import TEMPLATE_HASH_LABEL, RolloutTracker
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.rule import NewPatternParams

MAX_KNOWN_TEMPLATES = 50_000
MAX_OVERFLOW_TEMPLATES = 1_024


@dataclass
class _PatternState:
    learning_until: datetime | None = None
    known: set[str] = field(default_factory=set)
    overflow: dict[str, None] = field(default_factory=dict)
    rollouts: RolloutTracker = field(default_factory=RolloutTracker)


class NewPatternDetector(KeyedDetector[_PatternState]):
    """Fires once per template id new to a key after its learning period.

    Only matching records with a template id count. The known set of a key is capped at
    max_known_templates: a key with that many templates has a template miner that is not
    masking some variable part, and remembering every id would grow without bound. Once the
    cap is reached the known set stops growing but detection goes on: unknown templates still
    fire, and a small first-in-first-out memory of the latest max_overflow_templates of them
    keeps a repeating one from firing on every record (it may fire again once pushed out).
    """

    needs_unmatched = True  # unmatched records start learning and show rollouts (new pods)

    def __init__(
        self,
        params: NewPatternParams,
        max_known_templates: int = MAX_KNOWN_TEMPLATES,
        max_overflow_templates: int = MAX_OVERFLOW_TEMPLATES,
    ) -> None:
        if max_known_templates < 1 or max_overflow_templates < 1:
            raise ValueError("template limits must be at least 1")
        super().__init__()
        self.params = params
        self.max_known_templates = max_known_templates
        self.max_overflow_templates = max_overflow_templates

    def new_state(self) -> _PatternState:
        return _PatternState()

    def observe(
        self, key: Key, at: datetime, matched: bool, value: float | None = None
    ) -> Firing | None:
        """Without the record there is no template: this only starts the key's learning."""
        self._start_learning(self.state(key), at)
        return None

    def observe_record(self, key: Key, record: LogRecord, matched: bool) -> Firing | None:
        state = self.state(key)
        at = record.timestamp
        self._start_learning(state, at)
        state.rollouts.observe(record.pod, at, record.labels.get(TEMPLATE_HASH_LABEL))
        template_id = record.template_id
        if not matched or template_id is None or self._is_known(state, template_id):
            return None
        self._remember(state, template_id)
        if not self._fires_at(state, at):
            return None
        return Firing(key, at, "newTemplate", 1, 0, 1, detail=template_id)

    def learn_known(self, key: Key, template_ids: Iterable[str], since: datetime) -> None:
        """Seed key's known templates (from storage, after a rebalance); learning ends at since."""
        state = self.state(key)
        for template_id in template_ids:
            if len(state.known) >= self.max_known_templates:
                break
            state.known.add(template_id)
        if state.learning_until is None or since < state.learning_until:
            state.learning_until = since

    def known_templates(self, key: Key) -> int:
        """How many templates key has learned (the capped set, not the overflow memory)."""
        state = self._states.get(key)
        return 0 if state is None else len(state.known)

    def _start_learning(self, state: _PatternState, at: datetime) -> None:
        if state.learning_until is None:
            state.learning_until = at + self.params.learning_period

    def _fires_at(self, state: _PatternState, at: datetime) -> bool:
        if state.learning_until is None or at < state.learning_until:
            return False
        within = self.params.within_after_rollout
        return within is None or state.rollouts.rollout_within(at, within)

    def _is_known(self, state: _PatternState, template_id: str) -> bool:
        return template_id in state.known or template_id in state.overflow

    def _remember(self, state: _PatternState, template_id: str) -> None:
        if len(state.known) < self.max_known_templates:
            state.known.add(template_id)
            return
        if len(state.overflow) >= self.max_overflow_templates:
            del state.overflow[next(iter(state.overflow))]
        state.overflow[template_id] = None
