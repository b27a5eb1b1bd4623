"""Benchmark: detection quality on generated scenarios, and the template miner on real logs.

For each seed, two simulated days of the scenario in tests/support/scenarios.py (four services
of namespace shop with daily seasonality and noise), each replayed through the processor's rule
engine and incident builder on event time (detection/replay.py):

- the default rule pack (rules/default, as it ships): the day with five injected faults (error
  burst, gradual error-rate rise, silence, new exception after a rollout, latency regression),
  live (one tick per simulated second) and as a backlog (worked off in 10-minute batches, as a
  processor catching up), and the same seed's day without faults: faults found and false
  incidents per simulated day;
- the scenario rules (one per detector type, adapted from examples/rules): recall, precision,
  detection delay per rule, and false incidents on the normal day;
- the template miner on the Loghub-2k sets (bench/bench_templates.py): grouping accuracy of the
  template ids as stored, and lines per second.

    .venv/bin/python bench/bench_detection_quality.py [--seeds 1 2 3 4 5] [--hours 24] [--jobs 2]
        [--no-example-forest] [--loghub DIR]

An incident of a fault's service opened within [fault.start, fault.end + 10 min] is a true
positive for that fault (the first gives the delay); every other incident is false. Prints
progress, Markdown tables and, last, ``RESULT default_pack_recall=<found>/<faults>
default_pack_false_per_day=<x> loghub_ga_stored=<x> templates_lines_per_s=<x>
default_pack_backlog_recall=<found>/<faults> faults=<n> detected_by_designed=<n>
false_per_day_normal=<x>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_templates import DEFAULT_LOGHUB, measure_loghub

from support.evaluation import (
    RuleScore,
    ScenarioRule,
    default_pack,
    example_forest,
    run,
    scenario_rules,
    score,
)
from support.scenarios import Fault, FaultKind, plan

BACKLOG_STEP = timedelta(minutes=10)
"""The backlog run's batches: the processor working off a ten-minute backlog all day long."""


@dataclass
class Outcome:
    """One seed: per rule, the scored faulty day and the normal day's false incidents."""

    seed: int
    faults: list[Fault]
    faulty: dict[str, RuleScore]
    normal_false: dict[str, int]
    records: int
    cpu_seconds: float


def rules_of(with_example_forest: bool) -> list[ScenarioRule]:
    rules = scenario_rules()
    return [*rules, example_forest()] if with_example_forest else rules


def one_seed(seed: int, hours: float, with_example_forest: bool) -> Outcome:
    rules = rules_of(with_example_forest)
    faulty = plan(seed, hours=hours)
    faulty_run = run(faulty.records(), rules, start=faulty.start, end=faulty.end)
    normal = plan(seed, hours=hours, faults=False)
    normal_run = run(normal.records(), rules, start=normal.start, end=normal.end)
    normal_false = {rule.id: 0 for rule in rules}
    for incident in normal_run.incidents:
        normal_false[incident.rule] += 1
    return Outcome(
        seed=seed,
        faults=list(faulty.faults),
        faulty=score(faulty_run, faulty.faults, rules),
        normal_false=normal_false,
        records=faulty_run.records + normal_run.records,
        cpu_seconds=faulty_run.cpu_seconds + normal_run.cpu_seconds,
    )


@dataclass
class PackOutcome:
    """One seed with the default rule pack: live, as a backlog, and on the normal day."""

    seed: int
    faults: list[Fault]
    found: list[Fault]
    found_backlog: list[Fault]
    false_faulty: int
    false_backlog: int
    false_normal: int
    delays: dict[FaultKind, float]
    notes: list[str]


def pack_seed(seed: int, hours: float) -> PackOutcome:
    rules = default_pack()
    faulty = plan(seed, hours=hours)
    normal = plan(seed, hours=hours, faults=False)
    live = run(faulty.records(), rules, start=faulty.start, end=faulty.end)
    backlog = run(faulty.records(), rules, start=faulty.start, end=faulty.end, step=BACKLOG_STEP)
    quiet = run(normal.records(), rules, start=normal.start, end=normal.end)

    def caught(result_scores: dict[str, RuleScore]) -> tuple[list[Fault], int, list[str]]:
        found: dict[Fault, float] = {}
        false, notes = 0, []
        for name, rule_score in result_scores.items():
            for fault, delay in rule_score.delays.items():
                seconds = delay.total_seconds()
                found[fault] = min(found.get(fault, seconds), seconds)
            false += len(rule_score.false_incidents)
            notes += [
                f"false {name.split('/')[-1]} {i.service} {i.at:%H:%M}"
                for i in rule_score.false_incidents
            ]
        return [f for f in faulty.faults if f in found], false, notes

    live_scores = score(live, faulty.faults, rules)
    found, false_faulty, notes = caught(live_scores)
    found_backlog, false_backlog, _ = caught(score(backlog, faulty.faults, rules))
    delays = {
        fault.kind: min(
            s.delays[fault].total_seconds() for s in live_scores.values() if fault in s.delays
        )
        for fault in found
    }
    notes += [f"missed {f.kind.value}@{f.service}" for f in faulty.faults if f not in found]
    return PackOutcome(
        seed=seed,
        faults=list(faulty.faults),
        found=found,
        found_backlog=found_backlog,
        false_faulty=false_faulty,
        false_backlog=false_backlog,
        false_normal=len(quiet.incidents),
        delays=delays,
        notes=notes,
    )


@dataclass
class Totals:
    detector: str
    rule: str
    designed_for: str
    targeted: int = 0
    detected: int = 0
    incidents: int = 0
    true_incidents: int = 0
    delays: list[float] = field(default_factory=list)
    also_caught: Counter[str] = field(default_factory=Counter)
    normal_false: list[int] = field(default_factory=list)


def clock(seconds: float) -> str:
    """m:ss"""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def spread(delays: list[float]) -> str:
    if not delays:
        return "n/a"
    return f"{clock(statistics.median(delays))} / {clock(max(delays))}"


def why_missed(rule_score: RuleScore, fault: Fault) -> str:
    fired = rule_score.swallowed.get(fault)
    if fired is None:
        return "never fired"
    earlier = "was still open" if fired.outcome == "recurred" else "was in its cooldown"
    after = clock((fired.at - fault.start).total_seconds())
    return f"fired after {after}, {fired.outcome}: an earlier incident {earlier}"


def progress(outcome: Outcome) -> str:
    missed = [
        f"{name.split('/')[-1]} missed {fault.kind.value}@{fault.service} {fault.start:%H:%M} "
        f"({why_missed(rule_score, fault)})"
        for name, rule_score in outcome.faulty.items()
        for fault in rule_score.targeted
        if fault not in rule_score.delays
    ]
    false_faulty = sum(len(s.false_incidents) for s in outcome.faulty.values())
    return (
        f"seed {outcome.seed}: {outcome.records:,} records, {outcome.cpu_seconds:.0f} s CPU; "
        "faults "
        + ", ".join(f"{f.kind.value}@{f.service} {f.start:%H:%M}" for f in outcome.faults)
        + f"; false incidents: {false_faulty} on the faulty day, "
        f"{sum(outcome.normal_false.values())} on the normal day"
        + ("; " + "; ".join(missed) if missed else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--example-forest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the isolationForest example's own parameters (about 26 s CPU a day)",
    )
    parser.add_argument(
        "--loghub",
        type=Path,
        default=DEFAULT_LOGHUB,
        help="the Loghub-2k sets (default: %(default)s)",
    )
    args = parser.parse_args()

    rules = rules_of(args.example_forest)
    totals = {
        rule.id: Totals(
            rule.detector.value,
            rule.id,
            ", ".join(kind.value for kind in FaultKind if kind in rule.designed_for),
        )
        for rule in rules
    }
    began = time.monotonic()
    outcomes: list[Outcome] = []
    print(
        f"{len(args.seeds)} seeds x ({args.hours:g} h with faults + {args.hours:g} h without), "
        f"{len(rules)} rules, {args.jobs} processes",
        flush=True,
    )
    packs: list[PackOutcome] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        pack_futures = [pool.submit(pack_seed, seed, args.hours) for seed in args.seeds]
        futures = [
            pool.submit(one_seed, seed, args.hours, args.example_forest) for seed in args.seeds
        ]
        for pack_future in pack_futures:
            pack = pack_future.result()
            packs.append(pack)
            print(
                f"default pack, seed {pack.seed}: {len(pack.found)}/{len(pack.faults)} faults "
                f"(as a backlog {len(pack.found_backlog)}), false incidents "
                f"{pack.false_faulty} + {pack.false_normal} on the normal day"
                + ("; " + "; ".join(pack.notes) if pack.notes else ""),
                flush=True,
            )
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            print(progress(outcome), flush=True)
    print("measuring the template miner on Loghub-2k", flush=True)
    ga_stored, lines_per_s, loghub_table = measure_loghub(args.loghub)

    for outcome in outcomes:
        for name, rule_score in outcome.faulty.items():
            total = totals[name]
            total.targeted += len(rule_score.targeted)
            total.detected += len(rule_score.detected)
            total.incidents += rule_score.incidents
            total.true_incidents += rule_score.true_incidents
            total.delays += [
                rule_score.delays[fault].total_seconds() for fault in rule_score.detected
            ]
            total.also_caught.update(fault.kind.value for fault in rule_score.also_caught)
            total.normal_false.append(outcome.normal_false[name])

    days = args.hours / 24
    print()
    print(
        "| detector | rule | designed for | recall | precision (faulty days) "
        "| delay median / max (m:ss) | other faults caught | false incidents per normal day "
        "(mean, max) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for total in totals.values():
        recall = f"{total.detected}/{total.targeted}" if total.targeted else "n/a"
        precision = (
            f"{total.true_incidents}/{total.incidents} = "
            f"{total.true_incidents / total.incidents:.2f}"
            if total.incidents
            else "n/a (0 incidents)"
        )
        others = ", ".join(f"{kind} {count}" for kind, count in sorted(total.also_caught.items()))
        per_day = [count / days for count in total.normal_false]
        print(
            f"| {total.detector} | {total.rule} | {total.designed_for} | {recall} | {precision} "
            f"| {spread(total.delays)} | {others or '-'} "
            f"| {statistics.fmean(per_day):.1f}, {max(per_day):g} |"
        )

    print()
    print(
        "| fault | injected | detected by a rule designed for it "
        "| earliest such delay median / max (m:ss) |"
    )
    print("| --- | --- | --- | --- |")
    detected = 0
    for kind in FaultKind:
        earliest = []
        injected = 0
        for outcome in outcomes:
            for fault in outcome.faults:
                if fault.kind is not kind:
                    continue
                injected += 1
                delays = [
                    s.delays[fault].total_seconds()
                    for s in outcome.faulty.values()
                    if fault in s.detected
                ]
                if delays:
                    earliest.append(min(delays))
        detected += len(earliest)
        print(f"| {kind.value} | {injected} | {len(earliest)} | {spread(earliest)} |")

    print()
    print(
        "Default rule pack (rules/default), live and as a backlog worked off in 10-minute batches:"
    )
    print()
    print("| fault | injected | found live | found as a backlog | delay median / max (m:ss) |")
    print("| --- | --- | --- | --- | --- |")
    for kind in FaultKind:
        injected = sum(1 for p in packs for f in p.faults if f.kind is kind)
        live_found = sum(1 for p in packs for f in p.found if f.kind is kind)
        backlog_found = sum(1 for p in packs for f in p.found_backlog if f.kind is kind)
        delays = [p.delays[kind] for p in packs if kind in p.delays]
        print(f"| {kind.value} | {injected} | {live_found} | {backlog_found} | {spread(delays)} |")
    pack_faults = sum(len(p.faults) for p in packs)
    pack_found = sum(len(p.found) for p in packs)
    pack_days = 2 * len(packs) * days  # the faulty and the normal day of each seed
    pack_false_per_day = sum(p.false_faulty + p.false_normal for p in packs) / pack_days
    backlog_found = sum(len(p.found_backlog) for p in packs)
    print()
    print(loghub_table)

    faults = sum(len(outcome.faults) for outcome in outcomes)
    false_per_day = sum(sum(o.normal_false.values()) for o in outcomes) / (len(outcomes) * days)
    print()
    print(
        f"wall {timedelta(seconds=round(time.monotonic() - began))}, "
        f"CPU {sum(o.cpu_seconds for o in outcomes):.0f} s"
    )
    print(
        f"RESULT default_pack_recall={pack_found}/{pack_faults} "
        f"default_pack_false_per_day={pack_false_per_day:.2f} "
        f"loghub_ga_stored={ga_stored:.3f} templates_lines_per_s={lines_per_s:.0f} "
        f"default_pack_backlog_recall={backlog_found}/{pack_faults} "
        f"faults={faults} detected_by_designed={detected} "
        f"false_per_day_normal={false_per_day:.1f}"
    )


if __name__ == "__main__":
    main()
