"""Playbook: triggers, every step type, unions, guards and the cross-field rules."""

from __future__ import annotations

from typing import Any

import pytest

from logsentinel.domain import InvalidResourceError, Playbook, PlaybookMode
from logsentinel.domain.playbook import Guards, StepType


def playbook(steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"steps": steps, **spec},
    }


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidResourceError) as raised:
        Playbook.from_manifest(document)
    return {problem.path: problem.message for problem in raised.value.problems}


EVERY_STEP = [
    {"type": "rolloutRestart"},
    {"type": "rollback"},
    {
        "type": "rollback",
        "name": "pin",
        "rollback": {"image": "shop/api:1.2.3", "container": "api"},
    },
    {"type": "scale", "scale": {"delta": 1}},
    {"type": "scale", "name": "set", "scale": {"replicas": 3, "minReplicas": 2, "maxReplicas": 4}},
    {"type": "deletePod", "deletePod": {"maxPods": 2}},
    {"type": "notify", "notify": {"webhook": {"url": "https://hooks.example.com/x"}}},
    {
        "type": "notify",
        "name": "mail",
        "notify": {"email": {"to": ["sre@example.com"], "smtpSecretRef": {"name": "smtp"}}},
    },
    {"type": "wait", "wait": {"duration": "30s"}},
    {"type": "verify"},
    {"type": "runJob", "runJob": {"image": "shop/tools:1", "command": ["flush-cache"]}},
]


def test_every_step_type_validates() -> None:
    parsed = Playbook.from_manifest(playbook(EVERY_STEP))
    assert {step.type for step in parsed.spec.steps} == set(StepType)
    assert parsed.spec.mode is PlaybookMode.DRY_RUN, "dry run must be the default"
    assert [step.step_name for step in parsed.spec.steps][:3] == [
        "rolloutRestart",
        "rollback",
        "pin",
    ]


def test_safe_defaults() -> None:
    guards = Playbook.from_manifest(playbook([{"type": "rolloutRestart"}])).spec.guards
    assert guards == Guards()
    assert guards.circuit_breaker_failures == 3
    assert not guards.namespace_allowed("kube-system")
    assert guards.namespace_allowed("shop")
    assert Guards(allowed_namespaces=["shop"]).namespace_allowed("billing") is False


@pytest.mark.parametrize(
    ("steps", "spec", "path", "fragment"),
    [
        ([], {}, "spec.steps", "at least 1"),
        ([{"type": "explode"}], {}, "spec.steps[0].type", "rolloutRestart"),
        ([{"type": "wait"}], {}, "spec.steps[0].wait", "required when type is 'wait'"),
        (
            [{"type": "wait", "wait": {"duration": "forever"}}],
            {},
            "spec.steps[0].wait.duration",
            "invalid duration",
        ),
        (
            [{"type": "rolloutRestart", "scale": {"delta": 1}}],
            {},
            "spec.steps[0].scale",
            "must not be set",
        ),
        ([{"type": "notify", "notify": {}}], {}, "spec.steps[0].notify.webhook", "needs a target"),
        (
            [{"type": "notify", "notify": {"webhook": {}}}],
            {},
            "spec.steps[0].notify.webhook.url",
            "exactly one",
        ),
        (
            [{"type": "notify", "notify": {"webhook": {"url": "ftp://x"}}}],
            {},
            "spec.steps[0].notify.webhook.url",
            "pattern",
        ),
        (
            [{"type": "notify", "notify": {"email": {"to": [], "smtpSecretRef": {"name": "s"}}}}],
            {},
            "spec.steps[0].notify.email.to",
            "at least 1",
        ),
        (
            [
                {
                    "type": "notify",
                    "notify": {"email": {"to": ["not-an-address"], "smtpSecretRef": {"name": "s"}}},
                }
            ],
            {},
            "spec.steps[0].notify.email.to[0]",
            "pattern",
        ),
        ([{"type": "scale", "scale": {}}], {}, "spec.steps[0].scale.replicas", "exactly one"),
        (
            [{"type": "scale", "scale": {"replicas": 1, "delta": 1}}],
            {},
            "spec.steps[0].scale.replicas",
            "exactly one",
        ),
        (
            [{"type": "scale", "scale": {"delta": 1, "minReplicas": 5, "maxReplicas": 2}}],
            {},
            "spec.steps[0].scale.minReplicas",
            "must not exceed",
        ),
        (
            [{"type": "scale", "scale": {"replicas": 50}}],
            {},
            "spec.steps[0].scale.replicas",
            "within",
        ),
        (
            [{"type": "rollback", "rollback": {"container": "api"}}],
            {},
            "spec.steps[0].rollback.image",
            "required",
        ),
        (
            [{"type": "deletePod", "deletePod": {"maxPods": 50}}],
            {},
            "spec.steps[0].deletePod.maxPods",
            "less than or equal to 10",
        ),
        ([{"type": "verify"}, {"type": "verify"}], {}, "spec.steps[1].name", "duplicate"),
        (
            [{"type": "rollback"}],
            {"triggers": {"targetKinds": ["StatefulSet"]}},
            "spec.steps[0].type",
            "only on Deployments",
        ),
        (
            [{"type": "scale", "scale": {"delta": 1}}],
            {"triggers": {"targetKinds": ["DaemonSet"]}},
            "spec.steps[0].type",
            "DaemonSet",
        ),
        (
            [{"type": "rolloutRestart"}],
            {"onFailure": "rollback", "triggers": {"targetKinds": ["Deployment", "StatefulSet"]}},
            "spec.onFailure",
            "only on Deployments",
        ),
        ([{"type": "rolloutRestart"}], {"mode": "yolo"}, "spec.mode", "dryRun"),
        (
            [{"type": "runJob", "runJob": {"image": "t:1", "env": [{"name": "LOGSENTINEL_X"}]}}],
            {},
            "spec.steps[0].runJob.env[0].name",
            "set by Log Sentinel",
        ),
        (
            [{"type": "runJob", "runJob": {"image": "t:1", "timeout": "12h"}}],
            {},
            "spec.steps[0].runJob.timeout",
            "between 10s and 6h",
        ),
        ([{"type": "runJob"}], {}, "spec.steps[0].runJob", "is required"),
        (
            [{"type": "rolloutRestart"}],
            {"guards": {"maxAttemptsPerIncident": 0}},
            "spec.guards.maxAttemptsPerIncident",
            "greater than or equal to 1",
        ),
        (
            [{"type": "rolloutRestart"}],
            {"guards": {"allowedNamespaces": ["Not_A_Namespace"]}},
            "spec.guards.allowedNamespaces[0]",
            "pattern",
        ),
        (
            [{"type": "rolloutRestart"}],
            {"triggers": {"severities": ["catastrophic"]}},
            "spec.triggers.severities[0]",
            "critical",
        ),
        (
            [{"type": "rolloutRestart"}],
            {"triggers": {"targetKinds": []}},
            "spec.triggers.targetKinds",
            "at least 1",
        ),
    ],
)
def test_invalid_playbooks_name_the_field(
    steps: list[dict[str, Any]], spec: dict[str, Any], path: str, fragment: str
) -> None:
    found = problems(playbook(steps, **spec))
    assert path in found, found
    assert fragment in found[path]


def test_rolling_back_deployments_and_restarting_anything_is_fine() -> None:
    parsed = Playbook.from_manifest(
        playbook(
            [{"type": "rolloutRestart"}],
            triggers={"targetKinds": ["Deployment", "StatefulSet", "DaemonSet"]},
        )
    )
    assert len(parsed.spec.triggers.target_kinds) == 3
