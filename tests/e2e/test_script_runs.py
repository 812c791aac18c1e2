"""Script runs through the gateway and the installed `clanavi` command, on SimCloud guests that answer SSH through a
real OpenSSH server: a launch from a template with a boot script lets runs in by itself; an operational script with a
secret input is run and its output followed with the command line; a run over three instances at most two at a time;
a failing run's exit status. And who may do what: another project's caller finds nothing (404), a viewer reads runs
but cannot start one (403), and no answer, event, audit record or output holds the secret."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.platform import TOKEN, Platform, audit_events, eventually, wait_for_state
from tests.e2e.tenants import login, user_in
from tests.e2e.test_cli import Shell

pytestmark = pytest.mark.e2e

SECRET = "e2e-Run-Secret-0123456789"


@pytest.fixture(scope="module")
def platform(ssh_platform: Platform) -> Platform:
    return ssh_platform


@pytest.fixture
async def admin(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with platform.client() as client:
        yield client


def made(answer: httpx.Response, *statuses: int) -> Any:
    assert answer.status_code in (statuses or (201,)), answer.text
    return answer.json()


async def _template(admin: httpx.AsyncClient, suffix: str) -> tuple[str, str]:
    """A template on `sim` with a boot script, and an operational script that prints what it is given."""
    boot: dict[str, Any] = {
        "name": f"hello-boot-{suffix}",
        "body": "#!/bin/sh\necho booted {{ site }}\n",
        "inputs": [{"name": "site", "type": "text", "default": "shop.example.org"}],
    }
    boot_id = made(await admin.post("/v1/scripts", json=boot))["script_id"]
    template = {
        "name": f"web-{suffix}",
        "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "boot_scripts": [{"script_id": boot_id}],
    }
    template_id = made(await admin.post("/v1/templates", json=template))["template_id"]
    deploy = {
        "name": f"deploy-{suffix}",
        "phase": "operational",
        "timeout_seconds": 30,
        "body": "#!/bin/sh\necho deploying {{ release }} as $(id -un)\necho 'token={{ token }}'\nsleep {{ pause }}\n"
        "echo done at $(date +%s)\nexit {{ code }}\n",
        "inputs": [
            {"name": "release", "type": "text", "required": True},
            {"name": "token", "type": "secret", "required": True},
            {"name": "pause", "type": "number", "default": 0},
            {"name": "code", "type": "number", "default": 0},
        ],
    }
    return template_id, made(await admin.post("/v1/scripts", json=deploy))["script_id"]


async def _launch(admin: httpx.AsyncClient, template_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = {"name": f"web-{template_id[:8]}-{n}", "cloud_id": "sim", "template_id": template_id}
        ids.append(made(await admin.post("/v1/instances", json=body), 202)["id"])
    for instance_id in ids:
        await wait_for_state(admin, instance_id, "running")
    return ids


def _overlap(runs: list[dict[str, Any]]) -> int:
    """The most runs under way at one moment."""
    moments = []
    for run in runs:
        moments += [(datetime.fromisoformat(run["started_at"]), 1), (datetime.fromisoformat(run["ended_at"]), -1)]
    most = now = 0
    for _, step in sorted(moments):
        now += step
        most = max(most, now)
    return most


async def test_runs_through_the_gateway_and_the_command_line(
    platform: Platform, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    template_id, script_id = await _template(admin, "cli")
    first, *others = await _launch(admin, template_id, 3)
    console = (await admin.get(f"/v1/instances/{first}/console")).text
    assert "booted shop.example.org" in console
    # The installed command, running this checkout's package (the one the services run too).
    here = str(Path(__file__).resolve().parents[2])
    shell = Shell(tmp_path / "ops", CLANAVI_URL=platform.gateway_url, CLANAVI_TOKEN=TOKEN, PYTHONPATH=here)

    # One run, followed: the output as it comes, the secret typed off the command line and masked.
    ran = shell(
        "runs", "start", first, "--script", script_id, "--input", "release=v42", "--secret-input", "token",
        "--follow", stdin=f"{SECRET}\n",
    )  # fmt: skip
    assert "deploying v42 as " in ran.out and "token=********" in ran.out and "done at " in ran.out
    assert SECRET not in ran.out + ran.err
    runs = shell("runs", "list", "--instance", first, "-o", "json").json()
    assert [(r["state"], r["exit_code"], r["phase"]) for r in runs] == [("succeeded", 0, "operational")]
    shown = shell("runs", "show", runs[0]["id"], "-o", "json").json()
    assert shown["inputs"]["token"]["value"] == "********" and shown["host_key"].startswith("SHA256:")
    again = shell("runs", "output", runs[0]["id"]).out
    assert "token=********" in again and SECRET not in again

    # A failing run: exit status 1 and one line saying why.
    failing = shell(
        "runs", "start", first, "--script", script_id, "--input", "release=v43", "--input", "code=4",
        "--secret-input", "token", "--follow", stdin=f"{SECRET}\n", expect=1,
    )  # fmt: skip
    assert failing.err.strip().splitlines()[-1].endswith("failed: the script exited with 4")

    # Three instances, at most two at a time.
    bulk = shell(
        "runs", "start", "--script", script_id, "--instance", first, "--instance", others[0],
        "--instance", others[1], "--input", "release=v44", "--input", "pause=1", "--secret-input", "token",
        "--concurrency", "2", "--follow", "-o", "json", stdin=f"{SECRET}\n",
    )  # fmt: skip
    done = bulk.json()
    assert sorted(r["instance_id"] for r in done) == sorted([first, *others])
    assert {r["state"] for r in done} == {"succeeded"}
    batch = made(await admin.get(f"/v1/runs/{done[0]['id']}"), 200)["batch_id"]
    in_batch = made(await admin.get("/v1/runs", params={"batch_id": batch}), 200)["items"]
    assert len(in_batch) == 3 and _overlap(in_batch) == 2

    # The key a template launch authorized, as the command line shows it.
    key = shell("runs", "key").out.strip()
    assert key == made(await admin.get("/v1/runs/key"), 200)["public_key"] and key.startswith("ssh-ed25519 ")


async def test_who_may_read_and_start_runs_and_the_secret_stays_hidden(
    platform: Platform, admin: httpx.AsyncClient
) -> None:
    template_id, script_id = await _template(admin, "who")
    (instance,) = await _launch(admin, template_id, 1)
    made(await admin.post("/v1/projects", json={"id": "runs-b", "name": "runs-b"}))
    await user_in(admin, "rita@example.com", "runs-b", "owner")
    await user_in(admin, "val@example.com", "default", "viewer")
    other = await login(platform, "rita@example.com", "runs-b")
    viewer = await login(platform, "val@example.com", "default")
    try:
        body = {"script_id": script_id, "inputs": {"release": "v1", "token": SECRET}}
        started = await admin.post(f"/v1/instances/{instance}/runs", json=body)
        run = made(started, 202)
        ended = await eventually(lambda: _ended(admin, run["id"]), what=f"run {run['id']} ended", within=30)
        assert ended["state"] == "succeeded", ended
        output = made(await admin.get(f"/v1/runs/{run['id']}/output"), 200)

        # Another project's caller: nothing of this project's runs, instances or scripts exists for it.
        for path in (f"/v1/runs/{run['id']}", f"/v1/runs/{run['id']}/output", f"/v1/instances/{instance}/runs"):
            assert (await other.get(path)).status_code == 404, path
        assert made(await other.get("/v1/runs"), 200)["items"] == []
        # Ids in the path are not found (404), before anything of the body; ids in the body are unknown fields (422
        # naming them), as for every route: this project's instance in a bulk run of its own script.
        theirs = await other.post(f"/v1/instances/{instance}/runs", json=body)
        assert theirs.status_code == 404, theirs.text
        peek = {"name": "peek", "phase": "operational", "body": "#!/bin/sh\ncat /etc/hostname\n"}
        own = {"script_id": made(await other.post("/v1/scripts", json=peek))["script_id"]}
        assert (await other.post(f"/v1/instances/{instance}/runs", json=own)).status_code == 404
        bulk = await other.post("/v1/runs", json={**own, "instance_ids": [instance]})
        assert bulk.status_code == 422 and bulk.json()["errors"][0]["location"] == "body.instance_ids.0", bulk.text
        assert made(await admin.get(f"/v1/instances/{instance}/runs"), 200)["items"] == [ended]

        # A viewer reads runs, and starts none.
        assert (await viewer.get(f"/v1/runs/{run['id']}")).status_code == 200
        assert (await viewer.post(f"/v1/instances/{instance}/runs", json=body)).status_code == 403
        assert (await viewer.post("/v1/runs", json={**body, "instance_ids": [instance]})).status_code == 403

        events = await eventually(lambda: _audited(admin, run["id"]), what="the run's events in the audit")
        listed = made(await admin.get("/v1/runs"), 200)
        seen = [started.text, json.dumps(ended), json.dumps(output), json.dumps(events), json.dumps(listed)]
        assert "token=********" in output["text"]
        assert not [text for text in seen if SECRET in text]
    finally:
        for client in (other, viewer):
            await client.aclose()


async def _ended(client: httpx.AsyncClient, run_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] = made(await client.get(f"/v1/runs/{run_id}"), 200)
    return found if found["state"] not in ("queued", "running") else None


async def _audited(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]] | None:
    events = await audit_events(client, resource_id=run_id)
    types = {e["type"] for e in events}
    return events if {"script_run.queued", "script_run.started", "script_run.succeeded"} <= types else None
