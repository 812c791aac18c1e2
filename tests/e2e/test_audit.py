"""The audit on the platform as processes: an API call recorded with who made it, what it asked, from where and the
answer's status (and no secret); the trail exported with the installed `clanavi` and verified offline against the
signed digests, a hand-edited line detected; identities forged past the gateway refused; the console's audit page
with the API calls, their filters and (for platform admins) the digests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role
from tests.e2e.console_kit import CONSOLE, add_members, logged_in
from tests.e2e.platform import TOKEN, Platform, eventually
from tests.e2e.tenants import PASSWORD
from tests.e2e.test_cli import Shell

pytestmark = pytest.mark.e2e

CHECKOUT = str(Path(__file__).resolve().parents[2])


async def call_recorded(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await client.get("/v1/audit/events", params={"type": "api.called", "path": path})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items[0] if items else None

    return await eventually(probe, what=f"the call to {path} in the audit")


async def test_an_api_call_is_recorded_with_who_what_where_and_status(platform: Platform) -> None:
    path = f"/v1/instances/i-{uuid.uuid4().hex[:12]}"
    async with platform.client() as admin:
        me = (await admin.get("/v1/me")).json()
        # X-Forwarded-For from a peer that is no trusted proxy is not believed.
        answer = await admin.get(
            path, params={"access_token": "s3cr3t-value", "limit": "5"}, headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert answer.status_code == 404
        call = await call_recorded(admin, path)

    payload = call["payload"]
    assert payload["principal"] == f"key:{me['api_key']['id']}"
    assert (payload["method"], payload["path"], payload["status"]) == ("GET", path, 404)
    assert payload["route"] == "/v1/instances/{instance_id}" and payload["resource_id"] == path.rsplit("/", 1)[1]
    assert call["subject"] is None  # refused: the id it names is no resource of the project
    assert payload["client_address"] == "127.0.0.1" and payload["duration_ms"] > 0
    assert call["correlation_id"] == answer.headers["X-Correlation-ID"] and call["project_id"] == "default"
    assert "access_token=%5Bredacted%5D" in payload["query"] and "limit=5" in payload["query"]
    recorded = json.dumps(call)
    assert "s3cr3t-value" not in recorded and TOKEN not in recorded and "Bearer" not in recorded


async def test_an_export_verifies_offline_and_a_hand_edited_line_is_detected(
    platform: Platform, tmp_path: Path
) -> None:
    async with platform.client() as admin:
        marker = f"/v1/volumes/v-{uuid.uuid4().hex[:12]}"
        assert (await admin.get(marker)).status_code == 404
        recorded = await call_recorded(admin, marker)

        async def covered() -> bool:
            digests = (await admin.get("/v1/audit/digests", params={"limit": 1})).json()["items"]
            return bool(digests) and digests[0]["last_seq"] >= recorded["seq"]

        await eventually(covered, what="a digest over the recorded call")

    shell = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    trail, key = tmp_path / "trail.jsonl", tmp_path / "audit.pem"
    shell("audit", "export", "--file", str(trail))
    key.write_text(shell("audit", "public-key").out)

    # Offline: no server named.
    offline = Shell(tmp_path / "offline", PYTHONPATH=CHECKOUT)
    report = offline("audit", "verify", "--file", str(trail), "--public-key", str(key), "-o", "json").json()
    assert report["valid"] is True and report["findings"] == [] and report["key"] == "given"
    assert report["covered_to_seq"] >= recorded["seq"]

    lines = trail.read_text().splitlines()
    edited = next(i for i, line in enumerate(lines) if marker in line)
    lines[edited] = lines[edited].replace('"status": 404', '"status": 200')
    trail.write_text("\n".join(lines) + "\n")
    broken = offline("audit", "verify", "--file", str(trail), "--public-key", str(key), "-o", "json", expect=1)
    assert broken.json()["findings"][0].startswith(f"edited: seq {recorded['seq']}:")


async def test_a_forged_identity_is_refused(platform: Platform) -> None:
    audit_url = f"http://127.0.0.1:{platform.processes['audit'].port}"
    forged = IdentitySigner(b"not-the-internal-key-0123456789abcdef").sign(Identity("user:x", "default", Role.OWNER))
    async with httpx.AsyncClient(base_url=audit_url, timeout=30) as direct:
        for path in ("/v1/audit/events", "/v1/audit/export", "/v1/audit/digests"):
            assert (await direct.get(path, headers={IDENTITY_HEADER: forged})).status_code == 401
            assert (await direct.get(path)).status_code == 401
    # Through the gateway a caller's own identity header is not believed: the gateway signs who it authenticated.
    async with platform.client(token=None) as anonymous:
        answer = await anonymous.get("/v1/audit/export", headers={IDENTITY_HEADER: forged})
        assert answer.status_code == 401


async def test_the_console_shows_api_calls_with_filters_and_admins_the_digests(platform: Platform) -> None:
    members = await add_members(platform, f"audit-{uuid.uuid4().hex[:6]}")
    tag = uuid.uuid4().hex[:6]
    async with platform.client() as admin:
        made = await admin.post(
            "/v1/users",
            json={"email": f"root-{tag}@example.com", "name": "root", "password": PASSWORD, "admin": True},
        )
        assert made.status_code == 201, made.text
        path = f"/v1/instances/i-{uuid.uuid4().hex[:12]}"
        assert (await admin.get(path)).status_code == 404
        await call_recorded(admin, path)

    async with logged_in(platform, members["viewer"].email) as viewer:
        page = await viewer.get(f"{CONSOLE}/audit", params={"kind": "calls", "status": "404", "path": path})
        assert page.status_code == 200, page.text
        assert f"GET {path}</code> &rarr; 404" in page.text
        assert "Signed digests" not in page.text  # a viewer reads no digest
        other = await viewer.get(f"{CONSOLE}/audit", params={"kind": "calls", "status": "200", "path": path})
        assert f"GET {path}</code>" not in other.text and "No events match." in other.text
        bad = await viewer.get(f"{CONSOLE}/audit", params={"status": "many"})
        assert bad.status_code == 422 and "An HTTP status" in bad.text

    async with logged_in(platform, f"root-{tag}@example.com") as root:
        page = await root.get(f"{CONSOLE}/audit")
        assert page.status_code == 200 and "Signed digests" in page.text and "No digest yet." not in page.text
