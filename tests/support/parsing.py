"""Helpers for the parsing tests: fixture files and Fluent Bit values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from logsentinel.domain import LogRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_TIME = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
"""Around when the fixtures and fluent_bit_value() say their records were written."""


def fixture_clock() -> datetime:
    """A decoder clock for records written at FIXTURE_TIME (inside its event-time window)."""
    return FIXTURE_TIME


def load_fixture(relative: str) -> Any:
    return yaml.safe_load((FIXTURES / relative).read_text(encoding="utf-8"))


def fluent_bit_value(log: object, **overrides: Any) -> bytes:
    """A Kafka value shaped like our Fluent Bit configuration's output."""
    record: dict[str, Any] = {
        "@timestamp": "2026-11-22T12:00:00.000001Z",
        "time": "2026-11-22T12:00:00.000001000Z",
        "stream": "stdout",
        "_p": "F",
        "log": log,
        "kubernetes": {
            "pod_name": "checkout-7d9f8b6c5d-x2x9k",
            "namespace_name": "shop",
            "labels": {"app.kubernetes.io/name": "checkout"},
            "host": "node-1",
            "container_name": "checkout",
        },
        "logsentinel_key": "shop/checkout",
    }
    record.update(overrides)
    return json.dumps(record).encode()


def revalidated(record: LogRecord) -> LogRecord:
    """The record after a round trip through full pydantic validation."""
    return LogRecord.model_validate_json(record.model_dump_json(by_alias=True))
