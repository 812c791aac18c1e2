"""A list page's filters, sort and place among the pages, all held in the page's own URL: a filtered list can be
bookmarked or shared, and its "previous page" works without the server keeping anything.

The filters are the API's own query parameters, under the API's names, handed to the client's list operation. The
API's cursors only go forward, so the URL also carries the cursors of the pages walked through to reach this one
(`back`, oldest first): "previous" is the last of them. Only the most recent `TRAIL` are kept (a cursor is a
hundred characters or so); "first page" always works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.datastructures import QueryParams

from clanavi.client import ApiError
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.problems import Problem

__all__ = ["TRAIL", "Filter", "ListView", "Paging", "listed", "listed_at"]

TRAIL = 30
LIMITS = ("20", "50", "100", "200")
ORDERS = (("asc", "Oldest / A first"), ("desc", "Newest / Z first"))

Kind = Literal["text", "select", "many", "bool"]
YES_NO = (("true", "yes"), ("false", "no"))


@dataclass(frozen=True)
class Filter:
    """A query parameter of the API's list: typed text, one of `choices`, several of them (`many`: the parameter
    repeats), or yes/no."""

    name: str
    label: str
    kind: Kind = "text"
    choices: Sequence[tuple[str, str]] = ()

    @classmethod
    def states(cls, model: type[BaseModel]) -> Filter:
        """The `state` filter of a kind of record, offering the states its answer model declares."""
        states = get_args(model.model_fields["state"].annotation)
        return cls("state", "State", "many", [(s, s) for s in states])

    def value(self, given: QueryParams) -> str | list[str]:
        if self.kind == "many":
            return [v for v in given.getlist(self.name) if v]
        return given.get(self.name, "").strip()

    def argument(self, value: str | list[str]) -> Any:
        """What the client's list operation takes for `value`; None leaves the filter out."""
        if not value:
            return None
        if self.kind == "bool":
            return {"true": True, "false": False}.get(str(value), value)
        return value


@dataclass(frozen=True)
class Paging:
    """Where a page is: its cursor (empty: the first page) and the cursors of the pages before it."""

    cursor: str = ""
    back: tuple[str, ...] = ()

    @classmethod
    def of(cls, given: QueryParams) -> Paging:
        return cls(given.get("cursor", ""), tuple(given.getlist("back"))[-TRAIL:])

    def following(self, next_cursor: str) -> Paging:
        return Paging(next_cursor, (*self.back, self.cursor)[-TRAIL:])

    def previous(self) -> Paging | None:
        if not self.cursor:
            return None
        if not self.back:
            return Paging()  # the trail was cut: back to the first page
        return Paging(self.back[-1], self.back[:-1])

    def query(self) -> list[tuple[str, str]]:
        pairs = [("cursor", self.cursor)] if self.cursor else []
        return pairs + [("back", cursor) for cursor in self.back]


@dataclass
class ListView:
    """One list page's filters as given, its sort, order and page size, and the links to the pages around it."""

    path: str
    filters: Sequence[Filter]
    values: dict[str, Any]
    sorts: Sequence[tuple[str, str]]
    paging: Paging
    default_order: str = "asc"
    next_cursor: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        path: str,
        given: QueryParams,
        filters: Sequence[Filter],
        sorts: Sequence[tuple[str, str]] = (),
        default_order: str = "asc",
    ) -> ListView:
        values: dict[str, Any] = {f.name: f.value(given) for f in filters}
        sort = given.get("sort", "")
        values["sort"] = sort if sort in {s for s, _ in sorts} else (sorts[0][0] if sorts else "")
        order = given.get("order", "")
        values["order"] = order if order in ("asc", "desc") else default_order
        limit = given.get("limit", "")
        values["limit"] = limit if limit in LIMITS else "50"
        return cls(path, filters, values, sorts, Paging.of(given), default_order)

    def arguments(self) -> dict[str, Any]:
        """The client's list operation's keyword arguments: the filters set, the sort, order and page size."""
        chosen = {f.name: f.argument(self.values[f.name]) for f in self.filters}
        chosen = {name: value for name, value in chosen.items() if value is not None}
        if self.sorts:
            chosen["sort"] = self.values["sort"]
        return {**chosen, "order": self.values["order"], "limit": int(self.values["limit"])}

    def _url(self, paging: Paging | None) -> str:
        pairs: list[tuple[str, str]] = []
        for name, value in self.values.items():
            if isinstance(value, list):
                pairs += [(name, v) for v in value]
            elif value:
                pairs.append((name, value))
        if paging is not None:
            pairs += paging.query()
        return f"{self.path}?{urlencode(pairs)}" if pairs else self.path

    def paged(self, next_cursor: str | None) -> ListView:
        """With the page's answer: the links to the first, previous and next pages (those there are)."""
        self.next_cursor = next_cursor
        self.links = {}
        if self.paging.cursor:
            self.links["first"] = self._url(None)
            previous = self.paging.previous()
            if previous is not None and previous.cursor:
                self.links["previous"] = self._url(previous)
            elif previous is not None:
                self.links["previous"] = self._url(None)
        if next_cursor:
            self.links["next"] = self._url(self.paging.following(next_cursor))
        return self

    @property
    def controls(self) -> list[tuple[str, str, Sequence[tuple[str, str]]]]:
        """The sort, order and page size choices: (parameter, label, options)."""
        shown: list[tuple[str, str, Sequence[tuple[str, str]]]] = (
            [("sort", "Sort by", self.sorts)] if self.sorts else []
        )
        return [*shown, ("order", "Order", ORDERS), ("limit", "Per page", [(n, n) for n in LIMITS])]


async def listed(listing: Any, view: ListView) -> tuple[list[Any], Problem | None]:
    """One page of `listing` (a client list operation's pages) for `view`, its links set; or the API's refusal of
    the filters, shown with the form that set them."""
    try:
        page = await listing.page(view.paging.cursor or None)
    except ApiError as error:
        view.paged(None)
        return [], Problem.of(error)
    view.paged(page.next_cursor)
    return list(page.items), None


async def listed_at(
    namespace: Any,
    path: str,
    given: QueryParams | None,
    filters: Sequence[Filter],
    sorts: Sequence[tuple[str, str]] = (),
    *,
    visible: bool = True,
) -> tuple[ListView, list[Any], Problem | None]:
    """The view of the console's list at `path` as the query `given` asks (none: the first page, unfiltered), and
    one page of `namespace` (the client's) for it or the API's refusal; nothing is asked of the API when the visitor
    may not see the list (`visible` false)."""
    view = ListView.read(f"{CONSOLE_PREFIX}{path}", given or QueryParams(""), filters, sorts)
    if not visible:
        return view, [], None
    rows, refused = await listed(namespace.list(**view.arguments()), view)
    return view, rows, refused
