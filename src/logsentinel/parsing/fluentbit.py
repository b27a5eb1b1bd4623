"""The record shape Fluent Bit's kafka output writes with our configuration (fluent-bit/).

After the tail input's built-in ``cri`` multiline parser and the kubernetes filter, a record
is (see tests/fixtures/fluent-bit/ for complete examples and the facts they rest on)::

    {"@timestamp": "2024-05-01T12:00:00.123456Z",      # kafka output: timestamp_key/format
     "time": "2024-05-01T12:00:00.123456789Z",         # cri parser keeps its time key
     "stream": "stdout", "_p": "F",                    # cri parser: stream and partial flag
     "log": "the line the container wrote",            # cri parser: the content
     "kubernetes": {"pod_name": ..., "namespace_name": ..., "container_name": ...,
                    "pod_id": ..., "labels": {...}, "host": ..., "docker_id": ...,
                    "container_hash": ..., "container_image": ...},
     "logsentinel_key": "namespace/service"}           # our Lua filter; the Kafka key

``@timestamp`` is also accepted as a ``double`` (epoch seconds, the kafka output's default
format), and the classic ``cri`` parser's ``message`` key is accepted for ``log``.

Missing Kubernetes metadata: the kubernetes filter takes ``namespace_name``, ``pod_name`` and
``container_name`` from the tag even when the API server cannot be reached, so a record without
``kubernetes.namespace_name`` or ``kubernetes.pod_name`` did not come through our pipeline. It
is dead-lettered as invalid, naming the field: guessing a namespace would attribute one
tenant's logs to another. Missing labels are normal (metadata lookup failed); the service is
then derived from the pod name (:mod:`logsentinel.parsing.workload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from logsentinel.parsing.attributes import clean_text
from logsentinel.parsing.errors import DeadLetterError, DeadLetterReason
from logsentinel.parsing.fluentbitshape import FLUENT_BIT_SHAPE, SHAPE_REFUSED
from logsentinel.parsing.jsonio import JsonError, loads
from logsentinel.parsing.timestamps import parse_epoch, parse_iso
from logsentinel.parsing.workload import service_name

TIMESTAMP_KEY = "@timestamp"
"""Our kafka output's ``timestamp_key`` (also the plugin's default)."""
CRI_TIME_KEY = "time"
LOG_KEYS = ("log", "message")
"""The built-in ``cri`` multiline parser writes ``log``; the classic ``cri`` parser ``message``."""
KEY_FIELD = "logsentinel_key"
"""Set by fluent-bit/kafka_key.lua; the kafka output's ``message_key_field``."""
KUBERNETES_KEY = "kubernetes"
MAX_LABEL_VALUE = 63
MAX_NAME = 253
_STREAMS = frozenset({"stdout", "stderr"})


@dataclass(slots=True)
class Pod:
    """Where a record comes from: what the kubernetes filter says, checked, and its service."""

    namespace: str
    pod: str
    container: str
    node: str
    labels: dict[str, str]
    service: str
    raw_labels: Any  # not `object`: mypyc cannot resolve that name in a dataclass annotation
    """The filter's labels as received, to tell when a cached pod's labels changed."""


@dataclass(slots=True)
class Envelope:
    """Everything a Fluent Bit record says besides the log line itself."""

    timestamp: datetime
    log: Any  # text, or the object a structured logger wrote; checked by the decoder
    stream: str | None
    pod: Pod


def _invalid(detail: str) -> DeadLetterError:
    return DeadLetterError(DeadLetterReason.INVALID, detail)


def _collector_time(document: dict[str, Any]) -> datetime:
    value = document.get(TIMESTAMP_KEY)
    moment = None
    if isinstance(value, str):
        moment = parse_iso(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = parse_epoch(value)
    if moment is None:
        cri_time = document.get(CRI_TIME_KEY)
        if isinstance(cri_time, str):
            moment = parse_iso(cri_time)
    if moment is None:
        if value is None:
            raise _invalid(f"{TIMESTAMP_KEY}: missing")
        raise _invalid(f"{TIMESTAMP_KEY}: not an ISO 8601 time or epoch seconds: {value!r:.60}")
    return moment


def _name(kubernetes: dict[str, Any], key: str, required: bool, clean: bool) -> str:
    value = kubernetes.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"{KUBERNETES_KEY}.{key}: missing")
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{KUBERNETES_KEY}.{key}: expected text, got {type(value).__name__}")
    if len(value) > MAX_NAME:
        raise _invalid(f"{KUBERNETES_KEY}.{key}: longer than {MAX_NAME} characters")
    return clean_text(value) if clean else value


def _labels(raw_labels: object, clean: bool) -> dict[str, str]:
    """Pod labels; entries that could not be Kubernetes labels are left out."""
    if not isinstance(raw_labels, dict):
        return {}
    kept: dict[str, str] = {}
    for key, value in raw_labels.items():
        if isinstance(value, str) and len(value) <= MAX_LABEL_VALUE:
            if clean:
                key, value = clean_text(key), clean_text(value)
            kept[key] = value
    return kept


def read_pod(kubernetes: dict[str, Any], clean: bool) -> Pod:
    """The checked metadata of the kubernetes filter; DeadLetterError names what is missing."""
    namespace = _name(kubernetes, "namespace_name", True, clean)
    pod = _name(kubernetes, "pod_name", True, clean)
    raw_labels = kubernetes.get("labels")
    labels = _labels(raw_labels, clean)
    service = service_name(labels, pod)
    return Pod(
        namespace=namespace,
        pod=pod,
        container=_name(kubernetes, "container_name", False, clean),
        node=_name(kubernetes, "host", False, clean),
        labels=labels,
        service=clean_text(service) if clean else service,
        raw_labels=raw_labels,
    )


class EnvelopeReader:
    """Reads envelopes, remembering each pod's checked metadata (bounded) between records."""

    def __init__(self, max_pods: int = 4096) -> None:
        self._pods: dict[tuple[object, object, object, object], Pod] = {}
        self._pods_by_metadata: dict[bytes, Pod] = {}
        self._max_pods = max_pods

    def read_value(self, value: bytes) -> Envelope | None:
        """The envelope of a Fluent Bit value in the usual shape (:mod:`.fluentbitshape`),
        read from its bytes without building the document; None for any other value, which
        :meth:`read` then judges. The caller has checked that the value holds no escape that
        needs cleaning (``attributes.may_need_cleaning``)."""
        try:
            shape = FLUENT_BIT_SHAPE.decode(value)
        except SHAPE_REFUSED:
            return None
        log = shape.log if shape.log is not None else shape.message
        if log is None or shape.timestamp is None:
            return None
        timestamp = parse_iso(shape.timestamp)
        if timestamp is None:
            return None
        metadata = bytes(shape.kubernetes)
        pod = self._pods_by_metadata.get(metadata)
        if pod is None:
            try:
                kubernetes = loads(metadata)
                if not isinstance(kubernetes, dict):
                    return None
                pod = read_pod(kubernetes, False)
            except (DeadLetterError, JsonError, UnicodeDecodeError):
                return None
            if len(self._pods_by_metadata) >= self._max_pods:
                self._pods_by_metadata.clear()
            self._pods_by_metadata[metadata] = pod
        stream = shape.stream
        return Envelope(
            timestamp=timestamp,
            log=log,
            stream=stream if stream is not None and stream in _STREAMS else None,
            pod=pod,
        )

    def read(self, document: dict[str, Any], clean: bool) -> Envelope:
        """The envelope of a decoded Fluent Bit record; DeadLetterError names what is wrong."""
        kubernetes = document.get(KUBERNETES_KEY)
        if not isinstance(kubernetes, dict):
            if kubernetes is None:
                raise _invalid(f"{KUBERNETES_KEY}: missing (no kubernetes filter metadata)")
            raise _invalid(f"{KUBERNETES_KEY}: expected an object, got {type(kubernetes).__name__}")
        pod = self._pod(kubernetes, clean)
        log: object = None
        for key in LOG_KEYS:
            log = document.get(key)
            if log is not None:
                break
        if log is None:
            raise _invalid("log: missing")
        stream = document.get("stream")
        return Envelope(
            timestamp=_collector_time(document),
            log=log,
            stream=stream if isinstance(stream, str) and stream in _STREAMS else None,
            pod=pod,
        )

    def _pod(self, kubernetes: dict[str, Any], clean: bool) -> Pod:
        if clean:
            return read_pod(kubernetes, clean)
        get = kubernetes.get
        key = (get("namespace_name"), get("pod_name"), get("container_name"), get("host"))
        try:
            pod = self._pods.get(key)
        except TypeError:  # an unhashable name: let read_pod report it
            return read_pod(kubernetes, clean)
        if pod is None or pod.raw_labels != get("labels"):
            pod = read_pod(kubernetes, clean)
            if len(self._pods) >= self._max_pods:
                self._pods.clear()
            self._pods[key] = pod
        return pod
