"""The operator's own Kafka settings for topic creation on TLS/SASL clusters."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from logsentinel.domain.pipeline import Kafka
from logsentinel.operator.pipeline.credentials import admin_security
from logsentinel.operator.pipeline.errors import PipelineRenderError


def kafka(**security: object) -> Kafka:
    return Kafka.model_validate({"bootstrapServers": ["kafka:9093"], **security})


def test_plaintext_needs_nothing() -> None:
    assert admin_security(kafka(), None, None) == {}


def test_mutual_tls_with_sasl_writes_private_files(tmp_path: Path) -> None:
    settings = admin_security(
        kafka(
            tls={"secretRef": {"name": "kafka-tls"}},
            sasl={"mechanism": "SCRAM-SHA-512", "secretRef": {"name": "kafka-user"}},
        ),
        {"ca.crt": "CA", "tls.crt": "CERT", "tls.key": "KEY"},
        {"username": "sentinel", "password": "s3cret"},
        directory=tmp_path,
    )
    assert settings["security.protocol"] == "SASL_SSL"
    assert settings["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (settings["sasl.username"], settings["sasl.password"]) == ("sentinel", "s3cret")
    assert Path(settings["ssl.ca.location"]).read_text() == "CA"
    assert Path(settings["ssl.key.location"]).read_text() == "KEY"
    assert stat.S_IMODE(Path(settings["ssl.key.location"]).stat().st_mode) == 0o600


def test_tls_without_client_certificate_uses_the_ca_only(tmp_path: Path) -> None:
    settings = admin_security(
        kafka(tls={"secretRef": {"name": "kafka-tls"}}), {"ca.crt": "CA"}, None, tmp_path
    )
    assert settings["security.protocol"] == "SSL"
    assert "ssl.certificate.location" not in settings


def test_incomplete_secrets_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(PipelineRenderError, match=r"spec\.kafka\.tls\.secretRef.*ca\.crt"):
        admin_security(kafka(tls={"secretRef": {"name": "t"}}), {}, None, tmp_path)
    with pytest.raises(PipelineRenderError, match=r"spec\.kafka\.sasl\.secretRef.*password"):
        admin_security(
            kafka(sasl={"mechanism": "PLAIN", "secretRef": {"name": "u"}}),
            None,
            {"username": "x"},
            tmp_path,
        )
