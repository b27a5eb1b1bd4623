"""Hostile users against authentication, accounts, the audit log and the rule/playbook files.

Against a real PostgreSQL: spoofed X-Forwarded-For headers, password spraying, an attacker
hammering someone else's account, a flood of concurrent logins, disabled users and the last
admin, and concurrent writers of one rule file. Where the defence lives in the real server
(uvicorn's view of the client address, concurrency), `logsentinel api` runs as a process of
its own and clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.3, ...).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from fastapi.testclient import TestClient

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from logsentinel.manifests import load_rules
from support.api_process import api_process, client_from
from support.running import eventually

pytestmark = pytest.mark.integration

ADMIN = ("root", "correct horse battery staple")
OWNER = "198.51.100.7"  # documentation addresses: header values only, never contacted
ATTACKER = "203.0.113.66"
RULE = {
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}
PLAYBOOK = {"mode": "dryRun", "steps": [{"type": "rolloutRestart"}]}


def settings(database_url: str, manifests: Path, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": "hostile-auth-secret-" + "x" * 40,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "manifests_directory": manifests,
        "requests_per_second": 1000,
        "request_burst": 1000,
        "kafka_bootstrap": None,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings(database_url, tmp_path / "manifests"))
    with TestClient(app, raise_server_exceptions=False) as running:
        yield running


def login(
    http: httpx.Client | TestClient,
    username: str,
    password: str,
    forwarded_for: str | None = None,
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return http.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


def bearer(http: httpx.Client | TestClient, username: str, password: str) -> dict[str, str]:
    answer = login(http, username, password)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def make_user(client: TestClient, admin: dict[str, str], username: str, role: str) -> str:
    password = f"{username}-password-123"
    created = client.post(
        "/api/v1/users",
        json={"username": username, "password": password, "role": role},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return password


def audit_entries(client: TestClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/audit", params={"limit": 1000, **params}, headers=admin)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def hammer(http: httpx.Client, username: str, times: int, forwarded_for: str | None) -> list[int]:
    return [
        login(http, username, "not-the-password", forwarded_for).status_code for _ in range(times)
    ]


# --- client addresses and proxies ---------------------------------------------------------------


def test_a_spoofed_forwarded_for_neither_escapes_the_limit_nor_locks_the_owner_out(
    database_url: str, tmp_path: Path
) -> None:
    """No trusted proxy (the default): X-Forwarded-For is ignored, from loopback too."""
    with api_process(database_url, tmp_path, ADMIN) as api:
        with client_from(api.base, "127.0.0.1") as attacker:
            # a new invented address per attempt, then the owner's own address
            codes = [
                login(attacker, ADMIN[0], "guess", f"192.0.2.{n}").status_code for n in range(6)
            ]
            assert codes[:5] == [401] * 5
            assert codes[5] == 429, "a spoofed X-Forwarded-For escaped the per-client limit"
            assert set(hammer(attacker, ADMIN[0], 5, "127.0.0.2")) == {429}
        with client_from(api.base, "127.0.0.2") as owner:
            assert login(owner, *ADMIN).status_code == 200, "the attacker locked the owner out"


def test_forwarded_for_is_honoured_from_a_trusted_proxy_only(
    database_url: str, tmp_path: Path
) -> None:
    """The proxy is 127.0.0.2; 127.0.0.3 is a client that talks to the API directly."""
    proxy_settings = {"LOGSENTINEL_TRUSTED_PROXIES": '["127.0.0.2/32"]'}
    with (
        api_process(database_url, tmp_path, ADMIN, proxy_settings) as api,
        client_from(api.base, "127.0.0.2") as proxy,
        client_from(api.base, "127.0.0.3") as direct,
    ):
        assert hammer(proxy, ADMIN[0], 6, ATTACKER)[5] == 429, "the forwarded client is limited"
        # whatever the attacker writes to the left, the proxy appended the address it saw
        assert set(hammer(proxy, ADMIN[0], 3, f"192.0.2.1, {ATTACKER}")) == {429}
        assert login(proxy, *ADMIN, OWNER).status_code == 200, "another client behind the proxy"
        # a direct client's header is not believed: its attempts count against 127.0.0.3
        assert hammer(direct, ADMIN[0], 6, "192.0.2.50")[5] == 429
        assert login(proxy, *ADMIN, "192.0.2.50").status_code == 200


def test_a_login_flood_gets_no_500_and_leaves_the_database_pool_usable(
    database_url: str, tmp_path: Path
) -> None:
    """64 logins at once (each from its own forwarded address, so that only concurrency
    matters); meanwhile an authenticated request that needs the database still succeeds."""
    proxy_settings = {"LOGSENTINEL_TRUSTED_PROXIES": '["127.0.0.1/32"]'}
    with api_process(database_url, tmp_path, ADMIN, proxy_settings) as api:
        with httpx.Client(base_url=api.base, timeout=120) as http:
            admin = bearer(http, *ADMIN)
        flood = 64
        start = threading.Barrier(flood + 1)
        answers: list[httpx.Response | Exception] = []
        lock = threading.Lock()

        def one(n: int) -> None:
            password = ADMIN[1] if n % 2 else "a wrong password"
            with httpx.Client(base_url=api.base, timeout=120) as http:
                start.wait()
                try:
                    answer: httpx.Response | Exception = login(
                        http, ADMIN[0], password, f"10.1.{n // 250}.{n % 250}"
                    )
                except httpx.HTTPError as error:
                    answer = error
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(flood)]
        for thread in threads:
            thread.start()
        start.wait()
        with httpx.Client(base_url=api.base, timeout=120) as http:
            during = http.get("/api/v1/api-keys", headers=admin)
        for thread in threads:
            thread.join(timeout=180)
            assert not thread.is_alive(), "a login did not get an answer (did not hang: 180 s)"
        assert during.status_code == 200, during.text
        failures = [a for a in answers if isinstance(a, Exception)]
        assert not failures, failures
        codes = Counter(a.status_code for a in answers if isinstance(a, httpx.Response))
        print(f"login flood of {flood}: {dict(codes)}")
        assert set(codes) <= {200, 401, 429, 503}, codes
        assert codes[200] >= 1, codes
        for answer in answers:
            assert isinstance(answer, httpx.Response)
            if answer.status_code in (429, 503):
                assert int(answer.headers["Retry-After"]) >= 1
        with httpx.Client(base_url=api.base, timeout=120) as http:
            assert http.get("/api/v1/api-keys", headers=admin).status_code == 200
            assert login(http, *ADMIN, OWNER).status_code == 200


# --- limits per client and per account ------------------------------------------------------


def test_spraying_many_usernames_from_one_client_is_limited(
    database_url: str, tmp_path: Path
) -> None:
    tight = settings(database_url, tmp_path / "m", login_client_attempts_per_minute=10)
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        # 14 tries: the bucket refills a little while passwords are checked (one every 6 s)
        codes = [login(client, f"user-{n}", "Winter2026!").status_code for n in range(14)]
        assert codes[:10] == [401] * 10
        assert 429 in codes[10:], "spraying across usernames is not limited"
        limited = login(client, "user-99", "Winter2026!")
        assert int(limited.headers["Retry-After"]) >= 1


def test_the_owner_logs_in_from_elsewhere_while_an_attacker_hammers_the_account(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(settings(database_url, tmp_path / "m"))
    # one application, two client addresses (TestClient's `client`), lifespan run once
    with TestClient(app, client=("203.0.113.66", 40000)) as attacker:
        owner = TestClient(app, client=("198.51.100.7", 40000))
        assert set(hammer(attacker, ADMIN[0], 12, None)[5:]) == {429}
        assert login(owner, *ADMIN).status_code == 200


def test_many_clients_guessing_one_password_are_slowed_and_the_owner_is_not_blocked(
    database_url: str, tmp_path: Path
) -> None:
    """Past the per-account ceiling, a client that never logged in as the user gets one try per
    minute; one that did keeps its usual limit; the owner is slowed, never locked out."""
    app = create_app(settings(database_url, tmp_path / "m", login_account_failures_per_minute=6))
    with TestClient(app, client=(OWNER, 40000)) as owner:
        assert login(owner, *ADMIN).status_code == 200  # a client the account knows now
        bots = [TestClient(app, client=(f"192.0.2.{n}", 40000)) for n in range(1, 4)]
        # 3 clients x 2 failures reach the ceiling of 6 (each stays under its own 5)
        assert {code for bot in bots for code in hammer(bot, ADMIN[0], 2, None)} == {401}
        assert hammer(bots[0], ADMIN[0], 2, None) == [401, 429], "one try a minute past it"
        newcomer = TestClient(app, client=("198.51.100.99", 40000))
        assert login(newcomer, ADMIN[0], "typo").status_code == 401, "one try, not none"
        assert login(newcomer, ADMIN[0], "guess").status_code == 429
        assert login(owner, ADMIN[0], "typo").status_code == 401
        assert login(owner, *ADMIN).status_code == 200, "a known client is not slowed"


# --- the audit log -----------------------------------------------------------------------------


def test_failed_logins_are_audited_without_the_password(client: TestClient) -> None:
    admin = bearer(client, *ADMIN)
    make_user(client, admin, "dora", "viewer")
    assert client.patch("/api/v1/users/dora", json={"disabled": True}, headers=admin).is_success
    secret_guess = "hunter2-" + uuid.uuid4().hex
    assert login(client, ADMIN[0], secret_guess).status_code == 401
    assert login(client, "ghost", secret_guess).status_code == 401
    assert login(client, "dora", "dora-password-123").status_code == 401
    assert login(client, "nul\x00", secret_guess).status_code == 401
    entries = audit_entries(client, admin, action="login")
    failed = {(e["actor"], e["detail"]["reason"]) for e in entries if e["result"] == "Failed"}
    assert failed == {
        ("root", "wrong password"),
        ("ghost", "unknown user"),
        ("dora", "user disabled"),
        ("nul\ufffd", "unknown user"),  # as typed, but for what PostgreSQL cannot hold
    }
    assert all(e["detail"]["client"] == "testclient" for e in entries)
    assert secret_guess not in json.dumps(entries), "a password in the audit log"
    assert any(e["result"] == "Succeeded" and e["actor"] == "root" for e in entries)


def test_every_administrative_change_is_audited(client: TestClient) -> None:
    admin = bearer(client, *ADMIN)
    make_user(client, admin, "otto", "viewer")
    assert client.patch("/api/v1/users/otto", json={"role": "operator"}, headers=admin).is_success
    assert client.patch("/api/v1/users/otto", json={"disabled": True}, headers=admin).is_success
    assert client.patch("/api/v1/users/otto", json={"disabled": False}, headers=admin).is_success
    key = client.post("/api/v1/api-keys", json={"name": "shop"}, headers=admin).json()
    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin).status_code == 204
    assert client.put("/api/v1/rules/shop/burst", json=RULE, headers=admin).status_code == 201
    assert client.delete("/api/v1/rules/shop/burst", headers=admin).status_code == 204
    assert client.put("/api/v1/playbooks/shop/p", json=PLAYBOOK, headers=admin).status_code == 201
    assert client.delete("/api/v1/playbooks/shop/p", headers=admin).status_code == 204
    done = [
        (e["actor"], e["action"], e["targetKind"], e["targetName"])
        for e in reversed(audit_entries(client, admin))
        if e["action"] != "login"
    ]
    assert done == [
        ("root", "createUser", "User", "otto"),
        ("root", "changeUserRole", "User", "otto"),
        ("root", "disableUser", "User", "otto"),
        ("root", "enableUser", "User", "otto"),
        ("root", "createApiKey", "ApiKey", key["id"]),
        ("root", "revokeApiKey", "ApiKey", key["id"]),
        ("root", "putDetectionRule", "DetectionRule", "burst"),
        ("root", "deleteDetectionRule", "DetectionRule", "burst"),
        ("root", "putPlaybook", "Playbook", "p"),
        ("root", "deletePlaybook", "Playbook", "p"),
    ]
    assert key["key"] not in json.dumps(audit_entries(client, admin)), "a key secret audited"


# --- disabling users ------------------------------------------------------------------------------


def test_a_disabled_user_cannot_log_in_refresh_or_use_a_token(
    database_url: str, tmp_path: Path
) -> None:
    """Two replicas: the one that disables refuses at once, the other within its cache time."""
    cached = settings(database_url, tmp_path / "m", identity_cache_seconds=0.5)
    with (
        TestClient(create_app(cached), raise_server_exceptions=False) as first,
        TestClient(create_app(cached), raise_server_exceptions=False) as second,
    ):
        admin = bearer(first, *ADMIN)
        password = make_user(first, admin, "mallory", "operator")
        tokens = login(second, "mallory", password).json()
        token = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert first.get("/api/v1/auth/me", headers=token).status_code == 200
        assert second.get("/api/v1/auth/me", headers=token).status_code == 200  # now cached
        disabled = first.patch("/api/v1/users/mallory", json={"disabled": True}, headers=admin)
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled"] is True
        assert first.get("/api/v1/auth/me", headers=token).status_code == 401
        eventually(
            "the other replica refuses the disabled user's token",
            lambda: second.get("/api/v1/auth/me", headers=token).status_code == 401,
            timeout=10,
        )
        assert login(first, "mallory", password).status_code == 401
        refreshed = second.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401
        listed = {u["username"]: u for u in first.get("/api/v1/users", headers=admin).json()}
        assert listed["mallory"]["disabled"] is True
        # enabled again: a new login works, the refresh token from before stays revoked
        enabled = first.patch("/api/v1/users/mallory", json={"disabled": False}, headers=admin)
        assert enabled.is_success
        assert login(first, "mallory", password).status_code == 200
        again = first.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(client: TestClient) -> None:
    root = bearer(client, *ADMIN)
    for change in ({"disabled": True}, {"role": "operator"}):
        refused = client.patch("/api/v1/users/root", json=change, headers=root)
        assert refused.status_code == 409, refused.text
        assert "last enabled admin" in refused.json()["detail"]
    password = make_user(client, root, "ada", "admin")
    assert client.patch("/api/v1/users/root", json={"disabled": True}, headers=root).is_success
    ada = bearer(client, "ada", password)
    refused = client.patch("/api/v1/users/ada", json={"disabled": True}, headers=ada)
    assert refused.status_code == 409
    assert (
        client.patch("/api/v1/users/nobody", json={"disabled": True}, headers=ada).status_code
        == 404
    )
    assert client.patch("/api/v1/users/ada", json={}, headers=ada).status_code == 422


# --- rule and playbook files --------------------------------------------------------------------


def test_concurrent_puts_of_one_rule_from_two_workers_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    manifests = tmp_path / "manifests"
    shared = settings(database_url, manifests)
    with (
        TestClient(create_app(shared), raise_server_exceptions=False) as one,
        TestClient(create_app(shared), raise_server_exceptions=False) as two,
    ):
        headers = [bearer(one, *ADMIN), bearer(two, *ADMIN)]
        workers = [one, two]
        start = threading.Barrier(30)
        codes: list[int] = []
        lock = threading.Lock()

        def put(n: int) -> None:
            body = {**RULE, "detector": {"type": "threshold", "threshold": {"count": n + 1}}}
            start.wait()
            code = (
                workers[n % 2]
                .put("/api/v1/rules/shop/burst", json=body, headers=headers[n % 2])
                .status_code
            )
            with lock:
                codes.append(code)

        threads = [threading.Thread(target=put, args=(n,)) for n in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
            assert not thread.is_alive()
        counted = Counter(codes)
        assert set(counted) <= {200, 201, 409}, counted
        assert counted[201] == 1, counted
        files = sorted(p.name for p in manifests.iterdir() if not p.name.startswith("."))
        assert files == ["detectionrule-shop_burst.yaml"], files
        document = yaml.safe_load((manifests / files[0]).read_text())
        assert 1 <= document["spec"]["detector"]["threshold"]["count"] <= 30
        assert [r.metadata.name for r in load_rules([manifests]).rules] == ["burst"]


def test_an_invalid_file_is_skipped_and_named_not_a_500(client: TestClient, tmp_path: Path) -> None:
    admin = bearer(client, *ADMIN)
    assert client.put("/api/v1/rules/shop/good", json=RULE, headers=admin).status_code == 201
    manifests = tmp_path / "manifests"
    (manifests / "detectionrule-shop_broken.yaml").write_text("spec: [unclosed\n")
    (manifests / "detectionrule-shop_wrong.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "logsentinel.io/v1alpha1",
                "kind": "DetectionRule",
                "metadata": {"name": "wrong", "namespace": "shop"},
                "spec": {**RULE, "severity": "apocalyptic"},
            }
        )
    )
    (manifests / "playbook-shop_list.yaml").write_text("- a list, not an object\n")
    with structlog.testing.capture_logs() as logs:
        rules = client.get("/api/v1/rules", headers=admin)
        playbooks = client.get("/api/v1/playbooks", headers=admin)
    assert rules.status_code == 200, rules.text
    assert [r["metadata"]["name"] for r in rules.json()] == ["good"]
    assert playbooks.status_code == 200
    assert playbooks.json() == []
    skipped = {Path(e["file"]).name: e["error"] for e in logs if "file" in e}
    assert set(skipped) == {
        "detectionrule-shop_broken.yaml",
        "detectionrule-shop_wrong.yaml",
        "playbook-shop_list.yaml",
    }
    assert "severity" in skipped["detectionrule-shop_wrong.yaml"]
    broken = client.get("/api/v1/rules/shop/broken", headers=admin)
    assert broken.status_code == 409, broken.text
    assert "detectionrule-shop_broken.yaml" in broken.json()["detail"]
    assert client.put("/api/v1/rules/shop/broken", json=RULE, headers=admin).status_code == 200
    assert client.get("/api/v1/rules/shop/broken", headers=admin).status_code == 200
