"""Prometheus metrics of the processors (served on /metrics by prometheus-client)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_CONSUMED = Counter("logsentinel_records_consumed_total", "Kafka records consumed.")
RECORDS_STORED = Counter("logsentinel_records_stored_total", "Log records stored.")
RECORDS_REPLAYED = Counter(
    "logsentinel_records_replayed_total", "Records skipped because they were already stored."
)
RECORDS_DEAD_LETTERED = Counter(
    "logsentinel_records_dead_lettered_total", "Records sent to the dead-letter path.", ["reason"]
)
BATCH_SIZE = Histogram(
    "logsentinel_batch_records",
    "Records per batch.",
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000),
)
BATCH_SECONDS = Histogram(
    "logsentinel_batch_seconds",
    "Time per batch and stage.",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
END_TO_END_LAG = Gauge(
    "logsentinel_end_to_end_lag_seconds", "Now minus the newest record time in the last batch."
)
CONSUMER_LAG = Gauge(
    "logsentinel_consumer_lag_records", "High watermark minus position.", ["topic", "partition"]
)
DATABASE_UP = Gauge("logsentinel_database_up", "1 when the last database write succeeded.")
PAUSED = Gauge("logsentinel_consumption_paused", "1 while consumption is paused (backpressure).")
