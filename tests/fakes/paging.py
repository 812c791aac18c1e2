"""Pages of in-memory rows, sorted like the real listings (by the sort asked for, ties broken by a key). The cursor is
the fake's own (an offset), which only the fake reads back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from kernel.keyset import PageRequest

T = TypeVar("T")


def page(
    rows: Iterable[T], request: PageRequest, sorts: Mapping[str, Callable[[T], Any]], key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    start = int(request.cursor) if request.cursor else 0
    by = sorts[request.sort or next(iter(sorts))]
    ordered = sorted(rows, key=lambda row: (by(row), key(row)), reverse=request.order == "desc")
    items = ordered[start : start + request.limit]
    more = len(ordered) > start + request.limit
    return items, str(start + request.limit) if more else None
