"""Another project's records are answered exactly like ids nobody has, on the whole provisioner app with real
PostgreSQL, RabbitMQ and SimCloud: whatever a route is given (an id in its path, in its body, in a filter), whatever
state the other project's record is in (a security group in use, a volume attached, an account holding live
resources), the status, the problem and its detail are the same as for a random id, but for the id itself and the
correlation id. Nothing of the other project changes.

Every route of the app that takes an id of a project's record must have a case here: the cases are checked against
the routes' own declarations."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from kernel.bus import Bus
from kernel.events import BudgetLaunchesBlocked, BudgetScope, new_event
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import (
    CLUSTER_ROLE,
    PUBLIC_KEY,
    World,
    build,
    everything,
    ok,
    provisioner,
    routes,
    until,
    use_secret_key,
)
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OTHER = "alpha"  # whose records the caller names
CALLER = "beta"  # who calls, with a world of its own

# Path parameters that name no project's record: an instance's action is a verb, a module is the platform's.
NOT_RECORDS = {"action", "name", "version", "role", "zone"}
# Body fields ending in `_id` that name no project's record: the cloud's own catalogue.
CATALOGUE = {"image_id", "flavor_id"}


@dataclass(frozen=True)
class Theirs:
    """An id from the other project's world (or, to compare with, a random id in its place)."""

    key: str


@dataclass(frozen=True)
class Mine:
    """An id from the caller's own world."""

    key: str


Slot = tuple[str, str, str, str]  # method, route path, "path" | "body" | "query", name


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    path: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    query: Mapping[str, Any] | None = None

    def slots(self) -> set[Slot]:
        """What this case names with another project's id."""
        named: set[Slot] = set()
        for where, values in (("path", self.path), ("body", self.body or {}), ("query", self.query or {})):
            for name, value in values.items():
                if isinstance(value, Theirs) or (isinstance(value, list) and any(isinstance(v, Theirs) for v in value)):
                    named.add((self.method, self.route, where, name))
        return named

    def request(self, theirs: Mapping[str, str], mine: Mapping[str, str]) -> tuple[str, Any, Any]:
        def resolve(value: Any) -> Any:
            if isinstance(value, Theirs):
                return theirs[value.key]
            if isinstance(value, Mine):
                return mine[value.key]
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        url = self.route.format(**{k: resolve(v) for k, v in self.path.items()})
        body = None if self.body is None else {k: resolve(v) for k, v in self.body.items()}
        query = None if self.query is None else {k: resolve(v) for k, v in self.query.items()}
        return url, body, query

    def __str__(self) -> str:
        return f"{self.method} {self.route} {dict(self.path)} {self.body or ''} {self.query or ''}"


LAUNCH = {"name": "web2", "image_id": "img-debian-12", "flavor_id": "sim.small"}
PLACE = {"image_id": "img-debian-12", "flavor_id": "sim.small", "count": 2}
TEMPLATE = {"clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}]}
RULE = {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"}


def cases() -> list[Case]:
    t, m = Theirs, Mine
    found = [
        # instances
        Case("GET", "/v1/instances/{instance_id}", {"instance_id": t("instance")}),
        Case("DELETE", "/v1/instances/{instance_id}", {"instance_id": t("instance")}),
        *(
            Case("POST", "/v1/instances/{instance_id}/actions/{action}", {"instance_id": t("instance"), "action": a})
            for a in ("start", "stop", "reboot", "suspend", "resume")
        ),
        Case("GET", "/v1/instances/{instance_id}/console", {"instance_id": t("instance")}),
        Case("GET", "/v1/instances/{instance_id}/metrics", {"instance_id": t("instance")}),
        Case("POST", "/v1/instances", body={**LAUNCH, "cloud_id": t("cloud")}),
        Case("POST", "/v1/instances", body={**LAUNCH, "cloud_id": t("default_cloud")}),
        Case(
            "POST",
            "/v1/instances",
            body={
                **LAUNCH,
                "cloud_id": t("cloud"),
                "key_name": t("key_name"),
                "security_group_ids": [t("security_group")],
            },
        ),
        # Named in a launch in the caller's own cloud: the answer must not tell whether they exist elsewhere.
        Case(
            "POST",
            "/v1/instances",
            body={
                **LAUNCH,
                "cloud_id": m("cloud"),
                "key_name": t("key_name"),
                "security_group_ids": [t("security_group")],
            },
        ),
        Case(
            "POST",
            "/v1/instances",
            body={**LAUNCH, "cloud_id": m("cloud"), "security_group_ids": [m("security_group"), t("security_group")]},
        ),
        # key pairs
        Case("GET", "/v1/key-pairs/{key_pair_id}", {"key_pair_id": t("key_pair")}),
        Case("DELETE", "/v1/key-pairs/{key_pair_id}", {"key_pair_id": t("key_pair")}),
        Case("POST", "/v1/key-pairs", body={"cloud_id": t("cloud"), "name": "k2"}),
        Case("POST", "/v1/key-pairs", body={"cloud_id": t("cloud"), "name": t("key_name")}),
        Case("POST", "/v1/key-pairs/import", body={"cloud_id": t("cloud"), "name": "k3", "public_key": PUBLIC_KEY}),
        Case("POST", "/v1/key-pairs/import", body={"cloud_id": t("cloud"), "name": "k3", "public_key": "x" * 20}),
        # security groups (the other project's is used by its instance)
        Case("GET", "/v1/security-groups/{group_id}", {"group_id": t("security_group")}),
        Case("DELETE", "/v1/security-groups/{group_id}", {"group_id": t("security_group")}),
        Case("POST", "/v1/security-groups/{group_id}/rules", {"group_id": t("security_group")}, body=RULE),
        Case(
            "POST",
            "/v1/security-groups/{group_id}/rules",
            {"group_id": t("security_group")},
            body={**RULE, "cidr": "x"},
        ),
        Case(
            "DELETE",
            "/v1/security-groups/{group_id}/rules/{rule_id}",
            {"group_id": t("security_group"), "rule_id": t("rule")},
        ),
        Case("POST", "/v1/security-groups", body={"cloud_id": t("cloud"), "name": "g2"}),
        # volumes (the other project's first is attached, its spare available)
        Case("GET", "/v1/volumes/{volume_id}", {"volume_id": t("volume")}),
        Case("DELETE", "/v1/volumes/{volume_id}", {"volume_id": t("volume")}),
        Case("DELETE", "/v1/volumes/{volume_id}", {"volume_id": t("spare_volume")}),
        Case("POST", "/v1/volumes/{volume_id}/actions/detach", {"volume_id": t("volume")}),
        Case("POST", "/v1/volumes/{volume_id}/actions/detach", {"volume_id": t("spare_volume")}),
        Case(
            "POST",
            "/v1/volumes/{volume_id}/actions/attach",
            {"volume_id": t("volume")},
            body={"instance_id": t("instance")},
        ),
        Case(
            "POST",
            "/v1/volumes/{volume_id}/actions/attach",
            {"volume_id": t("spare_volume")},
            body={"instance_id": m("instance")},
        ),
        Case(
            "POST",
            "/v1/volumes/{volume_id}/actions/attach",
            {"volume_id": m("spare_volume")},
            body={"instance_id": t("instance")},
        ),
        Case("POST", "/v1/volumes", body={"cloud_id": t("cloud"), "name": "v2", "size_gb": 1}),
        Case("POST", "/v1/volumes", body={"cloud_id": m("cloud"), "name": "v2", "snapshot_id": t("snapshot")}),
        Case(
            "POST",
            "/v1/volumes",
            body={"cloud_id": m("cloud"), "name": "v2", "size_gb": 1, "snapshot_id": t("snapshot")},
        ),
        Case("POST", "/v1/volumes", body={"cloud_id": t("cloud"), "name": "v2", "snapshot_id": t("snapshot")}),
        Case("POST", "/v1/volumes", body={"cloud_id": t("cloud"), "name": "v2", "zone": "nowhere-1z", "size_gb": 1}),
        # snapshots
        Case("GET", "/v1/snapshots/{snapshot_id}", {"snapshot_id": t("snapshot")}),
        Case("DELETE", "/v1/snapshots/{snapshot_id}", {"snapshot_id": t("snapshot")}),
        Case("POST", "/v1/snapshots", body={"volume_id": t("volume"), "name": "s2"}),
        Case("POST", "/v1/snapshots", body={"volume_id": t("spare_volume"), "name": "s2"}),
        # addresses (the other project's first is associated, its spare available)
        Case("GET", "/v1/addresses/{address_id}", {"address_id": t("address")}),
        Case("DELETE", "/v1/addresses/{address_id}", {"address_id": t("address")}),
        Case("DELETE", "/v1/addresses/{address_id}", {"address_id": t("spare_address")}),
        Case("POST", "/v1/addresses/{address_id}/actions/disassociate", {"address_id": t("address")}),
        Case(
            "POST",
            "/v1/addresses/{address_id}/actions/associate",
            {"address_id": t("address")},
            body={"instance_id": t("instance")},
        ),
        Case(
            "POST",
            "/v1/addresses/{address_id}/actions/associate",
            {"address_id": t("spare_address")},
            body={"instance_id": m("instance")},
        ),
        Case(
            "POST",
            "/v1/addresses/{address_id}/actions/associate",
            {"address_id": m("spare_address")},
            body={"instance_id": t("instance")},
        ),
        Case("POST", "/v1/addresses", body={"cloud_id": t("cloud")}),
        # images made from instances
        Case("GET", "/v1/images/{image_id}", {"image_id": t("image")}),
        Case("DELETE", "/v1/images/{image_id}", {"image_id": t("image")}),
        Case("POST", "/v1/images", body={"instance_id": t("instance"), "name": "i2"}),
        Case("POST", "/v1/images", body={"instance_id": t("instance"), "name": "i2", "cloud_id": m("cloud")}),
        Case("POST", "/v1/images", body={"instance_id": t("instance"), "name": "i2", "cloud_id": t("cloud")}),
        Case("POST", "/v1/images", body={"instance_id": m("instance"), "name": "i2", "cloud_id": t("cloud")}),
        # cloud accounts (the other project's holds live resources) and their syncs
        Case("GET", "/v1/clouds/{cloud_id}", {"cloud_id": t("cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}", {"cloud_id": t("default_cloud")}),
        Case("PATCH", "/v1/clouds/{cloud_id}", {"cloud_id": t("cloud")}, body={"name": "mine-now"}),
        Case("PATCH", "/v1/clouds/{cloud_id}", {"cloud_id": t("cloud")}, body={"config": {"speedup": 0}}),
        Case("PATCH", "/v1/clouds/{cloud_id}", {"cloud_id": t("default_cloud")}, body={"enabled": False}),
        Case("DELETE", "/v1/clouds/{cloud_id}", {"cloud_id": t("cloud")}),
        Case("DELETE", "/v1/clouds/{cloud_id}", {"cloud_id": t("cloud")}, query={"force": "true"}),
        Case("DELETE", "/v1/clouds/{cloud_id}", {"cloud_id": t("default_cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}/regions", {"cloud_id": t("cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}/zones", {"cloud_id": t("cloud")}),
        Case("POST", "/v1/clouds/{cloud_id}/sync", {"cloud_id": t("cloud")}),
        Case("POST", "/v1/clouds/{cloud_id}/test", {"cloud_id": t("cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}/prices", {"cloud_id": t("cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}/prices/versions", {"cloud_id": t("cloud")}),
        Case(
            "POST",
            "/v1/clouds/{cloud_id}/prices",
            {"cloud_id": t("cloud")},
            body={"currency": "EUR", "prices": [{"kind": "volume", "price": "0.1"}]},
        ),
        Case("GET", "/v1/clouds/{cloud_id}/syncs", {"cloud_id": t("cloud")}),
        Case("GET", "/v1/clouds/{cloud_id}/syncs/{sync_id}", {"cloud_id": t("cloud"), "sync_id": t("sync")}),
        Case("GET", "/v1/clouds/{cloud_id}/syncs/{sync_id}", {"cloud_id": m("cloud"), "sync_id": t("sync")}),
        # scripts (the other project's is run by its template) and templates
        *(
            Case(method, route, {"script_id": t("script"), "version": 1}, body=body)
            for method, route, body in (
                ("GET", "/v1/scripts/{script_id}", None),
                ("DELETE", "/v1/scripts/{script_id}", None),
                ("POST", "/v1/scripts/{script_id}/versions", {"body": "#!/bin/sh\necho mine\n"}),
                ("GET", "/v1/scripts/{script_id}/versions", None),
                ("GET", "/v1/scripts/{script_id}/versions/{version}", None),
                ("PATCH", "/v1/scripts/{script_id}/versions/{version}", {"deprecated": True}),
                ("DELETE", "/v1/scripts/{script_id}/versions/{version}", None),
            )
        ),
        *(
            Case(method, route, {"template_id": t("template"), "version": 1}, body=body)
            for method, route, body in (
                ("GET", "/v1/templates/{template_id}", None),
                ("PATCH", "/v1/templates/{template_id}", {"default_version": 1}),
                ("DELETE", "/v1/templates/{template_id}", None),
                ("POST", "/v1/templates/{template_id}/versions", TEMPLATE),
                ("GET", "/v1/templates/{template_id}/versions", None),
                ("GET", "/v1/templates/{template_id}/versions/{version}", None),
                ("PATCH", "/v1/templates/{template_id}/versions/{version}", {"deprecated": True}),
                ("DELETE", "/v1/templates/{template_id}/versions/{version}", None),
            )
        ),
        # A template naming their script, key pair and group: the unknown script is what is refused.
        Case(
            "POST",
            "/v1/templates",
            body={
                **TEMPLATE,
                "name": "t2",
                "key_name": t("key_name"),
                "security_group_ids": [t("security_group")],
                "boot_scripts": [{"script_id": t("script")}],
            },
        ),
        Case(
            "POST",
            "/v1/templates/{template_id}/versions",
            {"template_id": m("template")},
            body={
                **TEMPLATE,
                "key_name": t("key_name"),
                "security_group_ids": [t("security_group")],
                "boot_scripts": [{"script_id": t("script"), "version": 1}],
            },
        ),
        Case("POST", "/v1/instances", body={"name": "web3", "cloud_id": m("cloud"), "template_id": t("template")}),
        Case("POST", "/v1/instances", body={"name": "web3", "cloud_id": t("cloud"), "template_id": m("template")}),
        # placements: another project's cloud, template, key pair or group is unknown; nothing of it is weighed
        Case("POST", "/v1/placements", body={**PLACE, "cloud_id": t("cloud")}),
        Case("POST", "/v1/placements", body={**PLACE, "placement": {"cloud_ids": [m("cloud"), t("cloud")]}}),
        Case("POST", "/v1/placements", body={"template_id": t("template"), "placement": {"cloud_ids": [m("cloud")]}}),
        Case(
            "POST",
            "/v1/placements",
            body={
                **PLACE,
                "cloud_id": m("cloud"),
                "key_name": t("key_name"),
                "security_group_ids": [t("security_group")],
            },
        ),
        Case("POST", "/v1/instances", body={**LAUNCH, "placement": {"cloud_ids": [t("cloud")]}}),
        # script runs
        Case("GET", "/v1/instances/{instance_id}/runs", {"instance_id": t("instance")}),
        Case(
            "POST",
            "/v1/instances/{instance_id}/runs",
            {"instance_id": t("instance")},
            body={"script_id": m("operational_script")},
        ),
        Case(
            "POST",
            "/v1/instances/{instance_id}/runs",
            {"instance_id": m("instance")},
            body={"script_id": t("operational_script")},
        ),
        Case("GET", "/v1/runs/{run_id}", {"run_id": t("run")}),
        Case("GET", "/v1/runs/{run_id}/output", {"run_id": t("run")}),
        Case("POST", "/v1/runs", body={"script_id": t("operational_script"), "instance_ids": [m("instance")]}),
        Case("POST", "/v1/runs", body={"script_id": m("operational_script"), "instance_ids": [t("instance")]}),
        # clusters
        Case("GET", "/v1/clusters/{cluster_id}", {"cluster_id": t("cluster")}),
        Case("DELETE", "/v1/clusters/{cluster_id}", {"cluster_id": t("cluster")}),
        Case("POST", "/v1/clusters/{cluster_id}/retry", {"cluster_id": t("cluster")}),
        Case(
            "POST",
            "/v1/clusters/{cluster_id}/roles/{role}/scale",
            {"cluster_id": t("cluster"), "role": CLUSTER_ROLE},
            body={"count": 2},
        ),
        *(
            Case(
                "POST",
                "/v1/clusters/{cluster_id}/members/{instance_id}/replace",
                {"cluster_id": cluster, "instance_id": t("cluster_member")},
            )
            for cluster in (t("cluster"), m("cluster"))
        ),
        *(
            Case(
                "POST",
                "/v1/clusters",
                body={"name": "c3", "roles": [{"name": "db", "template_id": template, "cloud_id": cloud, "count": 1}]},
            )
            for template, cloud in ((t("template"), m("cloud")), (m("template"), t("cloud")))
        ),
        # approvals (theirs waits) and lifetimes (theirs has one)
        Case("GET", "/v1/approvals/{approval_id}", {"approval_id": t("approval")}),
        Case("POST", "/v1/approvals/{approval_id}/approve", {"approval_id": t("approval")}),
        Case("POST", "/v1/approvals/{approval_id}/reject", {"approval_id": t("approval")}, body={"reason": "mine"}),
        Case("POST", "/v1/instances/{instance_id}/extend", {"instance_id": t("expiring")}, body={"hours": 1}),
        # simulation
        Case(
            "PUT",
            "/v1/clouds/{cloud_id}/simulation/zones/{zone}",
            {"cloud_id": t("cloud"), "zone": "sim-1a"},
            body={"state": "down"},
        ),
        Case(
            "PUT",
            "/v1/instances/{instance_id}/simulation/load",
            {"instance_id": t("instance")},
            body={"profile": "steady:90"},
        ),
        # pushed metrics (theirs among mine)
        Case(
            "POST",
            "/v1/metrics",
            body={
                "samples": [
                    {"name": "queue_depth", "value": 1, "instance_id": m("instance")},
                    {"name": "queue_depth", "value": 2, "instance_id": t("instance")},
                ]
            },
        ),
    ]
    # Filters: another project's id filters like an id nobody has.
    for route, names in (
        ("/v1/images", ("cloud_id",)),
        ("/v1/flavors", ("cloud_id",)),
        ("/v1/instances", ("cloud_id", "cluster_id")),
        ("/v1/key-pairs", ("cloud_id",)),
        ("/v1/security-groups", ("cloud_id",)),
        ("/v1/volumes", ("cloud_id", "instance_id")),
        ("/v1/snapshots", ("cloud_id", "volume_id")),
        ("/v1/addresses", ("cloud_id", "instance_id")),
        ("/v1/images/custom", ("cloud_id", "instance_id")),
        ("/v1/runs", ("instance_id", "batch_id")),
        ("/v1/approvals", ("instance_id",)),
        ("/v1/launch-blocks", ("budget_id",)),
    ):
        for name in names:
            found.append(Case("GET", route, query={name: t(name.removesuffix("_id"))}))
    return found


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def id_slots(app: FastAPI) -> set[Slot]:
    """Where each route of the app takes an id of a project's record, read from the route's own declaration."""
    slots: set[Slot] = set()
    for route in routes(app):
        names: list[tuple[str, str]] = []
        for dependant in _walk(route.dependant):
            names += [("path", p.alias) for p in dependant.path_params if p.alias not in NOT_RECORDS]
            names += [("query", q.alias) for q in dependant.query_params if q.alias.endswith("_id")]
        if route.body_field is not None:
            model = route.body_field.field_info.annotation
            for name in getattr(model, "model_fields", {}):
                if (name.endswith(("_id", "_ids")) or name == "key_name") and name not in CATALOGUE:
                    names.append(("body", name))
        for method in route.methods or ():
            slots |= {(method, route.path, where, name) for where, name in names}
    return slots


def nobodys(world: World) -> dict[str, str]:
    """A random id in place of each of the other project's (shaped like it)."""
    made = {key: str(uuid.uuid4()) for key in world.ids()}
    made["cloud"] = f"cld-{secrets.token_hex(5)}"
    made["default_cloud"] = f"cld-{secrets.token_hex(5)}"
    made["key_name"] = f"nobodys-key-{secrets.token_hex(4)}"
    made["rule"] = f"rule-{secrets.token_hex(6)}"
    return made


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


def seen(answer: httpx.Response, ids: Mapping[str, str]) -> tuple[int, str | None, Any]:
    """What an answer tells, with each id given replaced by its name, and without its correlation id."""

    def plain(value: Any) -> Any:
        if isinstance(value, str):
            for key, given in sorted(ids.items(), key=lambda item: -len(item[1])):
                # Not inside a dotted name: the built-in cloud's id `sim` begins its flavors' ids (`sim.small`).
                value = re.sub(rf"(?<![\w-]){re.escape(given)}(?![\w-]|\.\w)", f"<{key}>", value)
            return value
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "correlation_id"}
        return value

    body = answer.json() if answer.content else None
    return answer.status_code, answer.headers.get("retry-after"), plain(body)


async def blocked(kernel_settings: KernelSettings, client: httpx.AsyncClient, project: str) -> str:
    """A budget of `project` that blocks launches tagged with what no case launches with, published as the billing
    service publishes it; its id once the project lists it."""
    budget_id = str(uuid.uuid4())
    scope = BudgetScope(kind="tag", tag_key="budget", tag_value="capped")
    event = BudgetLaunchesBlocked(budget_id=budget_id, name="capped", scope=scope, period="2026-12", reason="over")
    envelope = new_event(event, project_id=project, correlation_id="corr-budget")
    billing = Bus(kernel_settings.amqp_url.get_secret_value(), prefix=kernel_settings.bus_prefix, service="billing")
    await billing.connect()
    try:
        await billing.publish_many([(envelope.routing_key, str(envelope.id), envelope.model_dump_json().encode())])
    finally:
        await billing.close()
    listed = await until(client, "/v1/launch-blocks", identity_headers(project), lambda page: bool(page["items"]))
    assert [b["budget_id"] for b in listed["items"]] == [budget_id]
    return budget_id


async def test_another_projects_ids_are_answered_like_ids_nobody_has(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (app, client):
        theirs_world = await build(client, OTHER)
        mine_world = await build(client, CALLER)
        theirs = {**theirs_world.ids(), "default_cloud": "sim", "budget": await blocked(kernel_settings, client, OTHER)}
        mine = mine_world.ids()
        before = await everything(database_url)

        table = cases()
        missing = id_slots(app) - set().union(*(c.slots() for c in table))
        assert not missing, f"routes taking an id with no case here: {sorted(missing)}"

        differ = []
        caller = identity_headers(CALLER)
        for case in table:
            unknown = {**nobodys(theirs_world), "budget": str(uuid.uuid4())}
            answers = []
            for ids in (theirs, unknown):
                url, body, query = case.request(ids, mine)
                answer = await client.request(case.method, url, json=body, params=query, headers=caller)
                answers.append(seen(answer, ids))
            if answers[0] != answers[1]:
                differ.append(f"{case}\n  another project's: {answers[0]}\n  nobody's:          {answers[1]}")
        assert not differ, "answers that tell another project's ids from unknown ones:\n" + "\n".join(differ)
        assert await everything(database_url) == before

        # The other project's records are in the states the cases meant: to their owner, these conflict.
        owner = identity_headers(OTHER)
        for path in (
            f"/v1/security-groups/{theirs_world.security_group}",
            f"/v1/volumes/{theirs_world.volume}",
            f"/v1/addresses/{theirs_world.address}",
            f"/v1/clouds/{theirs_world.cloud}",
        ):
            refused = await client.delete(path, headers=owner)
            assert refused.status_code == 409, (path, refused.text)
        assert ok(await client.get(f"/v1/instances/{theirs_world.instance}", headers=owner))["state"] == "running"
