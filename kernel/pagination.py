"""Opaque cursors for keyset pagination: stable under inserts, no OFFSET scans; and the one page every listing of
every service answers."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, TypeAdapter
from starlette.responses import Response

from kernel.errors import ValidationFailed

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


@functools.cache
def _pages(model: type[BaseModel]) -> TypeAdapter[Page[Any]]:
    return TypeAdapter(Page[model])  # type: ignore[valid-type]


def page_answer(model: type[BaseModel], records: Sequence[object], next_cursor: str | None) -> Response:
    """The JSON of a page of `model`s read from the records' attributes, the same bytes a route answering
    `Page[model]` sends. A listing is a service's busiest route: pydantic-core validates and writes the whole page in
    one pass each, where answer models built one by one and then serialised by the route cost twice the CPU."""
    pages = _pages(model)
    page = pages.validate_python({"items": records, "next_cursor": next_cursor}, from_attributes=True)
    return Response(pages.dump_json(page, by_alias=True), media_type="application/json")


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_LENGTH = 512


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValidationFailed("The cursor is not one this API issued.", errors=[{"location": "query.cursor"}])
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationFailed("The cursor is not one this API issued.", errors=[{"location": "query.cursor"}]) from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationFailed("The cursor is not one this API issued.", errors=[{"location": "query.cursor"}])
    return values
