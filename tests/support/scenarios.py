"""Deterministic log scenarios for detection quality: normal traffic plus injected faults.

Four services of namespace ``shop`` log for a simulated period:

- ``storefront``: access-log lines carrying ``status`` and ``latency_ms`` (lognormal per route);
- ``checkout`` and ``inventory``: application lines from a handful of templates per level;
- ``payment-worker``: ``heartbeat ok`` every 30 s and a few job lines.

Each service's rate follows a daily sinusoid (trough at 04:00 UTC at 30 % of the 16:00 peak),
multiplied by a slowly wandering noise factor (log-AR(1) per minute, about ±12 %), and arrivals
per second are Poisson. About 1.5 % of application lines are errors and 3 % warnings. Pods are
named like Deployment pods (``<service>-<pod-template-hash>-<5 chars>``); a rollout is a new
hash. Records carry a stable ``template_id`` (a short hash of the template text), since the
processors' template miner is not in play here, and a Kafka position (``logs``, one partition
per service, increasing offsets).

Faults, each with its ground truth (Fault: kind, service, [start, end]):

- ERROR_BURST: 200 extra error lines of a known error template within one minute;
- ERROR_RATE_RISE: the share of errors climbs linearly to 50 % over 30 minutes;
- SILENCE: payment-worker writes nothing (heartbeats included) for 15 minutes;
- NEW_EXCEPTION_AFTER_ROLLOUT: a rollout (new hash), then from 1-5 minutes later 5 % of the
  service's lines are an exception template never logged before; after 20 minutes the rollout is
  rolled back (the old hash returns, with new pods);
- LATENCY_REGRESSION: storefront latencies x5 for 20 minutes.

Normal traffic also has rollouts (about 1.5 per day per service) that change nothing else.

Everything comes from seeded ``random.Random`` instances (one per service for its traffic, one
for the faults' content), and records are yielded lazily in event-time order.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import JsonValue

from logsentinel.domain.logrecord import Level, LogRecord, SourcePosition, Stream

NAMESPACE = "shop"
TOPIC = "logs"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
TROUGH_HOUR = 4.0
TROUGH_FACTOR = 0.3
NOISE_PERSISTENCE = 0.9
NOISE_STEP = 0.05
WARM_UP = timedelta(hours=3)
"""No fault before this: baselines (1 h), new-pattern learning (1 h), forest (1 h) are ready."""
TAIL = timedelta(hours=1)
MIN_ROLLOUT_DISTANCE = timedelta(minutes=45)

BURST_ERRORS = 200
BURST_LENGTH = timedelta(minutes=1)
RISE_LENGTH = timedelta(minutes=30)
RISE_PEAK_RATIO = 0.5
SILENCE_LENGTH = timedelta(minutes=15)
NEW_EXCEPTION_LENGTH = timedelta(minutes=20)
NEW_EXCEPTION_SHARE = 0.05
LATENCY_LENGTH = timedelta(minutes=20)
LATENCY_FACTOR = 5.0
LATENCY_SIGMA = 0.5
SLOW_TAIL_SHARE = 0.002
SLOW_TAIL_FACTOR = 8.0
NEW_EXCEPTION_TEXT = (
    "java.lang.IllegalStateException: order <*> has no currency (OrderMapper.java:<*>)"
)


class FaultKind(StrEnum):
    ERROR_BURST = "errorBurst"
    ERROR_RATE_RISE = "errorRateRise"
    SILENCE = "silence"
    NEW_EXCEPTION_AFTER_ROLLOUT = "newExceptionAfterRollout"
    LATENCY_REGRESSION = "latencyRegression"


@dataclass(frozen=True)
class Fault:
    """Ground truth: kind happened to service during [start, end]."""

    kind: FaultKind
    service: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rollout:
    """A planned rollout of service's Deployment at at (normal traffic, no fault)."""

    service: str
    at: datetime


def template_id(text: str) -> str:
    """The stable id of a template: a short hash of its text."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Template:
    """A message template; each ``<*>`` is a variable part.

    For access-log templates the last ``<*>`` is the latency in ms, and status is the HTTP status.
    """

    level: Level
    text: str
    weight: float = 1.0
    status: int | None = None
    latency_median_ms: float = 0.0
    id: str = field(init=False)
    parts: tuple[str, ...] = field(init=False, repr=False)
    """The text around the variable parts."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", template_id(self.text))
        object.__setattr__(self, "parts", tuple(self.text.split("<*>")))


@dataclass(frozen=True)
class ServiceProfile:
    name: str
    peak_rate: float
    """Records per second at the daily peak (heartbeats not included)."""
    partition: int
    replicas: int
    templates: tuple[Template, ...]
    error_ratio: float = 0.015
    warn_ratio: float = 0.03
    heartbeat: timedelta | None = None
    access_log: bool = False
    deployable: bool = True


def _access(level: Level, method: str, path: str, status: int, median: float) -> Template:
    return Template(level, f"{method} {path} {status} <*>ms", 1.0, status, median)


STOREFRONT = ServiceProfile(
    name="storefront",
    peak_rate=1.2,
    partition=0,
    replicas=3,
    access_log=True,
    error_ratio=0.01,
    warn_ratio=0.02,
    templates=(
        _access(Level.INFO, "GET", "/api/products/<*>", 200, 45.0),
        _access(Level.INFO, "GET", "/api/search", 200, 90.0),
        _access(Level.INFO, "GET", "/api/cart", 200, 30.0),
        _access(Level.INFO, "POST", "/api/cart/items", 201, 70.0),
        _access(Level.INFO, "GET", "/static/<*>", 304, 8.0),
        _access(Level.WARN, "GET", "/api/products/<*>", 404, 20.0),
        _access(Level.WARN, "GET", "/api/search", 429, 5.0),
        _access(Level.ERROR, "GET", "/api/products/<*>", 503, 40.0),
        _access(Level.ERROR, "POST", "/api/cart/items", 502, 150.0),
    ),
)
CHECKOUT = ServiceProfile(
    name="checkout",
    peak_rate=0.8,
    partition=1,
    replicas=2,
    templates=(
        Template(Level.INFO, "order <*> created for user <*>", 3.0),
        Template(Level.INFO, "payment authorised for order <*> in <*>ms", 3.0),
        Template(Level.INFO, "cart <*> loaded with <*> items", 2.0),
        Template(Level.INFO, "shipping quote for order <*> is <*> cents", 1.0),
        Template(Level.WARN, "retrying payment gateway call for order <*> (attempt <*>)", 2.0),
        Template(Level.WARN, "slow query on orders table took <*>ms", 1.0),
        Template(Level.ERROR, "payment gateway timeout after <*>ms for order <*>", 2.0),
        Template(Level.ERROR, "failed to reserve stock for order <*>: status <*>", 1.0),
        Template(Level.ERROR, "database connection reset while writing order <*>", 1.0),
    ),
)
INVENTORY = ServiceProfile(
    name="inventory",
    peak_rate=0.6,
    partition=2,
    replicas=2,
    templates=(
        Template(Level.INFO, "stock level for sku <*> is <*>", 3.0),
        Template(Level.INFO, "reservation <*> confirmed for <*> units", 2.0),
        Template(Level.INFO, "sync with warehouse <*> done in <*>ms", 1.0),
        Template(Level.WARN, "stock for sku <*> below threshold <*>", 1.0),
        Template(Level.ERROR, "reservation <*> failed: sku <*> not found", 1.0),
        Template(Level.ERROR, "warehouse <*> sync failed: connection refused", 1.0),
    ),
)
HEARTBEAT = Template(Level.INFO, "heartbeat ok")
PAYMENT_WORKER = ServiceProfile(
    name="payment-worker",
    peak_rate=0.25,
    partition=3,
    replicas=1,
    heartbeat=timedelta(seconds=30),
    templates=(
        Template(Level.INFO, "processed payment job <*> in <*>ms", 3.0),
        Template(Level.WARN, "payment job <*> retried after <*>ms", 1.0),
        Template(Level.ERROR, "payment job <*> failed: provider returned <*>", 1.0),
    ),
)
SERVICES: tuple[ServiceProfile, ...] = (STOREFRONT, CHECKOUT, INVENTORY, PAYMENT_WORKER)
NEW_EXCEPTION = Template(Level.ERROR, NEW_EXCEPTION_TEXT)

FAULT_SERVICES: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.ERROR_BURST: ("storefront", "checkout", "inventory"),
    FaultKind.ERROR_RATE_RISE: ("storefront", "checkout", "inventory"),
    FaultKind.SILENCE: ("payment-worker",),
    FaultKind.NEW_EXCEPTION_AFTER_ROLLOUT: ("checkout", "inventory", "payment-worker"),
    FaultKind.LATENCY_REGRESSION: ("storefront",),
}
FAULT_LENGTH: dict[FaultKind, timedelta] = {
    FaultKind.ERROR_BURST: BURST_LENGTH,
    FaultKind.ERROR_RATE_RISE: RISE_LENGTH,
    FaultKind.SILENCE: SILENCE_LENGTH,
    FaultKind.NEW_EXCEPTION_AFTER_ROLLOUT: NEW_EXCEPTION_LENGTH,
    FaultKind.LATENCY_REGRESSION: LATENCY_LENGTH,
}


def seasonality(at: datetime) -> float:
    """The daily shape of traffic: 1.0 at 16:00 UTC, TROUGH_FACTOR at 04:00 UTC."""
    hour = (at.hour * 3600 + at.minute * 60 + at.second) / 3600
    return TROUGH_FACTOR + (1 - TROUGH_FACTOR) * (1 - math.cos(2 * math.pi * (hour - 4) / 24)) / 2


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's product of uniforms; a rounded normal for large means)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def pod_hash(rng: random.Random) -> str:
    return "".join(rng.choice(HASH_ALPHABET) for _ in range(rng.randint(8, 10)))


# --- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A period of traffic with its faults (the ground truth) and its planned rollouts."""

    seed: int
    start: datetime
    duration: timedelta
    faults: tuple[Fault, ...] = ()
    rollouts: tuple[Rollout, ...] = ()
    services: tuple[ServiceProfile, ...] = SERVICES

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def records(self) -> Iterator[LogRecord]:
        """The records, lazily, in event-time order."""
        return _Generator(self).run()

    def without_faults(self) -> Scenario:
        return Scenario(self.seed, self.start, self.duration, (), self.rollouts, self.services)


def plan(
    seed: int,
    *,
    hours: float = 24,
    faults: bool = True,
    start: datetime = DEFAULT_START,
    rollouts_per_day: float = 1.5,
) -> Scenario:
    """A scenario whose fault times, fault services and rollout times are drawn from seed.

    With faults, one of each kind: the period after WARM_UP and before TAIL is cut into equal
    slots, the kinds are shuffled into them, and each starts at a random time of its slot (so
    faults hit day and night, never overlap, and are at least an hour apart).
    """
    rng = random.Random(f"plan-{seed}")
    duration = timedelta(hours=hours)
    planned: list[Fault] = []
    if faults:
        kinds = list(FaultKind)
        rng.shuffle(kinds)
        usable = duration - WARM_UP - TAIL
        if usable < timedelta(hours=1.5) * len(kinds):
            raise ValueError(f"{hours} h is too short for {len(kinds)} faults")
        slot = usable / len(kinds)
        for index, kind in enumerate(kinds):
            length = FAULT_LENGTH[kind]
            room = (slot - length - timedelta(hours=1)).total_seconds()
            begin = start + WARM_UP + slot * index + timedelta(seconds=int(rng.uniform(0, room)))
            service = rng.choice(FAULT_SERVICES[kind])
            planned.append(Fault(kind, service, begin, begin + length))
    rollouts: list[Rollout] = []
    for profile in SERVICES:
        if not profile.deployable:
            continue
        for _ in range(poisson(rng, rollouts_per_day * hours / 24)):
            at = start + timedelta(seconds=int(rng.uniform(0, duration.total_seconds())))
            near_fault = any(
                f.service == profile.name
                and f.start - MIN_ROLLOUT_DISTANCE <= at <= f.end + MIN_ROLLOUT_DISTANCE
                for f in planned
            )
            if not near_fault:
                rollouts.append(Rollout(profile.name, at))
    rollouts.sort(key=lambda r: r.at)
    return Scenario(seed, start, duration, tuple(planned), tuple(rollouts))


# --- generation --------------------------------------------------------------------------------


@dataclass
class _Deployment:
    """The pods of one service's Deployment; a rollout replaces them with a new hash."""

    profile: ServiceProfile
    rng: random.Random
    hash: str = ""
    previous: str = ""
    pods: list[tuple[str, str]] = field(default_factory=list)  # (pod, node)

    def __post_init__(self) -> None:
        self.switch(pod_hash(self.rng))

    def switch(self, new_hash: str) -> None:
        self.previous, self.hash = self.hash, new_hash
        self.pods = []
        for _ in range(self.profile.replicas):
            suffix = "".join(self.rng.choice(HASH_ALPHABET) for _ in range(5))
            self.pods.append(
                (f"{self.profile.name}-{new_hash}-{suffix}", f"node-{self.rng.randint(1, 3)}")
            )

    def rollout(self) -> None:
        self.switch(pod_hash(self.rng))

    def rollback(self) -> None:
        self.switch(self.previous)


class _Service:
    """One service's traffic state: its random stream, pods, template mix and noise."""

    def __init__(self, profile: ServiceProfile, seed: int) -> None:
        self.profile = profile
        self.rng = random.Random(f"traffic-{seed}-{profile.name}")
        self.deployment = _Deployment(profile, self.rng)
        self.heartbeat_phase = self.rng.uniform(0, 30)
        self.noise = 0.0
        self.noise_minute = -1
        self.faults: list[Fault] = []
        self.templates: list[Template] = []
        self.cumulative: list[float] = []
        self.errors = [t for t in profile.templates if t.level is Level.ERROR]
        self.error_weights = [t.weight for t in self.errors]
        shares = {
            Level.ERROR: profile.error_ratio,
            Level.WARN: profile.warn_ratio,
            Level.INFO: 1 - profile.error_ratio - profile.warn_ratio,
        }
        total = 0.0
        for level, share in shares.items():
            chosen = [t for t in profile.templates if t.level is level]
            weights = sum(t.weight for t in chosen)
            for template in chosen:
                total += share * template.weight / weights
                self.templates.append(template)
                self.cumulative.append(total)
        self.cumulative[-1] = 1.0

    def template(self) -> Template:
        """A template drawn with the service's level shares and template weights."""
        return self.templates[bisect.bisect_right(self.cumulative, self.rng.random())]


Line = tuple[datetime, _Service, Template, tuple[str, str], float]
"""(at, service, template, (pod, node), latency factor)"""


class _Generator:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.fault_rng = random.Random(f"faults-{scenario.seed}")
        self.services = [_Service(profile, scenario.seed) for profile in scenario.services]
        for service in self.services:
            service.faults = [f for f in scenario.faults if f.service == service.profile.name]
        self.offsets: Counter[int] = Counter()
        self.delays: dict[Fault, timedelta] = {}

    def run(self) -> Iterator[LogRecord]:
        scenario = self.scenario
        by_name = {service.profile.name: service for service in self.services}
        changes = self._deployment_changes()
        for index in range(int(scenario.duration.total_seconds())):
            now = scenario.start + timedelta(seconds=index)
            while changes and changes[0][0] <= now:
                _, name, action = changes.pop(0)
                deployment = by_name[name].deployment
                deployment.rollout() if action == "rollout" else deployment.rollback()
            season = seasonality(now)
            lines: list[Line] = []
            for service in self.services:
                self._second(service, now, index, season, lines)
            lines.sort(key=_at)
            for line in lines:
                yield self._record(line)

    def _deployment_changes(self) -> list[tuple[datetime, str, str]]:
        changes = [(r.at, r.service, "rollout") for r in self.scenario.rollouts]
        for fault in self.scenario.faults:
            if fault.kind is FaultKind.NEW_EXCEPTION_AFTER_ROLLOUT:
                changes.append((fault.start, fault.service, "rollout"))
                changes.append((fault.end, fault.service, "rollback"))
        changes.sort(key=lambda change: change[0])
        return changes

    def _second(
        self, service: _Service, now: datetime, index: int, season: float, lines: list[Line]
    ) -> None:
        profile, rng = service.profile, service.rng
        minute = index // 60
        if minute != service.noise_minute:  # the slowly wandering part of the noise
            service.noise_minute = minute
            service.noise = NOISE_PERSISTENCE * service.noise + rng.gauss(0, NOISE_STEP)
        rate = profile.peak_rate * season * math.exp(service.noise)
        count = poisson(rng, rate)
        pods = service.deployment.pods
        faults = service.faults
        active = {f.kind: f for f in faults if f.start <= now < f.end} if faults else {}
        silenced = FaultKind.SILENCE in active
        if profile.heartbeat is not None and not silenced:
            # beats at heartbeat_phase + k x period: is one of them in [now, now + 1 s)?
            ahead = (service.heartbeat_phase - index) % profile.heartbeat.total_seconds()
            if ahead < 1:
                lines.append((now + timedelta(seconds=ahead), service, HEARTBEAT, pods[0], 1.0))
        if silenced:
            return
        slow = LATENCY_FACTOR if FaultKind.LATENCY_REGRESSION in active else 1.0
        rise = active.get(FaultKind.ERROR_RATE_RISE)
        to_error = 0.0
        if rise is not None:  # turn this share of the other lines into errors
            elapsed = (now - rise.start) / (rise.end - rise.start)
            to_error = (RISE_PEAK_RATIO - profile.error_ratio) * elapsed / (1 - profile.error_ratio)
        random_ = rng.random
        for _ in range(count):
            template = service.template()
            if (
                to_error
                and template.level is not Level.ERROR
                and self.fault_rng.random() < to_error
            ):
                template = self.fault_rng.choices(service.errors, service.error_weights)[0]
            pod = pods[int(random_() * len(pods))]
            lines.append((now + timedelta(seconds=random_()), service, template, pod, slow))
        if active:
            self._fault_lines(service, now, rate, active, lines)

    def _fault_lines(
        self,
        service: _Service,
        now: datetime,
        rate: float,
        active: dict[FaultKind, Fault],
        lines: list[Line],
    ) -> None:
        rng, pods = self.fault_rng, service.deployment.pods
        new_exception = active.get(FaultKind.NEW_EXCEPTION_AFTER_ROLLOUT)
        if new_exception is not None and now >= new_exception.start + self._delay(new_exception):
            # NEW_EXCEPTION_SHARE of the service's lines, and at least one a minute on average
            for _ in range(poisson(rng, max(NEW_EXCEPTION_SHARE * rate, 1 / 60))):
                at = now + timedelta(seconds=rng.random())
                lines.append((at, service, NEW_EXCEPTION, rng.choice(pods), 1.0))
        burst = active.get(FaultKind.ERROR_BURST)
        if burst is not None:  # exactly BURST_ERRORS, spread evenly over the burst's seconds
            seconds = int((burst.end - burst.start).total_seconds())
            k = int((now - burst.start).total_seconds())
            extra = BURST_ERRORS * (k + 1) // seconds - BURST_ERRORS * k // seconds
            for _ in range(extra):
                at = now + timedelta(seconds=rng.random())
                lines.append((at, service, service.errors[0], rng.choice(pods), 1.0))

    def _delay(self, fault: Fault) -> timedelta:
        """When the new exception starts after its rollout: 1-5 minutes, fixed per fault."""
        delay = self.delays.get(fault)
        if delay is None:
            seeded = random.Random(f"delay-{self.scenario.seed}-{fault.start.isoformat()}")
            delay = self.delays[fault] = timedelta(seconds=seeded.randint(60, 300))
        return delay

    def _record(self, line: Line) -> LogRecord:
        at, service, template, (pod, node), latency_factor = line
        profile, random_ = service.profile, service.rng.random
        parts = template.parts
        attributes: dict[str, JsonValue] = {}
        if template.status is not None:
            latency = template.latency_median_ms * math.exp(service.rng.gauss(0, LATENCY_SIGMA))
            if random_() < SLOW_TAIL_SHARE:  # the occasional pause (GC, cold cache)
                latency *= SLOW_TAIL_FACTOR
            latency = round(latency * latency_factor, 1)
            values = [str(int(random_() * 99999) + 1) for _ in range(len(parts) - 2)]
            method, path = template.text.split(" ", 2)[:2]
            if values:
                path = path.replace("<*>", values[0])
            values.append(f"{latency:g}")
            attributes = {
                "method": method,
                "path": path,
                "status": template.status,
                "latency_ms": latency,
            }
        else:
            values = [str(int(random_() * 999999) + 1) for _ in range(len(parts) - 1)]
        message = parts[0]
        for value, part in zip(values, parts[1:], strict=True):
            message += value + part
        partition = profile.partition
        offset = self.offsets[partition]
        self.offsets[partition] = offset + 1
        return LogRecord(
            timestamp=at,
            level=template.level,
            message=message,
            service=profile.name,
            namespace=NAMESPACE,
            pod=pod,
            container=profile.name,
            node=node,
            stream=Stream.STDERR if template.level is Level.ERROR else Stream.STDOUT,
            labels={"app": profile.name},
            template_id=template.id,
            attributes=attributes,
            source=SourcePosition(topic=TOPIC, partition=partition, offset=offset),
        )


def _at(line: Line) -> datetime:
    return line[0]


# --- what the stream looked like ---------------------------------------------------------------


def hash_of(pod: str) -> str:
    """The pod-template-hash of a Deployment pod name."""
    return pod.rsplit("-", 2)[-2]


@dataclass
class StreamStats:
    """Counts gathered from a stream as it is fed (to check the generator against its truth)."""

    start: datetime
    per_hour: Counter[tuple[str, int]] = field(default_factory=Counter)
    per_minute: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors_per_minute: Counter[tuple[str, int]] = field(default_factory=Counter)
    latency_sum_per_minute: defaultdict[int, float] = field(
        default_factory=lambda: defaultdict(float)
    )
    latency_count_per_minute: Counter[int] = field(default_factory=Counter)
    templates: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_template: dict[tuple[str, str], datetime] = field(default_factory=dict)
    pods: dict[str, set[str]] = field(default_factory=dict)
    first_hash: dict[tuple[str, str], datetime] = field(default_factory=dict)
    levels: Counter[tuple[str, Level]] = field(default_factory=Counter)
    last_offset: dict[int, int] = field(default_factory=dict)
    last_timestamp: datetime | None = None
    out_of_order: int = 0
    """Records older than the one before them."""
    offset_regressions: int = 0
    """Records whose offset is not above the previous one of their partition."""
    records: int = 0

    def add(self, record: LogRecord) -> None:
        seconds = int((record.timestamp - self.start).total_seconds())
        service = record.service
        minute = seconds // 60
        self.records += 1
        self.per_hour[(service, seconds // 3600)] += 1
        self.per_minute[(service, minute)] += 1
        self.levels[(service, record.level)] += 1
        if record.level is Level.ERROR:
            self.errors_per_minute[(service, minute)] += 1
        latency = record.attributes.get("latency_ms")
        if isinstance(latency, float):
            self.latency_sum_per_minute[minute] += latency
            self.latency_count_per_minute[minute] += 1
        if record.template_id is not None:
            self.templates[(service, record.template_id)] += 1
            self.first_template.setdefault((service, record.template_id), record.timestamp)
        self.pods.setdefault(service, set()).add(record.pod)
        self.first_hash.setdefault((service, hash_of(record.pod)), record.timestamp)
        if self.last_timestamp is not None and record.timestamp < self.last_timestamp:
            self.out_of_order += 1
        self.last_timestamp = record.timestamp
        assert record.source is not None
        partition, offset = record.source.partition, record.source.offset
        if offset <= self.last_offset.get(partition, -1):
            self.offset_regressions += 1
        self.last_offset[partition] = offset

    def minutes(self, begin: datetime, end: datetime) -> range:
        """Indexes of the whole minutes within [begin, end)."""
        first = math.ceil((begin - self.start).total_seconds() / 60)
        last = int((end - self.start).total_seconds() // 60)
        return range(first, last)

    def touching(self, begin: datetime, end: datetime) -> range:
        """Indexes of the minutes that overlap [begin, end)."""
        first = int((begin - self.start).total_seconds() // 60)
        last = math.ceil((end - self.start).total_seconds() / 60)
        return range(first, last)

    def count(self, service: str, minutes: Sequence[int]) -> int:
        return sum(self.per_minute[(service, m)] for m in minutes)

    def errors(self, service: str, minutes: Sequence[int]) -> int:
        return sum(self.errors_per_minute[(service, m)] for m in minutes)

    def mean_latency(self, minutes: Sequence[int]) -> float:
        count = sum(self.latency_count_per_minute[m] for m in minutes)
        return sum(self.latency_sum_per_minute[m] for m in minutes) / max(count, 1)
