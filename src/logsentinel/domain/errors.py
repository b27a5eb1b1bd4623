"""Turn pydantic validation errors into messages that name the field path, Kubernetes style."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from logsentinel.domain.base import FIELD_ERROR


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a document: where (``spec.detector.window``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def format_path(location: Iterable[int | str]) -> str:
    """``("spec", "steps", 2, "type")`` -> ``spec.steps[2].type``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _problem(error: ErrorDetails, prefix: tuple[int | str, ...]) -> FieldProblem:
    location: tuple[int | str, ...] = prefix + tuple(error["loc"])
    message = error["msg"]
    context = error.get("ctx") or {}
    if error["type"] == FIELD_ERROR:
        field = str(context["field"])
        location = location + tuple(field.split("."))
        message = str(context["message"])
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return FieldProblem(format_path(location), message)


def describe(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[FieldProblem]:
    """Every problem in ``error``, each with its full field path."""
    return [_problem(detail, prefix) for detail in error.errors(include_url=False)]


def one_line(problems: Iterable[FieldProblem]) -> str:
    """Problems on one line: ``field: message; field: message``."""
    return "; ".join(str(problem) for problem in problems)


def summarise(error: ValidationError, limit: int = 3) -> str:
    """The first `limit` problems on one line ("field: message; ..."), and how many more."""
    problems = describe(error)
    summary = one_line(problems[:limit])
    if len(problems) > limit:
        summary += f"; and {len(problems) - limit} more"
    return summary


class InvalidResourceError(ValueError):
    """A document that does not satisfy its schema; ``problems`` says where and why."""

    def __init__(self, source: str, problems: list[FieldProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} is invalid:\n{lines}")

    def one_line(self) -> str:
        """The problems on one line (for conditions, logs and API answers)."""
        return one_line(self.problems)
