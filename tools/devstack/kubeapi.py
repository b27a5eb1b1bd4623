"""A minimal HTTPS client for the few API calls devstack makes itself (health, Nodes).

Standard library only, authenticated with a client certificate, verified against our CA.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class KubeAPI:
    """Talks to ``https://<host>:<port>`` as the identity whose key pair is given."""

    def __init__(
        self,
        port: int,
        ca: Path,
        cert: Path | None = None,
        key: Path | None = None,
        host: str = "127.0.0.1",
    ):
        self.base = f"https://{host}:{port}"
        self.context = ssl.create_default_context(cafile=str(ca))
        if cert is not None and key is not None:
            self.context.load_cert_chain(str(cert), str(key))

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, str]:
        """Status and body text of one request; HTTP errors are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=5) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode(errors="replace")

    def ok(self, path: str) -> bool:
        """True when GET ``path`` answers 200 with body ``ok`` (healthz/readyz/livez)."""
        status, text = self.request("GET", path)
        return status == 200 and text.strip() == "ok"

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON object; raise on a non-200 answer."""
        status, text = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {text[:300]}")
        data = json.loads(text)
        assert isinstance(data, dict)
        return data

    def create(self, path: str, obj: dict[str, Any]) -> bool:
        """POST ``obj``; True when created, False when it already exists; raise otherwise."""
        status, text = self.request("POST", path, obj)
        if status in (200, 201):
            return True
        if status == 409:
            return False
        raise RuntimeError(f"POST {path}: HTTP {status}: {text[:300]}")

    def apply(self, collection: str, obj: dict[str, Any]) -> None:
        """Create ``obj`` in ``collection``, or replace the existing object of that name."""
        if not self.create(collection, obj):
            name = obj["metadata"]["name"]
            current = self.get(f"{collection}/{name}")
            replacement = {**obj, "metadata": {**obj["metadata"], **_version(current)}}
            status, text = self.request("PUT", f"{collection}/{name}", replacement)
            if status != 200:
                raise RuntimeError(f"PUT {collection}/{name}: HTTP {status}: {text[:300]}")


def _version(current: dict[str, Any]) -> dict[str, str]:
    return {"resourceVersion": current["metadata"]["resourceVersion"]}
