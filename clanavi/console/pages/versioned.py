"""What the pages of scripts and of server templates share: one page of the list (by name, sorted, paged by the API's
cursor), the routes that list, make, add a version to and act on one of them, the actions on a version (deprecate,
take back, delete) and on the whole (delete), and the YAML or JSON a form's text box holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.problems import FieldOf, Problem, first_part
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = [
    "LIMITS",
    "SORTS",
    "Listed",
    "Unreadable",
    "Versioned",
    "act_on",
    "document",
    "listed",
    "serve",
    "text_box",
    "versions_of",
]

SORTS = (("created_at", "Created"), ("name", "Name"))
LIMITS = ("20", "50", "100", "200")


@dataclass(frozen=True)
class Listed:
    items: list[Any]
    next_cursor: str | None
    problem: Problem | None
    filters: dict[str, str]
    query: str
    cursor: str

    def shown(self) -> dict[str, Any]:
        """The list page's rows, its filters and their choices, and the links to the pages around it."""
        return {
            "rows": self.items,
            "filters": self.filters,
            "sorts": SORTS,
            "limits": [(n, n) for n in LIMITS],
            "query": self.query,
            "cursor": self.cursor,
            "next_cursor": self.next_cursor,
        }


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
        return Listed([], None, Problem.of(error), filters, "", cursor)
    query = urlencode({k: v for k, v in filters.items() if v})
    return Listed(page.items, page.next_cursor, None, filters, query, cursor)


async def versions_of(namespace: Any, record_id: str) -> tuple[Any, list[Any], Any]:
    """A script or template of `namespace` (the client's), its versions newest first, and its latest."""
    record = await namespace.get(record_id)
    versions = await namespace.versions(record_id)
    latest = next((v for v in versions if v.version == record.latest_version), versions[-1])
    return record, list(reversed(versions)), latest


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


def text_box(value: list[Any] | dict[str, Any]) -> str:
    """What a form's text box shows of `value`: YAML (`document` reads it back); nothing for an empty one."""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True) if value else ""


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


class ListPage(Protocol):
    """The list's page: the filters shown, and the refusal and the form given back when making one failed."""

    def __call__(
        self,
        current: Visit,
        /,
        *,
        name: str = ...,
        sort: str = ...,
        order: str = ...,
        limit: str = ...,
        cursor: str = ...,
        problem: Problem | None = ...,
        form: Form | None = ...,
    ) -> Awaitable[Response]: ...


class RecordPage(Protocol):
    """One script's or template's page, with a refusal and the form given back when acting on it failed."""

    def __call__(
        self, current: Visit, record_id: str, /, *, problem: Problem | None = ..., form: Form | None = ...
    ) -> Awaitable[Response]: ...


# The body of a new script or template (no id) or of a new version of one, from the form; raises Unreadable.
Content = Callable[[Any, str | None, Form], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Versioned:
    """Scripts or templates, as their routes need them: `path` below the console (`scripts`), the client's
    namespace of a visit, the pages, the form's body, the id of what was made, and the actions a row offers."""

    path: str
    group: Callable[[Visit], Any]
    list_page: ListPage
    record_page: RecordPage
    content: Content
    made_id: Callable[[Any], str]
    unreadable: Callable[[Unreadable], Problem]
    offered: frozenset[str]
    field_of: FieldOf = first_part


Visiting = Annotated[Visit, Depends(visit)]


def serve(router: APIRouter, kind: Versioned) -> None:
    """The list, the making, the page, a new version and the actions of `kind`, each route named as before."""

    async def listing(
        current: Visiting, name: str = "", sort: str = "name", order: str = "asc", limit: str = "50", cursor: str = ""
    ) -> Response:
        return await kind.list_page(current, name=name, sort=sort, order=order, limit=limit, cursor=cursor)

    async def create(request: Request, current: Visiting) -> Response:
        form = await checked_form(request, current.session)
        api = kind.group(current)
        try:
            made = await api.create({"name": form.get("name").strip(), **await kind.content(api, None, form)})
        except Unreadable as error:
            return await kind.list_page(current, problem=kind.unreadable(error), form=form)
        except (ApiError, ValidationError) as error:
            return await kind.list_page(current, problem=Problem.of(error, kind.field_of), form=form)
        return current.redirect(f"{CONSOLE_PREFIX}/{kind.path}/{kind.made_id(made)}")

    async def record_page(record_id: str, current: Visiting) -> Response:
        return await kind.record_page(current, record_id)

    async def add_version(record_id: str, request: Request, current: Visiting) -> Response:
        form = await checked_form(request, current.session)
        api = kind.group(current)
        try:
            await api.new_version(record_id, await kind.content(api, record_id, form))
        except Unreadable as error:
            return await kind.record_page(current, record_id, problem=kind.unreadable(error), form=form)
        except (ApiError, ValidationError) as error:
            return await kind.record_page(current, record_id, problem=Problem.of(error, kind.field_of), form=form)
        return current.redirect(f"{CONSOLE_PREFIX}/{kind.path}/{record_id}")

    async def act(record_id: str, request: Request, current: Visiting) -> Response:
        form = await checked_form(request, current.session)
        problem = await act_on(kind.group(current), record_id, form, kind.offered)
        if problem is not None:
            return await kind.record_page(current, record_id, problem=problem)
        if form.get("action") == "delete":
            return current.redirect(f"{CONSOLE_PREFIX}/{kind.path}")
        return current.redirect(f"{CONSOLE_PREFIX}/{kind.path}/{record_id}")

    one = f"/{kind.path}/{{record_id}}"
    # The names FastAPI gave these routes when each module wrote its own: the list's is the path's last word.
    router.add_api_route(f"/{kind.path}", listing, methods=["GET"], name=kind.path)
    router.add_api_route(f"/{kind.path}", create, methods=["POST"], name="create")
    router.add_api_route(one, record_page, methods=["GET"], name=f"{kind.path.removesuffix('s')}_page")
    router.add_api_route(f"{one}/versions", add_version, methods=["POST"], name="add_version")
    router.add_api_route(f"{one}/actions", act, methods=["POST"], name="act")
