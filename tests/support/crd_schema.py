"""Validate objects against a generated CRD schema the way the apiserver would, for unit tests.

The real apiserver check lives in the e2e tests; this one is fast and runs everywhere. It
translates the structural OpenAPI v3 schema to JSON Schema draft 4 (nullable, int-or-string,
boolean exclusive bounds), rejects unknown fields as kubectl's strict field validation does, and
evaluates the x-kubernetes-validations CEL rules with cel-python.
"""

from __future__ import annotations

from typing import Any

import celpy
from jsonschema import Draft4Validator


def _draft4(node: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            result[key] = {name: _draft4(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _draft4(value)
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            result[key] = value
    if node.get("x-kubernetes-int-or-string"):
        result["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
    if "properties" in result and not node.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


def _cel_problems(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    problems: list[str] = []
    if value is None:
        return problems
    for rule in schema.get("x-kubernetes-validations", []):
        environment = celpy.Environment()
        program = environment.program(environment.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(value)}):
            problems.append(f"{path}: {rule['message']}")
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                problems += _cel_problems(child, value[name], f"{path}.{name}" if path else name)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _cel_problems(schema["items"], item, f"{path}[{index}]")
    return problems


def schema_problems(crd: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """What the apiserver would reject in document, each as 'path: message'."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = Draft4Validator(_draft4(schema))
    problems = [
        ".".join(str(part) for part in error.absolute_path) + f": {error.message}"
        for error in validator.iter_errors(document)
    ]
    return problems + _cel_problems(schema, document, "")
