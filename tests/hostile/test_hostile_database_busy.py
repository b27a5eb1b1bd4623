"""A database that gives no connection (every pooled one held, as a flood of slow requests
would) must not turn into 500s after half a minute: every route that needs a connection answers
503 with Retry-After within the pool's bounded wait, saying nothing of how it connects, and
/readyz keeps its own answer. In-process (TestClient) against a real PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from logsentinel.api.state import AppState

pytestmark = pytest.mark.integration

ADMIN = ("root", "correct horse battery staple")
LOGIN = {"username": ADMIN[0], "password": ADMIN[1]}
RULE = {
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}
DID_NOT_HANG = 20.0  # seconds; the wait is 1 s, the pool's default would be 30 s


@contextmanager
def running_api(database_url: str, tmp_path: Path, identity_cache: float) -> Iterator[TestClient]:
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="hostile-database-secret-" + "x" * 40,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        manifests_directory=tmp_path / "manifests",
        kafka_bootstrap=None,
        identity_cache_seconds=identity_cache,
        database_wait_seconds=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def logged_in(api: TestClient) -> dict[str, str]:
    tokens = api.post("/api/v1/auth/login", json=LOGIN)
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@contextmanager
def every_connection_held(api: TestClient) -> Iterator[None]:
    state: AppState = api.app.state.logsentinel  # type: ignore[attr-defined]
    held = [state.pool.getconn() for _ in range(state.pool.max_size)]
    try:
        yield
    finally:
        for connection in held:
            state.pool.putconn(connection)


def assert_busy(what: str, call: Callable[[], httpx.Response]) -> None:
    started = time.monotonic()
    answer = call()
    assert time.monotonic() - started < DID_NOT_HANG, f"{what}: did not hang"
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text}"
    assert int(answer.headers["Retry-After"]) >= 1, what
    detail = answer.json()["detail"]
    assert "database" in detail, (what, detail)
    assert "sec" not in detail, ("no connection details", what, detail)
    assert "postgres" not in detail.lower(), ("no connection details", what, detail)


def test_a_pool_with_no_free_connection_answers_503_everywhere_not_500(
    database_url: str, tmp_path: Path
) -> None:
    # no identity cache: every request reads its caller from the database
    with running_api(database_url, tmp_path, identity_cache=0) as api:
        admin = logged_in(api)
        new_user = {"username": "newcomer", "password": "a long enough password", "role": "viewer"}
        ingest_key = {"X-API-Key": "lsk_0123456789ab_" + "s" * 40}
        with every_connection_held(api):
            assert_busy("login", lambda: api.post("/api/v1/auth/login", json=LOGIN))
            assert_busy("a user's request", lambda: api.get("/api/v1/users", headers=admin))
            assert_busy("an ingest key", lambda: api.get("/api/v1/auth/me", headers=ingest_key))
            assert_busy(
                "create a user", lambda: api.post("/api/v1/users", json=new_user, headers=admin)
            )
            ready = api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["database"] == "unreachable: PoolTimeout", "readyz answers itself"
        users = api.get("/api/v1/users", headers=admin)
        assert users.status_code == 200, "served again"
        assert "newcomer" not in {user["username"] for user in users.json()}
        assert api.get("/readyz").status_code == 200


def test_an_audited_rule_write_is_refused_before_it_changes_anything(
    database_url: str, tmp_path: Path
) -> None:
    # the caller is known (identity cache): only the route itself needs the database
    with running_api(database_url, tmp_path, identity_cache=600) as api:
        admin = logged_in(api)
        assert api.get("/api/v1/auth/me", headers=admin).status_code == 200
        with every_connection_held(api):
            assert_busy(
                "a rule write",
                lambda: api.put("/api/v1/rules/shop/burst", json=RULE, headers=admin),
            )
        assert api.get("/api/v1/rules/shop/burst", headers=admin).status_code == 404, "written"
        assert api.put("/api/v1/rules/shop/burst", json=RULE, headers=admin).status_code == 201
