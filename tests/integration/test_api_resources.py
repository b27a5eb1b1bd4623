"""Rules and playbooks through the API in local mode: validated with the domain models (errors
name the field), kept as YAML files that the processors' directory rule source loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from logsentinel.manifests import load_rules

pytestmark = pytest.mark.integration

ADMIN = ("root", "correct horse battery staple")
RULE = {
    "match": {"levels": ["error"]},
    "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
    "severity": "high",
    "incidentType": "ErrorBurst",
}


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="resources-secret-" + "x" * 40,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        manifests_directory=tmp_path / "manifests",
    )
    with TestClient(create_app(settings)) as running:
        token = running.post(
            "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        running.headers["Authorization"] = f"Bearer {token}"
        yield running


def test_rule_life_cycle_in_files_the_processors_read(client: TestClient, tmp_path: Path) -> None:
    created = client.put("/api/v1/rules/shop/error-burst", json=RULE)
    assert created.status_code == 201, created.text
    assert created.json()["spec"]["detector"]["threshold"]["count"] == 5
    loaded = load_rules([tmp_path / "manifests"])
    assert [r.metadata.name for r in loaded.rules] == ["error-burst"], "processors can read it"
    changed = client.put(
        "/api/v1/rules/shop/error-burst",
        json={**RULE, "detector": {"type": "threshold", "threshold": {"count": 9}}},
    )
    assert changed.status_code == 200
    got = client.get("/api/v1/rules/shop/error-burst").json()
    assert got["spec"]["detector"]["threshold"]["count"] == 9
    assert [r["metadata"]["name"] for r in client.get("/api/v1/rules").json()] == ["error-burst"]
    assert client.get("/api/v1/rules", params={"namespace": "other"}).json() == []
    assert client.delete("/api/v1/rules/shop/error-burst").status_code == 204
    assert client.get("/api/v1/rules/shop/error-burst").status_code == 404
    assert client.delete("/api/v1/rules/shop/error-burst").status_code == 404


def test_invalid_specs_name_the_field(client: TestClient) -> None:
    answer = client.put(
        "/api/v1/rules/shop/bad",
        json={
            **RULE,
            "detector": {
                "type": "zscore",
                "zscore": {"sigma": 3, "minCount": 5, "window": "5m", "baseline": "5m"},
            },
        },
    )
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]  # FastAPI's validation errors, as the schema documents
    assert problem["loc"] == ["body", "detector", "zscore"]
    assert problem["ctx"]["field"] == "baseline", "a check across fields names the field too"
    assert "3 windows" in problem["msg"]
    playbook = client.put("/api/v1/playbooks/shop/p", json={"mode": "auto", "steps": []})
    assert playbook.status_code == 422
    assert [p["loc"] for p in playbook.json()["detail"]] == [["body", "steps"]]
    assert client.get("/api/v1/playbooks").json() == []


def test_playbooks_are_written_by_admins(client: TestClient) -> None:
    body = {"mode": "dryRun", "steps": [{"type": "rolloutRestart"}]}
    assert client.put("/api/v1/playbooks/shop/rehearse", json=body).status_code == 201
    assert client.get("/api/v1/playbooks/shop/rehearse").json()["spec"]["mode"] == "dryRun"
