"""Pipeline health: the processors' heartbeats (lag per owned partition) and the verdict on them.

Every few seconds each processor upserts one pipeline_heartbeats row per partition it owns. The
operator reads the verdict before it remediates anything: while a processor is silent or behind,
logs are missing, and missing data looks like recovery. A partition has one owner in a consumer
group, so a heartbeat replaces the other consumers' rows for the partitions it reports (those of
a crashed processor included); rows of partitions nobody reports any more go stale and keep the
pipeline unhealthy until someone owns them again.

Reasons are sentences meant to be shown verbatim, in the audit trail among other places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

DEFAULT_STALE_AFTER = timedelta(seconds=15)

UPSERT = """
INSERT INTO pipeline_heartbeats (consumer, topic, partition, lag_records, lag_seconds, updated_at)
SELECT %(consumer)s, %(topic)s, partition, lag_records, lag_seconds,
    COALESCE(%(now)s::timestamptz, now())
FROM unnest(%(partitions)s::int[], %(records)s::bigint[], %(seconds)s::float8[])
    AS owned(partition, lag_records, lag_seconds)
ON CONFLICT (consumer, topic, partition) DO UPDATE SET
    lag_records = EXCLUDED.lag_records,
    lag_seconds = EXCLUDED.lag_seconds,
    updated_at = EXCLUDED.updated_at
"""

DELETE_NOT_OWNED = """
DELETE FROM pipeline_heartbeats
WHERE topic = %(topic)s AND (
    (consumer = %(consumer)s AND partition <> ALL(%(partitions)s::int[]))
    OR (consumer <> %(consumer)s AND partition = ANY(%(partitions)s::int[]))
)
"""


@dataclass(frozen=True)
class PartitionLag:
    """How far a processor is behind on one partition: records not yet stored, and for how long
    the oldest of them has been waiting (0 when there are none)."""

    records: int
    seconds: float


@dataclass(frozen=True)
class Heartbeat:
    """A stored heartbeat row and its age by the database's clock."""

    consumer: str
    topic: str
    partition: int
    lag_records: int
    lag_seconds: float
    age_seconds: float


@dataclass(frozen=True)
class PipelineHealth:
    """The verdict: healthy or not, why (a sentence), and the worst figures behind it."""

    healthy: bool
    reason: str
    max_lag_seconds: float
    max_lag_records: int
    partitions: int


def write_heartbeats(
    connection: psycopg.Connection[Any],
    consumer: str,
    topic: str,
    lags: Mapping[int, PartitionLag],
    now: datetime | None = None,
) -> None:
    """Report lags for exactly the partitions consumer owns now (lags' keys), in one transaction.

    Rows of this consumer for other partitions go (it no longer owns them), and so do other
    consumers' rows for these partitions (they no longer own them). updated_at is now, or the
    database's now() when now is None.
    """
    partitions = sorted(lags)
    with connection.transaction():
        if partitions:
            connection.execute(
                UPSERT,
                {
                    "consumer": consumer,
                    "topic": topic,
                    "now": now,
                    "partitions": partitions,
                    "records": [int(lags[p].records) for p in partitions],
                    "seconds": [float(lags[p].seconds) for p in partitions],
                },
            )
        connection.execute(
            DELETE_NOT_OWNED, {"consumer": consumer, "topic": topic, "partitions": partitions}
        )


def forget_heartbeats(
    connection: psycopg.Connection[Any],
    consumer: str,
    topic: str,
    partitions: Iterable[int] | None = None,
) -> int:
    """Delete consumer's rows for these partitions (all of its rows for topic when None); how
    many. For revoked partitions and a clean stop: they are no longer this consumer's to report."""
    if partitions is None:
        query = "DELETE FROM pipeline_heartbeats WHERE consumer = %s AND topic = %s"
        return connection.execute(query, (consumer, topic)).rowcount
    return connection.execute(
        "DELETE FROM pipeline_heartbeats WHERE consumer = %s AND topic = %s"
        " AND partition = ANY(%s::int[])",
        (consumer, topic, list(partitions)),
    ).rowcount


def heartbeats(connection: psycopg.Connection[Any], topic: str | None = None) -> list[Heartbeat]:
    """The stored heartbeats (of one topic when given), by topic and partition."""
    rows = connection.execute(
        """
        SELECT consumer, topic, partition, lag_records, lag_seconds,
            greatest(extract(epoch FROM clock_timestamp() - updated_at), 0)::float8
        FROM pipeline_heartbeats
        WHERE %(topic)s::text IS NULL OR topic = %(topic)s
        ORDER BY topic, partition, consumer
        """,
        {"topic": topic},
    ).fetchall()
    return [
        Heartbeat(
            consumer=row[0],
            topic=row[1],
            partition=row[2],
            lag_records=row[3],
            lag_seconds=row[4],
            age_seconds=row[5],
        )
        for row in rows
    ]


def pipeline_health(
    connection: psycopg.Connection[Any],
    max_lag: timedelta,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    topic: str | None = None,
) -> PipelineHealth:
    """Unhealthy when no heartbeat exists, when one is older than stale_after, or when a partition
    is more than max_lag behind; the reason names the worst offender."""
    return assess(heartbeats(connection, topic), max_lag, stale_after, topic)


def assess(
    beats: list[Heartbeat],
    max_lag: timedelta,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    topic: str | None = None,
) -> PipelineHealth:
    """The verdict on a set of heartbeats (pipeline_health without the database)."""
    if not beats:
        where = f" for topic {topic}" if topic is not None else ""
        return PipelineHealth(False, f"no processor has reported a heartbeat{where}", 0.0, 0, 0)
    worst_seconds = max(beat.lag_seconds for beat in beats)
    worst_records = max(beat.lag_records for beat in beats)
    partitions = len({(beat.topic, beat.partition) for beat in beats})

    def verdict(healthy: bool, reason: str) -> PipelineHealth:
        return PipelineHealth(healthy, reason, worst_seconds, worst_records, partitions)

    bound, stale = max_lag.total_seconds(), stale_after.total_seconds()
    silent = sorted((b for b in beats if b.age_seconds > stale), key=lambda b: -b.age_seconds)
    if silent:
        oldest = silent[0]
        return verdict(
            False,
            f"processor {oldest.consumer} last reported partition {oldest.partition} of topic"
            f" {oldest.topic} {_seconds(oldest.age_seconds)} ago; heartbeats are stale after"
            f" {_seconds(stale)}" + _more(len(silent) - 1, "stale"),
        )
    behind = sorted((b for b in beats if b.lag_seconds > bound), key=lambda b: -b.lag_seconds)
    if behind:
        slowest = behind[0]
        return verdict(
            False,
            f"partition {slowest.partition} of topic {slowest.topic} is"
            f" {_seconds(slowest.lag_seconds)} behind ({slowest.lag_records} records); the bound"
            f" is {_seconds(bound)}" + _more(len(behind) - 1, "over the bound"),
        )
    return verdict(
        True,
        f"{_count(partitions, 'partition')} reported within the last {_seconds(stale)}; the"
        f" largest lag is {_seconds(worst_seconds)} ({_count(worst_records, 'record')}), within"
        f" the bound of {_seconds(bound)}",
    )


@dataclass(frozen=True)
class DeadLetterInfo:
    """A dead letter as shown to people: why, and where it came from (never its payload)."""

    id: int
    received_at: datetime
    reason: str
    detail: str
    payload_size: int
    source: str | None
    """topic/partition/offset in Kafka, when it came from there."""


@dataclass(frozen=True)
class DeadLetterSummary:
    total: int
    since_count: int
    """Received at or after the ``since`` asked for."""
    latest: list[DeadLetterInfo]


def dead_letter_summary(
    connection: psycopg.Connection[Any], since: datetime, latest: int
) -> DeadLetterSummary:
    """How many dead letters are stored, how many arrived since ``since``, and the newest."""
    counts = connection.execute(
        "SELECT count(*), count(*) FILTER (WHERE received_at >= %s) FROM dead_letters", (since,)
    ).fetchone()
    rows = connection.execute(
        """
        SELECT id, received_at, reason, left(detail, 1000), payload_size,
            source_topic || '/' || source_partition || '/' || source_offset
        FROM dead_letters ORDER BY received_at DESC, id DESC LIMIT %s
        """,
        (latest,),
    ).fetchall()
    return DeadLetterSummary(
        total=int(counts[0]) if counts else 0,
        since_count=int(counts[1]) if counts else 0,
        latest=[DeadLetterInfo(*row) for row in rows],
    )


def _seconds(value: float) -> str:
    """75 s, 2.5 s, 0 s: whole seconds once they are many, tenths below ten."""
    if value >= 10:
        return f"{value:.0f} s"
    return f"{value:.1f}".removesuffix(".0") + " s"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _more(number: int, state: str) -> str:
    if number == 0:
        return ""
    return f"; {_count(number, 'more partition')} {'is' if number == 1 else 'are'} {state}"


__all__ = [
    "DEFAULT_STALE_AFTER",
    "DeadLetterInfo",
    "DeadLetterSummary",
    "Heartbeat",
    "PartitionLag",
    "PipelineHealth",
    "assess",
    "dead_letter_summary",
    "forget_heartbeats",
    "heartbeats",
    "pipeline_health",
    "write_heartbeats",
]
