"""Opaque keyset cursors: what is encoded comes back, and anything else is a validation failure."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from kernel.errors import ValidationFailed
from kernel.pagination import decode_cursor, encode_cursor


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ("2025-01-01T00:00:00+00:00", "3f1c"),
        (42,),
        ("", 0, None, True, 1.5),
        ("naïve ünïcode ✓", "a/b+c=d"),
    ],
)
def test_cursor_round_trips(values: tuple[Any, ...]) -> None:
    cursor = encode_cursor(*values)

    assert decode_cursor(cursor, len(values)) == list(values)


def test_cursor_is_url_safe_and_unpadded() -> None:
    for n in range(20):
        cursor = encode_cursor("x" * n, n)
        assert "=" not in cursor
        assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_datetimes_and_uuids_travel_as_text() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    assert decode_cursor(encode_cursor(when, ident), 2) == [str(when), str(ident)]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not a cursor",
        "%%%%",
        b64(b"{not json"),
        b64(b'{"a": 1}'),  # JSON, but not a list
        b64(b'"text"'),
        b64(b"\xff\xfe\xfd"),  # not UTF-8
        encode_cursor("a", "b", "c"),  # wrong arity
        encode_cursor("a"),
        "é" * 8,
    ],
)
def test_garbage_cursor_is_a_validation_failure(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, 2)

    assert caught.value.http_status == 422
    assert caught.value.extensions == {"errors": [{"location": "query.cursor"}]}


def test_deeply_nested_garbage_cursor_is_a_validation_failure() -> None:
    # About 2 KB of query string: a client can send it, and it must be a 422, not a crash (RecursionError -> 500).
    cursor = b64(b"[" * 1500)

    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, 2)
