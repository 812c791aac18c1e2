"""What a project owns, looked up by id: the one way a request reaches a record.

A use case acting for a project looks up every id it was given (in the path, in the body, in a filter) in that
project, through a repository query that carries the project, before any other check: the record's state, whether
something uses it, a call to its cloud, a validation that names it. So another project's id is answered exactly as an
id nobody has: the checks that could tell them apart never see another project's record.

An id named in a path is answered with 404 `not_found`; one named in a body (`named_in`, its location) with 422
`validation_failed` naming the field, since the request itself is then what is wrong.
"""

from __future__ import annotations

from typing import TypeVar

from kernel.errors import ClanaviError, NotFound, ValidationFailed

T = TypeVar("T")


def missing(what: str, given: str, named_in: str | None = None) -> ClanaviError:
    """The answer for an id the project has no record of, whether somebody else has one or nobody."""
    detail = f"{what.capitalize()} {given} does not exist."
    if named_in is None:
        return NotFound(detail)
    return ValidationFailed(detail, errors=[{"location": named_in, "message": f"unknown {what}"}])


def owned(found: T | None, what: str, given: str, *, named_in: str | None = None) -> T:
    """The record a project-scoped lookup found, or the answer for `given`, an id the project has no `what` of."""
    if found is None:
        raise missing(what, given, named_in)
    return found


__all__ = ["missing", "owned"]
