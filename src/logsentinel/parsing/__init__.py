"""Decoding Fluent Bit and HTTP records, format parsers, normalisation and template mining.

Layering (docs/architecture.md): this package imports only :mod:`logsentinel.domain`, the standard
library and pure libraries (drain3; orjson when installed). No Kafka, database or HTTP code:
the processors hand it bytes and headers and get a :class:`~logsentinel.domain.LogRecord`
back, or a :class:`DeadLetterError` that says why the record goes to the dead-letter path.
"""

from logsentinel.domain.logrecord import FORMAT_HEADER, LOGRECORD_FORMAT, OTLP_LOGS_FORMAT
from logsentinel.parsing.decoder import Decoded, RecordDecoder
from logsentinel.parsing.errors import DeadLetterError, DeadLetterReason
from logsentinel.parsing.messages import MessageParser
from logsentinel.parsing.parsed import ParsedMessage
from logsentinel.parsing.templates import Template, TemplateMiner
from logsentinel.parsing.workload import service_name, workload_from_pod_name

__all__ = [
    "FORMAT_HEADER",
    "LOGRECORD_FORMAT",
    "OTLP_LOGS_FORMAT",
    "DeadLetterError",
    "DeadLetterReason",
    "Decoded",
    "MessageParser",
    "ParsedMessage",
    "RecordDecoder",
    "Template",
    "TemplateMiner",
    "service_name",
    "workload_from_pod_name",
]
