"""A playbook's webhook URL or SMTP server cannot turn the operator against its own network.

Real HTTP and SMTP servers listen on loopback only. Every socket the process opens is watched
(``socket.socket.connect``), and a connection anywhere but loopback fails the attempt before a
packet leaves: private, link-local and metadata addresses are only ever written in URLs here,
and the tests assert that nothing was dialled for them. The outbound policy must refuse every
form of an internal address with its reason, before connecting; allow-listed targets work;
redirects are not followed; a name is judged by the address each connection actually goes to
(a resolver that changes its answer between attempts is simulated at ``socket.getaddrinfo``);
and what is recorded never carries an internal answer's body or a connection error that tells
a closed port from a silent one.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.pki import ensure_pki
from devstack.proc import free_port
from logsentinel.domain import Incident
from logsentinel.remediation.notify import (
    Notification,
    NotifyError,
    SmtpSettings,
    notification_for,
    send_email,
    send_webhook,
)
from logsentinel.remediation.outbound import OutboundPolicy

INCIDENT_FILE = Path(__file__).parents[1] / "fixtures" / "incident.yaml"
REFUSED = "target refused by the outbound policy"
UNREACHABLE = "unreachable"
STALL_LIMIT = 30.0


@pytest.fixture
def note() -> Notification:
    resource = Incident.from_manifest(yaml.safe_load(INCIDENT_FILE.read_text()))
    return notification_for(resource, "Restarting.", playbook="restart", step="tell")


def send(url: str, note: Notification, allowed: tuple[str, ...] = (), **options: Any) -> str:
    """The recorded outcome of a webhook notification: its result, or its error's text."""
    options.setdefault("retries", 0)
    try:
        return send_webhook(
            url, note, policy=OutboundPolicy.allowing(allowed), sleep=lambda _: None, **options
        )
    except NotifyError as error:
        return str(error)


def mail(settings: SmtpSettings, note: Notification, allowed: tuple[str, ...] = ()) -> str:
    try:
        return send_email(
            settings,
            ["oncall@example.org"],
            note,
            retries=0,
            timeout=2.0,
            policy=OutboundPolicy.allowing(allowed),
        )
    except NotifyError as error:
        return str(error)


# --- what the process dials -------------------------------------------------------------------


@dataclass
class Dialled:
    """Every address a socket of this process tried to connect to during the test."""

    addresses: list[tuple[str, int]] = field(default_factory=list)

    def hosts(self) -> set[str]:
        return {host for host, _ in self.addresses}


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> Dialled:
    """Record every connect; anything but a loopback address fails before it is attempted."""
    record = Dialled()
    original = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        record.addresses.append((host, port))
        try:
            loopback = ipaddress.ip_address(host.partition("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConnectionRefusedError(f"the test forbids connecting to {host}")
        original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return record


# --- servers on loopback ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """An HTTP server on ``host`` that records POSTs and answers from a script, then 200."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script: list[Answer] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def answer_first(self, *answers: Answer) -> None:
        with self.lock:
            self.script.extend(answers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers)))
                    answer = receiver.script.pop(0) if receiver.script else Answer(200, "ok")
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body.encode())))
                self.end_headers()
                self.wfile.write(answer.body.encode())

            do_GET = do_POST  # noqa: N815 (http.server's hook name)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def servers() -> Iterator[Callable[..., Receiver]]:
    """Start receivers: ``servers(host="127.0.0.1", port=0, tls=None)``; all stopped at
    teardown."""
    started: list[Receiver] = []

    def start(
        host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> Receiver:
        started.append(Receiver(host, port, tls))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


class RawServer:
    """A TCP listener on loopback that does one thing to every connection: ``stall`` (accept,
    never answer), ``close`` (accept, hang up) or ``garbage`` (accept, speak no HTTP)."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.behaviour == "garbage":
                connection.sendall(b"SSH-2.0-OpenSSH_9.6 internal-bastion\r\n")
            if self.behaviour == "stall":
                self.held.append(connection)
            else:
                connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def raw_servers() -> Iterator[Callable[[str], RawServer]]:
    started: list[RawServer] = []

    def start(behaviour: str) -> RawServer:
        started.append(RawServer(behaviour))
        return started[-1]

    yield start
    for server in started:
        server.stop()


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


# --- every form of an internal address is refused before connecting ---------------------------

LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",  # a name resolving to loopback
    "http://127.1:{port}/hook",
    "http://2130706433:{port}/hook",  # decimal
    "http://017700000001:{port}/hook",  # octal
    "http://0x7f000001:{port}/hook",  # hex
    "http://0x7f.1:{port}/hook",
    "http://0.0.0.0:{port}/hook",  # unspecified: Linux delivers it to loopback
    "http://0:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[::ffff:7f00:1]:{port}/hook",
]

INTERNAL_FORMS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
    "http://025177524776/latest/meta-data/",  # in octal
    "http://0xa9fea9fe/latest/meta-data/",  # in hex
    "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://[fd00:ec2::254]/latest/meta-data/",  # EC2 metadata over IPv6
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata
    "http://192.0.0.192/opc/v2/instance/",  # Oracle Cloud metadata
    "http://168.63.129.16/machine",  # Azure wireserver
    "http://10.96.0.1/api",  # a typical apiserver Service
    "http://172.16.0.10:5432/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[fd00::1]/",
    "http://[fc00::5]:5432/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",  # deprecated site-local
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 around 169.254.169.254
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "https://169.254.169.254/",
]


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_loopback_in_any_form_is_refused_before_connecting(
    form: str, note: Notification, servers: Callable[..., Receiver], dialled: Dialled
) -> None:
    receiver = servers()  # listening: without the policy the post would land here

    outcome = send(form.format(port=receiver.port), note, retries=3)

    assert outcome.endswith(f"failed after 1 attempt: {REFUSED}")  # and not retried
    assert dialled.addresses == []
    assert receiver.requests == []


@pytest.mark.parametrize("url", INTERNAL_FORMS)
def test_private_link_local_and_metadata_addresses_are_refused_without_traffic(
    url: str, note: Notification, dialled: Dialled
) -> None:
    outcome = send(url, note, allowed=("127.0.0.0/8", "localhost"))

    assert outcome.endswith(f"failed after 1 attempt: {REFUSED}")
    assert dialled.addresses == []


@pytest.mark.parametrize(
    "url",
    ["http://0251.0376.0251.0376/latest/meta-data/", "http://0177.0.0.1/", "file:///etc/passwd"],
)
def test_a_url_the_http_client_cannot_parse_is_refused_without_traffic(
    url: str, note: Notification, dialled: Dialled
) -> None:
    outcome = send(url, note)

    assert outcome == "webhook URL is not a valid http(s) URL"
    assert dialled.addresses == []


# --- allowed targets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", ("127.0.0.1/32",)),
        ("127.0.0.1", ("127.0.0.1",)),
        ("localhost", ("localhost",)),
        ("localhost", ("127.0.0.0/8", "::1/128")),
    ],
)
def test_an_allow_listed_loopback_target_receives_the_post(
    host: str,
    allowed: tuple[str, ...],
    note: Notification,
    servers: Callable[..., Receiver],
    dialled: Dialled,
) -> None:
    receiver = servers()
    url = f"http://{host}:{receiver.port}/hook"

    outcome = send(url, note, allowed=allowed)

    assert outcome == f"webhook delivered to http://{host}:{receiver.port} (attempt 1)"
    [(path, headers)] = receiver.requests
    assert path == "/hook"
    assert headers["Host"] == f"{host}:{receiver.port}"
    assert ("127.0.0.1", receiver.port) in dialled.addresses


def test_allowing_one_address_does_not_allow_its_neighbours(
    note: Notification, servers: Callable[..., Receiver], dialled: Dialled
) -> None:
    receiver = servers()

    outcome = send(receiver.url(), note, allowed=("127.0.0.2/32", "hooks.example"))

    assert outcome.endswith(REFUSED)
    assert receiver.requests == []
    assert dialled.addresses == []


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{internal}/admin"],
)
def test_a_redirect_is_not_followed(
    location: str, note: Notification, servers: Callable[..., Receiver], dialled: Dialled
) -> None:
    receiver = servers()
    internal = servers()
    receiver.answer_first(
        Answer(307, headers={"Location": location.format(internal=internal.port)})
    )

    outcome = send(receiver.url(), note, allowed=("127.0.0.0/8",), retries=2)

    assert outcome.endswith("failed after 1 attempt: answered 307")
    assert len(receiver.requests) == 1
    assert internal.requests == []
    assert dialled.hosts() == {"127.0.0.1"}
    assert {port for _, port in dialled.addresses} == {receiver.port}


# --- the address actually connected to ---------------------------------------------------------


def test_each_connection_is_vetted_on_the_address_it_goes_to(
    note: Notification,
    servers: Callable[..., Receiver],
    dialled: Dialled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: hooks.example first resolves to an allowed address, then to a denied one
    listening on the same port. The retry must be refused, not delivered to the second."""
    allowed_receiver = servers("127.0.0.2")
    internal = servers("127.0.0.1", allowed_receiver.port)
    allowed_receiver.answer_first(Answer(503, "busy"))
    answers = iter(["127.0.0.2"])
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            lookups.append(host)
            host = next(answers, "127.0.0.1")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://hooks.example:{allowed_receiver.port}/hook"

    outcome = send(url, note, allowed=("127.0.0.2/32",), retries=3)

    assert outcome.endswith(f"failed after 2 attempts: {REFUSED}")
    assert len(allowed_receiver.requests) == 1
    assert allowed_receiver.requests[0][1]["Host"] == f"hooks.example:{allowed_receiver.port}"
    assert internal.requests == []
    assert dialled.addresses == [("127.0.0.2", allowed_receiver.port)]
    assert len(lookups) == 2  # once per connection, not once up front


def test_tls_is_verified_against_the_name_not_the_vetted_address(
    note: Notification,
    servers: Callable[..., Receiver],
    dialled: Dialled,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The connection goes to the vetted IP, but SNI and the certificate check use the URL's
    name: the certificate names kubernetes.default.svc and 127.0.0.1, not hooks.example, so a
    check against the address would wrongly pass for hooks.example."""
    ensure_pki(tmp_path, ())
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "serving.crt", tmp_path / "serving.key")
    server_names: list[str | None] = []

    def record_server_name(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        server_names.append(name)

    tls.sni_callback = record_server_name
    receiver = servers(tls=tls)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.crt"))
    real_getaddrinfo = socket.getaddrinfo

    def to_loopback(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("kubernetes.default.svc", "hooks.example"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", to_loopback)
    allowed = ("kubernetes.default.svc", "hooks.example")

    named = send(f"https://kubernetes.default.svc:{receiver.port}/hook", note, allowed=allowed)
    other = send(f"https://hooks.example:{receiver.port}/hook", note, allowed=allowed)

    assert (
        named == f"webhook delivered to https://kubernetes.default.svc:{receiver.port} (attempt 1)"
    )
    assert receiver.requests[0][1]["Host"] == f"kubernetes.default.svc:{receiver.port}"
    assert other.endswith(f"failed after 1 attempt: {UNREACHABLE}")
    assert len(receiver.requests) == 1
    assert server_names == ["kubernetes.default.svc", "hooks.example"]
    assert dialled.hosts() == {"127.0.0.1"}


def test_proxy_settings_from_the_environment_are_not_a_way_around(
    note: Notification,
    servers: Callable[..., Receiver],
    dialled: Dialled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = servers()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    outcome = send("http://169.254.169.254/latest/meta-data/", note, allowed=("127.0.0.0/8",))

    assert outcome.endswith(REFUSED)
    assert proxy.requests == []
    assert dialled.addresses == []


# --- what is recorded ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 404, 401, 302])
def test_an_internal_answer_body_is_never_recorded(
    status: int, note: Notification, servers: Callable[..., Receiver], dialled: Dialled
) -> None:
    receiver = servers()
    body = 'password_hash="$argon2id$v=19$SECRETBODY" pg_hba.conf: host all all'
    receiver.answer_first(Answer(status, body, {"X-Internal": "SECRETHEADER"}))

    outcome = send(receiver.url(), note, allowed=("127.0.0.1",))

    assert outcome == (
        f"webhook to http://127.0.0.1:{receiver.port} failed after 1 attempt: answered {status}"
    )
    assert "SECRET" not in outcome


def test_closed_silent_hanging_up_and_foreign_ports_read_the_same(
    note: Notification,
    raw_servers: Callable[[str], RawServer],
    dialled: Dialled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def no_such_name(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "no-such-service.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    ports = {
        "closed": free_port(),
        "silent": raw_servers("stall").port,
        "hangs up": raw_servers("close").port,
        "speaks another protocol": raw_servers("garbage").port,
    }
    outcomes = {
        what: send(f"http://127.0.0.1:{port}/hook", note, allowed=("127.0.0.1",), timeout=0.5)
        for what, port in ports.items()
    }
    outcomes["unresolvable"] = send(
        "http://no-such-service.example:1/hook", note, allowed=("no-such-service.example",)
    )

    readings = {
        outcome.replace(f":{ports.get(what, 1)} ", ":PORT ") for what, outcome in outcomes.items()
    }
    assert len(readings) == 2, outcomes  # one text per host, whatever was behind the port
    for outcome in outcomes.values():
        assert outcome.endswith(f"failed after 1 attempt: {UNREACHABLE}"), outcomes


# --- SMTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "169.254.169.254", "2852039166", "10.0.0.25", "::1"]
)
def test_an_smtp_server_on_an_internal_address_is_refused(
    host: str, note: Notification, smtp_server: tuple[Mailbox, int], dialled: Dialled
) -> None:
    mailbox, port = smtp_server
    settings = SmtpSettings.from_secret({"host": host, "port": str(port)})

    outcome = mail(settings, note)

    assert outcome.endswith(f"failed after 1 attempt: {REFUSED}")
    assert dialled.addresses == []
    assert mailbox.envelopes == []


def test_an_allow_listed_smtp_server_gets_the_mail(
    note: Notification, smtp_server: tuple[Mailbox, int], dialled: Dialled
) -> None:
    mailbox, port = smtp_server
    settings = SmtpSettings.from_secret({"host": "localhost", "port": str(port)})

    outcome = mail(settings, note, allowed=("localhost",))

    assert outcome.startswith("email sent to 1 recipient(s)")
    assert len(mailbox.envelopes) == 1


def test_smtp_connection_failures_read_the_same(
    note: Notification, raw_servers: Callable[[str], RawServer], dialled: Dialled
) -> None:
    ports = {"closed": free_port(), "speaks another protocol": raw_servers("garbage").port}
    outcomes = {
        what: mail(
            SmtpSettings.from_secret({"host": "127.0.0.1", "port": str(port)}),
            note,
            allowed=("127.0.0.1",),
        ).replace(f":{port} ", ":PORT ")
        for what, port in ports.items()
    }

    assert len(set(outcomes.values())) == 1, outcomes
    assert outcomes["closed"].endswith(f"failed after 1 attempt: {UNREACHABLE}")
    assert "SSH" not in outcomes["speaks another protocol"]
