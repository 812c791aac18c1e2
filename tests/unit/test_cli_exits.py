"""How commands end: exit status 0 done, 1 the API refused (or what was asked for failed), 2 usage, 3 timed out
waiting; each error one line on stderr, with the problem's detail and its field errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from clanavi.cli.exits import EXIT_CODES_HELP
from tests.cli_kit import Cli, logged_in
from tests.client_kit import instance
from tests.network import Network, ok, refused

LAUNCH = ("instances", "launch", "--name", "web-1", "--image", "img-debian-12", "--flavor", "sim.small")


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def test_done_is_0_and_the_help_tells_the_exit_statuses(cli: Cli) -> None:
    assert cli("instances", "show", "i-1", network=Network(ok(instance()))).status == 0
    ran = cli("--help")
    assert ran.status == 0
    assert " ".join(EXIT_CODES_HELP.split()) in " ".join(ran.out.split())
    # No arguments: the help, too.
    assert cli().out == ran.out


def test_a_refusal_is_1_and_one_line_with_the_detail_and_the_field_errors(cli: Cli) -> None:
    answer = refused(
        422,
        "validation_failed",
        "The launch names something that does not exist in that cloud.",
        errors=[{"location": "body.flavor_id", "message": "no flavor sim.huge in sim", "type": "unknown"}],
    )
    ran = cli(*LAUNCH, network=Network(answer))
    assert (ran.status, ran.out) == (1, "")
    assert ran.lines == [
        "clanavi: 422 validation_failed: The launch names something that does not exist in that cloud. "
        "(body.flavor_id: no flavor sim.huge in sim) [correlation id cid-1]"
    ]


def test_a_detail_of_several_lines_is_still_one_line(cli: Cli) -> None:
    ran = cli(
        "instances", "start", "i-1", network=Network(refused(409, "invalid_state", "Cannot start\ni-1\x1b[31m now."))
    )
    assert ran.status == 1
    assert ran.lines == ["clanavi: 409 invalid_state: Cannot start i-1 [31m now. [correlation id cid-1]"]


def test_an_expired_login_says_to_log_in_again(cli: Cli) -> None:
    ran = cli("instances", "list", network=Network(refused(401, "unauthenticated", "The token has expired.")))
    assert ran.status == 1
    assert ran.lines == [
        "clanavi: 401 unauthenticated: The token has expired. [correlation id cid-1]; log in with `clanavi login`"
    ]


def test_no_answer_is_1_naming_the_api(cli: Cli) -> None:
    # A GET is safe to repeat: tried as the retry policy allows, then given up.
    ran = cli("instances", "list", network=Network(*[httpx.ReadTimeout("slow")] * 5))
    assert ran.status == 1
    assert ran.lines == [
        "clanavi: no answer from http://clanavi.test:8080 (GET /v1/instances): timed out waiting for the answer"
    ]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("instances", "lunch"), "clanavi: instances: No such command 'lunch'. Did you mean 'launch'? (see --help)"),
        (("instances",), "clanavi: instances: Missing command. (see --help)"),
        (LAUNCH[:4], "clanavi: --image and --flavor are required without --template"),
        (
            ("instances", "launch", "--name", "x", "--input", "a=b"),
            "clanavi: --input, --input-file and --template-version go with --template",
        ),
        (
            ("instances", "list", "-o", "xml"),
            "clanavi: instances list: Invalid value for '--output' / '-o': Value error, 'xml' is not one of 'table', "
            "'json', 'yaml', 'value'. (see --help)",
        ),
        (("instances", "launch", "--tag", "nokey", *LAUNCH[2:]), "clanavi: --tag takes KEY=VALUE, not 'nokey'"),
    ],
)
def test_a_usage_error_is_2_and_one_line(cli: Cli, args: tuple[str, ...], line: str) -> None:
    ran = cli(*args)
    assert (ran.status, ran.out, ran.lines) == (2, "", [line])


def test_a_value_the_apis_models_refuse_is_2_before_anything_is_sent(cli: Cli) -> None:
    network = Network()
    ran = cli("instances", "launch", "--name", "web 1!", "--image", "img", "--flavor", "f", network=network)
    assert ran.status == 2 and network.requests == []
    assert ran.lines == [
        "clanavi: invalid input: name: String should match pattern '^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$'"
    ]


def test_no_api_to_call_is_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = Cli(tmp_path, capsys)("instances", "list")
    assert (ran.status, ran.lines) == (
        2,
        ["clanavi: no API to call: log in with `clanavi login --url URL`, or set CLANAVI_URL"],
    )


def test_a_wait_that_runs_out_of_time_is_3(cli: Cli) -> None:
    still = [ok(instance("i-1", "pending"))] * 40
    ran = cli(*LAUNCH, "--wait", "--timeout", "5", network=Network(ok(instance("i-1", "requested"), 202), *still))
    assert ran.status == 3 and ran.out == ""
    assert ran.lines[-1] == "clanavi: timed out waiting: not running after 5 s: instance i-1 pending"
    # The clock only the waits moved: exactly the time allowed.
    assert sum(cli.waits.seconds) == pytest.approx(5)


def test_a_wait_that_ends_in_error_is_1_with_the_reason(cli: Cli) -> None:
    failed = instance("i-1", "error", reason="sim launch: quota exceeded")
    ran = cli(*LAUNCH, "--wait", network=Network(ok(instance("i-1", "requested"), 202), ok(failed)))
    assert ran.status == 1
    assert ran.lines[-1] == "clanavi: instance i-1 is error, not running: sim launch: quota exceeded"


def test_the_verified_audit_chain_is_0_and_a_broken_one_1(cli: Cli) -> None:
    ran = cli(
        "audit", "verify", "-o", "json", network=Network(ok({"valid": True, "checked": 9, "first_invalid_seq": None}))
    )
    assert (ran.status, ran.json()["valid"]) == (0, True)
    ran = cli(
        "audit", "verify", "-o", "json", network=Network(ok({"valid": False, "checked": 4, "first_invalid_seq": 4}))
    )
    assert ran.status == 1 and ran.json()["first_invalid_seq"] == 4
    assert ran.lines == ["clanavi: the audit chain is broken at record 4"]
