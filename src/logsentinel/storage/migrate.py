"""Run Alembic migrations from code (``logsentinel migrate``, tests, processors at start-up)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from logsentinel.storage.database import engine, sqlalchemy_url

SCRIPT_LOCATION = "logsentinel.storage:migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        # Passed as an attribute, not an option: option values go through configparser
        # interpolation, which would mangle a '%' in a password.
        config.attributes["url"] = sqlalchemy_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema to revision (the newest by default). Idempotent."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    with engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
