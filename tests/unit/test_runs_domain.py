"""Script runs without servers: their states and events, output masking as it comes in pieces, output cut at a
UTF-8 character, a run found under way when claimed again, and an SSH server that never answers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncssh
import pytest

from services.provisioner.runs import domain, ssh
from services.provisioner.runs.cloud import RunKind
from services.provisioner.runs.domain import Masker, RunRecord, complete_utf8
from services.provisioner.runs.host_keys import HostKeys
from services.provisioner.templates.inputs import MASK
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import fake_unit_of_work

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _record(**fields: object) -> RunRecord:
    base: dict[str, object] = {
        "id": "r1",
        "project_id": "p",
        "cloud_id": "sim",
        "name": "hello",
        "instance_id": "i1",
        "provider_id": "sim-i1",
        "script_id": "s1",
        "script_version": 2,
        "phase": "operational",
        "timeout_seconds": 30,
        "state": "queued",
        "correlation_id": "c",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return RunRecord(**(base | fields))  # type: ignore[arg-type]


# --- states ---------------------------------------------------------------------------------------------------------


def test_a_run_goes_queued_running_succeeded_with_one_event_each() -> None:
    queued = _record()
    assert queued.queued().TYPE == "script_run.queued" and not queued.ended
    running, started = queued.started("SHA256:abc")
    assert (running.state, running.host_key, started.TYPE) == ("running", "SHA256:abc", "script_run.started")
    assert running.pending_action == "run" and running.started_at is not None
    done, events = domain.ended(running, domain.exited(0))
    assert (done.state, done.exit_code, done.pending_action, done.problem) == ("succeeded", 0, None, None)
    assert done.ended and done.ended_at is not None
    assert [e.TYPE for e in events] == ["script_run.succeeded"]


def test_a_non_zero_exit_fails_with_its_code_and_a_signal_with_none() -> None:
    done, events = domain.ended(_record(state="running"), domain.exited(3))
    assert (done.state, done.exit_code, done.problem) == ("failed", 3, "script_failed")
    assert events[0].model_dump()["exit_code"] == 3
    killed, _ = domain.ended(_record(state="running"), domain.exited(None))
    assert (killed.state, killed.exit_code) == ("failed", None)


def test_a_run_that_never_ran_says_why_and_a_timeout_names_its_seconds() -> None:
    refused, events = domain.ended(_record(), domain.never_ran(domain.HOST_KEY_MISMATCH, "key differs"))
    assert (refused.state, refused.problem, refused.reason, refused.started_at) == (
        "failed",
        "host_key_mismatch",
        "key differs",
        None,
    )
    assert events[0].model_dump()["problem"] == "host_key_mismatch"
    late, events = domain.ended(_record(state="running", timeout_seconds=7), domain.Outcome("timed_out"))
    assert late.state == "timed_out" and late.exit_code is None
    assert events[0].TYPE == "script_run.timed_out" and events[0].model_dump()["timeout_seconds"] == 7


async def test_a_run_found_under_way_when_claimed_again_fails_and_is_not_run_twice() -> None:
    cloud = FakeCloud()
    record, outcome = await RunKind(None).call(cloud, _record(state="running"), fake_unit_of_work())
    assert (outcome.state, outcome.problem) == ("failed", domain.INTERRUPTED)
    assert cloud.calls == []  # nothing was asked of the cloud, nothing sent to the instance


# --- output ---------------------------------------------------------------------------------------------------------


def _fed(masker: Masker, pieces: list[bytes]) -> bytes:
    return b"".join(masker.feed(p) for p in pieces) + masker.end()


@pytest.mark.parametrize("seed", range(20))
def test_secrets_are_masked_however_the_output_is_cut(seed: int) -> None:
    secrets = ["hunter2-very-secret", "s3cr3t", "ünïcode-pässwörd"]
    text = "start hunter2-very-secret mid s3cr3ts3cr3t ünïcode-pässwörd end hunter2-very-secre\n".encode()
    cuts = sorted(random.Random(seed).sample(range(1, len(text)), 8))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    out = _fed(Masker(secrets), pieces)
    expected = f"start {MASK} mid {MASK}{MASK} {MASK} end hunter2-very-secre\n".encode()
    assert out == expected


def test_a_longer_secret_is_masked_before_one_it_contains() -> None:
    out = _fed(Masker(["abc", "abcdef"]), [b"xx abcdef abc"])
    assert out == f"xx {MASK} {MASK}".encode()


def test_output_passes_as_it_comes_but_for_what_could_start_a_secret() -> None:
    masker = Masker(["secret"])
    assert masker.feed(b"hello world, sec") == b"hello world"  # the last 5 bytes might begin "secret"
    assert masker.feed(b"ond line\n") == b", second "
    assert masker.end() == b"line\n"
    plain = Masker([])
    assert plain.feed(b"no secrets: all at once") == b"no secrets: all at once" and plain.end() == b""


def test_utf8_cut_keeps_whole_characters() -> None:
    text = "añ€😀".encode()  # 1, 2, 3 and 4 bytes
    assert complete_utf8(text) == text
    for cut, kept in [(2, b"a"), (4, "añ".encode()), (5, "añ".encode()), (7, "añ€".encode()), (9, "añ€".encode())]:
        assert complete_utf8(text[:cut]) == kept, cut
    assert complete_utf8(b"") == b""
    assert complete_utf8(b"\x80\x80") == b"\x80\x80"  # not UTF-8 to begin with: passed on, a reader replaces it


# --- logging in -----------------------------------------------------------------------------------------------------


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says anything (a firewall that swallows packets behaves so)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_login_that_never_answers_is_unreachable_not_timed_out(silent_server: int) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    started: list[str] = []

    async def output(chunk: bytes) -> None:
        raise AssertionError("no output without a login")

    async def on_start(fingerprint: str) -> None:
        started.append(fingerprint)

    target = ssh.Target("127.0.0.1", silent_server, "clanavi")
    pinned = HostKeys((key,), frozenset({key.get_fingerprint("sha256")}))
    outcome = await ssh.run(target, pinned, key, "#!/bin/sh\ntrue\n", 30, output, on_start, connect_seconds=0.5)
    assert (outcome.state, outcome.problem) == ("failed", domain.UNREACHABLE) and started == []
