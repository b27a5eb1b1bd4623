"""A rule's selector, match and groupBy compiled into fast functions over a LogRecord.

Regexes are compiled by :mod:`logsentinel.domain.regex` (RE2: linear time, since rules come from
cluster users and run on every record); a message is searched in its first MAX_SEARCHED
characters, which bounds the cost of one record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from logsentinel.domain.logrecord import LogRecord
from logsentinel.domain.regex import compile_regex
from logsentinel.domain.rule import (
    NUMERIC_OPERATORS,
    FieldCondition,
    FieldOperator,
    Match,
    RuleSelector,
    watched_namespaces,
)

MAX_SEARCHED = 8 * 1024

Key = tuple[str, ...]
RecordTest = Callable[[LogRecord], bool]
TemplateText = Callable[[str], str | None]
"""Looks up the text of a template id (the miner that produced it), None when unknown."""


def field_value(record: LogRecord, path: str) -> object:
    """The value at a FieldPath/GroupKey (``service``, ``attributes.status``...), None if absent."""
    if path.startswith("attributes."):
        return record.attributes.get(path.removeprefix("attributes."))
    if path == "template":
        return record.template_id
    value = getattr(record, path, None)
    return getattr(value, "value", value)  # enums (level, stream) as their text


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def compile_condition(condition: FieldCondition) -> RecordTest:
    """One field condition as a test; a missing field fails every operator but notExists,
    notEquals and notIn."""
    path, op = condition.field, condition.op
    if op is FieldOperator.EXISTS:
        return lambda record: field_value(record, path) is not None
    if op is FieldOperator.NOT_EXISTS:
        return lambda record: field_value(record, path) is None
    if op in (FieldOperator.IN, FieldOperator.NOT_IN):
        allowed = frozenset(condition.values)
        wanted = op is FieldOperator.IN
        return lambda record: (_as_text(field_value(record, path)) in allowed) is wanted
    operand = condition.value or ""
    if op is FieldOperator.EQUALS:
        return lambda record: _as_text(field_value(record, path)) == operand
    if op is FieldOperator.NOT_EQUALS:
        return lambda record: _as_text(field_value(record, path)) != operand
    if op is FieldOperator.REGEX:
        pattern = compile_regex(operand)

        def searches(record: LogRecord) -> bool:
            text = _as_text(field_value(record, path))
            return text is not None and pattern.search(text[:MAX_SEARCHED]) is not None

        return searches
    if op in NUMERIC_OPERATORS:
        bound = float(operand)
        compare: Callable[[float], bool] = {
            FieldOperator.GREATER_THAN: lambda number: number > bound,
            FieldOperator.GREATER_OR_EQUAL: lambda number: number >= bound,
            FieldOperator.LESS_THAN: lambda number: number < bound,
            FieldOperator.LESS_OR_EQUAL: lambda number: number <= bound,
        }[op]

        def compares(record: LogRecord) -> bool:
            number = _as_number(field_value(record, path))
            return number is not None and compare(number)

        return compares
    raise ValueError(f"unsupported operator {op.value!r}")  # pragma: no cover - enum is closed


def compile_selector(selector: RuleSelector, home: str) -> RecordTest | None:
    """The rule's namespaces (see watched_namespaces: its own unless it says otherwise),
    services and pod labels, all of which must match (empty services or labels match all).
    None when the selector takes every record (all namespaces, no services, no labels)."""
    namespaces = watched_namespaces(selector, home)
    services = frozenset(selector.services)
    labels = tuple(selector.labels.items())
    if namespaces is None and not services and not labels:
        return None

    def selects(record: LogRecord) -> bool:
        if namespaces is not None and record.namespace not in namespaces:
            return False
        if services and record.service not in services:
            return False
        if labels:
            return all(record.labels.get(key) == value for key, value in labels)
        return True

    return selects


def compile_match(match: Match, template_text: TemplateText) -> RecordTest:
    """Levels, message regex, template regex and field conditions, ANDed; empty matches all."""
    tests: list[RecordTest] = []
    if match.levels:
        levels = frozenset(match.levels)
        tests.append(lambda record: record.level in levels)
    if match.regex is not None:
        message_pattern = compile_regex(match.regex)

        def message_matches(record: LogRecord) -> bool:
            return message_pattern.search(record.message[:MAX_SEARCHED]) is not None

        tests.append(message_matches)
    if match.template is not None:
        template_pattern = compile_regex(match.template)

        def template_matches(record: LogRecord) -> bool:
            if record.template_id is None:
                return False
            text = template_text(record.template_id)
            return text is not None and template_pattern.search(text) is not None

        tests.append(template_matches)
    tests.extend(compile_condition(condition) for condition in match.fields)
    if not tests:
        return lambda record: True
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def compile_key(group_by: Sequence[str]) -> Callable[[LogRecord], Key]:
    """The group key of a record: its groupBy fields as text, in order ('' when absent)."""
    paths = tuple(group_by)
    if paths == ("namespace", "service"):  # the default, on the hot path
        return lambda record: (record.namespace, record.service)
    return lambda record: tuple(_as_text(field_value(record, path)) or "" for path in paths)
