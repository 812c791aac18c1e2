"""The query parameters every paginated listing takes (`cursor`, `limit`, `sort`, `order`), read by one FastAPI
dependency per listing so that the gateway and the service behind it declare them alike."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_args

from fastapi import Query

from kernel.keyset import Order, PageRequest
from kernel.pagination import MAX_CURSOR_LENGTH

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def page_query(sorts: Any, *, default_order: Order = "asc") -> Callable[..., Awaitable[PageRequest]]:
    """A dependency giving the PageRequest of a listing whose sorts are the Literal type `sorts` (its first value is
    the default sort). The parameters' types are built here, so the signature is set by hand: FastAPI reads it
    to validate the query and to document the parameters."""
    choices = get_args(sorts)
    default_sort = choices[0]

    async def read(*, cursor: str | None, limit: int, sort: str | None, order: Order) -> PageRequest:
        return PageRequest(limit=limit, cursor=cursor, sort=sort, order=order)

    def parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            parameter(
                "cursor",
                Annotated[
                    str | None,
                    Query(
                        description="`next_cursor` of the previous page; it keeps its sort",
                        max_length=MAX_CURSOR_LENGTH,
                    ),
                ],
                None,
            ),
            parameter(
                "limit",
                Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many items (1-{MAX_LIMIT})")],
                DEFAULT_LIMIT,
            ),
            parameter(
                "sort",
                Annotated[
                    sorts | None,
                    Query(description=f"What the items are sorted by (default `{default_sort}`); ties by id"),
                ],
                None,
            ),
            parameter(
                "order",
                Annotated[
                    Order, Query(description=f"asc (smallest or oldest first) or desc (default `{default_order}`)")
                ],
                default_order,
            ),
        ],
        return_annotation=PageRequest,
    )
    return read


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "page_query"]
