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
DEAD_LETTERS_REFUSED = Counter(
    "logsentinel_dead_letters_refused_total",
    "Dead letters the dead-letter topic refused for good (kept in PostgreSQL only).",
    ["error"],
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

RULES = Gauge("logsentinel_rules", "DetectionRules known to this processor.", ["state"])
RULE_EVALUATIONS = Counter(
    "logsentinel_rule_evaluations_total", "Records evaluated by rules (one per record and rule)."
)
FIRINGS = Counter("logsentinel_rule_firings_total", "Detector firings.", ["rule"])
INCIDENT_CHANGES = Counter(
    "logsentinel_incident_changes_total", "Incidents opened, recurred and resolved.", ["change"]
)
INCIDENTS_SUPPRESSED = Counter(
    "logsentinel_incidents_suppressed_total", "Firings that opened nothing (cooldown)."
)
DETECTION_LATENCY = Histogram(
    "logsentinel_detection_latency_seconds",
    "From the time of the record that made a rule fire to its incident being written.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60),
)
INCIDENT_WRITE_ERRORS = Counter(
    "logsentinel_incident_write_errors_total", "Failed incident writes (retried).", ["target"]
)
