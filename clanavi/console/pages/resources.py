"""Volumes, snapshots, addresses, key pairs and security groups (with their rules): one page of each list, the form
that makes one, and the actions on each row. A new key pair's private key is shown in the answer to its creation
only, with a download link: the API never gives it again, and the console keeps nothing."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError, AsyncClient
from clanavi.client.models import AddressOut, KeyPairOut, SecurityGroupOut, SnapshotOut, VolumeOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, ListView
from clanavi.console.problems import Problem
from clanavi.console.visits import Form, Visit, checked_form, visit

__all__ = ["KINDS", "router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
Act = Callable[[AsyncClient, str, Form], Awaitable[object]]


def _number(value: str) -> int | str | None:
    value = value.strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value  # anything else: the API's model names the field


def _some(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "")}


@dataclass(frozen=True)
class Kind:
    """One kind of resource as the console shows it: its columns, its creation and its row actions."""

    path: str
    title: str
    columns: tuple[tuple[str, str], ...]
    create: Callable[[AsyncClient, Form], Awaitable[BaseModel]]
    actions: dict[str, Act]
    # Which actions a row offers in its state (the API refuses the others anyway).
    offered: Callable[[Any], tuple[str, ...]]
    # The API list's own filters beside the cloud, the state and the name.
    filters: tuple[Filter, ...] = ()

    def namespace(self, api: AsyncClient) -> Any:
        return getattr(api, self.path.replace("-", "_"))


async def _volume(api: AsyncClient, form: Form) -> BaseModel:
    body = _some(
        cloud_id=form.get("cloud_id"), name=form.get("name").strip(), size_gb=_number(form.get("size_gb")),
        zone=form.optional("zone"), snapshot_id=form.optional("snapshot_id"),
    )  # fmt: skip
    return await api.volumes.create(body)


async def _attach(api: AsyncClient, volume_id: str, form: Form) -> object:
    return await api.volumes.attach(
        volume_id, _some(instance_id=form.get("instance_id"), device=form.optional("device"))
    )


async def _snapshot(api: AsyncClient, form: Form) -> BaseModel:
    return await api.snapshots.create({"volume_id": form.get("volume_id"), "name": form.get("name").strip()})


async def _address(api: AsyncClient, form: Form) -> BaseModel:
    return await api.addresses.allocate(_some(cloud_id=form.get("cloud_id"), name=form.optional("name")))


async def _key_pair(api: AsyncClient, form: Form) -> BaseModel:
    body = {"cloud_id": form.get("cloud_id"), "name": form.get("name").strip()}
    if public_key := form.optional("public_key"):
        return await api.key_pairs.import_key({**body, "public_key": public_key})
    return await api.key_pairs.create(body)


async def _group(api: AsyncClient, form: Form) -> BaseModel:
    body = {"cloud_id": form.get("cloud_id"), "name": form.get("name").strip(), "description": form.get("description")}
    return await api.security_groups.create(body)


async def _authorize(api: AsyncClient, group_id: str, form: Form) -> object:
    rule = _some(
        direction=form.get("direction") or "ingress", protocol=form.get("protocol"),
        from_port=_number(form.get("from_port")), to_port=_number(form.get("to_port")), cidr=form.get("cidr").strip(),
    )  # fmt: skip
    return await api.security_groups.authorize(group_id, rule)


def _settled(record: Any) -> bool:
    return record.pending_action is None and record.state not in ("deleted", "released", "gone", "error")


KINDS: dict[str, Kind] = {
    kind.path: kind
    for kind in (
        Kind(
            "volumes", "Volumes",
            (("Size (GB)", "size_gb"), ("Zone", "zone"), ("Attached to", "instance_id"), ("Device", "device")),
            _volume,
            {
                "attach": _attach,
                "detach": lambda api, i, form: api.volumes.detach(i),
                "delete": lambda api, i, form: api.volumes.delete(i),
            },
            lambda v: (("detach",) if v.state == "in-use" else ("attach", "delete")) if _settled(v) else (),
            (Filter.states(VolumeOut), Filter("instance_id", "Attached to (instance id)"),
             Filter("discovered", "Adopted by a sync", "bool")),
        ),
        Kind(
            "snapshots", "Snapshots",
            (("Volume", "volume_id"), ("Size (GB)", "size_gb")),
            _snapshot,
            {"delete": lambda api, i, form: api.snapshots.delete(i)},
            lambda s: ("delete",) if _settled(s) else (),
            (Filter.states(SnapshotOut), Filter("volume_id", "Of volume (id)")),
        ),
        Kind(
            "addresses", "Addresses",
            (("IP", "ip"), ("Associated with", "instance_id")),
            _address,
            {
                "associate": lambda api, i, form: api.addresses.associate(i, {"instance_id": form.get("instance_id")}),
                "disassociate": lambda api, i, form: api.addresses.disassociate(i),
                "release": lambda api, i, form: api.addresses.release(i),
            },
            lambda a: (("disassociate",) if a.instance_id else ("associate", "release")) if _settled(a) else (),
            (Filter.states(AddressOut), Filter("instance_id", "Associated with (instance id)")),
        ),
        Kind(
            "key-pairs", "Key pairs",
            (("Fingerprint", "fingerprint"),),
            _key_pair,
            {"delete": lambda api, i, form: api.key_pairs.delete(i)},
            lambda k: ("delete",) if _settled(k) else (),
            (Filter.states(KeyPairOut),),
        ),
        Kind(
            "security-groups", "Security groups",
            (("Description", "description"),),
            _group,
            {
                "authorize": _authorize,
                "revoke": lambda api, i, form: api.security_groups.revoke(i, form.get("rule_id")),
                "delete": lambda api, i, form: api.security_groups.delete(i),
            },
            lambda g: ("authorize", "delete") if _settled(g) else (),
            (Filter.states(SecurityGroupOut),),
        ),
    )
}  # fmt: skip


SORTS = (("created_at", "Created"), ("updated_at", "Updated"), ("name", "Name"), ("state", "State"))


async def _page(
    current: Visit,
    kind: Kind,
    *,
    given: QueryParams | None = None,
    problem: Problem | None = None,
    values: dict[str, str] | None = None,
    created: BaseModel | None = None,
    status: int | None = None,
) -> Response:
    clouds = [(c.id, c.name) async for c in current.api.clouds.list(limit=100)]
    filters = (Filter("cloud_id", "Cloud", "select", clouds), Filter("name", "Name"), *kind.filters)
    view = ListView.read(f"{CONSOLE_PREFIX}/{kind.path}", given or QueryParams(""), filters, SORTS)
    records: list[Any] = []
    next_cursor = None
    try:
        page = await kind.namespace(current.api).list(**view.arguments()).page(view.paging.cursor or None)
        records, next_cursor = page.items, page.next_cursor
    except (ApiError, ValidationError) as error:
        problem = problem or Problem.of(error)
    private_key = getattr(created, "private_key", None)
    return await current.page(
        "resources.html",
        status or (problem.status if problem else 200),
        title=kind.title,
        section=kind.path,
        kind=kind,
        rows=[(r, kind.offered(r)) for r in records],
        clouds=clouds,
        values=values or {},
        problem=problem,
        created=created,
        private_key=private_key,
        key_download=base64.b64encode(private_key.encode()).decode() if private_key else None,
        view=view.paged(next_cursor),
    )


def _serve(kind: Kind) -> None:
    """The list, the creation and the row actions of `kind`, each route named by its own path."""

    async def listing(request: Request, current: Visiting) -> Response:
        return await _page(current, kind, given=request.query_params)

    async def create(request: Request, current: Visiting) -> Response:
        form = await checked_form(request, current.session)
        try:
            made = await kind.create(current.api, form)
        except (ApiError, ValidationError) as error:
            return await _page(current, kind, problem=Problem.of(error), values=form.values())
        # The answer itself shows what was made (a private key is shown this once).
        return await _page(current, kind, created=made, status=201)

    async def act(record_id: str, request: Request, current: Visiting) -> Response:
        form = await checked_form(request, current.session)
        action = kind.actions.get(form.get("action"))
        if action is None:
            return await _page(current, kind, problem=Problem("No such action.", 422))
        try:
            await action(current.api, record_id, form)
        except (ApiError, ValidationError) as error:
            return await _page(current, kind, problem=Problem.of(error), values=form.values())
        return current.redirect(f"{CONSOLE_PREFIX}/{kind.path}")

    name = kind.path.replace("-", "_")
    router.add_api_route(f"/{kind.path}", listing, methods=["GET"], name=f"console_{name}")
    router.add_api_route(f"/{kind.path}", create, methods=["POST"], name=f"console_create_{name}")
    router.add_api_route(f"/{kind.path}/{{record_id}}/actions", act, methods=["POST"], name=f"console_act_{name}")


for _each in KINDS.values():
    _serve(_each)
