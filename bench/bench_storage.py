"""What the full-text index costs the write path: COPY of the same normalised rows into the
`logs` day partition of fresh databases that differ only in that index's settings.

The rows are bench/logmix.py's mix, decoded first (the compiled decoder with `make
bench-storage`), then COPYed in 5000-row transactions as the processor writes them. Each
timing includes merging GIN's pending list (``gin_clean_pending_list``) so that a setting
cannot look fast by leaving work for later. Variants: ``default`` (our migrations: fastupdate
on, 4 MB pending list), ``pending64`` (a 64 MB pending list), ``nofastupdate``, ``nofts`` (no
full-text index at all).

    .venv/bin/python bench/bench_storage.py [--rows 400000] [--variants default,nofts]

Uses the local stack's PostgreSQL (make up; or LOGSENTINEL_DATABASE_URL). Last line:
RESULT storage_default_rows_per_s=<n> storage_pending64_rows_per_s=<n> ... (one per variant).
Timing is informative only.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from benchkit import fresh_database, say
from logmix import fluent_bit_stream

from logsentinel.domain.logrecord import SourcePosition
from logsentinel.parsing import RecordDecoder
from logsentinel.storage.partitions import PartitionManager
from logsentinel.storage.writer import COPY_LOGS, log_row

BATCH = 5000
FULL_TEXT_INDEX = "logs_message_fts"
VARIANTS = ("default", "pending64", "nofastupdate", "nofts")


def prepare(count: int, start: datetime) -> list[tuple[Any, ...]]:
    decoder = RecordDecoder()
    rows = []
    for offset, (_, value) in enumerate(fluent_bit_stream(count, 7, start)):
        source = SourcePosition(topic="bench", partition=0, offset=offset)
        rows.append(log_row(decoder.decode(value, source=source)))
    return rows


def partition_indexes(connection: psycopg.Connection[Any]) -> list[str]:
    """The full-text indexes of the day partitions (the parent's index is a template)."""
    found = connection.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename LIKE 'logs\\_%' AND indexdef ILIKE '%using gin%'"
    ).fetchall()
    return [name for (name,) in found]


def configure(connection: psycopg.Connection[Any], variant: str) -> list[str]:
    indexes = partition_indexes(connection)
    if variant == "nofts":
        connection.execute(f"DROP INDEX {FULL_TEXT_INDEX}")  # and its partitions' indexes
        return []
    for index in indexes:
        if variant == "pending64":
            connection.execute(f'ALTER INDEX "{index}" SET (gin_pending_list_limit = 65536)')
        elif variant == "nofastupdate":
            connection.execute(f'ALTER INDEX "{index}" SET (fastupdate = off)')
        elif variant != "default":
            raise SystemExit(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return indexes


def copy_rate(url: str, rows: list[tuple[Any, ...]], indexes: list[str]) -> float:
    started = time.monotonic()
    with psycopg.connect(url) as connection:
        for first in range(0, len(rows), BATCH):
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(COPY_LOGS) as copy,
            ):
                for row in rows[first : first + BATCH]:
                    copy.write_row(row)
    with psycopg.connect(url, autocommit=True) as connection:
        for index in indexes:
            connection.execute("SELECT gin_clean_pending_list(%s::regclass)", (index,))
    return len(rows) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    server = os.environ.get("LOGSENTINEL_DATABASE_URL")
    if not server:
        raise SystemExit('start the stack first: make up && eval "$(make -s env)"')
    start = datetime.now(UTC)
    say(f"decoding {args.rows:,} records into rows")
    rows = prepare(args.rows, start)
    rates: dict[str, float] = {}
    for variant in args.variants.split(","):
        url = fresh_database(server, f"bench_storage_{variant}")
        with psycopg.connect(url, autocommit=True) as connection:
            PartitionManager().ensure(connection, [start.date()])
            indexes = configure(connection, variant)
            connection.execute("CHECKPOINT")
        rates[variant] = copy_rate(url, rows, indexes)
        say(f"{variant}: {rates[variant]:,.0f} rows/s")
    print("RESULT " + " ".join(f"storage_{v}_rows_per_s={r:.0f}" for v, r in rates.items()))


if __name__ == "__main__":
    main()
