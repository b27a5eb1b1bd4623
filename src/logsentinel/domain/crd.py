"""Generate CustomResourceDefinitions from the domain models.

Pydantic writes JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3 subset. The
transformation, and why each step is needed:

- ``$ref``/``$defs`` are inlined: Kubernetes resolves no references.
- ``anyOf: [X, {type: null}]`` (pydantic's ``Optional``) becomes ``X`` + ``nullable: true``;
  any other ``anyOf``/``oneOf`` is refused, since structural schemas forbid types inside them.
- numeric ``exclusiveMinimum: 0`` (2020-12) becomes ``minimum: 0`` + ``exclusiveMinimum: true``
  (OpenAPI 3.0).
- ``const`` becomes a one-value ``enum``; ``uniqueItems`` (refused by the apiserver as quadratic)
  becomes ``x-kubernetes-list-type: set``.
- ``additionalProperties: false`` is dropped (the apiserver prunes and, with strict field
  validation, rejects unknown fields); ``title`` and ``default`` are dropped: defaults live in the
  domain models only, so a changed default never leaves stale copies in stored objects.
- an empty schema (``JsonValue``) becomes ``x-kubernetes-preserve-unknown-fields: true``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from logsentinel.domain.base import model_of
from logsentinel.domain.common import API_GROUP, API_VERSION
from logsentinel.domain.resources import RESOURCES, CustomResource
from logsentinel.domain.types import format_duration

CATEGORY = "sentinel"

_KEPT_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "description",
        "maximum",
        "minimum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "multipleOf",
        "enum",
        "maxProperties",
        "minProperties",
        "required",
        "items",
        "properties",
        "additionalProperties",
        "nullable",
    }
)
_DROPPED_KEYWORDS = frozenset({"title", "default", "$defs", "examples"})
_KNOWN_FORMATS = frozenset({"date-time", "date", "uri", "email", "hostname", "ipv4", "ipv6"})


class SchemaGenerationError(ValueError):
    """A model uses a construct that cannot be expressed as a structural schema."""


class WireJsonSchema(GenerateJsonSchema):
    """JSON schema whose defaults are written the way the models serialise them (``1m``)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def _resolve(reference: str, definitions: dict[str, Any]) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not reference.startswith(prefix):
        raise SchemaGenerationError(f"unsupported reference {reference!r}")
    resolved: dict[str, Any] = definitions[reference.removeprefix(prefix)]
    return resolved


def _structural(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    """The Kubernetes form of one schema node (recursively)."""
    node = dict(node)
    if "$ref" in node:
        referenced = _resolve(node.pop("$ref"), definitions)
        node = {**referenced, **node}
    nullable = False
    if "anyOf" in node:
        variants = node.pop("anyOf")
        non_null = [variant for variant in variants if variant.get("type") != "null"]
        if len(non_null) != 1 or len(variants) != 2:
            raise SchemaGenerationError(f"{path}: unions other than Optional are not structural")
        nullable = True
        inner = non_null[0]
        if "$ref" in inner:
            inner = {
                **_resolve(inner["$ref"], definitions),
                **{k: v for k, v in inner.items() if k != "$ref"},
            }
        node = {**inner, **node}
    for junctor in ("oneOf", "allOf", "not"):
        if junctor in node:
            raise SchemaGenerationError(f"{path}: {junctor} is not supported in CRD schemas")

    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key.startswith("x-kubernetes-"):
            result[key] = value
        elif key == "properties":
            result[key] = {
                name: _structural(child, definitions, f"{path}.{name}")
                for name, child in value.items()
            }
        elif key == "items":
            result[key] = _structural(value, definitions, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                result[key] = _structural(value, definitions, f"{path}.*")
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            result[bound] = value
            result[key] = True
        elif key == "const":
            result["enum"] = [value]
        elif key == "uniqueItems":
            if value:
                result["x-kubernetes-list-type"] = "set"
        elif key == "format":
            if value in _KNOWN_FORMATS:
                result[key] = value
        elif key in _KEPT_KEYWORDS:
            result[key] = value
        else:
            raise SchemaGenerationError(f"{path}: keyword {key!r} has no CRD equivalent")
    if nullable:
        result["nullable"] = True
    if "properties" in result and "additionalProperties" in result:
        raise SchemaGenerationError(f"{path}: properties and additionalProperties are exclusive")
    if not result.get("type") and not _untyped_allowed(result):
        if result.keys() <= {"description", "nullable"}:
            result["x-kubernetes-preserve-unknown-fields"] = True
        else:
            raise SchemaGenerationError(f"{path}: a structural schema needs a type")
    return result


def _untyped_allowed(node: dict[str, Any]) -> bool:
    return bool(
        node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    )


def open_api_schema(model: type[CustomResource[Any, Any]]) -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of a resource."""
    parts: dict[str, Any] = {}
    for name in ("spec", "status"):
        raw = model_of(model.model_fields[name].annotation).model_json_schema(
            by_alias=True, mode="validation", schema_generator=WireJsonSchema
        )
        definitions = raw.pop("$defs", {})
        parts[name] = _structural(raw, definitions, name)
    return {
        "type": "object",
        "description": (model.__doc__ or "").strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": parts["spec"],
            "status": parts["status"],
        },
    }


def custom_resource_definition(model: type[CustomResource[Any, Any]]) -> dict[str, Any]:
    """The whole apiextensions.k8s.io/v1 CustomResourceDefinition of a resource."""
    info = model.INFO
    columns = [
        {
            "name": column.name,
            "type": column.type,
            "jsonPath": column.json_path,
            **({"description": column.description} if column.description else {}),
            **({"priority": column.priority} if column.priority else {}),
        }
        for column in info.columns
    ]
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "log-sentinel"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": open_api_schema(model)},
                }
            ],
        },
    }


def kopf_peering_definition(cluster: bool) -> dict[str, Any]:
    """The CRD Kopf's peering needs (kopf.dev/v1): how operator replicas see each other, so that
    only one of them acts. Its content is Kopf's business, hence the open schema."""
    kind = "ClusterKopfPeering" if cluster else "KopfPeering"
    plural = kind.lower()
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}s.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": "Cluster" if cluster else "Namespaced",
            "names": {"kind": kind, "plural": f"{plural}s", "singular": plural},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"status": open_object},
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def all_definitions() -> dict[str, dict[str, Any]]:
    """File name (``detectionrules.yaml``) -> CRD, for every resource."""
    return {f"{model.INFO.plural}.yaml": custom_resource_definition(model) for model in RESOURCES}


def peering_definitions() -> dict[str, dict[str, Any]]:
    """File name -> CRD of Kopf's peering resources, installed with ours."""
    return {
        "kopfpeerings.yaml": kopf_peering_definition(cluster=False),
        "clusterkopfpeerings.yaml": kopf_peering_definition(cluster=True),
    }
