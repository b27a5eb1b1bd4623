"""Judging DetectionRules and Playbooks as written: the Ready condition and its message.

The CRD schema rejects most mistakes at `kubectl apply`; what it cannot express (cross-field
rules, regular expressions RE2 does not accept, a rule outside the central namespace watching
other namespaces, detector parameters that cannot be built) is reported here, naming the field,
so the author sees it in `kubectl get` and `kubectl describe`. The checks are the domain's and
the rule engine's, the same the processors apply before they evaluate a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logsentinel.detection.engine import RuleEngine, home_namespace
from logsentinel.domain.common import DEFAULT_CENTRAL_NAMESPACE
from logsentinel.domain.errors import InvalidResourceError
from logsentinel.domain.resources import CustomResource, DetectionRule, Playbook
from logsentinel.domain.rule import scope_problem

KEPT_METADATA = ("name", "namespace", "labels", "annotations", "generation", "uid")


@dataclass(frozen=True)
class Judgement:
    valid: bool
    reason: str  # CamelCase
    message: str


def manifest(body: dict[str, Any]) -> dict[str, Any]:
    """The object as its author wrote it: spec and identifying metadata, no status."""
    metadata = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {key: metadata[key] for key in KEPT_METADATA if key in metadata},
        "spec": body.get("spec"),
    }


def _parse(model: type[CustomResource[Any, Any]], body: dict[str, Any]) -> Any:
    name = (body.get("metadata") or {}).get("name", "?")
    return model.from_manifest(manifest(body), f"{model.INFO.kind} {name}")


def judge_rule(
    body: dict[str, Any], central_namespace: str = DEFAULT_CENTRAL_NAMESPACE
) -> Judgement:
    try:
        rule: DetectionRule = _parse(DetectionRule, body)
    except InvalidResourceError as error:
        return _invalid(error)
    problem = scope_problem(rule.spec.selector, home_namespace(rule), central_namespace)
    if problem is not None:
        return Judgement(False, "NamespaceNotAllowed", str(problem))
    refused = RuleEngine(central_namespace=central_namespace).set_rules([rule]).refused
    if refused:
        return Judgement(False, "InvalidDetector", "; ".join(refused.values()))
    if rule.spec.suspend:
        return Judgement(True, "Suspended", "valid; suspended, so the processors skip it")
    return Judgement(True, "Valid", "valid; the processors evaluate it")


def judge_playbook(body: dict[str, Any]) -> Judgement:
    try:
        playbook: Playbook = _parse(Playbook, body)
    except InvalidResourceError as error:
        return _invalid(error)
    return Judgement(True, "Valid", f"valid; mode {playbook.spec.mode.value}")


def _invalid(error: InvalidResourceError) -> Judgement:
    return Judgement(False, "InvalidSpec", error.one_line())
