"""An incident opened straight in PostgreSQL (as a processor would), for API tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from logsentinel.domain.incident import IncidentSpec
from logsentinel.storage import incidents
from logsentinel.storage.urls import libpq_url


def open_sample_incident(
    database_url: str,
    name: str,
    severity: str = "high",
    minutes_ago: int = 5,
    **spec_fields: Any,
) -> None:
    """An ErrorBurst of shop/checkout from the rule shop/error-burst; spec_fields add to or
    replace the spec (camelCase, as in the CRD); `seen` in them is minutes_ago."""
    seen = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    document: dict[str, Any] = {
        "rule": "error-burst",
        "incidentType": "ErrorBurst",
        "severity": severity,
        "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:32],
        "service": "checkout",
        "firstSeen": seen,
        "lastSeen": seen,
        "evidence": {"samples": [{"timestamp": seen, "message": f"{name}: gateway timeout"}]},
    }
    document.update(spec_fields)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        incidents.open_incident(
            connection,
            name=name,
            namespace="shop",
            rule="shop/error-burst",
            group_key={"service": "checkout"},
            spec=IncidentSpec.model_validate(document),
            source=("logs", 0),
        )
