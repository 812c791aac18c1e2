"""Problem JSON (RFC 9457) for every ClanaviError."""

from __future__ import annotations

import pytest

from kernel.errors import (
    PROBLEM_SCHEMA,
    BadRequest,
    ClanaviError,
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    NotImplementedByCloud,
    ServiceUnavailable,
    TransientError,
    Unauthenticated,
    ValidationFailed,
    problem,
    problem_from_error,
)

CASES: list[tuple[type[ClanaviError], int, str, str]] = [
    (ClanaviError, 500, "internal_error", "urn:clanavi:problem:internal-error"),
    (BadRequest, 400, "bad_request", "urn:clanavi:problem:bad-request"),
    (Unauthenticated, 401, "unauthenticated", "urn:clanavi:problem:unauthenticated"),
    (Forbidden, 403, "forbidden", "urn:clanavi:problem:forbidden"),
    (NotFound, 404, "not_found", "urn:clanavi:problem:not-found"),
    (Conflict, 409, "conflict", "urn:clanavi:problem:conflict"),
    (InvalidState, 409, "invalid_state", "urn:clanavi:problem:invalid-state"),
    (ValidationFailed, 422, "validation_failed", "urn:clanavi:problem:validation-failed"),
    (NotImplementedByCloud, 501, "unsupported_operation", "urn:clanavi:problem:unsupported-operation"),
    (ServiceUnavailable, 503, "service_unavailable", "urn:clanavi:problem:service-unavailable"),
    (TransientError, 503, "transient_error", "urn:clanavi:problem:transient-error"),
]


@pytest.mark.parametrize(("cls", "status", "code", "type_"), CASES)
def test_problem_from_error_has_the_rfc_9457_members(
    cls: type[ClanaviError], status: int, code: str, type_: str
) -> None:
    body = problem_from_error(cls("Something specific went wrong."), instance="/v1/things/1", correlation_id="cid-7")

    assert body == {
        "type": type_,
        "title": cls.title,
        "status": status,
        "detail": "Something specific went wrong.",
        "code": code,
        "instance": "/v1/things/1",
        "correlation_id": "cid-7",
    }
    assert set(PROBLEM_SCHEMA["required"]) <= set(body)
    assert isinstance(body["title"], str) and body["title"]


def test_instance_and_correlation_id_are_left_out_when_unknown() -> None:
    body = problem_from_error(NotFound("gone"))

    assert set(body) == {"type", "title", "status", "detail", "code"}


def test_extensions_travel_as_extra_members() -> None:
    errors = [{"location": "body.name", "message": "required", "type": "missing"}]

    body = problem_from_error(ValidationFailed("bad", errors=errors), instance="/x")

    assert body["errors"] == errors
    assert body["status"] == 422
    assert body["detail"] == "bad"


def test_error_keeps_its_detail_as_its_message() -> None:
    error = InvalidState("Cannot stop it.", state="stopped")

    assert str(error) == "Cannot stop it."
    assert error.detail == "Cannot stop it."
    assert error.extensions == {"state": "stopped"}
    assert isinstance(error, Conflict)


def test_problem_builds_the_type_from_the_code() -> None:
    body = problem(status=429, code="rate_limited", title="Slow down", detail="Too many requests.")

    assert body == {
        "type": "urn:clanavi:problem:rate-limited",
        "title": "Slow down",
        "status": 429,
        "detail": "Too many requests.",
        "code": "rate_limited",
    }
