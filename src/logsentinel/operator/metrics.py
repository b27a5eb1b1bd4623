"""Prometheus metrics of the operator (served on settings.metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter

REMEDIATION_ACTIONS = Counter(
    "logsentinel_remediation_actions_total",
    "Remediation step outcomes by step type and result (Succeeded, Failed, DryRun, Refused...).",
    ["action", "result"],
)
GUARD_REFUSALS = Counter(
    "logsentinel_remediation_refusals_total",
    "Cluster-changing steps refused, by the guard that refused them.",
    ["guard"],
)
VALIDATIONS = Counter(
    "logsentinel_resource_validations_total",
    "DetectionRule and Playbook judgements, by kind and Ready reason.",
    ["kind", "reason"],
)
PIPELINE_DROPPED_RECORDS = Counter(
    "logsentinel_pipeline_dropped_records_total",
    "Lines a LogPipeline's agents read and dropped (disk buffer full or memory limit).",
    ["pipeline_namespace", "pipeline"],
)
