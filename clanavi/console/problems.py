"""A refusal as a form shows it: the API's `detail`, and a message for each field it names (`body.flavor_id`
marks the form's `flavor_id` field). A body the client refused before sending (the API's own models, checked
locally) reads the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from clanavi.client import ApiError

__all__ = ["Problem"]

# The API's words for a body with bad fields (kernel.http), for the same refusal made before sending.
_INVALID_FIELDS = "The request has invalid or missing fields."


def _field(location: tuple[str | int, ...]) -> str | None:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    return parts[0] if parts else None


@dataclass(frozen=True)
class Problem:
    detail: str
    status: int = 422
    code: str = "validation_failed"
    correlation_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, error: ApiError | ValidationError) -> Problem:
        fields: dict[str, str] = {}
        if isinstance(error, ValidationError):
            for each in error.errors():
                name = _field(tuple(each["loc"]))
                if name is not None:
                    fields.setdefault(name, each["msg"])
            return cls(_INVALID_FIELDS, fields=fields)
        for bad in error.errors:
            name = _field(tuple(bad.location.split(".")))
            if name is not None:
                fields.setdefault(name, bad.message or "This value is refused.")
        return cls(error.detail, error.status, error.code, error.correlation_id, fields)
