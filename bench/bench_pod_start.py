"""Pod start on the real node: seconds from creating a Deployment of the operator image to the
Deployment reporting its pod Ready (the kubelet's readiness probe got 200 from the operator's
/healthz), and the size of the image.

Uses the running local stack with its real node (make up) and the image built from this
checkout (make images; imported into the node if it changed). Installs the CRDs and the
operator's ClusterRole, makes a scratch namespace with a ServiceAccount bound to it, a fresh
migrated database, and then, --runs times: create the Deployment, wait for Ready, delete it and
wait until its pod is gone. Ready is seen by polling the Deployment's status with kubectl
(about 50 ms a call).
Last line: RESULT pod_ready_s=<median> pod_ready_max_s=<max> image_mb=<size>
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))

from benchkit import fresh_database, kubectl, say, wait_for  # noqa: E402

from devstack import images  # noqa: E402
from devstack.kube import REAL_NODE, namespace_manifest  # noqa: E402
from devstack.node import Node  # noqa: E402
from devstack.postgres import POD_DATABASE_VAR  # noqa: E402
from logsentinel.storage.urls import libpq_url  # noqa: E402
from support.node import OPERATOR, operator_deployment  # noqa: E402
from support.operator import CLUSTER_ROLE, ROLE_NAME, binding_name  # noqa: E402


def deployment_ready(namespace: str) -> bool:
    status = json.loads(kubectl("get", "deployment", OPERATOR, "-n", namespace, "-o", "json"))
    return bool(status.get("status", {}).get("readyReplicas") == 1)


def pods_gone(namespace: str) -> bool:
    return not kubectl("get", "pods", "-n", namespace, "-o", "name").split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    pod_server = os.environ.get(POD_DATABASE_VAR)
    server = os.environ.get("LOGSENTINEL_DATABASE_URL")
    if not (Node().running() or os.environ.get("LOGSENTINEL_REAL_NODE")) or not pod_server:
        raise SystemExit('the real node is not running: make up; eval "$(make -s env)"')
    assert server is not None
    tag = images.logsentinel_tag()
    if images.image_id(tag) is None:
        raise SystemExit(f"no image {tag}: make images")
    size = images.image_size_mb(tag)
    say(f"image {tag}: {size} MB")
    Node().import_images([tag])

    namespace = f"bench-pod-start-{uuid.uuid4().hex[:6]}"
    database = namespace.replace("-", "_")
    fresh_database(server, database)
    pod_database = libpq_url(pod_server).rsplit("/", 1)[0] + f"/{database}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("apply", "-f", str(CLUSTER_ROLE))
    kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=False))
    kubectl("create", "serviceaccount", ROLE_NAME, "-n", namespace)
    kubectl(
        "create", "clusterrolebinding", binding_name(namespace),
        f"--clusterrole={ROLE_NAME}", f"--serviceaccount={namespace}:{ROLE_NAME}",
    )  # fmt: skip
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "logsentinel", "namespace": namespace},
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(peering))
    manifest = json.dumps(operator_deployment(namespace, tag, pod_database))
    ready: list[float] = []
    try:
        for run in range(arguments.runs):
            began = time.monotonic()
            kubectl("create", "-f", "-", stdin=manifest)
            wait_for("the operator Deployment Ready", lambda: deployment_ready(namespace), 180)
            ready.append(time.monotonic() - began)
            node = kubectl("get", "pods", "-n", namespace, "-o", "jsonpath={..nodeName}").split()
            if node != [REAL_NODE]:
                raise SystemExit(f"the operator pod ran on {node}, not {REAL_NODE}")
            say(f"run {run + 1}/{arguments.runs}: Ready after {ready[-1]:.2f} s")
            kubectl("delete", "deployment", OPERATOR, "-n", namespace)
            wait_for("the operator pod gone", lambda: pods_gone(namespace), 120)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
        kubectl("delete", "clusterrolebinding", binding_name(namespace))
    median, longest = statistics.median(ready), max(ready)
    print(
        f"RESULT pod_ready_s={median:.2f} pod_ready_max_s={longest:.2f} image_mb={size}",
        flush=True,
    )


if __name__ == "__main__":
    main()
