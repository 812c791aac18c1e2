"""Billing on the platform as processes, through the installed `clanavi` command: a server launched on SimCloud and
stopped is billed from the provisioner's own events at the account's built-in prices, within seconds; its costs
summed, grouped and exported in FOCUS columns, and invoiced (a PDF downloaded); a budget refused for bad input,
made, listed and deleted; the console's cost page in a real browser: the day's bar drawn, the budget and the
invoice shown to a viewer, who is offered no change; an owner makes a budget there (bad fields refused in the form),
deletes it, and rates a period again."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.e2e.console_kit import CONSOLE, add_members
from tests.e2e.platform import TOKEN, Platform, eventually, wait_for_state
from tests.e2e.test_cli import LAUNCH, SIM, Shell
from tests.e2e.test_console_browser import Visit, browser

__all__ = ["browser"]  # the browser fixture, shared with the console's own suite

pytestmark = pytest.mark.e2e

CHECKOUT = str(Path(__file__).resolve().parents[2])


async def test_a_stopped_server_is_billed_and_exported_from_the_command_line(
    platform: Platform, tmp_path: Path
) -> None:
    admin = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    cloud = admin("clouds", "add", "--name", "sim-bill", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
    server = admin(*LAUNCH, "--cloud", cloud, "--name", "billed", "--tag", "team=e2e", "-o", "json").json()
    async with platform.client() as client:
        await wait_for_state(client, server["id"], "running")
    admin("instances", "stop", server["id"], "--wait", "-o", "json")

    def billed(items: list[dict[str, str]]) -> bool:
        return bool(items) and Decimal(items[0]["consumed_seconds"]) > 0 and Decimal(items[0]["cost"]) > 0

    found = admin.poll(
        "costs", "list", "--group-by", "resource", "--group-by", "tag:team", "--resource", server["id"], until=billed
    )
    assert billed(found), found
    (line,) = found
    assert line["group"] == {"resource": server["id"], "tag:team": "e2e"} and line["currency"] == "USD"
    # sim.small's built-in price, 0.02 an hour, for the seconds it ran.
    exact = Decimal("0.02") * Decimal(line["consumed_seconds"]) / 3600
    assert abs(Decimal(line["cost"]) - exact) < Decimal("1e-9")

    exported = admin("costs", "export", "--cloud", cloud).out
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {r["ResourceId"] for r in rows} == {server["id"]}
    assert all(
        r["ServiceName"] == "Compute" and r["x_CloudId"] == cloud and r["BillingCurrency"] == "USD" for r in rows
    )

    refused = admin("budgets", "create", "--name", "bad", "--amount", "-3", expect=None)
    assert refused.status != 0 and "amount" in refused.err
    budget = admin(
        "budgets", "create", "--name", "e2e", "--amount", "50", "--tag", "team=e2e", "--threshold", "80",
        "--threshold", "100:forecast:notify,block_launches", "-o", "json",
    ).json()  # fmt: skip
    assert budget["scope"]["tag_key"] == "team" and budget["launches_blocked"] is False
    assert [t["percent"] for t in budget["thresholds"]] == [80, 100]
    listed = admin("budgets", "list", "--name", "e2e", "-o", "json").json()
    assert [b["id"] for b in listed] == [budget["id"]] and Decimal(listed[0]["spent"]) > 0
    admin("budgets", "delete", budget["id"])
    month = server["created_at"][:7]
    shown = admin("invoices", "show", month, "-o", "json").json()
    assert server["id"] in [line["resource_id"] for line in shown["lines"]]
    target = tmp_path / "invoice.pdf"
    admin("invoices", "download", month, "--file", str(target))
    assert target.read_bytes().startswith(b"%PDF-1.4") and target.read_bytes().endswith(b"%%EOF\n")
    future = admin("invoices", "show", "2999-01", expect=None)
    assert future.status != 0 and "month" in future.err
    assert admin("budgets", "list", "--name", "e2e", "-o", "json").json() == []


def test_the_console_shows_cost_per_day_budgets_and_invoices(platform: Platform, browser: webdriver.Chrome) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    name = f"console-{uuid.uuid4().hex[:6]}"

    async def prepare() -> str:
        async with platform.client() as admin:
            launch = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small", "name": name}
            server = (await admin.post("/v1/instances", json=launch)).json()["id"]
            await wait_for_state(admin, server, "running")
            await admin.post(f"/v1/instances/{server}/actions/stop")
            await wait_for_state(admin, server, "stopped")
            body = {"name": name, "amount": "75", "currency": "USD", "thresholds": [{"percent": 90}]}
            budget = await admin.post("/v1/budgets", json=body)
            assert budget.status_code == 201, budget.text
            return str(budget.json()["id"])

    budget_id = asyncio.run(prepare())
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["viewer"].email)

    def today_bar(d: webdriver.Chrome) -> Any:
        d.get(f"{platform.gateway_url}{CONSOLE}/costs")
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        found = d.find_elements(By.CSS_SELECTOR, f"#cost-per-day rect.bar[data-day='{today}']")
        return found and Decimal(str(found[0].get_attribute("data-cost"))) > 0 and found[0]

    bar = visit.wait("today's cost drawn", today_bar)
    assert float(str(bar.get_attribute("height"))) > 0
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cost-per-day rect.bar")) == 31
    assert "instance" in browser.find_element(By.ID, "breakdown").text
    assert name in browser.find_element(By.ID, f"budget-{budget_id}").text
    month = datetime.now(UTC).strftime("%Y-%m")
    assert browser.find_element(By.ID, f"invoice-{month}-USD").text.startswith(month)
    # A viewer is offered no budget form, no delete and no re-rating.
    assert not browser.find_elements(By.ID, "new-budget") and not browser.find_elements(By.ID, "rerate")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#budget-{budget_id} form")
    visit.shot("costs")
    assert not visit.csp_violations()


def test_an_owner_makes_and_deletes_a_budget_and_rates_a_period_again_in_the_console(
    platform: Platform, browser: webdriver.Chrome
) -> None:
    members = asyncio.run(add_members(platform, uuid.uuid4().hex[:8]))
    name = f"console-budget-{uuid.uuid4().hex[:6]}"
    visit = Visit(browser, platform.gateway_url)
    visit.log_in(members["owner"].email)
    visit.open(f"{CONSOLE}/costs")

    async def budgets_named() -> list[dict[str, Any]]:
        async with platform.client() as admin:
            found = (await admin.get("/v1/budgets", params={"name": name})).json()["items"]
        return list(found)

    # A negative amount, then a tag scope without its key: each refused naming its field, nothing made.
    refused = {"name": name, "amount": "-5", "currency": "USD", "percent_0": "80", "basis_0": "forecast"}
    visit.fill("new-budget", refused)
    browser.find_element(By.CSS_SELECTOR, "#threshold-0 input[value=notify]").click()
    visit.submit("new-budget")
    visit.wait("the amount refused", lambda d: d.find_elements(By.ID, "error-amount"))
    assert browser.find_element(By.ID, "field-name").get_attribute("value") == name
    assert browser.find_element(By.CSS_SELECTOR, "#threshold-0 input[value=notify]").is_selected()
    visit.fill("new-budget", {"amount": "40", "scope": "tag", "tag_key": ""})
    visit.submit("new-budget")
    visit.wait("the tag key refused", lambda d: d.find_elements(By.ID, "error-tag_key"))
    assert asyncio.run(budgets_named()) == []
    visit.shot("costs-budget-refused")

    visit.fill("new-budget", {"tag_key": "team", "tag_value": name})
    visit.submit("new-budget")
    visit.wait("back on the costs page", lambda d: d.current_url.endswith(f"{CONSOLE}/costs"))
    (made,) = asyncio.run(budgets_named())
    scope = made["scope"]
    assert (scope["kind"], scope["tag_key"], scope["tag_value"]) == ("tag", "team", name)
    assert Decimal(made["amount"]) == 40 and made["currency"] == "USD"
    assert [(t["percent"], t["basis"], t["actions"]) for t in made["thresholds"]] == [(80, "forecast", ["notify"])]
    row = browser.find_element(By.ID, f"budget-{made['id']}")
    assert name in row.text and "80 % forecast: notify" in row.text
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    visit.wait("the budget gone", lambda d: not d.find_elements(By.ID, f"budget-{made['id']}"))
    assert asyncio.run(budgets_named()) == []

    # A period rated again: a date that is not one refused in the form, an end before the start by the API.
    today = datetime.now(UTC).date()
    visit.fill("rerate", {"start": today.isoformat(), "end": "tomorrow"})
    visit.submit("rerate")
    visit.wait("the end refused", lambda d: d.find_elements(By.ID, "error-end"))
    visit.fill("rerate", {"start": today.isoformat(), "end": (today - timedelta(days=1)).isoformat()})
    visit.submit("rerate")
    visit.wait("the end refused by the API", lambda d: d.find_elements(By.ID, "error-end"))
    visit.fill("rerate", {"start": today.isoformat(), "end": (today + timedelta(days=1)).isoformat()})
    visit.submit("rerate")
    notice = visit.wait("the re-rating done", lambda d: d.find_elements(By.CSS_SELECTOR, "p.notice"))[0]
    assert f"Rated {today.isoformat()} 00:00 to {today + timedelta(days=1)} 00:00 UTC again:" in notice.text
    assert notice.text.endswith("Correction lines.")
    visit.shot("costs-rerated")
    assert not visit.csp_violations()


async def test_a_budget_blocks_launches_within_seconds_and_unblocks_when_raised(platform: Platform) -> None:
    """The whole path, nothing published by hand: a server's rated usage crosses its tag's budget, billing publishes
    the block, the provisioner refuses the next launch with the tag (409 `budget_exceeded`) and launches others;
    the owner raises the amount and the same launch is taken."""
    tag = f"b{uuid.uuid4().hex[:8]}"
    launch = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small", "tags": {"budget": tag}}
    async with platform.client() as client:
        body = {
            "name": f"cap-{tag}", "scope": {"kind": "tag", "tag_key": "budget", "tag_value": tag},
            "amount": "0.000001", "currency": "USD",
            "thresholds": [{"percent": 100, "actions": ["notify", "block_launches"]}],
        }  # fmt: skip
        made = await client.post("/v1/budgets", json=body)
        assert made.status_code == 201, made.text
        budget = made.json()
        first = (await client.post("/v1/instances", json={**launch, "name": f"{tag}-1"})).json()
        await wait_for_state(client, first["id"], "running")
        await asyncio.sleep(1.0)  # a second of sim.small (0.02 an hour) is well over the budget's 0.000001
        assert (await client.post(f"/v1/instances/{first['id']}/actions/stop")).status_code == 202
        await wait_for_state(client, first["id"], "stopped")
        stopped_at = asyncio.get_running_loop().time()

        async def refused() -> dict[str, Any] | None:
            answer = await client.post("/v1/instances", json={**launch, "name": f"{tag}-2"})
            if answer.status_code == 202:
                await client.delete(f"/v1/instances/{answer.json()['id']}")
                return None
            return dict(answer.json()) if answer.status_code == 409 else None

        problem = await eventually(refused, within=20, what="the budget's block")
        blocked_after = asyncio.get_running_loop().time() - stopped_at
        assert problem["code"] == "budget_exceeded" and problem["budget_id"] == budget["id"], problem
        assert blocked_after < 20
        # Only the tag's launches: another server of the project is taken.
        other = await client.post("/v1/instances", json={**launch, "tags": {"budget": "other"}, "name": f"{tag}-o"})
        assert other.status_code == 202, other.text
        state = (await client.get(f"/v1/budgets/{budget['id']}")).json()
        assert state["launches_blocked"] is True and Decimal(state["spent"]) > Decimal("0.000001"), state

        raised = await client.put(f"/v1/budgets/{budget['id']}", json={**body, "amount": "1000"})
        assert raised.status_code == 200, raised.text

        async def taken() -> str | None:
            answer = await client.post("/v1/instances", json={**launch, "name": f"{tag}-3"})
            return str(answer.json()["id"]) if answer.status_code == 202 else None

        third = await eventually(taken, within=20, what="launches allowed again")
        for instance_id in (first["id"], other.json()["id"], third):
            await client.delete(f"/v1/instances/{instance_id}")
        assert (await client.delete(f"/v1/budgets/{budget['id']}")).status_code == 204
