"""Ingest throughput: `logsentinel api` with one uvicorn worker against the local Kafka.

Starts the API as its own process (one worker, ingest to a fresh topic, a fresh database for
users and keys, rate limits lifted), creates an ingest API key, then drives POST /api/v1/ingest
from wrk (Debian package `wrk`, installed when missing) on loopback: first batches of
`--batch` records per request, then single records. Every answer must be 202; at the end the
topic must hold at least as many records as the API acknowledged (an acknowledgement Kafka did
not back would be a lie).

Uses the local stack (make up; or LOGSENTINEL_DATABASE_URL and LOGSENTINEL_KAFKA_BOOTSTRAP).
Last line:
RESULT ingest_batched_logs_per_s=<a> ingest_single_req_per_s=<b> ingest_single_p99_ms=<c>
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]

from benchkit import fresh_database, say, wait_for  # noqa: E402

ADMIN = ("bench-admin", "bench-admin-password-0123")
SERVICES = ("checkout", "payments", "search", "cart", "auth", "catalog", "orders", "mail")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
wrk.headers["X-API-Key"] = "{key}"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


@dataclass(frozen=True)
class WrkRun:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int  # non-2xx answers plus socket errors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("installing wrk (apt-get install wrk)")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def records(count: int, seed: int) -> bytes:
    now = datetime.now(UTC)
    lines = []
    for index in range(count):
        service = SERVICES[(seed + index) % len(SERVICES)]
        lines.append(
            json.dumps(
                {
                    "timestamp": now.isoformat(),
                    "level": "error" if index % 10 == 0 else "info",
                    "message": f"GET /api/items/{seed + index} status=200 latency_ms={index % 97}",
                    "service": service,
                    "namespace": "bench",
                    "pod": f"{service}-7d9f8-abc{index % 5}",
                    "labels": {"app": service},
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    wrk: str, url: str, key: str, body: bytes, connections: int, seconds: int, workdir: Path
) -> WrkRun:
    body_file = workdir / f"body-{uuid.uuid4().hex}.ndjson"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT.format(key=key, body=body_file))
    done = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    print(out, file=(workdir / "wrk.log").open("a"))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # anchored: a line such as "Req/Sec ... 81.99%" must not pass for the 99th percentile
    p50 = milliseconds(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = milliseconds(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    if errors:
        failed += sum(int(n) for n in errors.groups())
    return WrkRun(total, rate, p50, p99, failed)


def transactions(base: str) -> tuple[float, float, float]:
    """(transactions, seconds in them, requests in them) so far, from the API's /metrics."""
    values = {"count": 0.0, "seconds": 0.0, "requests": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        for sample in family.samples:
            if sample.name == "logsentinel_ingest_transaction_seconds_count":
                values["count"] = sample.value
            elif sample.name == "logsentinel_ingest_transaction_seconds_sum":
                values["seconds"] = sample.value
            elif sample.name == "logsentinel_ingest_transaction_requests_sum":
                values["requests"] = sample.value
    return values["count"], values["seconds"], values["requests"]


def describe_transactions(
    before: tuple[float, float, float], after: tuple[float, float, float]
) -> str:
    count = after[0] - before[0]
    if not count:
        return "no transactions"
    return (
        f"{count:.0f} Kafka transactions, {1000 * (after[1] - before[1]) / count:.1f} ms and "
        f"{(after[2] - before[2]) / count:.1f} requests each on average"
    )


def topic_size(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        total = 0
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100, help="records per batched request")
    parser.add_argument("--seconds", type=int, default=15, help="per phase")
    parser.add_argument("--batched-connections", type=int, default=16)
    parser.add_argument("--single-connections", type=int, default=64)
    parser.add_argument("--partitions", type=int, default=6)
    options = parser.parse_args()

    server = os.environ.get("LOGSENTINEL_DATABASE_URL")
    bootstrap = os.environ.get("LOGSENTINEL_KAFKA_BOOTSTRAP")
    if not server or not bootstrap:
        raise SystemExit("needs the local stack: run `make up` (or set the LOGSENTINEL_* vars)")
    wrk = wrk_binary()
    database_url = fresh_database(server, "bench_ingest")
    topic = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, options.partitions, 1)])[topic].result(30)

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    api_log = workdir / "api.log"
    environment = {
        **os.environ,
        "LOGSENTINEL_DATABASE_URL": database_url,
        "LOGSENTINEL_JWT_SECRET": "bench-" + "s" * 40,
        "LOGSENTINEL_ADMIN_USERNAME": ADMIN[0],
        "LOGSENTINEL_ADMIN_PASSWORD": ADMIN[1],
        "LOGSENTINEL_KAFKA_BOOTSTRAP": bootstrap,
        "LOGSENTINEL_KAFKA_TOPIC": topic,
        "LOGSENTINEL_REQUESTS_PER_SECOND": "1000000000",
        "LOGSENTINEL_REQUEST_BURST": "1000000000",
        "LOGSENTINEL_HOST": "127.0.0.1",
        "LOGSENTINEL_PORT": str(port),
        "LOGSENTINEL_LOG_LEVEL": "warning",
        "LOGSENTINEL_MANIFESTS_DIRECTORY": str(workdir / "manifests"),
    }
    say(f"starting the API (one uvicorn worker) on 127.0.0.1:{port}, topic {topic}")
    with api_log.open("w") as log_file:
        api = subprocess.Popen(
            [sys.executable, "-m", "logsentinel.cli", "api"],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if api.poll() is not None:
                raise SystemExit(f"the API exited; see {api_log}:\n{api_log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the API's /readyz", ready, timeout=60)
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        key = httpx.post(
            f"{base}/api/v1/api-keys",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["key"]
        url = f"{base}/api/v1/ingest"

        say("warm-up: 3 s of batched requests")
        run_wrk(wrk, url, key, records(options.batch, 0), 4, 3, workdir)
        say(
            f"batched: {options.batch} records per request, {options.batched_connections} "
            f"connections, {options.seconds} s"
        )
        before = transactions(base)
        batched = run_wrk(
            wrk,
            url,
            key,
            records(options.batch, 1),
            options.batched_connections,
            options.seconds,
            workdir,
        )
        say(
            f"batched: {batched.requests} requests, {batched.requests_per_s:.0f} req/s = "
            f"{batched.requests_per_s * options.batch:.0f} logs/s, p50 {batched.p50_ms:.1f} ms, "
            f"p99 {batched.p99_ms:.1f} ms, failed {batched.failed}"
        )
        after = transactions(base)
        say(f"batched: {describe_transactions(before, after)}")
        before = after
        say(f"single: 1 record per request, {options.single_connections} connections")
        single = run_wrk(
            wrk,
            url,
            key,
            records(1, 2),
            options.single_connections,
            options.seconds,
            workdir,
        )
        say(
            f"single: {single.requests} requests, {single.requests_per_s:.0f} req/s, "
            f"p50 {single.p50_ms:.1f} ms, p99 {single.p99_ms:.1f} ms, failed {single.failed}"
        )
        say(f"single: {describe_transactions(before, transactions(base))}")
        if batched.failed or single.failed:
            raise SystemExit(
                f"{batched.failed + single.failed} requests were not answered 202; see {api_log}"
            )
        stored = topic_size(bootstrap, topic, options.partitions)
        say(f"the topic holds {stored} records")
        # wrk counts only completed requests; each was a 202, so Kafka must hold at least these
        acknowledged = batched.requests * options.batch + single.requests
        if stored < acknowledged:
            raise SystemExit(f"{acknowledged} records acknowledged but only {stored} in Kafka")
        print(
            f"RESULT ingest_batched_logs_per_s={batched.requests_per_s * options.batch:.0f} "
            f"ingest_single_req_per_s={single.requests_per_s:.0f} "
            f"ingest_single_p99_ms={single.p99_ms:.1f}",
            flush=True,
        )
    finally:
        api.terminate()
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
        admin.delete_topics([topic])
        say(f"wrk output and the API log: {workdir}")


if __name__ == "__main__":
    main()
