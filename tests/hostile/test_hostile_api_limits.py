"""The API's HTTP surface under hostile requests: body sizes, compression bombs, headers, and
who may read /docs and /metrics.

Each test runs `logsentinel api` as its own process (one uvicorn worker, real PostgreSQL, ingest
stored in PostgreSQL) on loopback, with the settings the test names. Requests are few and every
one has a timeout; a request that hangs fails its test rather than waiting for the server.
"""

from __future__ import annotations

import functools
import gzip
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.proc import group_memory_kib
from support.api_process import api_process

pytestmark = pytest.mark.integration

ADMIN = ("limits-admin", "limits-admin-password-0123")
HUNG = 10.0  # an answer slower than this means the server parsed what it should have refused
MIB = 1024 * 1024


@dataclass(frozen=True)
class Api:
    base: str
    pid: int

    def client(self, timeout: float = HUNG * 3) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=timeout)

    def peak_rss_mib(self) -> float:
        return group_memory_kib(self.pid)[1] / 1024

    def rss_mib(self) -> float:
        return group_memory_kib(self.pid)[0] / 1024


@pytest.fixture
def start_api(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Starts `logsentinel api` with LOGSENTINEL_<NAME> = value for each keyword given."""
    with ExitStack() as processes:

        def start(**settings: str) -> Api:
            environment = {f"LOGSENTINEL_{name.upper()}": value for name, value in settings.items()}
            running = processes.enter_context(
                api_process(database_url, tmp_path, ADMIN, environment)
            )
            return Api(running.base, running.pid)

        yield start


def bearer(api: Api, username: str = ADMIN[0], password: str = ADMIN[1]) -> dict[str, str]:
    with api.client() as client:
        answer = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def ingest_key(api: Api) -> dict[str, str]:
    with api.client() as client:
        created = client.post("/api/v1/api-keys", json={"name": "hostile"}, headers=bearer(api))
        assert created.status_code == 201, created.text
        return {"X-API-Key": created.json()["key"]}


def viewer(api: Api) -> dict[str, str]:
    with api.client() as client:
        made = client.post(
            "/api/v1/users",
            json={"username": "vic", "password": "viewer-password-0123", "role": "viewer"},
            headers=bearer(api),
        )
        assert made.status_code == 201, made.text
    return bearer(api, "vic", "viewer-password-0123")


@functools.cache
def bomb(kind: str) -> bytes:
    """About 50 KB of gzip that inflates to just under the 50 MiB decompressed-size limit."""
    inflated = {
        "records": b"[" + b"0," * 24_999_999 + b"0]",  # 25 million records
        "values": b'[{"message": "m", "attributes": {"x": [' + b"0," * 24_999_990 + b"0]}}]",
        "blank lines": b"\n" * 50_000_000,
    }[kind]
    return gzip.compress(inflated, compresslevel=9)


GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


def test_gzip_bombs_are_refused_before_they_are_inflated_and_memory_stays_bounded(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    key = ingest_key(api)
    rss_before = api.rss_mib()
    with api.client() as client:
        for kind, status, says in (
            ("records", 413, "more than 10000 records; at most 10000 per request"),
            ("values", 413, "more than 1000000 JSON values"),
            ("blank lines", 400, "no valid record"),  # inflated in full: no record in it
        ):
            assert len(bomb(kind)) < 100_000
            started = time.monotonic()
            answer = client.post("/api/v1/ingest", content=bomb(kind), headers={**key, **GZIP})
            took = time.monotonic() - started
            assert answer.status_code == status, answer.text[:300]
            assert says in answer.text
            assert took < HUNG, f"{says}: answered after {took:.1f} s"
    grew = api.peak_rss_mib() - rss_before
    print(f"peak RSS grew by {grew:.0f} MiB over the three bombs")
    # the blank-line bomb is inflated whole (48 MiB, held twice while joined); nothing is parsed
    assert grew < 400, f"the API's peak RSS grew by {grew:.0f} MiB"


def raw_request(api: Api, head: str, body: bytes = b"") -> bytes:
    """Sends a request's head (and maybe the start of its body) on a socket of its own and
    returns everything the server answers before it closes the connection."""
    port = int(api.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=HUNG) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_an_oversized_content_length_is_refused_before_the_body_is_read(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    key = ingest_key(api)
    for path, headers, limit in (
        ("/api/v1/auth/login", "", 256 * 1024),
        ("/api/v1/ingest", f"X-API-Key: {key['X-API-Key']}\n", 5 * MIB),
    ):
        # the head promises 100 MB and none of it follows: only an answer that does not wait for
        # the body arrives before the socket's timeout
        answer = raw_request(
            api,
            f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
            f"{headers}Content-Length: {100 * MIB}\n",
        )
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b"connection: close" in rest.lower()
        assert f"over {limit} bytes".encode() in rest


def test_chunked_bodies_are_cut_off_at_the_limit(start_api: Callable[..., Api]) -> None:
    api = start_api()
    key = ingest_key(api)
    for path, headers, total in (
        ("/api/v1/auth/login", {}, 100 * MIB),
        ("/api/v1/ingest", key, 100 * MIB),
    ):
        sent = 0

        def body(total: int = total) -> Iterator[bytes]:
            """`total` bytes of JSON-looking text, sent chunked (no Content-Length)."""
            nonlocal sent
            yield b'{"username": "'
            while sent < total:
                sent += 64 * 1024
                yield b"a" * (64 * 1024)
            yield b'", "password": "x"}'

        with api.client() as client:
            answer = client.post(
                path, content=body(), headers={**headers, "Content-Type": "application/json"}
            )
        assert answer.status_code == 413, answer.text[:300]
        assert "the request body is over" in answer.json()["detail"]
        # what the server never read stays in socket buffers: a few MiB, not the 100 MiB
        assert sent < 20 * MIB, f"{path}: the client sent {sent / MIB:.0f} MiB"


def test_healthz_answers_while_hostile_ingest_requests_run(start_api: Callable[..., Api]) -> None:
    api = start_api()
    key = ingest_key(api)
    plain_flood = b"[" + b"0," * (2 * MIB) + b"0]"  # 4 MiB, under the body limit, 2M records
    attacks = {
        "records bomb": (bomb("records"), GZIP),
        "values bomb": (bomb("values"), GZIP),
        "plain flood": (plain_flood, {"Content-Type": "application/json"}),
    }
    outcomes: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + 6

    def attack(name: str) -> None:
        body, headers = attacks[name]
        with api.client() as client:
            while time.monotonic() < deadline:
                try:
                    status = str(
                        client.post(
                            "/api/v1/ingest", content=body, headers={**key, **headers}
                        ).status_code
                    )
                except httpx.HTTPError as error:
                    status = type(error).__name__
                with lock:
                    outcomes[(name, status)] += 1

    threads = [
        threading.Thread(target=attack, args=(name,), name=name)
        for name in (*attacks, *attacks)  # two of each at once
    ]
    for thread in threads:
        thread.start()
    slowest, probes, failures = 0.0, 0, []
    with api.client(timeout=HUNG) as probe:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                if probe.get("/healthz").status_code != 200:
                    failures.append("not 200")
            except httpx.HTTPError as error:
                failures.append(type(error).__name__)
            slowest = max(slowest, time.monotonic() - started)
            probes += 1
            time.sleep(0.02)  # pacing the probe, not waiting for anything
    for thread in threads:
        thread.join(timeout=HUNG * 3)
        assert not thread.is_alive(), f"{thread.name} still waits for an answer"
    print(f"healthz probes={probes} slowest={slowest * 1000:.0f} ms attacks={dict(outcomes)}")
    assert not failures, f"/healthz failed under attack: {Counter(failures)}"
    assert slowest < HUNG / 2, f"/healthz took {slowest:.1f} s: the event loop was blocked"
    assert set(outcomes) == {(name, "413") for name in attacks}, dict(outcomes)


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def test_answers_carry_security_headers(start_api: Callable[..., Api]) -> None:
    api = start_api()
    admin = bearer(api)
    with api.client() as client:
        answers = {
            "probe": client.get("/healthz"),
            "authenticated": client.get("/api/v1/auth/me", headers=admin),
            "refused": client.get("/api/v1/auth/me"),
            "not found": client.get("/nowhere"),
            "too large": client.post("/api/v1/auth/login", content=b"x" * (300 * 1024)),
        }
        docs = client.get("/docs")
    for what, answer in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, f"{what}: {name}"
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy, what
        assert "frame-ancestors 'none'" in policy, what
        assert "strict-transport-security" not in answer.headers, f"{what}: HSTS over plain HTTP"
    assert answers["too large"].status_code == 413
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src https://cdn.jsdelivr.net 'sha256-" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_docs_and_metrics_refuse_anonymous_callers_when_the_settings_say_so(
    start_api: Callable[..., Api],
) -> None:
    token = "metrics-token-" + "m" * 32
    api = start_api(
        docs_access="authenticated",
        metrics_access="authenticated",
        metrics_token=token,
        behind_tls="true",
    )
    admin = bearer(api)
    reader = viewer(api)
    key = ingest_key(api)
    scraper = {"Authorization": f"Bearer {token}"}
    wrong = {"Authorization": "Bearer " + "n" * 46}
    expected = {
        ("/docs", "anonymous"): 401,
        ("/docs", "ingest key"): 403,
        ("/docs", "viewer"): 200,
        ("/openapi.json", "anonymous"): 401,
        ("/openapi.json", "admin"): 200,
        ("/metrics", "anonymous"): 401,
        ("/metrics", "wrong token"): 401,
        ("/metrics", "ingest key"): 403,
        ("/metrics", "viewer"): 403,
        ("/metrics", "scraper token"): 200,
        ("/metrics", "admin"): 200,
        ("/healthz", "anonymous"): 200,
    }
    callers = {
        "anonymous": {},
        "ingest key": key,
        "viewer": reader,
        "admin": admin,
        "scraper token": scraper,
        "wrong token": wrong,
    }
    with api.client() as client:
        got = {
            (path, caller): client.get(path, headers=callers[caller]) for path, caller in expected
        }
    assert {k: a.status_code for k, a in got.items()} == expected
    assert "python_info" in got[("/metrics", "scraper token")].text
    assert got[("/openapi.json", "admin")].json()["info"]["title"] == "Log Sentinel API"
    for answer in got.values():
        assert answer.headers["strict-transport-security"] == "max-age=31536000"

    disabled = start_api(docs_access="disabled")
    signed_in = bearer(disabled)
    with disabled.client() as client:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert client.get(path, headers=signed_in).status_code == 404, path
        assert client.get("/metrics").status_code == 200, "metrics stay open by default"
