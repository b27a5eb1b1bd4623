"""Event-time windows kept per group key: a sliding count, sliding values, fixed buckets.

Windows are half-open, (now - width, now]: an event exactly width old has left. Records of one
partition arrive nearly in time order; an event older than the window on arrival is ignored.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from datetime import UTC, datetime, timedelta


class SlidingCount:
    """How many events fell in the last width of event time, and how many of them were marked.

    Events are kept run-length encoded, one entry per distinct timestamp, in parallel arrays of
    machine integers (microseconds since the epoch, events, marked events) sorted by time, the
    live ones from ``_head`` on: 24 bytes a timestamp, where datetimes in lists took about 60,
    and a busy key's five-minute window holds millions of distinct microseconds. Shared
    timestamps (second clocks, bursts) cost nothing more, and an out-of-order event (several
    pods, clocks of different precision) finds its place by bisection. Marks let one window
    count a ratio's two sides (matching lines among all) in one pass.
    """

    def __init__(self, width: timedelta) -> None:
        self.width = width
        self._width = width // _MICROSECOND
        self._times = array("q")
        self._counts = array("q")
        self._marks = array("q")
        self._head = 0  # entries before it have left the window
        self._size = 0
        self._marked = 0
        self._latest: int | None = None
        self._converted: tuple[datetime, int] = (_EPOCH, 0)

    @property
    def marked(self) -> int:
        """Marked events in the window as of the last add or count."""
        return self._marked

    def add(self, at: datetime, mark: bool = False) -> None:
        moment = self._micros(at)
        latest = self._latest
        times, counts, marks = self._times, self._counts, self._marks
        if latest is None or moment >= latest:
            self._latest = moment
            if moment == latest and self._head < len(times):
                counts[-1] += 1
                marks[-1] += mark
            else:
                times.append(moment)
                counts.append(1)
                marks.append(mark)
            self._size += 1
            self._marked += mark
            self._advance(moment)
            return
        if moment <= latest - self._width:
            return  # arrived after its window had passed
        self._size += 1
        self._marked += mark
        position = bisect.bisect_left(times, moment, lo=self._head)
        if position < len(times) and times[position] == moment:
            counts[position] += 1
            marks[position] += mark
        else:
            times.insert(position, moment)
            counts.insert(position, 1)
            marks.insert(position, mark)

    def count(self, now: datetime) -> int:
        self._advance(self._micros(now))
        return self._size

    def peek(self, now: datetime) -> int:
        """The count at now without dropping anything (now may run ahead of event time)."""
        return self._size - sum(self._counts[self._head : self._cut(now)])

    def peek_marked(self, now: datetime) -> int:
        """The marked count at now, like peek."""
        return self._marked - sum(self._marks[self._head : self._cut(now)])

    def _cut(self, now: datetime) -> int:
        """Where the entries still in the window at now start."""
        return bisect.bisect_right(self._times, self._micros(now) - self._width, lo=self._head)

    def _advance(self, now: int) -> None:
        head = self._head
        horizon = now - self._width
        if head == len(self._times) or self._times[head] > horizon:
            return
        cut = bisect.bisect_right(self._times, horizon, lo=head)
        self._size -= sum(self._counts[head:cut])
        self._marked -= sum(self._marks[head:cut])
        if cut > 1024 and cut * 2 > len(self._times):  # reclaim the dead prefix now and then
            del self._times[:cut], self._counts[:cut], self._marks[:cut]
            cut = 0
        self._head = cut

    def _micros(self, moment: datetime) -> int:
        """Microseconds since the epoch, exactly (records' times are aware). The last one is
        remembered: detectors add a record's time, then count at that same datetime."""
        last = self._converted
        if last[0] is moment:
            return last[1]
        micros = (moment - _EPOCH) // _MICROSECOND
        self._converted = (moment, micros)
        return micros


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SlidingValues:
    """Numeric values of the last width of event time, kept sorted for percentiles."""

    def __init__(self, width: timedelta) -> None:
        self.width = width
        self._arrivals: deque[tuple[datetime, float]] = deque()
        self._sorted: list[float] = []

    def add(self, at: datetime, value: float) -> None:
        self._arrivals.append((at, value))
        bisect.insort(self._sorted, value)
        self.advance(at)

    def advance(self, now: datetime) -> None:
        horizon = now - self.width
        while self._arrivals and self._arrivals[0][0] <= horizon:
            _, value = self._arrivals.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, value)]

    def __len__(self) -> int:
        return len(self._sorted)

    def newest(self) -> datetime | None:
        return self._arrivals[-1][0] if self._arrivals else None

    def percentile(self, percent: float) -> float:
        """Nearest-rank percentile (the smallest value with at least percent % at or below it)."""
        if not self._sorted:
            raise ValueError("no values in the window")
        rank = max(1, -(-len(self._sorted) * percent // 100))
        return self._sorted[int(rank) - 1]


class Buckets:
    """Counts per fixed, epoch-aligned bucket of width, keeping the last capacity closed ones."""

    def __init__(self, width: timedelta, capacity: int) -> None:
        self.width = width
        self.closed: deque[int] = deque(maxlen=capacity)
        self._current_index: int | None = None
        self._current = 0

    def _index(self, at: datetime) -> int:
        return int(at.timestamp() // self.width.total_seconds())

    def roll(self, now: datetime) -> list[int]:
        """Close every bucket before now's (empty ones count as 0); the counts just closed."""
        index = self._index(now)
        if self._current_index is None:
            self._current_index = index
        gap = index - self._current_index
        if gap <= 0:
            return []
        empty = min(gap - 1, self.closed.maxlen or 0)  # a long silence closes only zeros
        just_closed = [self._current] + [0] * empty
        self.closed.extend(just_closed)
        self._current, self._current_index = 0, index
        return just_closed

    def add(self, at: datetime) -> None:
        self.roll(at)
        self._current += 1
