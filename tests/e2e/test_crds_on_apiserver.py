"""The generated CRDs on a real kube-apiserver: examples apply, broken variants are rejected
with the field named, and kubectl shows the printer columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.pytest_plugin import Kubectl
from support.broken import EXAMPLES, VARIANTS, BrokenVariant, resource_examples

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
INCIDENT = REPO / "tests" / "fixtures" / "incident.yaml"


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> Kubectl:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    return kubectl


def in_namespace(document: dict[str, Any], namespace: str) -> str:
    document["metadata"]["namespace"] = namespace
    return yaml.safe_dump(document)


def test_every_example_applies_and_is_listed(crds: Kubectl, kube_namespace: str) -> None:
    files = resource_examples()
    manifests = "---\n".join(
        in_namespace(yaml.safe_load(f.read_text()), kube_namespace) for f in files
    )
    crds("apply", "-f", "-", stdin=manifests)
    listed = crds("get", "sentinel", "-n", kube_namespace, "-o", "name").stdout.split()
    assert len(listed) == len(files)
    rules = [f for f in files if yaml.safe_load(f.read_text())["kind"] == "DetectionRule"]
    assert sum(name.startswith("detectionrule.logsentinel.io/") for name in listed) == len(rules)


def test_short_names_and_printer_columns(crds: Kubectl, kube_namespace: str) -> None:
    rule = yaml.safe_load((EXAMPLES / "rules/threshold-error-burst.yaml").read_text())
    crds("apply", "-f", "-", stdin=in_namespace(rule, kube_namespace))
    header, row = crds("get", "dr", "-n", kube_namespace).stdout.splitlines()[:2]
    assert header.split() == ["NAME", "DETECTOR", "SEVERITY", "READY", "FIRED", "AGE"]
    assert row.split()[:3] == ["error-burst", "threshold", "high"]


def test_get_incidents_shows_columns_and_status_subresource(
    crds: Kubectl, kube_namespace: str
) -> None:
    incident = yaml.safe_load(INCIDENT.read_text())
    crds("apply", "-f", "-", stdin=in_namespace(incident, kube_namespace))
    name = incident["metadata"]["name"]
    crds(
        "patch",
        "incident",
        name,
        "-n",
        kube_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"phase": "Remediating"}}',
    )
    header, row = crds("get", "inc", "-n", kube_namespace).stdout.splitlines()[:2]
    assert header.split() == ["NAME", "SEVERITY", "RULE", "TARGET", "PHASE", "COUNT", "AGE"]
    assert row.split()[:6] == [name, "high", "error-burst", "checkout", "Remediating", "3"]


def test_status_is_not_writable_through_the_main_resource(
    crds: Kubectl, kube_namespace: str
) -> None:
    incident = yaml.safe_load(INCIDENT.read_text())
    incident["status"] = {"phase": "Resolved"}
    crds("apply", "-f", "-", stdin=in_namespace(incident, kube_namespace))
    phase = crds(
        "get",
        "inc",
        incident["metadata"]["name"],
        "-n",
        kube_namespace,
        "-o",
        "jsonpath={.status.phase}",
    ).stdout
    assert phase == ""


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.schema_field], ids=lambda v: v.id)
def test_apiserver_rejects_broken_variant_naming_field(
    crds: Kubectl, kube_namespace: str, variant: BrokenVariant
) -> None:
    document = variant.document()
    result = crds("apply", "-f", "-", stdin=in_namespace(document, kube_namespace), check=False)
    assert result.returncode != 0, f"apiserver accepted {variant.id}"
    assert variant.schema_field in result.stderr, result.stderr
