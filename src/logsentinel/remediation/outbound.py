"""Where notifications may connect: the outbound-target policy and the connectors that enforce it.

A playbook names its webhook URL or SMTP server, so without a policy anyone who may write a
Playbook (or the Secret it reads) could make the operator talk to loopback, the apiserver, the
database or a cloud metadata service. The policy is checked on the address each connection is
actually opened to: the host is resolved once per connection, every address it resolves to is
vetted, and the socket is opened to a vetted address literally, so a name that resolves
differently a moment later (DNS rebinding) cannot slip past. Names and addresses the operator's
settings allow are let through; everything else must be a public unicast address.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NewType, TypeVar

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS_DENIED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.0.0/24",  # IETF protocol assignments (Oracle Cloud metadata: 192.0.0.192)
        "168.63.129.16/32",  # Azure's wireserver: a public address that is the host's
        "100.64.0.0/10",  # carrier-grade NAT (Alibaba Cloud metadata: 100.100.100.200)
    )
)
"""Denied on top of what ``ipaddress`` calls non-global: cloud metadata and host services that
live on addresses Python considers public."""

HostName = NewType("HostName", str)
"""A host name as :func:`parse_allowed_target` normalised it: lower case, no trailing dot,
optionally ``*.`` followed by a domain."""

AllowedTarget = IPNetwork | HostName
"""One parsed allow-list entry."""

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""The well-known NAT64 prefix: IPv6-only clusters with DNS64 reach IPv4 hosts through it."""

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")


class OutboundRefusedError(Exception):
    """The policy does not allow a connection to this host; the message names the host and the
    address for the operator's log, and must not be shown to playbook authors."""


def is_public(address: IPAddress) -> bool:
    """True for a global unicast address that is no cloud metadata or host service; IPv6 forms
    that embed an IPv4 address (mapped, 6to4, NAT64) are judged by the embedded one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # a dual-stack socket connects to the IPv4 host
            return is_public(address.ipv4_mapped)
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
        if address.is_site_local:
            return False
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return not any(address in network for network in ALWAYS_DENIED)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which notification targets the operator may connect to.

    Public addresses always; beyond them, the addresses inside ``allowed_networks`` and anything
    a host named in ``allowed_hosts`` resolves to (``*.example.org`` allows every name below
    example.org). Host names are matched as written in the URL or SMTP Secret."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> OutboundPolicy:
        """The policy for a list of CIDRs, addresses and host names (ValueError naming a bad
        entry)."""
        return cls.of(parse_allowed_target(entry) for entry in entries)

    @classmethod
    def of(cls, targets: Iterable[AllowedTarget]) -> OutboundPolicy:
        """The policy for allow-list entries already parsed by :func:`parse_allowed_target`."""
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for target in targets:
            if isinstance(target, str):
                hosts.append(target)
            else:
                networks.append(target)
        return cls(tuple(networks), tuple(hosts))

    def allows_host(self, host: str) -> bool:
        name = _normal_host(host)
        for allowed in self.allowed_hosts:
            if allowed.startswith("*."):
                if name.endswith(allowed[1:]):
                    return True
            elif name == allowed:
                return True
        return False

    def allows_address(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None and any(mapped in network for network in self.allowed_networks):
            return True
        return is_public(address)

    def vet(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``, resolved now; OutboundRefusedError when any of
        them is not allowed (a name that mixes public and internal addresses is refused whole),
        OSError when the name does not resolve."""
        addresses = resolve(host, port)
        if self.allows_host(host):
            return addresses
        refused = [address for address in addresses if not self.allows_address(address)]
        if refused:
            raise OutboundRefusedError(f"{host} resolves to {', '.join(map(str, refused))}")
        return addresses


def parse_allowed_target(entry: str) -> AllowedTarget:
    """One allow-list entry: an address or CIDR as a network, else a host name (lower case,
    optionally ``*.`` followed by a domain); ValueError saying what is wrong with it."""
    text = entry.strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        address, slash, _ = text.partition("/")
        if slash and _ip_literal(address) is not None:
            raise ValueError(f"{entry!r} is not a valid CIDR: {error}") from None
    name = _normal_host(text)
    if not name or not _HOST_NAME.fullmatch(name) or len(name) > 253:
        raise ValueError(f"{entry!r} is neither an IP address, a CIDR nor a host name")
    return HostName(name)


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` stands for, in the resolver's order, without duplicates: the
    address itself for an IP literal (an IPv6 zone may be written ``%25zone`` as in URLs)."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as error:  # a label IDNA cannot encode, such as one over 63 characters
        raise OSError(f"{host!r} is not a host name: {error}") from error
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").replace("%25", "%"))
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


Connection = TypeVar("Connection")


def connect_vetted(
    policy: OutboundPolicy, host: str, port: int, connect: Callable[[str], Connection]
) -> Connection:
    """``connect(address)`` to the first vetted address of ``host`` that accepts; the last
    connection error when none does, OutboundRefusedError when the policy says no."""
    addresses = policy.vet(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    last: BaseException | None = None
    for address in addresses:
        try:
            return connect(str(address))
        except (OSError, httpcore.ConnectError, httpcore.ConnectTimeout) as error:
            last = error
    assert last is not None
    raise last


# --- HTTP -------------------------------------------------------------------------------------


class PolicyBackend(httpcore.NetworkBackend):
    """httpcore's blocking network backend, opening TCP connections only to vetted addresses.
    httpcore keeps the URL's host for the Host header, TLS SNI and certificate checks."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        def connect(address: str) -> httpcore.NetworkStream:
            return self._sockets.connect_tcp(address, port, timeout, local_address, socket_options)

        try:
            return connect_vetted(self._policy, host, port, connect)
        except OSError as error:  # the name did not resolve
            raise httpcore.ConnectError(str(error)) from error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise OutboundRefusedError("unix sockets are never a notification target")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


class PolicyTransport(httpx.HTTPTransport):
    """httpx's own transport (HTTP/1.1, certificates verified as httpx does by default, with
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured) whose connection pool opens its connections
    through :class:`PolicyBackend`. httpx maps httpcore's errors to its own and lets any other
    exception, such as :class:`OutboundRefusedError`, through unchanged."""

    def __init__(self, policy: OutboundPolicy) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context)
        # HTTPTransport takes no network backend, so the pool it built is replaced by one that
        # has ours; the unit tests pin that httpx still sends requests through ``_pool``.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            network_backend=PolicyBackend(policy),
        )


def http_client(policy: OutboundPolicy, timeout: float, headers: dict[str, str]) -> httpx.Client:
    """An httpx client that connects only where ``policy`` allows: redirects are not followed
    and proxy settings from the environment are ignored (a proxy would connect for us, to
    addresses the policy never sees)."""
    return httpx.Client(
        transport=PolicyTransport(policy),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


# --- SMTP -------------------------------------------------------------------------------------


class PolicySMTP(smtplib.SMTP):
    """smtplib's client, connecting only to vetted addresses; the host name stays what HELO,
    STARTTLS's SNI and certificate check use."""

    def __init__(self, policy: OutboundPolicy, host: str, port: int, timeout: float) -> None:
        self._policy = policy
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        def connect(address: str) -> socket.socket:
            return socket.create_connection((address, port), timeout, self.source_address)

        return connect_vetted(self._policy, host, port, connect)


__all__ = [
    "ALWAYS_DENIED",
    "AllowedTarget",
    "HostName",
    "OutboundPolicy",
    "OutboundRefusedError",
    "PolicyBackend",
    "PolicySMTP",
    "PolicyTransport",
    "connect_vetted",
    "http_client",
    "is_public",
    "parse_allowed_target",
    "resolve",
]
