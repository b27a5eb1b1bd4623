"""Notifications without a network: what they say, the webhook payload, the email, SMTP settings
and the pieces of the retry policy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from logsentinel.domain import Incident, IncidentPhase
from logsentinel.domain.common import Severity
from logsentinel.remediation.notify import (
    MAX_BACKOFF,
    RETRY_AFTER_CAP,
    Notification,
    NotifyError,
    SmtpSettings,
    backoff_delay,
    email_body,
    email_message,
    label_for,
    notification_for,
    origin,
    retry_after_seconds,
    webhook_payload,
)

INCIDENT_FILE = Path(__file__).parents[1] / "fixtures" / "incident.yaml"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def incident(**changes: Any) -> Incident:
    document = yaml.safe_load(INCIDENT_FILE.read_text())
    document["spec"].update(changes.pop("spec", {}))
    document.update(changes)
    return Incident.from_manifest(document)


def notification(message: str = "Restarting checkout.") -> Notification:
    return notification_for(incident(), message, playbook="restart-on-errors", step="tell-oncall")


# --- notification_for --------------------------------------------------------------------------


def test_notification_for_an_incident_with_a_target() -> None:
    n = notification()
    assert n.title == "ErrorBurst on Deployment/shop/checkout"
    assert n.text == "Restarting checkout.\n51 error lines from checkout within 1m (threshold 50)"
    assert n.severity is Severity.HIGH
    assert (n.incident_namespace, n.incident_name) == ("shop", "error-burst-checkout-3f2a9c0d")
    assert n.incident == "shop/error-burst-checkout-3f2a9c0d"
    assert n.rule == "error-burst"
    assert n.target == "Deployment/shop/checkout"
    assert n.phase is IncidentPhase.OPEN
    assert n.link is None
    assert n.fields == {
        "occurrences": "3",
        "incidentType": "ErrorBurst",
        "service": "checkout",
        "firstSeen": "2026-11-22T12:00:00Z",
        "lastSeen": "2026-11-22T12:01:00Z",
        "window": "count 51 (threshold 50)",
        "sample": "payment gateway timeout after 30s",
        "playbook": "restart-on-errors",
        "step": "tell-oncall",
    }


def test_notification_for_an_incident_without_target_status_or_text() -> None:
    resource = incident(spec={"target": None, "summary": ""}, status={"phase": "Remediating"})
    n = notification_for(resource, "", playbook="p", step="s", link="https://dash.example/i/1")
    assert n.title == "ErrorBurst on service checkout"
    assert n.target is None
    assert n.text == "Rule error-burst fired."
    assert n.phase is IncidentPhase.REMEDIATING
    assert n.link == "https://dash.example/i/1"
    assert ("Target", "none resolved") in n.display_fields()


def test_long_samples_are_trimmed() -> None:
    resource = incident()
    resource.spec.evidence.samples[0].message = "x" * 2000
    n = notification_for(resource, "", playbook="p", step="s")
    assert len(n.fields["sample"]) == 300
    assert n.fields["sample"].endswith("…")


def test_labels_from_camel_case_keys() -> None:
    assert label_for("firstSeen") == "First seen"
    assert label_for("incidentType") == "Incident type"
    assert label_for("occurrences") == "Occurrences"


def test_display_fields_put_the_essentials_first() -> None:
    labels = [label for label, _ in notification().display_fields()]
    assert labels[:5] == ["Severity", "Rule", "Target", "Phase", "Occurrences"]


# --- webhook payload ---------------------------------------------------------------------------


def test_webhook_payload_is_slack_compatible() -> None:
    payload = webhook_payload(notification())
    assert payload["text"] == (
        "*[HIGH]* ErrorBurst on Deployment/shop/checkout: Restarting checkout. "
        "51 error lines from checkout within 1m (threshold 50)"
    )
    assert "\n" not in payload["text"]
    header, section, facts, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "ErrorBurst on Deployment/shop/checkout"},
    }
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("Restarting checkout.\n51 error lines")
    texts = [item["text"] for item in facts["fields"]]
    assert all(item["type"] == "mrkdwn" for item in facts["fields"])
    assert texts[:5] == [
        "*Severity*\nhigh",
        "*Rule*\nerror-burst",
        "*Target*\nDeployment/shop/checkout",
        "*Phase*\nOpen",
        "*Occurrences*\n3",
    ]
    assert len(texts) == 10  # Slack's limit for a section's fields
    assert context["elements"][0]["text"] == "Incident `shop/error-burst-checkout-3f2a9c0d`"


def test_webhook_payload_carries_the_raw_facts_for_other_receivers() -> None:
    payload = json.loads(json.dumps(webhook_payload(notification())))
    assert payload["logsentinel"] == {
        "title": "ErrorBurst on Deployment/shop/checkout",
        "text": "Restarting checkout.\n51 error lines from checkout within 1m (threshold 50)",
        "severity": "high",
        "incident": {"name": "error-burst-checkout-3f2a9c0d", "namespace": "shop"},
        "rule": "error-burst",
        "target": "Deployment/shop/checkout",
        "phase": "Open",
        "fields": notification().fields,
        "link": None,
    }


def test_webhook_payload_escapes_mrkdwn_and_links() -> None:
    n = replace(notification("a <b> & c"), link="https://dash.example/x?a=1|2")
    payload = webhook_payload(n)
    assert payload["text"].endswith(
        ": a &lt;b&gt; &amp; c 51 error lines from checkout within 1m (threshold 50)"
    )
    context = payload["blocks"][-1]["elements"][0]["text"]
    assert context.endswith("<https://dash.example/x?a=1%7C2|open>")
    assert payload["logsentinel"]["text"].startswith("a <b> & c")


def test_webhook_payload_without_text_has_no_empty_section() -> None:
    payload = webhook_payload(replace(notification(), text=""))
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "context"]
    assert "fields" in payload["blocks"][1]


def test_webhook_header_is_trimmed_to_slacks_limit() -> None:
    payload = webhook_payload(replace(notification(), title="t" * 400))
    assert len(payload["blocks"][0]["text"]["text"]) == 150


# --- URLs and retry timing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T0/B0/SECRET", "https://hooks.slack.com:443"),
        ("http://receiver.monitoring/hook?token=SECRET", "http://receiver.monitoring:80"),
        ("https://user:SECRET@hooks.example:8443/x", "https://hooks.example:8443"),
        ("http://[::1]:9000/SECRET", "http://[::1]:9000"),
    ],
)
def test_origin_shows_only_scheme_host_and_port(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://files.example/SECRET", "not a url SECRET", "http:///SECRET"]
)
def test_origin_of_a_bad_url_does_not_repeat_it(url: str) -> None:
    with pytest.raises(NotifyError, match="not a valid http") as caught:
        origin(url)
    assert "SECRET" not in str(caught.value)


def test_retry_after_in_seconds_or_as_a_date_within_the_cap() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("86400") == RETRY_AFTER_CAP
    in_five = format_datetime(NOW + timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(in_five, now=NOW) == 5.0
    past = format_datetime(NOW - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(past, now=NOW) == 0.0
    assert retry_after_seconds("soon", now=NOW) is None
    assert retry_after_seconds("-1") is None


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_delay(0.5, attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(0.5, 50) == MAX_BACKOFF


# --- SMTP settings and the email ---------------------------------------------------------------


def test_smtp_settings_from_a_full_secret() -> None:
    settings = SmtpSettings.from_secret(
        {
            "host": "smtp.example.org",
            "port": "2525",
            "username": "sentinel",
            "password": "hunter2",
            "from": "alerts@example.org",
            "starttls": "false",
        }
    )
    assert settings == SmtpSettings(
        host="smtp.example.org",
        port=2525,
        username="sentinel",
        password="hunter2",
        sender="alerts@example.org",
        starttls=False,
    )
    assert "hunter2" not in repr(settings)
    assert settings.where == "smtp://smtp.example.org:2525"


def test_smtp_settings_defaults_without_credentials() -> None:
    settings = SmtpSettings.from_secret({"host": "relay.mail", "username": "", "from": " "})
    assert (settings.port, settings.starttls, settings.sender) == (
        25,
        False,
        "logsentinel@relay.mail",
    )
    assert settings.username is None


def test_smtp_settings_default_to_starttls_when_there_are_credentials() -> None:
    settings = SmtpSettings.from_secret(
        {"host": "smtp.example.org", "username": "u", "password": "p"}
    )
    assert (settings.port, settings.starttls) == (587, True)
    explicit = SmtpSettings.from_secret(
        {"host": "smtp.example.org", "username": "u", "password": "p", "starttls": "False"}
    )
    assert (explicit.port, explicit.starttls) == (25, False)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({}, "missing key 'host'"),
        ({"host": "  ", "port": "25"}, "missing key 'host'"),
        ({"host": "h", "port": "smtp"}, "'port' must be a port number, got 'smtp'"),
        ({"host": "h", "port": "70000"}, "'port' must be a port number"),
        ({"host": "h", "starttls": "maybe"}, "'starttls' must be true or false, got 'maybe'"),
        ({"host": "h", "username": "u"}, "missing key 'password'"),
    ],
)
def test_smtp_settings_errors_name_the_key(data: dict[str, str], complaint: str) -> None:
    with pytest.raises(NotifyError) as caught:
        SmtpSettings.from_secret(data)
    assert complaint in str(caught.value)


def test_email_message_subject_headers_and_body() -> None:
    settings = SmtpSettings.from_secret({"host": "smtp.example.org", "from": "alerts@example.org"})
    message = email_message(settings, ["a@example.org", "b@example.org"], notification())
    assert message["Subject"] == "[high] ErrorBurst on Deployment/shop/checkout"
    assert message["From"] == "alerts@example.org"
    assert message["To"] == "a@example.org, b@example.org"
    assert message["Message-ID"].endswith("@example.org>")
    body = message.get_content()
    assert body == email_body(notification())
    lines = [" ".join(line.split()) for line in body.splitlines()]
    assert lines[:3] == ["ErrorBurst on Deployment/shop/checkout", "", "Restarting checkout."]
    assert "Severity: high" in lines
    assert "Rule: error-burst" in lines
    assert "Target: Deployment/shop/checkout" in lines
    assert "Incident: shop/error-burst-checkout-3f2a9c0d" in lines
    assert "Sample: payment gateway timeout after 30s" in lines
    assert "Severity:      high" in body.splitlines()  # values aligned in one column


def test_email_subject_stays_on_one_line() -> None:
    settings = SmtpSettings.from_secret({"host": "smtp.example.org"})
    message = email_message(
        settings, ["a@example.org"], replace(notification(), title="two\nlines")
    )
    assert message["Subject"] == "[high] two lines"
