"""Kopf's peering objects: the operator makes sure its own exists before Kopf starts.

Kopf with mandatory peering waits, without a word, until the peering object appears. The
operator therefore creates it when it is missing (a ``KopfPeering`` in each watched namespace,
or one ``ClusterKopfPeering`` when it watches the whole cluster), and fails at once with the
object's name and a command to create it when its role does not allow that.
"""

from __future__ import annotations

import json
from functools import partial

from kubernetes import client

from logsentinel.kube.errors import KubeConflictError, KubeError, KubeNotFoundError, call

GROUP, VERSION = "kopf.dev", "v1"
NAMESPACED_PLURAL, NAMESPACED_KIND = "kopfpeerings", "KopfPeering"
CLUSTER_PLURAL, CLUSTER_KIND = "clusterkopfpeerings", "ClusterKopfPeering"


class PeeringUnavailable(Exception):  # noqa: N818 - the name says what the operator reports
    """The peering object is missing and cannot be created; the message says what to do."""


def manifest(name: str, namespace: str | None) -> dict[str, object]:
    """The peering object: namespaced when ``namespace`` is given, cluster-wide otherwise."""
    metadata: dict[str, str] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    kind = NAMESPACED_KIND if namespace else CLUSTER_KIND
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata}


def ensure_peering(api_client: client.ApiClient, name: str, namespaces: list[str]) -> list[str]:
    """Create the missing peering objects for an operator watching ``namespaces`` (empty: the
    whole cluster); returns what was created, as ``Kind namespace/name``."""
    api = client.CustomObjectsApi(api_client)
    targets: list[str | None] = list(namespaces) or [None]
    return [label for namespace in targets if (label := _ensure_one(api, name, namespace))]


def _ensure_one(api: client.CustomObjectsApi, name: str, namespace: str | None) -> str | None:
    """Create one peering object if missing; its label when this call created it."""
    body = manifest(name, namespace)
    label = f"{body['kind']} {namespace}/{name}" if namespace else f"{body['kind']} {name}"
    if namespace:
        get = partial(
            api.get_namespaced_custom_object, GROUP, VERSION, namespace, NAMESPACED_PLURAL
        )
        create = partial(
            api.create_namespaced_custom_object, GROUP, VERSION, namespace, NAMESPACED_PLURAL
        )
    else:
        get = partial(api.get_cluster_custom_object, GROUP, VERSION, CLUSTER_PLURAL)
        create = partial(api.create_cluster_custom_object, GROUP, VERSION, CLUSTER_PLURAL)
    try:
        call(f"get {label}", lambda: get(name, _request_timeout=10))
        return None
    except KubeNotFoundError:
        pass
    except KubeError as error:
        raise PeeringUnavailable(_advice(f"{label} could not be read", body, error)) from error
    try:
        call(f"create {label}", lambda: create(body, _request_timeout=10))
    except KubeConflictError:
        return None  # another replica created it first
    except KubeError as error:
        problem = f"{label} does not exist and could not be created"
        raise PeeringUnavailable(_advice(problem, body, error)) from error
    return label


def _advice(problem: str, body: dict[str, object], error: KubeError) -> str:
    missing_kind = isinstance(error, KubeNotFoundError)
    return (
        f"the operator's peering object {problem} ({error})"
        + ("; are the CRDs installed (crds/kopfpeerings.yaml)?" if missing_kind else "")
        + f". Create it: echo '{json.dumps(body)}' | kubectl apply -f -"
        " (or run one replica without peering: LOGSENTINEL_STANDALONE=true)"
    )
