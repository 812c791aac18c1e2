"""Cloud accounts per project on the whole provisioner app, with real PostgreSQL, RabbitMQ, SimCloud and a moto server:
credentials are sealed at rest (the column never holds them, another key cannot open them), configured secrets are
split out of `config`, old keys are rewrapped at start and by `rotate-keys`, accounts nobody can read answer
409, each project sees and uses only its own accounts, accounts added through the API may not point at this machine
or at cloud metadata (configured ones may), and a failed connection test never repeats what the other side answered.

The stand-ins (moto) listen on 127.0.0.1: the tests that add accounts pointing at them turn the endpoint policy off
(`endpoint_deny=""`), the tests of the policy keep the default."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage
from pydantic import SecretStr

from devstack import free_port
from devstack.moto import MotoServer
from kernel.crypto import Keyring, Sealed, UnknownKey
from kernel.identity import Role
from kernel.settings import KernelSettings
from services.provisioner.app import create_app
from services.provisioner.clouds import credentials
from services.provisioner.clouds.domain import Cloud, CredentialsUnreadable
from services.provisioner.clouds.repository import PostgresCloudRepository
from services.provisioner.settings import DEFAULT_ENDPOINT_DENY, ProvisionerSettings
from tests.contract.clouds.ec2 import moto_server_for
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

KEY = "integration-secret-key-0123456789abcdef"
OLD = "integration-older-key-0123456789abcdef0"
LOST = "integration-lost-key-0123456789abcdef01"
SIM = {"boot_seconds": 0.1, "stop_seconds": 0.1, "start_seconds": 0.1, "terminate_seconds": 0.1}
# Distinctive values to look for wherever they must not be.
AWS_KEY_ID = "AKIAINTEGRATIONKEY77"
AWS_SECRET = "integration-aws-secret-Zq8/wX3v+Yp"
XCP_PASSWORD = "integration-xcp-password-9f8e"
LIBVIRT_URI = "qemu+ssh://root:integration-libvirt-pw-4d2c@hv1.example.org/system"
SECRETS = (AWS_KEY_ID, AWS_SECRET, XCP_PASSWORD, "integration-libvirt-pw-4d2c")


def alpha() -> dict[str, str]:
    return identity_headers("alpha")


def beta() -> dict[str, str]:
    return identity_headers("beta")


def default() -> dict[str, str]:
    return identity_headers("default")


class Tap:
    """The cloud events the provisioner published, as they arrive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def until(self, check: Callable[[list[dict[str, Any]]], bool], within: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while not check(self.events):
            assert time.monotonic() < deadline, f"not published within {within}s: {self.events}"
            await asyncio.sleep(0.05)
        return self.events

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]


@pytest.fixture
async def tap(kernel_settings: KernelSettings) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(kernel_settings.amqp_url.get_secret_value())
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        f"{kernel_settings.bus_prefix}.events", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    # Every event: the relay publishes mandatory messages, and one nobody routes is sent again with its batch.
    await queue.bind(exchange, routing_key="#")
    tap = Tap()

    async def received(message: AbstractIncomingMessage) -> None:
        async with message.process():
            event = json.loads(message.body)
            if event["type"].startswith("cloud.") and all(e["id"] != event["id"] for e in tap.events):
                tap.events.append(event)

    await queue.consume(received)
    yield tap
    await connection.close()


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> MotoServer:
    return moto_server_for(request.config)


@pytest.fixture
def make_settings(kernel_settings: KernelSettings) -> Callable[..., ProvisionerSettings]:
    def make(
        *,
        key: str = KEY,
        previous: str | None = None,
        clouds: list[dict[str, Any]] | None = None,
        endpoint_deny: str = "",
    ) -> ProvisionerSettings:
        return ProvisionerSettings(
            kernel=kernel_settings.model_copy(
                update={"secret_key": SecretStr(key), "secret_key_previous": SecretStr(previous) if previous else None}
            ),
            clouds=clouds or [],
            follow_interval=0.05,
            connection_test_seconds=10,
            sim_boot_seconds=0.1,
            sim_terminate_seconds=0.1,
            endpoint_deny=endpoint_deny,
        )

    return make


@asynccontextmanager
async def provisioner(settings: ProvisionerSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://provisioner", timeout=30) as client:
            yield client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    conn = await connect(database_url)
    yield conn
    await conn.close()


async def connect(database_url: str) -> asyncpg.Connection[asyncpg.Record]:
    """A connection to the provisioner's schema that reads JSON as the service's pool does."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


def ec2_config(moto: MotoServer, **more: Any) -> dict[str, Any]:
    return {"region": "us-east-1", "endpoint_url": moto.url, "throttle": {"max_attempts": 1}, **more}


def ec2_account(moto: MotoServer, **more: Any) -> dict[str, Any]:
    """A new account `aws` on moto (its config given `more`), as the API takes it."""
    return {
        "name": "aws",
        "driver": "ec2",
        "config": ec2_config(moto, **more),
        "credentials": {"access_key_id": AWS_KEY_ID, "secret_access_key": AWS_SECRET},
    }


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def configured_accounts(moto_url: str) -> list[dict[str, Any]]:
    """Secrets given in `config` (as before credentials existed) and in `credentials`; disabled, so nothing
    connects them."""
    return [
        {
            "id": "aws",
            "name": "AWS",
            "driver": "ec2",
            "enabled": False,
            "config": {"region": "us-east-1", "endpoint_url": moto_url, "access_key_id": AWS_KEY_ID},
            "credentials": {"secret_access_key": AWS_SECRET},
        },
        {
            "id": "xen",
            "name": "Xen",
            "driver": "xcp",
            "enabled": False,
            "config": {"url": "https://xen.example.org", "username": "root", "password": XCP_PASSWORD},
        },
        {"id": "kvm", "name": "KVM", "driver": "libvirt", "enabled": False, "config": {"uri": LIBVIRT_URI}},
    ]


# --- sealed at rest --------------------------------------------------------------------------------------------


async def test_configured_secrets_are_split_out_of_config_and_sealed(
    make_settings: Callable[..., ProvisionerSettings],
    db: asyncpg.Connection[asyncpg.Record],
    moto: MotoServer,
    tap: Tap,
) -> None:
    async with provisioner(make_settings(clouds=configured_accounts(moto.url))) as client:
        listed = ok(await client.get("/v1/clouds", headers=default()))
        shown = {c["id"]: c for c in listed["items"]}
        events = await tap.until(lambda events: len(events) >= 4)

    added = {e["subject"]: e for e in events if e["type"] == "cloud.added"}
    assert set(added) == {"sim", "aws", "xen", "kvm"} and added["aws"]["project_id"] == "default"
    assert added["aws"]["payload"]["credential_fields"] == ["access_key_id", "secret_access_key"]
    assert added["aws"]["payload"]["config_fields"] == ["endpoint_url", "region"]
    assert not any(secret in json.dumps(events) for secret in SECRETS)

    assert shown["aws"]["credential_fields"] == ["access_key_id", "secret_access_key"]
    assert shown["aws"]["config"] == {"region": "us-east-1", "endpoint_url": moto.url}
    assert shown["xen"]["credential_fields"] == ["password"] and "password" not in shown["xen"]["config"]
    assert shown["kvm"]["credential_fields"] == ["uri"] and shown["kvm"]["config"] == {}
    assert all(c["credentials_readable"] and c["source"] == "configuration" for c in shown.values())
    assert not any(secret in json.dumps(listed) for secret in SECRETS)

    rows = {r["id"]: r for r in await db.fetch("SELECT * FROM clouds")}
    for row in rows.values():
        dump = bytes(row["credentials"] or b"") + json.dumps(row["config"]).encode()
        assert not any(secret.encode() in dump for secret in SECRETS), row["id"]
    aws = rows["aws"]
    assert aws["credentials_key_id"] == Keyring(KEY).key_id
    with pytest.raises(UnknownKey):
        Keyring(OLD).open(Sealed.from_bytes(aws["credentials"]), record_id="provisioner.clouds/aws")
    account = await PostgresCloudRepository(db).find("aws")
    assert account is not None
    assert credentials.open_credentials(Keyring(KEY), account) == {
        "access_key_id": AWS_KEY_ID,
        "secret_access_key": AWS_SECRET,
    }
    # Sealed for its own row: copied onto another account, it does not open.
    await db.execute(
        "UPDATE clouds SET credentials = $1, credentials_key_id = $2 WHERE id = 'xen'",
        aws["credentials"],
        aws["credentials_key_id"],
    )
    xen = await PostgresCloudRepository(db).find("xen")
    assert xen is not None
    with pytest.raises(CredentialsUnreadable):
        credentials.open_credentials(Keyring(KEY), xen)


async def test_a_restart_with_unchanged_configuration_changes_nothing(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record], moto: MotoServer
) -> None:
    settings = make_settings(clouds=configured_accounts(moto.url))
    async with provisioner(settings):
        pass
    query = "SELECT id, credentials, updated_at FROM clouds"
    before = {r["id"]: (bytes(r["credentials"] or b""), r["updated_at"]) for r in await db.fetch(query)}
    async with provisioner(settings):
        pass

    after = {r["id"]: (bytes(r["credentials"] or b""), r["updated_at"]) for r in await db.fetch(query)}
    assert after == before
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE routing_key LIKE 'cloud.updated.%'") == 0


async def test_secrets_stored_in_config_before_are_sealed_at_start(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    async with provisioner(make_settings()):
        pass
    # An account from an older version: its password in the clear, and no longer in the configuration.
    await db.execute(
        """INSERT INTO clouds (id, project_id, name, driver, config, enabled)
           VALUES ('old', 'default', 'Old', 'openstack', $1, false)""",
        {"auth_url": "http://keystone/v3", "username": "u", "password": XCP_PASSWORD, "project_name": "p"},
    )

    async with provisioner(make_settings()):
        pass

    row = await db.fetchrow("SELECT * FROM clouds WHERE id = 'old'")
    assert row is not None and "password" not in row["config"]
    assert list(row["credential_fields"]) == ["password"]
    assert XCP_PASSWORD.encode() not in bytes(row["credentials"])


async def test_the_provisioner_refuses_to_start_without_a_secret_key(
    make_settings: Callable[..., ProvisionerSettings],
) -> None:
    settings = make_settings()
    with pytest.raises(ValueError, match="CLANAVI_SECRET_KEY is not set"):
        create_app(settings.model_copy(update={"kernel": settings.kernel.model_copy(update={"secret_key": None})}))
    with pytest.raises(ValueError, match="CLANAVI_SECRET_KEY must be at least 32"):
        create_app(make_settings(key="short"))


# --- rotation ----------------------------------------------------------------------------------------------------


async def seal_api_account(
    db: asyncpg.Connection[asyncpg.Record], key: str, cloud_id: str, config: dict[str, Any], project: str = "alpha"
) -> bytes:
    """An account added through the API earlier, its credentials sealed with `key`."""
    sealed, key_id = credentials.seal(
        Keyring(key), cloud_id, {"access_key_id": AWS_KEY_ID, "secret_access_key": AWS_SECRET}
    )
    assert sealed is not None
    await PostgresCloudRepository(db).add(
        Cloud(
            id=cloud_id,
            project_id=project,
            name=cloud_id,
            driver="ec2",
            config=config,
            enabled=True,
            created_at=datetime.now(UTC),
            credentials=sealed,
            credentials_key_id=key_id,
            credential_fields=("access_key_id", "secret_access_key"),
            source="api",
        )
    )
    return sealed


async def test_rotation_rewraps_old_credentials_at_start_and_unreadable_ones_answer_409(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record], moto: MotoServer
) -> None:
    async with provisioner(make_settings(key=OLD)):
        pass
    old_sealed = await seal_api_account(db, OLD, "cld-rotated", ec2_config(moto))
    await seal_api_account(db, LOST, "cld-lost", ec2_config(moto))

    async with provisioner(make_settings(key=KEY, previous=OLD)) as client:
        row = await db.fetchrow("SELECT credentials, credentials_key_id FROM clouds WHERE id = 'cld-rotated'")
        assert row is not None and row["credentials_key_id"] == Keyring(KEY).key_id
        rewrapped = Sealed.from_bytes(row["credentials"])
        before = Sealed.from_bytes(old_sealed)
        assert (rewrapped.nonce, rewrapped.ciphertext) == (before.nonce, before.ciphertext)
        # The old key is no longer needed, and the account works.
        account = await PostgresCloudRepository(db).find("cld-rotated")
        assert account is not None
        assert credentials.open_credentials(Keyring(KEY), account)["access_key_id"] == AWS_KEY_ID
        assert ok(await client.get("/v1/clouds/cld-rotated/regions", headers=alpha()))["items"]

        # No key opens this one: the service runs, the account says so and refuses to be used.
        lost = ok(await client.get("/v1/clouds/cld-lost", headers=alpha()))
        assert lost["credentials_readable"] is False
        refused = await client.get("/v1/clouds/cld-lost/regions", headers=alpha())
        assert refused.status_code == 409 and refused.json()["code"] == "cloud_credentials_unreadable"
        # ...until its credentials are set again.
        fixed = await client.patch(
            "/v1/clouds/cld-lost",
            headers=alpha(),
            json={"credentials": {"access_key_id": "AKIANEW", "secret_access_key": "new-secret-value"}},
        )
        assert ok(fixed)["credentials_readable"] is True
        assert ok(await client.get("/v1/clouds/cld-lost/regions", headers=alpha()))["items"]


def test_rotate_keys_command_rewraps_offline(
    make_settings: Callable[..., ProvisionerSettings], database_url: str, moto: MotoServer
) -> None:
    async def prepare() -> None:
        async with provisioner(make_settings(key=OLD)):
            pass
        conn = await connect(database_url)
        try:
            await seal_api_account(conn, OLD, "cld-a", ec2_config(moto))
            await seal_api_account(conn, OLD, "cld-b", ec2_config(moto))
            await seal_api_account(conn, LOST, "cld-c", ec2_config(moto))
        finally:
            await conn.close()

    asyncio.run(prepare())
    env = {
        **os.environ,
        "CLANAVI_DATABASE_URL": database_url,
        "CLANAVI_SECRET_KEY": KEY,
        "CLANAVI_SECRET_KEY_PREVIOUS": OLD,
        "CLANAVI_ENV": "test",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(  # noqa: S603 - our own CLI, with the test's interpreter
        [sys.executable, "-m", "services", "rotate-keys", "provisioner"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert f"rewrapped the credentials of 2 cloud accounts with key {Keyring(KEY).key_id}" in done.stdout
    assert "cld-c" in done.stderr and "cld-a" not in done.stderr
    assert KEY not in done.stdout + done.stderr and OLD not in done.stdout + done.stderr

    async def key_ids() -> dict[str, str]:
        conn = await connect(database_url)
        try:
            rows = await conn.fetch("SELECT id, credentials_key_id FROM clouds WHERE source = 'api'")
            return {r["id"]: r["credentials_key_id"] for r in rows}
        finally:
            await conn.close()

    ids = asyncio.run(key_ids())
    assert ids == {"cld-a": Keyring(KEY).key_id, "cld-b": Keyring(KEY).key_id, "cld-c": Keyring(LOST).key_id}


# --- a project's accounts ------------------------------------------------------------------------------------


async def test_adding_an_account_tests_it_and_keeps_secrets_out_of_config(
    make_settings: Callable[..., ProvisionerSettings],
    db: asyncpg.Connection[asyncpg.Record],
    moto: MotoServer,
    tap: Tap,
) -> None:
    async with provisioner(make_settings()) as client:
        in_config = await client.post(
            "/v1/clouds",
            headers=alpha(),
            json={"name": "aws", "driver": "ec2", "config": {**ec2_config(moto), "secret_access_key": AWS_SECRET}},
        )
        assert in_config.status_code == 422, in_config.text
        assert in_config.json()["errors"][0]["location"] == "body.config.secret_access_key"
        assert "credentials" in in_config.json()["errors"][0]["message"] and AWS_SECRET not in in_config.text

        not_secret = await client.post(
            "/v1/clouds",
            headers=alpha(),
            json={"name": "aws", "driver": "ec2", "config": {}, "credentials": {"region": "us-east-1"}},
        )
        assert not_secret.status_code == 422 and not_secret.json()["errors"][0]["location"] == "body.credentials.region"

        closed = f"http://127.0.0.1:{free_port()}"
        refused = await client.post("/v1/clouds", headers=alpha(), json=ec2_account(moto, endpoint_url=closed))
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "cloud_connection_failed"
        assert not any(secret in refused.text for secret in SECRETS)
        assert await db.fetchval("SELECT count(*) FROM clouds WHERE project_id = 'alpha'") == 0

        unknown = await client.post("/v1/clouds", headers=alpha(), json={"name": "x", "driver": "vmware"})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["location"] == "body.driver"

        body = ec2_account(moto)
        added = ok(await client.post("/v1/clouds", headers=alpha(), json=body), 201)
        assert added["id"].startswith("cld-") and added["project_id"] == "alpha" and added["source"] == "api"
        assert added["credential_fields"] == ["access_key_id", "secret_access_key"]
        assert "ec2" == added["driver"] and "zones" in added["features"]
        assert not any(secret in json.dumps(added) for secret in SECRETS)
        assert ok(await client.get(f"/v1/clouds/{added['id']}/zones", headers=alpha()))["items"]

        taken = await client.post("/v1/clouds", headers=alpha(), json=body)
        assert taken.status_code == 409 and taken.json()["errors"][0]["location"] == "body.name"
        # Names are unique per project only.
        ok(await client.post("/v1/clouds", headers=beta(), json=body), 201)

        row = await db.fetchrow("SELECT * FROM clouds WHERE id = $1", added["id"])
        assert row is not None and row["source"] == "api"
        assert not any(s.encode() in bytes(row["credentials"]) + json.dumps(row["config"]).encode() for s in SECRETS)

        events = await tap.until(lambda events: sum(e["project_id"] != "default" for e in events) >= 2)
    added_events = [e for e in events if e["type"] == "cloud.added" and e["project_id"] == "alpha"]
    assert [e["subject"] for e in added_events] == [added["id"]]
    assert added_events[0]["payload"]["credential_fields"] == ["access_key_id", "secret_access_key"]
    assert not any(secret in json.dumps(events) for secret in SECRETS)


async def test_changing_an_account_tests_the_change_first_and_reconnects(
    make_settings: Callable[..., ProvisionerSettings],
    db: asyncpg.Connection[asyncpg.Record],
    moto: MotoServer,
    tap: Tap,
) -> None:
    async with provisioner(make_settings()) as client:
        body = ec2_account(moto)
        cloud = ok(await client.post("/v1/clouds", headers=alpha(), json=body), 201)
        path = f"/v1/clouds/{cloud['id']}"
        assert ok(await client.get(f"{path}/regions", headers=alpha()))["items"]
        sealed_before = await db.fetchval("SELECT credentials FROM clouds WHERE id = $1", cloud["id"])

        broken = await client.patch(
            path,
            headers=alpha(),
            json={"config": {**ec2_config(moto), "endpoint_url": f"http://127.0.0.1:{free_port()}"}},
        )
        assert broken.status_code == 422 and broken.json()["code"] == "cloud_connection_failed", broken.text
        assert ok(await client.get(path, headers=alpha()))["config"]["endpoint_url"] == moto.url
        assert ok(await client.get(f"{path}/regions", headers=alpha()))["items"]

        secret_in_config = await client.patch(
            path, headers=alpha(), json={"config": {**ec2_config(moto), "session_token": "token-value"}}
        )
        assert secret_in_config.status_code == 422
        assert secret_in_config.json()["errors"][0]["location"] == "body.config.session_token"

        renamed = ok(
            await client.patch(
                path,
                headers=alpha(),
                json={"name": "aws-prod", "credentials": {"access_key_id": "AKIAOTHER", "secret_access_key": "s2"}},
            )
        )
        assert renamed["name"] == "aws-prod"
        assert await db.fetchval("SELECT credentials FROM clouds WHERE id = $1", cloud["id"]) != sealed_before
        assert ok(await client.get(f"{path}/regions", headers=alpha()))["items"]

        configured = await client.patch("/v1/clouds/sim", headers=default(), json={"name": "Sim"})
        assert configured.status_code == 409 and configured.json()["code"] == "cloud_configured"

        await tap.until(lambda events: any(e["type"] == "cloud.updated" for e in events))
    updated = tap.of("cloud.updated")
    assert len(updated) == 1
    assert updated[0]["payload"]["changed"] == ["name", "credentials"]
    assert updated[0]["payload"]["credential_fields"] == ["access_key_id", "secret_access_key"]


async def test_a_stored_account_is_tested_again_by_operators_and_stays_as_it_is(
    make_settings: Callable[..., ProvisionerSettings],
    db: asyncpg.Connection[asyncpg.Record],
    moto: MotoServer,
) -> None:
    async with provisioner(make_settings()) as client:
        body = ec2_account(moto)
        cloud = ok(await client.post("/v1/clouds", headers=alpha(), json=body), 201)
        test = f"/v1/clouds/{cloud['id']}/test"

        passed = ok(await client.post(test, headers=identity_headers("alpha", Role.OPERATOR)))
        assert passed["ok"] and passed["tested"] == "regions" and passed["found"] > 0, passed
        assert passed["code"] is None and passed["errors"] == [] and passed["latency_ms"] >= 0
        viewer = await client.post(test, headers=identity_headers("alpha", Role.VIEWER))
        assert viewer.status_code == 403, viewer.text
        assert (await client.post(test, headers=beta())).status_code == 404

        # The cloud goes away: the stored endpoint now reaches nothing.
        gone = {**ec2_config(moto), "endpoint_url": f"http://127.0.0.1:{free_port()}"}
        await db.execute("UPDATE clouds SET config = $2 WHERE id = $1", cloud["id"], gone)
        before = await db.fetchrow("SELECT * FROM clouds WHERE id = $1", cloud["id"])
        failed = await client.post(test, headers=alpha())
        assert failed.status_code == 200, failed.text
        answer = failed.json()
        assert not answer["ok"] and answer["code"] == "cloud_connection_failed" and answer["found"] is None
        assert "The account is unchanged." in answer["detail"] and answer["errors"][0]["location"] == "cloud"
        assert not any(secret in failed.text for secret in SECRETS)
        assert await db.fetchrow("SELECT * FROM clouds WHERE id = $1", cloud["id"]) == before


async def wait_running(client: httpx.AsyncClient, instance_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = ok(await client.get(f"/v1/instances/{instance_id}", headers=alpha()))["state"]
        if state == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"instance {instance_id} not running within 20 s")


async def test_each_project_sees_and_uses_only_its_own_accounts(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    async with provisioner(make_settings()) as client:
        cloud = ok(
            await client.post("/v1/clouds", headers=alpha(), json={"name": "sim", "driver": "simcloud", "config": SIM}),
            201,
        )
        cid = cloud["id"]
        assert [c["id"] for c in ok(await client.get("/v1/clouds", headers=alpha()))["items"]] == [cid]
        assert cid not in (await client.get("/v1/clouds", headers=beta())).text
        assert [c["id"] for c in ok(await client.get("/v1/clouds", headers=default()))["items"]] == ["sim"]

        for path in (f"/v1/clouds/{cid}", f"/v1/clouds/{cid}/regions", f"/v1/clouds/{cid}/zones"):
            theirs = await client.get(path, headers=beta())
            nobodys = await client.get(path.replace(cid, "cld-nobody"), headers=beta())
            assert theirs.status_code == nobodys.status_code == 404, path
            assert theirs.json()["detail"] == f"Cloud {cid} does not exist."
            assert nobodys.json()["detail"] == "Cloud cld-nobody does not exist."
        for path in ("/v1/images", "/v1/flavors"):
            assert (await client.get(path, params={"cloud_id": cid}, headers=beta())).status_code == 404
            assert ok(await client.get(path, params={"cloud_id": cid}, headers=alpha()))["items"]
            assert {i["cloud_id"] for i in ok(await client.get(path, headers=alpha()))["items"]} == {cid}
            assert cid not in (await client.get(path, headers=beta())).text

        launch = {"cloud_id": cid, "name": "web", "image_id": "img-debian-12", "flavor_id": "sim.small"}
        theirs = await client.post("/v1/instances", headers=beta(), json=launch)
        unknown = await client.post("/v1/instances", headers=beta(), json={**launch, "cloud_id": "cld-nobody"})
        assert theirs.status_code == unknown.status_code == 422
        assert theirs.json()["detail"] == f"Cloud {cid} does not exist."
        for path, body in (
            ("/v1/key-pairs", {"cloud_id": cid, "name": "k"}),
            ("/v1/security-groups", {"cloud_id": cid, "name": "g"}),
            ("/v1/volumes", {"cloud_id": cid, "name": "v", "size_gb": 1}),
            ("/v1/addresses", {"cloud_id": cid}),
        ):
            answer = await client.post(path, headers=beta(), json=body)
            assert answer.status_code == 422 and answer.json()["detail"] == f"Cloud {cid} does not exist.", path
        for method in ("PATCH", "DELETE"):
            answer = await client.request(method, f"/v1/clouds/{cid}", headers=beta(), json={"name": "mine"})
            assert answer.status_code == 404, (method, answer.text)

        assert ok(await client.post("/v1/instances", headers=alpha(), json=launch), 202)
    assert await db.fetchval("SELECT count(*) FROM resources") == 0


async def test_removing_an_account_is_refused_while_it_holds_live_resources_unless_forced(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record], tap: Tap
) -> None:
    async with provisioner(make_settings()) as client:
        cid = ok(
            await client.post("/v1/clouds", headers=alpha(), json={"name": "sim", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]
        launch = {"cloud_id": cid, "name": "web", "image_id": "img-debian-12", "flavor_id": "sim.small"}
        instance = ok(await client.post("/v1/instances", headers=alpha(), json=launch), 202)
        await wait_running(client, instance["id"])
        volume = await client.post("/v1/volumes", headers=alpha(), json={"cloud_id": cid, "name": "v", "size_gb": 1})
        assert volume.status_code in (200, 201, 202), volume.text

        refused = await client.delete(f"/v1/clouds/{cid}", headers=alpha())
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "cloud_in_use"
        assert refused.json()["in_use"] == {"instances": 1, "volumes": 1}
        assert ok(await client.get(f"/v1/clouds/{cid}", headers=alpha()))["id"] == cid

        ok(await client.delete(f"/v1/clouds/{cid}", params={"force": "true"}, headers=alpha()), 204)
        assert (await client.get(f"/v1/clouds/{cid}", headers=alpha())).status_code == 404
        assert (await client.get(f"/v1/instances/{instance['id']}", headers=alpha())).status_code == 404

        # An account whose instances all ended goes without force, its records of them with it.
        other = ok(
            await client.post(
                "/v1/clouds", headers=alpha(), json={"name": "sim2", "driver": "simcloud", "config": SIM}
            ),
            201,
        )["id"]
        ended = ok(await client.post("/v1/instances", headers=alpha(), json={**launch, "cloud_id": other}), 202)
        await wait_running(client, ended["id"])
        ok(await client.delete(f"/v1/instances/{ended['id']}", headers=alpha()), 202)
        deadline = time.monotonic() + 20
        while ok(await client.get(f"/v1/instances/{ended['id']}", headers=alpha()))["state"] != "terminated":
            assert time.monotonic() < deadline, "not terminated"
            await asyncio.sleep(0.05)
        ok(await client.delete(f"/v1/clouds/{other}", headers=alpha()), 204)

        await tap.until(lambda events: len(tap.of("cloud.removed")) == 2)
    removed = tap.of("cloud.removed")
    assert [(e["subject"], e["payload"]["forced"]) for e in removed] == [(cid, True), (other, False)]
    assert removed[0]["payload"]["forgotten"] == {"instances": 1, "volumes": 1}
    assert instance["id"] in removed[0]["payload"]["forgotten_ids"]
    assert await db.fetchval("SELECT count(*) FROM instances") == 0


@pytest.fixture(scope="module", autouse=True)
def _no_stray_secret_key() -> Iterator[None]:
    """The settings given here decide, whatever the environment holds."""
    saved = {k: os.environ.pop(k) for k in ("CLANAVI_SECRET_KEY", "CLANAVI_SECRET_KEY_PREVIOUS") if k in os.environ}
    yield
    os.environ.update(saved)


# --- where accounts may point ------------------------------------------------------------------------------------

BANNER = "SECRET-BANNER-1234"
DENIED = "cloud_endpoint_denied"


class Listener:
    """A TCP server on loopback (127.0.0.1, and ::1 on the same port when it can) that counts the connections it
    accepts and answers each with `answer`, then closes it."""

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.accepted = 0
        self.servers: list[asyncio.Server] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            if self.answer and not self.answer.startswith(b"HTTP/"):
                writer.write(self.answer)  # a banner, sent before anything is asked
            else:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                writer.write(self.answer)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> int:
        first = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.servers.append(first)
        port: int = first.sockets[0].getsockname()[1]
        try:
            self.servers.append(await asyncio.start_server(self._serve, "::1", port))
        except OSError:
            pass  # no IPv6 here: [::1] is refused before any connection all the same
        return port

    async def __aexit__(self, *exc: object) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()


def http_answer(status: str, body: str, content_type: str) -> bytes:
    return (
        f"HTTP/1.1 {status} {BANNER}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}"
    ).encode()


# What another service (one that is not the cloud's) might answer, each carrying the banner.
ANSWERS = {
    # (A page that is well-formed XML passes for an EC2 answer with no regions in it: no use here.)
    "a page": http_answer("200", f"<!DOCTYPE html><html><body>{BANNER}<br></body></html>", "text/html"),
    "an error document": http_answer(
        "404", json.dumps({"error": {"message": BANNER, "code": 404}}), "application/json"
    ),
    "a server error": http_answer("500", f"<html>{BANNER}</html>", "text/html"),
    "a banner": f"{BANNER}\r\n".encode(),
}
XMLRPC_FAULT = http_answer(
    "200",
    "<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int>"
    f"</value></member><member><name>faultString</name><value><string>{BANNER}</string></value></member></struct>"
    "</value></fault></methodResponse>",
    "text/xml",
)


def account_at(driver: str, url: str) -> dict[str, Any]:
    """A new account of `driver` whose endpoint is `url`."""
    if driver == "ec2":
        config = {
            "region": "us-east-1",
            "endpoint_url": url,
            "throttle": {"max_attempts": 1},
            "connect_timeout_seconds": 5,
            "read_timeout_seconds": 5,
        }
        return {"config": config, "credentials": {"access_key_id": AWS_KEY_ID, "secret_access_key": AWS_SECRET}}
    if driver == "openstack":
        config = {"auth_url": f"{url}/v3", "username": "admin", "project_name": "admin", "timeout_seconds": 5}
        return {"config": config, "credentials": {"password": XCP_PASSWORD}}
    assert driver == "xcp"
    return {"config": {"url": url, "username": "root"}, "credentials": {"password": XCP_PASSWORD}}


async def test_accounts_added_through_the_api_may_not_point_at_this_machine_or_at_metadata(
    make_settings: Callable[..., ProvisionerSettings], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    listener = Listener()
    async with listener as port, provisioner(make_settings(endpoint_deny=DEFAULT_ENDPOINT_DENY)) as client:
        ec2 = account_at("ec2", "")
        refused: list[tuple[dict[str, Any], str]] = [
            *(
                ({**ec2, "driver": "ec2", "config": {**ec2["config"], "endpoint_url": url}}, "body.config.endpoint_url")
                for url in (
                    f"http://127.0.0.1:{port}",
                    f"http://localhost:{port}/",
                    f"http://[::1]:{port}",
                    f"http://[::ffff:127.0.0.1]:{port}",
                    f"http://2130706433:{port}",  # 127.0.0.1 as one number
                    f"http://0.0.0.0:{port}",
                    "http://169.254.169.254/latest/meta-data/",
                    "http://no-such-host.invalid/",
                )
            ),
            (
                {**ec2, "driver": "ec2", "config": {"cloudwatch_endpoint_url": f"http://127.0.0.1:{port}"}},
                "body.config.cloudwatch_endpoint_url",
            ),
            ({**account_at("openstack", f"http://localhost:{port}"), "driver": "openstack"}, "body.config.auth_url"),
            ({**account_at("xcp", f"https://127.0.0.1:{port}/"), "driver": "xcp"}, "body.config.url"),
            ({"driver": "libvirt", "config": {"uri": f"qemu+tcp://127.0.0.1:{port}/system"}}, "body.config.uri"),
            ({"driver": "libvirt", "config": {"uri": "qemu:///system"}}, "body.config.uri"),
            ({"driver": "libvirt", "config": {"uri": "qemu+ext:///system?command=/bin/true"}}, "body.config.uri"),
            (
                {"driver": "libvirt", "config": {}, "credentials": {"uri": f"qemu+ssh://root:pw@localhost:{port}/x"}},
                "body.credentials.uri",
            ),
        ]
        for n, (body, location) in enumerate(refused):
            answer = await client.post("/v1/clouds", headers=alpha(), json={"name": f"c{n}", **body})
            assert answer.status_code == 422, (body, answer.text)
            problem = answer.json()
            assert problem["code"] == DENIED and [e["location"] for e in problem["errors"]] == [location], problem
            assert "CLANAVI_PROVISIONER_ENDPOINT_DENY" in problem["detail"]
        assert await db.fetchval("SELECT count(*) FROM clouds WHERE project_id = 'alpha'") == 0

        # libvirt's test driver opens nothing: allowed.
        lab = ok(
            await client.post(
                "/v1/clouds",
                headers=alpha(),
                json={"name": "lab", "driver": "libvirt", "config": {"uri": "test:///default", "pool": "default-pool"}},
            ),
            201,
        )
        moved = await client.patch(
            f"/v1/clouds/{lab['id']}", headers=alpha(), json={"config": {"uri": f"qemu+tcp://localhost:{port}/system"}}
        )
        assert moved.status_code == 422 and moved.json()["code"] == DENIED, moved.text
        assert moved.json()["errors"][0]["location"] == "body.config.uri"

        # Accounts added earlier (when the policy allowed them) cannot be moved there either.
        for cloud_id, driver, config, field in (
            ("cld-aws", "ec2", {"region": "us-east-1", "endpoint_url": "http://ec2.example.org"}, "endpoint_url"),
            ("cld-os", "openstack", {**account_at("openstack", "http://keystone.example.org")["config"]}, "auth_url"),
            ("cld-xen", "xcp", {"url": "https://xen.example.org", "username": "root"}, "url"),
        ):
            await seal_api_account(db, KEY, cloud_id, config)
            await db.execute("UPDATE clouds SET driver = $2 WHERE id = $1", cloud_id, driver)
            if driver != "ec2":
                sealed, key_id = credentials.seal(Keyring(KEY), cloud_id, {"password": XCP_PASSWORD})
                await db.execute(
                    "UPDATE clouds SET credentials = $2, credentials_key_id = $3, credential_fields = '{password}' "
                    "WHERE id = $1",
                    cloud_id,
                    sealed,
                    key_id,
                )
            url = f"http://127.0.0.1:{port}/v3" if driver == "openstack" else f"http://127.0.0.1:{port}"
            answer = await client.patch(
                f"/v1/clouds/{cloud_id}", headers=alpha(), json={"config": {**config, field: url}}
            )
            assert answer.status_code == 422 and answer.json()["code"] == DENIED, answer.text
            assert answer.json()["errors"][0]["location"] == f"body.config.{field}"
            assert ok(await client.get(f"/v1/clouds/{cloud_id}", headers=alpha()))["config"][field] == config[field]
            # A change that connects nothing is not checked.
            assert ok(await client.patch(f"/v1/clouds/{cloud_id}", headers=alpha(), json={"name": f"{driver}-2"}))

        stored = await db.fetch("SELECT id, config FROM clouds WHERE project_id = 'alpha' ORDER BY id")
        assert [r["id"] for r in stored] == sorted(["cld-aws", "cld-os", "cld-xen", lab["id"]])
        assert all(str(port) not in json.dumps(r["config"]) for r in stored)
    assert listener.accepted == 0


async def test_accounts_from_configuration_are_not_checked(
    make_settings: Callable[..., ProvisionerSettings], moto: MotoServer
) -> None:
    aws = {
        "id": "aws",
        "name": "AWS",
        "driver": "ec2",
        "config": ec2_config(moto),
        "credentials": {"access_key_id": AWS_KEY_ID, "secret_access_key": AWS_SECRET},
    }
    settings = make_settings(clouds=[aws], endpoint_deny=DEFAULT_ENDPOINT_DENY)
    assert moto.url.startswith("http://127.0.0.1:")
    async with provisioner(settings) as client:
        assert ok(await client.get("/v1/clouds/aws/regions", headers=default()))["items"]


@pytest.mark.parametrize("driver", ["ec2", "openstack", "xcp"])
async def test_a_failed_connection_test_does_not_repeat_what_the_other_side_answered(
    make_settings: Callable[..., ProvisionerSettings],
    db: asyncpg.Connection[asyncpg.Record],
    caplog: pytest.LogCaptureFixture,
    driver: str,
) -> None:
    answers = {**ANSWERS, "an XML-RPC fault": XMLRPC_FAULT} if driver == "xcp" else ANSWERS
    async with provisioner(make_settings()) as client:
        for what, answer in answers.items():
            async with Listener(answer) as port:
                body = {"name": "probe", "driver": driver, **account_at(driver, f"http://127.0.0.1:{port}")}
                refused = await client.post("/v1/clouds", headers=alpha(), json=body)
            assert refused.status_code == 422, (what, refused.text)
            assert refused.json()["code"] == "cloud_connection_failed", (what, refused.text)
            assert BANNER not in refused.text, (what, refused.text)
            assert not any(secret in refused.text for secret in SECRETS)
    assert await db.fetchval("SELECT count(*) FROM clouds WHERE project_id = 'alpha'") == 0
    # The whole error is the operators' to read.
    assert BANNER in caplog.text
