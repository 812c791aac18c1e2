"""`clanavi login`, `logout` and `whoami`, and the config file they keep: readable by its owner only, credentials
renewed through the client and written back, the environment overriding it, and never sent to another API."""

from __future__ import annotations

import os
import stat
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from clanavi.cli.config import Stored, config_file, load, save
from clanavi.cli.session import Runtime, fresh
from clanavi.client import Tokens
from clanavi.client.models import ApiKeyOut, MeOut, MeProject, Role, TokenOut
from tests.cli_kit import Cli, logged_in, password_login, user
from tests.client_kit import MOMENT, URL, instance
from tests.network import Network, ok, refused

PASSWORD = "a long passphrase"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def issued(number: int, expires_in: int = 900) -> httpx.Response:
    return ok(TokenOut(access_token=f"access-{number}", expires_in=expires_in, refresh_token=f"refresh-{number}"))


def me(project: str = "default") -> MeOut:
    return MeOut(
        principal="u-1",
        kind="user",
        admin=False,
        project_id=project,
        role=Role.OWNER,
        user=user(),
        api_key=None,
        projects=[MeProject(id=project, name="Web", role=Role.OWNER)],
    )


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request.content.decode()))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_password_login_keeps_the_tokens_in_a_file_only_its_owner_can_read(cli: Cli) -> None:
    network = Network(issued(1), ok(me("web")))
    old = os.umask(0)  # the file is private whatever the umask says
    try:
        ran = cli(
            "login",
            "--url",
            URL,
            "--email",
            "ana@example.com",
            "--stdin",
            "-p",
            "web",
            network=network,
            stdin=PASSWORD + "\n",
        )
    finally:
        os.umask(old)

    assert ran.status == 0, ran.err
    assert ran.lines == [f"logged in to {URL} as ana@example.com in project web"]
    grant, who = network.requests
    assert form_of(grant) == {"grant_type": "password", "username": "ana@example.com", "password": PASSWORD}
    assert who.headers["authorization"] == "Bearer access-1" and who.headers["x-clanavi-project"] == "web"
    assert mode(cli.config_file) == 0o600 and mode(cli.config_file.parent) == 0o700
    kept = cli.stored()
    assert {k: kept[k] for k in ("url", "project", "login", "email", "access_token", "refresh_token")} == {
        "url": URL,
        "project": "web",
        "login": "password",
        "email": "ana@example.com",
        "access_token": "access-1",
        "refresh_token": "refresh-1",
    }
    assert time.time() + 800 < kept["expires_at"] <= time.time() + 900
    assert PASSWORD not in cli.config_file.read_text()
    # No leftover of the write beside it.
    assert [p.name for p in cli.config_file.parent.iterdir()] == ["config.json"]


def test_an_api_key_login_checks_the_key_and_keeps_it(cli: Cli) -> None:
    key = ApiKeyOut(
        id="k-1",
        name="ci",
        prefix="clk_abcd",
        user_id="u-1",
        project_id="web",
        role=Role.OPERATOR,
        admin=False,
        state="active",
        expires_at=None,
        revoked_at=None,
        created_at=MOMENT,
    )
    answer = MeOut(
        principal="k-1",
        kind="api_key",
        admin=False,
        project_id="web",
        role=Role.OPERATOR,
        user=None,
        api_key=key,
        projects=[],
    )
    network = Network(ok(answer))
    ran = cli("login", "--url", URL, "--api-key", "--stdin", network=network, stdin="clk_abcd-secret\n")

    assert ran.status == 0, ran.err
    assert network.requests[0].headers["authorization"] == "Bearer clk_abcd-secret"
    assert ran.lines == [f"logged in to {URL} as API key ci (clk_abcd...) in project web"]
    assert cli.stored() == {"url": URL, "login": "api_key", "access_token": "clk_abcd-secret"}


def test_a_refused_login_keeps_nothing(cli: Cli) -> None:
    network = Network(refused(401, "invalid_grant", "Wrong email or password."))
    ran = cli("login", "--url", URL, "--email", "ana@example.com", "--stdin", network=network, stdin="wrong\n")

    assert ran.status == 1
    assert ran.lines == [
        "clanavi: 401 invalid_grant: Wrong email or password. [correlation id cid-1]; log in with `clanavi login`"
    ]
    assert not cli.config_file.exists()


def test_a_password_is_read_from_a_terminal_or_stdin_never_from_a_pipe_unasked(cli: Cli) -> None:
    ran = cli("login", "--url", URL, "--email", "ana@example.com", stdin="typed\n")
    assert ran.status == 2
    assert ran.lines == ["clanavi: password is read from a terminal: give it on stdin with --stdin"]
    ran = cli("login", "--url", URL, "--stdin", stdin="typed\n")
    assert (ran.status, ran.lines) == (2, ["clanavi: give your email with --email"])


def test_renewed_tokens_are_written_back_as_the_client_renews_them(cli: Cli) -> None:
    # The access token runs out within the client's margin: it is renewed before the call.
    password_login(cli, expires_in=5, email="ana@example.com")
    network = Network(issued(2), ok(instance("i-1")))
    ran = cli("instances", "show", "i-1", "-o", "json", network=network)

    assert ran.status == 0, ran.err
    assert network.paths() == ["POST /v1/auth/token", "GET /v1/instances/i-1"]
    assert form_of(network.requests[0]) == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert network.requests[1].headers["authorization"] == "Bearer access-2"
    kept = cli.stored()
    # A refresh token works once: the new one is kept, the login's other settings stay.
    assert (kept["access_token"], kept["refresh_token"], kept["email"]) == ("access-2", "refresh-2", "ana@example.com")
    assert mode(cli.config_file) == 0o600


def test_tokens_another_command_renewed_meanwhile_are_taken_not_renewed_again(cli: Cli) -> None:
    """Two commands read the same tokens as they ran out; the other renewed first. Renewing them again would use a
    refresh token twice, which ends the whole login: this one takes the new ones from the file."""
    stale = Tokens("access-1", "refresh-1", time.time() + 5)
    password_login(cli, number=2)
    runtime = Runtime(cli.environ, transport=Network().transport())
    assert fresh(runtime, URL, stale) == Tokens("access-2", "refresh-2", cli.stored()["expires_at"])
    # Tokens that do not run out soon are used as they are, without even a look at the file.
    assert fresh(runtime, URL, Tokens("access-3", "refresh-3", time.time() + 900)).access_token == "access-3"


def test_the_environment_overrides_the_file(cli: Cli) -> None:
    logged_in(cli, project="web")
    network = Network(ok(instance("i-1")), ok(instance("i-1")), ok(instance("i-1")))
    assert cli("instances", "show", "i-1", network=network, env={"CLANAVI_TOKEN": "env-token"}).status == 0
    assert cli("instances", "show", "i-1", network=network, env={"CLANAVI_PROJECT": "ops"}).status == 0
    assert cli("instances", "show", "i-1", "-p", "mine", network=network, env={"CLANAVI_PROJECT": "ops"}).status == 0

    sent = [(r.headers["authorization"], r.headers["x-clanavi-project"]) for r in network.requests]
    assert sent == [("Bearer env-token", "web"), ("Bearer key-1", "ops"), ("Bearer key-1", "mine")]
    # A token from the environment is never written down.
    assert cli.stored()["access_token"] == "key-1"


def test_stored_credentials_are_never_sent_to_another_api(cli: Cli) -> None:
    logged_in(cli)
    ran = cli("instances", "list", env={"CLANAVI_URL": "http://elsewhere.test:8080"})
    assert ran.status == 2
    assert ran.lines == [
        "clanavi: not logged in to http://elsewhere.test:8080: run `clanavi login`, or set CLANAVI_TOKEN"
    ]


def test_a_config_file_others_can_read_is_refused(cli: Cli) -> None:
    logged_in(cli)
    cli.config_file.chmod(0o644)
    ran = cli("instances", "list")
    assert ran.status == 2
    assert ran.lines == [
        f"clanavi: {cli.config_file} can be read by others: run `chmod 600 {cli.config_file}` (it holds credentials)"
    ]


def test_a_config_directory_others_can_enter_is_narrowed(tmp_path: Path) -> None:
    path = config_file({"XDG_CONFIG_HOME": str(tmp_path)})
    path.parent.mkdir(mode=0o755)
    save(path, Stored(url=URL, login="api_key", access_token="key-1"))
    assert mode(path.parent) == 0o700 and mode(path) == 0o600
    assert load(path).tokens == Tokens("key-1")
    assert "key-1" not in repr(load(path))


def test_the_config_lives_under_xdg_config_home_or_home(tmp_path: Path) -> None:
    assert config_file({"XDG_CONFIG_HOME": "/etc/xdg-here", "HOME": "/home/ana"}) == Path(
        "/etc/xdg-here/clanavi/config.json"
    )
    # The XDG base directory spec: a relative path is ignored.
    assert config_file({"XDG_CONFIG_HOME": "relative", "HOME": "/home/ana"}) == Path(
        "/home/ana/.config/clanavi/config.json"
    )


def test_logout_ends_the_login_on_the_server_and_forgets_it(cli: Cli) -> None:
    password_login(cli, project="web", email="a@b.c")
    network = Network(httpx.Response(204))
    ran = cli("logout", network=network)

    assert ran.status == 0, ran.err
    assert network.paths() == ["POST /v1/auth/logout"]
    assert network.requests[0].read() == b'{"refresh_token":"refresh-1"}'
    assert cli.stored() == {"url": URL, "project": "web"}
    assert ran.lines == [f"logged out of {URL}"]
    assert cli("instances", "list").lines == [
        f"clanavi: not logged in to {URL}: run `clanavi login`, or set CLANAVI_TOKEN"
    ]


def test_logout_forgets_the_login_even_when_the_api_does_not_answer(cli: Cli) -> None:
    password_login(cli)
    # Never sent: the client tries again as its retry policy allows, then gives up.
    ran = cli("logout", network=Network(*[httpx.ConnectError("refused")] * 5))
    assert ran.status == 1
    assert ran.lines == [f"clanavi: no answer from {URL} (POST /v1/auth/logout): cannot connect"]
    assert cli.stored() == {"url": URL}


def test_whoami_says_who_where_and_in_which_project(cli: Cli) -> None:
    logged_in(cli)
    ran = cli("whoami", "-o", "json", network=Network(ok(me("web"))))
    assert ran.status == 0, ran.err
    assert ran.json() == {
        "url": URL,
        "credentials": "config",
        "who": "ana@example.com",
        "kind": "user",
        "admin": False,
        "project_id": "web",
        "role": "owner",
        "projects": [{"id": "web", "name": "Web", "role": "owner"}],
    }
    ran = cli("whoami", "-c", "who", "-c", "projects", network=Network(ok(me("web"))))
    assert ran.out.split("\n")[2:4] == ["who        ana@example.com", "projects   web (owner)"]
