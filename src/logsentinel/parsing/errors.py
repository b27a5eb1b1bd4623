"""Why a record goes to the dead-letter path instead of the log store."""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    """Why a record was dead-lettered: one of three kinds of bad input, or a decoder bug. The
    reason travels with the dead-lettered record."""

    UNDECODABLE = "undecodable"
    """The bytes are not a JSON document (or not text at all)."""
    OVERSIZED = "oversized"
    """The record is larger than the configured limit; it was not parsed."""
    INVALID = "invalid"
    """The record decoded but lacks a required field or has a wrong type."""
    DECODER_FAILURE = "decoder-failure"
    """The decoder raised an unexpected error (a bug); the detail names the exception."""


class DeadLetterError(Exception):
    """A record that must go to the dead-letter path; never a reason to stop consuming."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        """What was wrong and where, e.g. ``kubernetes.namespace_name: missing``."""

    def __reduce__(self) -> tuple[type[DeadLetterError], tuple[DeadLetterReason, str]]:
        return (type(self), (self.reason, self.detail))
