"""Fixtures for the parsing tests (helpers live in tests/support/parsing.py)."""

from __future__ import annotations

import pytest

from logsentinel.parsing import RecordDecoder
from support.parsing import fixture_clock


@pytest.fixture
def decoder() -> RecordDecoder:
    """A decoder whose clock reads the fixtures' day, so their times are inside its window."""
    return RecordDecoder(clock=fixture_clock)
