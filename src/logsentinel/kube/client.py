"""Connecting to the Kubernetes API: in-cluster credentials in a pod, else a kubeconfig file."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from logsentinel.kube.errors import KubeError

ApiClient = client.ApiClient
"""The client's connection (credentials, pool): what the kube adapters are built from. Code
outside this package names the type through this alias and never imports the client."""

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = Path("~/.kube/config")


class KubeConfigError(KubeError):
    """No usable Kubernetes credentials were found; the message lists everything tried."""


def in_cluster() -> bool:
    """True when this process runs in a pod with a service account token mounted."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def _from_kubeconfig(path: str) -> client.ApiClient:
    configuration = client.Configuration()
    # persist_config=False: never rewrite the user's kubeconfig (token refreshes stay in memory).
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, client_configuration=configuration, persist_config=False
    )
    return client.ApiClient(configuration)


def _from_service_account() -> client.ApiClient:
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """A client for the cluster this process belongs to.

    With a ``kubeconfig`` argument, that file and nothing else (an explicit choice must not
    silently fall back to other credentials). Without one: the pod's service account when
    running in a cluster, then ``$KUBECONFIG`` (which may list several files separated by
    ``os.pathsep``), then ``~/.kube/config``. Raises KubeConfigError naming every source tried
    and why each failed.
    """
    tried: list[str] = []

    def attempt_file(label: str, path: str) -> client.ApiClient | None:
        files = [Path(p).expanduser() for p in path.split(os.pathsep) if p]
        if not any(file.is_file() for file in files):
            tried.append(f"{label} {path!r}: no such file")
            return None
        try:
            return _from_kubeconfig(path)  # the loader expands ~ and merges a list of files
        except Exception as error:  # a broken file: yaml, certificates, missing keys
            tried.append(f"{label} {path!r}: {error}")
            return None

    if kubeconfig:  # explicit: never fall back to some other cluster's credentials
        found = attempt_file("kubeconfig argument", kubeconfig)
        if found is not None:
            return found
        raise KubeConfigError(f"cannot use the kubeconfig given: {tried[0]}")
    if in_cluster():
        try:
            return _from_service_account()
        except (ConfigException, OSError) as error:
            tried.append(f"in-cluster service account: {error}")
    else:
        tried.append(
            "in-cluster service account: not in a pod (KUBERNETES_SERVICE_HOST unset or no token"
            f" in {SERVICE_ACCOUNT})"
        )
    env = os.environ.get("KUBECONFIG")
    if env:
        found = attempt_file("$KUBECONFIG", env)
        if found is not None:
            return found
    else:
        tried.append("$KUBECONFIG: not set")
    found = attempt_file("default kubeconfig", str(DEFAULT_KUBECONFIG))
    if found is not None:
        return found
    listing = "\n".join(f"  - {line}" for line in tried)
    raise KubeConfigError(f"no usable Kubernetes credentials; tried:\n{listing}")
