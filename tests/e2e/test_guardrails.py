"""Guard-rails and approvals through the gateway, the installed `clanavi` command and the console: an owner sets a
project's quotas, lifetime and approval threshold; a costly launch waits until the owner approves it (then runs) or
rejects it (then ends `rejected`, no longer counted); the quota refuses one too many, naming it; a lifetime ends in a
stop; a viewer can neither change the guard-rails nor decide, another project does not find the approval; in the
console owners get the form and the buttons, viewers neither, and a forged decision is refused by the API."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.console_kit import CONSOLE, csrf_of, logged_in
from tests.e2e.platform import TOKEN, Platform, wait_for_state
from tests.e2e.tenants import user_in
from tests.e2e.test_cli import SIM, Shell

pytestmark = pytest.mark.e2e
# The command runs this checkout's code, wherever the package was installed from.
CODE = {"PYTHONPATH": str(Path(__file__).parents[2])}


def test_guardrails_and_approvals_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    admin = Shell(tmp_path / "admin", CLANAVI_URL=url, CLANAVI_TOKEN=TOKEN, **CODE)
    for project in ("rails", "elsewhere"):
        admin("projects", "create", "--id", project, "--name", project.title())
    shells = {}
    for project, role in (("rails", "owner"), ("rails", "viewer"), ("elsewhere", "owner")):
        key = admin("api-keys", "create", "--name", role, "--role", role, "-p", project, "-o", "json").json()["key"]
        shells[project, role] = shell = Shell(tmp_path / f"{project}-{role}", **CODE)
        shell("login", "--url", url, "--api-key", "--stdin", stdin=key + "\n")
    owner, viewer, stranger = shells["rails", "owner"], shells["rails", "viewer"], shells["elsewhere", "owner"]
    cloud = owner("clouds", "add", "--name", "sim-rails", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]

    rails = ("--max-instances", "2", "--approval-threshold", "10", "--currency", "USD", "--max-lifetime-hours", "24")
    set_ = owner("guardrails", "set", *rails, "--expiry-warning", "1", "--required-tag", "team", "-o", "json").json()
    assert (set_["version"], set_["max_instances"], set_["approval_threshold"]) == (1, 2, "10")
    assert viewer("guardrails", "show", "-o", "json").json()["required_tags"] == {"team": []}
    assert viewer("guardrails", "set", "--max-instances", "99", expect=1).err.startswith("clanavi: 403 ")

    launch = ("instances", "launch", "--image", "img-debian-12", "--cloud", cloud, "--tag", "team=web")
    untagged = owner("instances", "launch", "--image", "img-debian-12", "--flavor", "sim.nano", "--cloud", cloud,
                     "--name", "bare", expect=1)  # fmt: skip
    assert untagged.err.startswith("clanavi: 422 ") and "tags.team" in untagged.err
    # sim.small costs 14.60 USD a month at SimCloud's built-in prices: more than the threshold.
    costly = owner(*launch, "--flavor", "sim.small", "--name", "big", "--lifetime-hours", "12", "-o", "json")
    big = costly.json()[0] if isinstance(costly.json(), list) else costly.json()
    assert big["state"] == "awaiting_approval" and "waits for approval" in costly.err
    approval = big["approval"]["id"]
    pending = viewer("approvals", "list", "--state", "pending", "-o", "json").json()
    assert [(a["id"], a["monthly"], a["threshold"]) for a in pending] == [(approval, "14.6000", "10")]
    assert viewer("approvals", "approve", approval, expect=1).err.startswith("clanavi: 403 ")
    assert stranger("approvals", "show", approval, expect=1).err.startswith("clanavi: 404 ")
    assert stranger("approvals", "approve", approval, expect=1).err.startswith("clanavi: 404 ")

    approved = owner("approvals", "approve", approval, "-o", "json").json()
    assert approved["state"] == "approved" and approved["decided_by"].startswith("key:")
    assert owner("approvals", "approve", approval, "-o", "json").json() == approved
    running = owner.poll("instances", "show", big["id"], until=lambda i: i["state"] == "running")
    assert running["state"] == "running" and running["expires_at"] is not None

    second = owner(*launch, "--flavor", "sim.small", "--name", "big2", "-o", "json").json()
    second = second[0] if isinstance(second, list) else second
    rejected = owner("approvals", "reject", second["approval"]["id"], "--reason", "too big", "-o", "json").json()
    assert (rejected["state"], rejected["reason"]) == ("rejected", "too big")
    assert owner("approvals", "approve", second["approval"]["id"], expect=1).err.startswith("clanavi: 409 ")
    ended = owner("instances", "show", second["id"], "-o", "json").json()
    assert (ended["state"], ended["provider_id"]) == ("rejected", None)

    # A rejected launch no longer counts: one more fits, then the quota of 2 refuses the next, naming it.
    brief = owner(*launch, "--flavor", "sim.nano", "--name", "brief", "--lifetime-hours", "0.0005", "-o", "json")
    short = brief.json()[0] if isinstance(brief.json(), list) else brief.json()
    assert short["state"] == "requested"
    over = owner(*launch, "--flavor", "sim.nano", "--name", "over", expect=1)
    assert over.err.startswith("clanavi: 409 ") and "max_instances: 2 used + 1 > 2" in over.err

    # Its lifetime of under two seconds ends in a stop (the project's expiry action).
    stopped = owner.poll("instances", "show", short["id"], until=lambda i: i["state"] == "stopped", within=30)
    assert stopped["state"] == "stopped"
    extended = owner("instances", "extend", big["id"], "--hours", "1", "-o", "json").json()
    assert extended["expires_at"] > running["expires_at"]
    assert viewer("instances", "extend", big["id"], "--hours", "1", expect=1).err.startswith("clanavi: 403 ")
    too_long = owner("instances", "extend", big["id"], "--hours", "48", expect=1)
    assert too_long.err.startswith("clanavi: 422 ")


def _main(page: str) -> str:
    return page.split("<main", 1)[1].split("</main>")[0]


async def test_the_console_sets_guardrails_and_owners_decide_approvals(platform: Platform) -> None:
    async with platform.client() as admin:
        made = await admin.post("/v1/projects", json={"id": "railed", "name": "Railed"})
        assert made.status_code == 201, made.text
        for role in ("owner", "viewer"):
            await user_in(admin, f"{role}-railed@example.com", "railed", role)
    async with logged_in(platform, "owner-railed@example.com") as owner:
        form = await owner.get(f"{CONSOLE}/guardrails")
        assert form.status_code == 200 and 'name="approval_threshold"' in form.text, form.text
        saved = await owner.post(
            f"{CONSOLE}/guardrails",
            data={"csrf": csrf_of(form.text), "approval_threshold": "1", "currency": "USD", "max_instances": "",
                  "required_tags": "", "expiry_warnings": "", "expiry_action": "stop"},
        )  # fmt: skip
        assert saved.status_code == 200 and "Saved as version 1." in saved.text, saved.text
        wrong = await owner.post(
            f"{CONSOLE}/guardrails", data={"csrf": csrf_of(saved.text), "approval_threshold": "5", "currency": ""}
        )
        assert wrong.status_code == 422 and 'id="error-currency"' in wrong.text, wrong.text
    async with platform.client() as admin:
        admin.headers["X-Clanavi-Project"] = "railed"
        config = {"boot_seconds": 0.2}
        cloud = await admin.post("/v1/clouds", json={"name": "sim-railed", "driver": "simcloud", "config": config})
        assert cloud.status_code == 201, cloud.text
        body = {"cloud_id": cloud.json()["id"], "name": "costly", "image_id": "img-debian-12", "flavor_id": "sim.small"}
        launched = await admin.post("/v1/instances", json=body)
        assert launched.status_code == 202, launched.text
        waiting: dict[str, Any] = launched.json()
    approval = waiting["approval"]["id"]
    async with logged_in(platform, "viewer-railed@example.com") as viewer:
        seen = await viewer.get(f"{CONSOLE}/approvals")
        assert seen.status_code == 200 and waiting["id"] in seen.text
        assert "Approve" not in _main(seen.text)
        rails = await viewer.get(f"{CONSOLE}/guardrails")
        assert 'name="approval_threshold"' not in rails.text and "Owners change them." in rails.text
        forged = await viewer.post(
            f"{CONSOLE}/approvals/{approval}", data={"csrf": csrf_of(seen.text), "decision": "approve"}
        )
        assert forged.status_code == 403 and 'role="alert"' in forged.text, forged.text
    async with logged_in(platform, "owner-railed@example.com") as owner:
        page = await owner.get(f"{CONSOLE}/approvals", params={"state": "pending"})
        assert re.search(rf'action="{CONSOLE}/approvals/{approval}"', page.text), page.text
        decided = await owner.post(
            f"{CONSOLE}/approvals/{approval}", data={"csrf": csrf_of(page.text), "decision": "approve"}
        )
        assert decided.status_code == 303 and decided.headers["location"] == f"{CONSOLE}/approvals?state=approved"
        after = await owner.get(decided.headers["location"])
        assert "approved by" in html.unescape(after.text)
    async with platform.client() as admin:
        admin.headers["X-Clanavi-Project"] = "railed"
        await wait_for_state(admin, waiting["id"], "running")
