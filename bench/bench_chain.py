"""The whole chain on the real node, --runs times: the sample app's bad rollout travels stdout ->
log file -> OpenTelemetry Collector agent -> Kafka -> processors -> Incident -> the operator's
rollback -> verification -> Resolved (tests/node/test_chain.py, which records the figures).

Per run: chain_detect_s = the first failed payment line the app wrote (its own timestamp, as
stored) -> the incident opened (the processor's row, PostgreSQL's clock on the same machine);
the rule needs 20 such lines, which v2 writes in about 1 s. chain_resolve_s = opened ->
resolved (the playbook's verification waits one full rule window, 30 s, of recovered signal).
chain_lost and chain_duplicated = the
app's numbered lines not stored / stored twice, counted from each pod's last line.
Uses the running local stack with its real node (make up); builds the images it needs.
Last line: RESULT chain_detect_s=<median> chain_resolve_s=<median> chain_lost=<sum>
chain_duplicated=<sum> (and the maxima of the two times).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/node/test_chain.py"
FIGURE = re.compile(r"(\w+)=([0-9.]+)")


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def one_run(index: int, runs: int) -> dict[str, float]:
    say(f"run {index}/{runs}: {TEST}")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-p", "no:cacheprovider", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        print(done.stdout[-6000:], done.stderr[-2000:], sep="\n")
        raise SystemExit(f"run {index}: the chain test failed (exit {done.returncode})")
    figures = {name: float(value) for name, value in FIGURE.findall(result[-1])}
    say(f"run {index}/{runs}: " + " ".join(f"{k}={v:g}" for k, v in sorted(figures.items())))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = [one_run(index, runs) for index in range(1, runs + 1)]
    detect = [r["chain_detect_s"] for r in results]
    resolve = [r["chain_resolve_s"] for r in results]
    lost = sum(int(r["chain_lost"]) for r in results)
    duplicated = sum(int(r["chain_duplicated"]) for r in results)
    print(
        f"RESULT chain_detect_s={statistics.median(detect):.1f} "
        f"chain_resolve_s={statistics.median(resolve):.1f} chain_lost={lost} "
        f"chain_duplicated={duplicated} chain_detect_max_s={max(detect):.1f} "
        f"chain_resolve_max_s={max(resolve):.1f} runs={runs}",
        flush=True,
    )


if __name__ == "__main__":
    main()
