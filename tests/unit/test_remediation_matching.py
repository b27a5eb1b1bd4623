"""Which playbook handles an incident: triggers, namespace scoping and the tie-breaking order."""

from __future__ import annotations

from typing import Any

import pytest

from logsentinel.domain.resources import Incident, Playbook
from logsentinel.remediation.matching import choose, triggered_by

CENTRAL = "logsentinel"
LABELS = {"app": "checkout", "tier": "web"}


def make_incident(
    *, namespace: str = "shop", kind: str | None = "Deployment", **spec: Any
) -> Incident:
    document: dict[str, Any] = {
        "rule": "error-burst",
        "incidentType": "ErrorBurst",
        "severity": "high",
        "fingerprint": "3f2a9c0d11e4b7a8",
        "service": "checkout",
        "firstSeen": "2026-11-22T12:00:00Z",
        "lastSeen": "2026-11-22T12:01:00Z",
        **spec,
    }
    if kind is not None:
        document["target"] = {"kind": kind, "namespace": namespace, "name": "checkout"}
    return Incident.model_validate(
        {"kind": "Incident", "metadata": {"name": "inc", "namespace": namespace}, "spec": document}
    )


def make_playbook(name: str = "p", namespace: str = "shop", **triggers: Any) -> Playbook:
    return Playbook.model_validate(
        {
            "kind": "Playbook",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"triggers": triggers, "steps": [{"type": "notify", "notify": _WEBHOOK}]},
        }
    )


_WEBHOOK = {"webhook": {"url": "https://hooks.example.com/x"}}


def matches(playbook: Playbook, incident: Incident | None = None) -> bool:
    return triggered_by(playbook, incident or make_incident(), LABELS, CENTRAL)


# --- triggers --------------------------------------------------------------------------------


def test_empty_triggers_match_any_incident_of_the_namespace() -> None:
    assert matches(make_playbook())


@pytest.mark.parametrize(
    ("triggers", "expected"),
    [
        ({"incidentTypes": ["ErrorBurst", "Latency"]}, True),
        ({"incidentTypes": ["Latency"]}, False),
        ({"severities": ["critical", "high"]}, True),
        ({"severities": ["critical"]}, False),
        ({"rules": ["error-burst"]}, True),
        ({"rules": ["slow-checkout"]}, False),
        ({"selector": {"namespaces": ["shop"]}}, True),
        ({"selector": {"namespaces": ["payments"]}}, False),
        ({"selector": {"services": ["checkout", "cart"]}}, True),
        ({"selector": {"services": ["cart"]}}, False),
        ({"selector": {"labels": {"tier": "web"}}}, True),
        ({"selector": {"labels": {"tier": "web", "app": "checkout"}}}, True),
        ({"selector": {"labels": {"tier": "db"}}}, False),
        ({"selector": {"labels": {"team": "payments"}}}, False),
        ({"incidentTypes": ["ErrorBurst"], "severities": ["low"]}, False),
    ],
)
def test_every_set_part_of_the_triggers_must_match(
    triggers: dict[str, Any], expected: bool
) -> None:
    assert matches(make_playbook(**triggers)) is expected


def test_labels_are_the_targets_not_the_incidents() -> None:
    playbook = make_playbook(selector={"labels": {"tier": "web"}})
    incident = make_incident()

    assert triggered_by(playbook, incident, {"tier": "web"}, CENTRAL)
    assert not triggered_by(playbook, incident, {}, CENTRAL)


def test_target_kinds_default_to_deployments_only() -> None:
    stateful = make_incident(kind="StatefulSet")

    assert matches(make_playbook(), make_incident(kind="Deployment"))
    assert not matches(make_playbook(), stateful)
    assert matches(make_playbook(targetKinds=["Deployment", "StatefulSet"]), stateful)
    assert not matches(make_playbook(targetKinds=["StatefulSet"]), make_incident())


def test_incident_without_target_ignores_target_kinds_and_selects_by_its_namespace() -> None:
    no_target = make_incident(kind=None)

    assert matches(make_playbook(targetKinds=["StatefulSet"]), no_target)
    assert matches(make_playbook(selector={"namespaces": ["shop"]}), no_target)
    assert not matches(make_playbook(selector={"namespaces": ["payments"]}), no_target)


# --- namespace scoping -----------------------------------------------------------------------


def test_playbook_handles_incidents_of_its_own_namespace_only() -> None:
    assert matches(make_playbook(namespace="shop"), make_incident(namespace="shop"))
    assert not matches(make_playbook(namespace="payments"), make_incident(namespace="shop"))


def test_central_namespace_playbook_handles_every_namespace() -> None:
    central = make_playbook(namespace=CENTRAL)

    assert matches(central, make_incident(namespace="shop"))
    assert matches(central, make_incident(namespace="payments"))
    assert not triggered_by(central, make_incident(), LABELS, None), "no central namespace set"
    assert not triggered_by(central, make_incident(), LABELS, "other-central")


def test_central_playbook_selector_narrows_namespaces() -> None:
    central = make_playbook(namespace=CENTRAL, selector={"namespaces": ["payments"]})

    assert not matches(central, make_incident(namespace="shop"))
    assert matches(central, make_incident(namespace="payments"))


# --- choosing among several ------------------------------------------------------------------


def pick(*playbooks: Playbook, incident: Incident | None = None) -> str | None:
    """The chosen playbook as namespace/name; the same whatever order the list is in."""
    incident = incident or make_incident()
    forward = choose(list(playbooks), incident, LABELS, CENTRAL)
    backward = choose(list(reversed(playbooks)), incident, LABELS, CENTRAL)
    assert forward is backward, "the choice must not depend on list order"
    return None if forward is None else f"{forward.metadata.namespace}/{forward.metadata.name}"


def test_no_matching_playbook_chooses_none() -> None:
    assert pick(make_playbook(incidentTypes=["Latency"]), make_playbook(namespace="x")) is None
    assert pick() is None


def test_playbook_naming_the_rule_wins_over_more_specific_ones() -> None:
    names_rule = make_playbook("a-rule", rules=["error-burst"])
    specific = make_playbook(
        "b-specific",
        incidentTypes=["ErrorBurst"],
        severities=["high"],
        selector={"services": ["checkout"], "labels": {"tier": "web"}},
    )

    assert pick(names_rule, specific) == "shop/a-rule"


def test_more_specific_triggers_win_when_no_rule_is_named() -> None:
    generic = make_playbook("a-generic")
    one = make_playbook("b-one", severities=["high"])
    two = make_playbook("c-two", severities=["high"], selector={"services": ["checkout"]})

    assert pick(generic, one) == "shop/b-one"
    assert pick(generic, one, two) == "shop/c-two"


def test_target_kinds_do_not_count_as_specificity() -> None:
    first = make_playbook("a-first")
    kinds = make_playbook("b-kinds", targetKinds=["Deployment", "StatefulSet"])

    assert pick(first, kinds) == "shop/a-first"


def test_rules_among_rule_naming_playbooks_fall_back_to_specificity() -> None:
    plain = make_playbook("a-plain", rules=["error-burst"])
    narrower = make_playbook("b-narrower", rules=["error-burst"], severities=["high"])

    assert pick(plain, narrower) == "shop/b-narrower"


def test_equal_playbooks_are_ordered_by_namespace_then_name() -> None:
    assert pick(make_playbook("zeta"), make_playbook("alpha")) == "shop/alpha"
    central_b = make_playbook("b", namespace=CENTRAL)
    central_a = make_playbook("a", namespace=CENTRAL)
    assert pick(central_b, central_a) == f"{CENTRAL}/a"


def test_own_namespace_playbook_wins_over_an_equal_central_one() -> None:
    """The incident's own namespace first."""
    own = make_playbook("z-own", namespace="shop")
    central = make_playbook("a-central", namespace=CENTRAL)

    assert pick(own, central) == "shop/z-own"


def test_own_namespace_wins_even_over_a_central_playbook_naming_the_rule() -> None:
    own_generic = make_playbook("generic", namespace="shop")
    central_names_rule = make_playbook("for-rule", namespace=CENTRAL, rules=["error-burst"])

    assert pick(own_generic, central_names_rule) == "shop/generic"
