"""POST /api/v1/ingest against real PostgreSQL and Kafka: valid, partly invalid, gzip, JSON array
and NDJSON, size limits, and Kafka unavailable (503, nothing acknowledged)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devstack.proc import free_port
from logsentinel.api.app import create_app
from logsentinel.api.routes import ingest as ingest_route
from logsentinel.api.settings import ApiSettings
from logsentinel.parsing.decoder import RecordDecoder
from logsentinel.storage.urls import libpq_url
from support.kafka import create_topic, read_all

pytestmark = pytest.mark.integration

SECRET = "ingest-secret-" + "x" * 40
ADMIN = ("root", "correct horse battery staple")


def app(database_url: str, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": SECRET,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "kafka_bootstrap": None,  # not from the environment: local mode unless a test says
    }
    values.update(overrides)
    return TestClient(create_app(ApiSettings(**values)))


def key_headers(client: TestClient) -> dict[str, str]:
    tokens = client.post(
        "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    ).json()
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "checkout"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    return {"X-API-Key": created.json()["key"]}


def record(n: int, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "error" if n % 2 else "info",
        "message": f"order {n} failed: gateway timeout",
        "service": "checkout",
        "namespace": "shop",
    }
    document.update(changes)
    return document


def ndjson(documents: list[Any]) -> bytes:
    return b"\n".join(json.dumps(d).encode() for d in documents) + b"\n"


def stored_messages(database_url: str) -> list[str]:
    with psycopg.connect(libpq_url(database_url)) as connection:
        return [row[0] for row in connection.execute("SELECT message FROM logs ORDER BY message")]


@pytest.fixture
def local(database_url: str) -> Iterator[TestClient]:
    with app(database_url) as client:
        yield client


def test_ndjson_partly_invalid_stores_the_valid_lines_and_names_the_bad_ones(
    local: TestClient, database_url: str
) -> None:
    documents = [
        record(1),
        record(2, service=""),
        record(3),
        {"message": "no time"},
        record(6, source={"topic": "logs", "partition": 0, "offset": 7}),
        [record(7)],
    ]
    body = ndjson(documents[:2]) + b"{not json\n" + ndjson(documents[2:])
    answer = local.post("/api/v1/ingest", content=body, headers=key_headers(local))
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    assert [r["line"] for r in result["rejected"]] == [2, 3, 5, 6, 7]
    assert "service" in result["rejected"][0]["error"]
    assert "not valid JSON" in result["rejected"][1]["error"]
    assert "timestamp" in result["rejected"][2]["error"]
    assert "source: set by Log Sentinel" in result["rejected"][3]["error"]
    assert result["rejected"][4]["error"] == "a record must be a JSON object"
    assert stored_messages(database_url) == [
        "order 1 failed: gateway timeout",
        "order 3 failed: gateway timeout",
    ], "202 means the valid records are stored"


def test_gzipped_json_array(local: TestClient, database_url: str) -> None:
    body = gzip.compress(json.dumps([record(n) for n in range(50)]).encode())
    answer = local.post(
        "/api/v1/ingest",
        content=body,
        headers={
            **key_headers(local),
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 50, "rejected": []}
    assert len(stored_messages(database_url)) == 50


def test_limits_and_unreadable_bodies(database_url: str) -> None:
    with app(database_url, ingest_max_bytes=2048, ingest_max_decompressed_bytes=4096) as client:
        headers = key_headers(client)
        big = ndjson([record(n) for n in range(40)])
        assert client.post("/api/v1/ingest", content=big, headers=headers).status_code == 413
        bomb = gzip.compress(b" " * 100_000)
        answer = client.post(
            "/api/v1/ingest", content=bomb, headers={**headers, "Content-Encoding": "gzip"}
        )
        assert answer.status_code == 413, "decompressed size is limited too"
        not_gzip = client.post(
            "/api/v1/ingest", content=b"plain", headers={**headers, "Content-Encoding": "gzip"}
        )
        assert not_gzip.status_code == 400
        assert "gzip" in not_gzip.text
        broken_array = client.post("/api/v1/ingest", content=b"[{", headers=headers)
        assert broken_array.status_code == 400
        nothing_valid = client.post(
            "/api/v1/ingest", content=ndjson([{"message": "x"}]), headers=headers
        )
        assert nothing_valid.status_code == 400
        assert nothing_valid.json()["detail"]["rejected"][0]["line"] == 1
    assert stored_messages(database_url) == []


def test_kafka_mode_answers_after_kafka_has_the_records(
    database_url: str, kafka_bootstrap: str
) -> None:
    topic = f"ingest-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=2)
    with app(database_url, kafka_bootstrap=kafka_bootstrap, kafka_topic=topic) as client:
        answer = client.post(
            "/api/v1/ingest",
            content=ndjson([record(n) for n in range(10)]),
            headers=key_headers(client),
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 10
    messages: list[Any] = read_all(kafka_bootstrap, topic, 10)
    decoder = RecordDecoder()
    decoded = [decoder.decode(m.value(), dict(m.headers() or [])) for m in messages]
    assert sorted(r.message for r in decoded) == sorted(
        f"order {n} failed: gateway timeout" for n in range(10)
    )
    assert {m.key() for m in messages} == {b"shop/checkout"}, "keyed by namespace/service"
    assert stored_messages(database_url) == [], "the processors store them, not the API"


def test_kafka_unavailable_is_503_with_retry_after(database_url: str) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    with app(database_url, kafka_bootstrap=nowhere, ingest_timeout=timedelta(seconds=2)) as client:
        answer = client.post(
            "/api/v1/ingest", content=ndjson([record(1)]), headers=key_headers(client)
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert "Kafka" in answer.json()["detail"]


def test_readiness_includes_kafka_when_ingest_produces_to_it(
    database_url: str, kafka_bootstrap: str
) -> None:
    with app(database_url, kafka_bootstrap=kafka_bootstrap) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok", "ingest": "ok"}
    nowhere = f"127.0.0.1:{free_port()}"
    with app(database_url, kafka_bootstrap=nowhere) as client:
        unready = client.get("/readyz")
        assert unready.status_code == 503
        assert unready.json()["database"] == "ok"
        assert unready.json()["ingest"].startswith("Kafka unreachable")


def _without_fast_path(client: TestClient) -> TestClient:
    """The same app with IngestFastPath taken out, so that FastAPI's route answers ingest."""
    application = client.app
    middlewares = application.user_middleware  # type: ignore[attr-defined]
    kept = [m for m in middlewares if m.cls is not ingest_route.IngestFastPath]
    assert len(kept) == len(middlewares) - 1, "create_app installs the fast path"
    application.user_middleware = kept  # type: ignore[attr-defined]
    application.middleware_stack = None  # type: ignore[attr-defined]  # rebuilt on the next call
    return client


def test_the_fast_path_answers_as_the_fastapi_route_does(database_url: str) -> None:
    """Status, body and headers (security headers, WWW-Authenticate, Retry-After...) of the
    fast path and of the route it stands in front of, for each kind of answer."""
    bodies = {
        "valid": ndjson([record(1), record(2, level="loud"), record(3)]),
        "nothing valid": ndjson([record(1, service="")]),
        "unreadable": b"[{",
        "too many records": ndjson([record(n) for n in range(6)]),
    }

    def answers(client: TestClient) -> list[tuple[int, Any, dict[str, str]]]:
        headers = key_headers(client)
        calls = [
            client.post("/api/v1/ingest", content=body, headers=headers) for body in bodies.values()
        ]
        calls.append(client.post("/api/v1/ingest", content=bodies["valid"]))  # no credentials
        for keys in ([headers["X-API-Key"], "lsk_0_wrong"], ["lsk_0_wrong", headers["X-API-Key"]]):
            repeated = [("X-API-Key", key) for key in keys]  # the first one counts
            calls.append(client.post("/api/v1/ingest", content=bodies["valid"], headers=repeated))
        admin = client.post(
            "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        calls.append(
            client.post(
                "/api/v1/ingest",
                content=bodies["valid"],
                headers={"Authorization": f"Bearer {admin}", "Content-Encoding": "br"},
            )
        )
        viewer = {"username": "watcher", "password": "a viewer's long password", "role": "viewer"}
        client.post("/api/v1/users", json=viewer, headers={"Authorization": f"Bearer {admin}"})
        token = client.post("/api/v1/auth/login", json=viewer).json()["access_token"]
        calls.append(
            client.post(
                "/api/v1/ingest",
                content=bodies["valid"],
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        return [
            (
                answer.status_code,
                answer.json(),
                {k: v for k, v in answer.headers.items() if k not in ("content-length", "date")},
            )
            for answer in calls
        ]

    with app(database_url, ingest_max_records=5) as fast:
        through_fast_path = answers(fast)
    with app(database_url, ingest_max_records=5) as client:
        through_route = answers(_without_fast_path(client))
    assert [status for status, _, _ in through_fast_path] == [
        202,
        400,
        400,
        413,
        401,
        202,
        401,
        400,
        403,
    ]
    assert through_fast_path == through_route
