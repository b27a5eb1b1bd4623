"""The API's authentication and authorisation against a real PostgreSQL: login, JWT attacks,
refresh rotation, ingest API keys, the first-admin bootstrap, rate limits, and the role matrix
(every route x anonymous, viewer, operator, admin, ingest key)."""

from __future__ import annotations

import base64
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings

pytestmark = pytest.mark.integration

SECRET = "test-secret-" + "x" * 40
ADMIN = ("root", "correct horse battery staple")


def settings(database_url: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "manifests_directory": tempfile.mkdtemp(prefix="manifests-"),
        "database_url": database_url,
        "jwt_secret": SECRET,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "requests_per_second": 1000,
        "request_burst": 1000,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings(database_url))) as running:
        yield running


def login(client: TestClient, username: str, password: str) -> dict[str, Any]:
    answer = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(client: TestClient) -> dict[str, str]:
    return bearer(login(client, *ADMIN)["access_token"])


def make_user(client: TestClient, username: str, role: str) -> dict[str, str]:
    password = f"{username}-password-123"
    created = client.post(
        "/api/v1/users",
        json={"username": username, "password": password, "role": role},
        headers=admin_headers(client),
    )
    assert created.status_code == 201, created.text
    return bearer(login(client, username, password)["access_token"])


def make_key(client: TestClient, name: str = "checkout") -> tuple[str, str]:
    created = client.post("/api/v1/api-keys", json={"name": name}, headers=admin_headers(client))
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]


# --- login and tokens ---------------------------------------------------------------------


def test_the_bootstrap_admin_logs_in_and_wrong_passwords_do_not(client: TestClient) -> None:
    tokens = login(client, *ADMIN)
    me = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()
    assert me == {"identity": "root", "role": "admin", "via": "token"}
    wrong = client.post("/api/v1/auth/login", json={"username": "root", "password": "nope"})
    assert wrong.status_code == 401
    unknown = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "x" * 12})
    assert unknown.status_code == 401
    assert wrong.json() == unknown.json(), "no hint whether the user exists"


def test_no_bootstrap_settings_means_no_user_at_all(database_url: str) -> None:
    quiet = settings(database_url, admin_username=None, admin_password=None)
    with TestClient(create_app(quiet)) as client:
        answer = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin"})
        assert answer.status_code == 401, "never a default password"


def test_login_attempts_are_rate_limited(client: TestClient) -> None:
    codes = [
        client.post(
            "/api/v1/auth/login", json={"username": "root", "password": "guess"}
        ).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429
    limited = client.post("/api/v1/auth/login", json={"username": "root", "password": "guess"})
    assert int(limited.headers["Retry-After"]) >= 1


def test_requests_are_rate_limited_per_identity(database_url: str) -> None:
    tight = settings(database_url, requests_per_second=0.5, request_burst=3)
    with TestClient(create_app(tight)) as client:
        headers = bearer(login(client, *ADMIN)["access_token"])
        codes = [client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200]
        assert codes[3] == 429
        answer = client.get("/api/v1/auth/me", headers=headers)
        assert answer.headers["Retry-After"] in ("1", "2")


def forge(payload: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "iss": "logsentinel",
        "sub": "root",
        "role": "admin",
        "typ": "access",
        "jti": "abc",
        "iat": now,
        "exp": now + 600,
    }
    payload.update(changes)
    return payload


def unsigned(payload: dict[str, Any]) -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def test_forged_expired_and_misused_tokens_are_refused(client: TestClient) -> None:
    tokens = login(client, *ADMIN)
    header, payload, signature = tokens["access_token"].split(".")
    raised = json.loads(base64.urlsafe_b64decode(payload + "=="))
    raised["sub"] = "someone-else"
    tampered = ".".join(
        [
            header,
            base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode(),
            signature,
        ]
    )
    attacks = {
        "alg none": unsigned(claims()),
        "wrong key": forge(claims(), key="another-secret-" + "y" * 40),
        "expired": forge(claims(iat=1, exp=2)),
        "tampered claims": tampered,
        "refresh as access": tokens["refresh_token"],
        "no expiry": forge({k: v for k, v in claims().items() if k != "exp"}),
        "unknown role": forge(claims(role="root")),
    }
    for name, token in attacks.items():
        answer = client.get("/api/v1/auth/me", headers=bearer(token))
        assert answer.status_code == 401, f"{name}: {answer.text}"
    assert "expired" in client.get("/api/v1/auth/me", headers=bearer(attacks["expired"])).text


def test_refresh_rotates_and_a_used_refresh_token_is_refused(client: TestClient) -> None:
    tokens = login(client, *ADMIN)
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    assert (
        client.get("/api/v1/auth/me", headers=bearer(renewed.json()["access_token"])).status_code
        == 200
    )
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    as_refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert as_refresh.status_code == 401, "an access token cannot refresh"


def test_logout_revokes_the_refresh_token_and_is_audited(client: TestClient) -> None:
    tokens = login(client, *ADMIN)
    body = {"refresh_token": tokens["refresh_token"]}
    assert client.post("/api/v1/auth/logout", json=body).status_code == 204
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 401
    assert client.post("/api/v1/auth/logout", json=body).status_code == 204, "idempotent"
    forged = client.post("/api/v1/auth/logout", json={"refresh_token": "not-a-token"})
    assert forged.status_code == 401
    trail = client.get(
        "/api/v1/audit", params={"action": "logout"}, headers=admin_headers(client)
    ).json()
    assert [(e["action"], e["actor"]) for e in trail] == [("logout", ADMIN[0])]


# --- ingest API keys --------------------------------------------------------------------------


def test_api_keys_authenticate_until_revoked_and_are_stored_hashed(
    client: TestClient, database_url: str
) -> None:
    key_id, key = make_key(client)
    for headers in ({"X-API-Key": key}, bearer(key)):
        me = client.get("/api/v1/auth/me", headers=headers)
        assert me.json() == {"identity": f"key:{key_id}", "role": None, "via": "key"}
    listed = client.get("/api/v1/api-keys", headers=admin_headers(client)).json()
    assert [k["id"] for k in listed] == [key_id]
    assert key.split("_", 2)[2] not in json.dumps(listed), "the secret is never listed"
    import psycopg

    from logsentinel.storage.urls import libpq_url

    with psycopg.connect(libpq_url(database_url)) as connection:
        stored = connection.execute("SELECT secret_hash FROM api_keys").fetchone()
    assert stored is not None
    assert key.split("_", 2)[2] not in stored[0]
    bad = key[:-3] + "AAA"
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": bad}).status_code == 401
    assert (
        client.delete(f"/api/v1/api-keys/{key_id}", headers=admin_headers(client)).status_code
        == 204
    )
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_a_key_revoked_on_one_replica_is_refused_by_another_within_the_cache_time(
    database_url: str,
) -> None:
    cached = settings(database_url, identity_cache_seconds=0.5)
    with TestClient(create_app(cached)) as first, TestClient(create_app(cached)) as second:
        key_id, key = make_key(first)
        assert second.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 200
        revoked = first.delete(f"/api/v1/api-keys/{key_id}", headers=admin_headers(first))
        assert revoked.status_code == 204
        assert first.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
        # the second replica still trusts what it read (at most 0.5 s ago), then asks again
        deadline = time.monotonic() + 5
        while second.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code != 401:
            assert time.monotonic() < deadline, "the revoked key was still accepted after 5 s"
            time.sleep(0.05)  # polling a condition with a deadline


def test_without_the_cache_a_disabled_user_is_refused_at_once(database_url: str) -> None:
    import psycopg

    from logsentinel.storage.urls import libpq_url

    with TestClient(create_app(settings(database_url, identity_cache_seconds=0))) as client:
        headers = make_user(client, "mallory", "operator")
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        with psycopg.connect(libpq_url(database_url)) as connection:
            connection.execute("UPDATE users SET disabled = true WHERE username = 'mallory'")
        refused = client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 401
        assert "disabled" in refused.text


# --- the role matrix --------------------------------------------------------------------------

PUBLIC = {"healthz", "readyz", "metrics", "login", "refresh", "logout"}

# route name -> who may call it (a role admits the roles above it). A new route fails
# test_every_route_has_a_matrix_entry until it is added here.
MATRIX: dict[str, set[str]] = {
    "me": {"viewer", "operator", "admin", "ingest"},
    "create_user": {"admin"},
    "list_users": {"admin"},
    "change_user": {"admin"},
    "list_keys": {"admin"},
    "create_key": {"admin"},
    "revoke_key": {"admin"},
    "ingest": {"ingest", "operator", "admin"},
    "search_logs": {"viewer", "operator", "admin"},
    "stats": {"viewer", "operator", "admin"},
    "incident_counts": {"viewer", "operator", "admin"},
    "pipeline": {"viewer", "operator", "admin"},
    "log_context": {"viewer", "operator", "admin"},
    "backtest_rule": {"operator", "admin"},
    "audit_log": {"operator", "admin"},
    "list_incidents": {"viewer", "operator", "admin"},
    "get_incident": {"viewer", "operator", "admin"},
    "acknowledge": {"operator", "admin"},
    "approve": {"operator", "admin"},
    "resolve": {"operator", "admin"},
    "comment": {"operator", "admin"},
    "list_rules": {"viewer", "operator", "admin"},
    "get_rule": {"viewer", "operator", "admin"},
    "put_rule": {"operator", "admin"},
    "delete_rule": {"operator", "admin"},
    "list_playbooks": {"viewer", "operator", "admin"},
    "get_playbook": {"viewer", "operator", "admin"},
    "put_playbook": {"admin"},
    "delete_playbook": {"admin"},
}

CALLERS = ("anonymous", "viewer", "operator", "admin", "ingest")


def routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(operationId = route function name, method, path) of every documented route."""
    schema = client.get("/openapi.json").json()
    return [
        (operation["operationId"], method.upper(), path)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_route_has_a_matrix_entry(client: TestClient) -> None:
    names = {name for name, _, _ in routes(client)}
    assert len(names) == len(routes(client)), "route function names must be unique"
    assert names - PUBLIC - set(MATRIX) == set(), "add new routes to MATRIX"
    assert set(MATRIX) <= names, "MATRIX names a route that does not exist"


def test_role_matrix(client: TestClient) -> None:
    headers = {
        "anonymous": {},
        "viewer": make_user(client, "vera", "viewer"),
        "operator": make_user(client, "otto", "operator"),
        "admin": admin_headers(client),
        "ingest": {"X-API-Key": make_key(client, "matrix")[1]},
    }
    failures = []
    checked = 0
    for name, method, template in routes(client):
        if name in PUBLIC:
            continue
        path = (
            template.replace("{key_id}", "does-not-exist")
            .replace("{username}", "does-not-exist")
            .replace("{name}", "does-not-exist")
            .replace("{namespace}", "nowhere")
        )
        for caller in CALLERS:
            code = client.request(method, path, headers=headers[caller], json={}).status_code
            checked += 1
            allowed = caller in MATRIX[name]
            expected_denial = 401 if caller == "anonymous" else 403
            if allowed and code in (401, 403):
                failures.append(f"{method} {path} as {caller}: {code}, should be allowed")
            if not allowed and code != expected_denial:
                failures.append(f"{method} {path} as {caller}: {code}, expected {expected_denial}")
    assert checked == len(MATRIX) * len(CALLERS), "every route of the matrix was called"
    assert failures == []


def test_probes_and_metrics_are_open(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] == "ok"
    assert "python_info" in client.get("/metrics").text
    assert client.get("/openapi.json").json()["info"]["title"] == "Log Sentinel API"


def test_tokens_expire_when_their_ttl_passes(database_url: str) -> None:
    short = settings(database_url, access_token_ttl=timedelta(seconds=-1))
    with TestClient(create_app(short)) as client:
        token = login(client, *ADMIN)["access_token"]
        answer = client.get("/api/v1/auth/me", headers=bearer(token))
        assert answer.status_code == 401
        assert "expired" in answer.text


def test_audit_lists_entries_newest_first_and_filters_by_incident(
    client: TestClient, database_url: str
) -> None:
    import psycopg

    from logsentinel.domain.audit import AuditEntry
    from logsentinel.storage import audit
    from logsentinel.storage.urls import libpq_url

    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        audit.record(
            connection,
            [
                AuditEntry(
                    at=now - timedelta(minutes=2),
                    actor="logsentinel-operator",
                    action="rolloutRestart",
                    result="Succeeded",
                    incident="shop/a",
                ),
                AuditEntry(
                    at=now - timedelta(minutes=1),
                    actor="alice",
                    action="approve",
                    result="Succeeded",
                    incident="shop/b",
                ),
            ],
        )
    operator = make_user(client, "otto", "operator")
    entries = client.get("/api/v1/audit", headers=operator).json()
    # logins and creating otto are audited too: only the incidents' entries here
    assert [(e["actor"], e["action"]) for e in entries if e["incident"]] == [
        ("alice", "approve"),
        ("logsentinel-operator", "rolloutRestart"),
    ]
    only_a = client.get("/api/v1/audit", params={"incident": "shop/a"}, headers=operator).json()
    assert [e["incident"] for e in only_a] == ["shop/a"]
