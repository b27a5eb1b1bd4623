"""The generated CRDs are structural, complete and match what is committed in crds/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logsentinel.cli import render_crd
from logsentinel.domain.crd import SchemaGenerationError, _structural, all_definitions

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = all_definitions()
FORBIDDEN = {
    "$ref",
    "$defs",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "const",
    "title",
    "default",
    "uniqueItems",
}


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}.*")


def schema_of(kind_file: str) -> dict[str, Any]:
    schema: dict[str, Any] = DEFINITIONS[kind_file]["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]
    return schema


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_schema_is_structural(name: str) -> None:
    for path, node in nodes(schema_of(name)):
        assert not FORBIDDEN & node.keys(), f"{path} has {FORBIDDEN & node.keys()}"
        typed = (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert typed, f"{path} has no type"
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(bound, True), bool), f"{path}.{bound} must be a boolean"
        if "properties" in node:
            assert "additionalProperties" not in node, path


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_names_status_subresource_and_category(name: str) -> None:
    crd = DEFINITIONS[name]
    names = crd["spec"]["names"]
    version = crd["spec"]["versions"][0]
    assert crd["metadata"]["name"] == f"{names['plural']}.logsentinel.io"
    assert names["categories"] == ["sentinel"]
    assert version["subresources"] == {"status": {}}
    assert version["served"] is True
    assert version["storage"] is True
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"


@pytest.mark.parametrize(
    ("name", "short_name", "columns"),
    [
        ("incidents.yaml", "inc", ["Severity", "Rule", "Target", "Phase", "Count", "Age"]),
        ("detectionrules.yaml", "dr", ["Detector", "Severity", "Ready", "Fired", "Age"]),
        ("playbooks.yaml", "pb", ["Mode", "Ready", "Age"]),
        ("logpipelines.yaml", "lp", ["Ready", "Collectors", "Processors", "Dropped", "Age"]),
    ],
)
def test_short_names_and_printer_columns(name: str, short_name: str, columns: list[str]) -> None:
    version = DEFINITIONS[name]["spec"]["versions"][0]
    assert DEFINITIONS[name]["spec"]["names"]["shortNames"] == [short_name]
    assert [column["name"] for column in version["additionalPrinterColumns"]] == columns


def test_printer_columns_point_at_real_fields() -> None:
    for name, crd in DEFINITIONS.items():
        for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
            path = column["jsonPath"].split("[")[0].strip(".").split(".")
            if path[0] == "metadata":
                continue
            node = schema_of(name)
            for part in path:
                assert part in node["properties"], f"{name}: {column['jsonPath']}"
                node = node["properties"][part]


def test_optional_becomes_nullable_and_exclusive_bounds_are_booleans() -> None:
    detector = schema_of("detectionrules.yaml")["properties"]["spec"]["properties"]["detector"]
    assert detector["properties"]["threshold"]["nullable"] is True
    above = detector["properties"]["ratio"]["properties"]["above"]
    assert above["minimum"] == 0
    assert above["exclusiveMinimum"] is True
    quantity = schema_of("logpipelines.yaml")["properties"]["spec"]["properties"]["buffer"][
        "properties"
    ]["totalLimitSize"]
    assert quantity == {"x-kubernetes-int-or-string": True}


def test_unions_carry_cel_rules() -> None:
    detector = schema_of("detectionrules.yaml")["properties"]["spec"]["properties"]["detector"]
    rules = {rule["rule"] for rule in detector["x-kubernetes-validations"]}
    assert "self.type != 'threshold' || has(self.threshold)" in rules
    assert "!has(self.ewma) || self.type == 'ewma'" in rules
    assert "self.type != 'ewma' || has(self.ewma)" not in rules, "ewma has only defaults"


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"oneOf": [{"type": "string"}]},
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "string"},
        },
        {"type": "string", "contentMediaType": "text/plain"},
        {"pattern": "x"},
    ],
)
def test_generator_refuses_what_kubernetes_cannot_express(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaGenerationError):
        _structural(schema, {}, "x")


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_committed_crds_are_current(name: str) -> None:
    committed = (REPO / "crds" / name).read_text()
    assert committed == render_crd(DEFINITIONS[name]), "run `make crds`"
    assert yaml.safe_load(committed) == DEFINITIONS[name]
