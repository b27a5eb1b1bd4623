"""The operator's health endpoint setting: the URL handed to Kopf, or none."""

from __future__ import annotations

import pytest

from logsentinel.operator.settings import OperatorSettings


@pytest.fixture(autouse=True)
def database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSENTINEL_DATABASE_URL", "postgresql://localhost/x")


def test_kopf_serves_healthz_on_all_interfaces_by_default() -> None:
    assert OperatorSettings().liveness_endpoint == "http://0.0.0.0:8080/healthz"


def test_the_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSENTINEL_HEALTH_PORT", "9090")
    assert OperatorSettings().liveness_endpoint == "http://0.0.0.0:9090/healthz"


def test_port_zero_turns_the_endpoint_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSENTINEL_HEALTH_PORT", "0")
    assert OperatorSettings().liveness_endpoint is None
