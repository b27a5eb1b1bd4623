"""The Helm chart as rendered: lint, every object accepted by the real apiserver (server-side
dry run), hardened pods, values checked by the schema, secrets never in plain text, CRDs and
roles from their one definition."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.pytest_plugin import Kubectl

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "logsentinel"
DEFAULT_RULES = sorted((REPO / "rules" / "default").glob("*.yaml"))
DATABASE_URL = "postgresql://logsentinel:s3cret-db-password@db.example:5432/logsentinel"
RULE = {
    "name": "error-burst",
    "spec": {
        "match": {"levels": ["error"]},
        "detector": {"type": "threshold", "threshold": {"count": 5, "window": "1m"}},
        "severity": "high",
        "incidentType": "ErrorBurst",
    },
}
# Every optional part switched on (monitoring kinds need the Prometheus Operator's CRDs, which
# the local cluster does not have: they are checked apart).
EVERYTHING = [
    "--set", "operator.replicas=2",
    "--set", "api.ingress.enabled=true",
    "--set", "api.autoscaling.enabled=true",
    "--set", "networkPolicy.enabled=true",
    "--set", "logPipeline.enabled=true",
    "--set-json", 'logPipeline.spec={"kafka":{"bootstrapServers":["kafka:9092"],"topic":"logs"}}',
    "--set-json", f"rules=[{json.dumps(RULE)}]",
    "--set", "monitoring.grafanaDashboard.enabled=true",
]  # fmt: skip
MONITORING = [
    "--set", "monitoring.serviceMonitor.enabled=true",
    "--set", "monitoring.prometheusRule.enabled=true",
]  # fmt: skip


def render(helm: Kubectl, namespace: str, *args: str) -> list[dict[str, Any]]:
    done = helm(
        "template", "ls", str(CHART), "-n", namespace, "--set", f"database.url={DATABASE_URL}",
        *args,
    )  # fmt: skip
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def test_the_chart_lints_strictly_and_its_version_is_the_products(helm: Kubectl) -> None:
    helm("lint", "--strict", str(CHART), "--set", f"database.url={DATABASE_URL}")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["version"] == chart["appVersion"] == project["version"]


def test_every_rendered_object_is_accepted_by_the_apiserver(
    helm: Kubectl, crds: Kubectl, kube_namespace: str
) -> None:
    documents = render(helm, kube_namespace, *EVERYTHING)
    kinds = {document["kind"] for document in documents}
    assert {
        "Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret",
        "PodDisruptionBudget", "Ingress", "HorizontalPodAutoscaler", "NetworkPolicy",
        "ConfigMap", "ClusterKopfPeering", "DetectionRule", "LogPipeline", "Pod",
    } <= kinds  # fmt: skip
    stream = "\n---\n".join(yaml.safe_dump(document) for document in documents)
    done = crds("apply", "--dry-run=server", "-n", kube_namespace, "-f", "-", stdin=stream)
    assert done.stdout.count("(server dry run)") == len(documents), done.stdout


def test_monitoring_objects_render_when_switched_on(helm: Kubectl) -> None:
    documents = render(helm, "logsentinel", *MONITORING)
    monitors = of_kind(documents, "ServiceMonitor")
    assert {m["spec"]["endpoints"][0]["port"] for m in monitors} == {"metrics", "http"}
    (rules,) = of_kind(documents, "PrometheusRule")
    alerts = {rule["alert"] for rule in rules["spec"]["groups"][0]["rules"]}
    assert {
        "LogSentinelConsumerLagHigh", "LogSentinelDeadLetters",
        "LogSentinelRemediationFailing", "LogSentinelCircuitBreakerOpen",
        "LogSentinelAgentsDroppingLogs",
    } <= alerts  # fmt: skip
    assert not of_kind(render(helm, "logsentinel"), "ServiceMonitor"), "off by default"


def test_every_pod_runs_hardened(helm: Kubectl) -> None:
    documents = render(helm, "logsentinel", *EVERYTHING)
    pods = [d["spec"]["template"]["spec"] for d in of_kind(documents, "Deployment")]
    pods += [d["spec"] for d in of_kind(documents, "Pod")]
    assert len(pods) == 3
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
    for deployment in of_kind(documents, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)


def test_the_schema_refuses_a_misspelt_key_naming_it(helm: Kubectl) -> None:
    done = helm(
        "template", "ls", str(CHART), "--set", f"database.url={DATABASE_URL}",
        "--set", "operator.replica=2", check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "/operator" in done.stderr, done.stderr
    assert "'replica' not allowed" in done.stderr, done.stderr


def test_without_a_database_the_chart_says_what_to_set(helm: Kubectl) -> None:
    done = helm("template", "ls", str(CHART), check=False)
    assert done.returncode != 0
    assert "set database.url" in done.stderr
    assert "database.existingSecret" in done.stderr


def test_secrets_are_never_rendered_in_plain_text(helm: Kubectl) -> None:
    documents = render(helm, "logsentinel", *EVERYTHING)
    text = yaml.safe_dump_all(documents)
    assert "s3cret-db-password" not in text
    secrets = {s["metadata"]["name"]: s for s in of_kind(documents, "Secret")}
    assert all("stringData" not in secret for secret in secrets.values())
    database = secrets["ls-logsentinel-database"]["data"]["url"]
    assert base64.b64decode(database).decode() == DATABASE_URL
    api = secrets["ls-logsentinel-api"]["data"]
    assert len(base64.b64decode(api["jwt-secret"])) >= 32
    assert len(base64.b64decode(api["admin-password"])) >= 12
    for deployment in of_kind(documents, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for variable in container["env"]:
            if variable["name"] in {"LOGSENTINEL_DATABASE_URL", "LOGSENTINEL_JWT_SECRET"}:
                assert "secretKeyRef" in variable["valueFrom"], variable


def test_existing_secrets_replace_the_generated_ones(helm: Kubectl) -> None:
    documents = render(
        helm, "logsentinel",
        "--set", "database.existingSecret=pg", "--set", "database.existingSecretKey=uri",
        "--set", "api.existingSecret=api-keys",
    )  # fmt: skip
    assert not of_kind(documents, "Secret")
    api = next(d for d in of_kind(documents, "Deployment") if d["metadata"]["name"].endswith("api"))
    env = {v["name"]: v for v in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LOGSENTINEL_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "pg",
        "key": "uri",
    }
    assert env["LOGSENTINEL_JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "api-keys"


def test_roles_and_crds_come_from_their_one_definition(helm: Kubectl) -> None:
    documents = render(helm, "logsentinel")
    roles = {r["metadata"]["name"]: r for r in of_kind(documents, "ClusterRole")}
    for component in ("operator", "api"):
        source = yaml.safe_load((CHART / "files" / f"{component}-clusterrole.yaml").read_text())
        assert roles[f"ls-logsentinel-{component}-logsentinel"]["rules"] == source["rules"]
    for copy in sorted((CHART / "crds").glob("*.yaml")):
        assert copy.read_text() == (REPO / "crds" / copy.name).read_text(), copy.name
    assert len(list((CHART / "crds").glob("*.yaml"))) == len(list((REPO / "crds").glob("*.yaml")))


def test_the_default_rule_pack_is_installed_from_its_one_definition(helm: Kubectl) -> None:
    pack = {
        document["metadata"]["name"]: document
        for document in (yaml.safe_load(path.read_text()) for path in DEFAULT_RULES)
    }
    rendered = {
        rule["metadata"]["name"]: rule
        for rule in of_kind(render(helm, "monitoring"), "DetectionRule")
    }
    assert set(rendered) == set(pack)
    for name, rule in rendered.items():
        assert rule["metadata"]["namespace"] == "monitoring", "the central namespace: the release's"
        assert rule["spec"] == pack[name]["spec"]
    thinned = render(helm, "monitoring", "--set-json", 'defaultRules.disabled=["default-silence"]')
    assert {r["metadata"]["name"] for r in of_kind(thinned, "DetectionRule")} == set(pack) - {
        "default-silence"
    }
    off = render(helm, "monitoring", "--set", "defaultRules.enabled=false")
    assert of_kind(off, "DetectionRule") == []


def test_a_namespaced_operator_gets_a_peering_object_per_namespace(helm: Kubectl) -> None:
    documents = render(helm, "logsentinel", "--set-json", 'operator.watchNamespaces=["a","b"]')
    peerings = of_kind(documents, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["a", "b"]
    assert not of_kind(documents, "ClusterKopfPeering")
    (operator,) = [
        d for d in of_kind(documents, "Deployment") if "operator" in d["metadata"]["name"]
    ]
    env = {
        v["name"]: v.get("value")
        for v in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert json.loads(env["LOGSENTINEL_NAMESPACES"]) == ["a", "b"]


def test_cluster_scoped_names_carry_the_namespace_so_releases_never_clash(helm: Kubectl) -> None:
    def cluster_scoped(namespace: str) -> set[str]:
        documents = render(helm, namespace)
        kinds = {"ClusterRole", "ClusterRoleBinding"}
        return {d["metadata"]["name"] for d in documents if d["kind"] in kinds}

    first, second = cluster_scoped("team-a"), cluster_scoped("team-b")
    assert first
    assert first.isdisjoint(second)
    hand_applied = yaml.safe_load((CHART / "files" / "operator-clusterrole.yaml").read_text())
    assert hand_applied["metadata"]["name"] not in first
