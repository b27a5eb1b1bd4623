"""Benchmark: Kafka value bytes -> normalised LogRecord with template id (RecordDecoder.decode).

A realistic mix of Fluent Bit records (JSON lines, logfmt, nginx access logs, leveled and plain
text, Java/Python stack traces) from about 200 message templates whose variable parts (numbers,
ids, IPs, users, paths) change from record to record, over 24 pods in 6 namespaces.

    .venv/bin/python bench/bench_parsing.py [--records 100000] [--warmup 20000] [--seed 7]

The warm-up records (Drain learns the templates) and the measured records are generated
separately, so the template cache sees new numbers, ids and addresses as in production.
Prints progress and, last, ``RESULT parse_records_per_s=<n> template_cache_hit_ratio=<r>``
(wall-clock rate of the measured records; the CPU-time rate is printed just before and is the
better figure on a busy machine). Timing is informative only: never gate on it.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from logsentinel.parsing import DeadLetterError, RecordDecoder
from logsentinel.parsing.jsonio import BACKEND

WORDS = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "oscar",
    "peggy",
    "trent",
]
TABLES = ["orders", "users", "payments", "carts", "sessions", "invoices", "stock", "shipments"]
RESOURCES = ["orders", "users", "carts", "products", "invoices", "sessions", "reviews", "coupons"]
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
STATUSES = (200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 429, 500, 502, 503)
ACTIONS = ["created", "updated", "deleted", "fetched", "cached", "evicted", "retried", "scheduled"]
NOUNS = [
    "order",
    "user",
    "cart",
    "payment",
    "invoice",
    "session",
    "token",
    "job",
    "batch",
    "webhook",
]
PROBLEMS = [
    "timeout",
    "refused",
    "reset",
    "unavailable",
    "throttled",
    "rejected",
    "corrupted",
    "expired",
]
LEVELS = ("debug", "info", "info", "info", "warn", "error")
LEVEL_WORDS = {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"}


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _json_line(rng: random.Random, action: str, noun: str, extra: str) -> str:
    level = rng.choice(LEVELS)
    fields: dict[str, object] = {
        "ts": (datetime(2026, 11, 22, tzinfo=UTC) + timedelta(seconds=rng.random())).isoformat(),
        "level": level,
        "msg": f"{noun} {rng.randrange(100000)} {action} by {rng.choice(WORDS)} {extra}",
        "trace_id": _hex(rng, 32),
        "duration_ms": round(rng.random() * 300, 2),
        "http": {"method": rng.choice(METHODS), "status": rng.choice(STATUSES)},
    }
    return json.dumps(fields)


def _logfmt_line(rng: random.Random, action: str, noun: str, extra: str) -> str:
    return (
        f'level={rng.choice(LEVELS)} msg="{noun} {action} {extra}" '
        f"{noun}_id={rng.randrange(10**6)} table={rng.choice(TABLES)} "
        f"duration={rng.random():.3f}s attempt={rng.randrange(1, 4)}"
    )


def _nginx_line(rng: random.Random, resource: str, status: int) -> str:
    path = f"/api/v1/{resource}/{rng.randrange(10**5)}"
    return (
        f"{_ip(rng)} - - [22/Nov/2026:12:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] "
        f'"{rng.choice(METHODS)} {path}?page={rng.randrange(9)} HTTP/1.1" {status} '
        f'{rng.randrange(20000)} "-" '
        f'"Mozilla/5.0 (X11; Linux x86_64) Chrome/{rng.randrange(100, 130)}.0" {rng.random():.3f}'
    )


def _leveled_line(rng: random.Random, action: str, noun: str, problem: str) -> str:
    level = LEVEL_WORDS[rng.choice(LEVELS)]
    stamp = (
        f"2026-11-22 12:{rng.randrange(60):02d}:{rng.randrange(60):02d},{rng.randrange(1000):03d}"
    )
    return (
        f"{stamp} {level} [worker-{rng.randrange(8)}] c.e.{noun.title()}Service - "
        f"{noun} {uuid.UUID(int=rng.getrandbits(128))} {action}: {problem} "
        f"after {rng.randrange(5000)}ms"
    )


def _plain_line(rng: random.Random, action: str, noun: str, problem: str) -> str:
    return (
        f"{noun} {action} for {rng.choice(WORDS)} from {_ip(rng)}: {problem} "
        f"({rng.randrange(100)} left)"
    )


def _java_trace(rng: random.Random, noun: str, problem: str) -> str:
    frames = "\n".join(
        f"\tat com.example.{noun}.Handler{index}.run(Handler{index}.java:{rng.randrange(10, 500)})"
        for index in range(rng.randrange(5, 15))
    )
    return (
        f"2026-11-22 12:00:{rng.randrange(60):02d}.{rng.randrange(1000):03d} ERROR "
        f"[http-{rng.randrange(50)}] c.e.Api - request {rng.randrange(10**6)} failed\n"
        f"java.lang.IllegalStateException: {noun} {problem}\n{frames}"
    )


def _python_trace(rng: random.Random, noun: str, problem: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/app/{noun}.py", line {rng.randrange(10, 400)}, in handle\n'
        f"    result = process({noun}_id)\n"
        f"ValueError: {noun} {rng.randrange(10**6)} {problem}"
    )


def message_generators() -> list[Callable[[random.Random], str]]:
    """About 200 templates: each closure fixes the words that make a template."""
    generators: list[Callable[[random.Random], str]] = []
    for index, (action, noun) in enumerate(
        (action, noun) for action in ACTIONS for noun in NOUNS
    ):  # 80 structured templates, half JSON, half logfmt
        extra = f"in step {index % 7}" if index % 2 else "ok"
        if index % 2:
            generators.append(lambda rng, a=action, n=noun, e=extra: _json_line(rng, a, n, e))
        else:
            generators.append(lambda rng, a=action, n=noun, e=extra: _logfmt_line(rng, a, n, e))
    for resource in RESOURCES:  # 8 x 4 = 32 access-log templates (method/path/status)
        for status in (200, 404, 500, 503):
            generators.append(lambda rng, r=resource, s=status: _nginx_line(rng, r, s))
    for index, problem in enumerate(PROBLEMS * 5):  # 40 leveled, 24 plain
        noun, action = NOUNS[index % len(NOUNS)], ACTIONS[index % len(ACTIONS)]
        generators.append(lambda rng, a=action, n=noun, p=problem: _leveled_line(rng, a, n, p))
        if index < 24:
            generators.append(lambda rng, a=action, n=noun, p=problem: _plain_line(rng, a, n, p))
    for noun in NOUNS:  # 20 stack-trace templates
        problem = PROBLEMS[len(noun) % len(PROBLEMS)]
        generators.append(lambda rng, n=noun, p=problem: _java_trace(rng, n, p))
        generators.append(lambda rng, n=noun, p=problem: _python_trace(rng, n, p))
    return generators


def pods(rng: random.Random) -> list[dict[str, object]]:
    """Kubernetes metadata as it reaches Kafka: fluent-bit/kafka_key.lua drops docker_id,
    container_hash, container_image and pod_id."""
    result = []
    for index in range(24):
        app = f"svc-{index}"
        pod_hash = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(10))
        result.append(
            {
                "pod_name": f"{app}-{pod_hash}-{_hex(rng, 5)}",
                "namespace_name": f"team-{index % 6}",
                "labels": {
                    "app.kubernetes.io/name": app,
                    "app.kubernetes.io/version": "1.4.2",
                    "pod-template-hash": pod_hash,
                },
                "host": f"node-{index % 3}",
                "container_name": app,
            }
        )
    return result


def fluent_bit_values(count: int, seed: int) -> list[bytes]:
    """``count`` Kafka values as our Fluent Bit configuration writes them."""
    rng = random.Random(seed)
    generators = message_generators()
    all_pods = pods(rng)
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    values = []
    for index in range(count):
        kubernetes = rng.choice(all_pods)
        moment = start + timedelta(microseconds=index * 137)
        record = {
            "@timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%f123Z"),
            "stream": "stdout",
            "_p": "F",
            "log": rng.choice(generators)(rng),
            "kubernetes": kubernetes,
            "logsentinel_key": f"{kubernetes['namespace_name']}/{kubernetes['container_name']}",
        }
        values.append(json.dumps(record, separators=(",", ":")).encode())
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    templates = len(message_generators())
    print(f"generating {args.warmup} + {args.records} records from {templates} templates")
    warmup = fluent_bit_values(args.warmup, args.seed)
    values = fluent_bit_values(args.records, args.seed + 1)
    average = sum(map(len, values)) / len(values)
    print(f"average value {average:.0f} bytes; JSON backend: {BACKEND}", flush=True)

    # the records' day as the clock: inside the event-time window, as live records are; read
    # once, as the processor reads it once per batch
    now = datetime(2026, 11, 22, 12, 1, tzinfo=UTC)
    decoder = RecordDecoder(clock=lambda: now)
    levels: Counter[str] = Counter()
    warm_start = time.perf_counter()
    for value in warmup:
        levels[decoder.decode(value, now=now).level.value] += 1
    print(
        f"warm-up: {len(warmup)} records in {time.perf_counter() - warm_start:.2f}s, "
        f"{len(decoder.miner)} templates, levels {dict(levels)}",
        flush=True,
    )
    decoder.miner.hits = decoder.miner.misses = 0

    decoded = dead = 0
    report_every = max(len(values) // 5, 1)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for index, value in enumerate(values, start=1):
        try:
            decoder.decode(value, now=now)
            decoded += 1
        except DeadLetterError:
            dead += 1
        if index % report_every == 0:
            rate = index / (time.perf_counter() - wall_start)
            print(f"  {index} records, {rate:,.0f}/s", flush=True)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    total = decoded + dead
    print(
        f"decoded {decoded}, dead-lettered {dead}; {total / wall:,.0f} records/s wall-clock, "
        f"{total / cpu:,.0f} records/s of CPU time ({wall / total * 1e6:.2f} us/record wall, "
        f"{cpu / total * 1e6:.2f} us CPU); {len(decoder.miner)} templates, "
        f"{decoder.miner.misses} Drain runs",
        flush=True,
    )
    print(
        f"RESULT parse_records_per_s={total / wall:.0f} "
        f"template_cache_hit_ratio={decoder.miner.hit_ratio:.4f}"
    )


if __name__ == "__main__":
    main()
