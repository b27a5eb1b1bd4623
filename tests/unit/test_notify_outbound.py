"""The outbound-target policy without a network: which addresses are public, the allow-list
entries and their errors, host-name matching, vetting a resolver's answer, and the operator
setting that feeds it."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import httpcore
import httpx
import pytest
from pydantic import ValidationError

from logsentinel.operator.settings import OperatorSettings
from logsentinel.remediation.outbound import (
    OutboundPolicy,
    OutboundRefusedError,
    PolicyBackend,
    PolicyTransport,
    http_client,
    is_public,
    parse_allowed_target,
    resolve,
)

PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"]
NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "172.31.255.1",
    "192.168.0.1",
    "169.254.169.254",
    "169.254.170.2",
    "100.64.0.1",
    "100.100.100.200",
    "192.0.0.192",
    "168.63.129.16",
    "198.18.0.1",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::7f00:1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_internal_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("10.0.0.0/8", ipaddress.ip_network("10.0.0.0/8")),
        (" 127.0.0.1 ", ipaddress.ip_network("127.0.0.1/32")),
        ("fd00::/8", ipaddress.ip_network("fd00::/8")),
        ("::1", ipaddress.ip_network("::1/128")),
        ("Alertmanager.Monitoring.svc.", "alertmanager.monitoring.svc"),
        ("*.internal.example.org", "*.internal.example.org"),
        ("localhost", "localhost"),
    ],
)
def test_allow_list_entries(entry: str, parsed: object) -> None:
    assert parse_allowed_target(entry) == parsed


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("10.0.0.1/8", "'10.0.0.1/8' is not a valid CIDR: 10.0.0.1/8 has host bits set"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a valid CIDR"),
        ("http://hooks.example", "neither an IP address, a CIDR nor a host name"),
        ("hooks example", "neither an IP address, a CIDR nor a host name"),
        ("*", "neither an IP address, a CIDR nor a host name"),
        ("", "neither an IP address, a CIDR nor a host name"),
        ("a" * 64 + ".example", "neither an IP address, a CIDR nor a host name"),
    ],
)
def test_bad_allow_list_entries_are_named(entry: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))) as caught:
        parse_allowed_target(entry)
    assert complaint in str(caught.value)


def test_host_names_match_as_written_and_wildcards_only_below_their_domain() -> None:
    policy = OutboundPolicy.allowing(["alertmanager.monitoring.svc", "*.corp.example"])
    assert policy.allows_host("alertmanager.monitoring.svc")
    assert policy.allows_host("ALERTMANAGER.monitoring.svc.")
    assert not policy.allows_host("alertmanager.monitoring.svc.cluster.local")
    assert not policy.allows_host("alertmanager")
    assert policy.allows_host("hooks.corp.example")
    assert policy.allows_host("a.b.corp.example")
    assert not policy.allows_host("corp.example")
    assert not policy.allows_host("evilcorp.example")


def test_allowed_networks_open_only_their_addresses() -> None:
    policy = OutboundPolicy.allowing(["10.96.0.0/12", "127.0.0.1"])
    assert policy.allows_address(ipaddress.ip_address("10.96.0.10"))
    assert policy.allows_address(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not policy.allows_address(ipaddress.ip_address("10.0.0.1"))
    assert not policy.allows_address(ipaddress.ip_address("127.0.0.2"))
    assert not policy.allows_address(ipaddress.ip_address("169.254.169.254"))
    assert policy.allows_address(ipaddress.ip_address("8.8.8.8"))


def fake_resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_ip_literals_are_vetted_without_asking_the_resolver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = fake_resolver(monkeypatch, {})
    policy = OutboundPolicy()
    assert policy.vet("8.8.8.8", 443) == [ipaddress.ip_address("8.8.8.8")]
    assert resolve("fe80::1%25eth0", 80) == [ipaddress.ip_address("fe80::1%eth0")]
    with pytest.raises(OutboundRefusedError):
        policy.vet("[::1]", 80)
    assert asked == []


def test_a_name_with_any_internal_address_is_refused_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_resolver(
        monkeypatch,
        {"mixed.example": ["8.8.8.8", "10.0.0.5"], "public.example": ["8.8.8.8", "8.8.4.4"]},
    )
    policy = OutboundPolicy()

    with pytest.raises(OutboundRefusedError) as caught:
        policy.vet("mixed.example", 443)
    assert str(caught.value) == "mixed.example resolves to 10.0.0.5"
    assert policy.vet("public.example", 443) == [
        ipaddress.ip_address("8.8.8.8"),
        ipaddress.ip_address("8.8.4.4"),
    ]
    assert OutboundPolicy.allowing(["mixed.example"]).vet("mixed.example", 443)


def test_names_that_do_not_resolve_or_cannot_be_encoded_are_os_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_resolver(monkeypatch, {})
    with pytest.raises(OSError, match="Name or service not known"):
        OutboundPolicy().vet("nowhere.example", 80)
    monkeypatch.undo()
    with pytest.raises(OSError, match="is not a host name"):
        resolve("a" * 64 + ".example", 80)  # IDNA refuses labels over 63 characters


def test_the_http_transport_is_httpx_own_with_its_pool_swapped() -> None:
    transport = PolicyTransport(OutboundPolicy())
    # httpx sends requests through the private ``_pool``: if it is renamed, the swapped pool is
    # bypassed, so this and the next test fail rather than the policy silently going away.
    assert isinstance(transport, httpx.HTTPTransport)
    assert isinstance(transport._pool, httpcore.ConnectionPool)
    assert isinstance(transport._pool._network_backend, PolicyBackend)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "https://[::ffff:169.254.169.254]/", "http://10.0.0.5/"]
)
def test_the_http_client_surfaces_a_refusal_unchanged(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    asked = fake_resolver(monkeypatch, {})
    with http_client(OutboundPolicy(), 1.0, {}) as client, pytest.raises(OutboundRefusedError):
        client.post(url, json={})
    assert asked == []


def test_the_http_client_maps_connection_errors_to_httpx_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_resolver(monkeypatch, {})
    refused = pytest.raises(httpx.ConnectError, match="Name or service not known")
    with http_client(OutboundPolicy(), 1.0, {}) as client, refused:
        client.post("http://nowhere.example/hook", json={})


def test_the_operator_setting_takes_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSENTINEL_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv(
        "LOGSENTINEL_NOTIFY_ALLOWED_TARGETS", '["10.0.0.0/8", " alertmanager.monitoring.svc "]'
    )
    settings = OperatorSettings()
    assert settings.notify_allowed_targets == [
        ipaddress.ip_network("10.0.0.0/8"),
        "alertmanager.monitoring.svc",
    ]
    policy = OutboundPolicy.of(settings.notify_allowed_targets)
    assert policy == OutboundPolicy.allowing(["10.0.0.0/8", "alertmanager.monitoring.svc"])
    assert policy.allows_host("alertmanager.monitoring.svc")

    monkeypatch.delenv("LOGSENTINEL_NOTIFY_ALLOWED_TARGETS")
    assert OperatorSettings().notify_allowed_targets == []


def test_a_bad_operator_setting_names_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSENTINEL_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv("LOGSENTINEL_NOTIFY_ALLOWED_TARGETS", '["10.0.0.0/8", "10.1.0.1/16"]')

    with pytest.raises(ValidationError) as caught:
        OperatorSettings()

    message = str(caught.value)
    assert "notify_allowed_targets.1" in message
    assert "'10.1.0.1/16' is not a valid CIDR" in message

    monkeypatch.setenv("LOGSENTINEL_NOTIFY_ALLOWED_TARGETS", '["10.0.0.0/8", 10]')
    with pytest.raises(ValidationError, match=r"notify_allowed_targets\.1\n.*10 is not a string"):
        OperatorSettings()
