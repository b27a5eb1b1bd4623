"""Who a credential belongs to, remembered for a few seconds.

Authenticating every request against PostgreSQL would cost a round trip (and a pooled
connection) per request; ingest at thousands of requests per second cannot pay that. A user's
role and disabled flag, and an API key's hash and revocation, are therefore remembered for
`ttl` seconds. The replica that revokes a key or changes a user (disables it, changes its role)
forgets it at once; other replicas see the change within `ttl` seconds
(LOGSENTINEL_IDENTITY_CACHE_SECONDS, 0 turns remembering off).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from logsentinel.domain.access import ApiKeyInfo, User

V = TypeVar("V")


class Remembered(Generic[V]):
    """A map whose entries expire `ttl` seconds after they were put (at most `size` kept)."""

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, V | None]:
        """(True, value) when remembered and fresh, else (False, None)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return False, None
            return True, entry[1]

    def put(self, key: str, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()  # a flood of distinct keys: start over, stay bounded
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


@dataclass(frozen=True)
class KnownKey:
    info: ApiKeyInfo
    secret_hash: str


class Identities:
    """Users by name and API keys by id, as last read from the database (None: not there)."""

    def __init__(self, ttl: float) -> None:
        self.users: Remembered[User | None] = Remembered(ttl)
        self.keys: Remembered[KnownKey | None] = Remembered(ttl)
