"""The audit's evidence on real PostgreSQL and RabbitMQ: digests signed on their own every few tenths of a second over
what the bus delivered, an export that verifies against them, retention that leaves the trail verifiable, and API
calls searchable by who, method, status and path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from kernel.audit_trail import Digest, generate_private_key, load_public_key, verify_digest_signature, verify_export
from kernel.bus import Bus
from kernel.events import ApiCalled, new_event
from services.audit import handlers
from services.audit.settings import AuditSettings
from tests.integration.test_audit_app import (
    Stack,
    app,
    audit_stack,
    client,
    event,
    publish,
    publisher,
    settings_on,
    wait_for_count,
)
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

__all__ = ["app", "audit_stack", "client", "publisher"]  # the fixtures of test_audit_app, its stack and its app

ADMIN = identity_headers("p1", admin=True)
P1 = identity_headers("p1")


@pytest.fixture
def audit_settings(audit_stack: Stack) -> Iterator[AuditSettings]:
    """Digests signed every 0.2 s with a key of the test's."""
    signing = {"signing_key": SecretStr(generate_private_key()), "digest_interval_seconds": 0.2}
    with settings_on(audit_stack, **signing) as settings:
        yield settings


async def digest_covering(client: httpx.AsyncClient, seq: int) -> dict[str, Any]:
    """Poll until a digest vouches for the records up to `seq`."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        page = (await client.get("/v1/audit/digests", headers=ADMIN)).json()
        if page["items"] and page["items"][0]["last_seq"] >= seq:
            newest: dict[str, Any] = page["items"][0]
            return newest
        assert asyncio.get_running_loop().time() < deadline, f"no digest reached seq {seq}: {page}"
        await asyncio.sleep(0.05)


async def export(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/v1/audit/export", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.text.splitlines()


async def test_digests_sign_the_chain_and_an_export_verifies(client: httpx.AsyncClient, publisher: Bus) -> None:
    await publish(publisher, *(event(n) for n in range(1, 6)))
    await wait_for_count(client, 5)
    newest = await digest_covering(client, 5)
    assert newest["record_count"] == 5

    key = (await client.get("/v1/audit/public-key", headers=P1)).json()
    assert key["algorithm"] == "Ed25519" and key["key_id"] == newest["key_id"]
    assert verify_digest_signature(Digest.from_json(newest), load_public_key(key["public_key"]))

    await publish(publisher, *(event(n) for n in range(6, 9)))
    await wait_for_count(client, 8)
    later = await digest_covering(client, 8)
    assert later["record_count"] == 8 and later["previous_signature"] is not None

    lines = await export(client)
    report = verify_export(lines, key["public_key"])
    assert report.findings == [] and report.records == 8 and report.covered_to_seq == 8

    # One record's payload edited in the export is named.
    rows = [json.loads(line) for line in lines]
    edited = next(i for i, row in enumerate(rows) if row["kind"] == "record" and row["seq"] == 4)
    rows[edited]["payload"]["n"] = 40
    tampered = verify_export([json.dumps(row) for row in rows], key["public_key"])
    assert [(f.kind, f.seq) for f in tampered.findings] == [("edited", 4)]


async def test_digests_and_export_are_for_platform_admins(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/audit/digests", headers=P1)).status_code == 403
    assert (await client.get("/v1/audit/export", headers=P1)).status_code == 403
    assert (await client.get("/v1/audit/export")).status_code == 401


async def test_retention_removes_up_to_a_digest_and_the_trail_still_verifies(
    app: FastAPI, client: httpx.AsyncClient, publisher: Bus, audit_settings: AuditSettings
) -> None:
    await publish(publisher, *(event(n) for n in range(1, 5)))
    await wait_for_count(client, 4)
    await digest_covering(client, 4)
    await publish(publisher, *(event(n) for n in range(5, 7)))
    await wait_for_count(client, 6)
    await digest_covering(client, 6)

    removed = await handlers.apply_retention(app.state.uow, datetime.now(UTC) + timedelta(days=1))
    assert removed >= 4
    seqs = [item["seq"] for item in (await client.get("/v1/audit/events", headers=P1)).json()["items"]]
    assert seqs and min(seqs) > 4 and max(seqs) == 6

    assert (await client.get("/v1/audit/verify", headers=ADMIN)).json()["valid"] is True
    lines = await export(client)
    header = json.loads(lines[0])
    assert header["retention"]["records_removed"] is True
    report = verify_export(lines)
    assert report.findings == [] and report.anchored

    # Outside the retention job the trail stays append-only.
    conn = await asyncpg.connect(audit_settings.kernel.database_url.get_secret_value())
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit.events")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit.digests")
    finally:
        await conn.close()


def call(n: int, principal: str, method: str, status: int, path: str) -> Any:
    payload = ApiCalled(
        principal=principal,
        method=method,
        path=path,
        route=None,
        resource_id=None,
        query="",
        client_address="10.0.0.1",
        status=status,
        duration_ms=1.5,
    )
    return new_event(
        payload, project_id="p1", correlation_id=f"c-{n}", occurred_at=datetime(2024, 5, 1, tzinfo=UTC) + timedelta(n)
    )


async def test_api_calls_are_searched_by_actor_method_status_and_path(
    client: httpx.AsyncClient, publisher: Bus
) -> None:
    calls = [
        call(1, "user:a", "GET", 200, "/v1/instances"),
        call(2, "user:b", "POST", 201, "/v1/instances"),
        call(3, "key:k", "DELETE", 404, "/v1/volumes/v-1"),
    ]
    other = event(9)
    await publish(publisher, *calls, other)
    await wait_for_count(client, 1)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/audit/events", params=params, headers=P1)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    c1, c2, c3 = (str(c.id) for c in calls)
    # The calls are left out of the trail unless asked for.
    deadline = asyncio.get_running_loop().time() + 15
    while len(await ids(calls="include")) < 4:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert await ids() == [str(other.id)]
    assert await ids(calls="include") == [str(other.id), c1, c2, c3]
    assert await ids(calls="only") == [c1, c2, c3]
    assert await ids(actor="user:b") == [c2]
    assert await ids(method="delete") == [c3]
    assert await ids(status=201) == [c2]
    assert await ids(path="/v1/instances") == [c1, c2]
    assert await ids(type="api.called") == [c1, c2, c3]
    assert (await client.get("/v1/audit/events", params={"status": 99}, headers=P1)).status_code == 422
