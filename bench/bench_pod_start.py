"""Pod start on the real node: how long from `kubectl apply` of a pod running the product image
to (a) its container running and (b) the `logsentinel` CLI having started and exited (imports
included), plus the image's size.

Uses the running local stack with its real node (make up) and the image built from this
checkout (make images; imported into the node by `make up`). Each run creates a fresh pod in a
scratch namespace; the pod is deleted before the next. Times are read from the pod's watch.
Last line: RESULT image_mb=<size> pod_running_p50_s=<a> pod_running_max_s=<b> cli_done_p50_s=<c>
cli_done_max_s=<d>
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from benchkit import kubectl, say  # noqa: E402

from devstack import images  # noqa: E402
from devstack.kube import REAL_NODE, namespace_manifest  # noqa: E402
from devstack.node import Node  # noqa: E402


def pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "cli", "image": image, "args": ["--version"]}],
        },
    }


def started(found: Any) -> bool:
    statuses = found.status.container_statuses or []
    return any(s.state and (s.state.running or s.state.terminated) for s in statuses)


def one_run(core: client.CoreV1Api, namespace: str, image: str, run: int) -> tuple[float, float]:
    """Seconds from the create call to the container running, and to the pod Succeeded."""
    name = f"start-{run}"
    stream = watch.Watch()
    began = time.monotonic()
    core.create_namespaced_pod(namespace, pod(name, image))
    running_at = None
    events = stream.stream(
        core.list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={name}",
        timeout_seconds=120,
    )
    for event in events:
        found = event["object"]
        if running_at is None and started(found):
            running_at = time.monotonic() - began
        if found.status.phase in {"Succeeded", "Failed"}:
            done_at = time.monotonic() - began
            stream.stop()
            if found.status.phase == "Failed" or found.spec.node_name != REAL_NODE:
                raise SystemExit(f"pod {name} {found.status.phase} on {found.spec.node_name}")
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            return running_at or done_at, done_at
    raise SystemExit(f"pod {name} did not finish within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    if not Node().running() and not os.environ.get("LOGSENTINEL_REAL_NODE"):
        raise SystemExit("the real node is not running: make up")
    tag = images.logsentinel_tag()
    if images.image_id(tag) is None:
        raise SystemExit(f"no image {tag}: make images")
    size = images.image_size_mb(tag)
    say(f"image {tag}: {size} MB")
    Node().import_images([tag])

    config.load_kube_config()
    core = client.CoreV1Api()
    namespace = f"bench-pod-start-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", stdin=namespace_manifest(namespace, kwok=False))
    kubectl("wait", "--for=jsonpath={.metadata.name}", "serviceaccount/default", "-n", namespace)
    running: list[float] = []
    done: list[float] = []
    try:
        for run in range(arguments.runs):
            to_running, to_done = one_run(core, namespace, tag, run)
            running.append(to_running)
            done.append(to_done)
            say(f"run {run + 1}/{arguments.runs}: running {to_running:.2f} s, done {to_done:.2f} s")
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    figures = {
        "image_mb": size,
        "pod_running_p50_s": round(statistics.median(running), 2),
        "pod_running_max_s": round(max(running), 2),
        "cli_done_p50_s": round(statistics.median(done), 2),
        "cli_done_max_s": round(max(done), 2),
    }
    print("RESULT " + " ".join(f"{key}={value}" for key, value in figures.items()), flush=True)


if __name__ == "__main__":
    main()
