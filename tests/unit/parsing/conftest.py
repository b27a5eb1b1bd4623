"""Fixtures for the parsing tests (helpers live in tests/support/parsing.py)."""

from __future__ import annotations

import pytest

from logsentinel.parsing import RecordDecoder


@pytest.fixture
def decoder() -> RecordDecoder:
    return RecordDecoder()
