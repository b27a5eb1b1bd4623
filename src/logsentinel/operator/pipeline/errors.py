"""The error for a LogPipeline that the schema admits but that cannot be deployed safely."""

from __future__ import annotations


class PipelineRenderError(ValueError):
    """``field`` (a path like ``spec.buffer.totalLimitSize``) is unusable, and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
