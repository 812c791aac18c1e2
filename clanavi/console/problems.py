"""A refusal as a form shows it: the API's `detail`, and a message for each field it names (`body.flavor_id`
marks the form's `flavor_id` field). A body the client refused before sending (the API's own models, checked
locally) reads the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from clanavi.client import ApiError

__all__ = ["FieldOf", "Problem", "first_part"]

# The API's words for a body with bad fields (kernel.http), for the same refusal made before sending.
_INVALID_FIELDS = "The request has invalid or missing fields."


FieldOf = Callable[[list[str]], str | None]


def first_part(parts: list[str]) -> str | None:
    """The form field a refusal's location names: its first part (`flavor_id` of `body.flavor_id`)."""
    return parts[0] if parts else None


def _field(location: tuple[str | int, ...], field_of: FieldOf) -> str | None:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    return field_of(parts)


@dataclass(frozen=True)
class Problem:
    detail: str
    status: int = 422
    code: str = "validation_failed"
    correlation_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def invalid(cls, fields: dict[str, str]) -> Problem:
        """Fields the console refuses itself, before asking the API, in the API's words for a body with bad fields."""
        return cls(_INVALID_FIELDS, fields=fields)

    @classmethod
    def of(cls, error: ApiError | ValidationError, field_of: FieldOf = first_part) -> Problem:
        """The refusal; `field_of` names the form's field for a location's parts (a form whose fields are not the
        body's top-level names)."""
        fields: dict[str, str] = {}
        if isinstance(error, ValidationError):
            for each in error.errors():
                name = _field(tuple(each["loc"]), field_of)
                if name is not None:
                    fields.setdefault(name, each["msg"])
            return cls.invalid(fields)
        for bad in error.errors:
            name = _field(tuple(bad.location.split(".")), field_of)
            if name is not None:
                fields.setdefault(name, bad.message or "This value is refused.")
        return cls(error.detail, error.status, error.code, error.correlation_id, fields)
