"""Declaring a resource kind's routes from a line each: `KindRoutes` gives every route's endpoint the signature FastAPI
reads (path ids, body, filters, the caller's permission), so it is declared, documented and checked exactly as a
hand-written route, with the summary the kind's table gives it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, get_type_hints

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from kernel.authz import Operator, Reader
from kernel.http import Routes
from services.provisioner.clouds.api import clouds_of
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import handlers
from services.provisioner.resources.answers import Shape, answer
from services.provisioner.resources.domain import Kind
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import ResourceOut
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id, engine_of, uow_of

# What every write may answer besides its success.
WRITE_PROBLEMS = (403, 404, 409, 501)
LATER = {202: {"description": "The cloud did not answer; Clanavi finishes the action in the background"}}
SEVERAL = "Repeat to match several"

# A use case a route calls: the ports, then keywords (the project, the correlation id, the path's ids, the body).
UseCase = Callable[..., Awaitable[handlers.Outcome]]


def ports_of(request: Request) -> handlers.Ports:
    return handlers.Ports(uow_of(request), clouds_of(request), engine_of(request))


def _parameter(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _ids(path: str) -> list[inspect.Parameter]:
    """The path's ids, as the endpoint's parameters."""
    return [_parameter(name, Annotated[str, Path()]) for name in re.findall(r"{(\w+)}", path)]


def _endpoint(run: Callable[..., Awaitable[Any]], *parameters: inspect.Parameter) -> Callable[..., Awaitable[Any]]:
    async def endpoint(**values: Any) -> Any:
        return await run(**values)

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_parameter("request", Request), *parameters]
    )
    return endpoint


class KindRoutes:
    """The routes of one kind, on `router`: `path` names the kind's records, `item` one of them; each route's summary
    is what `summaries` says of its name."""

    def __init__(
        self, router: APIRouter, summaries: Mapping[str, str], kind: Kind, path: str, item: str, answers: Shape
    ) -> None:
        self._summaries = summaries
        self.kind, self.path, self.item, self.shape = kind, path, f"{path}/{item}", answers
        self.model: Any = get_type_hints(answers)["return"]
        self.routes = Routes(router, path.strip("/").replace("-", " "))

    def _add(
        self, name: str, method: str, path: str, endpoint: Callable[..., Any], answer: Any, **declared: Any
    ) -> None:
        self.routes(method, path, answer, self._summaries.get(name), name=name, **declared)(endpoint)

    def write(
        self,
        name: str,
        method: str,
        path: str,
        use_case: UseCase,
        body: type[BaseModel] | None = None,
        created: bool = False,
    ) -> None:
        """A route that carries out `use_case` with the path's ids and the body's fields, and answers the record."""

        async def run(request: Request, response: Response, caller: Any, **given: Any) -> ResourceOut:
            fields = given.pop("body").model_dump() if body is not None else {}
            outcome = await use_case(
                ports_of(request), project_id=caller.project_id, correlation_id=correlation_id(), **given, **fields
            )
            return answer(response, outcome, self.shape, created=created)

        parameters = [_parameter("response", Response), *_ids(path)]
        parameters += [_parameter("body", body)] if body is not None else []
        endpoint = _endpoint(run, *parameters, _parameter("caller", Operator))
        status = 201 if created else None
        self._add(name, method, path, endpoint, self.model, status=status, problems=WRITE_PROBLEMS, responses=LATER)

    def plain(self, name: str, method: str, path: str, action: str) -> None:
        """A route that carries out an action without parameters on the record its path names."""

        async def act(ports: handlers.Ports, *, project_id: str, correlation_id: str, **ids: str) -> handlers.Outcome:
            (resource_id,) = ids.values()
            return await handlers.act_plainly(
                ports,
                project_id=project_id,
                kind=self.kind,
                resource_id=resource_id,
                action=action,
                correlation_id=correlation_id,
            )

        self.write(name, method, path, act)

    def one(self, name: str) -> None:
        """GET one record, by the id in the kind's item path."""

        async def get_one(request: Request, caller: Any, **ids: str) -> ResourceOut:
            (resource_id,) = ids.values()
            return self.shape(await handlers.get(ports_of(request), caller.project_id, self.kind, resource_id))

        endpoint = _endpoint(get_one, _parameter("caller", Reader), *_ids(self.item))
        self._add(name, "GET", self.item, endpoint, self.model, problems=(404,))

    def listing(self, name: str, states: Any, path: str = "", **filters: tuple[Any, str]) -> None:
        """GET a page of the project's records, filtered by cloud, state and name, and by `filters` (the record's
        attribute: its type and description)."""

        async def list_all(request: Request, caller: Any, paging: Any, state: Any, **given: Any) -> Page[Any]:
            flt = ResourceFilter(caller.project_id, self.kind, states=state or (), **given)
            records, next_cursor = await handlers.page(ports_of(request), flt, paging)
            return Page[Any](items=[self.shape(r) for r in records], next_cursor=next_cursor)

        extra = [
            _parameter(field, Annotated[kind | None, Query(description=description)], None)
            for field, (kind, description) in filters.items()
        ]
        endpoint = _endpoint(
            list_all,
            _parameter("caller", Reader),
            _parameter("paging", RecordPaging),
            _parameter("cloud_id", str | None, None),
            _parameter("state", Annotated[list[states] | None, Query(description=SEVERAL)], None),
            _parameter("name", str | None, None),
            *extra,
        )
        self._add(name, "GET", path or self.path, endpoint, Page[self.model])  # type: ignore[name-defined]


__all__ = ["LATER", "SEVERAL", "WRITE_PROBLEMS", "KindRoutes", "UseCase", "ports_of"]
