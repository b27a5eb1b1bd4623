"""Benchmark: backtest throughput over stored logs (records of the range replayed per second).

Stores an hour of traffic of ten services (one error in fifty, one burst) in a fresh database
on the local stack's PostgreSQL, then backtests three rules, three times each, and reports the
median:

- `threshold`: 20 errors a minute per service (the read is narrowed to error lines);
- `ratio`: error ratio per service (every record of the namespace is read and replayed);
- `pack`: the default rule pack (rules/default) together.

Figures: stored records in the range per second of backtest (what the user waits for), and the
records actually read per second.

    make up && eval "$(make -s env)" && .venv/bin/python bench/bench_backtest.py [--records N]

Last line: ``RESULT backtest_range_records_per_s=<threshold> backtest_read_records_per_s=<ratio>
backtest_pack_range_records_per_s=<pack>``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from logsentinel.backtest import backtest
from logsentinel.domain import Level, LogRecord, SourcePosition
from logsentinel.domain.resources import DetectionRule
from logsentinel.manifests import load_rules
from logsentinel.storage.writer import Batch, LogWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import fresh_database, say

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SERVICES = [f"service-{n}" for n in range(10)]
CHUNK = 50_000


def traffic(records: int, seed: int = 7) -> list[LogRecord]:
    rng = random.Random(seed)
    spacing = 3600 / records
    lines = []
    for n in range(records):
        service = SERVICES[n % len(SERVICES)]
        at = START + timedelta(seconds=n * spacing)
        burst = service == "service-3" and timedelta(minutes=30) <= at - START < timedelta(
            minutes=31
        )
        error = burst or rng.random() < 0.02
        millis = rng.randint(1, 900)
        lines.append(
            LogRecord(
                timestamp=at,
                level=Level.ERROR if error else Level.INFO,
                message=f"request {n} {'failed: timeout' if error else 'done'} in {millis}ms",
                service=service,
                namespace="shop",
                pod=f"{service}-7d9f8b6c5d-x2x9k",
                source=SourcePosition(topic="logs", partition=n % 4, offset=n // 4),
            )
        )
    return lines


def store(url: str, records: list[LogRecord]) -> None:
    writer = LogWriter("bench")
    with psycopg.connect(url) as connection:
        for first in range(0, len(records), CHUNK):
            chunk = records[first : first + CHUNK]
            offsets: dict[tuple[str, int], int] = {}
            for record in chunk:
                assert record.source is not None
                key = (record.source.topic, record.source.partition)
                offsets[key] = max(offsets.get(key, 0), record.source.offset + 1)
            writer.write(connection, Batch(records=chunk, dead_letters=[], next_offsets=offsets))
            say(f"stored {first + len(chunk):,}/{len(records):,}")


def rule(name: str, detector: dict[str, object], match: dict[str, object]) -> DetectionRule:
    return DetectionRule.model_validate(
        {
            "apiVersion": "logsentinel.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "match": match,
                "detector": detector,
                "severity": "high",
                "incidentType": name,
            },
        }
    )


def measure(
    url: str, rules: list[DetectionRule], in_range: int, runs: int
) -> tuple[float, float, int]:
    """Median stored-in-range records/s, read records/s, incidents."""
    range_rates, read_rates, incidents = [], [], 0
    for _ in range(runs):
        with psycopg.connect(url) as connection:
            result = backtest(connection, rules, START, START + timedelta(hours=1))
        if result.refused:
            raise SystemExit(f"rules refused: {result.refused}")
        range_rates.append(in_range / result.seconds)
        read_rates.append(result.records_per_second)
        incidents = len(result.incidents)
    return statistics.median(range_rates), statistics.median(read_rates), incidents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    if not database:
        raise SystemExit('start the stack first: make up && eval "$(make -s env)"')
    say(f"cpu count {os.cpu_count()}, {args.records:,} records over one hour")
    url = fresh_database(database, "bench_backtest")
    store(url, traffic(args.records))
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE logs")
    pack = load_rules([ROOT / "rules" / "default"]).rules
    cases = {
        "threshold": [
            rule(
                "errors",
                {"type": "threshold", "threshold": {"count": 20, "window": "1m"}},
                {"levels": ["error"]},
            )
        ],
        "ratio": [
            rule(
                "error-ratio",
                {"type": "ratio", "ratio": {"above": 0.2, "window": "1m", "minTotal": 20}},
                {"levels": ["error"]},
            )
        ],
        "pack": pack,
    }
    figures = {}
    print("| rules | range records/s | read records/s | incidents |")
    print("|---|---:|---:|---:|")
    for name, rules in cases.items():
        if not rules:
            continue
        say(f"backtesting {name} ({len(rules)} rule(s)), {args.runs} runs")
        in_range, read, incidents = measure(url, rules, args.records, args.runs)
        figures[name] = (in_range, read)
        print(f"| {name} | {in_range:,.0f} | {read:,.0f} | {incidents} |")
    pack_figure = figures.get("pack", (0.0, 0.0))[0]
    print(
        f"RESULT backtest_range_records_per_s={figures['threshold'][0]:.0f} "
        f"backtest_read_records_per_s={figures['ratio'][1]:.0f} "
        f"backtest_pack_range_records_per_s={pack_figure:.0f}"
    )


if __name__ == "__main__":
    main()
