"""Prometheus metrics of the API (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGEST_RECORDS = Counter(
    "logsentinel_ingest_records_total",
    "Records received by POST /api/v1/ingest, by outcome "
    "(accepted, rejected, unavailable, unknown).",
    ["outcome"],
)
INGEST_TRANSACTIONS = Counter(
    "logsentinel_ingest_transactions_total",
    "Kafka transactions of grouped ingest requests, by result (committed, aborted).",
    ["result"],
)
INGEST_TRANSACTION_SECONDS = Histogram(
    "logsentinel_ingest_transaction_seconds",
    "Time from beginning a Kafka ingest transaction to its commit or abort.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INGEST_TRANSACTION_REQUESTS = Histogram(
    "logsentinel_ingest_transaction_requests",
    "Ingest requests grouped into one Kafka transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
LOGIN_ATTEMPTS = Counter(
    "logsentinel_login_attempts_total",
    "POST /api/v1/auth/login by outcome (succeeded, failed, limited: 429, overloaded: 503).",
    ["outcome"],
)

ACCEPTED_RECORDS = INGEST_RECORDS.labels("accepted")
REJECTED_RECORDS = INGEST_RECORDS.labels("rejected")
UNAVAILABLE_RECORDS = INGEST_RECORDS.labels("unavailable")
UNKNOWN_RECORDS = INGEST_RECORDS.labels("unknown")
"""INGEST_RECORDS by outcome, looked up once (labels() costs several microseconds a call)."""
