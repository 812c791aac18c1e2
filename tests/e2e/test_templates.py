"""A server template through the gateway, as a user drives it: a script and a template made by an owner, a launch
from it on SimCloud that records the template version and its inputs (the secret masked), the boot scripts' output
on the console and their outcomes in the instance's boot section, the events in the audit without the secret; a
viewer cannot make either, and another project's template is answered like one that does not exist."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.console_kit import CONSOLE, logged_in
from tests.e2e.platform import Platform, audit_events, eventually, wait_for_state
from tests.e2e.tenants import SIM_CONFIG, login, user_in

pytestmark = pytest.mark.e2e

SECRET = "e2e-Secret-Value-0123456789"


@pytest.fixture
async def project(platform: Platform) -> AsyncIterator[str]:
    async with platform.client() as admin:
        for name in ("tpl-a", "tpl-b"):
            answer = await admin.post("/v1/projects", json={"id": name, "name": name})
            assert answer.status_code == 201, answer.text
        await user_in(admin, "tina@example.com", "tpl-a", "owner")
        await user_in(admin, "otto@example.com", "tpl-b", "owner")
        await user_in(admin, "vic@example.com", "tpl-a", "viewer")
    yield "tpl-a"


async def test_launch_from_a_template_through_the_gateway(platform: Platform, project: str) -> None:
    owner = await login(platform, "tina@example.com", project)
    viewer = await login(platform, "vic@example.com", project)
    other = await login(platform, "otto@example.com", "tpl-b")
    try:
        boot = {
            "name": "configure",
            "body": "#!/bin/sh\nPASSWORD='{{ password }}'\necho configured {{ site }}\n",
            "inputs": [
                {"name": "site", "type": "text", "default": "example.org"},
                {"name": "password", "type": "secret", "required": True},
            ],
        }
        cloud = await owner.post("/v1/clouds", json={"name": "sim", "driver": "simcloud", "config": SIM_CONFIG})
        assert cloud.status_code == 201, cloud.text
        cloud_id = cloud.json()["id"]
        assert (await viewer.post("/v1/scripts", json=boot)).status_code == 403
        script = await owner.post("/v1/scripts", json=boot)
        assert script.status_code == 201, script.text
        check = await owner.post("/v1/scripts", json={"name": "check", "body": "#!/bin/sh\necho checking\nexit 3\n"})
        assert check.status_code == 201, check.text
        template = {
            "name": "web",
            "clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
            "boot_scripts": [{"script_id": script.json()["script_id"]}, {"script_id": check.json()["script_id"]}],
            "values": {"site": "shop.example.org"},
        }
        assert (await viewer.post("/v1/templates", json=template)).status_code == 403
        made = await owner.post("/v1/templates", json=template)
        assert made.status_code == 201, made.text
        template_id = made.json()["template_id"]
        assert (await other.get(f"/v1/templates/{template_id}")).status_code == 404
        stolen = await other.post("/v1/instances", json={"name": "x", "template_id": template_id})
        assert stolen.status_code == 422 and stolen.json()["errors"][0]["location"] == "body.template_id"

        launch = {"name": "web-1", "cloud_id": cloud_id, "template_id": template_id, "inputs": {"password": SECRET}}
        answer = await owner.post("/v1/instances", json=launch)
        assert answer.status_code == 202, answer.text
        instance = answer.json()
        assert (instance["template_id"], instance["template_version"]) == (template_id, 1)
        assert instance["inputs"] == {
            "site": {"value": "shop.example.org", "level": "template", "type": "text"},
            "password": {"value": "********", "level": "server", "type": "secret"},
        }
        assert instance["boot"]["state"] == "pending"
        assert [s["state"] for s in instance["boot"]["scripts"]] == ["pending", "pending"]
        running = await wait_for_state(owner, instance["id"], "running")
        console = (await owner.get(f"/v1/instances/{instance['id']}/console")).text
        assert "]: configured shop.example.org\n" in console

        async def booted() -> dict[str, Any] | None:
            body = (await owner.get(f"/v1/instances/{instance['id']}")).json()
            return body if body["boot"]["state"] not in ("pending", "running") else None

        boot = (await eventually(booted, within=30, what="the boot's end"))["boot"]
        assert boot["state"] == "failed"
        assert [(s["script_id"], s["state"], s["exit_code"]) for s in boot["scripts"]] == [
            (script.json()["script_id"], "succeeded", None),
            (check.json()["script_id"], "failed", 3),
        ]
        listed = (await owner.get("/v1/instances")).json()["items"]
        assert [i["boot"] for i in listed if i["id"] == instance["id"]] == [boot]
        async with logged_in(platform, "tina@example.com") as browser:
            page = await browser.get(f"{CONSOLE}/instances/{instance['id']}")
        assert page.status_code == 200, page.text
        assert 'Boot <span class="state state-failed">failed</span>' in page.text
        shown = re.findall(r'<tr data-state="(\w+)"><th scope="row"><code>([^<]+)</code>', page.text)
        assert shown == [("succeeded", boot["scripts"][0]["filename"]), ("failed", boot["scripts"][1]["filename"])]

        wanted = {"script.created", "template.created", "template.version_created", "instance.requested"}
        wanted |= {"instance.boot_script_failed", "instance.boot_completed"}

        async def audited() -> list[dict[str, Any]] | None:
            found = await audit_events(owner)
            return found if wanted <= {e["type"] for e in found} else None

        events = await eventually(audited, what="the boot's events in the audit")
        seen = [answer.text, json.dumps(running), console, json.dumps(events), made.text, script.text]
        assert not [text for text in seen if SECRET in text]
    finally:
        for client in (owner, viewer, other):
            await client.aclose()
