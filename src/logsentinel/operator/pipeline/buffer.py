"""The agent's disk buffer limit, the same rule for both agents."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from logsentinel.domain.pipeline import LogPipelineSpec
from logsentinel.domain.types import quantity_value
from logsentinel.operator.pipeline.errors import PipelineRenderError

MIN_TOTAL_LIMIT_SIZE = Decimal(32 * 2**20)
"""Under 16 of Fluent Bit's ~2 MB chunks the output discards chunks as soon as Kafka slows down;
the collector's queue needs as much room for a few seconds of an outage."""


def storage_limit(spec: LogPipelineSpec) -> int:
    """spec.buffer.totalLimitSize in bytes (Kubernetes' 1Gi is 2^30)."""
    size = quantity_value(spec.buffer.total_limit_size)
    if size < MIN_TOTAL_LIMIT_SIZE:
        raise PipelineRenderError(
            "spec.buffer.totalLimitSize",
            f"{spec.buffer.total_limit_size} is too small for the agent's disk buffer: "
            "at least 32Mi (size it for the longest Kafka outage to survive)",
        )
    return int(size.to_integral_value(ROUND_FLOOR))
