"""Which Playbooks handle an incident: every part of a playbook's triggers that is set must match.

A playbook handles incidents of its own namespace; playbooks in the operator's central namespace
handle incidents of every namespace (their guards.allowedNamespaces narrows that down).

When several playbooks match, one in the incident's own namespace wins over a central one (the
team owning the namespace decides), then one that names the incident's rule, then the one with
the most specific triggers, then the first by namespace/name: stable and explainable.
"""

from __future__ import annotations

from collections.abc import Sequence

from logsentinel.domain.resources import Incident, Playbook


def triggered_by(
    playbook: Playbook,
    incident: Incident,
    target_labels: dict[str, str],
    central_namespace: str | None = None,
) -> bool:
    """True when the playbook's triggers select this incident."""
    home = playbook.metadata.namespace
    if home != central_namespace and home != incident.metadata.namespace:
        return False
    triggers = playbook.spec.triggers
    spec = incident.spec
    if triggers.incident_types and spec.incident_type not in triggers.incident_types:
        return False
    if triggers.severities and spec.severity not in triggers.severities:
        return False
    if triggers.rules and spec.rule not in triggers.rules:
        return False
    if spec.target is not None and spec.target.kind not in triggers.target_kinds:
        return False
    namespace = spec.target.namespace if spec.target else incident.metadata.namespace
    return triggers.selector.matches(namespace, spec.service, target_labels)


def _specificity(playbook: Playbook) -> int:
    triggers = playbook.spec.triggers
    selector = triggers.selector
    return sum(
        bool(part)
        for part in (
            triggers.incident_types,
            triggers.severities,
            selector.namespaces,
            selector.services,
            selector.labels,
        )
    )


def choose(
    playbooks: Sequence[Playbook],
    incident: Incident,
    target_labels: dict[str, str],
    central_namespace: str | None = None,
) -> Playbook | None:
    """The playbook to run for an incident, or None."""
    candidates = [
        p for p in playbooks if triggered_by(p, incident, target_labels, central_namespace)
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda p: (
            p.metadata.namespace != incident.metadata.namespace,
            incident.spec.rule not in p.spec.triggers.rules,
            -_specificity(p),
            p.metadata.namespace or "",
            p.metadata.name,
        ),
    )
