"""Ingest: turn a request body into validated LogRecords (the sinks module stores them).

Bodies are a JSON array or NDJSON, optionally gzip-compressed. Each item is validated against
the domain's LogRecord; an invalid item is reported by its line (NDJSON) or position (array)
with the reason, and does not stop the valid ones.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from logsentinel.domain.errors import summarise
from logsentinel.domain.logrecord import LogRecord

_RECORDS = TypeAdapter(list[LogRecord])
NOT_AN_OBJECT = "a record must be a JSON object"
SOURCE_IS_OURS = "source: set by Log Sentinel from the record's Kafka position; leave it out"


class BodyTooLargeError(Exception):
    """The body (or what it decompresses to) is over the limit."""


class BadBodyError(Exception):
    """The body cannot be read at all (not gzip, not JSON); the message says where."""


@dataclass(frozen=True)
class Rejected:
    line: int
    error: str


@dataclass(frozen=True)
class Valid:
    """A record that passed validation, and its JSON exactly as the client sent it: that is
    what goes to Kafka (the processors validate it with the same model), so a request's
    records are not serialised a second time."""

    record: LogRecord
    payload: bytes


@dataclass(frozen=True)
class Parsed:
    valid: list[Valid]
    rejected: list[Rejected]


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, gunzipped when Content-Encoding says so, never more than limit bytes."""
    if not encoding or encoding.lower() == "identity":
        return body
    if encoding.lower() not in ("gzip", "x-gzip"):
        raise BadBodyError(f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadBodyError(f"not valid gzip: {error}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise BodyTooLargeError(f"the body decompresses to more than {limit} bytes")
    return data


def parse(body: bytes) -> Parsed:
    """A JSON array (positions count from 1) or NDJSON (line numbers)."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as error:
            raise BadBodyError(f"not valid JSON: {error}") from None
        return _array(items)
    return _ndjson([(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()])


def _ndjson(lines: list[tuple[int, bytes]]) -> Parsed:
    valid: list[Valid] = []
    rejected: list[Rejected] = []
    records = _all_valid(lines)
    if records is not None:
        for (number, line), record in zip(lines, records, strict=True):
            _accept(valid, rejected, number, record, line)
        return Parsed(valid, rejected)
    for number, line in lines:
        try:
            record = LogRecord.model_validate_json(line)
        except ValidationError as error:
            rejected.append(Rejected(number, _reason(error)))
            continue
        _accept(valid, rejected, number, record, line)
    return Parsed(valid, rejected)


def _all_valid(lines: list[tuple[int, bytes]]) -> list[LogRecord] | None:
    """The records when every line is one valid record, validated in one call (the common case,
    and a sixth cheaper than line by line); None sends the caller line by line."""
    try:
        records = _RECORDS.validate_json(b"[" + b",".join(line for _, line in lines) + b"]")
    except ValidationError:
        return None
    # a line such as `{...},{...}` would pass as two records: then count them one by one
    return records if len(records) == len(lines) else None


def _array(items: list[Any]) -> Parsed:
    valid: list[Valid] = []
    rejected: list[Rejected] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            rejected.append(Rejected(number, NOT_AN_OBJECT))
            continue
        try:
            record = LogRecord.model_validate(item)
        except ValidationError as error:
            rejected.append(Rejected(number, _reason(error)))
            continue
        _accept(valid, rejected, number, record, orjson.dumps(item))
    return Parsed(valid, rejected)


def _accept(
    valid: list[Valid], rejected: list[Rejected], number: int, record: LogRecord, payload: bytes
) -> None:
    if record.source is not None:  # the idempotency key: a sender must not choose it
        rejected.append(Rejected(number, SOURCE_IS_OURS))
    else:
        valid.append(Valid(record, payload))


def _reason(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON: {first['msg']}"
    if first["type"] == "model_type" and not first["loc"]:
        return NOT_AN_OBJECT
    return summarise(error, limit=5)
