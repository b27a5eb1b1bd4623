"""A processor running on a background thread of the test, and waiting on conditions."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from devstack.proc import wait_until
from logsentinel.processors.loop import Processor
from logsentinel.processors.settings import ProcessorSettings


def eventually(what: str, check: Any, timeout: float = 60) -> None:
    """Wait until check() is true; fail the test naming what did not happen by the deadline."""
    wait_until(what, check, timeout, failure=AssertionError)


def processor_settings(
    database_url: str, bootstrap: str, topic: str, **overrides: Any
) -> ProcessorSettings:
    """A test processor's settings for `topic` (its group and dead-letter topic are named after
    it): small batches, short waits and backoffs, no metrics server; `overrides` win."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": bootstrap,
        "kafka_topic": topic,
        "kafka_group": f"group-{topic}",
        "dead_letter_topic": f"{topic}-dead",
        "batch_size": 500,
        "batch_wait": timedelta(milliseconds=50),
        "backoff_initial": timedelta(milliseconds=100),
        "backoff_max": timedelta(seconds=1),
        "metrics_port": 0,
    }
    return ProcessorSettings(**{**values, **overrides})


class Running:
    """A processor on a background thread."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.thread = threading.Thread(target=processor.run, name="processor")
        self.thread.start()

    def stop(self) -> None:
        self.processor.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
