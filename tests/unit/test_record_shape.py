"""LogRecordShape mirrors LogRecord: the same wire schema, and nothing it accepts is refused by
LogRecord (the ingest API relies on that to skip pydantic for the records the shape accepts)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.recordshape import LogRecordShape, plainly_nested

NOT_DESCRIPTIVE = {"title", "description"}


def _resolved(schema: Any, definitions: dict[str, Any]) -> Any:
    """The schema with references inlined, enums sorted and the descriptive keys dropped."""
    if isinstance(schema, list):
        return [_resolved(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        inlined = definitions[schema["$ref"].rsplit("/", 1)[-1]]
        return _resolved(
            {**inlined, **{k: v for k, v in schema.items() if k != "$ref"}}, definitions
        )
    resolved = {k: _resolved(v, definitions) for k, v in schema.items() if k not in NOT_DESCRIPTIVE}
    if "enum" in resolved:
        resolved["enum"] = sorted(resolved["enum"])
        resolved.pop("type", None)  # pydantic adds "type": "string" to a string enum
    return resolved


def _properties(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    definitions = schema.get("$defs", {})
    top = _resolved(schema, definitions)
    properties = {
        name: {k: v for k, v in spec.items() if not (k == "default" and v == {})}
        for name, spec in top["properties"].items()
    }
    return properties, sorted(top["required"])


def test_the_shape_has_logrecords_wire_schema_but_refuses_a_source() -> None:
    record, record_required = _properties(LogRecord.model_json_schema(by_alias=True))
    shape, shape_required = _properties(msgspec.json.schema(LogRecordShape))
    assert shape_required == record_required
    assert shape.keys() == record.keys()
    assert shape.pop("source") == {"type": "null", "default": None}
    record.pop("source")
    assert shape == record


# --- generated records: valid ones and their near misses -------------------------------------

TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat()),  # naive: LogRecord refuses it
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59.9999999Z",
            "2026-12-06t21:00:00z",
            "2026-12-06 21:00:00Z",
            "2026-12-06T21:00:60Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T21:00:00+24:00",
            "2026-12-06T21:00:00+0100",
            "2026-12-06T21:00:00,5Z",
            "2026-12-06T21:00Z",
            "2026-12-06",
            "",
        ]
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


def _text(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=8),
        st.sampled_from([limit - 1, limit, limit + 1]).map(lambda size: "é" * size),
    )


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": TIMES,
    "message": _text(256 * 1024) | st.integers(),
    "service": _text(253) | st.none(),
    "level": st.sampled_from(["info", "error", "INFO", "loud", None]),
    "namespace": _text(253),
    "pod": _text(253),
    "stream": st.sampled_from(["stdout", "stderr", "both", None]),
    "labels": st.dictionaries(st.text(max_size=4), _text(63) | st.integers(), max_size=2),
    "templateId": _text(64) | st.none(),
    "template_id": _text(64),
    "traceId": _text(128) | st.none(),
    "attributes": st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3)
    | st.lists(st.integers(), max_size=2),
    "source": st.none()
    | st.fixed_dictionaries(
        {
            "topic": st.text(max_size=3),
            "partition": st.integers(-1, 2),
            "offset": st.integers(-1, 2),
        }
    ),
    "unknown": st.integers(),
}
REQUIRED = ("timestamp", "message", "service")
OPTIONAL = tuple(name for name in FIELDS if name not in REQUIRED)

DOCUMENTS = st.builds(
    lambda values, present: {
        name: value
        for name, value in values.items()
        if (name in REQUIRED and present.get(name, True)) or present.get(name, False)
    },
    st.fixed_dictionaries(FIELDS),
    st.dictionaries(st.sampled_from(list(FIELDS)), st.booleans()),
)


@settings(max_examples=800, deadline=None)
@given(DOCUMENTS)
def test_whatever_the_shape_accepts_logrecord_accepts(document: dict[str, Any]) -> None:
    raw = json.dumps(document).encode()
    try:
        shape = msgspec.json.decode(raw, type=LogRecordShape)
    except msgspec.MsgspecError:
        return  # refused: LogRecord judges it (the ingest API asks it)
    try:
        record = LogRecord.model_validate_json(raw)
    except ValidationError as error:
        raise AssertionError(f"the shape accepted what LogRecord refuses: {error}") from None
    assert shape.partition_key == record.partition_key
    assert record.source is None


def test_ordinary_records_are_accepted_by_the_shape() -> None:
    """The fast path is taken for what agents send: these go through msgspec only."""
    documents = [
        {"timestamp": "2026-12-06T21:00:00Z", "message": "m", "service": "s"},
        {
            "timestamp": "2026-12-06T21:00:00.123456+01:00",
            "level": "error",
            "message": "GET /x status=500",
            "service": "checkout",
            "namespace": "shop",
            "pod": "checkout-1",
            "container": "app",
            "node": "n1",
            "stream": "stderr",
            "labels": {"app": "checkout"},
            "templateId": "t1",
            "traceId": "abc",
            "attributes": {"status": 500, "path": "/x", "nested": {"a": [1, 2.5, None, True]}},
        },
    ]
    for document in documents:
        raw = json.dumps(document).encode()
        assert plainly_nested(raw)
        msgspec.json.decode(raw, type=LogRecordShape)
        LogRecord.model_validate_json(raw)
