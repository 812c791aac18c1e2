"""A user's day with the platform through the installed `clanavi` command, run as a process as a shell runs it: an
admin makes a project and its owner, the owner logs in (the password typed at a terminal that does not echo it, or
given on stdin), adds a cloud, launches with --wait, lists as JSON, stops, terminates, follows and reads the audit,
makes a key pair and a key for CI; and the command's ends: a usage error 2, a refusal 1 in one line, a wait out of
time 3."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import queue
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clanavi.cli import main
from clanavi.cli.session import Runtime
from devstack import MotoServer, free_port
from tests.e2e.platform import TOKEN, Platform

pytestmark = pytest.mark.e2e

# The command the package installs beside the interpreter running the tests (`.venv/bin/clanavi`).
CLANAVI = Path(sys.executable).parent / "clanavi"
PASSWORD = "correct horse battery staple"
SIM = ("--config", "boot_seconds=0.3", "--config", "stop_seconds=0.2", "--config", "terminate_seconds=0.2")
LAUNCH = ("instances", "launch", "--image", "img-debian-12", "--flavor", "sim.small")


@dataclass(frozen=True)
class Done:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Shell:
    """`clanavi` with a config directory of its own and only the environment given.

    The first command of each group in a test session (`instances`, `login`, `audit`...) runs as a process, as a
    shell runs it: the installed command, its imports, arguments, stdin, stdout, stderr and exit status. Later ones
    run `clanavi.cli.main` in this process with the same environment and stdin, which answers the same without a new
    interpreter's start each time; `process=True` runs a command as a process whatever came before."""

    # The command groups that have run as a process in this session.
    run_as_process: set[str] = set()

    def __init__(self, home: Path, **environ: str) -> None:
        self.home = home
        outside = {k: v for k, v in os.environ.items() if not k.startswith("CLANAVI_")}
        self.env = {**outside, "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home), **environ}

    @property
    def config_file(self) -> Path:
        return self.home / "config" / "clanavi" / "config.json"

    def __call__(self, *args: str, stdin: str = "", expect: int | None = 0, process: bool = False) -> Done:
        group = args[0] if args else ""
        if process or group not in Shell.run_as_process:
            Shell.run_as_process.add(group)
            ran = subprocess.run(  # noqa: S603 - the installed command, with arguments of the test's own
                [str(CLANAVI), *args],
                env=self.env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            done = Done(ran.returncode, ran.stdout, ran.stderr)
        else:
            done = self._in_process(args, stdin)
        if expect is not None:
            assert done.status == expect, f"clanavi {' '.join(args)} -> {done.status}: {done.err}"
        assert "Traceback" not in done.err, done.err
        return done

    def _in_process(self, args: tuple[str, ...], stdin: str) -> Done:
        out, err = io.StringIO(), io.StringIO()
        status: int | str | None = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args), Runtime(self.env, stdin=io.StringIO(stdin)))
            except SystemExit as ended:
                status = ended.code
        code = status if isinstance(status, int) else 0 if status is None else 1
        return Done(code, out.getvalue(), err.getvalue())

    def poll(self, *args: str, until: Any, within: float = 20.0) -> Any:
        """The JSON `clanavi <args> -o json` prints, once `until` holds for it."""
        deadline = time.monotonic() + within
        while True:
            found = self(*args, "-o", "json").json()
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def in_a_terminal(env: Mapping[str, str], args: list[str], typed: str) -> tuple[int, str]:
    """Run `clanavi <args>` in a new pseudo-terminal (its controlling terminal, as a shell's is), type `typed` at
    its password prompt, and answer its exit status and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its stdin, stdout, stderr and /dev/tty
        os.execve(CLANAVI, [str(CLANAVI), *args], dict(env))  # noqa: S606 - the installed command
    shown, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # the child ended and closed its side
                    break
                if not chunk:
                    break
                shown += chunk
            # "Password:" is written, then the terminal's echo turned off (dropping what was typed before), then
            # the space: typing before that space would be lost.
            if not answered and b"Password: " in shown:
                os.write(terminal, typed.encode() + b"\n")
                answered = True
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _each_line(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_command_is_installed() -> None:
    assert CLANAVI.is_file(), f"{CLANAVI} is missing: install the package (make install)"
    ran = subprocess.run([str(CLANAVI), "--help"], capture_output=True, text=True, check=False)  # noqa: S603
    assert ran.returncode == 0 and "instances" in ran.stdout and "Exit status" in ran.stdout, ran.stdout + ran.stderr


def test_a_user_runs_a_projects_instances_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    admin = Shell(tmp_path / "admin", CLANAVI_URL=url, CLANAVI_TOKEN=TOKEN)
    admin("projects", "create", "--id", "cli", "--name", "Command line")
    made = admin(
        "users",
        "create",
        "--email",
        "cli@example.com",
        "--name",
        "Cli",
        "--password-stdin",
        "-o",
        "json",
        stdin=PASSWORD + "\n",
    )
    user_id = made.json()["id"]
    assert admin("members", "set", user_id, "--role", "owner", "-p", "cli", "-o", "json").json()["role"] == "owner"

    # The owner logs in: the password at a terminal that does not echo it, and the project chosen.
    owner = Shell(tmp_path / "owner")
    status, shown = in_a_terminal(
        owner.env, ["login", "--url", url, "--email", "cli@example.com", "--project", "cli"], PASSWORD
    )
    assert status == 0, shown
    assert "Password:" in shown and PASSWORD not in shown
    assert f"logged in to {url} as cli@example.com in project cli" in shown
    assert mode(owner.config_file) == 0o600 and mode(owner.config_file.parent) == 0o700
    kept = json.loads(owner.config_file.read_text())
    assert (kept["url"], kept["project"], kept["login"]) == (url, "cli", "password") and kept["refresh_token"]
    assert PASSWORD not in owner.config_file.read_text()
    me = owner("whoami", "-o", "json").json()
    assert (me["who"], me["kind"], me["project_id"], me["role"]) == ("cli@example.com", "user", "cli", "owner")

    # Commands started together as the access token runs out: one renews it, the others take the new tokens (a
    # refresh token used twice would end the whole login).
    owner.config_file.write_text(json.dumps({**kept, "expires_at": time.time()}))
    together = [
        subprocess.Popen(  # noqa: S603 - the installed command
            [str(CLANAVI), "whoami", "-o", "json"], env=owner.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    ended = [(process.communicate(timeout=60)[1], process.returncode) for process in together]
    assert [status for _, status in ended] == [0, 0, 0], ended
    renewed = json.loads(owner.config_file.read_text())
    assert renewed["refresh_token"] != kept["refresh_token"] and renewed["expires_at"] > time.time() + 800
    assert owner("whoami", "-o", "json").json()["who"] == "cli@example.com"

    cloud = owner("clouds", "add", "--name", "sim-cli", "--driver", "simcloud", *SIM, "-o", "json").json()
    assert cloud["config"] == {"boot_seconds": 0.3, "stop_seconds": 0.2, "terminate_seconds": 0.2}
    tested = owner("clouds", "test", cloud["id"], "-o", "json")
    assert tested.json()["ok"] and tested.json()["tested"] == "regions" and tested.json()["found"] == 1
    assert f"cloud {cloud['id']}: the connection test passed in " in tested.err

    # Three at once, followed to running with one display (lines, as stderr is not a terminal here).
    launched = owner(*LAUNCH, "--name", "web", "--cloud", cloud["id"], "--count", "3", "--wait", "-o", "json")
    instances = launched.json()
    assert [(i["name"], i["state"]) for i in instances] == [(f"web-{n}", "running") for n in (1, 2, 3)]
    ids = [i["id"] for i in instances]
    assert all(f"instance web-{n} ({ids[n - 1]}): running" in launched.err for n in (1, 2, 3))

    listed = owner("instances", "list", "--cloud", cloud["id"], "--state", "running", "--sort", "name", "-o", "json")
    assert [i["id"] for i in listed.json()] == ids
    page = owner("instances", "list", "--cloud", cloud["id"], "--limit", "2", "-o", "json", "-c", "id")
    assert [i["id"] for i in page.json()] == ids[:2] and "--cursor" in page.err
    cursor = page.err.split("--cursor ")[1].split()[0]
    rest = owner("instances", "list", "--cloud", cloud["id"], "--limit", "2", "--cursor", cursor, "-o", "json")
    assert [i["id"] for i in rest.json()] == ids[2:] and rest.err == ""

    stopped = owner("instances", "stop", ids[0], "--wait", "-o", "json").json()
    assert stopped["state"] == "stopped"
    table = owner("instances", "list", "--cloud", cloud["id"], "-c", "name", "-c", "state").out.splitlines()
    assert [row.split() for row in table[2:]] == [["web-1", "stopped"], ["web-2", "running"], ["web-3", "running"]]

    # A usage error: 2, one line, nothing sent.
    usage = owner("instances", "list", "-o", "xml", expect=2)
    assert usage.out == "" and len(usage.err.splitlines()) == 1 and "'xml' is not one of" in usage.err
    # A refusal: 1, one line with the problem's detail and the field at fault.
    refused = owner(*LAUNCH[:4], "--flavor", "sim.enormous", "--name", "web-x", "--cloud", cloud["id"], expect=1)
    (line,) = refused.err.splitlines()
    assert (
        line.startswith("clanavi: 422 validation_failed: ")
        and "(body.flavor_id: " in line
        and "[correlation id " in line
    )
    invalid = owner("instances", "start", ids[1], expect=1)
    assert invalid.err.startswith("clanavi: 409 invalid_state: ") and len(invalid.err.splitlines()) == 1

    # A wait out of time: 3, and the instance goes on booting.
    slow = owner(
        "clouds", "add", "--name", "sim-slow", "--driver", "simcloud", "--config", "boot_seconds=60", "-o", "json"
    )
    late = owner(*LAUNCH, "--name", "slow", "--cloud", slow.json()["id"], "--wait", "--timeout", "1", expect=3)
    assert late.err.splitlines()[-1].startswith("clanavi: timed out waiting: not running after 1 s: instance ")
    assert late.out == ""
    slow_id = owner("instances", "list", "--name", "slow", "-o", "json").json()[0]["id"]

    # The audit followed as it is recorded (JSON Lines), until Ctrl-C: first the last event of the two types (the
    # stop), then each termination as it comes.
    follow = subprocess.Popen(  # noqa: S603 - the installed command
        [
            str(CLANAVI),
            "audit",
            "tail",
            "-n",
            "1",
            "--follow",
            "--type",
            "instance.stopped",
            "--type",
            "instance.terminated",
            "-o",
            "json",
        ],
        env=owner.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal sends it: a suite started in the background by a shell without job control (as CI
        # may be) has SIGINT ignored, which its children inherit, and then Python raises no KeyboardInterrupt.
        preexec_fn=_interruptible,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_each_line, args=(follow, lines), daemon=True).start()
    try:
        backlog = json.loads(lines.get(timeout=30))
        assert (backlog["type"], backlog["subject"]) == ("instance.stopped", ids[0])
        terminated = owner("instances", "terminate", *ids, slow_id, "--wait", "-o", "json").json()
        assert {i["state"] for i in terminated} == {"terminated"}
        seen: set[str] = set()
        while not {*ids, slow_id} <= seen:
            event = json.loads(lines.get(timeout=30))
            assert event["type"] == "instance.terminated"
            seen.add(event["subject"])
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            _, err = follow.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.communicate()
            raise
    assert follow.returncode == 0 and "Traceback" not in err

    events = owner.poll(
        "audit", "list", "--resource", ids[0], until=lambda found: found and found[-1]["type"] == "instance.terminated"
    )
    assert [e["type"] for e in events] == [
        "instance.requested",
        "instance.launched",
        "instance.running",
        "instance.action_requested",
        "instance.stopped",
        "instance.action_requested",
        "instance.terminated",
    ]
    # The request that launched it, by its correlation id.
    launch = owner(
        "audit", "list", "--correlation-id", events[0]["correlation_id"], "-o", "json", "-c", "subject"
    ).json()
    assert ids[0] in {e["subject"] for e in launch}

    # A key pair whose private key goes to a file only its owner reads.
    pem = tmp_path / "ops.pem"
    pair = owner("key-pairs", "create", "--name", "ops", "--cloud", cloud["id"], "--out", str(pem), "-o", "json").json()
    assert pair["private_key"] is None and pair["state"] == "available"
    assert pem.read_text().startswith("-----BEGIN") and mode(pem) == 0o600

    # A key for CI, shown once; CI logs in with it from stdin.
    key = owner("api-keys", "create", "--name", "ci", "--role", "operator", "-o", "json").json()["key"]
    ci = Shell(tmp_path / "ci")
    ci("login", "--url", url, "--api-key", "--stdin", stdin=key + "\n")
    assert ci("whoami", "-o", "json").json()["kind"] == "api_key"
    assert json.loads(ci.config_file.read_text())["access_token"] == key
    forbidden = ci("clouds", "add", "--name", "x", "--driver", "simcloud", expect=1)
    assert forbidden.err.startswith("clanavi: 403 ")

    # An account whose cloud goes away: its test fails, exit status 1 and one line, the account kept as it was.
    with MotoServer(free_port()) as aws:
        settings = ("--config", "region=us-east-1", "--config", f"endpoint_url={aws.url}")
        secrets = json.dumps({"access_key_id": "AKIACLI", "secret_access_key": "cli-secret-value"})
        ec2 = owner(
            "clouds", "add", "--name", "aws", "--driver", "ec2", *settings, "--config", 'throttle={"max_attempts": 1}',
            "--credentials-file", "-", "-o", "json", stdin=secrets,
        ).json()  # fmt: skip
        assert owner("clouds", "test", ec2["id"], "-o", "json").json()["ok"]
    failed = owner("clouds", "test", ec2["id"], "-o", "json", expect=1)
    assert not failed.json()["ok"] and failed.json()["code"] == "cloud_connection_failed"
    (line,) = failed.err.splitlines()
    assert line.startswith(f"clanavi: the connection test of {ec2['id']} failed: cloud_connection_failed: ")
    assert "cli-secret-value" not in failed.out + failed.err
    assert owner("clouds", "show", ec2["id"], "-o", "json").json()["config"]["endpoint_url"] == aws.url

    owner("logout")
    assert "refresh_token" not in json.loads(owner.config_file.read_text())
    assert owner("whoami", expect=2).err.startswith(f"clanavi: not logged in to {url}")

    verified = admin("audit", "verify", "-o", "json").json()
    assert verified["valid"] and verified["checked"] > 0


def test_scripts_and_templates_and_a_launch_from_a_template(platform: Platform, tmp_path: Path) -> None:
    admin = Shell(tmp_path / "admin", CLANAVI_URL=platform.gateway_url, CLANAVI_TOKEN=TOKEN)
    admin("projects", "create", "--id", "cli-tpl", "--name", "Templates")
    user_id = admin(
        "users", "create", "--email", "tpl@example.com", "--name", "Tpl", "--password-stdin", "-o", "json",
        stdin=PASSWORD + "\n",
    ).json()["id"]  # fmt: skip
    admin("members", "set", user_id, "--role", "owner", "-p", "cli-tpl")
    owner = Shell(tmp_path / "owner")
    owner("login", "--url", platform.gateway_url, "--email", "tpl@example.com", "--project", "cli-tpl", "--stdin",
          stdin=PASSWORD + "\n")  # fmt: skip
    cloud = owner("clouds", "add", "--name", "sim-tpl", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]

    # A script, its body from a file and its inputs from YAML; a second version from stdin keeps those inputs.
    (tmp_path / "configure.sh").write_text("#!/bin/sh\necho configured {{ site }}\n")
    (tmp_path / "inputs.yaml").write_text(
        "- {name: site, type: text, pattern: '[a-z.]+', required: true}\n"
        "- {name: size, type: number, minimum: 1, maximum: 8, default: 1}\n"
        "- {name: debug, type: boolean, default: false}\n"
        "- {name: password, type: secret, required: true}\n"
    )
    made = owner(
        "scripts", "create", "--name", "configure", "--body", str(tmp_path / "configure.sh"),
        "--inputs", str(tmp_path / "inputs.yaml"), "-o", "json",
    ).json()  # fmt: skip
    script_id = made["script_id"]
    assert (made["version"], made["phase"], [i["name"] for i in made["inputs"]]) == (
        1, "boot", ["site", "size", "debug", "password"],
    )  # fmt: skip
    body = "#!/bin/sh\nPASSWORD='{{ password }}'\necho configured {{ site }} size {{ size }} debug {{ debug }}\n"
    second = owner("scripts", "add-version", script_id, "--body", "-", "-o", "json", stdin=body).json()
    assert (second["version"], second["inputs"]) == (2, made["inputs"])
    versions = owner("scripts", "versions", script_id, "-o", "json").json()
    assert [(v["version"], v["deprecated"]) for v in versions] == [(1, False), (2, False)]
    assert owner("scripts", "deprecate", script_id, "1", "-o", "json").json()["deprecated"] is True
    listed = owner("scripts", "list", "--name", "configure", "-o", "json").json()
    assert [(s["id"], s["latest_version"]) for s in listed] == [(script_id, 2)]

    # A template from a YAML spec: the script's latest version, and a value for one of its inputs.
    (tmp_path / "web.yaml").write_text(
        f"name: web\nclouds:\n  - {{cloud_id: {cloud}, image_id: img-debian-12, flavor_id: sim.small}}\n"
        f"boot_scripts:\n  - script_id: {script_id}\nvalues:\n  site: shop.example.org\n"
    )
    template = owner("templates", "create", "--spec", str(tmp_path / "web.yaml"), "-o", "json").json()
    template_id = template["template_id"]
    assert template["boot_scripts"] == [{"script_id": script_id, "version": 2}]
    asked = {i["name"]: i for i in owner("templates", "inputs", "web", "-o", "json").json()}
    assert {name: (i["type"], i["needed"], i["preset"]) for name, i in asked.items()} == {
        "site": ("text", False, "shop.example.org"),
        "size": ("number", False, 1),
        "debug": ("boolean", False, False),
        "password": ("secret", True, None),
    }
    shown = owner("templates", "show", template_id, "-o", "json").json()
    assert (shown["name"], shown["default_version"], shown["latest_version"]) == ("web", 1, 1)

    # Launched by the template's name, its inputs typed as declared, the secret from a file, followed to running.
    secret = "cli-Secret-0123456789"
    (tmp_path / "password").write_text(secret + "\n")
    launched = owner(
        "instances", "launch", "--name", "tpl-1", "--cloud", cloud, "--template", "web", "--input", "size=3",
        "--input", "debug=yes", "--input", f"password=@{tmp_path / 'password'}", "--wait", "-o", "json",
    )  # fmt: skip
    instance = launched.json()
    assert (instance["state"], instance["template_id"], instance["template_version"]) == ("running", template_id, 1)
    assert instance["inputs"] == {
        "site": {"value": "shop.example.org", "level": "template", "type": "text"},
        "size": {"value": 3, "level": "server", "type": "number"},
        "debug": {"value": True, "level": "server", "type": "boolean"},
        "password": {"value": "********", "level": "server", "type": "secret"},
    }
    console = owner("instances", "console", instance["id"]).out
    assert "configured shop.example.org size 3 debug true" in console
    assert secret not in launched.out + launched.err + console
    found = owner("instances", "list", "--cloud", cloud, "-c", "id", "-c", "template_id", "-o", "json").json()
    assert [(i["id"], i["template_id"]) for i in found] == [(instance["id"], template_id)]

    # A bad input: exit status 1, one line naming the field; nothing launched.
    bad = owner(
        "instances", "launch", "--name", "tpl-2", "--cloud", cloud, "--template", template_id,
        "--input", "size=99", "--input", "password=x", expect=1,
    )  # fmt: skip
    (line,) = bad.err.splitlines()
    assert line.startswith("clanavi: 422 ") and "body.inputs.size: must be at most 8" in line, line
    missing = owner("instances", "launch", "--name", "tpl-2", "--cloud", cloud, "--template", "web", expect=1)
    assert "body.inputs.password: required" in missing.err
    unknown = owner("instances", "launch", "--name", "tpl-2", "--cloud", cloud, "--template", "nope", expect=1)
    assert unknown.err == "clanavi: no template named 'nope' in the project\n"
    assert owner("instances", "list", "--name", "tpl-2", "-o", "json").json() == []

    # Versions: a second one made the default; the first, deprecated, cannot be launched; in use, nothing deletes.
    (tmp_path / "web2.yaml").write_text(
        f"clouds:\n  - {{cloud_id: {cloud}, image_id: img-debian-12, flavor_id: sim.small}}\n"
        f"boot_scripts:\n  - script_id: {script_id}\nvalues: {{site: www.example.org, password: hunter2hunter2}}\n"
    )
    v2 = owner("templates", "add-version", template_id, "--spec", str(tmp_path / "web2.yaml"), "-o", "json").json()
    assert (v2["version"], v2["values"]["password"]) == (2, "********")
    assert owner("templates", "set-default", template_id, "2", "-o", "json").json()["default_version"] == 2
    assert owner("templates", "deprecate", template_id, "1", "-o", "json").json()["deprecated"] is True
    old = owner(*("instances", "launch", "--name", "tpl-3", "--cloud", cloud, "--template", "web"),
                "--template-version", "1", "--input", "password=x", expect=1)  # fmt: skip
    assert old.err.startswith("clanavi: 422 ") and "template_version" in old.err
    rows = owner("templates", "versions", template_id, "-c", "version", "-c", "deprecated").out.splitlines()
    assert [row.split() for row in rows[2:]] == [["1", "true"], ["2", "false"]]
    in_use = owner("scripts", "delete", script_id, expect=1)
    assert in_use.err.startswith("clanavi: 409 ") and len(in_use.err.splitlines()) == 1
    held = owner("templates", "delete-version", template_id, "1", expect=1)
    assert held.err.startswith("clanavi: 409 ")
    usage = owner("instances", "launch", "--name", "x", "--input", "a=b", expect=2)
    assert usage.err == "clanavi: --input, --input-file and --template-version go with --template\n"


def test_a_cluster_from_a_spec_file_is_previewed_launched_scaled_and_deleted(
    platform: Platform, tmp_path: Path
) -> None:
    admin = Shell(tmp_path / "admin", CLANAVI_URL=platform.gateway_url, CLANAVI_TOKEN=TOKEN)
    admin("projects", "create", "--id", "cli-cl", "--name", "Clusters")
    user_id = admin(
        "users", "create", "--email", "cl@example.com", "--name", "Cl", "--password-stdin", "-o", "json",
        stdin=PASSWORD + "\n",
    ).json()["id"]  # fmt: skip
    admin("members", "set", user_id, "--role", "owner", "-p", "cli-cl")
    owner = Shell(tmp_path / "owner")
    owner("login", "--url", platform.gateway_url, "--email", "cl@example.com", "--project", "cli-cl", "--stdin",
          stdin=PASSWORD + "\n")  # fmt: skip
    cloud = owner("clouds", "add", "--name", "sim-cl", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
    (tmp_path / "small.yaml").write_text(
        f"name: small\nclouds:\n  - {{cloud_id: {cloud}, image_id: img-debian-12, flavor_id: sim.small}}\n"
    )
    template = owner("templates", "create", "--spec", str(tmp_path / "small.yaml"), "-o", "json").json()["template_id"]
    spec = {
        "name": "shop",
        "on_failure": "degrade",
        "roles": [
            {"name": "db", "template_id": template, "cloud_id": cloud, "count": 1},
            {"name": "web", "template_id": template, "cloud_id": cloud, "count": 1, "depends_on": ["db"]},
        ],
    }
    (tmp_path / "shop.json").write_text(json.dumps(spec))

    preview = owner("clusters", "create", "--file", str(tmp_path / "shop.json"), "--dry-run", "-o", "json").json()
    assert [(r["role"], r["count"], r["hourly"]) for r in preview] == [("db", 1, "0.0200"), ("web", 1, "0.0200")]
    assert owner("clusters", "list", "-o", "json").json() == []

    made = owner("clusters", "create", "-f", str(tmp_path / "shop.json"), "-o", "json").json()
    running = owner.poll("clusters", "show", made["id"], until=lambda c: c["state"] == "running")
    assert [m["name"] for m in running["members"]] == ["shop-db-1", "shop-web-1"]
    owner("clusters", "scale", made["id"], "web", "2")
    grown = owner.poll(
        "clusters", "show", made["id"], until=lambda c: c["state"] == "running" and len(c["members"]) == 3
    )
    assert {r["name"]: (r["count"], r["running"], r["health"]) for r in grown["roles"]} == {
        "db": (1, 1, 1.0),
        "web": (2, 2, 1.0),
    }
    table = owner("clusters", "show", made["id"]).out
    assert "shop-web-2" in table and "health" in table
    members = owner("instances", "list", "-c", "cluster_role", "-o", "json").json()
    assert sorted(i["cluster_role"] for i in members) == ["db", "web", "web"]

    refused = owner("clusters", "retry", made["id"], expect=1)
    assert refused.err.startswith("clanavi: 409 ")
    owner("clusters", "delete", made["id"])
    ended = owner.poll("clusters", "show", made["id"], until=lambda c: c["state"] == "terminated")
    assert ended["state"] == "terminated"
    listed = owner("clusters", "list", "--state", "terminated", "-o", "json").json()
    assert [c["id"] for c in listed] == [made["id"]]
