"""Base model for every schema: camelCase on the wire, snake_case in Python, no unknown fields.

Errors raised by cross-field validators use :func:`field_error` so that the reported path
names the offending field (``spec.steps[2].rollback``), not just the model that checked it.
"""

from __future__ import annotations

import types
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

FIELD_ERROR = "field_error"


class SchemaModel(BaseModel):
    """Base of all domain models. Serialise with ``to_wire()`` to get the Kubernetes form."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=False,
        use_enum_values=False,
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible, camelCase form, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


ModelT = TypeVar("ModelT", bound=BaseModel)

_set = object.__setattr__


def trusted(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """An instance holding ``values`` (one for every field, already satisfying the schema)
    without validation or pydantic's per-field defaulting: for hot paths whose inputs were
    checked by their producer (the decoder, rows read back from our own tables).
    BaseModel.model_construct costs several times more."""
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` (a path relative to the model being validated).

    Pydantic reports model-validator errors at the model's own location; the field travels in
    the error context and :mod:`logsentinel.domain.errors` appends it to the path.
    """
    return PydanticCustomError(FIELD_ERROR, "{message}", {"field": field, "message": message})


def model_of(annotation: Any) -> type[SchemaModel]:
    """The model inside a field annotation: ThresholdParams | None -> ThresholdParams."""
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = (arg for arg in get_args(annotation) if arg is not type(None))
    if not (isinstance(annotation, type) and issubclass(annotation, SchemaModel)):
        raise TypeError(f"{annotation!r} is not a schema model")
    return annotation
