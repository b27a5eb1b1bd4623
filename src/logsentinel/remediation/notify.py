"""Deliver the notifications of a playbook's ``notify`` step: a Slack-compatible webhook POST or
an email through SMTP, each retried on transient failures with exponential backoff.

Webhook URLs are credentials (Slack puts its secret in the path), so nothing here ever shows
more of one than ``scheme://host:port``: not in errors, not in our logs, not in httpx's.

Both channels connect only where the outbound policy (``outbound.py``) allows. What a failure
says ends up in the Incident, readable by everyone who may read incidents, so it is one of a few
fixed reasons plus the status code: never a receiver's answer, never a connection error that
would tell a closed port from a silent one. The details go to the operator's log.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parsedate_to_datetime
from typing import Any

import httpx
import structlog

from logsentinel import __version__
from logsentinel.backoff import Backoff
from logsentinel.domain.common import Severity
from logsentinel.domain.incident import IncidentPhase
from logsentinel.domain.resources import Incident
from logsentinel.domain.types import flag, format_timestamp
from logsentinel.remediation.outbound import (
    OutboundPolicy,
    OutboundRefusedError,
    PolicySMTP,
    http_client,
)

log = structlog.get_logger("logsentinel.remediation")

Sleep = Callable[[float], None]

MAX_BACKOFF = 30.0
"""Longest pause between two attempts, however many retries a playbook asks for."""
RETRY_AFTER_CAP = 30.0
"""Longest Retry-After we honour; a receiver asking for more gets retried after this."""

SLACK_MAX_FIELDS = 10
SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000
SAMPLE_LIMIT = 300

PUBLIC_ONLY = OutboundPolicy()
"""The policy when the caller names none: public addresses only."""
REFUSED = "target refused by the outbound policy"
UNREACHABLE = "unreachable"


class NotifyError(Exception):
    """A notification could not be delivered; the message says where (without secrets) and why."""

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


# --- what to say ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """Everything a receiver is told about an incident, independent of the channel."""

    title: str
    text: str
    severity: Severity
    incident_name: str
    incident_namespace: str | None
    rule: str
    target: str | None
    phase: IncidentPhase
    fields: dict[str, str] = field(default_factory=dict)
    """Further facts, camelCase key -> value, in display order."""
    link: str | None = None

    @property
    def incident(self) -> str:
        """``namespace/name`` of the Incident, as kubectl users know it."""
        if self.incident_namespace:
            return f"{self.incident_namespace}/{self.incident_name}"
        return self.incident_name

    def display_fields(self) -> list[tuple[str, str]]:
        """(label, value) pairs, the essentials first."""
        essentials = [
            ("Severity", self.severity.value),
            ("Rule", self.rule),
            ("Target", self.target or "none resolved"),
            ("Phase", self.phase.value),
        ]
        return essentials + [(label_for(key), value) for key, value in self.fields.items()]


def notification_for(
    incident: Incident, message: str, playbook: str, step: str, link: str | None = None
) -> Notification:
    """What the notify step ``step`` of ``playbook`` says about ``incident``."""
    spec = incident.spec
    target = str(spec.target) if spec.target is not None else None
    where = target or f"service {spec.service}"
    text = "\n".join(part for part in (message.strip(), spec.summary.strip()) if part)
    facts = {
        "occurrences": str(spec.occurrences),
        "incidentType": spec.incident_type,
        "service": spec.service,
        "firstSeen": format_timestamp(spec.first_seen),
        "lastSeen": format_timestamp(spec.last_seen),
    }
    window = spec.evidence.window
    if window is not None:
        facts["window"] = f"{window.statistic} {window.value:g} (threshold {window.threshold:g})"
    if spec.evidence.samples:
        facts["sample"] = _truncate(spec.evidence.samples[0].message, SAMPLE_LIMIT)
    facts["playbook"] = playbook
    facts["step"] = step
    return Notification(
        title=f"{spec.incident_type} on {where}",
        text=text or f"Rule {spec.rule} fired.",
        severity=spec.severity,
        incident_name=incident.metadata.name,
        incident_namespace=incident.metadata.namespace,
        rule=spec.rule,
        target=target,
        phase=incident.status.phase if incident.status is not None else IncidentPhase.OPEN,
        fields=facts,
        link=link,
    )


def label_for(key: str) -> str:
    """``firstSeen`` -> ``First seen``."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", key).lower()
    return words[:1].upper() + words[1:]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- webhook ----------------------------------------------------------------------------------


def webhook_payload(n: Notification) -> dict[str, Any]:
    """Slack-compatible JSON (``text`` + ``blocks``) plus a ``logsentinel`` object with the raw
    facts for receivers that are not Slack."""
    summary = _one_line(n.text)
    line = f"*[{n.severity.value.upper()}]* {_mrkdwn(n.title)}: {_mrkdwn(summary)}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(n.title, SLACK_HEADER_LIMIT)},
        }
    ]
    if n.text.strip():  # Slack rejects a section with empty text
        text = _truncate(_mrkdwn(n.text), SLACK_SECTION_LIMIT)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": _truncate(f"*{label}*\n{_mrkdwn(value)}", SLACK_FIELD_LIMIT),
                }
                for label, value in n.display_fields()[:SLACK_MAX_FIELDS]
            ],
        }
    )
    context = f"Incident `{_mrkdwn(n.incident)}`"
    if n.link:
        context += f" · <{_slack_url(n.link)}|open>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": line, "blocks": blocks, "logsentinel": _structured(n)}


def _structured(n: Notification) -> dict[str, Any]:
    return {
        "title": n.title,
        "text": n.text,
        "severity": n.severity.value,
        "incident": {"name": n.incident_name, "namespace": n.incident_namespace},
        "rule": n.rule,
        "target": n.target,
        "phase": n.phase.value,
        "fields": dict(n.fields),
        "link": n.link,
    }


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as markup in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    # "|" and ">" would end the URL part of Slack's <url|label> link syntax.
    return url.replace("|", "%7C").replace(">", "%3E")


def origin(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, the only part of a webhook URL that may be
    shown; NotifyError (that does not repeat the URL) when it is not one."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise NotifyError("webhook URL is not a valid http(s) URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise NotifyError("webhook URL is not a valid http(s) URL")
    return _origin_of(parsed)


def _origin_of(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{host}:{port}" if port else f"{url.scheme}://{host}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as a pause within [0, RETRY_AFTER_CAP];
    None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, and whether another attempt may succeed. ``reason`` is recorded
    in the Incident; ``detail`` only goes to the operator's log."""

    reason: str
    transient: bool
    retry_after: float | None = None
    detail: str | None = None


def send_webhook(
    url: str,
    n: Notification,
    retries: int,
    timeout: float = 5.0,
    backoff: float = 0.5,
    sleep: Sleep = time.sleep,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> str:
    """POST the notification to ``url`` if ``policy`` allows where it resolves to; redirects are
    not followed. Retry connection errors, timeouts, 429 and 5xx up to ``retries`` times.
    Returns what happened; raises NotifyError after the last failure."""
    url = url.strip()  # Secret values often end with the newline of `echo URL | base64`
    where = origin(url)
    payload = webhook_payload(n)
    headers = {"User-Agent": f"logsentinel/{__version__}"}
    with http_client(policy, timeout, headers) as client:

        def attempt() -> _Failure | None:
            return _post_once(client, url, where, payload)

        attempts, failure = _retrying(attempt, retries, backoff, sleep, channel=where)
    if failure is not None:
        raise NotifyError(
            f"webhook to {where} failed after {_attempts(attempts)}: {failure.reason}", attempts
        )
    return f"webhook delivered to {where} (attempt {attempts})"


def _post_once(
    client: httpx.Client, url: str, where: str, payload: dict[str, Any]
) -> _Failure | None:
    try:
        # Streamed and closed unread: a receiver's body is never needed, so never held.
        with client.stream("POST", url, json=payload) as response:
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
    except OutboundRefusedError as error:
        return _Failure(REFUSED, transient=False, detail=str(error))
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as error:
        detail = _redact(error, url, where)
        return _Failure("the request could not be sent", transient=False, detail=detail)
    except httpx.TransportError as error:
        return _Failure(UNREACHABLE, transient=True, detail=_redact(error, url, where))
    if 200 <= status < 300:
        return None
    reason = f"answered {status}"
    if status == 429:
        return _Failure(reason, transient=True, retry_after=retry_after_seconds(retry_after))
    return _Failure(reason, transient=status >= 500)


def _redact(error: Exception, url: str, where: str) -> str:
    """The error, without the URL should a library have put it into the message."""
    detail = str(error).replace(url, where) or "no detail"
    return f"{type(error).__name__}: {detail}"


class _RedactRequestUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; keep only its origin."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) > 1:
            url = record.args[1]
            if isinstance(url, httpx.URL):
                args = list(record.args)
                args[1] = _origin_of(url)
                record.args = tuple(args)
        return True


def _install_log_redaction() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _RedactRequestUrls) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_RedactRequestUrls())


_install_log_redaction()


# --- retry policy -----------------------------------------------------------------------------


def backoff_delay(backoff: float, attempt: int) -> float:
    """Pause after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return Backoff(min(backoff, MAX_BACKOFF), MAX_BACKOFF).delay(attempt)


def _retrying(
    attempt_once: Callable[[], _Failure | None],
    retries: int,
    backoff: float,
    sleep: Sleep,
    channel: str,
) -> tuple[int, _Failure | None]:
    """Run attempts until one succeeds, a failure is permanent, or retries are used up; returns
    the number of attempts made and the last failure (None on success)."""
    attempts = max(retries, 0) + 1
    attempt = 1
    while True:
        failure = attempt_once()
        if failure is None:
            return attempt, None
        if not failure.transient or attempt >= attempts:
            log.warning(
                "notification failed",
                channel=channel,
                attempt=attempt,
                reason=failure.reason,
                detail=failure.detail,
            )
            return attempt, failure
        delay = failure.retry_after
        if delay is None:
            delay = backoff_delay(backoff, attempt)
        log.warning(
            "notification attempt failed, retrying",
            channel=channel,
            attempt=attempt,
            reason=failure.reason,
            detail=failure.detail,
            retry_in=round(delay, 3),
        )
        sleep(delay)
        attempt += 1


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


# --- email ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server; read from the Secret an EmailTarget names."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    starttls: bool

    @property
    def where(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @classmethod
    def from_secret(cls, data: dict[str, str]) -> SmtpSettings:
        """Settings from decoded Secret data: ``host`` (required), ``port``, ``username``,
        ``password``, ``from`` and ``starttls``.

        starttls defaults to true when a username is set, so credentials never travel in clear
        unless the Secret says so; port defaults to 587 with STARTTLS and 25 without."""
        values = {key: value.strip() for key, value in data.items() if value.strip()}
        host = values.get("host")
        if host is None:
            raise NotifyError("SMTP secret is missing key 'host'")
        username = values.get("username")
        password = values.get("password")
        if username is not None and password is None:
            raise NotifyError("SMTP secret sets 'username' but is missing key 'password'")
        starttls = _flag(values.get("starttls"), default=username is not None)
        return cls(
            host=host,
            port=_port(values.get("port"), default=587 if starttls else 25),
            username=username,
            password=password,
            sender=values.get("from", f"logsentinel@{host}"),
            starttls=starttls,
        )


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    parsed = flag(value)
    if parsed is not None:
        return parsed
    raise NotifyError(f"SMTP secret key 'starttls' must be true or false, got {value!r}")


def _port(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise NotifyError(f"SMTP secret key 'port' must be a port number, got {value!r}")
    return int(value)


def email_message(settings: SmtpSettings, to: list[str], n: Notification) -> EmailMessage:
    """The mail for ``n``: subject ``[severity] title``, a plain-text body with every fact."""
    message = EmailMessage()
    message["Subject"] = _one_line(f"[{n.severity.value}] {n.title}")
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # An explicit domain spares make_msgid a (possibly slow) FQDN lookup of this host.
    message["Message-ID"] = make_msgid("logsentinel", domain=settings.sender.rpartition("@")[2])
    message.set_content(email_body(n))
    return message


def email_body(n: Notification) -> str:
    """Plain text: title, what happened, then one ``Label: value`` line per fact."""
    facts = [*n.display_fields(), ("Incident", n.incident)]
    if n.link:
        facts.append(("Link", n.link))
    width = max(len(label) for label, _ in facts) + 1
    lines = [n.title, "", n.text, ""]
    lines += [f"{label + ':':<{width}} {value}" for label, value in facts]
    lines += ["", "-- ", "Sent by Log Sentinel"]
    return "\n".join(lines) + "\n"


def send_email(
    settings: SmtpSettings,
    to: list[str],
    n: Notification,
    retries: int,
    timeout: float = 10.0,
    backoff: float = 0.5,
    sleep: Sleep = time.sleep,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> str:
    """Mail the notification to ``to`` through the Secret's server if ``policy`` allows where it
    resolves to; retry connection failures, timeouts and SMTP 4xx up to ``retries`` times.
    Returns what happened; raises NotifyError after the last failure."""
    if not to:
        raise NotifyError("email notification has no recipients")
    # Built once so that every attempt carries the same Message-ID and receivers can dedupe.
    message = email_message(settings, to, n)
    refused: dict[str, tuple[int, bytes]] = {}

    def attempt() -> _Failure | None:
        failure, partly_refused = _mail_once(settings, message, timeout, policy)
        refused.update(partly_refused)
        return failure

    attempts, failure = _retrying(attempt, retries, backoff, sleep, channel=settings.where)
    if failure is not None:
        raise NotifyError(
            f"email via {settings.where} failed after {_attempts(attempts)}: {failure.reason}",
            attempts,
        )
    delivered = len(to) - len(refused)
    result = f"email sent to {delivered} recipient(s) via {settings.where} (attempt {attempts})"
    if refused:
        result += "; refused: " + ", ".join(
            f"{address} ({code})" for address, (code, _) in refused.items()
        )
    return result


def _mail_once(
    settings: SmtpSettings, message: EmailMessage, timeout: float, policy: OutboundPolicy
) -> tuple[_Failure | None, dict[str, tuple[int, bytes]]]:
    """One SMTP session; the failure if any, and the recipients refused by an accepted mail.
    Until the server has greeted us as an SMTP server, every failure reads the same."""
    try:
        with PolicySMTP(policy, settings.host, settings.port, timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username is not None and settings.password is not None:
                smtp.login(settings.username, settings.password)
            return None, smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        reason = "all recipients refused: " + ", ".join(
            f"{address} ({code} {_smtp_text(text)})"
            for address, (code, text) in error.recipients.items()
        )
        return _Failure(reason, transient=all(400 <= code < 500 for code in codes)), {}
    except OutboundRefusedError as error:
        return _Failure(REFUSED, transient=False, detail=str(error)), {}
    except smtplib.SMTPConnectError as error:  # no SMTP greeting: possibly not a mail server
        return _Failure(UNREACHABLE, transient=True, detail=f"greeting {error.smtp_code}"), {}
    except smtplib.SMTPResponseException as error:
        reason = f"SMTP {error.smtp_code} {_smtp_text(error.smtp_error)}"
        return _Failure(reason, transient=400 <= error.smtp_code < 500), {}
    except smtplib.SMTPServerDisconnected as error:
        return _Failure(UNREACHABLE, transient=True, detail=f"disconnected: {error}"), {}
    except smtplib.SMTPException as error:
        # Not supported by the server (STARTTLS, AUTH, no common auth method): retrying won't help.
        return _Failure(f"{type(error).__name__}: {error}", transient=False), {}
    except ssl.SSLError as error:
        return _Failure("TLS failed", transient=False, detail=str(error)), {}
    except OSError as error:
        # Connection refused or reset, DNS failures and timeouts (TimeoutError is an OSError).
        return _Failure(UNREACHABLE, transient=True, detail=f"{type(error).__name__}: {error}"), {}


def _smtp_text(text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return _one_line(raw)


__all__ = [
    "MAX_BACKOFF",
    "PUBLIC_ONLY",
    "REFUSED",
    "RETRY_AFTER_CAP",
    "UNREACHABLE",
    "Notification",
    "NotifyError",
    "SmtpSettings",
    "backoff_delay",
    "email_body",
    "email_message",
    "label_for",
    "notification_for",
    "origin",
    "retry_after_seconds",
    "send_email",
    "send_webhook",
    "webhook_payload",
]
