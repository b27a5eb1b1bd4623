"""The audit log: who did what, when, to which target, and with what result.

Remediation writes one entry per step outcome (dry runs and guard refusals included, with the
guard named); the API adds human actions: incident workflows, logins (failed ones with the
reason and the client address, never the password) and administrative changes. The log is
also what the per-playbook hourly action budget counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from logsentinel.domain.audit import SUCCEEDED, AuditEntry

COLUMNS = (
    "at, actor, action, result, incident, playbook, step, target_kind, target_namespace, "
    "target_name, guard, dry_run, message, detail"
)


def record(connection: psycopg.Connection[Any], entries: Sequence[AuditEntry]) -> None:
    """Append entries in one transaction."""
    if not entries:
        return
    with connection.transaction(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO audit_log ({COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    e.at,
                    e.actor,
                    e.action,
                    e.result,
                    e.incident,
                    e.playbook,
                    e.step,
                    e.target_kind,
                    e.target_namespace,
                    e.target_name,
                    e.guard,
                    e.dry_run,
                    e.message,
                    Jsonb(e.detail),
                )
                for e in entries
            ],
        )


def record_action(
    connection: psycopg.Connection[Any],
    actor: str,
    action: str,
    *,
    target_kind: str,
    target_name: str,
    target_namespace: str | None = None,
    result: str = SUCCEEDED,
    message: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one person's action (a login, an administrative change), stamped now."""
    record(
        connection,
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=actor,
                action=action,
                result=result,
                target_kind=target_kind,
                target_namespace=target_namespace,
                target_name=target_name,
                message=message,
                detail=detail or {},
            )
        ],
    )


def count_actions(
    connection: psycopg.Connection[Any], playbook: str, actions: Sequence[str], since: datetime
) -> int:
    """Cluster-changing actions of a playbook that succeeded (not dry runs) since a time."""
    row = connection.execute(
        """
        SELECT count(*) FROM audit_log
        WHERE playbook = %s AND action = ANY(%s) AND result = 'Succeeded' AND NOT dry_run
            AND at >= %s
        """,
        (playbook, list(actions), since),
    ).fetchone()
    return int(row[0]) if row else 0


def entries(
    connection: psycopg.Connection[Any],
    incident: str | None = None,
    limit: int = 100,
    action: str | None = None,
) -> list[AuditEntry]:
    """Newest first; only an incident's entries, or one action's, when given."""
    conditions, parameters = [], []
    for column, value in (("incident", incident), ("action", action)):
        if value:
            conditions.append(f"{column} = %s")
            parameters.append(value)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        f"SELECT {COLUMNS} FROM audit_log {where} ORDER BY at DESC, id DESC LIMIT %s",
        [*parameters, limit],
    ).fetchall()
    return [
        AuditEntry(
            at=row[0],
            actor=row[1],
            action=row[2],
            result=row[3],
            incident=row[4],
            playbook=row[5],
            step=row[6],
            target_kind=row[7],
            target_namespace=row[8],
            target_name=row[9],
            guard=row[10],
            dry_run=row[11],
            message=row[12],
            detail=dict(row[13]),
        )
        for row in rows
    ]
