"""Playbook: which incidents it handles, how (steps), and the guards that keep remediation safe."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from logsentinel.domain.base import SchemaModel, field_error
from logsentinel.domain.common import (
    Condition,
    SecretKeyRef,
    SecretRef,
    Selector,
    Severity,
    WorkloadKind,
)
from logsentinel.domain.types import (
    Duration,
    Identifier,
    NamespaceName,
    ObjectName,
    ShortText,
)
from logsentinel.domain.union import TaggedUnion

PROTECTED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


class PlaybookMode(StrEnum):
    """dryRun records what it would do; approval waits for a human; auto acts."""

    DRY_RUN = "dryRun"
    APPROVAL = "approval"
    AUTO = "auto"


class OnFailure(StrEnum):
    ESCALATE = "escalate"
    ROLLBACK = "rollback"


class Triggers(SchemaModel):
    """Which incidents the playbook handles. Every part that is set must match; empty means any."""

    incident_types: list[Identifier] = Field(default_factory=list, max_length=50)
    severities: list[Severity] = Field(default_factory=list, max_length=len(Severity))
    rules: list[ObjectName] = Field(default_factory=list, max_length=50)
    selector: Selector = Field(default_factory=Selector)
    target_kinds: list[WorkloadKind] = Field(
        default_factory=lambda: [WorkloadKind.DEPLOYMENT, WorkloadKind.COMPOSE_SERVICE],
        description="Default: Deployments (Kubernetes) and Compose services (Compose mode).",
        min_length=1,
        max_length=len(WorkloadKind),
    )


# --- steps -----------------------------------------------------------------------------------


class StepType(StrEnum):
    ROLLOUT_RESTART = "rolloutRestart"
    ROLLBACK = "rollback"
    SCALE = "scale"
    DELETE_POD = "deletePod"
    NOTIFY = "notify"
    WAIT = "wait"
    VERIFY = "verify"
    RUN_JOB = "runJob"


CHANGING_STEPS = frozenset(
    {
        StepType.ROLLOUT_RESTART,
        StepType.ROLLBACK,
        StepType.SCALE,
        StepType.DELETE_POD,
        StepType.RUN_JOB,
    }
)
"""Steps that change the cluster: guards apply to them and dry runs skip them."""


class RolloutRestartParams(SchemaModel):
    """Restart all pods of the target, like kubectl rollout restart."""


ImageReference = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")]


class RollbackParams(SchemaModel):
    """Return to the previous revision's pod template, or pin image on container."""

    image: ImageReference | None = None
    container: Identifier | None = Field(
        default=None, description="Container to pin; needed only when the pod has several."
    )

    @model_validator(mode="after")
    def _container_needs_image(self) -> Self:
        if self.container is not None and self.image is None:
            raise field_error("image", "is required when container is set")
        return self


Replicas = Annotated[int, Field(ge=0, le=1000)]


class ScaleParams(SchemaModel):
    """Set replicas, or change them by delta, never leaving [minReplicas, maxReplicas]."""

    replicas: Replicas | None = None
    delta: Annotated[int, Field(ge=-100, le=100)] | None = None
    min_replicas: Replicas = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10

    @model_validator(mode="after")
    def _one_target_within_bounds(self) -> Self:
        if (self.replicas is None) == (self.delta is None):
            raise field_error("replicas", "set exactly one of replicas or delta")
        if self.min_replicas > self.max_replicas:
            raise field_error("minReplicas", "must not exceed maxReplicas")
        if self.replicas is not None and not (
            self.min_replicas <= self.replicas <= self.max_replicas
        ):
            raise field_error(
                "replicas",
                f"must be within minReplicas..maxReplicas "
                f"({self.min_replicas}..{self.max_replicas})",
            )
        return self


class DeletePodParams(SchemaModel):
    """Delete the pods named in the incident's evidence (newest first), at most maxPods."""

    max_pods: Annotated[int, Field(ge=1, le=10)] = 1


HttpUrl = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s/]+(/\S*)?$")]
EmailAddress = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]


class WebhookTarget(SchemaModel):
    """POST a JSON payload (Slack-compatible text plus structured fields)."""

    url: HttpUrl | None = None
    url_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Read the URL from a Secret (webhook URLs are credentials)."
    )

    @model_validator(mode="after")
    def _one_url_source(self) -> Self:
        if (self.url is None) == (self.url_secret_ref is None):
            raise field_error("url", "set exactly one of url or urlSecretRef")
        return self


class EmailTarget(SchemaModel):
    """Mail through the SMTP server a Secret describes (host, port, username, password)."""

    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    smtp_secret_ref: SecretRef


class NotifyParams(SchemaModel):
    """Tell people. At least one of webhook or email."""

    webhook: WebhookTarget | None = None
    email: EmailTarget | None = None
    message: ShortText = ""
    retries: Annotated[int, Field(ge=0, le=10)] = 3

    @model_validator(mode="after")
    def _has_a_target(self) -> Self:
        if self.webhook is None and self.email is None:
            raise field_error("webhook", "notify needs a target: set webhook or email")
        return self


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
RUN_JOB_ENV_PREFIX = "LOGSENTINEL_"
"""The Job's own variables (the incident, its rule and target) start with this."""


class EnvVar(SchemaModel):
    name: EnvName
    value: Annotated[str, StringConstraints(max_length=4096)] = ""


class RunJobParams(SchemaModel):
    """Run a recovery script as a Job in the target's namespace and wait for it.

    The Job gets LOGSENTINEL_INCIDENT, LOGSENTINEL_RULE, LOGSENTINEL_NAMESPACE,
    LOGSENTINEL_WORKLOAD_KIND and LOGSENTINEL_WORKLOAD_NAME besides env; it runs once (no retry),
    and is stopped by Kubernetes after timeout. Its result and the last lines of its log are
    recorded in the incident's actions."""

    image: ImageReference
    command: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list,
        max_length=50,
        description="The entrypoint; empty: the image's own.",
    )
    args: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, max_length=100
    )
    env: list[EnvVar] = Field(default_factory=list, max_length=50)
    service_account_name: ObjectName | None = Field(
        default=None, description="Defaults to the namespace's default ServiceAccount."
    )
    timeout: Duration = Field(
        default=timedelta(minutes=5), description="The Job is stopped and the step fails after."
    )

    @model_validator(mode="after")
    def _own_variables_reserved(self) -> Self:
        for index, variable in enumerate(self.env):
            if variable.name.startswith(RUN_JOB_ENV_PREFIX):
                raise field_error(
                    f"env[{index}].name",
                    f"{variable.name}: names starting with {RUN_JOB_ENV_PREFIX} are set by "
                    "Log Sentinel",
                )
        if self.timeout > timedelta(hours=6) or self.timeout < timedelta(seconds=10):
            raise field_error("timeout", "must be between 10s and 6h")
        return self


class WaitParams(SchemaModel):
    """Pause before the next step."""

    duration: Duration


class VerifyParams(SchemaModel):
    """Check the rollout is healthy AND the triggering signal is back under its threshold."""

    within: Duration | None = Field(
        default=None, description="Defaults to the playbook's verification.window."
    )


class Step(TaggedUnion):
    """One step. type names it and the member of the same name holds its parameters."""

    COMMON_FIELDS: ClassVar[frozenset[str]] = frozenset({"type", "name"})

    type: StepType
    name: Identifier | None = Field(default=None, description="Defaults to the type.")
    rollout_restart: RolloutRestartParams | None = None
    rollback: RollbackParams | None = None
    scale: ScaleParams | None = None
    delete_pod: DeletePodParams | None = None
    notify: NotifyParams | None = None
    wait: WaitParams | None = None
    verify: VerifyParams | None = None
    run_job: RunJobParams | None = None

    @property
    def step_name(self) -> str:
        return self.name or self.type.value


# --- guards and verification -----------------------------------------------------------------


class Guards(SchemaModel):
    """Limits checked before every cluster-changing step; a refusal is audited with its guard."""

    cooldown_per_target: Duration = timedelta(minutes=10)
    max_attempts_per_incident: Annotated[int, Field(ge=1, le=10)] = 2
    max_actions_per_hour: Annotated[int, Field(ge=1, le=1000)] = 10
    min_healthy_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    allowed_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=100,
        description="Empty: every namespace except kube-system, kube-public and kube-node-lease.",
    )
    circuit_breaker_failures: Annotated[int, Field(ge=1, le=100)] = 3
    max_pipeline_lag: Duration = Field(
        default=timedelta(seconds=30),
        description="Refuse to act while consumer or end-to-end lag exceeds this.",
    )

    def namespace_allowed(self, namespace: str) -> bool:
        if self.allowed_namespaces:
            return namespace in self.allowed_namespaces
        return namespace not in PROTECTED_NAMESPACES


class Verification(SchemaModel):
    """What "fixed" means: the rollout completes and the log signal recovers within window."""

    window: Duration = timedelta(minutes=5)
    rollout_timeout: Duration = timedelta(minutes=5)
    require_signal_recovery: bool = True


# --- the resource ----------------------------------------------------------------------------

ROLLBACK_STEPS = frozenset({StepType.ROLLBACK})
ROLLBACK_KINDS = frozenset({WorkloadKind.DEPLOYMENT, WorkloadKind.COMPOSE_SERVICE})
"""Kinds with a previous version to go back to (a revision; an image a Compose service ran)."""
SCALABLE_KINDS = frozenset(
    {WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFUL_SET, WorkloadKind.COMPOSE_SERVICE}
)


class PlaybookSpec(SchemaModel):
    """Desired behaviour of a Playbook."""

    description: ShortText = ""
    triggers: Triggers = Field(default_factory=Triggers)
    mode: PlaybookMode = PlaybookMode.DRY_RUN
    steps: list[Step] = Field(min_length=1, max_length=20)
    guards: Guards = Field(default_factory=Guards)
    verification: Verification = Field(default_factory=Verification)
    on_failure: OnFailure = OnFailure.ESCALATE

    @model_validator(mode="after")
    def _steps_fit_targets(self) -> Self:
        kinds = set(self.triggers.target_kinds)
        other_kinds = ", ".join(sorted(kind.value for kind in kinds - ROLLBACK_KINDS))
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.step_name in seen:
                raise field_error(f"steps[{index}].name", f"duplicate step name {step.step_name!r}")
            seen.add(step.step_name)
            if step.type in ROLLBACK_STEPS and other_kinds:
                raise field_error(
                    f"steps[{index}].type",
                    "rollback works only on Deployments and Compose services, but "
                    f"triggers.targetKinds includes "
                    f"{other_kinds}",
                )
            if step.type is StepType.SCALE and not kinds <= SCALABLE_KINDS:
                raise field_error(
                    f"steps[{index}].type",
                    "scale works only on Deployments, StatefulSets and Compose services, "
                    "but triggers.targetKinds includes DaemonSet",
                )
        if self.on_failure is OnFailure.ROLLBACK and other_kinds:
            raise field_error(
                "onFailure",
                f"rollback works only on Deployments, but triggers.targetKinds includes "
                f"{other_kinds}",
            )
        return self


class PlaybookStatus(SchemaModel):
    """Observed state of a Playbook: readiness and the circuit breaker."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    consecutive_failures: Annotated[int, Field(ge=0)] = 0
    circuit_open: bool = False
    circuit_opened_at: AwareDatetime | None = None
    last_action_at: AwareDatetime | None = None


__all__ = [
    "CHANGING_STEPS",
    "PROTECTED_NAMESPACES",
    "DeletePodParams",
    "EmailTarget",
    "EnvVar",
    "Guards",
    "NotifyParams",
    "OnFailure",
    "PlaybookMode",
    "PlaybookSpec",
    "PlaybookStatus",
    "RollbackParams",
    "RolloutRestartParams",
    "RunJobParams",
    "ScaleParams",
    "Step",
    "StepType",
    "Triggers",
    "Verification",
    "VerifyParams",
    "WaitParams",
    "WebhookTarget",
]
