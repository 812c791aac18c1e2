"""What the pages of scripts and of server templates share: one page of the list (by name, sorted, paged by the API's
cursor), the actions on a version (deprecate, take back, delete) and on the whole (delete), and the YAML or JSON a
form's text box holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import yaml

from clanavi.client import ApiError
from clanavi.console.problems import Problem
from clanavi.console.visits import Form

__all__ = ["LIMITS", "SORTS", "Listed", "Unreadable", "act_on", "document", "listed"]

SORTS = (("created_at", "Created"), ("name", "Name"))
LIMITS = ("20", "50", "100", "200")


@dataclass(frozen=True)
class Listed:
    items: list[Any]
    next_cursor: str | None
    problem: Problem | None
    filters: dict[str, str]
    query: str


async def listed(namespace: Any, name: str, sort: str, order: str, limit: str, cursor: str) -> Listed:
    """One page of `namespace`'s list (the client's scripts or templates), and the filters to show it again."""
    filters = {"name": name, "sort": sort, "order": order, "limit": limit}
    listing = namespace.list(
        name=name or None,
        sort=sort if sort in dict(SORTS) else None,
        order="asc" if order == "asc" else "desc",
        limit=int(limit) if limit in LIMITS else 50,
    )
    try:
        page = await listing.page(cursor or None)
    except ApiError as error:
        return Listed([], None, Problem.of(error), filters, "")
    query = urlencode({k: v for k, v in filters.items() if v})
    return Listed(page.items, page.next_cursor, None, filters, query)


def _version(form: Form) -> int:
    text = form.get("version")
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


# An action on a script or a template (`namespace`, the client's) and its id, from a row's button.
Act = Callable[[Any, str, Form], Awaitable[object]]
ACTIONS: dict[str, Act] = {
    "deprecate": lambda api, i, form: api.deprecate(i, _version(form), deprecated=True),
    "undeprecate": lambda api, i, form: api.deprecate(i, _version(form), deprecated=False),
    "delete-version": lambda api, i, form: api.delete_version(i, _version(form)),
    "delete": lambda api, i, form: api.delete(i),
    "set-default": lambda api, i, form: api.set_default(i, _version(form)),
}


async def act_on(namespace: Any, record_id: str, form: Form, offered: frozenset[str]) -> Problem | None:
    """Do the action the form's button names (one of `offered`); the API's refusal (a 409 while the version is in
    use) as a problem."""
    action = form.get("action")
    if action not in offered:
        return Problem("No such action.", 422)
    try:
        await ACTIONS[action](namespace, record_id, form)
    except ValueError:
        return Problem("Which version?", 422)
    except ApiError as error:
        return Problem.of(error)
    return None


class Unreadable(ValueError):
    """A text box that holds neither YAML nor JSON of the kind asked for."""


def document(text: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    """A form's text box as YAML (or JSON, which YAML reads too): empty is an empty list or mapping."""
    if not text.strip():
        return kind()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise Unreadable("neither YAML nor JSON") from None
    if not isinstance(value, kind):
        raise Unreadable("a list is expected" if kind is list else "a mapping (name: value) is expected")
    return value
