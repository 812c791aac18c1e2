"""`python -m devstack run|stop|status`: the local platform behind `make run` and `make stop`.

`run` starts PostgreSQL and RabbitMQ under the run directory (unless CLANAVI_DATABASE_URL / CLANAVI_AMQP_URL point at
servers of your own), makes an admin API key, the first admin's password and the platform's keys on first use (kept
in the run directory), and runs every service under honcho until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from devstack.postgres import PostgresServer
from devstack.rabbitmq import RabbitServer

SERVICES = {"provisioner": 8081, "audit": 8082, "gateway": 8080}


def run_dir() -> Path:
    return Path(os.environ.get("CLANAVI_RUN_DIR", Path.cwd() / ".run")).resolve()


def servers(root: Path) -> tuple[PostgresServer | None, RabbitServer | None]:
    pg = None
    if not os.environ.get("CLANAVI_DATABASE_URL"):
        pg = PostgresServer(root / "postgres", int(os.environ.get("CLANAVI_DEV_PG_PORT", "5442")))
    rabbit = None
    if not os.environ.get("CLANAVI_AMQP_URL"):
        port = int(os.environ.get("CLANAVI_DEV_AMQP_PORT", "5682"))
        rabbit = RabbitServer(root / "rabbitmq", port, dist_port=port + 20000, epmd_port=port + 1)
    return pg, rabbit


def kept_secret(root: Path, variable: str, file_name: str) -> str:
    """The value of `variable` if set, else the one kept in the run directory (made on first use, mode 0600)."""
    if value := os.environ.get(variable):
        return value
    path = root / file_name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def admin_token(root: Path) -> str:
    return kept_secret(root, "CLANAVI_ADMIN_TOKEN", "admin-token")


def stop_servers(root: Path) -> None:
    pg, rabbit = servers(root)
    if rabbit is not None:
        rabbit.stop()
    if pg is not None:
        pg.stop()


def run() -> int:
    root = run_dir()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    pg, rabbit = servers(root)
    env = dict(os.environ)
    try:
        if pg is not None:
            print(f"starting PostgreSQL on 127.0.0.1:{pg.port} ({pg.root})", flush=True)
            pg.start()
            env["CLANAVI_DATABASE_URL"] = pg.url
        if rabbit is not None:
            print(f"starting RabbitMQ on 127.0.0.1:{rabbit.port} ({rabbit.root})", flush=True)
            rabbit.start()
            env["CLANAVI_AMQP_URL"] = rabbit.url
        token = admin_token(root)
        env["CLANAVI_ADMIN_TOKEN"] = token
        # The keys the services trust each other with and encrypt cloud credentials with, and the first admin.
        env["CLANAVI_INTERNAL_KEY"] = kept_secret(root, "CLANAVI_INTERNAL_KEY", "internal-key")
        env["CLANAVI_SECRET_KEY"] = kept_secret(root, "CLANAVI_SECRET_KEY", "secret-key")
        admin_email = env.setdefault("CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_EMAIL", "admin@clanavi.local")
        password = kept_secret(root, "CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD", "admin-password")
        env["CLANAVI_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD"] = password
        env.setdefault("CLANAVI_LOG_FORMAT", "text")
        procfile = root / "Procfile"
        procfile.write_text("".join(f"{name}: {sys.executable} -m services serve {name}\n" for name in SERVICES))
        gateway = f"http://127.0.0.1:{os.environ.get('CLANAVI_GATEWAY_PORT', SERVICES['gateway'])}"
        print(
            f"\nClanavi gateway: {gateway}\n"
            f"admin login:     {admin_email} / {password}   (password in {root / 'admin-password'})\n"
            f"admin API key:   {token}   (also in {root / 'admin-token'})\n"
            f"try:  curl -H 'Authorization: Bearer {token}' {gateway}/v1/clouds\n"
            "stop: Ctrl-C here, or `make stop` from another terminal\n",
            flush=True,
        )
        honcho = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "honcho", "-f", str(procfile), "-d", str(Path.cwd()), "start"], env=env
        )
        (root / "honcho.pid").write_text(str(honcho.pid))

        def forward(signum: int, _frame: object) -> None:
            honcho.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        return honcho.wait()
    finally:
        (root / "honcho.pid").unlink(missing_ok=True)
        print("stopping RabbitMQ and PostgreSQL", flush=True)
        stop_servers(root)


def stop() -> int:
    root = run_dir()
    pid_file = root / "honcho.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    stop_servers(root)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["run", "stop"])
    args = parser.parse_args()
    return run() if args.command == "run" else stop()


if __name__ == "__main__":
    raise SystemExit(main())
