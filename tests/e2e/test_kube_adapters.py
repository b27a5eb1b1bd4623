"""The Kubernetes adapters (logsentinel.kube) against the real apiserver of the local stack:
the DetectionRule watcher, the Incident publisher and the pod owner resolver."""

from __future__ import annotations

import copy
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from kubernetes import client

from devstack.proc import free_port, wait_until
from devstack.pytest_plugin import Kubectl
from logsentinel.domain.common import GROUP_VERSION, WorkloadKind, WorkloadRef
from logsentinel.domain.incident import Evidence, EvidenceSample, IncidentSpec
from logsentinel.domain.resources import DetectionRule, Incident
from logsentinel.domain.rule import DetectionRuleStatus
from logsentinel.kube.client import api_client
from logsentinel.kube.errors import KubeNotFoundError, KubeRequestError, KubeUnavailable
from logsentinel.kube.incident_objects import IncidentPublisher
from logsentinel.kube.owners import OwnerResolver
from logsentinel.kube.rules import RuleSnapshot, RuleWatcher, strip, validate
from support.broken import VARIANTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "examples" / "rules" / "threshold-error-burst.yaml"
INCIDENT_FILE = REPO / "tests" / "fixtures" / "incident.yaml"
GROUP, VERSION = GROUP_VERSION.split("/")
DEADLINE = 5.0  # seconds a change may take to reach the watcher's callback in these tests


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def crds(kubectl: Kubectl) -> Kubectl:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
    return kubectl


@pytest.fixture
def api(kube_config: str) -> Iterator[client.ApiClient]:
    with api_client(kube_config) as connected:
        yield connected


def unreachable_client() -> client.ApiClient:
    """A client for an apiserver that is not there (a port nobody listens on)."""
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{free_port()}"
    configuration.verify_ssl = False
    return client.ApiClient(configuration)


def example_rule(namespace: str, name: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(RULE_FILE.read_text())
    document["metadata"]["namespace"] = namespace
    if name is not None:
        document["metadata"]["name"] = name
    return document


def apply(kubectl: Kubectl, document: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps(document))


class Recorder:
    """The watcher's callback: keeps every snapshot with the time it arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshots: list[tuple[float, RuleSnapshot]] = []

    def __call__(self, snapshot: RuleSnapshot) -> None:
        with self._lock:
            self.snapshots.append((time.monotonic(), snapshot))

    def latest(self) -> RuleSnapshot:
        with self._lock:
            return self.snapshots[-1][1] if self.snapshots else RuleSnapshot()

    def arrival(self, since: float, predicate: Callable[[RuleSnapshot], bool]) -> float | None:
        """Seconds from ``since`` to the first snapshot after it that satisfies ``predicate``."""
        with self._lock:
            for at, snapshot in self.snapshots:
                if at >= since and predicate(snapshot):
                    return at - since
        return None

    def wait(self, what: str, since: float, predicate: Callable[[RuleSnapshot], bool]) -> float:
        """Wait (up to DEADLINE) for a snapshot satisfying ``predicate``; its latency."""
        wait_until(what, lambda: self.arrival(since, predicate) is not None, timeout=DEADLINE)
        latency = self.arrival(since, predicate)
        assert latency is not None
        return latency


@pytest.fixture
def watcher_for(api: client.ApiClient) -> Iterator[Callable[[str | None], Recorder]]:
    """Starts RuleWatchers (stopped at teardown) and returns their recorders."""
    started: list[RuleWatcher] = []

    def start(namespace: str | None) -> Recorder:
        recorder = Recorder()
        watcher = RuleWatcher(api, namespace, recorder)
        started.append(watcher)
        watcher.start()
        assert watcher.wait_synced(10), "the first list did not complete"
        return recorder

    yield start
    for watcher in started:
        watcher.stop()


# --- RuleWatcher --------------------------------------------------------------------------------


def test_rule_watcher_sees_apply_edit_delete_and_invalid_rules(
    crds: Kubectl, kube_namespace: str, watcher_for: Callable[[str | None], Recorder]
) -> None:
    ns = kube_namespace
    key = f"{ns}/error-burst"
    recorder = watcher_for(ns)
    everywhere = watcher_for(None)
    assert recorder.latest() == RuleSnapshot()  # the first (empty) list was delivered

    started = time.monotonic()
    apply(crds, example_rule(ns))
    added = recorder.wait("rule added", started, lambda s: key in s.valid)
    rule = recorder.latest().valid[key]
    assert rule.spec.severity.value == "high"
    assert rule.metadata.namespace == ns
    assert rule.metadata.uid
    assert "managedFields" not in (rule.metadata.model_extra or {})
    everywhere.wait("cluster-wide watcher sees it", started, lambda s: key in s.valid)

    edited = example_rule(ns)
    edited["spec"]["severity"] = "critical"
    started = time.monotonic()
    apply(crds, edited)
    changed = recorder.wait(
        "severity edit",
        started,
        lambda s: key in s.valid and s.valid[key].spec.severity.value == "critical",
    )

    broken = next(v for v in VARIANTS if v.id == "regex-does-not-compile")
    assert broken.schema_field is None  # the CRD schema accepts it; only the domain refuses
    document = broken.document()
    document["metadata"].update(namespace=ns, name="broken-regex")
    started = time.monotonic()
    apply(crds, document)
    bad_key = f"{ns}/broken-regex"
    recorder.wait("invalid rule reported", started, lambda s: bad_key in s.invalid)
    problems = recorder.latest().invalid[bad_key]
    assert isinstance(problems, list)
    assert [p.path for p in problems] == [broken.field]
    assert key in recorder.latest().valid  # a bad rule never hides the good ones

    started = time.monotonic()
    crds("-n", ns, "delete", "detectionrule", "error-burst")
    deleted = recorder.wait("rule deleted", started, lambda s: key not in s.valid)
    assert bad_key in recorder.latest().invalid
    print(
        f"\nwatch latency incl. kubectl: add {added:.3f}s, edit {changed:.3f}s,"
        f" delete {deleted:.3f}s"
    )


def test_rule_change_reaches_callback_fast(
    crds: Kubectl,
    api: client.ApiClient,
    kube_namespace: str,
    watcher_for: Callable[[str | None], Recorder],
) -> None:
    """Measured from just before the API write to the callback, over 20 edits."""
    ns = kube_namespace
    key = f"{ns}/error-burst"
    recorder = watcher_for(ns)
    apply(crds, example_rule(ns))
    recorder.wait("rule added", 0, lambda s: key in s.valid)
    objects = client.CustomObjectsApi(api)
    latencies = []
    for count in range(51, 71):
        started = time.monotonic()
        objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            DetectionRule.INFO.plural,
            "error-burst",
            {"spec": {"detector": {"threshold": {"count": count}}}},
        )

        def seen(snapshot: RuleSnapshot, count: int = count) -> bool:
            rule = snapshot.valid.get(key)
            return rule is not None and rule.spec.detector.threshold.count == count  # type: ignore[union-attr]

        latencies.append(recorder.wait(f"count={count}", started, seen))
    latencies.sort()
    print(
        f"\nrule change -> on_change: median {statistics.median(latencies) * 1000:.1f} ms,"
        f" max {latencies[-1] * 1000:.1f} ms over {len(latencies)} edits"
    )
    assert statistics.median(latencies) < 1.0


def test_rule_being_deleted_leaves_the_snapshot_before_its_finalizer_goes(
    crds: Kubectl, kube_namespace: str, watcher_for: Callable[[str | None], Recorder]
) -> None:
    """The operator's finalizer keeps a deleted rule in the apiserver; it must stop firing."""
    ns = kube_namespace
    key = f"{ns}/error-burst"
    recorder = watcher_for(ns)
    held = example_rule(ns)
    held["metadata"]["finalizers"] = ["detectionrule.logsentinel.io/finalizer"]
    apply(crds, held)
    recorder.wait("rule added", 0, lambda s: key in s.valid)
    started = time.monotonic()
    crds("-n", ns, "delete", "detectionrule", "error-burst", "--wait=false")
    recorder.wait("rule gone while its finalizer holds it", started, lambda s: key not in s.valid)
    assert crds("-n", ns, "get", "dr", "error-burst", "-o", "name").stdout.strip()
    crds(
        "-n",
        ns,
        "patch",
        "dr",
        "error-burst",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )


def test_snapshot_documents_drop_server_metadata_and_tolerate_a_bad_status() -> None:
    served = example_rule("shop")
    served["metadata"].update(
        uid="0b6c1a9e-0000-4000-8000-000000000000",
        resourceVersion="4711",
        generation=3,
        creationTimestamp="2026-11-22T12:00:00Z",
        managedFields=[{"manager": "kubectl", "operation": "Apply"}],
    )
    served["status"] = {"firedCount": -1}  # cannot happen through the CRD, but never mind
    document = strip(served)
    assert set(document["metadata"]) == {
        "name",
        "namespace",
        "generation",
        "uid",
        "creationTimestamp",
    }
    rule = validate(document, "shop/error-burst")
    assert isinstance(rule, DetectionRule)
    assert rule.status is None
    assert rule.metadata.generation == 3
    broken = copy.deepcopy(document)
    broken["spec"]["severity"] = "apocalyptic"
    problems = validate(broken, "shop/error-burst")
    assert isinstance(problems, list)
    assert [p.path for p in problems] == ["spec.severity"]


def test_rule_watcher_survives_an_unreachable_apiserver() -> None:
    recorder = Recorder()
    watcher = RuleWatcher(unreachable_client(), None, recorder)
    with structlog.testing.capture_logs() as logs:
        watcher.start()
        assert not watcher.wait_synced(1.5)
        started = time.monotonic()
        watcher.stop()
    assert time.monotonic() - started < 3
    assert recorder.snapshots == []
    failures = [e for e in logs if e["event"] == "rule watch failed, retrying"]
    assert failures
    assert failures[0]["log_level"] == "warning"


# --- IncidentPublisher --------------------------------------------------------------------------


def incident_spec() -> tuple[str, IncidentSpec]:
    document = yaml.safe_load(INCIDENT_FILE.read_text())
    return document["metadata"]["name"], IncidentSpec.model_validate(document["spec"])


def read(api: client.ApiClient, plural: str, ns: str, name: str) -> dict[str, Any]:
    found = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, plural, name
    )
    assert isinstance(found, dict)
    return found


def test_incident_publisher_lifecycle(
    crds: Kubectl, api: client.ApiClient, kube_namespace: str
) -> None:
    ns = kube_namespace
    name, spec = incident_spec()
    publisher = IncidentPublisher(api)
    labels = {"logsentinel.io/rule": spec.rule}

    assert publisher.create(ns, name, spec, labels) is True
    replay = spec.model_copy(update={"occurrences": 99, "summary": "replayed"})
    assert publisher.create(ns, name, replay, labels) is False  # idempotent, not overwritten
    stored = Incident.from_manifest(read(api, "incidents", ns, name))
    assert stored.spec == spec
    assert stored.status is not None
    assert stored.status.phase.value == "Open"
    assert stored.metadata.labels == labels

    header, row = crds("get", "inc", "-n", ns).stdout.splitlines()[:2]
    assert header.split() == ["NAME", "SEVERITY", "RULE", "TARGET", "PHASE", "COUNT", "AGE"]
    assert row.split()[:6] == [name, "high", "error-burst", "checkout", "Open", "3"]

    last_seen = spec.last_seen + timedelta(minutes=2)
    evidence = Evidence(
        samples=[EvidenceSample(timestamp=last_seen, message="payment gateway timeout after 31s")],
        template_ids=["9c1d0e4f2a7b3c55"],
    )  # no window: the stored window must go, not survive the merge
    publisher.update_occurrences(ns, name, 7, last_seen, evidence)
    stored = Incident.from_manifest(read(api, "incidents", ns, name))
    assert stored.spec.occurrences == 7
    assert stored.spec.last_seen == last_seen
    assert stored.spec.evidence == evidence
    assert stored.spec.first_seen == spec.first_seen
    publisher.update_occurrences(ns, name, 8, last_seen, None)  # evidence untouched
    stored = Incident.from_manifest(read(api, "incidents", ns, name))
    assert (stored.spec.occurrences, stored.spec.evidence) == (8, evidence)
    columns = crds("get", "inc", "-n", ns, "--no-headers").stdout.split()
    assert columns[4:6] == ["Open", "8"]

    resolved_at = last_seen + timedelta(minutes=15)
    assert publisher.resolve(ns, name, resolved_at, "quiet for 15m") is True
    stored = Incident.from_manifest(read(api, "incidents", ns, name))
    assert stored.status is not None
    assert stored.status.phase.value == "Resolved"
    assert stored.status.resolved_at == resolved_at
    assert stored.status.resolution == "quiet for 15m"
    assert crds("get", "inc", "-n", ns, "--no-headers").stdout.split()[4] == "Resolved"

    assert publisher.resolve(ns, "no-such-incident", resolved_at, "gone") is False
    with pytest.raises(KubeNotFoundError):
        publisher.update_occurrences(ns, "no-such-incident", 2, last_seen, None)


def test_incident_publisher_reports_refusals_and_outages(
    crds: Kubectl, api: client.ApiClient, kube_namespace: str
) -> None:
    _, spec = incident_spec()
    with pytest.raises(KubeRequestError) as refused:
        IncidentPublisher(api).create(kube_namespace, "Not_A_Valid_Name", spec, {})
    assert refused.value.status == 422
    assert "Not_A_Valid_Name" in refused.value.message  # the apiserver's own words

    with pytest.raises(KubeUnavailable) as down:
        IncidentPublisher(unreachable_client()).create(kube_namespace, "x", spec, {})
    assert down.value.attempts == 3
    assert "create Incident" in str(down.value)


def test_record_firing_counts_and_keeps_the_latest_time(
    crds: Kubectl, api: client.ApiClient, kube_namespace: str
) -> None:
    ns = kube_namespace
    apply(crds, example_rule(ns))
    publisher = IncidentPublisher(api)
    later = datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    earlier = later - timedelta(minutes=3)

    def status() -> DetectionRuleStatus:
        rule = DetectionRule.from_manifest(read(api, "detectionrules", ns, "error-burst"))
        assert rule.status is not None
        return rule.status

    assert publisher.record_firing(ns, "error-burst", later) is True
    assert publisher.record_firing(ns, "error-burst", earlier) is True
    assert (status().fired_count, status().last_fired_at) == (2, later)
    row = crds("get", "dr", "-n", ns, "--no-headers").stdout.split()
    assert row[0] == "error-burst"
    assert row[-2] == "2"  # the Fired column (Ready is empty without the operator)

    # Concurrent writers never lose a count (resourceVersion guard + retry on 409).
    threads = [
        threading.Thread(
            target=lambda: [publisher.record_firing(ns, "error-burst", later) for _ in range(3)]
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert status().fired_count == 14

    assert publisher.record_firing(ns, "no-such-rule", later) is False


# --- OwnerResolver ------------------------------------------------------------------------------


def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [{"name": name, "image": "registry.invalid/logsentinel/web:1.0"}],
            **({"restartPolicy": "Never"} if kind == "Job" else {}),
        },
    }
    body: dict[str, Any] = {"template": template, **spec}
    if kind != "Job":
        body["selector"] = {"matchLabels": {"app": name}}
    return {
        "apiVersion": "batch/v1" if kind == "Job" else "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": body,
    }


def pods_of(api: client.ApiClient, ns: str, app: str) -> list[str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={app}")
    return sorted(
        str(pod.metadata.name)
        for pod in pods.items
        if pod.metadata is not None and not pod.metadata.deletion_timestamp
    )


def test_owner_resolver_follows_controller_references(
    kubectl: Kubectl, api: client.ApiClient, kube_namespace: str
) -> None:
    ns = kube_namespace
    manifests = [
        workload("Deployment", "web", replicas=2),
        workload("StatefulSet", "db", replicas=1, serviceName="db"),
        workload("DaemonSet", "agent"),
        workload("Job", "migrate"),
    ]
    bare = copy.deepcopy(manifests[0]["spec"]["template"])
    bare["metadata"] = {"name": "bare", "labels": {"app": "bare"}}
    manifests.append({"apiVersion": "v1", "kind": "Pod", **bare})
    kubectl("-n", ns, "apply", "-f", "-", stdin="---\n".join(yaml.safe_dump(m) for m in manifests))
    for app in ("web", "db", "agent", "migrate", "bare"):

        def has_pod(app: str = app) -> bool:
            return bool(pods_of(api, ns, app))

        wait_until(f"a pod of {app}", has_pod, timeout=90)

    now = [0.0]
    resolver = OwnerResolver(api, clock=lambda: now[0])
    web_pod = pods_of(api, ns, "web")[0]
    expected = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace=ns, name="web")
    assert resolver.resolve(ns, web_pod) == expected
    assert resolver.resolve(ns, pods_of(api, ns, "db")[0]) == WorkloadRef(
        kind=WorkloadKind.STATEFUL_SET, namespace=ns, name="db"
    )
    assert resolver.resolve(ns, pods_of(api, ns, "agent")[0]) == WorkloadRef(
        kind=WorkloadKind.DAEMON_SET, namespace=ns, name="agent"
    )
    assert resolver.resolve(ns, pods_of(api, ns, "migrate")[0]) is None  # Jobs: no remediation
    assert resolver.resolve(ns, "bare") is None
    assert resolver.resolve(ns, "no-such-pod") is None
    assert resolver.resolve("no-such-namespace", web_pod) is None

    # Answers are cached for the TTL: a deleted pod still resolves until it expires.
    kubectl("-n", ns, "delete", "pod", web_pod, "--grace-period=0", "--force", "--wait=true")
    assert resolver.resolve(ns, web_pod) == expected
    now[0] += 61
    assert resolver.resolve(ns, web_pod) is None


def test_owner_resolver_without_apiserver_returns_none_and_warns() -> None:
    resolver = OwnerResolver(unreachable_client())
    with structlog.testing.capture_logs() as logs:
        assert resolver.resolve("shop", "checkout-7d9f8b6c5d-x2x9k") is None
    warnings = [e for e in logs if e["event"] == "pod owner lookup failed"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["pod"] == "checkout-7d9f8b6c5d-x2x9k"
    assert warnings[0]["transient"] is True
