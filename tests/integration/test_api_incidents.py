"""Incident workflows through the API without Kubernetes (PostgreSQL only): list, read with the
timeline, acknowledge, comment, resolve; approve needs the operator (Kubernetes mode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from logsentinel.storage import migrate
from support.api import logged_in_api
from support.incidents import open_sample_incident

pytestmark = pytest.mark.integration


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    migrate.upgrade(database_url)
    open_sample_incident(database_url, "burst-old", "medium", minutes_ago=30)
    open_sample_incident(database_url, "burst-new", "high", minutes_ago=1)
    with logged_in_api(database_url) as running:
        yield running


def test_list_filter_and_read_with_timeline(client: TestClient) -> None:
    listed = client.get("/api/v1/incidents").json()
    assert [i["name"] for i in listed] == ["burst-new", "burst-old"], "newest first"
    high = client.get("/api/v1/incidents", params={"severity": "high"}).json()
    assert [i["name"] for i in high] == ["burst-new"]
    one = client.get("/api/v1/incidents/burst-new").json()
    assert [sample["message"] for sample in one["evidence"]["samples"]] == [
        "burst-new: gateway timeout"
    ]
    assert [event["kind"] for event in one["timeline"]] == ["opened"]
    assert client.get("/api/v1/incidents/nope").status_code == 404


def test_pages_of_the_list_and_the_total_and_counts_by_severity(
    client: TestClient, database_url: str
) -> None:
    for n in range(5):
        open_sample_incident(database_url, f"burst-{n}", "low", minutes_ago=10 + n)
    first = client.get("/api/v1/incidents", params={"limit": 3})
    assert first.headers["X-Total-Count"] == "7"
    second = client.get("/api/v1/incidents", params={"limit": 3, "offset": 3})
    third = client.get("/api/v1/incidents", params={"limit": 3, "offset": 6})
    names = [i["name"] for page in (first, second, third) for i in page.json()]
    opened_last_first = [f"burst-{n}" for n in reversed(range(5))]
    assert names == [*opened_last_first, "burst-new", "burst-old"], "each once, newest first"
    assert third.headers["X-Total-Count"] == "7"
    beyond = client.get("/api/v1/incidents", params={"offset": 50})
    assert (beyond.json(), beyond.headers["X-Total-Count"]) == ([], "7")
    low = client.get("/api/v1/incidents", params={"severity": "low", "limit": 2})
    assert low.headers["X-Total-Count"] == "5", "the total counts the filtered incidents"
    assert client.post("/api/v1/incidents/burst-0/resolve", json={}).status_code == 202
    counts = client.get("/api/v1/stats/incidents").json()
    assert counts["open"] == 6
    assert counts["by_severity"] == {"critical": 0, "high": 1, "medium": 1, "low": 4, "info": 0}
    assert sum(counts["by_phase"].values()) == 6
    assert "Resolved" not in counts["by_phase"]


def test_acknowledge_comment_resolve_are_in_the_timeline_and_audit(client: TestClient) -> None:
    assert client.post("/api/v1/incidents/burst-new/acknowledge").status_code == 202
    commented = client.post(
        "/api/v1/incidents/burst-new/comments", json={"text": "rolled back the release"}
    )
    assert commented.status_code == 201
    resolved = client.post(
        "/api/v1/incidents/burst-new/resolve", json={"resolution": "bad release rolled back"}
    )
    assert resolved.status_code == 202
    again = client.post("/api/v1/incidents/burst-new/resolve", json={})
    assert again.status_code == 409
    one = client.get("/api/v1/incidents/burst-new").json()
    assert [(e["kind"], e["actor"]) for e in one["timeline"]] == [
        ("opened", "logsentinel-processor"),
        ("acknowledge", "root"),
        ("comment", "root"),
        ("resolved", "root"),
    ]
    assert one["resolution"] == "bad release rolled back"
    assert [i["name"] for i in client.get("/api/v1/incidents", params={"open": True}).json()] == [
        "burst-old"
    ]
    trail = client.get("/api/v1/audit", params={"incident": "shop/burst-new"}).json()
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("resolve", "root"),
        ("comment", "root"),
        ("acknowledge", "root"),
    ]


def test_approve_needs_a_pending_remediation_and_bad_input_is_refused(client: TestClient) -> None:
    refused = client.post("/api/v1/incidents/burst-new/approve")
    assert refused.status_code == 409
    assert "no remediation awaiting approval" in refused.text
    empty = client.post("/api/v1/incidents/burst-new/comments", json={"text": ""})
    assert empty.status_code == 422
    assert client.get("/api/v1/incidents", params={"phase": "Sleeping"}).status_code == 422
