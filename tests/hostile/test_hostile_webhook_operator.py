"""The webhook SSRF probe, end to end: `logsentinel operator` on the local stack runs Playbooks
whose notify steps point at the apiserver, at PostgreSQL, and at an allow-listed receiver that
answers 500 with something secret. The Incidents, readable by every viewer, must show the two
internal targets refused by the outbound policy (nothing was posted to them) and only the status
code of the receiver's answer.

Only loopback is used: the apiserver and PostgreSQL of the local stack, and a receiver on
127.0.0.2 (the one address the operator is told to allow).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from support.operator import Cluster

pytestmark = pytest.mark.e2e

SECRET = "SECRET-pg_hba-md5-8f14e45fceea167a"
REFUSED = "target refused by the outbound policy"


class LeakyReceiver:
    """Answers every POST with 500 and a body that must never reach an Incident."""

    def __init__(self) -> None:
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts += 1
                body = f"internal error: {SECRET}".encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.url = f"http://127.0.0.2:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def notify_playbook(cluster: Cluster, name: str, url: str) -> None:
    cluster.playbook(
        name,
        "auto",
        [{"type": "notify", "notify": {"webhook": {"url": url}, "retries": 0}}],
        triggers={"rules": [name]},
    )


def test_incidents_show_refused_internal_targets_and_no_answer_bodies(
    cluster: Cluster, kube_config: str, database_url: str
) -> None:
    apiserver = yaml.safe_load(Path(kube_config).read_text())["clusters"][0]["cluster"]["server"]
    postgres_port = psycopg.conninfo.conninfo_to_dict(database_url)["port"]
    receiver = LeakyReceiver()
    try:
        cluster.deploy("checkout")
        notify_playbook(cluster, "probe-apiserver", f"{apiserver}/api/v1/secrets")
        notify_playbook(cluster, "probe-postgres", f"http://localhost:{postgres_port}/")
        notify_playbook(cluster, "probe-receiver", receiver.url)
        cluster.start_operator(extra_env={"LOGSENTINEL_NOTIFY_ALLOWED_TARGETS": '["127.0.0.2"]'})
        for rule in ("probe-apiserver", "probe-postgres", "probe-receiver"):
            cluster.incident(f"inc-{rule}", "checkout", rule=rule)

        messages = {}
        for rule in ("probe-apiserver", "probe-postgres", "probe-receiver"):
            status = cluster.wait_phase(f"inc-{rule}", {"Escalated", "Mitigated"})
            [action] = status["actions"]
            assert action["result"] == "Failed", action
            messages[rule] = action["message"]
    finally:
        receiver.close()

    assert messages["probe-apiserver"].endswith(f"failed after 1 attempt: {REFUSED}"), messages
    assert messages["probe-postgres"].endswith(f"failed after 1 attempt: {REFUSED}"), messages
    assert messages["probe-receiver"] == (
        f"notify failed: webhook to http://127.0.0.2:{receiver.server.server_port} "
        "failed after 1 attempt: answered 500"
    )
    assert receiver.posts == 1
    assert all(SECRET not in message for message in messages.values())
