"""A processor running on a background thread of the test, and waiting on conditions."""

from __future__ import annotations

import threading
from typing import Any

from devstack.proc import wait_until
from logsentinel.processors.loop import Processor


def eventually(what: str, check: Any, timeout: float = 60) -> None:
    """Wait until check() is true; fail the test naming what did not happen by the deadline."""
    wait_until(what, check, timeout, failure=AssertionError)


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
