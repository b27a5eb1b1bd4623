"""Counting an ingest body's records and JSON values while it streams in, before any parsing.

A small gzip body can inflate to millions of tiny JSON values, and parsing them first costs
gigabytes and seconds; so the limits on records and values are checked chunk by chunk as the
body is inflated, and the counter raises as soon as one is passed.

Records are the lines that are not blank (NDJSON) or the elements of the top-level array. JSON
values are counted as every record plus every `,`, `[` and `{` outside strings: each value is a
record, follows a comma, or is the first member of an array or object, so this is an upper bound
of what parsing would build.

Counting is cheap while a body is clearly within its limits: an upper bound (every comma,
bracket and brace, inside strings too) comes from `bytes.count`. Only when that bound passes a
limit does the counter tokenise (skipping strings, tracking nesting) from the start of the body.
Wherever the body is valid JSON the exact counts are exact; parsing stops at a syntax error, so
what the counter makes of the text after one is never built.
"""

from __future__ import annotations

import re
from enum import Enum


class OverLimitError(Exception):
    """The body has more records or JSON values than allowed; the message names the limit."""


class _Format(Enum):
    NDJSON = "ndjson"
    ARRAY = "array"


_CONTENT = re.compile(rb"\S")
# A complete string. Strings end at a newline too: JSON strings cannot hold one, and NDJSON lines
# must stay independent (a stray quote on one line cannot hide the lines after it).
_STRING = re.compile(rb'"(?:[^"\\\n]++|\\[^\n])*+"')
_STRING_REST = re.compile(rb'(?:[^"\\\n]++|\\[^\n])*+')  # the rest of one, from inside it
_BROKEN_STRING = re.compile(rb'"[^\n]*')  # once complete ones are gone: one cut by a newline
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_QUOTE, _BACKSLASH, _NEWLINE = 0x22, 0x5C, 0x0A
_OPEN, _CLOSE, _COMMA = frozenset(b"[{"), frozenset(b"]}"), ord(",")
SLICE = 256 * 1024  # the most one regular-expression call looks at (it holds the GIL throughout)


class BodyCounter:
    """Feed it a body chunk by chunk; `feed` raises OverLimitError once a limit is passed."""

    def __init__(self, max_records: int, max_values: int) -> None:
        self.max_records = max_records
        self.max_values = max_values
        self._format: _Format | None = None
        # the cheap upper bounds: these bytes anywhere
        self._fed = 0
        self._bound_commas = 0  # arrays: for the records
        self._bound_newlines = 0  # NDJSON: for the records
        self._bound_punctuation: int | None = None  # commas, `[` and `{`, once they matter
        # exact counts, once the bound passed a limit
        self._exact = False
        self._seen: list[bytes] = []  # the chunks fed before, to count exactly from the start
        self._lines = 0  # NDJSON lines that are not blank
        self._mid_line = False  # the last chunk ended inside a line
        self._line_counted = False  # ... and that line is already counted
        self._commas = 0
        self._opens = 0
        self._top_commas = 0  # commas between the top-level array's elements
        self._depth = 0
        self._in_string = False
        self._escape = False  # the last chunk ended with a backslash inside a string

    @property
    def records(self) -> int:
        if self._format is _Format.ARRAY:
            return 1 + (self._top_commas if self._exact else self._bound_commas)
        if self._format is None:
            return 0
        return self._lines if self._exact else self._bound_newlines + 1

    @property
    def values(self) -> int:
        if self._exact:
            return self._commas + self._opens + self.records
        if self._bound_punctuation is None:
            # each record, comma and opening has a byte of its own (a record's may be one of
            # the others): the values are at most twice the bytes
            return 2 * self._fed
        return self._bound_punctuation + self.records

    def feed(self, data: bytes) -> None:
        if len(data) <= SLICE:
            self._feed(data)
            return
        for start in range(0, len(data), SLICE):
            self._feed(data[start : start + SLICE])

    def _feed(self, chunk: bytes) -> None:
        if self._format is None:
            start = chunk.lstrip()[:1]
            if start:
                self._format = _Format.ARRAY if start == b"[" else _Format.NDJSON
        self._fed += len(chunk)
        if not self._exact:
            self._seen.append(chunk)
            if self._format is _Format.ARRAY:
                self._bound_commas += chunk.count(b",")
            else:
                self._bound_newlines += chunk.count(b"\n")
            if self._bound_punctuation is not None:
                self._bound_punctuation += _punctuation(chunk)
            elif 2 * self._fed > self.max_values:  # from now on the bound is worth counting
                self._bound_punctuation = sum(_punctuation(seen) for seen in self._seen)
            if self.records <= self.max_records and self.values <= self.max_values:
                return  # within the limits for sure
            self._exact = True
            for seen in self._seen:
                self._count_exactly(seen)
            self._seen.clear()
        else:
            self._count_exactly(chunk)
        self._check()

    def _check(self) -> None:
        if self.records > self.max_records:
            raise OverLimitError(
                f"more than {self.max_records} records; at most {self.max_records} per request"
            )
        if self.values > self.max_values:
            raise OverLimitError(
                f"more than {self.max_values} JSON values; at most {self.max_values} per request"
            )

    def _count_lines(self, chunk: bytes) -> None:
        start = 0
        if self._mid_line:  # the chunk goes on with a line begun earlier
            newline = chunk.find(b"\n")
            stop = len(chunk) if newline < 0 else newline
            if not self._line_counted and _CONTENT.search(chunk, 0, stop):
                self._line_counted = True
                self._lines += 1
            if newline < 0:
                return
            start = newline + 1
        counted_here = False
        while self._lines <= self.max_records:  # counting past the limit is waste
            content = _CONTENT.search(chunk, start)
            if content is None:
                break
            self._lines += 1
            newline = chunk.find(b"\n", content.end())
            if newline < 0:
                counted_here = True  # the line the next chunk continues has content
                start = len(chunk)
                break
            start = newline + 1
        self._mid_line = not chunk.endswith(b"\n")
        self._line_counted = counted_here

    def _count_exactly(self, chunk: bytes) -> None:
        if self._format is not _Format.ARRAY:
            self._count_lines(chunk)
            if self._lines > self.max_records:
                return
        text = self._outside_strings(chunk)
        self._commas += text.count(b",")
        self._opens += text.count(b"[") + text.count(b"{")
        if self._format is not _Format.ARRAY or self.values > self.max_values:
            return
        depth = self._depth
        for byte in text.translate(None, _NOT_STRUCTURE):
            if byte in _OPEN:
                depth += 1
            elif byte in _CLOSE:
                depth -= 1
            elif byte == _COMMA and depth == 1:
                self._top_commas += 1
                if self._top_commas >= self.max_records:
                    break  # over the limit already: _check says so
        self._depth = depth

    def _outside_strings(self, chunk: bytes) -> bytes:
        """The chunk without its strings (and without the end of one begun earlier)."""
        if self._in_string:
            chunk = chunk[self._finish_string(chunk) :]
        text = _STRING.sub(b"", chunk)
        last_quote = text.rfind(b'"')
        if last_quote < 0:
            return text
        if text.find(b"\n", last_quote) < 0:  # a string that goes on in the next chunk
            self._in_string = True
            tail = text[last_quote + 1 :]
            self._escape = (len(tail) - len(tail.rstrip(b"\\"))) % 2 == 1
        return _BROKEN_STRING.sub(b"", text)

    def _finish_string(self, chunk: bytes) -> int:
        """Where the string begun in an earlier chunk ends in this one: after its quote, at a
        newline, or at the chunk's end when it goes on (the state says so)."""
        position, end = 0, len(chunk)
        if self._escape:
            self._escape = False
            if chunk[0] != _NEWLINE:
                position = 1  # the byte the backslash escapes
        rest = _STRING_REST.match(chunk, position)
        assert rest is not None  # the pattern matches the empty string
        stop = rest.end()
        if stop == end:
            return end
        byte = chunk[stop]
        if byte == _BACKSLASH and stop + 1 == end:
            self._escape = True
            return end
        self._in_string = False
        if byte == _QUOTE:
            return stop + 1
        return stop + 1 if byte == _BACKSLASH else stop  # a newline ends it


def _punctuation(chunk: bytes) -> int:
    return chunk.count(b",") + chunk.count(b"[") + chunk.count(b"{")
