"""A server template through the gateway, as a user drives it: a script and a template made by an owner, a launch
from it on SimCloud that records the template version and its inputs (the secret masked), the boot script's output
on the console, the events in the audit without the secret; a viewer cannot make either, and another project's
template is answered like one that does not exist."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.e2e.platform import Platform, audit_events, wait_for_state
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
        template = {
            "name": "web",
            "clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
            "boot_scripts": [{"script_id": script.json()["script_id"]}],
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
        running = await wait_for_state(owner, instance["id"], "running")
        console = (await owner.get(f"/v1/instances/{instance['id']}/console")).text
        assert "]: configured shop.example.org\n" in console

        events = await audit_events(owner)
        types = {e["type"] for e in events}
        assert {"script.created", "template.created", "template.version_created", "instance.requested"} <= types
        seen = [answer.text, json.dumps(running), console, json.dumps(events), made.text, script.text]
        assert not [text for text in seen if SECRET in text]
    finally:
        for client in (owner, viewer, other):
            await client.aclose()
