"""fluent-bit/: the configuration parses, keeps every no-loss setting and keys records right."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from logsentinel.parsing import RecordDecoder, workload_from_pod_name
from logsentinel.parsing.fluentbit import KEY_FIELD, TIMESTAMP_KEY
from support.parsing import fluent_bit_value

FLUENT_BIT = Path(__file__).resolve().parents[3] / "fluent-bit"
PLACEHOLDERS = {
    "KAFKA_BROKERS",
    "KAFKA_TOPIC",
    "STORAGE_LIMIT",
    "STORAGE_PATH",
    "LOG_PATHS",
    "EXCLUDE_PATHS",
    "FLUSH_INTERVAL",
    "MEM_BUF_LIMIT",
}


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((FLUENT_BIT / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def plugin(section: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [entry for entry in section if entry["name"] == name]
    return found


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load("fluent-bit.yaml")


def test_top_level_sections_and_includes(config: dict[str, Any]) -> None:
    assert set(config) == {"includes", "service", "pipeline"}
    for included in config["includes"]:
        assert (FLUENT_BIT / included).is_file()
    assert [entry["name"] for entry in config["pipeline"]["filters"]] == [
        "kubernetes",
        "multiline",
        "lua",
    ]


def test_tail_reads_cri_logs_with_offsets_and_disk_buffering(config: dict[str, Any]) -> None:
    tail = plugin(config["pipeline"]["inputs"], "tail")
    assert tail["path"] == "${LOG_PATHS}"
    assert tail["multiline.parser"] == "cri"
    assert tail["storage.type"] == "filesystem"
    assert tail["db"].startswith("${STORAGE_PATH}")
    assert tail["read_from_head"] is True
    assert "mem_buf_limit" in tail
    assert config["service"]["storage.path"].startswith("${STORAGE_PATH}")


def test_kubernetes_filter_keeps_the_line_and_adds_labels(config: dict[str, Any]) -> None:
    kubernetes = plugin(config["pipeline"]["filters"], "kubernetes")
    assert kubernetes["merge_log"] is False
    assert kubernetes["labels"] is True
    assert kubernetes["annotations"] is False


def test_multiline_filter_joins_traces_without_a_memory_only_emitter(
    config: dict[str, Any],
) -> None:
    multiline = plugin(config["pipeline"]["filters"], "multiline")
    assert [name.strip() for name in multiline["multiline.parser"].split(",")] == [
        "java",
        "python",
        "go",
    ]
    assert multiline["multiline.key_content"] == "log"
    assert multiline["emitter_storage.type"] == "filesystem"


def test_lua_filter_script_exists(config: dict[str, Any]) -> None:
    lua = plugin(config["pipeline"]["filters"], "lua")
    script = FLUENT_BIT / lua["script"]
    assert script.is_file()
    assert re.search(rf"function {lua['call']}\(tag, timestamp, record\)", script.read_text())


def test_kafka_output_never_drops(config: dict[str, Any]) -> None:
    kafka = plugin(config["pipeline"]["outputs"], "kafka")
    assert kafka["brokers"] == "${KAFKA_BROKERS}"
    assert kafka["topics"] == "${KAFKA_TOPIC}"
    assert kafka["retry_limit"] in ("no_limits", False)
    assert kafka["storage.total_limit_size"] == "${STORAGE_LIMIT}"
    assert str(kafka["rdkafka.request.required.acks"]) in ("-1", "all")
    assert kafka["rdkafka.enable.idempotence"] is True
    assert kafka["rdkafka.message.timeout.ms"] == 0
    assert kafka["rdkafka.max.in.flight.requests.per.connection"] <= 5


def test_kafka_output_writes_the_shape_the_decoder_reads(config: dict[str, Any]) -> None:
    kafka = plugin(config["pipeline"]["outputs"], "kafka")
    assert kafka["format"] == "json"
    assert kafka["timestamp_key"] == TIMESTAMP_KEY
    assert kafka["timestamp_format"] == "iso8601"
    assert kafka["message_key_field"] == KEY_FIELD
    assert f'record["{KEY_FIELD}"]' in (FLUENT_BIT / "kafka_key.lua").read_text()


def test_parsers_file() -> None:
    parsers = load("parsers.yaml")
    (cri,) = parsers["parsers"]
    assert cri["format"] == "regex"
    pattern = re.compile(cri["regex"].replace("(?<", "(?P<"))
    match = pattern.match("2026-11-22T12:00:00.1Z stderr F hello world")
    assert match is not None
    assert match.group("message") == "hello world"
    (trace,) = parsers["multiline_parsers"]
    assert [rule["state"] for rule in trace["rules"]] == ["start_state", "cont"]


def test_every_placeholder_is_documented() -> None:
    used = set()
    for name in ("fluent-bit.yaml", "parsers.yaml"):
        used |= set(re.findall(r"\$\{([A-Z_]+)\}", (FLUENT_BIT / name).read_text()))
    assert used == PLACEHOLDERS
    readme = (FLUENT_BIT / "README.md").read_text()
    for placeholder in used:
        assert f"`${{{placeholder}}}`" in readme


# --- kafka_key.lua, run by a real Lua interpreter when one is installed ----------------------

LUA = shutil.which("lua") or shutil.which("lua5.4") or shutil.which("luajit")

KEY_CASES: list[tuple[str, dict[str, str]]] = [
    ("checkout-7d9f8b6c5d-x2x9k", {}),
    ("checkout-service-x2x9k", {}),
    ("fluent-bit-abcde", {}),
    ("db-0", {}),
    ("kafka-12", {}),
    ("etcd", {}),
    ("api-proxy", {}),
    ("whatever-0", {"app": "legacy"}),
    ("whatever-0", {"app.kubernetes.io/name": "shop-api", "app": "legacy"}),
    ("whatever-0", {"app.kubernetes.io/name": ""}),
]


def _lua_table(value: object) -> str:
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"[{json.dumps(k)}] = {_lua_table(v)}" for k, v in value.items()) + "}"
        )
    return json.dumps(value)


@pytest.mark.skipif(LUA is None, reason="no Lua interpreter installed (apt-get install lua5.4)")
def test_lua_key_matches_the_decoders_partition_key() -> None:
    assert LUA is not None
    calls = []
    for pod, labels in KEY_CASES:
        kubernetes = {
            "namespace_name": "shop",
            "pod_name": pod,
            "labels": labels,
            "docker_id": "d",
            "container_hash": "h",
            "container_image": "i",
            "pod_id": "p",
        }
        calls.append(
            f"local code, _, r = add_kafka_key('kube.x', 0, {{kubernetes = {_lua_table(kubernetes)}}})\n"
            "print(code .. '\\t' .. r.logsentinel_key .. '\\t' .. tostring(r.kubernetes.docker_id)"
            " .. tostring(r.kubernetes.container_hash) .. tostring(r.kubernetes.pod_id)"
            " .. tostring(r.kubernetes.container_image))"
        )
    script = f"dofile({json.dumps(str(FLUENT_BIT / 'kafka_key.lua'))})\n" + "\n".join(calls)
    output = subprocess.run(
        [LUA, "-"], input=script, capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    decoder = RecordDecoder()
    for (pod, labels), line in zip(KEY_CASES, output, strict=True):
        code, key, removed = line.split("\t")
        assert code == "2"
        assert removed == "nilnilnilnil"
        kubernetes = {"namespace_name": "shop", "pod_name": pod, "labels": labels}
        record = decoder.decode(fluent_bit_value("x", kubernetes=kubernetes))
        assert key == record.partition_key, pod
    assert workload_from_pod_name("fluent-bit-abcde") == "fluent-bit"


@pytest.mark.skipif(LUA is None, reason="no Lua interpreter installed (apt-get install lua5.4)")
def test_lua_leaves_records_without_metadata_alone() -> None:
    assert LUA is not None
    script = (
        f"dofile({json.dumps(str(FLUENT_BIT / 'kafka_key.lua'))})\n"
        "local code, _, r = add_kafka_key('x', 0, {log = 'hi'})\n"
        "print(code, r.logsentinel_key)"
    )
    output = subprocess.run(
        [LUA, "-"], input=script, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert output.split() == ["0", "nil"]
