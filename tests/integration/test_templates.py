"""Scripts, server templates and launches from them, on the whole provisioner app with real PostgreSQL, RabbitMQ and
SimCloud: versions, inputs resolved by level, boot scripts rendered into the user data SimCloud receives, and a
secret that never shows in an answer, an event, a log line or a stored row other than sealed."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from email import message_from_string
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage

from kernel.db import create_pool
from kernel.settings import KernelSettings
from services.provisioner.boot.markers import mark
from services.provisioner.instances.repository import PostgresInstanceRepository
from services.provisioner.runs import login
from tests.integration.provisioner_world import SIM, in_state, ok, provisioner, until, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

PROJECT = "tmpl"
H = identity_headers(PROJECT)
SECRET = "s3cret-Pa55word-that-must-never-show"
TEMPLATE_SECRET = "template-level-secret-value-xyz"
# A boot script that uses its secrets without printing them, and prints the rest.
SHELL = "#!/bin/sh\nPW='{{ password }}'\nTT='{{ template_token }}'\necho configured port={{ port }} env={{ env }}\n"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)
    # Boots are read often, so that a test sees them end soon.
    monkeypatch.setenv("CLANAVI_PROVISIONER_BOOT_READ_SECONDS", "0.2")


class Tap:
    """Every event the provisioner published, as raw message bodies."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def until(self, text: str, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while not any(text in b for b in self.bodies):
            assert time.monotonic() < deadline, f"no event with {text} within {within}s"
            await asyncio.sleep(0.05)


@pytest.fixture
async def tap(kernel_settings: KernelSettings) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(kernel_settings.amqp_url.get_secret_value())
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        f"{kernel_settings.bus_prefix}.events", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")
    tap = Tap()

    async def received(message: AbstractIncomingMessage) -> None:
        async with message.process():
            tap.bodies.append(message.body.decode())

    await queue.consume(received)
    yield tap
    await connection.close()


@pytest.fixture
async def client(kernel_settings: KernelSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with provisioner(kernel_settings) as (_, http):
        yield http


async def cloud(client: httpx.AsyncClient, name: str = "tmpl-sim") -> str:
    made = await client.post("/v1/clouds", headers=H, json={"name": name, "driver": "simcloud", "config": SIM})
    cloud_id: str = ok(made, 201)["id"]
    return cloud_id


async def script(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    made: dict[str, Any] = ok(await client.post("/v1/scripts", headers=H, json=body), 201)
    return made


def boot_parts(user_data: str) -> list[tuple[str, str]]:
    """The (type, body) of each part of MIME multipart user data made of boot scripts (the part that lets runs log
    in, which every template launch gets, is left out: `test_script_runs` runs over it)."""
    found = []
    for part in message_from_string(user_data).walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and part.get_filename() != login.FILENAME:
            found.append((part.get_content_type(), payload.decode()))
    return found


def problems(answer: httpx.Response, status: int = 422) -> dict[str, str]:
    assert answer.status_code == status, answer.text
    return {e["location"]: e["message"] for e in answer.json().get("errors", [])}


async def test_scripts_have_immutable_versions_named_in_their_project(client: httpx.AsyncClient) -> None:
    body = "#!/bin/sh\necho {{ greeting }}\n"
    inputs = [{"name": "greeting", "type": "text", "default": "hi"}]
    v1 = await script(client, name="greet", body=body, inputs=inputs, timeout_seconds=30)
    sid = v1["script_id"]
    assert (v1["version"], v1["phase"], v1["timeout_seconds"], v1["deprecated"]) == (1, "boot", 30, False)

    taken = await client.post("/v1/scripts", headers=H, json={"name": "greet", "body": "#!/bin/sh\n"})
    assert problems(taken, 409) == {"body.name": "name taken in this project"}
    undeclared = await client.post("/v1/scripts", headers=H, json={"name": "x", "body": "#!/bin/sh\necho {{ who }}\n"})
    assert problems(undeclared) == {"body.body": "{{ who }}: no input who is declared"}

    same = await client.post(
        f"/v1/scripts/{sid}/versions", headers=H, json={"body": body, "inputs": inputs, "timeout_seconds": 30}
    )
    assert ok(same, 200)["version"] == 1
    changed = {"body": "#!/bin/sh\necho {{ greeting }}!\n", "inputs": inputs}
    assert ok(await client.post(f"/v1/scripts/{sid}/versions", headers=H, json=changed), 201)["version"] == 2
    assert ok(await client.get(f"/v1/scripts/{sid}", headers=H))["latest_version"] == 2
    versions = ok(await client.get(f"/v1/scripts/{sid}/versions", headers=H))["items"]
    assert [(v["version"], v["body"]) for v in versions] == [(1, body), (2, changed["body"])]

    deprecated = await client.patch(f"/v1/scripts/{sid}/versions/1", headers=H, json={"deprecated": True})
    assert ok(deprecated)["deprecated"] is True
    assert ok(await client.get(f"/v1/scripts/{sid}/versions/1", headers=H))["deprecated"] is True
    # The latest is what the next version counts from: it stays.
    assert (await client.delete(f"/v1/scripts/{sid}/versions/2", headers=H)).status_code == 409
    assert (await client.delete(f"/v1/scripts/{sid}/versions/1", headers=H)).status_code == 204
    assert (await client.get(f"/v1/scripts/{sid}/versions/1", headers=H)).status_code == 404

    await script(client, name="other", body="#cloud-config\npackages: [nginx]\n")
    first = ok(await client.get("/v1/scripts", headers=H, params={"limit": 1, "sort": "name"}))
    assert [s["name"] for s in first["items"]] == ["greet"]
    second = ok(await client.get("/v1/scripts", headers=H, params={"cursor": first["next_cursor"], "limit": 1}))
    assert [s["name"] for s in second["items"]] == ["other"] and second["next_cursor"] is None
    assert [s["name"] for s in ok(await client.get("/v1/scripts", headers=H, params={"name": "other"}))["items"]] == [
        "other"
    ]
    assert ok(await client.get("/v1/scripts", headers=identity_headers("elsewhere")))["items"] == []


async def launch_world(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """A cloud, two boot scripts (shell and cloud-config) and a template running them."""
    cloud_id = await cloud(client)
    shell = await script(
        client,
        name="configure",
        body=SHELL,
        inputs=[
            {"name": "port", "type": "number", "minimum": 1, "maximum": 65535, "default": 80},
            {"name": "env", "type": "choice", "choices": ["dev", "prod"], "default": "dev"},
            {"name": "password", "type": "secret", "required": True, "pattern": "[A-Za-z0-9-]{12,}"},
            {"name": "template_token", "type": "secret"},
        ],
    )
    config = await script(client, name="packages", body="#cloud-config\npackages: [nginx]\n")
    template = {
        "name": "web",
        "clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "tags": {"role": "web"},
        "boot_scripts": [{"script_id": shell["script_id"]}, {"script_id": config["script_id"], "version": 1}],
        "inputs": [{"name": "owner", "type": "text", "default": "ops"}],
        "values": {"env": "prod", "template_token": TEMPLATE_SECRET},
        "alerts": [{"metric": "cpu_utilization", "above": 90}],
    }
    made = ok(await client.post("/v1/templates", headers=H, json=template), 201)
    assert made["values"] == {"env": "prod", "template_token": "********"}
    assert made["boot_scripts"] == [
        {"script_id": shell["script_id"], "version": 1},
        {"script_id": config["script_id"], "version": 1},
    ]
    assert made["alerts"] == [{"metric": "cpu_utilization", "above": 90}]
    return cloud_id, made["template_id"], shell["script_id"]


async def test_a_launch_from_a_template_resolves_inputs_renders_boot_parts_and_never_shows_a_secret(
    client: httpx.AsyncClient, tap: Tap, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud_id, template_id, shell_id = await launch_world(client)
    answers: list[str] = []

    async def call(method: str, path: str, **kw: Any) -> httpx.Response:
        answer = await client.request(method, path, headers=H, **kw)
        answers.append(answer.text)
        return answer

    bad = await call(
        "POST",
        "/v1/instances",
        json={"name": "w", "cloud_id": cloud_id, "template_id": template_id, "inputs": {"port": 0, "nobody": 1}},
    )
    assert problems(bad) == {
        "body.inputs.port": "must be at least 1",
        "body.inputs.nobody": "no script or template declares this input",
        "body.inputs.password": "required",
    }
    weak = await call(
        "POST",
        "/v1/instances",
        json={"name": "w", "cloud_id": cloud_id, "template_id": template_id, "inputs": {"password": "short"}},
    )
    assert problems(weak) == {"body.inputs.password": "does not match the pattern"}
    assert ok(await call("GET", "/v1/instances"))["items"] == []

    launch = {
        "name": "web-1",
        "cloud_id": cloud_id,
        "template_id": template_id,
        "inputs": {"port": 8443, "password": SECRET},
    }
    instance = ok(await call("POST", "/v1/instances", json=launch), 202)
    assert (instance["template_id"], instance["template_version"]) == (template_id, 1)
    assert (instance["image_id"], instance["flavor_id"], instance["tags"]) == (
        "img-debian-12",
        "sim.small",
        {"role": "web"},
    )
    assert instance["inputs"] == {
        "port": {"value": 8443, "level": "server", "type": "number"},
        "env": {"value": "prod", "level": "template", "type": "choice"},
        "password": {"value": "********", "level": "server", "type": "secret"},
        "template_token": {"value": "********", "level": "template", "type": "secret"},
        "owner": {"value": "ops", "level": "template", "type": "text"},
    }
    running = await until(client, f"/v1/instances/{instance['id']}", H, lambda r: r["state"] == "running")
    answers.append(json.dumps(running))
    console = (await call("GET", f"/v1/instances/{instance['id']}/console")).text
    # SimCloud's console shows the boot part ran (what it printed), not its text.
    assert "]: configured port=8443 env=prod\n" in console and "PW=" not in console
    answers.append((await call("GET", "/v1/instances")).text)
    answers.append((await call("GET", f"/v1/templates/{template_id}/versions")).text)
    await tap.until("instance.running")

    # What SimCloud received: a MIME multipart, one part per boot script in order, filled with the values.
    conn = await asyncpg.connect(database_url)
    try:
        user_data = await conn.fetchval(
            "SELECT user_data FROM simcloud.instances WHERE id = $1", running["provider_id"]
        )
        stored = await conn.fetch("SELECT to_jsonb(t)::text AS row FROM provisioner.template_versions t")
        launched = await conn.fetchval(
            "SELECT to_jsonb(t)::text FROM provisioner.instances t WHERE id = $1::uuid", instance["id"]
        )
        sealed = await conn.fetchval("SELECT sealed_values FROM provisioner.template_versions")
    finally:
        await conn.close()
    parts = boot_parts(user_data)
    filled = f"#!/bin/sh\nPW='{SECRET}'\nTT='{TEMPLATE_SECRET}'\necho configured port=8443 env=prod\n"
    assert f'filename="{login.FILENAME}"' in user_data
    assert parts == [
        ("text/x-shellscript-per-instance", mark(f"01-{shell_id}-v1", filled)),
        ("text/cloud-config", "#cloud-config\npackages: [nginx]\n"),
    ]

    # The secrets are nowhere else: answers, events, log lines, the template's and instance's rows.
    assert sealed is not None
    for secret in (SECRET, TEMPLATE_SECRET):
        for text in (*answers, *tap.bodies, caplog.text, *(r["row"] for r in stored), launched, sealed.hex()):
            assert secret not in text
            assert secret.encode().hex() not in text
    assert any('"template_version":1' in b.replace(" ", "") and "instance.requested" in b for b in tap.bodies)

    # A version a live instance came from cannot go, nor the script it runs; a deprecated one cannot launch.
    ok(
        await client.post(
            f"/v1/templates/{template_id}/versions",
            headers=H,
            json={"clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.nano"}]},
        ),
        201,
    )
    ok(await client.patch(f"/v1/templates/{template_id}", headers=H, json={"default_version": 2}))
    refused = await client.delete(f"/v1/templates/{template_id}/versions/1", headers=H)
    assert refused.status_code == 409 and instance["id"] in refused.json()["instance_ids"]
    assert (await client.delete(f"/v1/templates/{template_id}", headers=H)).status_code == 409
    in_use = await client.delete(f"/v1/scripts/{shell_id}", headers=H)
    assert in_use.status_code == 409 and in_use.json()["templates"][0]["template_id"] == template_id
    ok(await client.patch(f"/v1/templates/{template_id}/versions/1", headers=H, json={"deprecated": True}))
    old = {**launch, "name": "web-2", "template_version": 1}
    assert problems(await client.post("/v1/instances", headers=H, json=old)) == {
        "body.template_version": "version 1 is deprecated"
    }
    unknown = {**launch, "name": "web-2", "template_version": 9}
    assert problems(await client.post("/v1/instances", headers=H, json=unknown)) == {
        "body.template_version": "no version 9"
    }
    # The default (2, which runs no scripts and so declares no inputs) launches, with a smaller flavor.
    plain = {"name": "web-3", "cloud_id": cloud_id, "template_id": template_id, "tags": {"tier": "1"}}
    second = ok(await client.post("/v1/instances", headers=H, json=plain), 202)
    assert (second["template_version"], second["flavor_id"]) == (2, "sim.nano")
    assert second["tags"] == {"tier": "1"}
    with_data = await client.post("/v1/instances", headers=H, json={**plain, "user_data": "#!/bin/sh\n"})
    assert with_data.status_code == 422


async def test_a_template_runs_where_it_names_a_machine_or_its_requirements_find_one(
    client: httpx.AsyncClient,
) -> None:
    first = await cloud(client, "one")
    other = await cloud(client, "two")
    pinned = {"name": "pinned", "clouds": [{"cloud_id": first, "image_id": "img-debian-12", "flavor_id": "sim.small"}]}
    pinned_id = ok(await client.post("/v1/templates", headers=H, json=pinned), 201)["template_id"]
    elsewhere = await client.post(
        "/v1/instances", headers=H, json={"name": "a", "cloud_id": other, "template_id": pinned_id}
    )
    assert problems(elsewhere) == {"body.cloud_id": f"Template {pinned_id} version 1 cannot run on {other}"}

    needs = {"name": "needs", "requirements": {"image_name": "Debian 12", "min_vcpus": 2, "min_ram_mb": 3000}}
    needs_id = ok(await client.post("/v1/templates", headers=H, json=needs), 201)["template_id"]
    found = ok(
        await client.post("/v1/instances", headers=H, json={"name": "b", "cloud_id": other, "template_id": needs_id}),
        202,
    )
    assert (found["image_id"], found["flavor_id"]) == ("img-debian-12", "sim.medium")
    huge = {"name": "huge", "requirements": {"image_name": "Plan 9", "min_vcpus": 512}}
    huge_id = ok(await client.post("/v1/templates", headers=H, json=huge), 201)["template_id"]
    refused = await client.post(
        "/v1/instances", headers=H, json={"name": "c", "cloud_id": other, "template_id": huge_id}
    )
    assert refused.status_code == 422
    assert [e["message"] for e in refused.json()["errors"]] == [
        f"{other} has no image Plan 9",
        f"{other} has no flavor with 512 vCPUs, 0 MB of RAM and 0 GB of disk",
    ]


async def test_boot_scripts_too_large_are_compressed_and_refused_when_they_still_do_not_fit(
    client: httpx.AsyncClient, database_url: str
) -> None:
    cloud_id = await cloud(client)
    big = "#!/bin/sh\n" + "echo configuring the same thing once more\n" * 1200
    big_id = (await script(client, name="big", body=big))["script_id"]
    noise = "#!/bin/sh\n: " + os.urandom(16 * 1024).hex() + "\n"
    noise_id = (await script(client, name="noise", body=noise))["script_id"]
    machine = [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}]
    big_t = ok(
        await client.post(
            "/v1/templates", headers=H, json={"name": "big", "clouds": machine, "boot_scripts": [{"script_id": big_id}]}
        ),
        201,
    )["template_id"]
    launched = ok(
        await client.post("/v1/instances", headers=H, json={"name": "big", "cloud_id": cloud_id, "template_id": big_t}),
        202,
    )
    running = await until(client, f"/v1/instances/{launched['id']}", H, lambda r: r["state"] == "running")
    conn = await asyncpg.connect(database_url)
    try:
        # SimCloud unpacks the gzip as cloud-init does: the guest ran the whole script.
        user_data = await conn.fetchval(
            "SELECT user_data FROM simcloud.instances WHERE id = $1", running["provider_id"]
        )
        count = await conn.fetchval("SELECT count(*) FROM provisioner.instances")
    finally:
        await conn.close()
    assert len(user_data.encode()) > 16 * 1024
    assert boot_parts(user_data) == [("text/x-shellscript-per-instance", mark(f"01-{big_id}-v1", big))]
    assert len(gzip.compress(user_data.encode())) < 16 * 1024

    both = {"name": "both", "clouds": machine, "boot_scripts": [{"script_id": noise_id}, {"script_id": noise_id}]}
    both_t = ok(await client.post("/v1/templates", headers=H, json=both), 201)["template_id"]
    refused = await client.post(
        "/v1/instances", headers=H, json={"name": "both", "cloud_id": cloud_id, "template_id": both_t}
    )
    assert problems(refused) == {"body.template_id": "boot scripts too large for the cloud (16384 bytes)"}
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM provisioner.instances") == count
    finally:
        await conn.close()


async def test_a_template_is_refused_with_each_problem_named(client: httpx.AsyncClient) -> None:
    cloud_id = await cloud(client)
    op = (await script(client, name="op", body="#!/bin/sh\n", phase="operational"))["script_id"]
    typed = (
        await script(
            client,
            name="typed",
            body="#!/bin/sh\necho {{ n }}\n",
            inputs=[{"name": "n", "type": "number", "maximum": 5}],
        )
    )["script_id"]
    machine = {"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}
    body: dict[str, Any] = {
        "name": "wrong",
        "clouds": [machine],
        "boot_scripts": [{"script_id": op}, {"script_id": typed, "version": 3}],
        "decommission_scripts": [{"script_id": "no-such-script"}],
        "values": {"ghost": 1},
    }
    elsewhere = await client.post(
        "/v1/templates",
        headers=H,
        json={**body, "clouds": [machine, {**machine, "cloud_id": "nowhere"}]},
    )
    assert problems(elsewhere)["body.clouds.1.cloud_id"] == "unknown cloud"
    assert problems(await client.post("/v1/templates", headers=H, json=body)) == {
        "body.boot_scripts.0": "phase operational, not boot",
        "body.boot_scripts.1": f"no version 3 of script {typed}",
        "body.decommission_scripts.0": "no script no-such-script",
    }
    fine_scripts = {
        **body,
        "boot_scripts": [{"script_id": typed}],
        "decommission_scripts": [],
        "values": {"n": 9, "ghost": 1},
    }
    assert problems(await client.post("/v1/templates", headers=H, json=fine_scripts)) == {
        "body.values.n": "must be at most 5",
        "body.values.ghost": "no script or template declares this input",
    }
    ok(await client.patch(f"/v1/scripts/{typed}/versions/1", headers=H, json={"deprecated": True}))
    deprecated = {**fine_scripts, "values": {}}
    assert problems(await client.post("/v1/templates", headers=H, json=deprecated)) == {
        "body.boot_scripts.0": "version 1 is deprecated"
    }
    assert ok(await client.get("/v1/templates", headers=H))["items"] == []


async def test_key_pair_and_security_group_inputs_name_the_launch_clouds_own(
    client: httpx.AsyncClient, database_url: str
) -> None:
    cloud_id = await cloud(client)
    other = await cloud(client, "other")
    ok(await client.post("/v1/key-pairs", headers=H, json={"cloud_id": cloud_id, "name": "deploy"}), 201)
    group = ok(await client.post("/v1/security-groups", headers=H, json={"cloud_id": cloud_id, "name": "web"}), 201)
    elsewhere = ok(await client.post("/v1/security-groups", headers=H, json={"cloud_id": other, "name": "web"}), 201)
    body = "#!/bin/sh\necho key {{ key }} group {{ group }}\n"
    declared = [{"name": "key", "type": "key_pair", "required": True}, {"name": "group", "type": "security_group"}]
    sid = (await script(client, name="net", body=body, inputs=declared))["script_id"]
    machine = [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}]
    tid = ok(
        await client.post(
            "/v1/templates", headers=H, json={"name": "net", "clouds": machine, "boot_scripts": [{"script_id": sid}]}
        ),
        201,
    )["template_id"]
    launch = {"name": "n", "cloud_id": cloud_id, "template_id": tid}
    wrong = await client.post(
        "/v1/instances", headers=H, json={**launch, "inputs": {"key": "nobodys", "group": elsewhere["id"]}}
    )
    assert problems(wrong) == {
        "body.inputs.key": f"no key pair nobodys in {cloud_id}",
        "body.inputs.group": f"no security group {elsewhere['id']} in {cloud_id}",
    }
    made = ok(
        await client.post(
            "/v1/instances", headers=H, json={**launch, "inputs": {"key": "deploy", "group": group["id"]}}
        ),
        202,
    )
    assert made["inputs"]["group"] == {"value": group["id"], "level": "server", "type": "security_group"}
    running = await until(client, f"/v1/instances/{made['id']}", H, lambda r: r["state"] == "running")
    conn = await asyncpg.connect(database_url)
    try:
        user_data = await conn.fetchval(
            "SELECT user_data FROM simcloud.instances WHERE id = $1", running["provider_id"]
        )
    finally:
        await conn.close()
    # The script gets the cloud's id of the group, which is what a command on the instance would use.
    [(kind, body)] = boot_parts(user_data)
    assert kind == "text/x-shellscript-per-instance"
    assert body.endswith(f"\necho key deploy group {group['provider_id']}\n")


async def test_the_boot_section_follows_each_boot_script_to_its_outcome(
    client: httpx.AsyncClient, tap: Tap, database_url: str
) -> None:
    cloud_id = await cloud(client, "boot-sim")
    bodies = [
        "#!/bin/sh\necho preparing\n",
        "#!/bin/bash\necho installing\nexit 3\necho never\n",
        "#!/bin/sh\necho finishing\n",
    ]
    ids = [(await script(client, name=f"step-{n}", body=body))["script_id"] for n, body in enumerate(bodies)]
    config = (await script(client, name="packages", body="#cloud-config\npackages: [nginx]\n"))["script_id"]
    template = {
        "name": "steps",
        "clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "boot_scripts": [{"script_id": i} for i in [*ids, config]],
    }
    template_id = ok(await client.post("/v1/templates", headers=H, json=template), 201)["template_id"]
    launch = {"name": "steps-1", "cloud_id": cloud_id, "template_id": template_id}
    instance = ok(await client.post("/v1/instances", headers=H, json=launch), 202)
    names = [f"0{n}-{i}-v1" for n, i in enumerate([*ids, config], start=1)]
    assert instance["boot"] == {
        "state": "pending",
        "started_at": None,
        "finished_at": None,
        "scripts": [
            {
                "script_id": i,
                "version": 1,
                "filename": name,
                "kind": kind,
                "state": "pending",
                "exit_code": None,
                "started_at": None,
                "finished_at": None,
            }
            for i, name, kind in zip([*ids, config], names, ["shell", "shell", "shell", "cloud-config"], strict=True)
        ],
    }

    path = f"/v1/instances/{instance['id']}"
    done = await until(client, path, H, lambda r: r["boot"]["state"] not in ("pending", "running"))

    boot = done["boot"]
    assert [(s["state"], s["exit_code"]) for s in boot["scripts"]] == [
        ("succeeded", None),
        ("failed", 3),
        ("succeeded", None),
        ("succeeded", None),
    ]
    assert boot["state"] == "failed" and boot["started_at"] <= boot["finished_at"]
    assert all(s["started_at"] and s["finished_at"] for s in boot["scripts"][:3])
    console = (await client.get(f"{path}/console", headers=H)).text
    assert "cc_scripts_per_instance.py[WARNING]: Failed to run module scripts_per_instance" in console
    assert "never" not in console
    await tap.until("instance.boot_completed")
    failed = [json.loads(b) for b in tap.bodies if "instance.boot_script_failed" in b]
    assert [(e["payload"]["filename"], e["payload"]["exit_code"]) for e in failed] == [(names[1], 3)]
    completed = [json.loads(b) for b in tap.bodies if "instance.boot_completed" in b]
    assert [(e["payload"]["state"], e["payload"]["failed"]) for e in completed] == [("failed", [names[1]])]
    assert completed[0]["correlation_id"] == failed[0]["correlation_id"] == instance_correlation(tap, instance["id"])

    # A reboot runs no per-instance script again, and its settlement leaves the section as it is.
    ok(await client.post(f"{path}/actions/reboot", headers=H), 202)
    await until(client, path, H, in_state("running"))
    assert ok(await client.get(path, headers=H))["boot"] == boot
    conn = await asyncpg.connect(database_url)
    try:
        read_at = await conn.fetchval(
            "SELECT boot_read_at FROM provisioner.instances WHERE id = $1::uuid", instance["id"]
        )
    finally:
        await conn.close()
    assert read_at is None  # no longer followed

    # A save of the record as it was loaded before (as an action's settlement makes) leaves the boot as it is.
    pool = await create_pool(database_url, schema="provisioner", application="boot-test", min_size=1, max_size=1)
    try:
        async with pool.acquire() as held:
            repo = PostgresInstanceRepository(held)
            current = await repo.get(PROJECT, instance["id"])
            assert current is not None and current.boot is not None
            await repo.save(replace(current, boot=instance["boot"]))
            after = await repo.get(PROJECT, instance["id"])
    finally:
        await pool.close()
    assert after is not None and after.boot == current.boot

    plain = {"name": "plain", "cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.small"}
    assert ok(await client.post("/v1/instances", headers=H, json=plain), 202)["boot"] is None


def instance_correlation(tap: Tap, instance_id: str) -> str:
    requested = [json.loads(b) for b in tap.bodies if "instance.requested" in b and instance_id in b]
    correlation: str = requested[0]["correlation_id"]
    return correlation


async def test_a_version_kept_from_earlier_launches_launches_only_while_it_exists_undeprecated_in_its_project(
    client: httpx.AsyncClient,
) -> None:
    cloud_id, template_id, _ = await launch_world(client)
    launch = {"cloud_id": cloud_id, "template_id": template_id, "inputs": {"password": SECRET}}
    first = ok(await client.post("/v1/instances", headers=H, json={**launch, "name": "kept-1"}), 202)
    assert first["template_version"] == 1

    # Deprecation is read at every launch, however often the version launched before; so is its undoing.
    ok(await client.patch(f"/v1/templates/{template_id}/versions/1", headers=H, json={"deprecated": True}))
    refused = await client.post("/v1/instances", headers=H, json={**launch, "name": "kept-2"})
    assert problems(refused) == {"body.template_version": "version 1 is deprecated"}
    ok(await client.patch(f"/v1/templates/{template_id}/versions/1", headers=H, json={"deprecated": False}))
    again = ok(await client.post("/v1/instances", headers=H, json={**launch, "name": "kept-3"}), 202)
    assert again["inputs"] == first["inputs"]

    # Another project launching by the same id finds no template, though this process read it a moment ago.
    elsewhere = await client.post("/v1/instances", headers=identity_headers("elsewhere"), json=launch | {"name": "x"})
    assert problems(elsewhere) == {"body.template_id": "unknown template"}

    # Once no live instance came from it and it is neither default nor latest, it goes, and launches no more.
    two = {"clouds": [{"cloud_id": cloud_id, "image_id": "img-debian-12", "flavor_id": "sim.nano"}]}
    ok(await client.post(f"/v1/templates/{template_id}/versions", headers=H, json=two), 201)
    ok(await client.post(f"/v1/templates/{template_id}/versions", headers=H, json=two), 201)
    ok(await client.patch(f"/v1/templates/{template_id}", headers=H, json={"default_version": 2}))
    for launched in (first, again):
        ok(await client.delete(f"/v1/instances/{launched['id']}", headers=H), 202)
        await until(client, f"/v1/instances/{launched['id']}", H, in_state("terminated"))
    assert (await client.delete(f"/v1/templates/{template_id}/versions/1", headers=H)).status_code == 204
    gone = await client.post("/v1/instances", headers=H, json={**launch, "name": "kept-4", "template_version": 1})
    assert problems(gone) == {"body.template_version": "no version 1"}
