"""`clanavi audit export --file` writes what the API answers, and `clanavi audit verify --file` checks it offline:
no request is made, a whole export passes, a hand-edited line fails with the record named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kernel.audit_trail import generate_private_key, load_private_key, public_key_pem
from kernel.events import Envelope
from services.audit import handlers
from tests.cli_kit import Cli, logged_in
from tests.fakes.audit import fake_audit
from tests.network import Network

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEY = load_private_key(generate_private_key())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


async def exported(count: int) -> str:
    uow = fake_audit()
    for n in range(1, count + 1):
        async with uow.transaction() as tx:
            await handlers.record_event(
                tx,
                Envelope.model_validate(
                    {
                        "type": "api.called",
                        "version": 1,
                        "occurred_at": T0 + timedelta(seconds=n),
                        "project_id": "p1",
                        "correlation_id": f"corr-{n}",
                        "payload": {"principal": "user:u1", "method": "GET", "path": f"/v1/instances/{n}"},
                    }
                ),
            )
    await handlers.make_digest(uow, KEY, T0)
    return "".join([line async for line in handlers.export(uow, public_key_pem(KEY), T0)])


async def test_export_writes_the_answer_to_the_file(cli: Cli, tmp_path: Path) -> None:
    content = await exported(3)
    network = Network(httpx.Response(200, text=content, headers={"Content-Type": "application/x-ndjson"}))
    target = tmp_path / "trail.jsonl"
    ran = cli("audit", "export", "--file", str(target), network=network)
    assert ran.status == 0, ran.err
    assert target.read_text() == content
    assert network.paths() == ["GET /v1/audit/export"]


async def test_verify_offline_passes_a_whole_export(cli: Cli, tmp_path: Path) -> None:
    trail, key = tmp_path / "trail.jsonl", tmp_path / "audit.pem"
    trail.write_text(await exported(4))
    key.write_text(public_key_pem(KEY))
    network = Network()
    ran = cli("audit", "verify", "--file", str(trail), "--public-key", str(key), "-o", "json", network=network)
    assert ran.status == 0, ran.err
    report = json.loads(ran.out)
    assert report["valid"] is True and report["records"] == 4 and report["covered_to_seq"] == 4
    assert report["key"] == "given" and report["findings"] == []
    assert network.requests == []


async def test_verify_offline_names_a_hand_edited_line(cli: Cli, tmp_path: Path) -> None:
    trail = tmp_path / "trail.jsonl"
    lines = (await exported(4)).splitlines()
    lines[2] = lines[2].replace("/v1/instances/2", "/v1/instances/9")
    trail.write_text("\n".join(lines) + "\n")
    ran = cli("audit", "verify", "--file", str(trail), "-o", "json", network=Network())
    assert ran.status == 1
    report = json.loads(ran.out)
    assert report["valid"] is False
    assert report["findings"] == ["edited: seq 2: its content does not match its hash"]


def test_verify_refuses_a_missing_file(cli: Cli, tmp_path: Path) -> None:
    ran = cli("audit", "verify", "--file", str(tmp_path / "none.jsonl"), network=Network())
    assert ran.status == 2 and "cannot read" in ran.err
