"""Notifications delivered to real servers on loopback: an HTTP webhook receiver that can be
told to fail first, and an aiosmtpd SMTP server. Retry pauses go to a recorder instead of sleep,
so the tests check the policy's timing without waiting for it. Loopback is allowed the way an
operator allows an in-cluster receiver (LOGSENTINEL_NOTIFY_ALLOWED_TARGETS)."""

from __future__ import annotations

import email
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devstack.proc import free_port
from logsentinel.domain import Incident
from logsentinel.remediation.notify import (
    RETRY_AFTER_CAP,
    Notification,
    NotifyError,
    SmtpSettings,
    notification_for,
    send_email,
    send_webhook,
)
from logsentinel.remediation.outbound import OutboundPolicy

pytestmark = pytest.mark.integration

INCIDENT_FILE = Path(__file__).parents[1] / "fixtures" / "incident.yaml"
SECRET_PATH = "/services/T0000/B0000/XXXXSECRETXXXX?token=SECRETQUERY"
STALL_LIMIT = 30.0  # a stalled answer is released at teardown at the latest
LOOPBACK = OutboundPolicy.allowing(["127.0.0.1"])


@pytest.fixture
def note() -> Notification:
    resource = Incident.from_manifest(yaml.safe_load(INCIDENT_FILE.read_text()))
    return notification_for(
        resource, "Restarting checkout.", playbook="restart-on-errors", step="tell-oncall"
    )


@pytest.fixture
def pauses() -> list[float]:
    """Stands in for time.sleep: records each pause between attempts."""
    return []


# --- an HTTP webhook receiver -----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    stall: bool = False  # hold the answer until the client has given up


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """Records every POST and answers from a script, then 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Answer] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon shutdown() is noticed
            name="webhook-receiver",
        )

    def url(self, path: str = SECRET_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer_first(self, times: int, answer: Answer) -> None:
        with self.lock:
            self.script.extend([answer] * times)

    def _next(self, received: Received) -> Answer:
        with self.lock:
            self.requests.append(received)
            return self.script.pop(0) if self.script else Answer(200, body="ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                answer = receiver._next(Received(self.path, dict(self.headers), body))
                if answer.stall:
                    receiver.release.wait(STALL_LIMIT)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body.encode())
                except OSError:
                    pass  # the client timed out and closed the connection

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    return free_port()


def test_webhook_delivers_a_slack_compatible_payload(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    result = send_webhook(
        receiver.url() + "\n", note, retries=3, sleep=pauses.append, policy=LOOPBACK
    )

    assert result == f"webhook delivered to {receiver.origin} (attempt 1)"
    assert pauses == []
    [request] = receiver.requests
    assert request.path == SECRET_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("logsentinel/")
    body = request.body
    assert body["text"].startswith("*[HIGH]* ErrorBurst on Deployment/shop/checkout: Restarting")
    fields = [item["text"] for block in body["blocks"] for item in block.get("fields", [])]
    for expected in (
        "*Severity*\nhigh",
        "*Rule*\nerror-burst",
        "*Target*\nDeployment/shop/checkout",
        "*Occurrences*\n3",
    ):
        assert expected in fields
    raw = body["logsentinel"]
    assert raw["severity"] == "high"
    assert raw["rule"] == "error-burst"
    assert raw["target"] == "Deployment/shop/checkout"
    assert raw["incident"] == {"name": "error-burst-checkout-3f2a9c0d", "namespace": "shop"}
    assert raw["fields"]["playbook"] == "restart-on-errors"
    assert raw["fields"]["occurrences"] == "3"


def test_webhook_retries_server_errors_with_exponential_backoff(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    receiver.answer_first(2, Answer(500, body="internal error"))

    result = send_webhook(
        receiver.url(), note, retries=3, backoff=0.5, sleep=pauses.append, policy=LOOPBACK
    )

    assert result == f"webhook delivered to {receiver.origin} (attempt 3)"
    assert len(receiver.requests) == 3
    assert pauses == [0.5, 1.0]
    assert receiver.requests[0].body == receiver.requests[2].body


def test_webhook_honours_retry_after_up_to_the_cap(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    receiver.answer_first(1, Answer(429, {"Retry-After": "2"}, "rate limited"))
    receiver.answer_first(1, Answer(429, {"Retry-After": "86400"}))
    receiver.answer_first(1, Answer(429))

    result = send_webhook(
        receiver.url(), note, retries=3, backoff=0.5, sleep=pauses.append, policy=LOOPBACK
    )

    assert result.endswith("(attempt 4)")
    assert pauses == [2.0, RETRY_AFTER_CAP, 2.0]  # without Retry-After: the backoff


def test_webhook_gives_up_after_the_last_retry(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    receiver.answer_first(5, Answer(503, body="unavailable"))

    with pytest.raises(NotifyError) as caught:
        send_webhook(receiver.url(), note, retries=2, sleep=pauses.append, policy=LOOPBACK)

    assert caught.value.attempts == 3
    assert len(receiver.requests) == 3
    message = str(caught.value)
    assert message == f"webhook to {receiver.origin} failed after 3 attempts: answered 503"


def test_webhook_client_error_is_not_retried(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    receiver.answer_first(1, Answer(404, body="no_service"))

    with pytest.raises(NotifyError) as caught:
        send_webhook(receiver.url(), note, retries=3, sleep=pauses.append, policy=LOOPBACK)

    assert caught.value.attempts == 1
    assert len(receiver.requests) == 1
    assert pauses == []
    message = str(caught.value)
    assert message.endswith("after 1 attempt: answered 404")
    assert "SECRET" not in message


def test_unreachable_webhook_is_retried_and_named_without_its_secrets(
    note: Notification, pauses: list[float]
) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"

    with pytest.raises(NotifyError) as caught:
        send_webhook(url, note, retries=2, backoff=0.25, sleep=pauses.append, policy=LOOPBACK)

    message = str(caught.value)
    assert message == f"webhook to http://127.0.0.1:{port} failed after 3 attempts: unreachable"
    assert "SECRET" not in message
    assert "/services" not in message
    assert pauses == [0.25, 0.5]


def test_webhook_timeout_is_retried(
    receiver: Receiver, note: Notification, pauses: list[float]
) -> None:
    receiver.answer_first(1, Answer(200, stall=True))

    result = send_webhook(
        receiver.url(), note, retries=1, timeout=1.0, sleep=pauses.append, policy=LOOPBACK
    )

    assert result == f"webhook delivered to {receiver.origin} (attempt 2)"
    assert len(receiver.requests) == 2


def test_http_client_logs_show_only_the_origin(
    receiver: Receiver, note: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"):
        send_webhook(receiver.url(), note, retries=0, policy=LOOPBACK)

    logged = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert logged
    assert all(receiver.origin in line and "SECRET" not in line for line in logged)


# --- an SMTP server ---------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps accepted mail; it can answer DATA from a script first
    and refuse recipients."""

    def __init__(self, answers: list[str] | None = None, refuse: str | None = None) -> None:
        self.answers = list(answers or [])
        self.refuse = refuse
        self.data_attempts = 0
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.data_attempts += 1
        if self.answers:
            return self.answers.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            content = envelope.content
            assert isinstance(content, bytes)
            message = email.message_from_bytes(content, policy=default_policy)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    logins: list[tuple[str, str]]

    def settings(self, **extra: str) -> SmtpSettings:
        data = {"host": "127.0.0.1", "port": str(self.port), "from": "sentinel@example.org"}
        return SmtpSettings.from_secret(data | extra)


@pytest.fixture
def smtp() -> Iterator[Any]:
    """Start SMTP servers for a test: ``smtp(mailbox, auth=False)``; all stopped at teardown."""
    controllers: list[Controller] = []

    def start(mailbox: Mailbox, auth: bool = False) -> SmtpServer:
        logins: list[tuple[str, str]] = []

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            assert isinstance(data, LoginPassword)
            logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=True)

        options: dict[str, Any] = (
            {"authenticator": authenticate, "auth_require_tls": False} if auth else {}
        )
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return SmtpServer(mailbox, controller.port, logins)

    yield start
    for controller in controllers:
        controller.stop()


def test_email_is_delivered_with_subject_recipients_and_facts(
    smtp: Any, note: Notification, pauses: list[float]
) -> None:
    server = smtp(Mailbox())
    to = ["oncall@example.org", "sre@example.org"]

    result = send_email(
        server.settings(), to, note, retries=2, sleep=pauses.append, policy=LOOPBACK
    )

    assert result == f"email sent to 2 recipient(s) via smtp://127.0.0.1:{server.port} (attempt 1)"
    [envelope] = server.mailbox.envelopes
    assert envelope.mail_from == "sentinel@example.org"
    assert envelope.rcpt_tos == to
    [message] = server.mailbox.messages()
    assert message["Subject"] == "[high] ErrorBurst on Deployment/shop/checkout"
    assert message["To"] == "oncall@example.org, sre@example.org"
    assert message["From"] == "sentinel@example.org"
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    body = [" ".join(line.split()) for line in part.get_content().splitlines()]
    assert "Restarting checkout." in body
    assert "Severity: high" in body
    assert "Rule: error-burst" in body
    assert "Target: Deployment/shop/checkout" in body
    assert "Occurrences: 3" in body


def test_transient_smtp_error_is_retried(
    smtp: Any, note: Notification, pauses: list[float]
) -> None:
    server = smtp(Mailbox(answers=["451 4.3.0 Try again later"]))

    result = send_email(
        server.settings(),
        ["oncall@example.org"],
        note,
        retries=2,
        sleep=pauses.append,
        policy=LOOPBACK,
    )

    assert result.endswith("(attempt 2)")
    assert server.mailbox.data_attempts == 2
    assert len(server.mailbox.envelopes) == 1
    assert pauses == [0.5]


def test_permanent_smtp_error_is_not_retried(
    smtp: Any, note: Notification, pauses: list[float]
) -> None:
    server = smtp(Mailbox(answers=["554 5.7.1 Message rejected"] * 3))

    with pytest.raises(NotifyError) as caught:
        send_email(
            server.settings(),
            ["oncall@example.org"],
            note,
            retries=3,
            sleep=pauses.append,
            policy=LOOPBACK,
        )

    assert caught.value.attempts == 1
    assert server.mailbox.data_attempts == 1
    assert str(caught.value) == (
        f"email via smtp://127.0.0.1:{server.port} failed after 1 attempt: "
        "SMTP 554 5.7.1 Message rejected"
    )


def test_refused_recipients_are_named(smtp: Any, note: Notification, pauses: list[float]) -> None:
    server = smtp(Mailbox(refuse="550 5.1.1 No such user"))

    with pytest.raises(NotifyError) as caught:
        send_email(
            server.settings(),
            ["nobody@example.org"],
            note,
            retries=3,
            sleep=pauses.append,
            policy=LOOPBACK,
        )

    assert caught.value.attempts == 1
    assert "nobody@example.org (550 5.1.1 No such user)" in str(caught.value)


def test_unreachable_smtp_server_is_retried(note: Notification, pauses: list[float]) -> None:
    port = closed_port()
    settings = SmtpSettings.from_secret({"host": "127.0.0.1", "port": str(port)})

    with pytest.raises(NotifyError) as caught:
        send_email(
            settings, ["oncall@example.org"], note, retries=1, sleep=pauses.append, policy=LOOPBACK
        )

    assert caught.value.attempts == 2
    message = str(caught.value)
    assert message == f"email via smtp://127.0.0.1:{port} failed after 2 attempts: unreachable"
    assert pauses == [0.5]


def test_email_logs_in_with_the_secrets_credentials(
    smtp: Any, note: Notification, pauses: list[float]
) -> None:
    server = smtp(Mailbox(), auth=True)
    settings = server.settings(username="sentinel", password="hunter2", starttls="false")

    send_email(
        settings, ["oncall@example.org"], note, retries=0, sleep=pauses.append, policy=LOOPBACK
    )

    assert server.logins == [("sentinel", "hunter2")]
    assert len(server.mailbox.envelopes) == 1


def test_credentials_are_not_sent_when_starttls_is_unavailable(
    smtp: Any, note: Notification, pauses: list[float]
) -> None:
    server = smtp(Mailbox(), auth=True)
    settings = server.settings(username="sentinel", password="hunter2")  # starttls by default
    assert settings.starttls

    with pytest.raises(NotifyError) as caught:
        send_email(
            settings, ["oncall@example.org"], note, retries=3, sleep=pauses.append, policy=LOOPBACK
        )

    assert caught.value.attempts == 1
    assert "STARTTLS" in str(caught.value)
    assert server.logins == []
    assert server.mailbox.envelopes == []


def test_smtp_settings_from_secret_errors() -> None:
    with pytest.raises(NotifyError, match="missing key 'host'"):
        SmtpSettings.from_secret({"port": "25"})
    with pytest.raises(NotifyError, match="'starttls' must be true or false"):
        SmtpSettings.from_secret({"host": "127.0.0.1", "starttls": "sometimes"})
