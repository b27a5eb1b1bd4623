"""The usual shape of a Fluent Bit record, read from its bytes in one msgspec call.

Almost every value on the topic is what our Fluent Bit configuration writes: text in ``log``
(or ``message``), an ISO ``@timestamp``, a ``stream`` and the kubernetes filter's object.
:data:`FLUENT_BIT_SHAPE` reads exactly those fields straight from the bytes, skipping the others
without building them, and keeps the ``kubernetes`` object as its raw bytes: they are the same
for every line of a container, so they key the checked metadata of its pod
(:meth:`logsentinel.parsing.fluentbit.EnvelopeReader.read_value`).

It only ever narrows: a value it refuses (another type in one of these fields, bad UTF-8,
nesting past msgspec's limit, not an object) is read the general way, whose verdict and
message are the answer. Kept apart from the compiled modules: mypyc cannot compile a
``msgspec.Struct``.
"""

from __future__ import annotations

import msgspec

ABSENT = msgspec.Raw(b"null")
"""What ``kubernetes`` holds when the record has none (read_value then leaves the value)."""


class FluentBitShape(msgspec.Struct):
    """The fields of a Fluent Bit record that the decoder reads; the rest are skipped."""

    kubernetes: msgspec.Raw = ABSENT
    log: str | None = None
    message: str | None = None
    """The classic ``cri`` parser's name for ``log``."""
    stream: str | None = None
    timestamp: str | None = msgspec.field(default=None, name="@timestamp")


FLUENT_BIT_SHAPE = msgspec.json.Decoder(FluentBitShape)
SHAPE_REFUSED = (msgspec.DecodeError, RecursionError)
"""What FLUENT_BIT_SHAPE raises for a value it leaves to the general reader (ValidationError
is a DecodeError)."""
