"""Pod start on the real node: seconds from `helm install` of the chart (operator only) with the
product image to the operator's pod Ready (the kubelet's probes got 200 from its /healthz), and
the size of the image.

Uses the running local stack with its real node (make up) and the image built from this
checkout (make images; imported into the node if it changed). Makes a scratch namespace and a
fresh migrated database, then, --runs times: install the release (its operator watching that
namespace), wait for the pod Ready, uninstall it and wait until the pod is gone. Ready is seen by
polling the pod with kubectl (about 50 ms a call).
Last line: RESULT pod_ready_s=<median> pod_ready_max_s=<max> image_mb=<size>
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))

from benchkit import fresh_database, kubectl, say, wait_for  # noqa: E402

from devstack import images  # noqa: E402
from devstack.kube import REAL_NODE, namespace_manifest  # noqa: E402
from devstack.node import Node  # noqa: E402
from devstack.postgres import POD_DATABASE_VAR  # noqa: E402
from logsentinel.storage.urls import libpq_url  # noqa: E402
from support.node import CHART, chart_values, is_ready  # noqa: E402


def helm(*args: str) -> None:
    done = subprocess.run(
        [os.environ.get("LOGSENTINEL_HELM", "helm"), *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"helm {' '.join(args)} failed: {done.stderr.strip()}")


def operator_pods(namespace: str) -> list[dict[str, Any]]:
    selector = "app.kubernetes.io/component=operator"
    listing = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    pods: list[dict[str, Any]] = json.loads(listing)["items"]
    return pods


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
    kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=False))
    values = [*chart_values(tag, pod_database, namespace), "--set", "api.enabled=false"]
    ready: list[float] = []
    try:
        for run in range(arguments.runs):
            began = time.monotonic()
            helm("install", "bench", str(CHART), "-n", namespace, *values)
            wait_for(
                "the operator pod Ready",
                lambda: any(is_ready(pod) for pod in operator_pods(namespace)),
                180,
            )
            ready.append(time.monotonic() - began)
            nodes = [pod["spec"]["nodeName"] for pod in operator_pods(namespace)]
            if nodes != [REAL_NODE]:
                raise SystemExit(f"the operator pod ran on {nodes}, not {REAL_NODE}")
            say(f"run {run + 1}/{arguments.runs}: Ready after {ready[-1]:.2f} s")
            helm("uninstall", "bench", "-n", namespace, "--wait")
            wait_for("the operator pod gone", lambda: not operator_pods(namespace), 120)
    finally:
        helm("uninstall", "bench", "-n", namespace, "--ignore-not-found")
        kubectl("delete", "namespace", namespace, "--wait=false")
    median, longest = statistics.median(ready), max(ready)
    print(
        f"RESULT pod_ready_s={median:.2f} pod_ready_max_s={longest:.2f} image_mb={size}",
        flush=True,
    )


if __name__ == "__main__":
    main()
