"""Guard-rails and approvals through the gateway, the installed `clanavi` command and the console: an owner sets a
project's quotas, lifetime and approval threshold; a costly launch waits until the owner approves it (then runs) or
rejects it (then ends `rejected`, no longer counted); the quota refuses one too many, naming it; a lifetime ends in a
stop; a viewer can neither change the guard-rails nor decide, another project does not find the approval; in the
console owners get the form and the buttons, viewers neither, and a forged decision is refused by the API."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role
from tests.e2e.console_kit import CONSOLE, csrf_of, logged_in
from tests.e2e.platform import TOKEN, Platform, wait_for_state
from tests.e2e.tenants import user_in
from tests.e2e.test_cli import SIM, Shell

pytestmark = pytest.mark.e2e
FORGER = IdentitySigner(b"not-the-platform-s-internal-key-0123456789")
# The command runs this checkout's code, wherever the package was installed from.
CODE = {"PYTHONPATH": str(Path(__file__).parents[2])}


def test_guardrails_and_approvals_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    keys = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as admin:
        for project in ("rails", "elsewhere"):
            assert admin.post("/v1/projects", json={"id": project, "name": project.title()}).status_code == 201
        for project, role in (("rails", "owner"), ("rails", "viewer"), ("elsewhere", "owner")):
            made = admin.post("/v1/api-keys", json={"name": role, "role": role}, headers={"X-Clanavi-Project": project})
            keys[project, role] = made.json()["key"]
    owner = Shell(tmp_path / "owner", **CODE)
    owner("login", "--url", url, "--api-key", "--stdin", stdin=keys["rails", "owner"] + "\n")
    viewer, stranger = (
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys[k]}"}, timeout=30)
        for k in (("rails", "viewer"), ("elsewhere", "owner"))
    )
    with viewer, stranger:
        cloud = owner("clouds", "add", "--name", "sim-rails", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
        rails = ["--max-instances", "2", "--approval-threshold", "10", "--currency", "USD"]
        rails += ["--max-lifetime-hours", "24", "--expiry-warning", "1", "--required-tag", "team"]
        set_ = owner("guardrails", "set", *rails, "-o", "json").json()
        assert (set_["version"], set_["max_instances"], set_["approval_threshold"]) == (1, 2, "10")
        assert viewer.get("/v1/guardrails").json()["required_tags"] == {"team": []}
        assert viewer.put("/v1/guardrails", json={"max_instances": 99}).status_code == 403

        machine = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.nano"}
        assert viewer.post("/v1/instances", json={**machine, "name": "bare"}).status_code == 403
        launch = ("instances", "launch", "--image", "img-debian-12", "--cloud", cloud)
        # sim.small costs 14.60 USD a month at SimCloud's built-in prices: more than the threshold.
        costly = owner(*launch, "--tag", "team=web", "--flavor", "sim.small", "--name", "big", "--lifetime-hours", "12",
                       "-o", "json")  # fmt: skip
        big = costly.json()[0] if isinstance(costly.json(), list) else costly.json()
        assert big["state"] == "awaiting_approval" and "waits for approval" in costly.err
        approval = big["approval"]["id"]
        pending = owner("approvals", "list", "--state", "pending", "-o", "json").json()
        assert [(a["id"], a["monthly"], a["threshold"]) for a in pending] == [(approval, "14.6000", "10")]
        assert viewer.post(f"/v1/approvals/{approval}/approve").status_code == 403
        # An owner's identity signed with a key of the viewer's own, and a role header: the gateway heeds neither,
        # and the provisioner itself refuses the forged identity.
        forged = {
            IDENTITY_HEADER: FORGER.sign(Identity("user:mallory", "rails", Role.OWNER)),
            "X-Clanavi-Role": "owner",
        }
        assert viewer.post(f"/v1/approvals/{approval}/approve", headers=forged).status_code == 403
        provisioner = f"http://127.0.0.1:{platform.processes['provisioner'].port}"
        direct = httpx.post(f"{provisioner}/v1/approvals/{approval}/approve", headers=forged, timeout=30)
        assert direct.status_code == 401, direct.text
        assert stranger.get(f"/v1/approvals/{approval}").status_code == 404
        assert stranger.post(f"/v1/approvals/{approval}/approve").status_code == 404

        approved = owner("approvals", "approve", approval, "-o", "json").json()
        assert approved["state"] == "approved" and approved["decided_by"].startswith("key:")
        assert owner("approvals", "approve", approval, "-o", "json").json() == approved
        running = wait_until(viewer, big["id"], "running")
        assert running["expires_at"] is not None

        second = owner(*launch, "--tag", "team=web", "--flavor", "sim.small", "--name", "big2", "-o", "json").json()
        second = second[0] if isinstance(second, list) else second
        rejected = owner("approvals", "reject", second["approval"]["id"], "--reason", "too big", "-o", "json").json()
        assert (rejected["state"], rejected["reason"]) == ("rejected", "too big")
        assert viewer.get(f"/v1/instances/{second['id']}").json()["state"] == "rejected"

        # A rejected launch no longer counts: one more fits, then the quota of 2 refuses the next, naming it.
        brief = owner(*launch, "--tag", "team=db", "--flavor", "sim.nano", "--name", "brief", "--lifetime-hours",
                      "0.0005", "-o", "json")  # fmt: skip
        short = brief.json()[0] if isinstance(brief.json(), list) else brief.json()
        assert short["state"] == "requested"
        over = owner(*launch, "--flavor", "sim.nano", "--name", "over", "--tag", "team=db", expect=1)
        assert over.err.startswith("clanavi: 409 ") and "max_instances: 2 used + 1 > 2" in over.err

        # Its lifetime of under two seconds ends in a stop (the project's expiry action).
        wait_until(viewer, short["id"], "stopped")
        extended = owner("instances", "extend", big["id"], "--hours", "1", "-o", "json").json()
        assert extended["expires_at"] > running["expires_at"]
        assert viewer.post(f"/v1/instances/{big['id']}/extend", json={"hours": 1}).status_code == 403


def wait_until(client: httpx.Client, instance_id: str, state: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        found = client.get(f"/v1/instances/{instance_id}").json()
        if found["state"] == state:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


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
