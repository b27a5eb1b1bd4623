"""Ingest: turn a request body into validated LogRecords (the sinks module stores them).

Bodies are a JSON array or NDJSON, optionally gzip-compressed. Each item is validated against
the domain's LogRecord; an invalid item is reported by its line (NDJSON) or position (array)
with the reason, and does not stop the valid ones. No record is built: a batch of items is
decoded at once into LogRecordShape (msgspec; accepts nothing LogRecord would refuse), and only
items it does not accept are judged by LogRecord itself, which gives the reasons.

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

import msgspec
from pydantic import ValidationError

from logsentinel.api.jsoncount import BodyCounter, OverLimitError
from logsentinel.domain.errors import summarise
from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.recordshape import LogRecordShape, plainly_nested

_SHAPES = msgspec.json.Decoder(list[LogRecordShape])
_SHAPE = msgspec.json.Decoder(LogRecordShape)
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
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


Valid = tuple[bytes, bytes]
"""A record that passed validation: its Kafka key (LogRecord.partition_key) and its JSON exactly
as the client sent it. That JSON is what goes to Kafka (the processors validate it with
LogRecord again), so a request's records are never built nor serialised again. A plain tuple:
a batch of them is made without a Python call per record."""


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
        return _array(body)
    if body.count(b"\n") < MANY_LINES:
        lines = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    else:
        lines = list(_lines(body))  # blank ones, mostly: records are limited, lines are not
    return _judged(lines)


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


def _array(body: bytes) -> Parsed:
    try:
        items = _ITEMS.decode(body)  # each element's JSON as sent, none of them built
    except msgspec.MsgspecError as error:
        raise BadBodyError(f"not valid JSON: {error}") from None
    documents: list[tuple[int, bytes]] = []
    rejected: list[Rejected] = []
    for number, item in enumerate(items, start=1):
        document = bytes(item)
        if document.startswith(b"{"):
            documents.append((number, document))
        else:
            rejected.append(Rejected(number, NOT_AN_OBJECT))
    judged = _judged(documents)
    rejected.extend(judged.rejected)
    rejected.sort(key=lambda reject: reject.line)
    return Parsed(judged.valid, rejected)


def _judged(documents: list[tuple[int, bytes]]) -> Parsed:
    """Each numbered JSON document judged as a LogRecord, VALIDATE_BATCH at a time."""
    valid: list[Valid] = []
    rejected: list[Rejected] = []
    for start in range(0, len(documents), VALIDATE_BATCH):
        batch = documents[start : start + VALIDATE_BATCH]
        shapes = _all_shapes(batch)
        if shapes is not None:
            keys = [shape.partition_key.encode() for shape in shapes]
            payloads = (document for _, document in batch)
            valid.extend(zip(keys, payloads, strict=True))
            continue
        for number, document in batch:
            verdict = _one(document)
            if isinstance(verdict, str):
                rejected.append(Rejected(number, verdict))
            else:
                valid.append(verdict)
    return Parsed(valid, rejected)


def _all_shapes(batch: list[tuple[int, bytes]]) -> list[LogRecordShape] | None:
    """The shapes when every document is a plainly valid record, decoded in one call (the
    common case); None sends the caller document by document."""
    if not all(plainly_nested(document) for _, document in batch):
        return None
    try:
        shapes = _SHAPES.decode(b"[" + b",".join(document for _, document in batch) + b"]")
    except msgspec.MsgspecError:
        return None
    # a line such as `{...},{...}` would pass as two records: then judge them one by one
    return shapes if len(shapes) == len(batch) else None


def _one(document: bytes) -> Valid | str:
    """One document: Valid, or why it is not a record. The shape says yes quickly; anything it
    does not accept is for LogRecord to judge, with LogRecord's own reasons."""
    if plainly_nested(document):
        try:
            shape = _SHAPE.decode(document)
        except msgspec.MsgspecError:
            pass
        else:
            return shape.partition_key.encode(), document
    try:
        record = LogRecord.model_validate_json(document)
    except ValidationError as error:
        return _reason(error)
    if record.source is not None:  # the idempotency key: a sender must not choose it
        return SOURCE_IS_OURS
    return record.partition_key.encode(), document


def _reason(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON: {first['msg']}"
    if first["type"] == "model_type" and not first["loc"]:
        return NOT_AN_OBJECT
    return summarise(error, limit=5)
