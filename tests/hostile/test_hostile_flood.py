"""/healthz stays responsive while hostile ingest and login floods run against one API process.

`logsentinel api` runs as its own process (one uvicorn worker, real PostgreSQL, ingest stored in
PostgreSQL) on loopback. For a bounded time, attacker threads send gzip bombs and oversized bodies
to ingest with a valid key, oversized and streamed bodies to login without one, and a spray of bad
passwords over many usernames; a probe asks /healthz every few milliseconds. Every probe must
answer, no attack may get a 500, the real admin can still log in afterwards, and the probe's p99
is reported in the suite's RESULT line (the target, 100 ms, is a benchmark figure, not asserted).
"""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.api_process import api_process, client_from

pytestmark = pytest.mark.integration

ADMIN = ("flood-admin", "flood-admin-password-0123")
ATTACK_SECONDS = 8.0
PROBE_EVERY = 0.01
HUNG = 5.0  # a probe slower than this means the event loop was blocked, not merely busy


def gzip_bomb(elements: int) -> bytes:
    """A small gzip body that inflates to a JSON array of `elements` empty objects."""
    return gzip.compress(b"[" + b"{}," * (elements - 1) + b"{}]", compresslevel=9)


@dataclass
class Outcomes:
    """What the attackers got back, by kind of attack and status (or exception name)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attack: str, outcome: str) -> None:
        with self.lock:
            self.counts[(attack, outcome)] += 1

    def server_errors(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.counts.items() if key[1] == "500"}


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Base URL of a `logsentinel api` process of its own; its output is in tmp_path/api.log."""
    with api_process(database_url, tmp_path, ADMIN) as running:
        yield running.base


OWNER_ADDRESS = "127.0.0.7"  # the real admin and the attackers connect from loopback addresses
ATTACKER_ADDRESS = "127.0.0.66"  # of their own, so per-client limits tell them apart


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def ingest_key(base: str) -> str:
    with client_from(base, OWNER_ADDRESS) as client:
        answer = login(client, *ADMIN)
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        created = client.post(
            "/api/v1/api-keys",
            json={"name": "flood"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key


def repeat_until(deadline: float, attack: str, outcomes: Outcomes, send: Callable[[], str]) -> None:
    while time.monotonic() < deadline:
        try:
            outcomes.add(attack, send())
        except httpx.HTTPError as error:  # the server may cut a hostile request short
            outcomes.add(attack, type(error).__name__)


def streamed(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of a JSON-looking body, sent chunked (no Content-Length)."""
    yield b'{"username": "'
    sent = 0
    while sent < total:
        yield b"a" * chunk
        sent += chunk
    yield b'", "password": "x"}'


def test_healthz_answers_while_ingest_and_login_floods_run(
    api: str, healthz_p99_recorder: Callable[[float], None]
) -> None:
    key = ingest_key(api)
    outcomes = Outcomes()
    deadline = time.monotonic() + ATTACK_SECONDS
    bomb = gzip_bomb(25_000_000)
    assert len(bomb) < 100_000  # a request of tens of kilobytes

    def client() -> httpx.Client:
        return client_from(api, ATTACKER_ADDRESS, timeout=HUNG * 4)

    def bombs() -> None:
        with client() as http:
            headers = {
                "X-API-Key": key,
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            repeat_until(
                deadline,
                "gzip bomb",
                outcomes,
                lambda: str(http.post("/api/v1/ingest", content=bomb, headers=headers).status_code),
            )

    def huge_logins() -> None:
        with client() as http:

            def send() -> str:
                answer = http.post(
                    "/api/v1/auth/login",
                    content=streamed(100 * 1024 * 1024),
                    headers={"Content-Type": "application/json"},
                )
                return str(answer.status_code)

            repeat_until(deadline, "100 MB login", outcomes, send)

    def spray() -> None:
        with client() as http:
            repeat_until(
                deadline,
                "password spray",
                outcomes,
                lambda: str(login(http, f"user-{uuid.uuid4().hex[:8]}", "wrong").status_code),
            )

    def hammer_admin() -> None:
        with client() as http:
            repeat_until(
                deadline,
                "admin hammered",
                outcomes,
                lambda: str(login(http, ADMIN[0], "not-the-password").status_code),
            )

    attackers = [bombs, bombs, huge_logins, huge_logins, spray, spray, hammer_admin, hammer_admin]
    threads = [threading.Thread(target=attack, name=attack.__name__) for attack in attackers]
    for thread in threads:
        thread.start()

    latencies: list[float] = []
    failures: list[str] = []
    with httpx.Client(base_url=api, timeout=HUNG * 2) as probe:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status = probe.get("/healthz").status_code
                if status != 200:
                    failures.append(f"status {status}")
            except httpx.HTTPError as error:
                failures.append(type(error).__name__)
            latencies.append(time.perf_counter() - started)
            # pacing the probe, not waiting for anything: the attack runs regardless
            time.sleep(PROBE_EVERY)
    for thread in threads:
        thread.join(timeout=HUNG * 6)
        assert not thread.is_alive(), f"{thread.name} still waits for an answer"

    latencies.sort()
    p99_ms = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    healthz_p99_recorder(p99_ms)
    print(f"healthz probes={len(latencies)} p99_ms={p99_ms:.1f} attacks={dict(outcomes.counts)}")

    attacks_seen = {attack for attack, _ in outcomes.counts}
    expected = {"gzip bomb", "100 MB login", "password spray", "admin hammered"}
    assert attacks_seen == expected, f"an attacker thread died: {dict(outcomes.counts)}"
    assert not failures, f"/healthz failed under attack: {Counter(failures)}"
    assert latencies[-1] < HUNG, f"/healthz took {latencies[-1]:.1f} s: the event loop was blocked"
    assert not outcomes.server_errors(), f"attacks got 500s: {outcomes.server_errors()}"
    refused = {attack for (attack, status), _ in outcomes.counts.items() if status == "413"}
    assert {"gzip bomb", "100 MB login"} <= refused, dict(outcomes.counts)
    with client_from(api, OWNER_ADDRESS) as owner:
        assert login(owner, *ADMIN).status_code == 200, "the real admin was locked out"
