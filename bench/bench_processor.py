"""Processor throughput, scaling and memory: the `logsentinel processor` command against a bare
consume+COPY of the same normalised rows, in one run, into identical schemas.

The records are bench/logmix.py's mix (about 200 templates, 24 pods in 6 namespaces), produced
into a 4-partition topic with times starting now. Each run stores them into a fresh database:

1. one processor without rules: logs/s from the first record stored to the last, and its
   highest RSS past start-up;
2. one processor with the default rule pack (rules/default, every namespace; ``--rules``);
3. two processors in one consumer group, sharing the partitions (no rules);
4. bare: the rows run 1 stored, dumped with COPY TO, then consumed from the same topic and
   COPYed back as text, as many rows per batch as messages consumed, into the same table with
   the same indexes: what Kafka and PostgreSQL cost without our work.

``decode_us`` is RecordDecoder.decode's CPU time per record on the first records, in this
process (after a warm-up that teaches it the templates). ``make bench-processor`` runs it all
with the compiled parsing modules the wheel and image ship (``python -m devstack compiled`` on
PYTHONPATH). Uses the local stack (make up; or LOGSENTINEL_DATABASE_URL /
LOGSENTINEL_KAFKA_BOOTSTRAP). Timing is informative only.
Last line: RESULT processor_logs_per_s=<N> bare_logs_per_s=<M> ratio=<N/M> rss_mb=<R>
with_rules_logs_per_s=<W> rules_ratio=<W/N> decode_us=<U> two_processors_logs_per_s=<T>
scaling=<T/N> with_rules_rss_mb=<S>
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO

import psycopg
from bench_parsing import decode_cost, decoder_kind
from benchkit import fresh_database, say
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from logmix import fluent_bit_stream

from logsentinel.storage.partitions import PartitionManager
from logsentinel.storage.writer import COPY_LOGS, LOG_COLUMNS

REPO = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 900
DECODE_SAMPLE = 50_000
DECODE_WARMUP = 20_000


def produce(bootstrap: str, topic: str, count: int, partitions: int, start: datetime) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    started = time.monotonic()
    for index, (key, value) in enumerate(fluent_bit_stream(count, seed=7, start=start)):
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if index and index % 200_000 == 0:
            say(f"produced {index:,}/{count:,}")
    producer.flush(60)
    say(f"produced {count:,} records in {time.monotonic() - started:.1f}s")


def progressed(url: str) -> int:
    """Records the processors are done with (stored or dead-lettered): the sum of the next
    offsets stored with the data, cheap to read while they work (unlike count(*))."""
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        found = row.fetchone()
        return int(found[0]) if found else 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Run:
    logs_per_s: float
    rss_mb: float
    """The highest RSS of one process past start-up."""


def run_processors(
    bootstrap: str, topic: str, url: str, count: int, processes: int, rules: Path | None = None
) -> Run:
    """``processes`` processor commands in one consumer group, until every record is done."""
    group = f"bench-cli-{uuid.uuid4().hex[:6]}"
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": url,
        "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": topic,
        "LOGSENTINEL_KAFKA_GROUP": group,
        "LOGSENTINEL_METRICS_PORT": "0",
        "LOGSENTINEL_MIGRATE_ON_START": "false",
        "LOGSENTINEL_LOG_LEVEL": "warning",
    }
    environment.pop("LOGSENTINEL_RULES_DIRECTORY", None)
    if rules is not None:
        environment["LOGSENTINEL_RULES_DIRECTORY"] = str(rules)
    command = [sys.executable, "-m", "logsentinel.cli", "processor"]
    logs = Path(tempfile.gettempdir())
    with ExitStack() as stack:
        running: list[tuple[subprocess.Popen[bytes], Path]] = []
        for number in range(processes):
            log_path = logs / f"bench-processor-{group}-{number}.log"
            log_file = stack.enter_context(log_path.open("wb"))
            process = subprocess.Popen(command, env=environment, stdout=log_file, stderr=log_file)
            stack.callback(_stop, process)
            running.append((process, log_path))
        samples: list[float] = []
        first: float | None = None
        deadline = time.monotonic() + DEADLINE_SECONDS
        last_report = 0
        while (done := progressed(url)) < count:
            if done - last_report >= 200_000:
                say(f"  {done:,}/{count:,} done")
                last_report = done
            stopped = [path for process, path in running if process.poll() is not None]
            if time.monotonic() > deadline or stopped:
                tail = (stopped or [running[0][1]])[0].read_text(errors="replace")[-3000:]
                raise SystemExit(f"the processors stopped at {done:,}/{count:,}:\n{tail}")
            if done and first is None:
                first = time.monotonic()
            if done > count // 5:  # steady state: past start-up and the first batches
                samples.extend(rss_mb(process.pid) for process, _ in running)
            time.sleep(0.2)  # the sampling interval of a measurement, not synchronisation
        elapsed = time.monotonic() - (first or time.monotonic())
    return Run(count / elapsed, max(samples, default=0.0))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(60)


def dump_rows(url: str, path: Path) -> int:
    """The logs rows as COPY text, in the table's column order; returns how many."""
    columns = ", ".join(LOG_COLUMNS)
    rows = 0
    with psycopg.connect(url) as connection, path.open("wb") as out:
        query = f"COPY (SELECT {columns} FROM logs ORDER BY source_offset) TO STDOUT"
        with connection.cursor().copy(query) as copy:
            for block in copy:
                out.write(block)
                rows += bytes(block).count(b"\n")
    return rows


def run_bare(bootstrap: str, topic: str, url: str, count: int, rows: IO[bytes]) -> float:
    """Consume the topic and COPY as many prepared rows per batch as messages arrived, with
    the same batch size and commits as the processor: no decoding, templates or detection."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-bare-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    lines: Iterator[bytes] = iter(rows)
    consumed, first = 0, None
    with psycopg.connect(url) as connection:
        PartitionManager().ensure(connection, [datetime.now(UTC).date()])
        while consumed < count:
            messages = [m for m in consumer.consume(5000, 0.1) if m.error() is None]
            if not messages:
                continue
            first = first or time.monotonic()
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(COPY_LOGS) as copy:
                    copy.write(b"".join(islice(lines, len(messages))))
                offsets: dict[tuple[str, int], int] = {}
                for m in messages:
                    offsets[(m.topic() or "", m.partition() or 0)] = (m.offset() or 0) + 1
                cursor.executemany(
                    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
                    " VALUES ('bare', %s, %s, %s) ON CONFLICT (consumer_group, topic, partition)"
                    " DO UPDATE SET next_offset = excluded.next_offset",
                    [(t, p, o) for (t, p), o in offsets.items()],
                )
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=True,
            )
            consumed += len(messages)
            if consumed % 200_000 < len(messages):
                say(f"  bare {consumed:,}/{count:,}")
    elapsed = time.monotonic() - (first or time.monotonic())
    consumer.close()
    return count / elapsed


def decode_us(start: datetime) -> float:
    values = [value for _, value in fluent_bit_stream(DECODE_WARMUP + DECODE_SAMPLE, 7, start)]
    now = datetime.now(UTC)
    cost = decode_cost(values[:DECODE_WARMUP], values[DECODE_WARMUP:], now)
    return cost.cpu_us


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--rules",
        type=Path,
        default=REPO / "rules" / "default",
        help="DetectionRules for the run with detection (default: the default rule pack)",
    )
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    bootstrap = os.environ.get("LOGSENTINEL_KAFKA_BOOTSTRAP")
    if not database or not bootstrap:
        raise SystemExit('start the stack first: make up && eval "$(make -s env)"')
    count = args.records
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC)
    say(
        f"cpu count {os.cpu_count()}, {count:,} records, {args.partitions} partitions, "
        f"decoder {decoder_kind()}"
    )
    produce(bootstrap, topic, count, args.partitions, start)

    say("decode cost in this process")
    decode = decode_us(start)
    say(f"decode: {decode:.2f} us CPU per record")

    say("1/4 one processor, no rules")
    url = fresh_database(database, "bench_processor")
    one = run_processors(bootstrap, topic, url, count, 1)
    say(f"one processor: {one.logs_per_s:,.0f} logs/s, steady RSS {one.rss_mb:.0f} MB")

    say(f"2/4 one processor with the rules of {args.rules}")
    rules_url = fresh_database(database, "bench_processor_rules")
    with_rules = run_processors(bootstrap, topic, rules_url, count, 1, args.rules)
    say(f"with rules: {with_rules.logs_per_s:,.0f} logs/s, steady RSS {with_rules.rss_mb:.0f} MB")

    say("3/4 two processors in one consumer group")
    two_url = fresh_database(database, "bench_processor_two")
    two = run_processors(bootstrap, topic, two_url, count, 2)
    say(f"two processors: {two.logs_per_s:,.0f} logs/s")

    say("4/4 bare consume + COPY of the rows run 1 stored")
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "rows.copy"
        dumped = dump_rows(url, dump)
        if dumped < count:
            raise SystemExit(f"run 1 stored {dumped:,} rows of {count:,}: see its dead letters")
        with dump.open("rb") as rows:
            bare = run_bare(bootstrap, topic, fresh_database(database, "bench_bare"), count, rows)
    say(f"bare consume+COPY: {bare:,.0f} logs/s")
    print(
        f"RESULT processor_logs_per_s={one.logs_per_s:.0f} bare_logs_per_s={bare:.0f} "
        f"ratio={one.logs_per_s / bare:.2f} rss_mb={one.rss_mb:.0f} "
        f"with_rules_logs_per_s={with_rules.logs_per_s:.0f} "
        f"rules_ratio={with_rules.logs_per_s / one.logs_per_s:.2f} decode_us={decode:.2f} "
        f"two_processors_logs_per_s={two.logs_per_s:.0f} "
        f"scaling={two.logs_per_s / one.logs_per_s:.2f} with_rules_rss_mb={with_rules.rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
