"""Kafka stopped in the middle of ingest traffic: nothing is acknowledged that Kafka did not
take, and no request is half stored.

The test runs its own Kafka broker (the shared one must keep serving other tests), keeps four
clients posting batches of uniquely numbered records, freezes the broker with SIGSTOP while
requests are in flight, lets the API answer them, resumes the broker and waits until ingest
works again. Then every committed record is read back with isolation.level=read_committed
(what the processors use) and each request is checked against its answer. Finally no committer
thread and no Kafka producer may outlive the app (a failed call's frames once kept dropped
producers, with their threads and connections, alive).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient

from devstack.kafka import Kafka
from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from support.kafka import create_topic, read_committed

pytestmark = pytest.mark.integration

ADMIN = ("root", "correct horse battery staple")
SENDERS = 4
RECORDS_PER_REQUEST = 20


@dataclass
class Answers:
    """What each request was answered, by request id (its records carry the id)."""

    status: dict[str, int] = field(default_factory=dict)
    retry_after: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> int:
        with self.lock:
            return sum(1 for s in self.status.values() if s == status)


@pytest.fixture
def own_kafka() -> Iterator[Kafka]:
    broker = Kafka(name="kafka-outage")
    broker.start()
    try:
        yield broker
    finally:
        pid = broker.daemon.pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a stopped JVM cannot shut down
        broker.stop()


def wait_until(what: str, condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)  # polling a condition with a deadline


def committer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ingest-commit")]


def batch(request_id: str) -> bytes:
    stamp = datetime.now(UTC).isoformat()
    return b"\n".join(
        json.dumps(
            {
                "timestamp": stamp,
                "level": "error",
                "message": f"request {request_id} record {n}",
                "service": f"svc-{n % 5}",  # several keys, so several partitions per request
                "namespace": "outage",
                "attributes": {"request": request_id},
            }
        ).encode()
        for n in range(RECORDS_PER_REQUEST)
    )


def send_until_stopped(
    client: TestClient, headers: dict[str, str], answers: Answers, stop: threading.Event
) -> None:
    while not stop.is_set():
        request_id = uuid.uuid4().hex
        answer = client.post("/api/v1/ingest", content=batch(request_id), headers=headers)
        with answers.lock:
            answers.status[request_id] = answer.status_code
            answers.retry_after[request_id] = answer.headers.get("retry-after")


def test_kafka_stopped_mid_request_acknowledges_nothing_it_did_not_take(
    database_url: str, own_kafka: Kafka
) -> None:
    bootstrap = own_kafka.address()
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=3)
    settings = ApiSettings(
        database_url=database_url,
        jwt_secret="outage-secret-" + "x" * 40,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        kafka_bootstrap=bootstrap,
        kafka_topic=topic,
        ingest_timeout=timedelta(seconds=3),
        ingest_producers=2,
        requests_per_second=100_000,
        request_burst=100_000,
    )
    answers = Answers()
    stop = threading.Event()
    broker_pid = own_kafka.daemon.pid()
    assert broker_pid is not None
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        key = client.post(
            "/api/v1/api-keys",
            json={"name": "outage"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["key"]
        senders = [
            threading.Thread(
                target=send_until_stopped, args=(client, {"X-API-Key": key}, answers, stop)
            )
            for _ in range(SENDERS)
        ]
        for sender in senders:
            sender.start()
        try:
            wait_until("20 requests were accepted", lambda: answers.count(202) >= 20, 60)
            os.kill(broker_pid, signal.SIGSTOP)
            try:
                wait_until("8 requests were refused", lambda: answers.count(503) >= 8, 90)
            finally:
                os.kill(broker_pid, signal.SIGCONT)
            accepted_before = answers.count(202)
            wait_until(
                "ingest works again after Kafka resumed",
                lambda: answers.count(202) >= accepted_before + 20,
                120,
            )
        finally:
            stop.set()
            for sender in senders:
                sender.join(timeout=60)

    # the committers ended with the app and their producers are gone (no threads left behind)
    wait_until("the ingest committers ended", lambda: not committer_threads(), 60)
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Producer)], "a producer leaked"

    stored: dict[str, list[str]] = {}
    for message in read_committed(bootstrap, topic, timeout=90):
        document = json.loads(message.value())
        stored.setdefault(document["attributes"]["request"], []).append(document["message"])
    statuses = dict(answers.status)
    assert set(statuses.values()) <= {202, 503, 504}, statuses
    for request_id, status in statuses.items():
        kept = len(stored.get(request_id, ()))
        if status == 202:
            assert kept == RECORDS_PER_REQUEST, f"202 for {request_id} but {kept} records kept"
        elif status == 503:
            assert kept == 0, f"503 for {request_id} but {kept} of its records were kept"
            assert answers.retry_after[request_id] == "5"
        else:  # 504: the outcome was unknown when the API answered; still all or nothing
            assert kept in (0, RECORDS_PER_REQUEST), f"504 for {request_id}: {kept} kept"
    assert set(stored) <= set(statuses), "records of a request nobody sent"
    assert all(len(set(messages)) == len(messages) for messages in stored.values()), "twice"
