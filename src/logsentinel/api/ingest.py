"""Ingest: turn a request body into validated LogRecords (the sinks module stores them).

Bodies are a JSON array or NDJSON, optionally gzip-compressed. Each item is validated against
the domain's LogRecord; an invalid item is reported by its line (NDJSON) or position (array)
with the reason, and does not stop the valid ones.

`read_body` holds a body to its limits before parsing it: a gzip body is inflated a chunk at a
time, and inflating stops as soon as the inflated size, the records or the JSON values pass
their limit (see jsoncount.py), so a small body cannot make the API build gigabytes. It is
synchronous and meant for a worker thread when the body is large.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from logsentinel.api.jsoncount import BodyCounter, OverLimitError
from logsentinel.domain.errors import summarise
from logsentinel.domain.logrecord import LogRecord

_RECORDS = TypeAdapter(list[LogRecord])
_CONTENT = re.compile(rb"\S")
INFLATE_CHUNK = 256 * 1024
SEARCH_SLICE = 256 * 1024
MANY_LINES = 100_000  # more lines than this are not split into a list (see parse)
VALIDATE_BATCH = 1000  # lines validated in one call: bounds how long one call holds the GIL
NOT_AN_OBJECT = "a record must be a JSON object"
SOURCE_IS_OURS = "source: set by Log Sentinel from the record's Kafka position; leave it out"


class BodyTooLargeError(Exception):
    """The body is over a limit: its decompressed size, its records or its JSON values."""


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


@dataclass(frozen=True)
class Limits:
    """What one ingest body may hold."""

    decompressed_bytes: int
    records: int
    json_values: int


def compressed(encoding: str | None) -> bool:
    """Whether Content-Encoding says the body must be inflated (an unsupported one too)."""
    return encoding is not None and encoding.lower() not in ("", "identity")


def read_body(body: bytes, encoding: str | None, limits: Limits) -> Parsed:
    """The records of a body, its limits checked before anything is parsed."""
    counter = BodyCounter(limits.records, limits.json_values)
    try:
        if compressed(encoding):
            body = _inflate(body, encoding, limits.decompressed_bytes, counter)
        else:
            counter.feed(body)
    except OverLimitError as error:
        raise BodyTooLargeError(str(error)) from None
    return parse(body)


def _inflate(body: bytes, encoding: str | None, limit: int, counter: BodyCounter) -> bytes:
    if (encoding or "").lower() not in ("gzip", "x-gzip"):
        raise BadBodyError(f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    chunks: list[bytes] = []
    size, pending = 0, body
    while True:
        try:
            chunk = inflater.decompress(pending, INFLATE_CHUNK)
        except zlib.error as error:
            raise BadBodyError(f"not valid gzip: {error}") from None
        pending = inflater.unconsumed_tail
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(
                f"the body decompresses to more than {limit} bytes, the limit per request"
            )
        counter.feed(chunk)
        chunks.append(chunk)
        if inflater.eof or not (chunk or pending):
            return b"".join(chunks)


def parse(body: bytes) -> Parsed:
    """A JSON array (positions count from 1) or NDJSON (line numbers)."""
    first = _next_content(body, 0)
    if first >= 0 and body[first] == ord("["):
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadBodyError(f"not valid JSON: {error}") from None
        return _array(items)
    if body.count(b"\n") < MANY_LINES:
        return _ndjson([(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()])
    return _ndjson(list(_lines(body)))  # blank ones, mostly: records are limited, lines are not


def _lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """The lines that are not blank, with their numbers (counting from 1), passing over blank
    ones without a list of them."""
    number, position, counted_to = 1, 0, 0
    while (content := _next_content(body, position)) >= 0:
        newline = body.rfind(b"\n", position, content)
        start = position if newline < 0 else newline + 1
        end = body.find(b"\n", content)
        end = len(body) if end < 0 else end
        number += body.count(b"\n", counted_to, start)
        counted_to = start
        yield number, body[start:end]
        position = end + 1


def _next_content(body: bytes, position: int) -> int:
    """Where the first byte that is not whitespace is, from `position` on; -1: none is."""
    while position < len(body):
        # a slice at a time: one regular-expression call holds the GIL throughout
        found = _CONTENT.search(body, position, position + SEARCH_SLICE)
        if found is not None:
            return found.start()
        position += SEARCH_SLICE
    return -1


def _ndjson(lines: list[tuple[int, bytes]]) -> Parsed:
    valid: list[Valid] = []
    rejected: list[Rejected] = []
    for start in range(0, len(lines), VALIDATE_BATCH):
        batch = lines[start : start + VALIDATE_BATCH]
        records = _all_valid(batch)
        if records is not None:
            for (number, line), record in zip(batch, records, strict=True):
                _accept(valid, rejected, number, record, line)
            continue
        for number, line in batch:
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
