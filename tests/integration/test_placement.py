"""The allocator on the whole provisioner app with real PostgreSQL and SimCloud: placements explained candidate by
candidate, capacity from the clouds' quotas, spread and anti-affinity across one decision, launches placed by policy
(and keeping how), and a project that can neither place on nor learn of another's clouds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kernel.identity import Role
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers("alpha")
VIEWER = identity_headers("alpha", Role.VIEWER)
OTHER = identity_headers("beta")
SMALL = {"image_id": "img-debian-12", "flavor_id": "sim.small"}


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def _cloud(client: httpx.AsyncClient, headers: dict[str, str], name: str, **config: Any) -> str:
    body = {"name": name, "driver": "simcloud", "config": {**SIM, **config}}
    return str(ok(await client.post("/v1/clouds", headers=headers, json=body), 201)["id"])


def _where(answer: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(p["cloud_id"], p["zone"]) for p in answer["placed"]]


async def test_placements_explain_themselves_and_respect_capacity_and_groups(kernel_settings: KernelSettings) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        dear = await _cloud(client, OWNER, "dear")
        cheap = await _cloud(client, OWNER, "cheap", max_instances=2)
        prices = {"currency": "USD", "prices": [{"kind": "flavor", "item": "sim.small", "price": "0.0100"}]}
        ok(await client.post(f"/v1/clouds/{cheap}/prices", headers=OWNER, json=prices), 201)
        theirs = await _cloud(client, OTHER, "theirs")

        body = {**SMALL, "count": 3, "placement": {"strategy": "cheapest", "seed": 1}}
        answer = ok(await client.post("/v1/placements", headers=OWNER, json=body))
        assert [c for c, _ in _where(answer)] == [cheap, cheap, dear], "the cheaper cloud until its quota is used"
        assert answer["placed"][0]["hourly"] == "0.0100" and answer["placed"][0]["monthly"] == "7.3000"
        assert answer["placed"][2]["hourly"] == "0.0200"
        assert answer["candidate_count"] == 4 and len(answer["candidates"]) == 4
        assert {c["cloud_id"] for c in answer["candidates"]} == {cheap, dear}
        assert all(c["note"] is None for c in answer["candidates"]), "SimCloud reports its quotas"

        # Requirements: every flavor is weighed, those too small rejected with the reason.
        needs = {"requirements": {"vcpus": 2, "image_name": "Debian 12"}, "placement": {"strategy": "spread"}}
        spread = ok(await client.post("/v1/placements", headers=OWNER, json={**needs, "count": 4}))
        assert sorted(_where(spread)) == sorted((c, z) for c in (cheap, dear) for z in ("sim-1a", "sim-1b"))
        assert {p["flavor_id"] for p in spread["placed"]} == {"sim.medium"}, "the smallest sufficient flavor"
        small = [c for c in spread["candidates"] if c["flavor_id"] == "sim.small"]
        assert small and all("below the requirements" in c["rejected"] for c in small)

        # Anti-affinity by cloud: two clouds, so two members at most.
        apart = {
            **SMALL,
            "count": 3,
            "placement": {"group": "db", "affinity": "anti_affinity", "anti_affinity_scope": "cloud"},
        }
        refused = await client.post("/v1/placements", headers=OWNER, json=apart)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "placement_failed" and "only 2 of 3" in problem["detail"]
        assert problem["candidate_count"] == 4 and sum(c["placed"] for c in problem["candidates"]) == 2

        # Another project's cloud is an unknown one; its servers are never counted nor named.
        for cloud_ids in ([theirs], ["nobody"]):
            other = await client.post(
                "/v1/placements", headers=OWNER, json={**SMALL, "placement": {"cloud_ids": cloud_ids}}
            )
            assert other.status_code == 422
            assert other.json()["errors"] == [{"location": "body.placement.cloud_ids.0", "message": "unknown cloud"}]
        assert theirs not in refused.text
        viewer = await client.post("/v1/placements", headers=VIEWER, json=SMALL)
        assert viewer.status_code == 403


async def test_a_launch_without_a_cloud_is_placed_and_keeps_how(kernel_settings: KernelSettings) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        first = await _cloud(client, OWNER, "first")
        second = await _cloud(client, OWNER, "second")
        await _cloud(client, OTHER, "theirs")
        policy = {"strategy": "spread", "group": "web", "affinity": "anti_affinity", "anti_affinity_scope": "cloud"}
        launch = {"name": "web", "image_id": "img-debian-12", "requirements": {"ram_mb": 1024}, "placement": policy}

        preview = ok(await client.post("/v1/instances", headers=OWNER, json={**launch, "dry_run": True}))
        assert preview["flavor_id"] == "sim.small" and preview["hourly"] == "0.0200"
        assert preview["placement"]["placed"][0]["cloud_id"] == preview["cloud_id"]
        assert ok(await client.get("/v1/instances", headers=OWNER))["items"] == []

        one = ok(await client.post("/v1/instances", headers=OWNER, json=launch), 202)
        two = ok(await client.post("/v1/instances", headers=OWNER, json={**launch, "name": "web2"}), 202)
        assert {one["cloud_id"], two["cloud_id"]} == {first, second}, "anti-affinity across launches"
        assert one["flavor_id"] == "sim.small" and one["zone"] in ("sim-1a", "sim-1b")
        assert one["placement"]["strategy"] == "spread" and one["placement"]["group"] == "web"
        third = await client.post("/v1/instances", headers=OWNER, json={**launch, "name": "web3"})
        assert third.status_code == 422 and third.json()["code"] == "placement_failed"

        # No cloud_id and no placement: the default policy places it; a viewer may not launch so.
        plain = ok(await client.post("/v1/instances", headers=OWNER, json={"name": "p", **SMALL}), 202)
        assert plain["cloud_id"] in (first, second) and plain["placement"]["strategy"] == "cheapest"
        named = ok(
            await client.post("/v1/instances", headers=OWNER, json={"name": "n", "cloud_id": first, **SMALL}), 202
        )
        assert named["placement"] is None
        refused = await client.post("/v1/instances", headers=VIEWER, json={"name": "v", **SMALL})
        assert refused.status_code == 403


async def test_a_launch_that_fits_nowhere_is_refused_naming_what_is_wrong(kernel_settings: KernelSettings) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        only = await _cloud(client, OWNER, "only")
        # One cloud: the launch's own checks say what is wrong there, as for a launch naming it.
        alone = await client.post("/v1/instances", headers=OWNER, json={"name": "x", **SMALL, "flavor_id": "huge"})
        assert alone.status_code == 422 and alone.json()["code"] == "validation_failed", alone.text
        assert alone.json()["errors"] == [{"location": "body.flavor_id", "message": f"no flavor huge in {only}"}]
        second = await _cloud(client, OWNER, "second")
        both = await client.post("/v1/instances", headers=OWNER, json={"name": "x", **SMALL, "flavor_id": "huge"})
        assert both.status_code == 422 and both.json()["code"] == "placement_failed", both.text
        clouds = ", ".join(sorted((only, second)))
        assert both.json()["errors"] == [{"location": "body.flavor_id", "message": f"no flavor huge (clouds {clouds})"}]
        assert ok(await client.get("/v1/instances", headers=OWNER))["items"] == []


async def test_a_template_is_placed_where_it_can_run(kernel_settings: KernelSettings) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        runs_it = await _cloud(client, OWNER, "runs-it")
        other = await _cloud(client, OWNER, "other")
        template = {"name": "web", "clouds": [{"cloud_id": runs_it, **SMALL}]}
        template_id = ok(await client.post("/v1/templates", headers=OWNER, json=template), 201)["template_id"]

        answer = ok(await client.post("/v1/placements", headers=OWNER, json={"template_id": template_id}))
        assert [(p["cloud_id"], p["flavor_id"]) for p in answer["placed"]] == [(runs_it, "sim.small")]
        (rejected,) = {c["rejected"] for c in answer["candidates"] if c["cloud_id"] == other}
        assert rejected.startswith("the template cannot run here")

        launched = ok(
            await client.post("/v1/instances", headers=OWNER, json={"name": "t", "template_id": template_id}), 202
        )
        assert (launched["cloud_id"], launched["template_id"]) == (runs_it, template_id)
        assert launched["placement"]["strategy"] == "cheapest"
        unknown = await client.post("/v1/placements", headers=OWNER, json={"template_id": "nope"})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["location"] == "body.template_id"
