"""Which service a Kubernetes pod belongs to.

The service is the pod's ``app.kubernetes.io/name`` label, else its ``app`` label, else the
name of the workload that owns it, derived from the pod name:

- Deployment pods are ``<deployment>-<pod-template-hash>-<suffix>``
  (``checkout-7d9f8b6c5d-x2x9k`` -> ``checkout``). The hash is written by Kubernetes with the
  alphabet ``bcdfghjklmnpqrstvwxz2456789`` (no vowels), so ``checkout-service-x2x9k`` is not
  mistaken for one.
- DaemonSet and Job pods are ``<name>-<5 characters>`` (``fluent-bit-abcde`` -> ``fluent-bit``).
- StatefulSet pods are ``<name>-<ordinal>`` (``db-0`` -> ``db``).
- Anything else (a bare or static pod) is its own workload. Name-only rules cannot tell a bare
  pod whose last part has five characters (``api-proxy``) from a DaemonSet pod; labels, which
  come first, settle most such cases.

``fluent-bit/kafka_key.lua`` applies the same rules to build the Kafka message key
(``namespace/service``), so one consumer owns all of a service's records: keep the two in step
(tests/unit/parsing/test_fluent_bit_config.py checks them against the same pod names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SERVICE_LABELS = ("app.kubernetes.io/name", "app")

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DEPLOYMENT_POD = re.compile(rf"^(.+)-[{_HASH_ALPHABET}]{{6,10}}-[a-z0-9]{{5}}$")
_GENERATED_SUFFIX_POD = re.compile(r"^(.+)-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(.+)-\d+$")

_CACHE_LIMIT = 16384
_workload_cache: dict[str, str] = {}


def workload_from_pod_name(pod_name: str) -> str:
    """The owning workload's name as far as the pod name tells it."""
    cached = _workload_cache.get(pod_name)
    if cached is not None:
        return cached
    name = pod_name
    for pattern in (_DEPLOYMENT_POD, _GENERATED_SUFFIX_POD, _STATEFUL_POD):
        match = pattern.match(pod_name)
        if match is not None:
            name = match.group(1)
            break
    if len(_workload_cache) >= _CACHE_LIMIT:
        _workload_cache.clear()
    _workload_cache[pod_name] = name
    return name


def service_name(labels: Mapping[str, str], pod_name: str, owner: str | None = None) -> str:
    """The service: the ``app.kubernetes.io/name`` label, the ``app`` label, else the owning
    workload: ``owner`` when the agent looked it up, else as named by the pod name."""
    for label in SERVICE_LABELS:
        value = labels.get(label)
        if value:
            return value
    return owner or workload_from_pod_name(pod_name)
