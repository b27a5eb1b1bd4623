"""Log Sentinel's sample app: a payment worker that writes numbered JSON lines to stdout.

Version 1 accepts every payment. Version 2 ships a bug: every payment fails with an error line.
Each line carries ``seq`` (1, 2, 3, ... per process) so a test can check that every line the
app wrote was stored exactly once. Settings (environment):

- ``APP_VERSION``: baked into the image (1.0.0 or 2.0.0);
- ``LINES_PER_SECOND``: the steady rate (default 20);
- ``LINE_PADDING``: characters of filler added to each line as ``padding`` (default 0), for
  tests that need volume in bytes rather than in lines.

SIGTERM ends the loop after the current line (no line is ever half written) and the app writes
a last line, ``"last": true``, whose ``seq`` is the number of lines the process wrote.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime

stopping = False


def stop(_signal: int, _frame: object) -> None:
    global stopping
    stopping = True


def line(seq: int, version: str, padding: str) -> dict[str, object]:
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    order = 1000 + seq
    if version.startswith("2."):
        return {
            "time": now,
            "level": "error",
            "msg": f"payment for order {order} failed: card processor timeout",
            "seq": seq,
            "version": version,
            **({"padding": padding} if padding else {}),
        }
    return {
        "time": now,
        "level": "info",
        "msg": f"payment for order {order} accepted",
        "seq": seq,
        "version": version,
        **({"padding": padding} if padding else {}),
    }


def main() -> None:
    version = os.environ.get("APP_VERSION", "1.0.0")
    interval = 1.0 / float(os.environ.get("LINES_PER_SECOND", "20"))
    padding = "." * int(os.environ.get("LINE_PADDING", "0"))
    signal.signal(signal.SIGTERM, stop)
    seq = 0
    next_at = time.monotonic()
    while not stopping:
        seq += 1
        sys.stdout.write(json.dumps(line(seq, version, padding)) + "\n")
        sys.stdout.flush()
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    last = {"time": now, "level": "info", "msg": "stopping", "seq": seq + 1, "last": True}
    sys.stdout.write(json.dumps(last) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
