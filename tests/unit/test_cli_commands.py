"""What commands send and keep: a new private key written to a file only its owner reads (and never over one), a new
API key shown once, rules and clouds from their options, the audit followed until Ctrl-C, and the service commands
the image and the manifests run."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml

from clanavi.cli import app
from clanavi.client.models import ApiKeyCreatedOut, CloudOut, NewKeyPairOut, Role, SecurityGroupOut
from tests.cli_kit import Cli, logged_in, user
from tests.client_kit import MOMENT
from tests.client_kit import audit_event as event
from tests.client_kit import events_page as page_of
from tests.network import Network, ok

REPO = Path(__file__).resolve().parents[2]
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def new_key_pair() -> NewKeyPairOut:
    return NewKeyPairOut(
        id="kp-1",
        project_id="default",
        cloud_id="sim",
        name="ops",
        provider_id="ops",
        state="available",
        pending_action=None,
        reason=None,
        created_at=MOMENT,
        updated_at=MOMENT,
        fingerprint="SHA256:abc",
        private_key=PRIVATE_KEY,
    )


def test_a_new_private_key_goes_to_a_file_only_its_owner_reads(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "ops.pem"
    network = Network(ok(new_key_pair(), 201))
    ran = cli("key-pairs", "create", "--name", "ops", "--out", str(out), "-o", "json", network=network)

    assert ran.status == 0, ran.err
    assert json.loads(network.requests[0].content) == {"cloud_id": "sim", "name": "ops"}
    assert out.read_text() == PRIVATE_KEY and stat.S_IMODE(out.stat().st_mode) == 0o600
    # Printed without it.
    assert ran.json()["private_key"] is None and "PRIVATE KEY" not in ran.out + ran.err
    assert ran.lines == [f"the private key is in {out} (readable by you only); it is not kept anywhere else"]


def test_a_private_key_is_never_written_over_a_file(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "ops.pem"
    out.write_text("mine")
    network = Network()
    ran = cli("key-pairs", "create", "--name", "ops", "--out", str(out), network=network)
    # Refused before the key pair is made: a key that cannot be kept is never asked for.
    assert ran.status == 2 and network.requests == []
    assert ran.lines == [f"clanavi: --out: {out} exists; the private key is written only to a new file"]
    assert out.read_text() == "mine"


def test_without_out_the_private_key_is_shown_once(cli: Cli) -> None:
    ran = cli("key-pairs", "create", "--name", "ops", "-o", "yaml", network=Network(ok(new_key_pair(), 201)))
    assert yaml.safe_load(ran.out)["private_key"] == PRIVATE_KEY
    assert ran.lines == ["the private key is shown this once: keep it now"]


def test_a_new_api_key_is_shown_once(cli: Cli) -> None:
    made = ApiKeyCreatedOut(
        id="k-1",
        name="ci",
        prefix="clk_abcd",
        user_id=None,
        project_id="web",
        role=Role.OPERATOR,
        admin=False,
        state="active",
        expires_at=MOMENT + timedelta(days=30),
        revoked_at=None,
        created_at=MOMENT,
        key="clk_abcd-the-key",
    )
    network = Network(ok(made, 201))
    ran = cli(
        "api-keys",
        "create",
        "--name",
        "ci",
        "--role",
        "operator",
        "--expires-in-days",
        "30",
        "-c",
        "key",
        network=network,
    )
    assert json.loads(network.requests[0].content) == {"name": "ci", "role": "operator", "expires_in_days": 30}
    assert ran.out.splitlines()[2].split() == ["key", "clk_abcd-the-key"]
    assert ran.lines == ["the key is shown this once: keep it now"]


def test_a_rule_takes_a_port_or_a_range(cli: Cli) -> None:
    group = SecurityGroupOut(
        id="sg-1",
        project_id="default",
        cloud_id="sim",
        name="web",
        provider_id="sg-1",
        state="available",
        pending_action=None,
        reason=None,
        created_at=MOMENT,
        updated_at=MOMENT,
        description="",
        rules=[],
    )
    network = Network(ok(group), ok(group))
    authorize = ("security-groups", "authorize", "sg-1")
    ran = cli(*authorize, "--protocol", "tcp", "--port", "8000-8080", "--cidr", "0.0.0.0/0", network=network)
    assert ran.status == 0, ran.err
    ran = cli(*authorize, "--protocol", "udp", "--port", "53", "--cidr", "10.0.0.0/8", network=network)
    assert ran.status == 0, ran.err
    assert [json.loads(r.content) for r in network.requests] == [
        {"protocol": "tcp", "from_port": 8000, "to_port": 8080, "cidr": "0.0.0.0/0"},
        {"protocol": "udp", "from_port": 53, "to_port": 53, "cidr": "10.0.0.0/8"},
    ]
    ran = cli(*authorize, "--protocol", "tcp", "--port", "http", "--cidr", "0.0.0.0/0")
    assert (ran.status, ran.lines) == (2, ["clanavi: --port takes a port or a range (8000-8080), not 'http'"])


def test_a_cloud_is_added_with_typed_settings_and_credentials_from_a_file(cli: Cli, tmp_path: Path) -> None:
    secrets = tmp_path / "ec2.json"
    secrets.write_text(json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"}))
    added = CloudOut(
        id="cld-1",
        project_id="default",
        name="aws",
        driver="ec2",
        enabled=True,
        features=[],
        config={"region": "eu-west-1", "max_attempts": 3},
        credential_fields=["access_key_id", "secret_access_key"],
        credentials_readable=True,
        source="api",
        created_at=MOMENT,
        updated_at=MOMENT,
    )
    network = Network(ok(added, 201))
    settings = ("--config", "region=eu-west-1", "--config", "max_attempts=3", "--credentials-file", str(secrets))
    ran = cli("clouds", "add", "--name", "aws", "--driver", "ec2", *settings, network=network)
    assert ran.status == 0, ran.err
    assert json.loads(network.requests[0].content) == {
        "name": "aws",
        "driver": "ec2",
        "config": {"region": "eu-west-1", "max_attempts": 3},
        "credentials": {"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"},
        "enabled": True,
    }
    assert "s3cr3t" not in ran.out + ran.err
    assert ran.lines == ["cloud cld-1 added: its connection test passed"]


def interrupted(request: httpx.Request) -> httpx.Response:
    raise KeyboardInterrupt


def test_following_the_audit_prints_each_event_as_it_comes_until_ctrl_c(cli: Cli) -> None:
    network = Network(page_of(event(2), event(1)), page_of(event(1), event(2), event(3)), interrupted)
    ran = cli(
        "audit", "tail", "-n", "2", "--follow", "--type", "instance.running", "-o", "json", "-c", "seq", network=network
    )
    assert ran.status == 0, ran.err
    assert ran.out.splitlines() == ['{"seq": 1}', '{"seq": 2}', '{"seq": 3}']
    assert dict(network.requests[0].url.params.multi_items()) == {
        "type": "instance.running",
        "limit": "2",
        "order": "desc",
    }


def test_ctrl_c_elsewhere_is_130_without_a_traceback(cli: Cli) -> None:
    ran = cli("instances", "list", network=Network(interrupted))
    assert (ran.status, ran.out, ran.err) == (130, "", "")


def service_command(args: list[str]) -> str:
    """The command `clanavi <args>` runs, with the values it parses, found without running it."""
    command: Any = typer.main.get_command(app)
    names: list[str] = []
    rest = list(args)
    while hasattr(command, "commands"):
        names.append(rest[0])
        command = command.commands[rest.pop(0)]
    parsed = command.make_context(names[-1], rest).params
    return " ".join(names) + " " + " ".join(f"{key}={value}" for key, value in parsed.items())


def test_the_image_compose_and_kubernetes_run_service_serve() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    assert service_command(cmd) == "service serve service=gateway"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name in ("gateway", "provisioner", "audit"):
        assert service_command(compose["services"][name]["command"]) == f"service serve service={name}"
        (deployment,) = [
            doc
            for doc in yaml.safe_load_all((REPO / "deploy/k8s/base" / f"{name}.yaml").read_text())
            if doc["kind"] == "Deployment"
        ]
        (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
        assert service_command(container["args"]) == f"service serve service={name}"


def test_service_check_refuses_bad_settings_in_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLANAVI_DATABASE_URL")
    ran = cli("service", "check", "gateway")
    assert ran.status == 2
    (line,) = ran.lines
    assert line.startswith("clanavi: CLANAVI_DATABASE_URL is not set")


def test_a_new_users_password_comes_from_stdin_or_a_terminal_never_an_argument(cli: Cli) -> None:
    network = Network(ok(user(), 201))
    create = ("users", "create", "--email", "ana@example.com", "--name", "Ana")
    ran = cli(*create, "--password-stdin", "-o", "value", "-c", "id", network=network, stdin="a long passphrase\n")
    assert (ran.status, ran.out) == (0, "u-1\n")
    assert json.loads(network.requests[0].content)["password"] == "a long passphrase"
    assert "a long passphrase" not in ran.out + ran.err
    ran = cli(*create, stdin="a long passphrase\n")
    assert (ran.status, ran.lines) == (
        2,
        ["clanavi: password is read from a terminal: give it on stdin with --password-stdin"],
    )
