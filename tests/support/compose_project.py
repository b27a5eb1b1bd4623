"""A Compose project of docker-compose.yml as the Compose tests bring it up: up (or a test
failure carrying Compose's output) and its PostgreSQL as published on the host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack import compose
from devstack.errors import StackError


def project_up(project: str, files: list[Path]) -> compose.Target:
    """``compose up`` of the project with these override files."""
    try:
        return compose.up(project, files)
    except StackError as error:
        pytest.fail(f"the Compose project did not come up:\n{error}", pytrace=False)


def database_url(target: compose.Target, config: dict[str, Any]) -> str:
    """The project's database, at the port PostgreSQL is published on now (Compose recreating
    the container may publish it on another)."""
    password = config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    published = target.run("port", "postgres", "5432").stdout.strip()
    return f"postgresql://logsentinel:{password}@{published}/logsentinel"
