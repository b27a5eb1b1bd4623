"""A realistic mix of container logs as Fluent Bit ships them, for the parsing and processor
benchmarks: JSON lines, logfmt, nginx access logs, leveled and plain text, Java and Python stack
traces, from about 200 message templates whose variable parts (numbers, ids, IPs, users,
paths) change from record to record, over 24 pods in 6 namespaces. Lines that carry a time
carry the record's own, as live applications write it. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STEP = timedelta(microseconds=137)

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


def _json_line(rng: random.Random, moment: datetime, action: str, noun: str, extra: str) -> str:
    level = rng.choice(LEVELS)
    fields: dict[str, object] = {
        "ts": moment.isoformat(),
        "level": level,
        "msg": f"{noun} {rng.randrange(100000)} {action} by {rng.choice(WORDS)} {extra}",
        "trace_id": _hex(rng, 32),
        "duration_ms": round(rng.random() * 300, 2),
        "http": {"method": rng.choice(METHODS), "status": rng.choice(STATUSES)},
    }
    return json.dumps(fields)


def _logfmt_line(rng: random.Random, moment: datetime, action: str, noun: str, extra: str) -> str:
    return (
        f'level={rng.choice(LEVELS)} msg="{noun} {action} {extra}" '
        f"{noun}_id={rng.randrange(10**6)} table={rng.choice(TABLES)} "
        f"duration={rng.random():.3f}s attempt={rng.randrange(1, 4)}"
    )


def _nginx_line(rng: random.Random, moment: datetime, resource: str, status: int) -> str:
    path = f"/api/v1/{resource}/{rng.randrange(10**5)}"
    return (
        f"{_ip(rng)} - - [{moment:%d/%b/%Y:%H:%M:%S} +0000] "
        f'"{rng.choice(METHODS)} {path}?page={rng.randrange(9)} HTTP/1.1" {status} '
        f'{rng.randrange(20000)} "-" '
        f'"Mozilla/5.0 (X11; Linux x86_64) Chrome/{rng.randrange(100, 130)}.0" {rng.random():.3f}'
    )


def _leveled_line(
    rng: random.Random, moment: datetime, action: str, noun: str, problem: str
) -> str:
    level = LEVEL_WORDS[rng.choice(LEVELS)]
    stamp = f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d}"
    return (
        f"{stamp} {level} [worker-{rng.randrange(8)}] c.e.{noun.title()}Service - "
        f"{noun} {uuid.UUID(int=rng.getrandbits(128))} {action}: {problem} "
        f"after {rng.randrange(5000)}ms"
    )


def _plain_line(rng: random.Random, moment: datetime, action: str, noun: str, problem: str) -> str:
    return (
        f"{noun} {action} for {rng.choice(WORDS)} from {_ip(rng)}: {problem} "
        f"({rng.randrange(100)} left)"
    )


def _java_trace(rng: random.Random, moment: datetime, noun: str, problem: str) -> str:
    frames = "\n".join(
        f"\tat com.example.{noun}.Handler{index}.run(Handler{index}.java:{rng.randrange(10, 500)})"
        for index in range(rng.randrange(5, 15))
    )
    return (
        f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} ERROR "
        f"[http-{rng.randrange(50)}] c.e.Api - request {rng.randrange(10**6)} failed\n"
        f"java.lang.IllegalStateException: {noun} {problem}\n{frames}"
    )


def _python_trace(rng: random.Random, moment: datetime, noun: str, problem: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/app/{noun}.py", line {rng.randrange(10, 400)}, in handle\n'
        f"    result = process({noun}_id)\n"
        f"ValueError: {noun} {rng.randrange(10**6)} {problem}"
    )


def message_generators() -> list[Callable[[random.Random, datetime], str]]:
    """About 200 templates: each closure fixes the words that make a template."""
    generators: list[Callable[[random.Random, datetime], str]] = []
    for index, (action, noun) in enumerate(
        (action, noun) for action in ACTIONS for noun in NOUNS
    ):  # 80 structured templates, half JSON, half logfmt
        extra = f"in step {index % 7}" if index % 2 else "ok"
        if index % 2:
            generators.append(
                lambda rng, when, a=action, n=noun, e=extra: _json_line(rng, when, a, n, e)
            )
        else:
            generators.append(
                lambda rng, when, a=action, n=noun, e=extra: _logfmt_line(rng, when, a, n, e)
            )
    for resource in RESOURCES:  # 8 x 4 = 32 access-log templates (method/path/status)
        for status in (200, 404, 500, 503):
            generators.append(lambda rng, when, r=resource, s=status: _nginx_line(rng, when, r, s))
    for index, problem in enumerate(PROBLEMS * 5):  # 40 leveled, 24 plain
        noun, action = NOUNS[index % len(NOUNS)], ACTIONS[index % len(ACTIONS)]
        generators.append(
            lambda rng, when, a=action, n=noun, p=problem: _leveled_line(rng, when, a, n, p)
        )
        if index < 24:
            generators.append(
                lambda rng, when, a=action, n=noun, p=problem: _plain_line(rng, when, a, n, p)
            )
    for noun in NOUNS:  # 20 stack-trace templates
        problem = PROBLEMS[len(noun) % len(PROBLEMS)]
        generators.append(lambda rng, when, n=noun, p=problem: _java_trace(rng, when, n, p))
        generators.append(lambda rng, when, n=noun, p=problem: _python_trace(rng, when, n, p))
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


def fluent_bit_stream(
    count: int, seed: int, start: datetime = START, step: timedelta = STEP
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` Kafka records (key, value) as our Fluent Bit configuration writes them; the
    n-th is logged at ``start + n * step``, and the line's own time (when it has one) is that."""
    rng = random.Random(seed)
    generators = message_generators()
    all_pods = pods(rng)
    for index in range(count):
        kubernetes = rng.choice(all_pods)
        moment = start + index * step
        record = {
            "@timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%f123Z"),
            "stream": "stdout",
            "_p": "F",
            "log": rng.choice(generators)(rng, moment),
            "kubernetes": kubernetes,
            "logsentinel_key": f"{kubernetes['namespace_name']}/{kubernetes['container_name']}",
        }
        key = str(record["logsentinel_key"]).encode()
        yield key, json.dumps(record, separators=(",", ":")).encode()


def fluent_bit_values(count: int, seed: int) -> list[bytes]:
    """``count`` Kafka values of :func:`fluent_bit_stream` from the fixed start."""
    return [value for _, value in fluent_bit_stream(count, seed)]
