"""Benchmark: instructions per record for decoding and for the default rules (callgrind).

Timing on a shared virtual machine drifts by a factor of two within an hour; the number of
instructions a piece of work executes does not. Each workload runs twice under valgrind's
callgrind, once with no measured records and once with ``--records`` of them after the same
set-up and warm-up, and the difference divided by the records is its cost:

- ``decode``: ``RecordDecoder.decode`` on bench/logmix.py's mix, after a warm-up that teaches
  the template miner (the processor's decode, without Kafka);
- ``rules``: ``RuleEngine.observe`` with the default rule pack (rules/default) on decoded
  records of the mix, in batches of 500, after a warm-up.

Both runs generate (and, for the rules, decode) the same values; only the measured part differs.

    .venv/bin/python bench/bench_instructions.py [--records 10000] [--workload decode rules]

``make bench-instructions`` runs it with the compiled modules the wheel and image ship. Needs
valgrind (Debian: ``apt-get install valgrind``); about five minutes here, the two workloads in
parallel. Last line: ``RESULT decode_instructions=<n> rules_instructions=<n>`` (per record).
Informative only: never gate on it.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from logmix import START, fluent_bit_values

REPO = Path(__file__).resolve().parents[1]
WARMUP = 5000
BATCH = 500
_COLLECTED = re.compile(r"Collected : (\d+)")


def run_decode(records: int, generated: int) -> None:
    from logsentinel.parsing import DeadLetterError, RecordDecoder

    values = fluent_bit_values(WARMUP + generated, seed=5)
    decoder = RecordDecoder(clock=lambda: START)
    dead_letters = 0
    for value in values[: WARMUP + records]:
        try:
            decoder.decode(value, now=START)
        except DeadLetterError:
            dead_letters += 1  # (not `suppress`: a context manager per record would count too)


def run_rules(records: int, generated: int) -> None:
    from logsentinel.detection.engine import RuleEngine
    from logsentinel.manifests import load_rules
    from logsentinel.parsing import DeadLetterError, RecordDecoder

    decoder = RecordDecoder(clock=lambda: START)
    decoded = []
    for value in fluent_bit_values(WARMUP + generated, seed=3):
        try:
            decoded.append(decoder.decode(value, now=START))
        except DeadLetterError:
            continue
    engine = RuleEngine()
    engine.set_rules(load_rules([REPO / "rules" / "default"]).rules)
    gc.collect()
    gc.freeze()  # as the processor does after start-up
    fed = decoded[: WARMUP + records]
    for start in range(0, len(fed), BATCH):
        engine.observe(fed[start : start + BATCH])


WORKLOADS = {"decode": run_decode, "rules": run_rules}


def instructions(workload: str, records: int, generated: int) -> int:
    """What callgrind counts for the whole run of one workload with this many records."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            workload,
            "--records",
            str(records),
            "--generate",
            str(generated),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{workload} under callgrind failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_record(workload: str, records: int) -> int:
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        base, measured = pool.map(lambda n: instructions(workload, n, records), (0, records))
    cost = (measured - base) // records
    print(
        f"[bench] {workload}: {cost:,} instructions per record "
        f"({measured - base:,} for {records:,} records, {time.monotonic() - started:.0f}s)",
        flush=True,
    )
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument(
        "--workload", nargs="+", choices=sorted(WORKLOADS), default=["decode", "rules"]
    )
    parser.add_argument("--child", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        WORKLOADS[args.child](args.records, max(args.generate, args.records))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    import logsentinel.parsing.decoder

    compiled = logsentinel.parsing.decoder.__file__.endswith(".so")
    print(
        f"[bench] {'compiled' if compiled else 'pure'} modules; each workload runs twice under "
        "callgrind (about 50 times slower than native), with 0 and with "
        f"{args.records:,} measured records",
        flush=True,
    )
    results = {workload: per_record(workload, args.records) for workload in args.workload}
    print("RESULT " + " ".join(f"{name}_instructions={cost}" for name, cost in results.items()))


if __name__ == "__main__":
    main()
