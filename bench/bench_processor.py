"""Processor throughput and memory: ONE `logsentinel processor` process against a bare
consume+COPY path, in the same run, on the same records, into identical schemas.

Produces realistic Fluent Bit-shaped records (sampledata: five services, five formats, mixed
levels) into a 4-partition topic. The processor figure is the real command in its own process,
its RSS sampled once past start-up; the bare path consumes and COPYs each raw value as the
message, with no parsing, templates or detection.
Uses the local stack (make up; or LOGSENTINEL_DATABASE_URL / LOGSENTINEL_KAFKA_BOOTSTRAP).
A second processor run loads DetectionRules (--rules, default all of examples/rules) to show
what detection costs.
Last line: RESULT processor_logs_per_s=<N> bare_logs_per_s=<M> ratio=<N/M> rss_mb=<R>
with_rules_logs_per_s=<W> rules_ratio=<W/N> with_rules_rss_mb=<S>
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from logsentinel.storage import migrate
from logsentinel.storage.partitions import PartitionManager
from logsentinel.storage.urls import libpq_url
from logsentinel.storage.writer import COPY_LOGS
from sampledata import sample_logs


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def fresh_database(server_url: str, name: str) -> str:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = libpq_url(server_url).rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    return url


def produce(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    started = time.monotonic()
    for index, log in enumerate(sample_logs(count, when=datetime.now(UTC))):
        while True:
            try:
                producer.produce(topic, key=log.key, value=log.value)
                break
            except BufferError:
                producer.poll(0.05)
        if index % 50_000 == 0:
            say(f"produced {index:,}/{count:,}")
    producer.flush(60)
    say(f"produced {count:,} records in {time.monotonic() - started:.1f}s")


def stored(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM logs").fetchone()
        return int(row[0]) if row else 0


def run_bare(bootstrap: str, topic: str, url: str, count: int) -> float:
    """Consume and COPY the raw value as the message: no decoding, no templates."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-bare-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    partitions = PartitionManager()
    now = datetime.now(UTC)
    consumed, first = 0, None
    with psycopg.connect(url) as connection:
        partitions.ensure(connection, [now.date()])  # outside the batch transactions
        while consumed < count:
            messages = [m for m in consumer.consume(5000, 0.1) if m.error() is None]
            if not messages:
                continue
            first = first or time.monotonic()
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(COPY_LOGS) as copy,
            ):
                for m in messages:
                    value: Any = m.value()
                    copy.write_row(
                        (now, "unknown", "bare", "", "", "", "", None,
                         value.decode("utf-8", "replace"), None, None, "{}",
                         m.topic(), m.partition(), m.offset())
                    )  # fmt: skip
            offsets = {}
            for m in messages:
                offsets[(m.topic(), m.partition())] = m.offset() + 1
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=True,
            )
            consumed += len(messages)
            if consumed % 50_000 < len(messages):
                say(f"bare consumed {consumed:,}/{count:,}")
    elapsed = time.monotonic() - (first or time.monotonic())
    consumer.close()
    return count / elapsed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_cli(
    bootstrap: str, topic: str, url: str, count: int, rules: Path | None = None
) -> tuple[float, float]:
    """The processor command in its own process: records/s and its highest RSS once warm."""
    extra = {"LOGSENTINEL_RULES_DIRECTORY": str(rules)} if rules is not None else {}
    environment = {
        **extra,
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": url,
        "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": topic,
        "LOGSENTINEL_KAFKA_GROUP": f"bench-cli-{uuid.uuid4().hex[:6]}",
        "LOGSENTINEL_METRICS_PORT": "0",
        "LOGSENTINEL_MIGRATE_ON_START": "false",
        "LOGSENTINEL_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "logsentinel.cli", "processor"]
    log_path = (
        Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-processor-{uuid.uuid4().hex[:6]}.log"
    )
    log_file = log_path.open("wb")
    process = subprocess.Popen(command, env=environment, stdout=log_file, stderr=log_file)
    samples: list[float] = []
    first: float | None = None
    try:
        deadline = time.monotonic() + 600
        last_report = 0
        while (done := stored(url)) < count:
            if done - last_report >= 100_000:
                say(f"processor stored {done:,}/{count:,}")
                last_report = done
            if time.monotonic() > deadline or process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(f"processor command stopped at {done:,}/{count:,}:\n{tail}")
            if done and first is None:
                first = time.monotonic()
            if done > count // 5:  # steady state: past start-up and the first batches
                samples.append(rss_mb(process.pid))
            time.sleep(0.5)  # sampling interval of a measurement, not synchronisation
        elapsed = time.monotonic() - (first or time.monotonic())
    finally:
        process.terminate()
        process.wait(60)
        log_file.close()
    return count / elapsed, max(samples, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--rules",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "examples" / "rules",
        help="DetectionRules for the run with detection (default: all examples)",
    )
    args = parser.parse_args()
    database = os.environ.get("LOGSENTINEL_DATABASE_URL")
    bootstrap = os.environ.get("LOGSENTINEL_KAFKA_BOOTSTRAP")
    if not database or not bootstrap:
        raise SystemExit('start the stack first: make up && eval "$(make -s env)"')
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    say(f"cpu count {os.cpu_count()}, {args.records:,} records, {args.partitions} partitions")
    produce(bootstrap, topic, args.records, args.partitions)
    url = fresh_database(database, "bench_processor")
    processor, rss = run_cli(bootstrap, topic, url, args.records)
    say(f"logsentinel processor (one process): {processor:,.0f} logs/s, steady RSS {rss:.0f} MB")
    url = fresh_database(database, "bench_processor_rules")
    with_rules, rules_rss = run_cli(bootstrap, topic, url, args.records, args.rules)
    rule_count = len(list(args.rules.glob("*.yaml")))
    say(
        f"with {rule_count} rules from {args.rules}: {with_rules:,.0f} logs/s, "
        f"steady RSS {rules_rss:.0f} MB"
    )
    bare = run_bare(bootstrap, topic, fresh_database(database, "bench_bare"), args.records)
    say(f"bare consume+COPY: {bare:,.0f} logs/s")
    print(
        f"RESULT processor_logs_per_s={processor:.0f} bare_logs_per_s={bare:.0f} "
        f"ratio={processor / bare:.2f} rss_mb={rss:.0f} "
        f"with_rules_logs_per_s={with_rules:.0f} rules_ratio={with_rules / processor:.2f} "
        f"with_rules_rss_mb={rules_rss:.0f}"
    )


if __name__ == "__main__":
    main()
