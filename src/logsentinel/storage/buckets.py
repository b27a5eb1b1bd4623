"""Per-rule, per-key, per-interval aggregates (rule_buckets): written after every batch.

Counts are added (an upsert sums them), so a batch's counts can be written in any order and a
bucket filled by several batches ends up with their total. They rebuild detector baselines when
a processor takes over a partition and let remediation check that a signal is back to normal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from logsentinel.domain.bucket import RuleBucket

UPSERT = """
INSERT INTO rule_buckets (rule, group_key, bucket_start, width_seconds, matched, total,
    features, source_topic, source_partition)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (rule, group_key, bucket_start) DO UPDATE SET
    matched = rule_buckets.matched + EXCLUDED.matched,
    total = rule_buckets.total + EXCLUDED.total,
    features = COALESCE(EXCLUDED.features, rule_buckets.features),
    source_topic = COALESCE(EXCLUDED.source_topic, rule_buckets.source_topic),
    source_partition = COALESCE(EXCLUDED.source_partition, rule_buckets.source_partition)
"""


def add_buckets(connection: psycopg.Connection[Any], rows: Sequence[RuleBucket]) -> None:
    """Add counts to the stored aggregates, in one transaction."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: (row.rule, row.key, row.start))  # no deadlocks
    with connection.transaction(), connection.cursor() as cursor:
        cursor.executemany(
            UPSERT,
            [
                (
                    row.rule,
                    list(row.key),
                    row.start,
                    int(row.width.total_seconds()),
                    row.matched,
                    row.total,
                    list(row.features) if row.features else None,
                    row.source[0] if row.source else None,
                    row.source[1] if row.source else None,
                )
                for row in ordered
            ],
        )


def load_buckets(
    connection: psycopg.Connection[Any],
    rules: Iterable[str],
    topic: str,
    partitions: Iterable[int],
    since: datetime,
) -> list[RuleBucket]:
    """Stored aggregates of these rules for keys of these partitions, oldest first."""
    rows = connection.execute(
        """
        SELECT rule, group_key, bucket_start, width_seconds, matched, total, features,
            source_topic, source_partition
        FROM rule_buckets
        WHERE rule = ANY(%s) AND source_topic = %s AND source_partition = ANY(%s)
            AND bucket_start >= %s
        ORDER BY rule, group_key, bucket_start
        """,
        (list(rules), topic, list(partitions), since),
    ).fetchall()
    return [
        RuleBucket(
            rule=row[0],
            key=tuple(row[1]),
            start=row[2],
            width=timedelta(seconds=row[3]),
            matched=row[4],
            total=row[5],
            features=tuple(row[6] or ()),
            source=(row[7], row[8]) if row[7] is not None else None,
        )
        for row in rows
    ]


def recent_counts(
    connection: psycopg.Connection[Any], rule: str, key: Sequence[str], since: datetime
) -> list[RuleBucket]:
    """A rule's buckets for one key since a time (what remediation verifies against)."""
    rows = connection.execute(
        """
        SELECT bucket_start, width_seconds, matched, total FROM rule_buckets
        WHERE rule = %s AND group_key = %s AND bucket_start >= %s ORDER BY bucket_start
        """,
        (rule, list(key), since),
    ).fetchall()
    return [
        RuleBucket(rule, tuple(key), start, timedelta(seconds=width), matched, total)
        for start, width, matched, total in rows
    ]


def delete_older_than(connection: psycopg.Connection[Any], cutoff: datetime) -> int:
    """Retention: drop buckets that started before cutoff; how many."""
    return connection.execute(
        "DELETE FROM rule_buckets WHERE bucket_start < %s", (cutoff,)
    ).rowcount
