"""The Fluent Bit ConfigMap: fluent-bit.yaml with its placeholders filled from a LogPipeline.

The template is loaded with PyYAML, changed as a data structure and dumped again, so a value
from the spec can never alter the structure of the configuration. fluent-bit/README.md lists
the placeholders and what each one means; parsers.yaml and kafka_key.lua are copied verbatim.
"""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import yaml

from logsentinel.domain.pipeline import LogPipelineSpec
from logsentinel.domain.types import quantity_value
from logsentinel.operator.pipeline.buffer import storage_limit
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.fluentbit_files import read_template
from logsentinel.operator.pipeline.kafka import fluent_bit_reference, librdkafka_security

CONFIG_FILE = "fluent-bit.yaml"
VERBATIM_FILES = ("parsers.yaml", "kafka_key.lua")
CONTAINER_LOG_DIRECTORY = "/var/log/containers"

MEM_BUF_FRACTION = Decimal("0.2")
"""Share of the memory limit given to each of the two memory buffers sized by MEM_BUF_LIMIT
(the tail input and the multiline emitter): 40% in all, leaving the rest for chunks up, the
backlog, the kubernetes filter's cache and librdkafka's queue."""

DEFAULT_MEM_BUF_LIMIT = "50M"
"""MEM_BUF_LIMIT without a memory limit (the value in fluent-bit/README.md's example)."""

MIN_MEMORY_LIMIT = Decimal(64 * 2**20)
"""Below this, the two memory buffers plus the 16M backlog leave Fluent Bit too little."""


FLUENT_BIT_MEGABYTE = Decimal(10**6)  # Fluent Bit's M is 10^6 bytes

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def fluent_bit_files(
    spec: LogPipelineSpec, *, storage_path: str, client_certificate: bool = False
) -> dict[str, str]:
    """The ConfigMap data: fluent-bit.yaml rendered for ``spec``, parsers and Lua verbatim.

    ``storage_path``: where the buffer volume is mounted in the Fluent Bit container.
    ``client_certificate``: the Kafka TLS Secret also holds tls.crt/tls.key (mutual TLS).
    """
    config = yaml.safe_load(read_template(CONFIG_FILE))
    config = substitute(config, placeholder_values(spec, storage_path))
    pipeline = config["pipeline"]
    _set_exclusions(_plugin(pipeline["inputs"], "tail"), spec)
    pipeline["filters"] = _with_multiline(pipeline["filters"], spec)
    kafka = _plugin(pipeline["outputs"], "kafka")
    security = librdkafka_security(
        spec.kafka, reference=fluent_bit_reference, client_certificate=client_certificate
    )
    kafka.update({f"rdkafka.{key}": value for key, value in security.items()})
    files = {CONFIG_FILE: dump(config)}
    files.update({name: read_template(name) for name in VERBATIM_FILES})
    return files


def dump(document: Any) -> str:
    """Block-style YAML in the template's key order, long values never folded over lines."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=2**16)


def placeholder_values(spec: LogPipelineSpec, storage_path: str) -> dict[str, object]:
    """The value of every placeholder of fluent-bit.yaml (see fluent-bit/README.md)."""
    return {
        "KAFKA_BROKERS": ",".join(spec.kafka.bootstrap_servers),
        "KAFKA_TOPIC": spec.kafka.topic,
        "STORAGE_LIMIT": storage_limit(spec),
        "STORAGE_PATH": storage_path.rstrip("/"),
        "LOG_PATHS": ",".join(spec.agent.log_paths),
        "EXCLUDE_PATHS": ",".join(exclude_paths(spec)),
        "FLUSH_INTERVAL": flush_seconds(spec),
        "MEM_BUF_LIMIT": mem_buf_limit(spec),
    }


def exclude_paths(spec: LogPipelineSpec) -> list[str]:
    """One container log pattern per excluded namespace (file names are pod_namespace_...)."""
    return [
        f"{CONTAINER_LOG_DIRECTORY}/*_{namespace}_*.log"
        for namespace in spec.agent.inputs.exclude_namespaces
    ]


def flush_seconds(spec: LogPipelineSpec) -> int | float:
    """spec.agent.flushInterval in seconds: whole seconds as an integer."""
    seconds = spec.agent.flush_interval.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def mem_buf_limit(spec: LogPipelineSpec) -> str:
    """MEM_BUF_LIMIT: MEM_BUF_FRACTION of the memory limit, in Fluent Bit megabytes."""
    limit = spec.agent.resources.limits.get("memory")
    if limit is None:
        return DEFAULT_MEM_BUF_LIMIT
    memory = quantity_value(limit)
    if memory < MIN_MEMORY_LIMIT:
        raise PipelineRenderError(
            "spec.agent.resources.limits.memory",
            f"{limit} is too small for Fluent Bit's buffers: at least 64Mi",
        )
    megabytes = (memory * MEM_BUF_FRACTION / FLUENT_BIT_MEGABYTE).to_integral_value(ROUND_FLOOR)
    return f"{int(megabytes)}M"


def substitute(node: Any, values: dict[str, object]) -> Any:
    """``node`` with every ``${NAME}`` in its string values replaced.

    A value that is exactly one placeholder takes the replacement's type (an integer stays an
    integer in the YAML); a placeholder inside a longer string is replaced by its text.
    """
    if isinstance(node, dict):
        return {key: substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(item, values) for item in node]
    if not isinstance(node, str):
        return node
    whole = _PLACEHOLDER.fullmatch(node)
    if whole is not None:
        return _value_of(whole[1], values)
    return _PLACEHOLDER.sub(lambda match: str(_value_of(match[1], values)), node)


def _value_of(name: str, values: dict[str, object]) -> object:
    if name not in values:
        raise KeyError(f"{CONFIG_FILE} uses ${{{name}}}, which the renderer does not know")
    return values[name]


def _plugin(section: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = (entry for entry in section if entry.get("name") == name)
    return found


def _set_exclusions(tail: dict[str, Any], spec: LogPipelineSpec) -> None:
    # An empty exclude_path is not "exclude nothing" to every Fluent Bit version: leave it out.
    if not spec.agent.inputs.exclude_namespaces:
        tail.pop("exclude_path", None)


def _with_multiline(filters: list[dict[str, Any]], spec: LogPipelineSpec) -> list[dict[str, Any]]:
    """The filters with the multiline filter dropped, or listing only the chosen parsers."""
    multiline = spec.agent.multiline
    if not multiline.enabled:
        return [entry for entry in filters if entry.get("name") != "multiline"]
    if not multiline.parsers:
        raise PipelineRenderError(
            "spec.agent.multiline.parsers",
            "is empty while multiline is enabled: list parsers or set enabled: false",
        )
    chosen = list(dict.fromkeys(parser.value for parser in multiline.parsers))
    _plugin(filters, "multiline")["multiline.parser"] = ", ".join(chosen)
    return filters
