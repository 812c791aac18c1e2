"""Opaque cursors for keyset pagination: stable under inserts, no OFFSET scans; and the one page every listing of
every service answers."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, TypeAdapter

from kernel.errors import ValidationFailed

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


@functools.cache
def page_adapter(model: type[BaseModel]) -> TypeAdapter[Page[Any]]:
    """The validator and writer of pages of `model`s (kept once per model: building one costs milliseconds)."""
    return TypeAdapter(Page[model])  # type: ignore[valid-type]


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
