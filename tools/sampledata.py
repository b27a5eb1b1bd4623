"""Sample container logs in the exact shape Fluent Bit's kafka output writes (see
fluent-bit/README.md), for tests, benchmarks and the demo."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

SERVICES = ("checkout", "storefront", "payments", "catalog", "search")

_MESSAGES = (
    ('{{"level":"info","msg":"order {n} created","order_id":{n},"trace_id":"{trace}"}}', "info"),
    ('level=warn msg="cache miss" key=item:{n} took={ms}ms', "warn"),
    (
        '10.0.{a}.{b} - - [{clf}] "GET /api/items/{n} HTTP/1.1" {status} '
        '{size} "-" "curl/8.5" {secs}',
        "",
    ),
    ("{iso} ERROR payment gateway timeout after {ms}ms for order {n}", "error"),
    ("{log4j} INFO [main] c.e.Inventory - reserved {n} items", "info"),
)


@dataclass(frozen=True)
class SampleLog:
    """One Kafka record: key and value."""

    key: bytes
    value: bytes
    service: str


def fluent_bit_value(
    *, namespace: str, service: str, log: str, when: datetime, pod_suffix: str = "x2x9k"
) -> bytes:
    """A Kafka value as our fluent-bit/fluent-bit.yaml ships it (iso8601 timestamp, cri keys)."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document = {
        "@timestamp": stamp,
        "time": stamp,
        "stream": "stdout",
        "_p": "F",
        "log": log,
        "kubernetes": {
            "pod_name": f"{service}-7d9f8b6c5d-{pod_suffix}",
            "namespace_name": namespace,
            "labels": {"app.kubernetes.io/name": service},
            "host": "node-1",
            "container_name": service,
        },
        "logsentinel_key": f"{namespace}/{service}",
    }
    return json.dumps(document, separators=(",", ":")).encode()


def sample_logs(
    count: int, *, namespace: str = "shop", seed: int = 7, when: datetime | None = None
) -> Iterator[SampleLog]:
    """count realistic records over a handful of services and formats, deterministically."""
    rng = random.Random(seed)
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    # Timestamps inside the lines follow `when`: a fixed date would age out of retention.
    stamps = {
        "clf": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "iso": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "log4j": moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}",
    }
    for index in range(count):
        service = SERVICES[index % len(SERVICES)]
        template, _ = _MESSAGES[rng.randrange(len(_MESSAGES))]
        line = template.format(
            n=rng.randrange(100_000),
            ms=rng.randrange(1, 5000),
            a=rng.randrange(256),
            b=rng.randrange(256),
            status=rng.choice((200, 200, 200, 201, 404, 502)),
            size=rng.randrange(100, 9000),
            secs=f"{rng.random():.3f}",
            trace=f"{rng.getrandbits(128):032x}",
            **stamps,
        )
        value = fluent_bit_value(namespace=namespace, service=service, log=line, when=moment)
        yield SampleLog(f"{namespace}/{service}".encode(), value, service)
