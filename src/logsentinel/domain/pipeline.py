"""LogPipeline: what the node agent collects, how it buffers, where Kafka is, how processors run."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.common import Condition, SecretKeyRef, SecretRef
from logsentinel.domain.types import (
    Duration,
    Identifier,
    LabelMap,
    NamedGroupRegex,
    NamespaceName,
    ObjectName,
    Quantity,
    quantity_value,
)
from logsentinel.domain.union import TaggedUnion

DEFAULT_FLUENT_BIT_IMAGE = "cr.fluentbit.io/fluent/fluent-bit:3.2.10"
DEFAULT_OTEL_COLLECTOR_IMAGE = "ghcr.io/log-sentinel/otelcol-logsentinel:0.165.1"
DEFAULT_PROCESSOR_IMAGE = "ghcr.io/log-sentinel/log-sentinel:0.1.0"

Image = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]


class ResourceRequirements(SchemaModel):
    """Container requests and limits, as in a pod spec."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(SchemaModel):
    """A pod toleration, as in a pod spec."""

    key: Annotated[str, StringConstraints(max_length=316)] | None = None
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: Annotated[str, StringConstraints(max_length=63)] | None = None
    effect: TaintEffect | None = None
    toleration_seconds: int | None = None


class AgentType(StrEnum):
    """Which node agent collects the container logs."""

    FLUENT_BIT = "fluentBit"
    OTEL_COLLECTOR = "otelCollector"


DEFAULT_IMAGES = {
    AgentType.FLUENT_BIT: DEFAULT_FLUENT_BIT_IMAGE,
    AgentType.OTEL_COLLECTOR: DEFAULT_OTEL_COLLECTOR_IMAGE,
}
DEFAULT_LOG_PATHS = {
    # Fluent Bit reads the kubelet's symlinks, whose names carry pod, namespace and container;
    # the collector's container parser takes them from the /var/log/pods directory layout.
    AgentType.FLUENT_BIT: ["/var/log/containers/*.log"],
    AgentType.OTEL_COLLECTOR: ["/var/log/pods/*/*/*.log"],
}

LogPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Inputs(SchemaModel):
    """Which container log files the agent tails."""

    paths: list[LogPath] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Defaults to /var/log/containers/*.log for fluentBit and "
        "/var/log/pods/*/*/*.log for otelCollector.",
    )
    exclude_namespaces: list[NamespaceName] = Field(
        default_factory=lambda: ["kube-system"], max_length=100
    )


class MultilineLanguage(StrEnum):
    JAVA = "java"
    PYTHON = "python"
    GO = "go"


class Multiline(SchemaModel):
    """Join stack traces into one record (Fluent Bit's built-in multiline parsers, or the
    collector's recombine operator with the same languages' continuation lines)."""

    enabled: bool = True
    parsers: list[MultilineLanguage] = Field(
        default_factory=lambda: list(MultilineLanguage), max_length=len(MultilineLanguage)
    )


class Agent(SchemaModel):
    """The node agent DaemonSet: Fluent Bit (the default) or the OpenTelemetry Collector."""

    type: AgentType = AgentType.FLUENT_BIT
    image: Image | None = Field(
        default=None,
        description=f"Defaults to {DEFAULT_FLUENT_BIT_IMAGE} for fluentBit and "
        f"{DEFAULT_OTEL_COLLECTOR_IMAGE} for otelCollector.",
    )
    inputs: Inputs = Field(default_factory=Inputs)
    multiline: Multiline = Field(default_factory=Multiline)
    flush_interval: Duration = timedelta(seconds=1)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=50)
    node_selector: LabelMap = Field(default_factory=dict, max_length=20)

    @property
    def image_or_default(self) -> str:
        return self.image if self.image is not None else DEFAULT_IMAGES[self.type]

    @property
    def log_paths(self) -> list[str]:
        paths = self.inputs.paths
        return list(paths) if paths is not None else list(DEFAULT_LOG_PATHS[self.type])


class BufferType(StrEnum):
    HOST_PATH = "hostPath"
    EPHEMERAL = "ephemeral"


class HostPathBuffer(SchemaModel):
    """A directory on the node: survives pod deletion and restarts."""

    path: Annotated[str, StringConstraints(pattern=r"^/\S*$", max_length=1024)] = (
        "/var/lib/logsentinel/fluent-bit"
    )


class EphemeralBuffer(SchemaModel):
    """A PersistentVolumeClaim per pod through a generic ephemeral volume."""

    size: Quantity
    storage_class_name: ObjectName | None = None


class Buffer(TaggedUnion):
    """The agent's disk buffer (Fluent Bit's filesystem storage, the collector's file_storage
    for its offsets and persistent sending queue); totalLimitSize always bounds it."""

    COMMON_FIELDS: ClassVar[frozenset[str]] = frozenset({"type", "total_limit_size"})

    type: BufferType = BufferType.HOST_PATH
    total_limit_size: Quantity = "1Gi"
    host_path: HostPathBuffer | None = None
    ephemeral: EphemeralBuffer | None = None

    @model_validator(mode="after")
    def _limit_fits_volume(self) -> Self:
        if self.ephemeral is not None and quantity_value(self.total_limit_size) > quantity_value(
            self.ephemeral.size
        ):
            raise field_error(
                "totalLimitSize",
                f"{self.total_limit_size} is larger than the volume "
                f"(ephemeral.size {self.ephemeral.size})",
            )
        return self


KafkaTopic = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
HostPort = Annotated[
    str, StringConstraints(max_length=261, pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
]


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaTls(SchemaModel):
    """TLS to the brokers; the Secret holds ca.crt and optionally tls.crt/tls.key."""

    secret_ref: SecretRef


class KafkaSasl(SchemaModel):
    """SASL credentials; the Secret holds username and password."""

    mechanism: SaslMechanism
    secret_ref: SecretRef


class Kafka(SchemaModel):
    """The Kafka cluster between collectors and processors."""

    bootstrap_servers: list[HostPort] = Field(min_length=1, max_length=20)
    topic: KafkaTopic = "logsentinel-logs"
    partitions: Annotated[int, Field(ge=1, le=1000)] = 6
    replication_factor: Annotated[int, Field(ge=1, le=10)] | None = Field(
        default=None, description="Defaults to the broker's default.replication.factor."
    )
    tls: KafkaTls | None = None
    sasl: KafkaSasl | None = None


class CustomParser(SchemaModel):
    """A regex whose named groups become attributes, tried before the built-in formats."""

    name: Identifier
    regex: NamedGroupRegex
    services: list[Annotated[str, StringConstraints(max_length=253)]] = Field(
        default_factory=list, max_length=100, description="Only for these services; empty: all."
    )


class Processors(SchemaModel):
    """The Kafka consumer group that parses, stores and detects."""

    replicas: Annotated[int, Field(ge=1, le=100)] = 2
    image: Image = DEFAULT_PROCESSOR_IMAGE
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    database_secret_ref: SecretKeyRef = Field(description="Secret key holding the database URL.")
    max_record_size: Quantity = "256Ki"
    custom_parsers: list[CustomParser] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _unique_parser_names(self) -> Self:
        names = [parser.name for parser in self.custom_parsers]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise field_error(f"customParsers[{index}].name", f"duplicate parser {name!r}")
        return self


class LogPipelineSpec(SchemaModel):
    """Desired collection and processing."""

    agent: Agent = Field(default_factory=Agent)
    buffer: Buffer = Field(default_factory=Buffer)
    kafka: Kafka
    processors: Processors


class ReplicaCounts(SchemaModel):
    desired: Annotated[int, Field(ge=0)] = 0
    ready: Annotated[int, Field(ge=0)] = 0


class AgentDropCounter(SchemaModel):
    """One agent pod's dropped-lines counter as the operator last read it (the counter starts
    at 0 with each container start)."""

    pod: ObjectName
    uid: Annotated[str, StringConstraints(max_length=64)]
    restarts: Annotated[int, Field(ge=0)] = 0
    dropped: Annotated[int, Field(ge=0)] = 0


class LogPipelineStatus(SchemaModel):
    """Observed state of the pipeline's collectors and processors."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    collectors: ReplicaCounts = Field(default_factory=ReplicaCounts)
    processors: ReplicaCounts = Field(default_factory=ReplicaCounts)
    dropped_records: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Lines the agents read and dropped because their disk buffer was full "
        "(Kafka unreachable for longer than totalLimitSize holds) or they were at their memory "
        "limit, as the operator counted them since the pipeline was created.",
    )
    last_drop_time: AwareDatetime | None = Field(
        default=None, description="When the operator last saw an agent drop lines."
    )
    agent_counters: list[AgentDropCounter] = Field(default_factory=list, max_length=5000)


__all__ = [
    "Agent",
    "AgentDropCounter",
    "AgentType",
    "Buffer",
    "BufferType",
    "CustomParser",
    "EphemeralBuffer",
    "HostPathBuffer",
    "Inputs",
    "Kafka",
    "KafkaSasl",
    "KafkaTls",
    "LogPipelineSpec",
    "LogPipelineStatus",
    "Multiline",
    "Processors",
    "ReplicaCounts",
    "ResourceRequirements",
    "Toleration",
]
