"""Template ids in PostgreSQL: what a miner learnt, saved in the transaction of the records that
use it, and the most recently seen templates, loaded to seed a miner at start.

Saving is idempotent (upserts) and safe beside other processors' transactions: the template rows
are written in id order, and refreshing ``last_seen`` of templates in use skips rows another
transaction holds (``SKIP LOCKED``) and rows refreshed within the last ``TOUCH_INTERVAL``, so it
neither waits nor rewrites hot rows on every batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import blake2b
from typing import Any, Protocol

import psycopg
from psycopg import errors

TOUCH_INTERVAL = timedelta(minutes=10)
"""last_seen of a template in use is refreshed at most this often."""

UPSERT_TEMPLATES = (
    "INSERT INTO templates (id, text, merged_into) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ORDER BY 1 "
    "ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, last_seen = now(), "
    "merged_into = COALESCE(EXCLUDED.merged_into, templates.merged_into)"
)
INSERT_ALIASES = (
    "INSERT INTO template_aliases (digest, text, template_id) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ORDER BY 1 "
    "ON CONFLICT (digest) DO NOTHING"
)
MERGE_ONLY = "UPDATE templates SET merged_into = %s WHERE id = %s"
TOUCH = (
    "UPDATE templates SET last_seen = now() WHERE id IN ("
    "SELECT id FROM templates WHERE id = ANY(%s) AND last_seen < now() - %s "
    "ORDER BY id FOR UPDATE SKIP LOCKED)"
)


class LearntTemplates(Protocol):
    """What a template miner learnt (parsing.templates.Learnt has this shape)."""

    @property
    def templates(self) -> Mapping[str, str]:
        """id -> current text, for ids created or whose text changed."""

    @property
    def aliases(self) -> Mapping[str, str]:
        """text -> id, for texts newly registered."""

    @property
    def merges(self) -> Mapping[str, str]:
        """id -> the id of the same event that already held its new text."""


@dataclass(frozen=True)
class StoredTemplates:
    """What seeds a miner: templates as (id, text), least recently seen first; aliases as
    (text, id); merges as (id, merged into id)."""

    templates: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)


def digest(text: str) -> str:
    """The key of an alias: 128-bit BLAKE2b of the text (texts can be longer than an index
    entry may be)."""
    return blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _storable(text: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates: replace them."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def save(
    connection: psycopg.Connection[Any],
    learnt: LearntTemplates | None,
    used: Collection[str] = (),
) -> bool:
    """Save what a miner learnt and refresh last_seen of the ids used, in the caller's
    transaction (under a savepoint). Returns False when the database refused the values (they
    are dropped: templates must never keep records from being stored); raises
    psycopg.OperationalError when the database is away, like the rest of the batch."""
    templates = dict(learnt.templates) if learnt is not None else {}
    aliases = dict(learnt.aliases) if learnt is not None else {}
    merges = dict(learnt.merges) if learnt is not None else {}
    if not (templates or aliases or merges or used):
        return True
    try:
        with connection.transaction(), connection.cursor() as cursor:
            if templates:
                ids = sorted(templates)
                cursor.execute(
                    UPSERT_TEMPLATES,
                    (
                        ids,
                        [_storable(templates[key]) for key in ids],
                        [merges.get(key) for key in ids],
                    ),
                )
            if aliases:
                texts = {_storable(text): key for text, key in aliases.items()}
                rows = sorted((digest(text), text, key) for text, key in texts.items())
                cursor.execute(INSERT_ALIASES, [list(column) for column in zip(*rows, strict=True)])
            leftover = sorted(
                (key, target) for key, target in merges.items() if key not in templates
            )
            if leftover:
                cursor.executemany(MERGE_ONLY, [(target, key) for key, target in leftover])
            if used:
                cursor.execute(TOUCH, (sorted(used), TOUCH_INTERVAL))
    except (errors.DataError, errors.IntegrityError, UnicodeError, ValueError):
        return False
    return True


def load_recent(
    connection: psycopg.Connection[Any], limit: int, alias_limit: int | None = None
) -> StoredTemplates:
    """The ``limit`` most recently seen templates (least recent first), up to ``alias_limit``
    (default four times limit) of their aliases, newest last, and their merges."""
    rows = connection.execute(
        "SELECT id, text, merged_into FROM templates ORDER BY last_seen DESC, id LIMIT %s",
        (limit,),
    ).fetchall()
    rows.reverse()
    ids = [str(row[0]) for row in rows]
    alias_rows = connection.execute(
        "SELECT text, template_id FROM template_aliases WHERE template_id = ANY(%s) "
        "ORDER BY first_seen DESC, digest LIMIT %s",
        (ids, alias_limit if alias_limit is not None else 4 * limit),
    ).fetchall()
    alias_rows.reverse()
    return StoredTemplates(
        templates=[(str(key), str(text)) for key, text, _ in rows],
        aliases=[(str(text), str(key)) for text, key in alias_rows],
        merges=[(str(key), str(target)) for key, _, target in rows if target is not None],
    )


def delete_unseen_since(connection: psycopg.Connection[Any], cutoff: datetime) -> int:
    """Retention: drop templates not seen since cutoff, and their aliases; how many templates."""
    deleted = connection.execute(
        "DELETE FROM templates WHERE last_seen < %s RETURNING id", (cutoff,)
    ).fetchall()
    if deleted:
        connection.execute(
            "DELETE FROM template_aliases WHERE template_id = ANY(%s)",
            ([str(row[0]) for row in deleted],),
        )
    return len(deleted)


# --- which templates each service has logged ---------------------------------------------------

ServiceKey = tuple[str, str]
"""(namespace, service)"""

INSERT_SERVICE_TEMPLATES = (
    "INSERT INTO service_templates "
    "(namespace, service, template_id, source_topic, source_partition, first_seen) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int[], "
    "%s::timestamptz[]) ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class ServiceTemplate:
    """A service logged a template first at first_seen, read from this Kafka partition."""

    namespace: str
    service: str
    template_id: str
    topic: str
    partition: int
    first_seen: datetime


def save_service_templates(
    connection: psycopg.Connection[Any], rows: Collection[ServiceTemplate]
) -> None:
    """Record templates services logged (those already recorded keep their first time)."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: (r.namespace, r.service, r.template_id))
    connection.execute(
        INSERT_SERVICE_TEMPLATES,
        (
            [r.namespace for r in ordered],
            [r.service for r in ordered],
            [r.template_id for r in ordered],
            [r.topic for r in ordered],
            [r.partition for r in ordered],
            [r.first_seen for r in ordered],
        ),
    )


@dataclass
class KnownTemplates:
    """What a service has logged: its template ids and when it first logged one."""

    template_ids: list[str] = field(default_factory=list)
    since: datetime | None = None
    partition: int = 0


def templates_by_service(
    connection: psycopg.Connection[Any], topic: str, partitions: Collection[int]
) -> dict[ServiceKey, KnownTemplates]:
    """The templates of every service whose records come from these partitions."""
    rows = connection.execute(
        "SELECT namespace, service, template_id, first_seen, source_partition "
        "FROM service_templates "
        "WHERE source_topic = %s AND source_partition = ANY(%s)",
        (topic, list(partitions)),
    ).fetchall()
    known: dict[ServiceKey, KnownTemplates] = {}
    for namespace, service, template_id, first_seen, partition in rows:
        entry = known.setdefault((namespace, service), KnownTemplates(partition=partition))
        entry.template_ids.append(template_id)
        if entry.since is None or first_seen < entry.since:
            entry.since = first_seen
    return known
