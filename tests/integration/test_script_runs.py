"""Operational script runs on SimCloud instances over SSH to a real OpenSSH server, on the whole provisioner app with
real PostgreSQL and RabbitMQ: a run succeeds with its output, a failing script fails with its exit code, a slow one
times out, a server whose host key changed is refused, and a secret never shows in an answer, the output or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devstack import SshServer
from kernel.settings import KernelSettings
from services.provisioner.app import create_app
from services.provisioner.settings import ProvisionerSettings
from tests.conftest import Servers, ssh_server
from tests.integration.provisioner_world import ok, until, use_secret_key
from tests.integration.test_templates import Tap, tap  # noqa: F401 - the fixture
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

# Configured clouds (the built-in `sim` among them) belong to the default project.
H = identity_headers("default")
SECRET = "hunter2-very-secret-value"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


@contextlib.asynccontextmanager
async def _provisioner(kernel_settings: KernelSettings, sshd: SshServer) -> AsyncIterator[httpx.AsyncClient]:
    """The provisioner app whose SimCloud guests answer SSH on `sshd`, and a client of it."""
    settings = ProvisionerSettings(
        kernel=kernel_settings,
        follow_interval=0.05,
        sync_interval_seconds=0,
        sim_options={"speedup": 1000, "guest_ssh": sshd.guest_ssh()},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://provisioner", timeout=30) as http:
            yield http


@pytest.fixture
async def client(kernel_settings: KernelSettings, sshd: SshServer) -> AsyncIterator[httpx.AsyncClient]:
    async with _provisioner(kernel_settings, sshd) as http:
        yield http


@pytest.fixture
def own_sshd(servers: Servers) -> Iterator[SshServer]:
    """An OpenSSH server for one test that changes it: the session's is shared by the platforms of other modules,
    whose guests print the keys it had when they booted."""
    with ssh_server(servers.root / f"sshd-{uuid.uuid4().hex[:8]}") as server:
        yield server


async def _template(client: httpx.AsyncClient, **spec: Any) -> str:
    made = {
        "name": f"base-{uuid.uuid4().hex[:8]}",
        "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        **spec,
    }
    return str(ok(await client.post("/v1/templates", headers=H, json=made), 201)["template_id"])


async def _launched(client: httpx.AsyncClient, launch: dict[str, Any]) -> str:
    instance = ok(await client.post("/v1/instances", headers=H, json={"cloud_id": "sim", **launch}), 202)["id"]
    await until(client, f"/v1/instances/{instance}", H, lambda r: r["state"] == "running")
    return str(instance)


async def _instance(client: httpx.AsyncClient, name: str, template: str | None = None) -> str:
    """A running SimCloud instance launched from a template: nothing but the launch authorizes the project's key."""
    return await _launched(client, {"name": name, "template_id": template or await _template(client)})


async def _script(client: httpx.AsyncClient, name: str, body: str, timeout: int = 30, **extra: Any) -> str:
    made = {"name": name, "phase": extra.pop("phase", "operational"), "timeout_seconds": timeout, "body": body, **extra}
    return str(ok(await client.post("/v1/scripts", headers=H, json=made), 201)["script_id"])


async def _ended(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    return dict(await until(client, f"/v1/runs/{run_id}", H, lambda r: r["state"] not in ("queued", "running")))


async def _output(client: httpx.AsyncClient, run_id: str) -> str:
    text, offset = "", 0
    deadline = time.monotonic() + 30
    while True:
        got = ok(await client.get(f"/v1/runs/{run_id}/output", headers=H, params={"offset": offset}))
        text += str(got["text"])
        offset = got["next_offset"]
        if got["ended"]:
            return str(text)
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_runs_succeed_fail_and_mask_secrets(client: httpx.AsyncClient, tap: Tap) -> None:  # noqa: F811
    instance = await _instance(client, "web-1")
    body = "#!/bin/sh\necho hello {{ who }} from $(id -un)\necho 'token {{ token }}' >&2\nexit {{ code }}\n"
    inputs = [
        {"name": "who", "type": "text", "default": "world"},
        {"name": "token", "type": "secret", "required": True},
        {"name": "code", "type": "number", "default": 0},
    ]
    script = await _script(client, "hello", body, inputs=inputs)
    run = ok(
        await client.post(
            f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script, "inputs": {"token": SECRET}}
        ),
        202,
    )
    assert run["state"] == "queued" and run["inputs"]["token"]["value"] == "********"
    done = await _ended(client, run["id"])
    assert done["state"] == "succeeded" and done["exit_code"] == 0, done
    assert done["host_key"].startswith("SHA256:")
    text = await _output(client, run["id"])
    assert "hello world from" in text and "token ********" in text and SECRET not in text

    failing = {"script_id": script, "inputs": {"token": SECRET, "code": 3}}
    run = ok(await client.post(f"/v1/instances/{instance}/runs", headers=H, json=failing), 202)
    done = await _ended(client, run["id"])
    assert (done["state"], done["exit_code"], done["problem"]) == ("failed", 3, "script_failed")

    listed = ok(await client.get(f"/v1/instances/{instance}/runs", headers=H))["items"]
    assert len(listed) == 2
    await tap.until("script_run.failed")
    assert any("script_run.succeeded" in b for b in tap.bodies)
    assert not any(SECRET in b for b in tap.bodies)


async def test_a_run_times_out(client: httpx.AsyncClient) -> None:
    instance = await _instance(client, "slow-1")
    script = await _script(client, "slow", "#!/bin/sh\necho started\nsleep 30\n", timeout=2)
    run = ok(await client.post(f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script}), 202)
    # What a script printed shows while it runs, even when nothing follows it for a while.
    early = await until(client, f"/v1/runs/{run['id']}/output", H, lambda r: "started" in r["text"] or r["ended"])
    assert "started" in early["text"] and not early["ended"], early
    done = await _ended(client, run["id"])
    assert done["state"] == "timed_out" and done["exit_code"] is None
    assert "started" in await _output(client, run["id"])


async def test_a_changed_host_key_refuses_the_run(kernel_settings: KernelSettings, own_sshd: SshServer) -> None:
    async with _provisioner(kernel_settings, own_sshd) as client:
        instance = await _instance(client, "moved-1")
        script = await _script(client, "touch", "#!/bin/sh\ntouch ran-after-key-change\n")
        own_sshd.new_host_keys()
        own_sshd.restart()
        run = ok(await client.post(f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script}), 202)
        done = await _ended(client, run["id"])
        assert (done["state"], done["problem"], done["exit_code"]) == ("failed", "host_key_mismatch", None)
        assert done["started_at"] is None


async def test_a_plain_launch_with_the_imported_project_key_runs_too(client: httpx.AsyncClient) -> None:
    key = ok(await client.get("/v1/runs/key", headers=H))["public_key"]
    body = {"cloud_id": "sim", "name": "clanavi-runs", "public_key": key}
    made = ok(await client.post("/v1/key-pairs/import", headers=H, json=body), 201, 202)
    await until(client, f"/v1/key-pairs/{made['id']}", H, lambda r: r["state"] == "available")
    plain = {"name": "plain-1", "image_id": "img-debian-12", "flavor_id": "sim.small", "key_name": "clanavi-runs"}
    instance = await _launched(client, plain)
    script = await _script(client, "whoami", "#!/bin/sh\necho plain launch ok\n")
    run = ok(await client.post(f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script}), 202)
    assert (await _ended(client, run["id"]))["state"] == "succeeded"
    assert "plain launch ok" in await _output(client, run["id"])


async def test_a_run_on_a_stopped_instance_is_refused(client: httpx.AsyncClient) -> None:
    instance = await _instance(client, "stopped-1")
    script = await _script(client, "noop", "#!/bin/sh\ntrue\n")
    ok(await client.post(f"/v1/instances/{instance}/actions/stop", headers=H), 202)
    answer = await client.post(f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script})
    assert answer.status_code == 409, answer.text
    assert answer.json()["errors"][0]["location"] == "path.instance_id"
    assert ok(await client.get(f"/v1/instances/{instance}/runs", headers=H))["items"] == []
    missing = await client.post(
        f"/v1/instances/{instance}/runs", headers=H, json={"script_id": script, "inputs": {"x": 1}}
    )
    assert missing.status_code == 409


async def test_decommission_scripts_run_in_order_before_the_terminate_whatever_they_do(
    client: httpx.AsyncClient,
    tap: Tap,  # noqa: F811
) -> None:
    site = [{"name": "site", "type": "text", "required": True}]
    failing = await _script(
        client, "farewell", "#!/bin/sh\necho leaving {{ site }}\nexit 3\n", phase="decommission", inputs=site
    )
    slow = await _script(client, "linger", "#!/bin/sh\necho lingering\nsleep 30\n", timeout=2, phase="decommission")
    last = await _script(client, "drain", "#!/bin/sh\necho drained as $(id -un)\n", phase="decommission")
    scripts = [{"script_id": s} for s in (failing, slow, last)]
    template = await _template(client, decommission_scripts=scripts, values={"site": "shop.example.org"})
    instance = await _instance(client, "leaving-1", template)

    ok(await client.delete(f"/v1/instances/{instance}", headers=H), 202)
    assert ok(await client.get(f"/v1/instances/{instance}", headers=H))["state"] == "terminating"
    await until(client, f"/v1/instances/{instance}", H, lambda r: r["state"] == "terminated")

    runs = sorted(ok(await client.get(f"/v1/instances/{instance}/runs", headers=H))["items"], key=lambda r: r["name"])
    by_name = {r["name"]: r for r in runs}
    assert {r["phase"] for r in runs} == {"decommission"} and len({r["batch_id"] for r in runs}) == 1
    assert (by_name["farewell"]["state"], by_name["farewell"]["exit_code"]) == ("failed", 3)
    assert by_name["linger"]["state"] == "timed_out"
    assert by_name["drain"]["state"] == "succeeded"
    # One after another, in the template's order, all ended before the instance was terminated.
    order = [by_name[n] for n in ("farewell", "linger", "drain")]
    assert all(a["ended_at"] <= b["started_at"] for a, b in zip(order, order[1:], strict=False))
    assert "leaving shop.example.org" in await _output(client, by_name["farewell"]["id"])
    assert "lingering" in await _output(client, by_name["linger"]["id"])
    assert "drained as" in await _output(client, by_name["drain"]["id"])
    await tap.until('"instance.terminated"')
    terminated = next(json.loads(b) for b in tap.bodies if '"instance.terminated"' in b and instance in b)
    assert max(r["ended_at"] for r in runs) < terminated["occurred_at"]


async def test_an_instance_without_decommission_scripts_terminates_at_once(client: httpx.AsyncClient) -> None:
    instance = await _instance(client, "plain-leaving")
    ok(await client.delete(f"/v1/instances/{instance}", headers=H), 202)
    await until(client, f"/v1/instances/{instance}", H, lambda r: r["state"] == "terminated")
    assert ok(await client.get(f"/v1/instances/{instance}/runs", headers=H))["items"] == []
