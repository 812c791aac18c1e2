"""Clusters on the whole provisioner app with real PostgreSQL, RabbitMQ and SimCloud: launched role by role in
dependency order, scaled, a member replaced, terminated; bad specs refused naming each problem with nothing
recorded; a cloud that refuses half a role's launches (SimCloud's instance quota) rolled back or degraded and
retried, with every instance made in the member table; and what another project or a viewer may do."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.identity import Role
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.integration.provisioner_world import until as until_answer
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers("alpha")
VIEWER = identity_headers("alpha", Role.VIEWER)
OTHER = identity_headers("beta")


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def rows(database_url: str, sql: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def cluster_events(database_url: str) -> list[dict[str, Any]]:
    found = await rows(database_url, "SELECT body FROM outbox ORDER BY seq")
    bodies = [json.loads(r["body"]) for r in found]
    return [b for b in bodies if b["type"].startswith("cluster.")]


async def setup(client: httpx.AsyncClient, headers: dict[str, str], **config: Any) -> tuple[str, str]:
    """A SimCloud account and a template on it whose boot script needs the input `who`."""
    cloud = ok(
        await client.post(
            "/v1/clouds", headers=headers, json={"name": "s", "driver": "simcloud", "config": {**SIM, **config}}
        ),
        201,
    )["id"]
    script = {
        "name": "hello",
        "body": "#!/bin/sh\necho hello {{ who }}\n",
        "inputs": [{"name": "who", "type": "text", "required": True}],
    }
    script_id = ok(await client.post("/v1/scripts", headers=headers, json=script), 201)["script_id"]
    template = {
        "name": "small",
        "clouds": [{"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "boot_scripts": [{"script_id": script_id}],
    }
    template_id = ok(await client.post("/v1/templates", headers=headers, json=template), 201)["template_id"]
    return cloud, template_id


def role(name: str, template: str, cloud: str, count: int, *after: str) -> dict[str, Any]:
    return {
        "name": name,
        "template_id": template,
        "cloud_id": cloud,
        "count": count,
        "inputs": {"who": name},
        "depends_on": list(after),
    }


async def until(client: httpx.AsyncClient, cluster: str, *states: str) -> Any:
    return await until_answer(client, f"/v1/clusters/{cluster}", OWNER, lambda c: c["state"] in states)


def names(detail: Any, role_name: str) -> list[str]:
    return [m["name"] for m in detail["members"] if m["role"] == role_name and not m["retired"]]


async def test_a_cluster_launches_in_dependency_order_scales_replaces_and_terminates(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER)
        spec = {
            "name": "shop",
            "on_failure": "degrade",
            "roles": [
                role("web", template, cloud, 2, "app"),
                role("db", template, cloud, 1),
                role("app", template, cloud, 2, "db"),
            ],
        }
        made = ok(await client.post("/v1/clusters", headers=OWNER, json=spec), 202)
        assert made["state"] == "launching"
        assert {r["name"]: r["template_version"] for r in made["roles"]} == {"web": 1, "db": 1, "app": 1}
        running = await until(client, made["id"], "running")
        assert names(running, "db") == ["shop-db-1"] and names(running, "web") == ["shop-web-1", "shop-web-2"]
        roles = {r["name"]: r for r in running["roles"]}
        assert roles["app"]["health"] == 1.0 and roles["app"]["states"] == {"running": 2}

        members = ok(await client.get("/v1/instances", headers=OWNER, params={"cluster_id": made["id"]}))["items"]
        assert len(members) == 5 and {m["cluster_id"] for m in members} == {made["id"]}
        by_name = {m["name"]: m for m in members}
        assert by_name["shop-app-1"]["cluster_role"] == "app"
        assert by_name["shop-app-1"]["inputs"]["who"] == {"value": "app", "level": "cluster", "type": "text"}
        # Each role was launched once every member of the roles it depends on ran.
        launched = await rows(
            database_url,
            "SELECT name, created_at FROM instances WHERE cluster_id IS NOT NULL ORDER BY created_at",
        )
        order = [r["name"].split("-")[1] for r in launched]
        assert order == ["db", "app", "app", "web", "web"]

        # Scale out, then in: the newest go first and a number is never given again.
        ok(await client.post(f"/v1/clusters/{made['id']}/roles/web/scale", headers=OWNER, json={"count": 3}), 202)
        out = await until(client, made["id"], "running")
        assert names(out, "web") == ["shop-web-1", "shop-web-2", "shop-web-3"]
        ok(await client.post(f"/v1/clusters/{made['id']}/roles/web/scale", headers=OWNER, json={"count": 1}), 202)
        scaled_in = await until_answer(
            client, f"/v1/clusters/{made['id']}", OWNER, lambda c: c["state"] == "running" and len(names(c, "web")) == 1
        )
        assert names(scaled_in, "web") == ["shop-web-1"]
        ok(await client.post(f"/v1/clusters/{made['id']}/roles/web/scale", headers=OWNER, json={"count": 2}), 202)
        again = await until(client, made["id"], "running")
        assert names(again, "web") == ["shop-web-1", "shop-web-4"]

        # Replace: a new member with a new name, then the old one terminated.
        old = next(m for m in again["members"] if m["name"] == "shop-app-1")
        ok(await client.post(f"/v1/clusters/{made['id']}/members/{old['instance_id']}/replace", headers=OWNER), 202)
        replaced = await until_answer(
            client,
            f"/v1/clusters/{made['id']}",
            OWNER,
            lambda c: c["state"] == "running" and "shop-app-3" in names(c, "app"),
        )
        assert names(replaced, "app") == ["shop-app-2", "shop-app-3"]
        await until_answer(
            client, f"/v1/instances/{old['instance_id']}", OWNER, lambda i: i["state"] in ("terminating", "terminated")
        )

        ended = ok(await client.delete(f"/v1/clusters/{made['id']}", headers=OWNER), 202)
        assert ended["state"] == "terminating"
        ended = await until(client, made["id"], "terminated")
        assert all(m["state"] in ("terminated", "withdrawn") for m in ended["members"])
        listed = ok(await client.get("/v1/clusters", headers=OWNER, params={"state": "terminated"}))["items"]
        assert [c["id"] for c in listed] == [made["id"]]

    events = await cluster_events(database_url)
    types = [e["type"] for e in events]
    assert types[0] == "cluster.created" and types[-1] == "cluster.terminated"
    assert types.count("cluster.role_scaled") == 3 and "cluster.running" in types
    assert events[-1]["subject"] == made["id"]
    assert {r["role"]: r["desired"] for r in events[-1]["payload"]["roles"]} == {"web": 2, "db": 1, "app": 2}
    # The database went last: the terminate of each role followed its dependents' end.
    ends = await rows(
        database_url,
        "SELECT name, updated_at FROM instances WHERE cluster_id IS NOT NULL AND state = 'terminated' "
        "ORDER BY updated_at",
    )
    assert ends[-1]["name"] == "shop-db-1"


async def test_a_bad_cluster_is_refused_naming_each_problem_and_nothing_is_recorded(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER)
        circle = {
            "name": "c",
            "roles": [
                role("a", template, cloud, 1, "c"),
                role("b", template, cloud, 1, "a"),
                role("c", template, cloud, 1, "b"),
                role("d", template, cloud, 1, "nowhere"),
                role("d", template, cloud, 1),
            ],
        }
        refused = await client.post("/v1/clusters", headers=OWNER, json=circle)
        assert refused.status_code == 422, refused.text
        problems = {p["location"]: p["message"] for p in refused.json()["errors"]}
        assert problems["body.roles.0.depends_on"] == "dependency cycle: a -> c -> b -> a"
        assert problems["body.roles.3.depends_on.0"] == "no role nowhere in this cluster"
        assert problems["body.roles.4.name"] == "role d is given twice"

        ok(await client.patch(f"/v1/templates/{template}/versions/1", headers=OWNER, json={"deprecated": True}))
        missing = {**role("a", template, cloud, 1), "inputs": {}}
        unknown = {**role("b", template, cloud, 1), "template_version": 7}
        bad = await client.post("/v1/clusters", headers=OWNER, json={"name": "c", "roles": [missing, unknown]})
        assert bad.status_code == 422, bad.text
        problems = {p["location"]: p["message"] for p in bad.json()["errors"]}
        assert problems == {
            "body.roles.0.template_version": "version 1 is deprecated",
            "body.roles.1.template_version": "no version 7",
        }
        ok(await client.patch(f"/v1/templates/{template}/versions/1", headers=OWNER, json={"deprecated": False}))
        no_input = await client.post("/v1/clusters", headers=OWNER, json={"name": "c", "roles": [missing]})
        assert [p["location"] for p in no_input.json()["errors"]] == ["body.roles.0.inputs.who"]

        preview = {"name": "c", "roles": [role("db", template, cloud, 2), role("web", template, cloud, 3, "db")]}
        seen = ok(await client.post("/v1/clusters", headers=OWNER, json={**preview, "dry_run": True}))
        assert seen["currency"] == "USD" and seen["hourly"] == "0.1000" and seen["monthly"] == "73.0000"
        assert [(r["role"], r["count"], r["launch"]["flavor_id"], r["hourly"]) for r in seen["roles"]] == [
            ("db", 2, "sim.small", "0.0400"),
            ("web", 3, "sim.small", "0.0600"),
        ]
    assert await rows(database_url, "SELECT id FROM clusters") == []
    assert await rows(database_url, "SELECT id FROM instances") == []
    assert await cluster_events(database_url) == []


async def test_a_cloud_refusing_half_a_role_rolls_the_cluster_back_with_no_orphan(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        # Room for the database and one of the three app servers.
        cloud, template = await setup(client, OWNER, max_instances=2)
        spec = {"name": "rb", "roles": [role("db", template, cloud, 1), role("app", template, cloud, 3, "db")]}
        made = ok(await client.post("/v1/clusters", headers=OWNER, json=spec), 202)
        back = await until(client, made["id"], "rolled_back")
        assert back["reason"].startswith("member rb-app-")
        await until_answer(
            client,
            f"/v1/clusters/{made['id']}",
            OWNER,
            lambda c: all(m["state"] in ("terminated", "withdrawn", "refused") for m in c["members"]),
        )
    made_instances = await rows(database_url, "SELECT id::text FROM instances WHERE cluster_id IS NOT NULL")
    members = await rows(database_url, "SELECT instance_id::text FROM cluster_members WHERE instance_id IS NOT NULL")
    assert {r["id"] for r in made_instances} == {r["instance_id"] for r in members} and len(members) == 4
    assert [e["type"] for e in await cluster_events(database_url)] == ["cluster.created", "cluster.rolled_back"]


async def test_a_degraded_cluster_names_the_failure_launches_no_dependent_and_is_retried(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER, max_instances=2)
        spec = {
            "name": "dg",
            "on_failure": "degrade",
            "roles": [
                role("db", template, cloud, 3),
                role("web", template, cloud, 1, "db"),
            ],
        }
        made = ok(await client.post("/v1/clusters", headers=OWNER, json=spec), 202)
        degraded = await until(client, made["id"], "degraded")
        # The three are launched together: which one the quota refuses is the cloud's choice.
        failed_name = degraded["reason"].split()[1]
        assert degraded["reason"] == f"member {failed_name} of role db failed: its instance is error"
        assert names(degraded, "web") == []
        refused = await client.post(f"/v1/clusters/{made['id']}/roles/db/scale", headers=OWNER, json={"count": 4})
        assert refused.status_code == 409

        config = {**SIM, "max_instances": 10}
        ok(await client.patch(f"/v1/clouds/{cloud}", headers=OWNER, json={"config": config}))
        ok(await client.post(f"/v1/clusters/{made['id']}/retry", headers=OWNER), 202)
        running = await until(client, made["id"], "running")
        kept = sorted({"dg-db-1", "dg-db-2", "dg-db-3"} - {failed_name})
        assert names(running, "db") == [*kept, "dg-db-4"] and names(running, "web") == ["dg-web-1"]
        failed = next(m for m in running["members"] if m["name"] == failed_name)
        assert failed["retired"] and failed["state"] in ("terminating", "terminated")
    types = [e["type"] for e in await cluster_events(database_url)]
    assert types == ["cluster.created", "cluster.degraded", "cluster.running"]


async def test_another_projects_cluster_is_not_found_and_a_viewer_cannot_change_one(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER)
        theirs_cloud, theirs_template = await setup(client, OTHER)
        spec = {"name": "mine", "roles": [role("db", template, cloud, 1)]}
        made = ok(await client.post("/v1/clusters", headers=OWNER, json=spec), 202)
        running = await until(client, made["id"], "running")
        member = running["members"][0]["instance_id"]
        base = f"/v1/clusters/{made['id']}"
        for method, path, body in (
            ("GET", base, None),
            ("POST", f"{base}/roles/db/scale", {"count": 2}),
            ("POST", f"{base}/members/{member}/replace", None),
            ("POST", f"{base}/retry", None),
            ("DELETE", base, None),
        ):
            theirs = await client.request(method, path, headers=OTHER, json=body)
            assert theirs.status_code == 404, (method, path, theirs.text)
            if method != "GET":
                viewer = await client.request(method, path, headers=VIEWER, json=body)
                assert viewer.status_code == 403, (method, path, viewer.text)
        assert ok(await client.get("/v1/clusters", headers=OTHER))["items"] == []
        assert ok(await client.post("/v1/clusters", headers=VIEWER, json=spec), 403)
        borrowed = {
            "name": "b",
            "roles": [role("x", theirs_template, cloud, 1), role("y", template, theirs_cloud, 1)],
        }
        refused = await client.post("/v1/clusters", headers=OWNER, json=borrowed)
        assert refused.status_code == 422
        assert {p["location"] for p in refused.json()["errors"]} == {
            "body.roles.0.template_id",
            "body.roles.1.cloud_id",
        }
        assert ok(await client.get(base, headers=OWNER))["state"] == "running"


async def test_a_role_placed_by_policy_spreads_its_members_apart(kernel_settings: KernelSettings) -> None:
    """A role without a cloud is placed by the allocator, member after member, each seeing those placed before it:
    with anti-affinity by zone, three members on a cloud of three zones take one zone each."""
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER, zones=["z-a", "z-b", "z-c"])
        placed = {**role("web", template, cloud, 3), "cloud_id": None}
        placed["placement"] = {"strategy": "spread", "cloud_ids": [cloud], "affinity": "anti_affinity"}
        preview = ok(
            await client.post(
                "/v1/clusters", headers=OWNER, json={"name": "spread", "roles": [placed], "dry_run": True}
            ),
            200,
        )
        assert preview["roles"][0]["launch"]["cloud_id"] == cloud
        made = ok(await client.post("/v1/clusters", headers=OWNER, json={"name": "spread", "roles": [placed]}), 202)
        await until(client, made["id"], "running")
        members = ok(await client.get("/v1/instances", headers=OWNER, params={"cluster_id": made["id"]}))["items"]
        assert sorted(m["zone"] for m in members) == ["z-a", "z-b", "z-c"]
        group = f"cluster:{made['id']}:role:web"
        assert {(m["placement"]["strategy"], m["placement"]["group"]) for m in members} == {("spread", group)}

        # A fourth member has no zone left apart from the others: the cluster says so instead of crowding one.
        ok(await client.post(f"/v1/clusters/{made['id']}/roles/web/scale", headers=OWNER, json={"count": 4}), 202)
        crowded = await until(client, made["id"], "degraded", "running")
        assert crowded["state"] == "degraded" and "web" in (crowded["reason"] or "")


async def test_a_cluster_over_the_projects_quota_is_refused_whole_before_any_member_launches(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template = await setup(client, OWNER)
        ok(await client.put("/v1/guardrails", headers=OWNER, json={"max_instances": 3, "max_vcpus": 100}))
        spec = {"name": "big", "roles": [role("db", template, cloud, 2), role("web", template, cloud, 2, "db")]}
        refused = await client.post("/v1/clusters", headers=OWNER, json=spec)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["code"] == "quota_exceeded"
        assert {(q["quota"], q["limit"], q["used"], q["adds"]) for q in body["quotas"]} == {
            ("max_instances", "3", "0", "4")
        }
        # A dry run says the same, and within the quota the cluster is made.
        dry = await client.post("/v1/clusters", headers=OWNER, json={**spec, "dry_run": True})
        assert dry.status_code == 409 and dry.json()["code"] == "quota_exceeded"
        assert await rows(database_url, "SELECT id FROM clusters") == []
        assert await rows(database_url, "SELECT id FROM instances") == []

        # A tag the guard-rails require and the template does not set is named on the role.
        ok(await client.put("/v1/guardrails", headers=OWNER, json={"required_tags": {"team": []}}))
        untagged = await client.post("/v1/clusters", headers=OWNER, json=spec)
        assert untagged.status_code == 422, untagged.text
        assert {e["location"] for e in untagged.json()["errors"]} == {
            "body.roles.0.tags.team",
            "body.roles.1.tags.team",
        }
