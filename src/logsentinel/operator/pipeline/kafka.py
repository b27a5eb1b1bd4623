"""librdkafka TLS/SASL settings for a LogPipeline's Kafka, shared by Fluent Bit and processors.

Secret values never appear in rendered objects: TLS files come from the mounted Secret, and
SASL credentials are references to environment variables that the pods fill from the Secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from logsentinel.domain.pipeline import Kafka

TLS_DIRECTORY = "/etc/logsentinel/kafka-tls"
"""Where the pods mount spec.kafka.tls.secretRef (keys ca.crt, tls.crt, tls.key)."""

SASL_USERNAME_ENV = "KAFKA_SASL_USERNAME"
SASL_PASSWORD_ENV = "KAFKA_SASL_PASSWORD"
SASL_USERNAME_KEY = "username"
SASL_PASSWORD_KEY = "password"
"""Keys of spec.kafka.sasl.secretRef, as documented on KafkaSasl."""

EnvReference = Callable[[str], str]


def fluent_bit_reference(variable: str) -> str:
    """How Fluent Bit's configuration reads an environment variable."""
    return "${" + variable + "}"


def kubernetes_reference(variable: str) -> str:
    """How a container env value refers to an earlier env var (expanded by the kubelet)."""
    return f"$({variable})"


def security_protocol(kafka: Kafka) -> str | None:
    """librdkafka's security.protocol, or None for plaintext."""
    if kafka.sasl is not None:
        return "SASL_SSL" if kafka.tls is not None else "SASL_PLAINTEXT"
    return "SSL" if kafka.tls is not None else None


def librdkafka_security(
    kafka: Kafka, *, reference: EnvReference, client_certificate: bool = False
) -> dict[str, str]:
    """TLS/SASL properties for librdkafka (empty for plaintext).

    ``client_certificate``: the TLS Secret also holds tls.crt and tls.key (mutual TLS). Only
    the caller that has read the Secret knows; naming absent files would stop librdkafka.
    """
    protocol = security_protocol(kafka)
    if protocol is None:
        return {}
    settings = {"security.protocol": protocol}
    if kafka.tls is not None:
        settings["ssl.ca.location"] = f"{TLS_DIRECTORY}/ca.crt"
        if client_certificate:
            settings["ssl.certificate.location"] = f"{TLS_DIRECTORY}/tls.crt"
            settings["ssl.key.location"] = f"{TLS_DIRECTORY}/tls.key"
    if kafka.sasl is not None:
        settings["sasl.mechanism"] = kafka.sasl.mechanism.value
        settings["sasl.username"] = reference(SASL_USERNAME_ENV)
        settings["sasl.password"] = reference(SASL_PASSWORD_ENV)
    return settings


def sasl_env(kafka: Kafka) -> list[dict[str, Any]]:
    """Container env vars holding the SASL credentials, from the Secret (none without SASL)."""
    if kafka.sasl is None:
        return []
    secret = kafka.sasl.secret_ref.name
    return [
        secret_env(SASL_USERNAME_ENV, secret, SASL_USERNAME_KEY),
        secret_env(SASL_PASSWORD_ENV, secret, SASL_PASSWORD_KEY),
    ]


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """An env var whose value the kubelet reads from a Secret key."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def tls_volume(kafka: Kafka) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) for the TLS Secret, both empty without TLS."""
    if kafka.tls is None:
        return [], []
    volume = {"name": "kafka-tls", "secret": {"secretName": kafka.tls.secret_ref.name}}
    mount = {"name": "kafka-tls", "mountPath": TLS_DIRECTORY, "readOnly": True}
    return [volume], [mount]
