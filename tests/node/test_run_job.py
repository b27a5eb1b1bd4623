"""The runJob step on the real node: the chart's operator runs the example playbook's script as a
Job next to the incident's workload, waits for it, and records its result and its log's last
lines; killed while the Job runs, the operator finds the same Job again instead of starting a
second one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devstack.kube import REAL_NODE
from devstack.pytest_plugin import Kubectl
from support.chain import APP, apply, images_of, sample_app
from support.node import example
from support.operator import HealthyPipeline, get_json, now_stamp
from support.running import eventually

pytestmark = pytest.mark.node

INCIDENT = "payment-errors-1"
JOB_SECONDS = 20
"""How long the script runs: long enough to kill the operator while it waits."""
RUN_TIMEOUT = 180


def _playbook(namespace: str, image: str) -> dict[str, Any]:
    """The example playbook, automatic, its script slowed down to outlast an operator kill."""
    playbook = example("playbooks/run-job-flush-cache.yaml", namespace)
    spec = playbook["spec"]
    spec["mode"] = "auto"
    spec["guards"] = {"allowedNamespaces": [namespace]}
    (run_job, _verify) = spec["steps"]
    run_job["runJob"]["image"] = image
    run_job["runJob"]["args"][0] = (
        f"import time\ntime.sleep({JOB_SECONDS})\n" + run_job["runJob"]["args"][0]
    )
    spec["steps"] = [run_job]
    return playbook


def _incident(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "logsentinel.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": INCIDENT, "namespace": namespace},
        "spec": {
            "rule": "payment-failures",
            "incidentType": "ErrorBurst",
            "severity": "high",
            "fingerprint": "5d41402abc4b2a76b9719d911017c592",
            "service": APP,
            "target": {"kind": "Deployment", "namespace": namespace, "name": APP},
            "firstSeen": now_stamp(),
            "lastSeen": now_stamp(),
        },
    }


def _action(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    status = get_json(kubectl, "incident", INCIDENT, "-n", namespace).get("status") or {}
    actions = [a for a in status.get("actions") or [] if a["type"] == "runJob"]
    return dict(actions[-1]) if actions else {}


def _jobs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    selector = f"logsentinel.io/incident={INCIDENT}"
    return list(get_json(kubectl, "jobs", "-n", namespace, "-l", selector)["items"])


def test_a_run_job_step_runs_the_script_once_and_records_its_log(
    kubectl: Kubectl,
    operator_pod: str,
    node_namespace: str,
    logsentinel_image: str,
    sample_app_images: list[str],
    database_url: str,
    diagnostics: None,
) -> None:
    namespace = node_namespace
    good = sample_app_images[0]
    apply(kubectl, sample_app(namespace, good, 5))
    eventually("the sample app Running", lambda: images_of(kubectl, namespace) == {good}, 90)
    pipeline = HealthyPipeline(database_url)  # the pipeline-health guard reads heartbeats
    try:
        apply(kubectl, _playbook(namespace, logsentinel_image))
        apply(kubectl, _incident(namespace))
        eventually(
            "the Job running", lambda: "started" in _action(kubectl, namespace).get("message", ""),
            RUN_TIMEOUT,
        )  # fmt: skip
        assert _action(kubectl, namespace)["result"] == "Pending"
        (operator,) = get_json(
            kubectl, "pods", "-n", namespace, "-l", "app.kubernetes.io/component=operator"
        )["items"]
        killed = time.monotonic()
        kubectl("delete", "pod", operator["metadata"]["name"], "-n", namespace,
                "--grace-period=0", "--force")  # fmt: skip
        eventually(
            "the step finished",
            lambda: _action(kubectl, namespace).get("result") not in (None, "Pending"),
            RUN_TIMEOUT,
        )
        print(f"runJob: finished {time.monotonic() - killed:.1f} s after the operator was killed")
    finally:
        pipeline.stop()
    action = _action(kubectl, namespace)
    assert action["result"] == "Succeeded", action
    assert f"flushing the cache of {APP} for incident {INCIDENT}" in action["message"], action
    assert action["message"].endswith("cache flushed"), action
    (job,) = _jobs(kubectl, namespace)  # one Job, though the operator died while it ran
    assert job["status"].get("succeeded") == 1
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "logsentinel"
    (pod,) = get_json(
        kubectl,
        "pods",
        "-n",
        namespace,
        "-l",
        f"batch.kubernetes.io/job-name={job['metadata']['name']}",
    )["items"]
    assert pod["spec"]["nodeName"] == REAL_NODE
    assert pod["spec"]["automountServiceAccountToken"] is False
