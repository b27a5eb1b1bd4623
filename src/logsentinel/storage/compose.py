"""Compose mode's state in PostgreSQL: what Kubernetes mode keeps on objects.

- Incidents: the annotations and the status of the Incident object (there is none without
  Kubernetes) live on the incidents row; the API writes approvals and requests into the
  annotations, the remediator its progress and the status.
- Services: the last remediation action's marker and time (the workload annotation of Kubernetes
  mode), and every image a service was seen running (Docker keeps no rollout history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from logsentinel.domain.common import WorkloadRef
from logsentinel.storage.incidents import announce


@dataclass(frozen=True)
class SeenImage:
    """An image a service ran: the reference it was started with and the image's id."""

    reference: str
    image_id: str
    first_seen: datetime


class DatabaseServiceMemory:
    """ServiceMemory (remediation/docker.py) in the compose_markers and compose_images tables;
    one short transaction per call."""

    def __init__(self, connect: Any) -> None:
        """``connect()`` gives a context-managed psycopg connection (a pool's ``connection``)."""
        self.connect = connect

    def marker(self, target: WorkloadRef) -> tuple[str, datetime] | None:
        with self.connect() as connection:
            row = connection.execute(
                "SELECT marker, at FROM compose_markers WHERE project = %s AND service = %s",
                (target.namespace, target.name),
            ).fetchone()
        return (str(row[0]), row[1]) if row else None

    def set_marker(self, target: WorkloadRef, marker: str, at: datetime) -> None:
        with self.connect() as connection:
            connection.execute(
                """
                INSERT INTO compose_markers (project, service, marker, at) VALUES (%s, %s, %s, %s)
                ON CONFLICT (project, service) DO UPDATE SET marker = EXCLUDED.marker,
                    at = EXCLUDED.at
                """,
                (target.namespace, target.name, marker, at),
            )

    def saw_images(self, target: WorkloadRef, images: list[tuple[str, str]], at: datetime) -> None:
        if not images:
            return
        with self.connect() as connection:
            connection.cursor().executemany(
                """
                INSERT INTO compose_images (project, service, image_id, reference, first_seen,
                    last_seen)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (project, service, image_id) DO UPDATE SET
                    last_seen = EXCLUDED.last_seen, reference = EXCLUDED.reference
                """,
                [
                    (target.namespace, target.name, image_id, reference, at, at)
                    for reference, image_id in dict.fromkeys(images)
                ],
            )

    def images(self, target: WorkloadRef) -> list[SeenImage]:
        with self.connect() as connection:
            rows = connection.execute(
                "SELECT reference, image_id, first_seen FROM compose_images"
                " WHERE project = %s AND service = %s ORDER BY first_seen, image_id",
                (target.namespace, target.name),
            ).fetchall()
        return [SeenImage(str(r[0]), str(r[1]), r[2]) for r in rows]


def incident_object(connection: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    """An incident row as the parts of an Incident object: ``annotations`` and ``status``."""
    row = connection.execute(
        "SELECT annotations, remediation_status FROM incidents WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        return None
    return {"annotations": dict(row[0] or {}), "status": row[1]}


def annotate(connection: psycopg.Connection[Any], name: str, annotations: dict[str, str]) -> bool:
    """Merge ``annotations`` into the incident's and announce the change; False when there is
    no such incident."""
    with connection.transaction():
        found = (
            connection.execute(
                "UPDATE incidents SET annotations = annotations || %s, updated_at = now()"
                " WHERE name = %s",
                (Jsonb(annotations), name),
            ).rowcount
            == 1
        )
        if found:
            announce(connection, name)
    return found


def merge_status(connection: psycopg.Connection[Any], name: str, status: dict[str, Any]) -> None:
    """Merge the top-level fields of ``status`` into the incident's (as a status patch does)."""
    connection.execute(
        "UPDATE incidents SET remediation_status = COALESCE(remediation_status, '{}') || %s,"
        " updated_at = now() WHERE name = %s",
        (Jsonb(status), name),
    )


def playbook_status(
    connection: psycopg.Connection[Any], namespace: str, name: str
) -> dict[str, Any]:
    row = connection.execute(
        "SELECT status FROM playbook_status WHERE namespace = %s AND name = %s", (namespace, name)
    ).fetchone()
    return dict(row[0]) if row else {}


def update_playbook_status(
    connection: psycopg.Connection[Any],
    namespace: str,
    name: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """Merge ``change(current status)`` into a playbook's status, the row locked meanwhile."""
    with connection.transaction():
        connection.execute(
            "INSERT INTO playbook_status (namespace, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (namespace, name),
        )
        row = connection.execute(
            "SELECT status FROM playbook_status WHERE namespace = %s AND name = %s FOR UPDATE",
            (namespace, name),
        ).fetchone()
        current = dict(row[0]) if row else {}
        updated = {**current, **change(current)}
        connection.execute(
            "UPDATE playbook_status SET status = %s WHERE namespace = %s AND name = %s",
            (Jsonb(updated), namespace, name),
        )
    return updated


__all__ = [
    "DatabaseServiceMemory",
    "SeenImage",
    "annotate",
    "incident_object",
    "merge_status",
    "playbook_status",
    "update_playbook_status",
]
