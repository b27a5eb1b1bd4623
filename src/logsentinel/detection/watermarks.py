"""Event time per Kafka partition: the clock that time-driven detection runs on.

Silence, isolation-forest intervals, auto-resolve and cooldowns advance on event time, never on
the wall clock, so a backlog worked off at full speed (after a Kafka outage, a spike or a
restart) gives the same incidents as live traffic: a service whose records are still queued is
not silent, it is behind.

A partition's watermark is the newest event time stored from it, minus EVENT_TIME_GRACE
(records of one partition come from many pods and agents, a little out of order). Event times
ahead of the wall clock do not move it further than the wall clock (a pod with a skewed clock
must not make every other service of its partition look silent). A partition that is caught up
(everything Kafka holds for it is stored) follows the wall clock minus the grace instead: no
records is then a fact, and a service that stopped logging is seen silent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta

from logsentinel.domain.logrecord import LogRecord

Partition = tuple[str, int]
EventClock = Callable[[Partition | None], datetime | None]
"""The event time of a partition (None: the records of keys without a partition); None when
nothing is known of it yet (no time-driven decision can be made)."""

EVENT_TIME_GRACE = timedelta(seconds=5)
"""Records reach detection a little after they were written (agent flush, Kafka, batching) and
a little out of order: time-driven decisions look this far behind the newest event time, so
they neither declare a silence nor close an interval that records on their way belong to."""


def fixed(moment: datetime) -> Callable[[object], datetime]:
    """One time for every partition or key (a single ordered stream: replays, tests)."""
    return lambda _partition: moment


class Watermarks:
    """The event time of each partition this processor owns."""

    def __init__(self, grace: timedelta = EVENT_TIME_GRACE) -> None:
        self.grace = grace
        self._newest: dict[Partition, datetime] = {}
        self._caught_up: frozenset[Partition] = frozenset()
        self._reached: dict[Partition, datetime] = {}

    def stored(self, records: Iterable[LogRecord]) -> None:
        """Records of these partitions were stored (in any order)."""
        newest = self._newest
        for record in records:
            if record.source is None:
                continue
            partition = (record.source.topic, record.source.partition)
            known = newest.get(partition)
            if known is None or record.timestamp > known:
                newest[partition] = record.timestamp

    def caught_up(self, partitions: Collection[Partition]) -> None:
        """These partitions have every record Kafka holds stored; the others are behind."""
        self._caught_up = frozenset(partitions)

    def clock(self, wall: datetime) -> EventClock:
        """The event time of every partition at wall-clock time wall (never moving back)."""
        floor = wall - self.grace

        def at(partition: Partition | None) -> datetime | None:
            if partition is None:
                return floor
            newest = self._newest.get(partition)
            moment = min(newest - self.grace, floor) if newest is not None else None
            if partition in self._caught_up:
                moment = floor
            reached = self._reached.get(partition)
            if moment is None or (reached is not None and reached >= moment):
                return reached
            self._reached[partition] = moment
            return moment

        return at

    def forget(self, owned: Callable[[Partition], bool]) -> None:
        """Drop partitions no longer owned (their next owner starts from their records)."""
        for table in (self._newest, self._reached):
            for partition in [p for p in table if not owned(p)]:
                del table[partition]
