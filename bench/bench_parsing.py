"""Benchmark: Kafka value bytes -> normalised LogRecord with template id (RecordDecoder.decode).

The records are bench/logmix.py's realistic mix (about 200 templates over 24 pods).

    .venv/bin/python bench/bench_parsing.py [--records 100000] [--warmup 20000] [--seed 7]

The warm-up records (Drain learns the templates) and the measured records are generated
separately, so the template cache sees new numbers, ids and addresses as in production.
Prints progress and, last, ``RESULT decoder=<pure|compiled> parse_records_per_s=<n>
decode_us=<u> template_cache_hit_ratio=<r>``: which decoder ran (``make bench-parsing`` runs the
editable sources, then the wheel's mypyc-compiled modules), the wall-clock rate of the measured
records, and the CPU time per record, the better figure on a busy machine. Timing is
informative only: never gate on it.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from logmix import fluent_bit_values, message_generators

import logsentinel.parsing.decoder
from logsentinel.parsing import DeadLetterError, RecordDecoder
from logsentinel.parsing.jsonio import BACKEND


def decoder_kind() -> str:
    """compiled (the C extension the wheel carries) or pure (the editable sources)."""
    return "compiled" if logsentinel.parsing.decoder.__file__.endswith(".so") else "pure"


@dataclass(frozen=True)
class DecodeCost:
    records_per_s: float
    """Wall clock."""
    cpu_us: float
    """CPU time per record."""
    dead_lettered: int
    hit_ratio: float
    templates: int
    drain_runs: int


def decode_cost(warmup: Sequence[bytes], values: Sequence[bytes], now: datetime) -> DecodeCost:
    """What one decoder costs per value, after it has learnt the templates of the warm-up
    values; the clock is read once, as the processor reads it once per batch."""
    decoder = RecordDecoder(clock=lambda: now)
    levels: Counter[str] = Counter()
    warm_start = time.perf_counter()
    for value in warmup:
        try:
            levels[decoder.decode(value, now=now).level.value] += 1
        except DeadLetterError:
            levels["dead-lettered"] += 1
    print(
        f"warm-up: {len(warmup)} records in {time.perf_counter() - warm_start:.2f}s, "
        f"{len(decoder.miner)} templates, levels {dict(levels)}",
        flush=True,
    )
    decoder.miner.hits = decoder.miner.misses = 0
    dead = 0
    report_every = max(len(values) // 5, 1)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for index, value in enumerate(values, start=1):
        try:
            decoder.decode(value, now=now)
        except DeadLetterError:
            dead += 1
        if index % report_every == 0:
            rate = index / (time.perf_counter() - wall_start)
            print(f"  decoded {index:,} records, {rate:,.0f}/s", flush=True)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    return DecodeCost(
        records_per_s=len(values) / wall,
        cpu_us=cpu / len(values) * 1e6,
        dead_lettered=dead,
        hit_ratio=decoder.miner.hit_ratio,
        templates=len(decoder.miner),
        drain_runs=decoder.miner.misses,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    templates = len(message_generators())
    print(f"generating {args.warmup} + {args.records} records from {templates} templates")
    warmup = fluent_bit_values(args.warmup, args.seed)
    values = fluent_bit_values(args.records, args.seed + 1)
    average = sum(map(len, values)) / len(values)
    print(
        f"average value {average:.0f} bytes; JSON backend: {BACKEND}; decoder: {decoder_kind()}",
        flush=True,
    )
    # the records' day as the clock: inside the event-time window, as live records are
    cost = decode_cost(warmup, values, datetime(2026, 11, 22, 12, 1, tzinfo=UTC))
    print(
        f"decoded {len(values) - cost.dead_lettered}, dead-lettered {cost.dead_lettered}; "
        f"{cost.records_per_s:,.0f} records/s wall-clock, {cost.cpu_us:.2f} us CPU per record; "
        f"{cost.templates} templates, {cost.drain_runs} Drain runs",
        flush=True,
    )
    print(
        f"RESULT decoder={decoder_kind()} parse_records_per_s={cost.records_per_s:.0f} "
        f"decode_us={cost.cpu_us:.2f} template_cache_hit_ratio={cost.hit_ratio:.4f}"
    )


if __name__ == "__main__":
    main()
