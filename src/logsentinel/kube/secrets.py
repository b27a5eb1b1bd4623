"""Secret data as text: the one decoding of a Secret's base64 values, strict about UTF-8."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping


class SecretDataError(ValueError):
    """A Secret value that is not base64 of UTF-8 text; the message names the Secret and key."""


def decode_secret_data(
    namespace: str, name: str, data: Mapping[str, str | bytes]
) -> dict[str, str]:
    """A Secret's ``data`` (base64 values, as the API returns them) as UTF-8 text per key."""
    decoded: dict[str, str] = {}
    for key, value in data.items():
        try:
            decoded[key] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise SecretDataError(
                f"Secret {namespace}/{name}: key {key!r} is not UTF-8 text ({error})"
            ) from error
    return decoded
