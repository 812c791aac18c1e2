"""Failover on the platform as processes, through the installed `clanavi` command: a health policy over the servers
carrying a tag, a server launched on SimCloud with that tag watched and judged healthy from the provisioner's own
events, a refresh of servers not launched from a template refused, bad input named; and the console's health page
in a real browser: an open breaker shown with its reason, reset by an operator."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from kernel.bus import Bus
from kernel.events import InstanceFailed, new_event
from tests.e2e.console_kit import CONSOLE, add_members
from tests.e2e.platform import TOKEN, Platform, eventually, wait_for_state
from tests.e2e.test_cli import LAUNCH, SIM, Shell
from tests.e2e.test_console_browser import Visit, browser

__all__ = ["browser"]  # the browser fixture, shared with the console's own suite

pytestmark = pytest.mark.e2e
# Judges project `default`'s every health policy and quarantined server: a platform of its own.
OWN_PLATFORM = True

# The command installed beside the interpreter, run on the checkout under test (as the platform's processes are).
CHECKOUT = str(Path(__file__).resolve().parents[2])


async def test_a_tagged_server_is_watched_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    admin = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    cloud = admin("clouds", "add", "--name", "sim-fo", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
    policy = admin(
        "health-policies", "create", "--name", "web", "--tag", "app=web", "--grace", "0", "--action", "quarantine",
        "--zone-max-unhealthy", "50", "-o", "json",
    ).json()  # fmt: skip
    assert policy["target"] == {"kind": "tag", "key": "app", "value": "web", "scaling_group_id": None,
                                "cluster_id": None, "role": None}  # fmt: skip
    assert policy["breaker"]["open"] is False and policy["action"] == "quarantine"

    launched = admin(*LAUNCH, "--cloud", cloud, "--name", "web-1", "--tag", "app=web", "-o", "json").json()
    other = admin(*LAUNCH, "--cloud", cloud, "--name", "db-1", "--tag", "app=db", "-o", "json").json()
    async with platform.client() as client:
        await wait_for_state(client, launched["id"], "running")
        await wait_for_state(client, other["id"], "running")
    health = admin.poll(
        "health", "list", "--policy", policy["id"], until=lambda items: [i["health"] for i in items] == ["healthy"]
    )
    assert [(i["instance_id"], i["health"], i["quarantined"]) for i in health] == [(launched["id"], "healthy", False)]
    assert health[0]["signals"]["cloud_state"] == "running"
    assert admin("health", "list", "--quarantined", "-o", "json").json() == []

    listed = admin("health-policies", "list", "-o", "json").json()
    assert [p["id"] for p in listed] == [policy["id"]]
    reset = admin("health-policies", "reset-breaker", policy["id"], "-o", "json").json()
    assert reset["breaker"]["open"] is False

    refused = admin("refreshes", "start", "--policy", policy["id"], "--version", "2", expect=1)
    assert "not launched from a template" in refused.err

    bad = admin("health-policies", "create", "--name", "x", "--tag", "a=b", "--grace", "-5", expect=2)
    assert "grace_seconds" in bad.err
    usage = admin("health-policies", "create", "--name", "x", expect=2)
    assert "--scaling-group" in usage.err

    admin("health-policies", "delete", policy["id"])
    assert admin("health-policies", "list", "-o", "json").json() == []


def test_the_console_shows_health_and_an_operator_resets_an_open_breaker(
    platform: Platform, browser: webdriver.Chrome
) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    tag = f"fo-{uuid.uuid4().hex[:6]}"

    async def prepare() -> tuple[str, list[str]]:
        async with platform.client() as admin:
            body = {
                "name": tag, "target": {"kind": "tag", "key": "app", "value": tag}, "grace_seconds": 0,
                "breaker": {"max_unhealthy_percent": 40},
            }  # fmt: skip
            policy = (await admin.post("/v1/health-policies", json=body)).json()
            launch = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small", "tags": {"app": tag}}
            ids = [
                (await admin.post("/v1/instances", json={**launch, "name": f"{tag}-{n}"})).json()["id"]
                for n in range(4)
            ]
            for instance_id in ids:
                await wait_for_state(admin, instance_id, "running")
            # Two of them fail at once, as the provisioner tells it: the breaker trips at the second.
            env = platform.processes["failover"].env
            bus = Bus(platform.amqp_url, prefix=env["CLANAVI_BUS_PREFIX"], service="e2e-provisioner")
            await bus.connect()
            try:
                failures = [
                    new_event(
                        InstanceFailed(instance_id=i, cloud_id="sim", provider_id=None, reason="host lost"),
                        project_id="default", correlation_id=uuid.uuid4().hex,
                    )
                    for i in ids[:2]
                ]  # fmt: skip
                await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in failures])
            finally:
                await bus.close()
            return str(policy["id"]), ids

    policy_id, ids = asyncio.run(prepare())
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["operator"].email)

    def breaker(d: webdriver.Chrome) -> str | None:
        d.get(f"{platform.gateway_url}{CONSOLE}/health?policy_id={policy_id}")
        return d.find_element(By.ID, f"policy-{policy_id}").get_attribute("data-breaker")

    visit.wait("the breaker open", lambda d: breaker(d) == "open")
    assert "breaker open: 2 of 4 members" in browser.find_element(By.ID, f"policy-{policy_id}").text
    rows = {
        str(r.get_attribute("id")).removeprefix("health-"): r.text
        for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-health=unhealthy]")
    }
    # The failure handled first was replaced (its row stays until the provisioner has run the copy and terminated
    # it), the other is held by the breaker. The two were told at once, so either may have come first.
    held = [i for i in ids[:2] if i in rows and "replace by" not in rows[i]]
    assert len(held) == 1, rows
    (replaced,) = set(ids[:2]) - set(held)
    assert replaced not in rows or "replace by" in rows[replaced], rows
    visit.shot("health-breaker-open")

    browser.find_element(By.CSS_SELECTOR, f"#policy-{policy_id} button[type=submit]").click()
    # Reset: the window starts afresh and the held server is remediated through the breaker again.
    visit.wait("the breaker closed", lambda d: breaker(d) == "closed")
    rows = {
        str(r.get_attribute("id")).removeprefix("health-"): r.text
        for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-health=unhealthy]")
    }
    assert set(rows) <= set(ids[:2]) and all("replace by" in text for text in rows.values()), rows
    visit.shot("health-after-reset")
    visit.open(f"{CONSOLE}/refreshes")
    visit.wait("the refreshes page", lambda d: d.find_elements(By.CSS_SELECTOR, "table.list"))
    assert not visit.csp_violations()


async def test_a_zone_outage_trips_the_breaker_instead_of_replacing_every_server(platform: Platform) -> None:
    """SimCloud takes a zone down for real: the provisioner finds its servers in error and says so, and the failover
    service replaces the first and holds the rest, because half of the group failing at once is an outage, not
    servers to replace."""
    tag = f"zone-{uuid.uuid4().hex[:6]}"
    config = {"boot_seconds": 0.3, "stop_seconds": 0.2, "terminate_seconds": 0.2, "zones": ["sim-1a", "sim-1b"]}
    async with platform.client() as admin:
        added = await admin.post("/v1/clouds", json={"name": tag, "driver": "simcloud", "config": config})
        assert added.status_code == 201, added.text
        cloud = added.json()["id"]
        body = {
            "name": tag, "target": {"kind": "tag", "key": "app", "value": tag}, "grace_seconds": 0,
            "action": "replace", "breaker": {"max_unhealthy_percent": 25},
        }  # fmt: skip
        # 25 %: the second failure trips it whether or not the first one's replacement is counted yet (2 of 6, 2 of 7).
        policy = (await admin.post("/v1/health-policies", json=body)).json()
        launch = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small", "tags": {"app": tag}}
        zones: dict[str, list[str]] = {"sim-1a": [], "sim-1b": []}
        for n, zone in enumerate(["sim-1a", "sim-1a", "sim-1a", "sim-1b", "sim-1b", "sim-1b"]):
            answer = await admin.post("/v1/instances", json={**launch, "zone": zone, "name": f"{tag}-{n}"})
            assert answer.status_code == 202, answer.text
            zones[zone].append(answer.json()["id"])
        for instance_id in zones["sim-1a"] + zones["sim-1b"]:
            await wait_for_state(admin, instance_id, "running")

        down = await admin.put(f"/v1/clouds/{cloud}/simulation/zones/sim-1a", json={"state": "down"})
        assert down.status_code == 200, down.text
        for instance_id in zones["sim-1a"]:
            await wait_for_state(admin, instance_id, "error", within=30)

        async def judged() -> list[dict[str, Any]] | None:
            items = (await admin.get("/v1/instance-health", params={"policy_id": policy["id"]})).json()["items"]
            failed = [i for i in items if i["instance_id"] in zones["sim-1a"] and i["health"] == "unhealthy"]
            return failed if len(failed) == 3 else None

        deadline = asyncio.get_running_loop().time() + 30
        while (failed := await judged()) is None:
            assert asyncio.get_running_loop().time() < deadline, "the outage's servers were not judged unhealthy"
            await asyncio.sleep(0.2)
        shown = (await admin.get(f"/v1/health-policies/{policy['id']}")).json()
        assert shown["breaker"]["open"] is True, shown
        # One replaced before the breaker tripped; the others held, not replaced into the dead zone.
        assert sorted(i["remediation"] or "held" for i in failed) == ["held", "held", "replace"], failed

        async def replacements() -> list[dict[str, Any]] | None:
            # The provisioner takes the replace command off the bus in its own time: wait until it has.
            launched = (await admin.get("/v1/instances", params={"cloud_id": cloud, "limit": 100})).json()["items"]
            found = [i for i in launched if (i.get("requested_by") or "").startswith("failover:")]
            return found or None

        by_failover = await eventually(replacements, within=30, what="the replacement's launch")
        assert len(by_failover) == 1, by_failover
        items = (await admin.get("/v1/instance-health", params={"policy_id": policy["id"]})).json()["items"]
        assert {i["instance_id"]: i["health"] for i in items if i["instance_id"] in zones["sim-1b"]} == dict.fromkeys(
            zones["sim-1b"], "healthy"
        )
        up = await admin.put(f"/v1/clouds/{cloud}/simulation/zones/sim-1a", json={"state": "up"})
        assert up.status_code == 200, up.text
