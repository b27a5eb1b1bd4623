"""Incidents, their events and the rule aggregates on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from logsentinel.domain.bucket import RuleBucket
from logsentinel.domain.common import WorkloadKind, WorkloadRef
from logsentinel.domain.incident import Evidence, EvidenceSample, IncidentSpec
from logsentinel.storage import buckets, migrate
from logsentinel.storage import incidents as store
from logsentinel.storage.urls import libpq_url

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def connection(database_url: str) -> Any:
    migrate.upgrade(database_url)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as opened:
        yield opened


def spec(print_: str = "ab" * 16, occurrences: int = 1) -> IncidentSpec:
    return IncidentSpec(
        rule="errors",
        incident_type="ErrorBurst",
        severity="high",  # type: ignore[arg-type]
        fingerprint=print_,
        service="checkout",
        first_seen=T0,
        last_seen=T0,
        occurrences=occurrences,
        evidence=Evidence(samples=[EvidenceSample(timestamp=T0, message="boom")]),
    )


def open_one(connection: Any, name: str, print_: str = "ab" * 16, partition: int = 0) -> str:
    return store.open_incident(
        connection,
        name=name,
        namespace="shop",
        rule="shop/errors",
        group_key={"namespace": "shop", "service": "checkout"},
        spec=spec(print_),
        source=("logs", partition),
    )


def test_one_open_incident_per_fingerprint(connection: Any) -> None:
    assert open_one(connection, "errors-1") == "errors-1"
    assert open_one(connection, "errors-2") == "errors-1", "the second opener joins the first"
    assert connection.execute("SELECT count(*) FROM incidents").fetchone() == (1,)
    assert [e["kind"] for e in store.events(connection, "errors-1")] == ["opened"]


def test_an_incident_names_its_rule_and_group_key(connection: Any) -> None:
    open_one(connection, "errors-1")
    assert store.rule_and_group_key(connection, "errors-1", "shop") == (
        "shop/errors",
        {"namespace": "shop", "service": "checkout"},
    )
    assert store.rule_and_group_key(connection, "errors-1", "other") is None


def test_recur_resolve_and_reopen(connection: Any) -> None:
    open_one(connection, "errors-1")
    assert store.record_recurrence(
        connection,
        "errors-1",
        occurrences=3,
        last_seen=T0 + timedelta(minutes=2),
        evidence=Evidence(),
    )
    row = connection.execute(
        "SELECT occurrences, last_seen, evidence FROM incidents WHERE name = 'errors-1'"
    ).fetchone()
    assert row == (3, T0 + timedelta(minutes=2), {"samples": [], "templateIds": [], "offsets": []})
    store.set_target(
        connection,
        "errors-1",
        WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="shop", name="checkout"),
    )

    assert store.resolve_incident(
        connection, "errors-1", at=T0 + timedelta(hours=1), resolution="quiet"
    )
    assert not store.resolve_incident(connection, "errors-1", at=T0, resolution="again")
    assert not store.record_recurrence(
        connection, "errors-1", occurrences=4, last_seen=T0, evidence=Evidence()
    ), "a resolved incident does not recur"
    assert not store.is_open(connection, "errors-1")
    assert [e["kind"] for e in store.events(connection, "errors-1")] == [
        "opened",
        "recurred",
        "resolved",
    ]
    assert open_one(connection, "errors-2") == "errors-2", "after resolution a new one opens"
    resolutions = store.last_resolutions(connection, "logs", [0], T0)
    assert resolutions == {"ab" * 16: T0 + timedelta(hours=1)}


def test_open_incidents_are_loaded_per_partition(connection: Any) -> None:
    open_one(connection, "errors-1", "aa" * 16, partition=0)
    open_one(connection, "errors-2", "bb" * 16, partition=1)
    loaded = store.open_incidents(connection, "logs", [1])
    assert [(i.name, i.source_partition, i.spec.fingerprint) for i in loaded] == [
        ("errors-2", 1, "bb" * 16)
    ]
    assert loaded[0].group_key == {"namespace": "shop", "service": "checkout"}
    assert loaded[0].spec.evidence.samples[0].message == "boom"


def test_bucket_counts_add_up_and_load_by_partition(connection: Any) -> None:
    width = timedelta(minutes=1)
    row = RuleBucket("shop/errors", ("shop", "checkout"), T0, width, 2, 5, (), ("logs", 0))
    buckets.add_buckets(connection, [row, row])
    buckets.add_buckets(
        connection,
        [
            RuleBucket("shop/errors", ("shop", "search"), T0, width, 1, 1, (1.5, 2.0), ("logs", 1)),
            RuleBucket(
                "shop/errors",
                ("shop", "checkout"),
                T0 - timedelta(days=9),
                width,
                9,
                9,
                (),
                ("logs", 0),
            ),
        ],
    )
    loaded = buckets.load_buckets(connection, ["shop/errors"], "logs", [0], T0 - timedelta(hours=1))
    assert [(b.key, b.matched, b.total) for b in loaded] == [(("shop", "checkout"), 4, 10)]
    other = buckets.load_buckets(connection, ["shop/errors"], "logs", [1], T0 - timedelta(hours=1))
    assert other[0].features == (1.5, 2.0)
    recent = buckets.recent_counts(connection, "shop/errors", ("shop", "checkout"), T0)
    assert [(b.matched, b.total) for b in recent] == [(4, 10)]
    assert buckets.delete_older_than(connection, T0 - timedelta(days=7)) == 1
