"""JSON decoding for the hot path: orjson when it is installed, the standard library otherwise.

Both refuse ``NaN``/``Infinity`` (not JSON; PostgreSQL's jsonb rejects them) and raise
:class:`JsonError` for every failure, including nesting too deep for the parser. A document
orjson refuses (a lone surrogate escape such as ``\\ud800``) is retried with the standard
library, which accepts it; the caller cleans such text. One difference remains: orjson reads
integers beyond 64 bits as floats, the standard library as exact integers.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any, cast


class JsonError(ValueError):
    """The text is not a JSON document we accept."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_STDLIB_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _stdlib_loads(text: bytes | str) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _STDLIB_DECODER.decode(text)


def _find_fast_loads() -> Callable[[bytes | str], Any] | None:
    try:
        module = importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return cast(Callable[[bytes | str], Any], module.loads)


_FAST_LOADS = _find_fast_loads()
BACKEND = "orjson" if _FAST_LOADS is not None else "json"
"""Which parser is in use, for benchmarks and diagnostics."""


def loads(text: bytes | str) -> Any:
    """Parse one JSON document; bytes must be UTF-8 (UnicodeDecodeError tells when not)."""
    if _FAST_LOADS is not None:
        try:
            return _FAST_LOADS(text)
        except ValueError:
            if isinstance(text, bytes):
                text.decode("utf-8")  # raise UnicodeDecodeError for bad UTF-8, as json does
    try:
        return _stdlib_loads(text)
    except UnicodeDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        raise JsonError(str(error)) from None


def dumps_compact(value: object) -> str:
    """Compact JSON text for a value we stringify (too deep to keep as structure)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
