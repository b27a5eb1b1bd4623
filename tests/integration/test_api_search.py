"""GET /api/v1/logs on data written by a real processor (Kafka -> processor -> PostgreSQL):
full text, filters, newest first, and cursor pages that neither skip nor repeat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from logsentinel.processors.main import build
from logsentinel.storage import migrate
from logsentinel.storage.urls import libpq_url
from support.api import logged_in_api
from support.kafka import container_line, create_topic, produce
from support.running import Running, eventually, processor_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def stored(database_url: str, kafka_bootstrap: str, kafka_topic: str) -> Iterator[None]:
    migrate.upgrade(database_url)
    create_topic(kafka_bootstrap, kafka_topic, partitions=2)
    create_topic(kafka_bootstrap, f"{kafka_topic}-dead", partitions=1)
    processor = Running(build(processor_settings(database_url, kafka_bootstrap, kafka_topic)))
    try:
        lines = []
        for n in range(15):
            lines.append(
                (b"shop/web", container_line("shop", "web-1", "web", f"request {n} served", "info"))
            )
            lines.append(
                (
                    b"shop/checkout",
                    container_line(
                        "shop",
                        "checkout-1",
                        "checkout",
                        f"payment {n} failed: gateway timeout",
                        "error",
                    ),
                )
            )
        produce(kafka_bootstrap, kafka_topic, lines)

        def all_stored() -> bool:
            with psycopg.connect(libpq_url(database_url)) as connection:
                row = connection.execute("SELECT count(*) FROM logs").fetchone()
            return bool(row and row[0] == 30)

        eventually("30 records stored by the processor", all_stored, 60)
        yield
    finally:
        processor.stop()


@pytest.fixture
def viewer(database_url: str, stored: None) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with logged_in_api(database_url) as client:  # as the admin, who creates the viewer
        client.post(
            "/api/v1/users",
            json={"username": "vera", "password": "vera-password-123", "role": "viewer"},
        )
        token = client.post(
            "/api/v1/auth/login", json={"username": "vera", "password": "vera-password-123"}
        ).json()["access_token"]
        yield client, {"Authorization": f"Bearer {token}"}


def get(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/logs", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def test_full_text_and_filters(viewer: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = viewer
    found = get(client, headers, q="gateway timeout")["items"]
    assert len(found) == 15
    assert {item["service"] for item in found} == {"checkout"}
    stamps = [item["timestamp"] for item in found]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    web_info = get(client, headers, service="web", level="info")["items"]
    assert len(web_info) == 15
    assert all(item["message"].startswith("request ") for item in web_info)
    assert get(client, headers, service="web", level="error")["items"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert get(client, headers, since=future)["items"] == []


def test_cursor_pages_cover_everything_once(viewer: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = viewer
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = get(client, headers, **params)
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 30
    assert len(set(seen)) == 30, "no row twice"
    assert pages == 5


def test_bad_requests_say_what_is_wrong(viewer: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = viewer
    bad_cursor = client.get("/api/v1/logs", params={"cursor": "nonsense"}, headers=headers)
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.text
    now = datetime.now(UTC)
    backwards = client.get(
        "/api/v1/logs",
        params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
        headers=headers,
    )
    assert backwards.status_code == 400
    assert "since" in backwards.text
    assert client.get("/api/v1/logs", params={"level": "loud"}, headers=headers).status_code == 422


def test_stats_per_service_and_top_templates(viewer: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = viewer
    answer = client.get("/api/v1/stats", params={"interval": 3600}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    by_service: dict[str, dict[str, float]] = {}
    for point in body["series"]:
        totals = by_service.setdefault(point["service"], {"total": 0, "errors": 0})
        totals["total"] += point["total"]
        totals["errors"] += point["errors"]
    assert by_service == {
        "checkout": {"total": 15, "errors": 15},
        "web": {"total": 15, "errors": 0},
    }
    checkout = [p for p in body["series"] if p["service"] == "checkout"]
    assert all(p["error_rate"] == 1.0 for p in checkout)
    counts = {t["example"].split()[0]: t["count"] for t in body["top_templates"]}
    assert counts == {"payment": 15, "request": 15}, "one template per kind of line"
    only_web = client.get(
        "/api/v1/stats", params={"service": "web", "top": 0}, headers=headers
    ).json()
    assert {p["service"] for p in only_web["series"]} == {"web"}
    assert only_web["top_templates"] == []
    too_fine = client.get(
        "/api/v1/stats",
        params={"interval": 1, "since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
        headers=headers,
    )
    assert too_fine.status_code == 400
    assert "interval" in too_fine.text


def test_template_and_pod_filters(viewer: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = viewer
    payment = get(client, headers, q="payment", limit=1)["items"][0]
    assert payment["template_id"], "the processor mined a template"
    same = get(client, headers, template=payment["template_id"])["items"]
    assert len(same) == 15
    assert {item["service"] for item in same} == {"checkout"}
    web = get(client, headers, pod="web-1")["items"]
    assert len(web) == 15
    assert {item["pod"] for item in web} == {"web-1"}


def test_a_line_is_read_with_its_pods_lines_around_it(
    viewer: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = viewer
    seventh = get(client, headers, q="request 7 served")["items"]
    line = next(item for item in seventh if item["message"] == "request 7 served")
    answer = client.get(
        "/api/v1/logs/context",
        params={"timestamp": line["timestamp"], "id": line["id"], "lines": 3},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["line"]["id"] == line["id"]
    assert [item["message"] for item in found["before"]] == [
        f"request {n} served" for n in (4, 5, 6)
    ], "the same pod's lines only, oldest first"
    assert [item["message"] for item in found["after"]] == [
        f"request {n} served" for n in (8, 9, 10)
    ]
    missing = client.get(
        "/api/v1/logs/context",
        params={"timestamp": line["timestamp"], "id": line["id"] + 10_000},
        headers=headers,
    )
    assert missing.status_code == 404
    assert "no stored line" in missing.text


def test_pipeline_lag_per_partition_and_dead_letters(
    viewer: tuple[TestClient, dict[str, str]], kafka_bootstrap: str, kafka_topic: str
) -> None:
    client, headers = viewer

    def report() -> dict[str, Any]:
        answer = client.get("/api/v1/pipeline", headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    eventually("the processor's heartbeats are listed", lambda: report()["partitions"], 30)
    assert {p["topic"] for p in report()["partitions"]} == {kafka_topic}
    assert report()["dead_letters"]["total"] == 0
    produce(kafka_bootstrap, kafka_topic, [(b"shop/web", b"{not json")])
    eventually(
        "the malformed record is a dead letter",
        lambda: report()["dead_letters"]["total"] == 1,
        60,
    )
    letters = report()["dead_letters"]
    assert letters["last_hour"] == 1
    (letter,) = letters["latest"]
    assert letter["source"].startswith(f"{kafka_topic}/")
    assert letter["reason"]
    assert "payload" not in letter, "the payload stays in the database"
    bounded = client.get("/api/v1/pipeline", params={"max_lag": 0}, headers=headers)
    assert bounded.status_code == 422
