"""Benchmark: template grouping accuracy on real logs (Loghub-2k) and the miner's throughput.

Each set's ``Content`` column (the message part) is fed line by line, in order, to a fresh
:class:`~logsentinel.parsing.templates.TemplateMiner`. The id the miner returns for a line at
that moment is what the processor stores, so that is what is scored: grouping accuracy (GA) of
the stored ids against the ground truth ``EventId``. A line is correct when the lines sharing
its id are exactly the lines sharing its event (Zhu et al., ICSE-SEIP 2019). For comparison the
GA of the final clusters is printed too: each line matched again at the end, grouped by its
cluster's final text.

Throughput: one miner (default size) fed all the sets one after the other, first once (every
template new: Drain runs on each cache miss), then the same stream replayed ``--passes`` times
(the caches answer, as for a service's steady traffic).

    .venv/bin/python bench/bench_templates.py [--loghub ../shared/loghub-2k] [--passes 5]

Prints progress, a Markdown table and, last,
``RESULT loghub_ga_stored=<mean> templates_lines_per_s=<replayed rate>``. Timing is
informative only: never gate on it. The sets are for measuring only (see their README).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

from logsentinel.parsing.templates import TemplateMiner

DEFAULT_LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "loghub-2k"
"""The sets, beside the checkout: shared/loghub-2k."""


@dataclass(frozen=True)
class LabelledSet:
    """One Loghub set: its messages and their ground-truth events, in log order."""

    name: str
    contents: list[str]
    events: list[str]


@dataclass(frozen=True)
class SetScore:
    name: str
    lines: int
    ga_stored: float
    ga_final: float
    templates: int
    """Distinct ids stored."""


def load_sets(root: Path) -> list[LabelledSet]:
    """Every ``<Name>/<Name>_2k.log_structured.csv`` under root, by name."""
    sets = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        structured = folder / f"{folder.name}_2k.log_structured.csv"
        if not structured.is_file():
            continue
        with structured.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        sets.append(
            LabelledSet(
                folder.name, [row["Content"] for row in rows], [row["EventId"] for row in rows]
            )
        )
    return sets


def grouping_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    if len(predicted) != len(truth):
        raise ValueError("predicted and truth differ in length")
    if not truth:
        return 1.0
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, label in enumerate(predicted):
        members[label].append(index)
    truth_sizes: dict[Hashable, int] = defaultdict(int)
    for label in truth:
        truth_sizes[label] += 1
    correct = 0
    for indices in members.values():
        events = {truth[index] for index in indices}
        if len(events) == 1 and truth_sizes[next(iter(events))] == len(indices):
            correct += len(indices)
    return correct / len(truth)


def score_set(labelled: LabelledSet) -> SetScore:
    miner = TemplateMiner()
    stored = [miner.match(content).id for content in labelled.contents]
    final = [miner.match(content).text for content in labelled.contents]
    return SetScore(
        labelled.name,
        len(stored),
        grouping_accuracy(stored, labelled.events),
        grouping_accuracy(final, labelled.events),
        len(set(stored)),
    )


def throughput(sets: Sequence[LabelledSet], passes: int) -> tuple[float, float]:
    """Lines per second of one miner: the first pass over all sets, then ``passes`` replays."""
    stream = [content for labelled in sets for content in labelled.contents]
    miner = TemplateMiner()
    start = time.perf_counter()
    for content in stream:
        miner.match(content)
    first = len(stream) / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(passes):
        for content in stream:
            miner.match(content)
    replayed = passes * len(stream) / (time.perf_counter() - start)
    return first, replayed


def markdown_table(scores: Sequence[SetScore]) -> str:
    lines = [
        "| set | lines | GA stored ids | GA final clusters | templates |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for one in scores:
        lines.append(
            f"| {one.name} | {one.lines} | {one.ga_stored:.3f} | {one.ga_final:.3f} | "
            f"{one.templates} |"
        )
    mean_stored = statistics.fmean(one.ga_stored for one in scores)
    mean_final = statistics.fmean(one.ga_final for one in scores)
    lines.append(f"| mean | | {mean_stored:.3f} | {mean_final:.3f} | |")
    return "\n".join(lines)


def measure_loghub(
    path: Path = DEFAULT_LOGHUB, passes: int = 5, progress: bool = False
) -> tuple[float, float, str]:
    """(mean GA of the stored ids, replayed lines/s, Markdown table) over the sets in path."""
    sets = load_sets(path)
    if not sets:
        raise FileNotFoundError(f"no Loghub-2k set under {path}")
    scores = []
    for labelled in sets:
        scores.append(score_set(labelled))
        if progress:
            print(f"[bench] {labelled.name}: GA stored {scores[-1].ga_stored:.3f}", flush=True)
    first, replayed = throughput(sets, passes)
    if progress:
        print(f"[bench] first pass {first:,.0f} lines/s, replayed {replayed:,.0f} lines/s")
    table = markdown_table(scores)
    table += f"\n\nfirst pass: {first:,.0f} lines/s; replayed x{passes}: {replayed:,.0f} lines/s"
    return statistics.fmean(one.ga_stored for one in scores), replayed, table


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loghub", type=Path, default=DEFAULT_LOGHUB)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    ga_stored, rate, table = measure_loghub(args.loghub, args.passes, progress=True)
    print()
    print(table)
    print()
    print(f"RESULT loghub_ga_stored={ga_stored:.3f} templates_lines_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
