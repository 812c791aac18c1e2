"""`clanavi runs`: a run started and followed prints its output as it comes and exits as the run ended (0, 1 with
one line saying why, 3 when --timeout runs out first); a secret input stays off the command line; runs on several
instances are one request with their concurrency; the project's key prints as a line to append to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from clanavi.client.models import ProjectKeyOut, RunBatchOut, RunOut, RunOutputOut
from tests.cli_kit import Cli, logged_in
from tests.client_kit import MOMENT
from tests.network import Network, ok


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def run(state: str = "queued", run_id: str = "r-1", instance_id: str = "i-1", **fields: Any) -> RunOut:
    values: dict[str, Any] = {
        "id": run_id,
        "instance_id": instance_id,
        "cloud_id": "sim",
        "script_id": "s-1",
        "script_version": 1,
        "name": "hello",
        "phase": "operational",
        "state": state,
        "exit_code": None,
        "problem": None,
        "reason": None,
        "timeout_seconds": 30,
        "inputs": {},
        "host_key": None,
        "batch_id": None,
        "output_bytes": 0,
        "created_at": MOMENT,
        "started_at": None,
        "ended_at": None,
    }
    return RunOut.model_validate(values | fields)


def piece(text: str, offset: int, *, ended: bool = False, state: str = "running") -> RunOutputOut:
    size = len(text.encode())
    return RunOutputOut(run_id="r-1", offset=offset, next_offset=offset + size, text=text, ended=ended, state=state)


def test_a_followed_run_prints_its_output_as_it_comes_and_exits_0(cli: Cli) -> None:
    network = Network(
        ok(run(), 202),
        ok(piece("hello ", 0)),
        ok(piece("", 6)),
        ok(piece("world\n", 6, ended=True, state="succeeded")),
        ok(run("succeeded", exit_code=0)),
    )
    ran = cli("runs", "start", "i-1", "--script", "s-1", "--input", "port=8080", "--follow", network=network)
    assert ran.status == 0, ran.err
    assert ran.out == "hello world\n"
    sent = json.loads(network.requests[0].content)
    assert network.paths()[0] == "POST /v1/instances/i-1/runs"
    assert sent == {"script_id": "s-1", "inputs": {"port": 8080}}
    assert [r.url.params.get("offset") for r in network.requests[1:4]] == ["0", "6", "6"]


def test_a_run_that_fails_exits_1_saying_why_in_one_line(cli: Cli) -> None:
    failed = run("failed", exit_code=3, problem="script_failed", reason="the script exited with 3")
    network = Network(ok(run(), 202), ok(piece("oops\n", 0, ended=True, state="failed")), ok(failed))
    ran = cli("runs", "start", "i-1", "--script", "s-1", "--follow", network=network)
    assert ran.status == 1 and ran.out == "oops\n"
    assert ran.lines[-1] == "clanavi: run r-1 failed: the script exited with 3"


def test_a_follow_that_outlasts_its_timeout_exits_3(cli: Cli) -> None:
    def still_running(request: httpx.Request) -> httpx.Response:
        return ok(piece("", 0)) if request.url.path.endswith("/output") else ok(run("running"))

    network = Network(ok(run(), 202), *[still_running] * 50)
    ran = cli("runs", "start", "i-1", "--script", "s-1", "--follow", "--timeout", "2", network=network)
    assert ran.status == 3, ran.err
    assert ran.lines[-1].startswith("clanavi: timed out waiting: not succeeded or failed or timed_out after 2 s")


def test_a_secret_input_is_read_from_stdin_not_the_command_line(cli: Cli) -> None:
    network = Network(ok(run(), 202))
    ran = cli("runs", "start", "i-1", "--script", "s-1", "--secret-input", "token", network=network, stdin="hunter2\n")
    assert ran.status == 0, ran.err
    assert json.loads(network.requests[0].content)["inputs"] == {"token": "hunter2"}


def test_runs_on_several_instances_are_one_request_and_a_failure_among_them_exits_1(cli: Cli) -> None:
    queued = [run(run_id=f"r-{n}", instance_id=f"i-{n}", batch_id="b-1") for n in (1, 2, 3)]
    ended = [
        run("succeeded", run_id="r-1", instance_id="i-1"),
        run("failed", run_id="r-2", instance_id="i-2", exit_code=1),
        run("succeeded", run_id="r-3", instance_id="i-3"),
    ]
    network = Network(ok(RunBatchOut(batch_id="b-1", items=queued), 202), *(ok(r) for r in ended))
    ran = cli(
        "runs",
        "start",
        "--script",
        "s-1",
        "--instance",
        "i-1",
        "--instance",
        "i-2",
        "--instance",
        "i-3",
        "--concurrency",
        "2",
        "--follow",
        "-o",
        "json",
        network=network,
    )
    sent = json.loads(network.requests[0].content)
    assert network.paths()[0] == "POST /v1/runs"
    assert sent["instance_ids"] == ["i-1", "i-2", "i-3"] and sent["concurrency"] == 2
    assert [r["state"] for r in ran.json()] == ["succeeded", "failed", "succeeded"]
    assert ran.status == 1 and ran.lines[-1] == "clanavi: 1 of 3 runs did not succeed (batch b-1)"


def test_a_filter_picks_the_instances(cli: Cli) -> None:
    network = Network(ok(RunBatchOut(batch_id=None, items=[]), 202))
    ran = cli("runs", "start", "--script", "s-1", "--filter", "template_id=t-1", network=network)
    assert json.loads(network.requests[0].content)["filter"] == {"template_id": "t-1"}
    assert ran.status == 0 and ran.lines == ["no running instance matched"]


def test_a_start_names_what_to_run_on(cli: Cli) -> None:
    ran = cli("runs", "start", "--script", "s-1")
    assert ran.status == 2 and ran.lines == ["clanavi: give an INSTANCE_ID, --instance or --filter"]


def test_the_key_prints_as_one_line(cli: Cli) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl clanavi"
    ran = cli("runs", "key", network=Network(ok(ProjectKeyOut(public_key=key))))
    assert ran.status == 0 and ran.out == key + "\n"
