"""Text PostgreSQL cannot store, refused at the door of every service.

PostgreSQL's `text` and `jsonb` hold neither the NUL character nor a lone UTF-16 surrogate (`"\\ud800"` is valid JSON
and a valid Python string, but no UTF-8): a request carrying one would fail deep inside a service, as a 500 whose
database log holds the value. Every service app refuses such a request first, with 422 problem JSON naming each field
(`body.config.region`, `query.name`, `path`), before any route runs (kernel.http.RejectUnstorableText).

Only requests that can hold such text are read: a path or query with `%00`, a JSON body with a `\\u` escape (NUL and
surrogates can only be written escaped in valid JSON), a form body with `%00`. Other requests pass untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["MESSAGE", "printable", "query_locations", "storable", "unstorable_locations"]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "NUL characters and unpaired surrogates cannot be stored"


def storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def unstorable_locations(value: Any, location: str = "body") -> Iterator[str]:
    """Where in a decoded JSON value a string (or an object key) holds text that cannot be stored."""
    if isinstance(value, str):
        if not storable(value):
            yield location
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{location}.{printable(key)}"
            if not storable(key):
                yield child
            else:
                yield from unstorable_locations(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_locations(item, f"{location}.{index}")


def printable(key: str) -> str:
    """An object key as a location may show it: what cannot be stored cannot be echoed either."""
    return key.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace").replace("\x00", "\\x00")


def query_locations(query: bytes, prefix: str) -> list[str]:
    if b"%00" not in query and b"\x00" not in query:
        return []
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return [f"{prefix}.{printable(name)}" for name, value in pairs if not storable(name) or not storable(value)]
