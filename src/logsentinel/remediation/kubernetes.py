"""The Executor for Kubernetes: reads and changes Deployments, StatefulSets and DaemonSets, and
runs the Jobs of runJob steps.

The apiserver calls are kube.workloads' (raw JSON, bounded retries); this module maps the
executor protocol onto them: a missing workload raises TargetNotFoundError, any other failure
ExecutorError naming the target. Each change writes the action marker (see
remediation/executor.py) in the same request as the change itself, except pod deletions, whose
marker follows once the pods are deleted.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from logsentinel.domain.common import MANAGED_BY_LABEL, PRODUCT, WorkloadKind, WorkloadRef
from logsentinel.domain.incident import INCIDENT_LABEL
from logsentinel.domain.types import Json, format_timestamp
from logsentinel.kube.client import ApiClient
from logsentinel.kube.errors import KubeError, KubeNotFoundError
from logsentinel.kube.incident_objects import parse_timestamp
from logsentinel.kube.owners import controller_reference
from logsentinel.kube.secrets import SecretDataError, decode_secret_data
from logsentinel.kube.workloads import WorkloadApi, describe
from logsentinel.remediation.executor import (
    MARKER_ANNOTATION,
    MARKER_TIME_ANNOTATION,
    ExecutorError,
    JobPhase,
    JobRequest,
    JobState,
    TargetNotFoundError,
    TargetState,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
"""Set by the Job controller on the pods it creates."""
JOB_CONTAINER = "job"
JOB_LOG_LINES = 20
JOB_TTL_SECONDS = 24 * 3600
"""A finished Job and its pod stay a day for people to read, then Kubernetes deletes them."""
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"


# --- pure helpers ----------------------------------------------------------------------------


def marker_annotations(marker: str, at: datetime) -> dict[str, str]:
    """The annotations that record an action on its target."""
    return {MARKER_ANNOTATION: marker, MARKER_TIME_ANNOTATION: format_timestamp(at)}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _annotations(document: Json) -> dict[str, str]:
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    return {str(key): str(value) for key, value in annotations.items()}


def _containers(template: Json) -> list[Json]:
    return list((template.get("spec") or {}).get("containers") or [])


def images_of(template: Json) -> dict[str, str]:
    """Container name -> image of a pod template."""
    return {str(c.get("name")): str(c.get("image", "")) for c in _containers(template)}


def describe_images(template: Json) -> str:
    """``image registry/x:1``, or ``images app=registry/x:1, sidecar=...`` for several."""
    images = images_of(template)
    if len(images) == 1:
        return f"image {next(iter(images.values()))}"
    return "images " + ", ".join(f"{name}={image}" for name, image in images.items())


def state_of(target: WorkloadRef, workload: Json) -> TargetState:
    """The TargetState of a workload object (raw JSON as the apiserver returns it)."""
    metadata = workload.get("metadata") or {}
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    annotations = _annotations(workload)
    if target.kind is WorkloadKind.DAEMON_SET:
        desired = _int(status.get("desiredNumberScheduled"))
        ready = _int(status.get("numberReady"))
        available = _int(status.get("numberAvailable"))
        updated = _int(status.get("updatedNumberScheduled"))
    else:
        desired = _int(spec.get("replicas"), 1)  # the apiserver defaults a missing value to 1
        ready = _int(status.get("readyReplicas"))
        available = _int(status.get("availableReplicas"))
        updated = _int(status.get("updatedReplicas"))
    revision = annotations.get(REVISION_ANNOTATION)
    return TargetState(
        ref=target,
        desired_replicas=desired,
        ready_replicas=ready,
        available_replicas=available,
        updated_replicas=updated,
        generation=_int(metadata.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        images=images_of(spec.get("template") or {}),
        revision=revision if target.kind is WorkloadKind.DEPLOYMENT else None,
        last_action=annotations.get(MARKER_ANNOTATION),
        last_action_at=parse_timestamp(annotations.get(MARKER_TIME_ANNOTATION)),
    )


def revision_of(document: Json) -> int | None:
    """The ``deployment.kubernetes.io/revision`` of a Deployment or ReplicaSet, if readable."""
    value = _annotations(document).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def previous_revision(deployment: Json, replica_sets: list[Json]) -> tuple[int, int, Json] | None:
    """(current, previous, that ReplicaSet) for a rollback, None without an older revision.

    The current revision is the Deployment's own annotation, or the newest ReplicaSet's when the
    controller has not written it yet.
    """
    by_revision: dict[int, Json] = {}
    for replica_set in replica_sets:
        revision = revision_of(replica_set)
        if revision is not None:
            by_revision[revision] = replica_set
    current = revision_of(deployment)
    if current is None:
        current = max(by_revision, default=0)
    older = [revision for revision in by_revision if revision < current]
    if not older:
        return None
    previous = max(older)
    return current, previous, by_revision[previous]


def template_of(replica_set: Json) -> Json:
    """A ReplicaSet's pod template as a Deployment template: without ``pod-template-hash``."""
    template: Json = copy.deepcopy((replica_set.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return template


def json_pointer(*parts: str) -> str:
    """An RFC 6901 pointer; ``~`` and ``/`` inside a part are escaped."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def marker_operations(workload: Json, annotations: dict[str, str]) -> list[Json]:
    """JSON patch operations that set these annotations, whether or not any exist yet."""
    if not isinstance((workload.get("metadata") or {}).get("annotations"), dict):
        return [{"op": "add", "path": "/metadata/annotations", "value": annotations}]
    return [
        {"op": "add", "path": json_pointer("metadata", "annotations", key), "value": value}
        for key, value in annotations.items()
    ]


def choose_container(target: WorkloadRef, template: Json, container: str | None) -> str:
    """The container an image pin applies to: the named one, or the only one."""
    names = [str(c.get("name")) for c in _containers(template)]
    if container is None:
        if len(names) == 1:
            return names[0]
        raise ExecutorError(
            f"{describe(target)} has {len(names)} containers ({', '.join(names)});"
            " name the one to pin"
        )
    if container not in names:
        raise ExecutorError(
            f"{describe(target)} has no container {container!r} (containers: {', '.join(names)})"
        )
    return container


def owner_label(pod: Json) -> str:
    """``ReplicaSet other-5d8f``, or ``no controller``, for refusal messages."""
    reference = controller_reference(pod)
    if reference is None:
        return "no controller"
    return f"{reference.get('kind')} {reference.get('name')}"


def job_manifest(target: WorkloadRef, job: JobRequest, marker: str) -> Json:
    """The Job of a runJob step: one attempt, stopped after its timeout, in the target's
    namespace; the incident's variables come before the step's own ``env``."""
    params = job.params
    labels = {MANAGED_BY_LABEL: PRODUCT, INCIDENT_LABEL: job.incident[:63]}
    container: Json = {
        "name": JOB_CONTAINER,
        "image": params.image,
        "env": [
            *({"name": name, "value": value} for name, value in sorted(job.env.items())),
            *({"name": v.name, "value": v.value} for v in params.env),
        ],
    }
    if params.command:
        container["command"] = list(params.command)
    if params.args:
        container["args"] = list(params.args)
    pod: Json = {
        "restartPolicy": "Never",
        "containers": [container],
        # Only a Job given a ServiceAccount talks to the apiserver.
        "automountServiceAccountToken": params.service_account_name is not None,
    }
    if params.service_account_name is not None:
        pod["serviceAccountName"] = params.service_account_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job.name,
            "namespace": target.namespace,
            "labels": labels,
            "annotations": {MARKER_ANNOTATION: marker},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, int(params.timeout.total_seconds())),
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def job_phase(job: Json) -> tuple[JobPhase, str]:
    """Running, or Succeeded/Failed with the message of the condition that says so."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        why = ": ".join(
            str(part) for part in (condition.get("reason"), condition.get("message")) if part
        )
        if kind == "Complete":
            return JobPhase.SUCCEEDED, why
        if kind == "Failed":
            return JobPhase.FAILED, why
    return JobPhase.RUNNING, ""


@contextmanager
def _failures(target: WorkloadRef) -> Iterator[None]:
    """Kube errors as executor errors: 404 means the target is gone."""
    try:
        yield
    except KubeNotFoundError as error:
        raise TargetNotFoundError(f"{describe(target)} not found: {error.message}") from error
    except KubeError as error:
        raise ExecutorError(f"{describe(target)}: {error}") from error


# --- the executor ----------------------------------------------------------------------------


class KubernetesExecutor:
    """Executor against the Kubernetes API, with the official (synchronous) client."""

    def __init__(self, api_client: ApiClient, *, request_timeout: float = 10.0) -> None:
        self._api = WorkloadApi(api_client, request_timeout=request_timeout)

    def target_state(self, target: WorkloadRef) -> TargetState:
        with _failures(target):
            return state_of(target, self._api.read(target))

    def rollout_restart(self, target: WorkloadRef, marker: str, at: datetime) -> str:
        """Like ``kubectl rollout restart``: a new restartedAt on the pod template."""
        patch = {
            "metadata": {"annotations": marker_annotations(marker, at)},
            "spec": {
                "template": {
                    "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: format_timestamp(at)}}
                }
            },
        }
        with _failures(target):
            self._refuse_paused(target, self._api.read(target), "restart")
            self._api.patch(target, patch, "restart")
        return f"restarted {describe(target)}"

    def rollback(
        self,
        target: WorkloadRef,
        marker: str,
        at: datetime,
        image: str | None = None,
        container: str | None = None,
    ) -> str:
        """To the previous revision's pod template, or with ``image`` a pinned image."""
        if target.kind is not WorkloadKind.DEPLOYMENT:
            raise ExecutorError(f"cannot roll back {describe(target)}: only Deployments roll back")
        with _failures(target):
            deployment = self._api.read(target)
            self._refuse_paused(target, deployment, "roll back")
            if image is not None:
                return self._pin_image(target, deployment, marker, at, image, container)
            return self._undo(target, deployment, marker, at)

    def scale(self, target: WorkloadRef, replicas: int, marker: str, at: datetime) -> str:
        """Set spec.replicas and the marker in one patch of the workload."""
        if target.kind is WorkloadKind.DAEMON_SET:
            raise ExecutorError(f"cannot scale {describe(target)}: a DaemonSet has no replicas")
        if replicas < 0:
            raise ExecutorError(f"cannot scale {describe(target)} to {replicas} replicas")
        patch = {
            "metadata": {"annotations": marker_annotations(marker, at)},
            "spec": {"replicas": replicas},
        }
        with _failures(target):
            before = state_of(target, self._api.read(target)).desired_replicas
            self._api.patch(target, patch, f"scale to {replicas}")
        return f"scaled {describe(target)} from {before} to {replicas} replicas"

    def delete_pods(self, target: WorkloadRef, pods: list[str], marker: str, at: datetime) -> str:
        """Delete those pods if every one that exists belongs to target; then the marker."""
        if not pods:
            raise ExecutorError(f"no pods of {describe(target)} named to delete")
        with _failures(target):
            workload = self._api.read(target)
            found, missing = self._read_pods(target.namespace, pods)
            replica_sets: dict[str, Json | None] = {}
            foreign = [p for p in found if not self._owns(target, workload, p, replica_sets)]
            if foreign:
                listing = ", ".join(f"{p['metadata']['name']} ({owner_label(p)})" for p in foreign)
                raise ExecutorError(
                    f"refusing to delete pods that do not belong to {describe(target)}: {listing}"
                )
            deleted = [
                p["metadata"]["name"]
                for p in found
                if self._api.delete_pod(
                    p["metadata"]["namespace"], p["metadata"]["name"], p["metadata"]["uid"]
                )
            ]
            missing += [
                p["metadata"]["name"] for p in found if p["metadata"]["name"] not in deleted
            ]
            self._api.patch(
                target, {"metadata": {"annotations": marker_annotations(marker, at)}}, "mark"
            )
        message = f"deleted {len(deleted)} pod(s) of {describe(target)}"
        if deleted:
            message += f": {', '.join(deleted)}"
        if missing:
            message += f"; skipped (not found): {', '.join(missing)}"
        return message

    def run_job(self, target: WorkloadRef, job: JobRequest, marker: str, at: datetime) -> str:
        """Create the step's Job (or find it, after an operator restart); then the marker."""
        with _failures(target):
            self._api.read(target)  # the target must exist: the Job is about it
            created, new = self._api.create_job(job_manifest(target, job, marker))
            self._api.patch(
                target, {"metadata": {"annotations": marker_annotations(marker, at)}}, "mark"
            )
        image = created["spec"]["template"]["spec"]["containers"][0]["image"]
        verb = "started" if new else "found (started before the operator restarted)"
        return f"Job {target.namespace}/{job.name} ({image}) {verb}"

    def job_state(self, namespace: str, name: str) -> JobState:
        """The Job's phase; once finished, the last lines of its pod's log."""
        what = f"Job {namespace}/{name}"
        try:
            job = self._api.read_job(namespace, name)
            phase, message = job_phase(job)
            if phase is JobPhase.RUNNING:
                return JobState(phase, message)
            pods = self._api.list_pods(namespace, f"{JOB_NAME_LABEL}={name}")
        except KubeNotFoundError as error:
            raise ExecutorError(f"{what} not found (deleted?)") from error
        except KubeError as error:
            raise ExecutorError(f"{what}: {error}") from error
        return JobState(phase, message, self._log_tail(namespace, pods))

    def _log_tail(self, namespace: str, pods: list[Json]) -> str:
        """The newest pod's last log lines; a log that cannot be read says why instead."""
        if not pods:
            return "(no pod left to read the log of)"
        newest = max(pods, key=lambda pod: str(pod["metadata"].get("creationTimestamp") or ""))
        try:
            return self._api.log_tail(namespace, newest["metadata"]["name"], JOB_LOG_LINES)
        except KubeError as error:
            return f"(log unreadable: {error})"

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, base64-decoded to text."""
        what = f"Secret {namespace}/{name}"
        try:
            secret = self._api.read_secret(namespace, name)
        except KubeNotFoundError as error:
            raise ExecutorError(f"{what} not found") from error
        except KubeError as error:
            raise ExecutorError(str(error)) from error
        try:
            return decode_secret_data(namespace, name, dict(secret.get("data") or {}))
        except SecretDataError as error:
            raise ExecutorError(str(error)) from error

    # --- rollback ------------------------------------------------------------------------------

    def _undo(self, target: WorkloadRef, deployment: Json, marker: str, at: datetime) -> str:
        found = previous_revision(deployment, self._owned_replica_sets(deployment))
        if found is None:
            raise ExecutorError(f"{describe(target)} has no previous revision to roll back to")
        current, previous, replica_set = found
        template = template_of(replica_set)
        annotations = marker_annotations(marker, at)
        if template == (deployment.get("spec") or {}).get("template"):
            self._api.json_patch(target, marker_operations(deployment, annotations), "mark")
            return (
                f"skipped rollback of {describe(target)}:"
                f" already at the template of revision {previous}"
            )
        # The test guards against a spec change between our read and this patch (generation
        # moves only with the spec): better to fail than to overwrite someone's new rollout.
        operations = [
            {"op": "test", "path": "/metadata/uid", "value": deployment["metadata"]["uid"]},
            {
                "op": "test",
                "path": "/metadata/generation",
                "value": deployment["metadata"]["generation"],
            },
            {"op": "replace", "path": "/spec/template", "value": template},
            *marker_operations(deployment, annotations),
        ]
        self._api.json_patch(target, operations, f"roll back to revision {previous}")
        return (
            f"rolled back {describe(target)} from revision {current} to {previous}"
            f" ({describe_images(template)})"
        )

    def _pin_image(
        self,
        target: WorkloadRef,
        deployment: Json,
        marker: str,
        at: datetime,
        image: str,
        container: str | None,
    ) -> str:
        template = (deployment.get("spec") or {}).get("template") or {}
        name = choose_container(target, template, container)
        before = images_of(template).get(name)
        patch = {
            "metadata": {"annotations": marker_annotations(marker, at)},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        }
        self._api.patch(target, patch, f"pin image {image}")
        return (
            f"rolled back {describe(target)}: container {name} pinned to image {image}"
            f" (was {before})"
        )

    def _refuse_paused(self, target: WorkloadRef, workload: Json, action: str) -> None:
        # As kubectl does: a paused Deployment would accept the change and never roll it out.
        if target.kind is WorkloadKind.DEPLOYMENT and (workload.get("spec") or {}).get("paused"):
            raise ExecutorError(
                f"cannot {action} {describe(target)}: it is paused (resume the rollout first)"
            )

    # --- pods ----------------------------------------------------------------------------------

    def _owns(
        self, target: WorkloadRef, workload: Json, pod: Json, replica_sets: dict[str, Json | None]
    ) -> bool:
        """Whether the pod's controller chain leads to the target (Pod -> ReplicaSet ->
        Deployment, or Pod -> StatefulSet/DaemonSet), matched by uid; ``replica_sets`` caches
        the ReplicaSets read on the way."""
        reference = controller_reference(pod) or {}
        uid = workload["metadata"]["uid"]
        if target.kind is not WorkloadKind.DEPLOYMENT:
            return reference.get("kind") == target.kind.value and reference.get("uid") == uid
        if reference.get("kind") != "ReplicaSet":
            return False
        name = str(reference.get("name"))
        if name not in replica_sets:
            replica_sets[name] = self._api.read_replica_set(target.namespace, name)
        replica_set = replica_sets[name]
        return (
            replica_set is not None
            and replica_set["metadata"]["uid"] == reference.get("uid")
            and (controller_reference(replica_set) or {}).get("uid") == uid
        )

    def _read_pods(self, namespace: str, names: list[str]) -> tuple[list[Json], list[str]]:
        """(pods found, names not found), in the order given, each name once."""
        found: list[Json] = []
        missing: list[str] = []
        for name in dict.fromkeys(names):
            pod = self._api.read_pod(namespace, name)
            if pod is None:
                missing.append(name)
            else:
                found.append(pod)
        return found, missing

    # --- ReplicaSets ----------------------------------------------------------------------------

    def _owned_replica_sets(self, deployment: Json) -> list[Json]:
        """The ReplicaSets whose controller is this Deployment (matched by uid)."""
        metadata = deployment["metadata"]
        match_labels = ((deployment.get("spec") or {}).get("selector") or {}).get(
            "matchLabels"
        ) or {}
        # matchLabels only narrows the listing; ownership is decided by the owner uid.
        selector = ",".join(f"{key}={value}" for key, value in match_labels.items())
        listing = self._api.list_replica_sets(metadata["namespace"], selector or None)
        return [
            rs for rs in listing if (controller_reference(rs) or {}).get("uid") == metadata["uid"]
        ]
