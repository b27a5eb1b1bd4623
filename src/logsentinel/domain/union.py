"""Kubernetes-style discriminated unions: a type field names the one member field that is set.

{type: threshold, threshold: {count: 10}} keeps CRD schemas structural (no oneOf). The same
class both validates in Python and publishes CEL rules (x-kubernetes-validations) so that the
apiserver rejects a mismatched member too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from logsentinel.domain.base import SchemaModel, field_error, model_of


def _defaults_only(model: type[SchemaModel]) -> bool:
    return all(not field.is_required() for field in model.model_fields.values())


class TaggedUnion(SchemaModel):
    """Base for unions. Subclasses declare type (a StrEnum) and one optional field per value.

    Fields listed in COMMON_FIELDS are shared by every member and are not members themselves.
    A member whose fields all have defaults may be omitted: it is filled in.
    """

    COMMON_FIELDS: ClassVar[frozenset[str]] = frozenset({"type"})

    @classmethod
    def members(cls) -> dict[str, str]:
        """Wire name (the type value) -> Python attribute, for every member field."""
        return {
            (field.alias or name): name
            for name, field in cls.model_fields.items()
            if name not in cls.COMMON_FIELDS
        }

    @model_validator(mode="after")
    def _exactly_the_named_member(self) -> Self:
        chosen = self._type_value()
        members = self.members()
        for wire_name, attribute in members.items():
            if wire_name != chosen and getattr(self, attribute) is not None:
                raise field_error(wire_name, f"must not be set when type is {chosen!r}")
        attribute = members[chosen]
        if getattr(self, attribute) is None:
            model = model_of(type(self).model_fields[attribute].annotation)
            if not _defaults_only(model):
                raise field_error(chosen, f"is required when type is {chosen!r}")
            setattr(self, attribute, model())
        return self

    def _type_value(self) -> str:
        value = getattr(self, "type")  # noqa: B009 - declared by every subclass
        return value.value if isinstance(value, StrEnum) else str(value)

    @property
    def member(self) -> SchemaModel:
        """The parameters of the chosen member."""
        member: SchemaModel = getattr(self, self.members()[self._type_value()])
        return member

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        rules: list[dict[str, str]] = []
        for wire_name, attribute in cls.members().items():
            rules.append(
                {
                    "rule": f"!has(self.{wire_name}) || self.type == '{wire_name}'",
                    "message": f"{wire_name} must not be set unless type is {wire_name}",
                }
            )
            model = model_of(cls.model_fields[attribute].annotation)
            if not _defaults_only(model):
                rules.append(
                    {
                        "rule": f"self.type != '{wire_name}' || has(self.{wire_name})",
                        "message": f"{wire_name} is required when type is {wire_name}",
                    }
                )
        target.setdefault("x-kubernetes-validations", []).extend(rules)
        return schema
