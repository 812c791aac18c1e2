"""The error types every service raises and the gateway renders as RFC 9457 problem JSON."""

from __future__ import annotations

from typing import Any, ClassVar


class ClanaviError(Exception):
    """Base of every error a client may see: a stable `code` and the HTTP status it maps to.

    A subclass says what it is in its class line (`class CloudInUse(Conflict, code="cloud_in_use", title=...)`);
    what it leaves out it takes from its base."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init_subclass__(cls, *, code: str = "", status: int = 0, title: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code
        if status:
            cls.http_status = status
        if title:
            cls.title = title

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequest(ClanaviError, code="bad_request", status=400, title="Bad request"): ...


class Unauthenticated(ClanaviError, code="unauthenticated", status=401, title="Authentication required"): ...


class Forbidden(ClanaviError, code="forbidden", status=403, title="Forbidden"): ...


class NotFound(ClanaviError, code="not_found", status=404, title="Not found"): ...


class Conflict(ClanaviError, code="conflict", status=409, title="Conflict"): ...


class InvalidState(Conflict, code="invalid_state", title="The resource is not in a state that allows this"): ...


class ValidationFailed(ClanaviError, code="validation_failed", status=422, title="The request is not valid"): ...


class NotImplementedByCloud(
    ClanaviError, code="unsupported_operation", status=501, title="The cloud does not support this operation"
): ...


class ServiceUnavailable(ClanaviError, code="service_unavailable", status=503, title="Service unavailable"): ...


class TransientError(ClanaviError, code="transient_error", status=503, title="Temporarily unavailable"):
    """Something that may succeed when tried again (a broker or cloud hiccup); consumers retry these."""


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    correlation_id: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """One problem JSON document (RFC 9457) with Clanavi's extension members."""
    body: dict[str, Any] = {
        "type": f"urn:clanavi:problem:{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if correlation_id is not None:
        body["correlation_id"] = correlation_id
    body.update(extensions)
    return body


def problem_from_error(
    error: ClanaviError, *, instance: str | None = None, correlation_id: str | None = None
) -> dict[str, Any]:
    return problem(
        status=error.http_status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        instance=instance,
        correlation_id=correlation_id,
        **error.extensions,
    )


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details with Clanavi's extension members.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "code": {"type": "string", "description": "Stable machine-readable code"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
