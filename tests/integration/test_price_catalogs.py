"""Price catalogs on the whole provisioner app with real PostgreSQL, RabbitMQ and SimCloud: SimCloud's built-in
prices, an import and its history (a later version never changes what was in force before), flavors with their
prices, events, bad files refused with nothing stored, and who may read and import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from kernel.identity import Role
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers("alpha")
VIEWER = identity_headers("alpha", Role.VIEWER)
OTHER = identity_headers("beta")
EUR = {
    "currency": "EUR",
    "prices": [
        {"kind": "flavor", "item": "sim.small", "price": "0.0300"},
        {"kind": "flavor", "item": "sim.unknown", "price": "1"},
        {"kind": "volume", "price": "0.12"},
    ],
}


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def events(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT body FROM provisioner.outbox ORDER BY seq")
    finally:
        await conn.close()
    return [b for b in (json.loads(r["body"]) for r in rows) if b["type"].startswith("price_catalog.")]


async def stored(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM provisioner.catalog_prices")
    finally:
        await conn.close()
    return count


async def test_prices_import_history_flavors_and_events(kernel_settings: KernelSettings, database_url: str) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud = ok(
            await client.post("/v1/clouds", headers=OWNER, json={"name": "s", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]
        builtin = ok(await client.get(f"/v1/clouds/{cloud}/prices", headers=VIEWER))
        assert builtin["version"] == 0 and builtin["currency"] == "USD" and builtin["source"] == "builtin:simcloud"
        small = next(p for p in builtin["prices"] if p["item"] == "sim.small")
        assert small == {"kind": "flavor", "region": "", "item": "sim.small", "unit": "hour", "price": "0.0200"}
        flavors = ok(await client.get("/v1/flavors", headers=VIEWER, params={"cloud_id": cloud}))["items"]
        assert {f["id"]: (f["hourly_price"], f["currency"]) for f in flavors}["sim.small"] == ("0.0200", "USD")

        before = datetime.now(UTC)
        first = ok(await client.post(f"/v1/clouds/{cloud}/prices", headers=OWNER, json=EUR), 201)
        assert first["version"] == 1 and first["currency"] == "EUR" and first["price_count"] == 3
        assert first["warnings"] == ["flavor sim.unknown is not one the cloud lists in sim-1"]
        later = datetime.now(UTC) + timedelta(days=30)
        csv = "kind,region,item,price,currency\nflavor,,sim.small,0.0400,EUR\n"
        second = ok(
            await client.post(
                f"/v1/clouds/{cloud}/prices",
                headers={**OWNER, "content-type": "text/csv"},
                params={"effective_from": later.isoformat()},
                content=csv,
            ),
            201,
        )
        assert second["version"] == 2 and second["source"] == "upload:csv"

        now = ok(await client.get(f"/v1/clouds/{cloud}/prices", headers=VIEWER, params={"kind": "flavor"}))
        assert now["version"] == 1 and {p["item"]: p["price"] for p in now["prices"]}["sim.small"] == "0.0300"
        then = later + timedelta(seconds=1)
        future = ok(await client.get(f"/v1/clouds/{cloud}/prices", headers=VIEWER, params={"at": then.isoformat()}))
        assert future["version"] == 2 and [p["price"] for p in future["prices"]] == ["0.0400"]
        past = ok(
            await client.get(
                f"/v1/clouds/{cloud}/prices",
                headers=VIEWER,
                params={"at": (before - timedelta(seconds=1)).isoformat()},
            )
        )
        assert past["version"] == 0  # before any import: the built-in prices
        flavors = ok(await client.get("/v1/flavors", headers=VIEWER, params={"cloud_id": cloud}))["items"]
        priced = {f["id"]: (f["hourly_price"], f["currency"]) for f in flavors}
        assert priced["sim.small"] == ("0.0300", "EUR") and priced["sim.nano"] == (None, None)
        versions = ok(await client.get(f"/v1/clouds/{cloud}/prices/versions", headers=VIEWER))["items"]
        assert [v["version"] for v in versions] == [2, 1]

        # A version cannot take effect in the past.
        back = (before - timedelta(days=1)).isoformat()
        refused = await client.post(
            f"/v1/clouds/{cloud}/prices", headers=OWNER, params={"effective_from": back}, json=EUR
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "effective_from"

    every = await events(database_url)
    # The prices themselves travel too (the built-in list as version 0 when the account was added), for billing.
    rows = {e["payload"]["version"]: e["payload"] for e in every if e["type"] == "price_catalog.published"}
    assert sorted(rows) == [0, 1, 2] and all(r["page"] == r["pages"] == 1 for r in rows.values())
    assert rows[0]["source"] == "builtin:simcloud" and rows[2]["currency"] == "EUR"
    assert rows[2]["prices"] == [{"kind": "flavor", "region": "", "item": "sim.small", "amount": "0.0400"}]
    found = [e for e in every if e["type"] != "price_catalog.published"]
    assert [(e["type"], e["payload"]["version"]) for e in found] == [
        ("price_catalog.imported", 1),
        ("price_catalog.replaced", 2),
    ]
    assert found[1]["payload"]["replaces_version"] == 1 and found[1]["subject"] == cloud
    assert found[0]["payload"]["warning_count"] == 1


@pytest.mark.parametrize(
    ("content_type", "body", "field", "row"),
    [
        ("text/csv", "kind,item,price,currency\nflavor,a,1,EUR\n", "region", None),
        ("text/csv", "kind,region,item,price,currency\nflavor,,a,1,EUR\nflavor,,b,-2,EUR\n", "price", 3),
        ("text/csv", "kind,region,item,price,currency\nflavor,,a,1,EUR\nflavor,,b,2,USD\n", "currency", 3),
        ("application/json", '{"currency": "EUR", "prices": [{"kind": "flavor", "price": "1"}]}', "item", 1),
        ("application/json", "not json", "body", None),
        ("application/xml", "<prices/>", "content-type", None),
    ],
)
async def test_a_bad_price_file_is_refused_naming_what_is_wrong_and_nothing_is_stored(
    kernel_settings: KernelSettings, database_url: str, content_type: str, body: str, field: str, row: int | None
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud = ok(
            await client.post("/v1/clouds", headers=OWNER, json={"name": "s", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]
        answer = await client.post(
            f"/v1/clouds/{cloud}/prices", headers={**OWNER, "content-type": content_type}, content=body
        )
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["errors"][0]["field"] == field and problem["errors"][0].get("row") == row
        # An EC2-only format for a SimCloud account.
        libcloud = await client.post(f"/v1/clouds/{cloud}/prices", headers=OWNER, params={"format": "libcloud"})
        assert libcloud.status_code == 422 and libcloud.json()["errors"][0]["field"] == "format"
        versions = ok(await client.get(f"/v1/clouds/{cloud}/prices/versions", headers=OWNER))["items"]
        assert versions == []
    # Only the built-in lists, published as version 0 when the accounts were added.
    assert {e["payload"]["version"] for e in await events(database_url)} == {0} and await stored(database_url) == 0


async def test_another_projects_prices_are_not_found_and_a_viewer_cannot_import(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud = ok(
            await client.post("/v1/clouds", headers=OWNER, json={"name": "s", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]
        for method, path in (("GET", "prices"), ("GET", "prices/versions"), ("POST", "prices")):
            theirs = await client.request(method, f"/v1/clouds/{cloud}/{path}", headers=OTHER, json=EUR)
            assert theirs.status_code == 404, (method, path, theirs.text)
        refused = await client.post(f"/v1/clouds/{cloud}/prices", headers=VIEWER, json=EUR)
        assert refused.status_code == 403
    # Only the built-in lists, published as version 0 when the accounts were added.
    assert {e["payload"]["version"] for e in await events(database_url)} == {0} and await stored(database_url) == 0


async def test_a_dry_run_launch_answers_its_placement_and_cost_and_launches_nothing(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud = ok(
            await client.post("/v1/clouds", headers=OWNER, json={"name": "s", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]
        launch = {"cloud_id": cloud, "name": "web", "image_id": "img-debian-12", "flavor_id": "sim.medium"}
        seen = ok(await client.post("/v1/instances", headers=OWNER, json={**launch, "dry_run": True}))
        assert seen == {
            "dry_run": True,
            "cloud_id": cloud,
            "region": "sim-1",
            "zone": None,
            "image_id": "img-debian-12",
            "flavor_id": "sim.medium",
            "template_id": None,
            "template_version": None,
            "currency": "USD",
            "hourly": "0.0400",
            "monthly": "29.2000",
            "price_version": 0,
            "guardrails": {
                "allowed": True,
                "quotas": [],
                "problems": [],
                "needs_approval": False,
                "expires_at": None,
                "expiry_action": None,
                "notes": [],
            },
            "launch_block": None,
            "placement": None,
        }
        # A licensed image adds to its server's hour, and the images list says how much.
        images = ok(await client.get("/v1/images", headers=OWNER, params={"cloud_id": cloud}))["items"]
        priced = {i["id"]: (i["hourly_price"], i["currency"]) for i in images}
        assert priced["img-windows-2022"] == ("0.0460", "USD") and priced["img-debian-12"] == (None, None)
        windows = {**launch, "image_id": "img-windows-2022", "dry_run": True}
        seen = ok(await client.post("/v1/instances", headers=OWNER, json=windows))
        assert (seen["hourly"], seen["monthly"]) == ("0.0860", "62.7800")
        bad = await client.post(
            "/v1/instances", headers=OWNER, json={**launch, "flavor_id": "sim.huge", "dry_run": True}
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.flavor_id"

        ok(await client.post(f"/v1/clouds/{cloud}/prices", headers=OWNER, json=EUR), 201)
        script = {
            "name": "hello",
            "body": "#!/bin/sh\necho {{ who }}\n",
            "inputs": [{"name": "who", "type": "text", "required": True}],
        }
        script_id = ok(await client.post("/v1/scripts", headers=OWNER, json=script), 201)["script_id"]
        template = {
            "name": "web",
            "clouds": [{"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
            "boot_scripts": [{"script_id": script_id}],
        }
        template_id = ok(await client.post("/v1/templates", headers=OWNER, json=template), 201)["template_id"]
        from_template = {"cloud_id": cloud, "name": "t", "template_id": template_id, "dry_run": True}
        missing = await client.post("/v1/instances", headers=OWNER, json=from_template)
        assert missing.status_code == 422  # the template's input `who` has no value
        seen = ok(await client.post("/v1/instances", headers=OWNER, json={**from_template, "inputs": {"who": "x"}}))
        assert (seen["flavor_id"], seen["template_id"], seen["template_version"]) == ("sim.small", template_id, 1)
        assert (seen["currency"], seen["hourly"], seen["monthly"], seen["price_version"]) == (
            "EUR",
            "0.0300",
            "21.9000",
            1,
        )

        listed = ok(await client.get("/v1/instances", headers=OWNER))["items"]
        assert listed == []
    conn = await asyncpg.connect(database_url)
    try:
        # No instance recorded, no event, and no key made for runs.
        assert await conn.fetchval("SELECT count(*) FROM provisioner.instances") == 0
        assert await conn.fetchval("SELECT count(*) FROM provisioner.project_keys") == 0
        types = await conn.fetch("SELECT body::json->>'type' AS t FROM provisioner.outbox")
    finally:
        await conn.close()
    assert not [r["t"] for r in types if r["t"].startswith("instance.")]
