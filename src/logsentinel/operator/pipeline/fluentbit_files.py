"""Finding the Fluent Bit template files (the repository's ``fluent-bit/`` directory).

An installed wheel ships them as package data at ``logsentinel/fluent-bit/``; an editable
development install has them only in the repository, beside ``src/``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE_DIRECTORY = "fluent-bit"
REPOSITORY_DIRECTORY = Path(__file__).resolve().parents[4] / "fluent-bit"
"""src/logsentinel/operator/pipeline/fluentbit_files.py -> the repository root's fluent-bit/."""


class TemplatesNotFoundError(FileNotFoundError):
    """Neither the installed package data nor the repository holds the templates."""


@cache
def template_directory() -> Traversable:
    """The directory holding fluent-bit.yaml, parsers.yaml and kafka_key.lua."""
    packaged = files("logsentinel") / PACKAGE_DIRECTORY
    if packaged.is_dir():
        return packaged
    if REPOSITORY_DIRECTORY.is_dir():
        return REPOSITORY_DIRECTORY
    raise TemplatesNotFoundError(
        f"Fluent Bit templates not found: neither the package data {packaged} "
        f"nor the repository directory {REPOSITORY_DIRECTORY} exists"
    )


def read_template(name: str) -> str:
    """The text of one template file."""
    return (template_directory() / name).read_text(encoding="utf-8")
