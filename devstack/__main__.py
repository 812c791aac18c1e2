"""`python -m devstack run|stop|clean`: the local platform behind `make run`, `make stop` and `make clean`.

`run` checks every service's settings first (a bad one stops it with one line naming the variable, before anything
starts), then starts PostgreSQL and RabbitMQ under the run directory (unless CLANAVI_DATABASE_URL / CLANAVI_AMQP_URL
point at servers of your own), each with a generated password, makes an admin API key, the first admin's password and
the platform's keys on first use (kept in the run directory, mode 0600), and runs every service under honcho until
Ctrl-C or `stop`. The run directory is not listable by other accounts (as root they may pass through it, for the
`postgres` account to reach its cluster). When `postgres` cannot reach the run directory at all (a checkout in root's
home), the cluster lives under /var/lib/clanavi-dev and `.run/postgres` links to it (see devstack.postgres).

`stop` stops what `run` started; the data stays for the next `run`. `clean` deletes it: the servers' data, wherever
it lives, and the run directory with its keys.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack._private import kept_secret as kept_file
from devstack._private import kept_signing_key, private_dir
from devstack.postgres import PostgresServer
from devstack.rabbitmq import RabbitServer
from devstack.sshd import SshServer, sshd_installed

SERVICES = {
    "provisioner": 8081,
    "audit": 8082,
    "scaler": 8083,
    "failover": 8084,
    "billing": 8085,
    "alerts": 8086,
    "gateway": 8080,
}
# The exit status when settings are refused, as `clanavi` has it.
BAD_SETTINGS = 2
# RabbitMQ's Erlang distribution port is this far above its AMQP port, and epmd's is one above.
DIST_PORT_OFFSET = 20000
# How long `stop` waits for `run` to stop the services and the servers itself.
STOP_WAIT_SECONDS = 90.0


def run_dir() -> Path:
    return Path(os.environ.get("CLANAVI_RUN_DIR", Path.cwd() / ".run")).resolve()


class BadSetting(ValueError):
    """A variable of devstack's own that it cannot use; the message names it."""


def dev_port(variable: str, default: int, *, highest: int = 65535) -> int:
    value = os.environ.get(variable) or str(default)
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= highest:
        raise BadSetting(
            f"{variable} is not a valid port{f' (at most {highest})' if highest < 65535 else ''}: {value!r}"
        )
    return port


def servers(root: Path) -> tuple[PostgresServer | None, RabbitServer | None]:
    pg = None
    if not os.environ.get("CLANAVI_DATABASE_URL"):
        pg = PostgresServer(root / "postgres", dev_port("CLANAVI_DEV_PG_PORT", 5442))
    rabbit = None
    if not os.environ.get("CLANAVI_AMQP_URL"):
        port = dev_port("CLANAVI_DEV_AMQP_PORT", 5682, highest=65535 - DIST_PORT_OFFSET)
        rabbit = RabbitServer(root / "rabbitmq", port, dist_port=port + DIST_PORT_OFFSET, epmd_port=port + 1)
    return pg, rabbit


def guest_ssh(root: Path, env: dict[str, str]) -> SshServer | None:
    """The local OpenSSH server the built-in SimCloud account's guests answer SSH through (so script runs work), unless
    CLANAVI_PROVISIONER_SIM_OPTIONS names one already, CLANAVI_DEV_SSH is 0, or openssh-server is not installed."""
    if env.get("CLANAVI_DEV_SSH") == "0" or "guest_ssh" in env.get("CLANAVI_PROVISIONER_SIM_OPTIONS", ""):
        return None
    if not sshd_installed():
        print(
            "no /usr/sbin/sshd (Debian's openssh-server): SimCloud's guests answer no SSH, script runs fail", flush=True
        )
        return None
    return SshServer(root / "sshd", dev_port("CLANAVI_DEV_SSH_PORT", 5422))


def with_guest_ssh(env: dict[str, str], server: SshServer) -> None:
    """Add the server to the built-in SimCloud account's options (those given stay)."""
    try:
        options = json.loads(env.get("CLANAVI_PROVISIONER_SIM_OPTIONS") or "{}")
    except ValueError:
        return  # the services' check has refused it already
    if isinstance(options, dict):
        env["CLANAVI_PROVISIONER_SIM_OPTIONS"] = json.dumps({**options, "guest_ssh": server.guest_ssh()})


def services_accept(env: dict[str, str]) -> bool:
    """True when every service accepts its settings in `env`; otherwise `python -m services check` has said why on
    stderr, in the very line the service itself would."""
    checked = subprocess.run([sys.executable, "-m", "services", "check"], env=env, check=False)  # noqa: S603
    return checked.returncode == 0


def kept_secret(root: Path, variable: str, file_name: str) -> str:
    """The value of `variable` if set, else the one kept in the run directory (made on first use, mode 0600)."""
    if value := os.environ.get(variable):
        return value
    return kept_file(root / file_name)


def admin_token(root: Path) -> str:
    return kept_secret(root, "CLANAVI_ADMIN_TOKEN", "admin-token")


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def stop_servers(pg: PostgresServer | None, rabbit: RabbitServer | None) -> None:
    if rabbit is not None:
        rabbit.stop()
    if pg is not None:
        pg.stop()


def run() -> int:
    pg, rabbit = servers(run_dir())
    root = private_dir(run_dir(), passable=True)
    pid_file = root / "devstack.pid"
    running = _running_pid(pid_file)
    if running:
        print(f"already running (process {running}); `make stop` stops it", file=sys.stderr)
        return 1
    env = dict(os.environ)
    token = admin_token(root)
    env["CLANAVI_ADMIN_TOKEN"] = token
    # The keys the services trust each other with and encrypt cloud credentials with, and the first admin.
    env["CLANAVI_INTERNAL_KEY"] = kept_secret(root, "CLANAVI_INTERNAL_KEY", "internal-key")
    env["CLANAVI_SECRET_KEY"] = kept_secret(root, "CLANAVI_SECRET_KEY", "secret-key")
    env["CLANAVI_AUDIT_SIGNING_KEY"] = os.environ.get("CLANAVI_AUDIT_SIGNING_KEY") or kept_signing_key(
        root / "audit-signing-key"
    )
    admin_email = env.setdefault("CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_EMAIL", "admin@clanavi.local")
    password = kept_secret(root, "CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD", "admin-password")
    env["CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD"] = password
    env.setdefault("CLANAVI_LOG_FORMAT", "text")
    # The servers' URLs carry passwords made when they first start; the check needs their shape only.
    checked = dict(env)
    if pg is not None:
        checked["CLANAVI_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{pg.port}/{pg.database}"
    if rabbit is not None:
        checked["CLANAVI_AMQP_URL"] = f"amqp://clanavi@127.0.0.1:{rabbit.port}/"
    if not services_accept(checked):
        return BAD_SETTINGS
    sshd = guest_ssh(root, env)
    pid_file.write_text(str(os.getpid()))
    honcho: subprocess.Popen[bytes] | None = None
    asked_to_stop = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        if honcho is None:
            # Still starting the servers: unwind, so that `finally` stops what is started.
            raise SystemExit(128 + signum)
        honcho.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        if pg is not None:
            print(f"starting PostgreSQL on 127.0.0.1:{pg.port}", flush=True)
            pg.start()
            if pg.root.is_symlink():
                print(f"  its data: {pg.home} ({pg.root} links there; `make clean` deletes it)", flush=True)
            env["CLANAVI_DATABASE_URL"] = pg.url
        if rabbit is not None:
            print(f"starting RabbitMQ on 127.0.0.1:{rabbit.port} ({rabbit.root})", flush=True)
            rabbit.start()
            env["CLANAVI_AMQP_URL"] = rabbit.url
        if sshd is not None:
            print(f"starting OpenSSH on 127.0.0.1:{sshd.port} for SimCloud's guests ({sshd.root})", flush=True)
            sshd.start()
            with_guest_ssh(env, sshd)
        procfile = root / "Procfile"
        procfile.write_text("".join(f"{name}: {sys.executable} -m services serve {name}\n" for name in SERVICES))
        gateway = f"http://127.0.0.1:{os.environ.get('CLANAVI_GATEWAY_PORT', SERVICES['gateway'])}"
        database = without_password(env["CLANAVI_DATABASE_URL"])
        broker = without_password(env["CLANAVI_AMQP_URL"])
        print(
            f"\nClanavi gateway: {gateway}\n"
            f"admin login:     {admin_email} / {password}   (password in {root / 'admin-password'})\n"
            f"admin API key:   {token}   (also in {root / 'admin-token'})\n"
            f"PostgreSQL:      {database}{f'   (password in {pg.password_file})' if pg else ''}\n"
            f"RabbitMQ:        {broker}{f'   (password in {rabbit.password_file})' if rabbit else ''}\n"
            f"try:  curl -H 'Authorization: Bearer {token}' {gateway}/v1/clouds\n"
            "stop: Ctrl-C here, or `make stop` from another terminal\n",
            flush=True,
        )
        honcho = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "honcho", "-f", str(procfile), "-d", str(Path.cwd()), "start"], env=env
        )
        status = honcho.wait()
        # Ctrl-C or `stop` is how a run ends: not a failure.
        return 0 if asked_to_stop else status
    finally:
        if honcho is not None and honcho.poll() is None:
            honcho.terminate()
            honcho.wait()
        print("stopping RabbitMQ and PostgreSQL", flush=True)
        if sshd is not None:
            sshd.stop()
        stop_servers(pg, rabbit)
        pid_file.unlink(missing_ok=True)


def _is_devstack_run(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"devstack" in command and b"run" in command


def _running_pid(pid_file: Path) -> int:
    """The process id of the `run` that wrote `pid_file` if it still runs, else 0."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return 0
    return pid if _is_devstack_run(pid) else 0


def stop() -> int:
    """Ask `run` to stop (it stops the services, then the servers) and wait for it; then stop whatever is left, such
    as the servers of a `run` that was killed."""
    root = run_dir()
    pid = _running_pid(root / "devstack.pid")
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while _is_devstack_run(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    # A `run` of an older devstack kept only honcho's pid.
    honcho_pid_file = root / "honcho.pid"
    if honcho_pid_file.exists():
        try:
            os.kill(int(honcho_pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        honcho_pid_file.unlink(missing_ok=True)
    stop_servers(*servers(root))
    if (root / "sshd" / "sshd.pid").exists():
        SshServer(root / "sshd", 0).stop_left_behind()
    return 0


def clean() -> int:
    """Delete what `run` keeps: the servers' data (PostgreSQL's wherever it lives) and the run directory."""
    root = run_dir()
    if pid := _running_pid(root / "devstack.pid"):
        print(f"still running (process {pid}); `make stop` first", file=sys.stderr)
        return 1
    stop_servers(*servers(root))  # those of a `run` that was killed
    if (root / "sshd" / "sshd.pid").exists():
        SshServer(root / "sshd", 0).stop_left_behind()
    # Wherever it lives, and even when CLANAVI_DATABASE_URL names another server now.
    PostgresServer(root / "postgres", 0).remove()
    shutil.rmtree(root, ignore_errors=True)
    print(f"deleted {root} and the servers' data")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["run", "stop", "clean"])
    args = parser.parse_args()
    try:
        return {"run": run, "stop": stop, "clean": clean}[args.command]()
    except BadSetting as exc:
        print(f"clanavi: {exc}", file=sys.stderr)
        return BAD_SETTINGS


if __name__ == "__main__":
    raise SystemExit(main())
