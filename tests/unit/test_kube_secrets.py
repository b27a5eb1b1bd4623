"""Secret values are decoded in one place, strictly: a bad value names the Secret and key."""

from __future__ import annotations

import base64

import pytest

from logsentinel.kube.secrets import SecretDataError, decode_secret_data


def test_values_come_back_as_text() -> None:
    data = {"url": base64.b64encode("postgresql://db/ü".encode()).decode()}
    assert decode_secret_data("shop", "database", data) == {"url": "postgresql://db/ü"}


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"\xff\xfe").decode()])
def test_a_value_that_is_not_utf8_text_names_secret_and_key(value: str) -> None:
    with pytest.raises(SecretDataError, match=r"Secret shop/database: key 'url'"):
        decode_secret_data("shop", "database", {"url": value})
