"""Value types shared by the schemas: durations, regexes, quantities, names.

Each type validates in Python and carries the JSON schema that the CRD generator publishes, so
the apiserver and the domain agree on what is valid.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from logsentinel.domain.regex import MAX_REGEX_LENGTH, compile_regex

# --- durations -------------------------------------------------------------------------------

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d))+$"
MAX_DURATION = timedelta(days=366)


def parse_duration(value: object) -> timedelta:
    """``"1h30m"`` -> ``timedelta(hours=1, minutes=30)``. Units: ms, s, m, h, d."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like 30s, 5m or 1h, got {value!r}")
    text = value
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"invalid duration {value!r}: expected like 30s, 5m, 1h or 1h30m")
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # a ValueError is what validation reports; OverflowError would escape
        raise ValueError(f"invalid duration {value!r}: too long") from None


Json = dict[str, Any]
"""A JSON object as the Kubernetes API and its clients exchange it."""

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


def flag(text: str) -> bool | None:
    """An annotation's or setting's yes/no: True for true/yes/1, False for false/no/0 (any case,
    surrounding blanks ignored), None for anything else."""
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as the domain models write it."""
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment!r} has no time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_duration(value: timedelta) -> str:
    """The shortest canonical text for ``value`` (``timedelta(seconds=90)`` -> ``1m30s``)."""
    milliseconds = round(value.total_seconds() * 1000)
    if milliseconds == 0:
        return "0s"
    text = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, milliseconds = divmod(milliseconds, size)
        if count:
            text += f"{count}{unit}"
    if milliseconds:
        text += f"{milliseconds}ms"
    return text


def _bounded_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    if value > MAX_DURATION:
        raise ValueError(f"must be at most {format_duration(MAX_DURATION)}")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_bounded_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}),
]
"""A positive duration written like ``30s``, ``5m``, ``1h30m`` (at most 366 days)."""

# --- regular expressions ---------------------------------------------------------------------


def _compiles(pattern: str) -> str:
    compile_regex(pattern)  # a RegexError is a ValueError: pydantic reports its message
    return pattern


Regex = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_REGEX_LENGTH),
    AfterValidator(_compiles),
    Field(description="A regular expression in RE2 syntax (no lookaround or backreferences)."),
]
"""A regular expression in RE2 syntax (no lookaround or backreferences), at most 1024
characters; see :mod:`logsentinel.domain.regex`."""


def _has_named_groups(pattern: str) -> str:
    if not compile_regex(pattern).groupindex:
        raise ValueError("must define at least one named group like (?P<status>\\d+)")
    return pattern


NamedGroupRegex = Annotated[Regex, AfterValidator(_has_named_groups)]
"""A regex whose named groups become record fields."""

# --- Kubernetes quantities -------------------------------------------------------------------

_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$"
)
_QUANTITY_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def quantity_value(quantity: str) -> Decimal:
    """The number a Kubernetes quantity stands for: ``"1Gi"`` -> ``1073741824``."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(f"invalid quantity {quantity!r}: expected like 500m, 128Mi or 2Gi")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid quantity {quantity!r}") from None
    return number * _QUANTITY_FACTORS[match["suffix"]]


def _quantity_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a quantity like 500m, 128Mi or 2Gi, got {value!r}")
    text = str(value)
    quantity_value(text)
    return text


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    WithJsonSchema({"x-kubernetes-int-or-string": True}),
]
"""A Kubernetes resource quantity (``500m``, ``128Mi``, ``2Gi`` or a plain integer)."""

# --- names -----------------------------------------------------------------------------------

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def hashed_name(prefix: str, key: str, limit: int, digest_length: int = 10) -> str:
    """``<prefix>-<hash of key>`` in at most ``limit`` characters: the prefix is cut to fit (and
    loses a trailing ``-`` or ``.``), the hash keeps names of different keys apart."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:digest_length]
    return f"{prefix[: limit - digest_length - 1].rstrip('-.')}-{digest}"


NamespaceName = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A Kubernetes namespace name (DNS-1123 label)."""

ObjectName = Annotated[str, StringConstraints(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
"""A Kubernetes object name (DNS-1123 subdomain)."""

ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""The logical service a record belongs to (usually the ``app.kubernetes.io/name`` label)."""

QualifiedName = Annotated[
    str,
    StringConstraints(
        max_length=317,
        pattern=f"^({DNS_LABEL_PATTERN[1:-1]}/)?{DNS_SUBDOMAIN_PATTERN[1:-1]}$",
    ),
]
"""``namespace/name`` of an object, or just its ``name``."""

Identifier = Annotated[str, StringConstraints(max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
"""A short identifier: letters, digits, ``-`` and ``_``, starting with a letter."""

ShortText = Annotated[str, StringConstraints(max_length=1024)]
"""Free text for descriptions and messages, bounded so that objects stay small."""

# --- text ------------------------------------------------------------------------------------

NO_NUL_PATTERN = r"^[^\x00]*$"


def _without_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return text


class _PublishNoNul:
    """Puts NO_NUL_PATTERN in the JSON schema, so clients know before they are refused."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", NO_NUL_PATTERN)
        return json_schema


StorableText = Annotated[str, AfterValidator(_without_nul), _PublishNoNul]
"""Text PostgreSQL can store (in text and jsonb): anything but NUL. Lone surrogates, which UTF-8
cannot encode, are refused by pydantic for every ``str`` already."""

LabelValue = Annotated[str, StringConstraints(max_length=63)]
LabelMap = dict[str, LabelValue]
"""Kubernetes labels (``key: value``)."""
