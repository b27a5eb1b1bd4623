"""The operator's own Kafka client settings for a pipeline that uses TLS or SASL: the same
Secrets the collectors and processors mount, read through the API and written to private files
(librdkafka reads certificates from files), so topics can be created on secured clusters too."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from logsentinel.domain.pipeline import Kafka
from logsentinel.operator.pipeline.errors import PipelineRenderError
from logsentinel.operator.pipeline.kafka import (
    SASL_PASSWORD_KEY,
    SASL_USERNAME_KEY,
    security_protocol,
)

TLS_FILES = ("ca.crt", "tls.crt", "tls.key")


def has_client_certificate(tls_data: Mapping[str, str]) -> bool:
    return "tls.crt" in tls_data and "tls.key" in tls_data


def admin_security(
    kafka: Kafka,
    tls_data: Mapping[str, str] | None,
    sasl_data: Mapping[str, str] | None,
    directory: Path | None = None,
) -> dict[str, str]:
    """librdkafka settings for the operator's admin client (empty for plaintext)."""
    protocol = security_protocol(kafka)
    if protocol is None:
        return {}
    settings = {"security.protocol": protocol}
    if kafka.tls is not None:
        data = tls_data or {}
        if "ca.crt" not in data:
            raise PipelineRenderError(
                "spec.kafka.tls.secretRef", f"Secret {kafka.tls.secret_ref.name} has no ca.crt"
            )
        folder = directory or _private_directory(kafka.tls.secret_ref.name)
        for name in TLS_FILES:
            if name in data:
                path = folder / name
                path.write_text(data[name])
                path.chmod(0o600)
        settings["ssl.ca.location"] = str(folder / "ca.crt")
        if has_client_certificate(data):
            settings["ssl.certificate.location"] = str(folder / "tls.crt")
            settings["ssl.key.location"] = str(folder / "tls.key")
    if kafka.sasl is not None:
        data = sasl_data or {}
        missing = [k for k in (SASL_USERNAME_KEY, SASL_PASSWORD_KEY) if k not in data]
        if missing:
            raise PipelineRenderError(
                "spec.kafka.sasl.secretRef",
                f"Secret {kafka.sasl.secret_ref.name} has no {' or '.join(missing)}",
            )
        settings["sasl.mechanism"] = kafka.sasl.mechanism.value
        settings["sasl.username"] = data[SASL_USERNAME_KEY]
        settings["sasl.password"] = data[SASL_PASSWORD_KEY]
    return settings


def _private_directory(secret: str) -> Path:
    digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"logsentinel-kafka-{os.getuid()}-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder
