"""Budgets that act, on the platform as processes: the billing service's `budget.launches_blocked` published on the
bus (as billing publishes it) refuses a project's launches through the gateway and the installed `clanavi` command
with 409 `budget_exceeded`, the scaler's launches too (its group backs off), while another project launches; the
owner sees why with `clanavi launch-blocks list` and on the console's instances page; the unblock allows launches
again and the group reaches its size."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.events import BudgetLaunchesBlocked, BudgetLaunchesUnblocked, BudgetScope, new_event
from tests.e2e.console_kit import CONSOLE, csrf_of, logged_in
from tests.e2e.platform import Platform, eventually
from tests.e2e.tenants import user_in
from tests.e2e.test_cli import SIM, Shell

pytestmark = pytest.mark.e2e
# The command runs this checkout's code, wherever the package was installed from.
CODE = {"PYTHONPATH": str(Path(__file__).parents[2])}
PROJECT = "budgeted"


def budget_event(blocked: bool, project: str = PROJECT) -> Any:
    cls = BudgetLaunchesBlocked if blocked else BudgetLaunchesUnblocked
    reason = "spent 120.00 of 100.00 USD" if blocked else "the budget was raised to 500.00 USD"
    payload = cls(
        budget_id="bud-e2e", name="monthly", scope=BudgetScope(kind="project"), period="2026-12", reason=reason
    )
    return new_event(payload, project_id=project, correlation_id=f"corr-{uuid.uuid4().hex[:8]}")


async def test_a_budgets_block_refuses_launches_until_it_is_lifted(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    async with platform.client() as admin:
        keys = {}
        for project in (PROJECT, "unbudgeted"):
            assert (await admin.post("/v1/projects", json={"id": project, "name": project})).status_code == 201
            made = await admin.post(
                "/v1/api-keys", json={"name": "owner", "role": "owner"}, headers={"X-Clanavi-Project": project}
            )
            keys[project] = made.json()["key"]
        await user_in(admin, "owner-budgeted@example.com", PROJECT, "owner")
    owner = Shell(tmp_path / "owner", **CODE)
    owner("login", "--url", url, "--api-key", "--stdin", stdin=keys[PROJECT] + "\n")
    api = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {keys[PROJECT]}"}, timeout=30)
    stranger = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {keys['unbudgeted']}"}, timeout=30)
    async with api, stranger:
        cloud = owner("clouds", "add", "--name", "sim-b", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
        elsewhere = (
            await stranger.post("/v1/clouds", json={"name": "sim-u", "driver": "simcloud", "config": {}})
        ).json()["id"]
        machine = {"image_id": "img-debian-12", "flavor_id": "sim.small"}
        template = await api.post("/v1/templates", json={"name": "web", "clouds": [{"cloud_id": cloud, **machine}]})
        assert template.status_code == 201, template.text

        await platform.publish(budget_event(True))

        async def refused() -> dict[str, Any] | None:
            answer = await api.post("/v1/instances", json={"cloud_id": cloud, "name": "x", **machine})
            assert answer.status_code in (202, 409), answer.text
            return answer.json() if answer.status_code == 409 else None

        problem = await eventually(refused, within=10, what="the block to refuse launches")
        assert (problem["code"], problem["budget_id"], problem["budget_name"]) == (
            "budget_exceeded",
            "bud-e2e",
            "monthly",
        )
        assert "raise the budget" in problem["detail"]
        # The instance launched before the block was seen is the only one; another project launches as before.
        launch = ("instances", "launch", "--cloud", cloud, "--image", "img-debian-12", "--flavor", "sim.small")
        denied = owner(*launch, "--name", "cli", expect=1)
        assert "budget" in denied.err, denied.err
        previewed = owner(*launch, "--name", "cli", "--dry-run", "-o", "json")
        assert previewed.json()["launch_block"]["budget_name"] == "monthly"
        assert "budget monthly blocks this launch now" in previewed.err, previewed.err
        other = await stranger.post("/v1/instances", json={"cloud_id": elsewhere, "name": "y", **machine})
        assert other.status_code == 202, other.text
        [shown] = owner("launch-blocks", "list", "-o", "json").json()
        assert (shown["budget_name"], shown["scope"]["kind"], shown["period"]) == ("monthly", "project", "2026-12")
        assert (await stranger.get("/v1/launch-blocks")).json()["items"] == []
        async with logged_in(platform, "owner-budgeted@example.com") as browser:
            page = await browser.get(f"{CONSOLE}/instances")
            assert page.status_code == 200 and 'id="launch-blocks"' in page.text and "monthly" in page.text
            form = await browser.get(f"{CONSOLE}/instances/new", params={"cloud_id": cloud})
            asked = {"cloud_id": cloud, "name": "console", **machine, "csrf": csrf_of(form.text)}
            preview = await browser.post(f"{CONSOLE}/instances/preview", data=asked, headers={"HX-Request": "true"})
            assert preview.status_code == 200 and "Budget monthly blocks this launch now" in preview.text

        # The scaler's launches are refused by command: its group backs off.
        body = {
            "name": "web", "template_id": template.json()["template_id"], "template_version": 1,
            "allowed_clouds": [cloud], "cooldown_seconds": 0, "min_size": 1, "max_size": 1,
        }  # fmt: skip

        async def group_made() -> dict[str, Any] | None:
            answer = await api.post("/v1/scaling-groups", json=body)
            assert answer.status_code in (201, 422), answer.text
            return answer.json() if answer.status_code == 201 else None

        group = (await eventually(group_made, what="the scaler to know the template"))["id"]

        async def backing_off() -> dict[str, Any] | None:
            found: dict[str, Any] = (await api.get(f"/v1/scaling-groups/{group}")).json()
            return found if found["backoff_until"] is not None and found["failures"] >= 1 else None

        await eventually(backing_off, within=30, what="the group to back off")

        await platform.publish(budget_event(False))

        async def allowed() -> dict[str, Any] | None:
            answer = await api.post("/v1/instances", json={"cloud_id": cloud, "name": "after", **machine})
            assert answer.status_code in (202, 409), answer.text
            return answer.json() if answer.status_code == 202 else None

        await eventually(allowed, within=10, what="the unblock to allow launches")
        assert owner("launch-blocks", "list", "-o", "json").json() == []
        async with logged_in(platform, "owner-budgeted@example.com") as browser:
            page = await browser.get(f"{CONSOLE}/instances")
            assert 'id="launch-blocks"' not in page.text

        async def grown() -> list[Any] | None:
            items: list[Any] = (await api.get(f"/v1/scaling-groups/{group}/instances")).json()["items"]
            return items or None

        await eventually(grown, within=60, what="the group to launch its member once unblocked")
