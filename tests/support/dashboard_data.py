"""Something on every page of the dashboard: an incident, logs of two services, a detection rule
and a playbook, written through a running API (and the incident straight into PostgreSQL, as a
processor would). Shared by the browser tests and `bench/bench_web.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from support.incidents import open_sample_incident

INCIDENT = "checkout-burst"
RULE = ("shop", "error-burst")
PLAYBOOK = ("shop", "rehearse-restart")
MANY_LOGINS = {
    "LOGSENTINEL_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
    "LOGSENTINEL_LOGIN_CLIENT_ATTEMPTS_PER_MINUTE": "1000",
}
"""API settings for a browser check that signs in anew for each page it looks at (the default
allows five logins a minute per user and client)."""


def admin_headers(base: str, admin: tuple[str, str]) -> dict[str, str]:
    answer = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": admin[0], "password": admin[1]}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def sample_logs(count: int) -> list[dict[str, object]]:
    """``count`` lines of the last ``count`` seconds from checkout and payments, one in three an
    error, a few with attributes (the logs page shows their details)."""
    now = datetime.now(UTC)
    return [
        {
            "timestamp": (now - timedelta(seconds=n)).isoformat(),
            "level": "error" if n % 3 == 0 else "info",
            "message": f"order {n} settled late: card processor answered after {n % 9} s",
            "service": "checkout" if n % 2 else "payments",
            "namespace": "shop",
            "pod": f"checkout-7d9f8b6c5d-{n % 4}x2k",
            "attributes": {"order": n} if n % 10 == 0 else {},
        }
        for n in range(count)
    ]


def seed_dashboard(
    base: str, database_url: str, admin: tuple[str, str], log_lines: int = 200
) -> None:
    """Fill every page: an open incident, ``log_lines`` logs, a rule and a playbook."""
    headers = admin_headers(base, admin)
    open_sample_incident(database_url, INCIDENT, "high", minutes_ago=2)
    answer = httpx.post(f"{base}/api/v1/ingest", json=sample_logs(log_lines), headers=headers)
    _require_success(answer)
    rule = {
        "description": "Fifty or more error lines from one service within a minute.",
        "match": {"levels": ["error", "fatal"]},
        "detector": {"type": "threshold", "threshold": {"count": 50, "window": "1m"}},
        "severity": "high",
        "incidentType": "ErrorBurst",
    }
    playbook = {
        "description": "Shows what an automatic restart would do, without doing it.",
        "triggers": {"incidentTypes": ["ErrorBurst"]},
        "mode": "dryRun",
        "steps": [{"type": "rolloutRestart"}, {"type": "verify"}],
    }
    for path, body in (
        (f"/api/v1/rules/{RULE[0]}/{RULE[1]}", rule),
        (f"/api/v1/playbooks/{PLAYBOOK[0]}/{PLAYBOOK[1]}", playbook),
    ):
        _require_success(httpx.put(f"{base}{path}", json=body, headers=headers))


def _require_success(answer: httpx.Response) -> None:
    if not answer.is_success:
        request = answer.request
        raise RuntimeError(
            f"{request.method} {request.url.path}: {answer.status_code} {answer.text}"
        )
