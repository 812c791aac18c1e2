"""An isolated PostgreSQL 15 cluster in a directory of our own.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user (which the Debian
package creates) and every server command runs through `su`.

No connection is trusted: the superuser `postgres` has a generated password (kept in `root/password`, mode 0600,
readable by the cluster's owner only) that TCP clients give by SCRAM. Over the Unix socket, which lives in the
cluster's own 0700 directory, the OS account that owns the cluster logs in by peer authentication: that account can
read the data files anyway, so a password would protect nothing from it, and devstack's own `psql` needs none. Any
other socket connection needs the password too.

A cluster made before passwords existed (trust authentication, no password file) is converted at its next start: the
old trust rules still let devstack in over the socket once, to set the password, and the new rules replace them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from devstack._private import kept_secret, server_user, write_private

PG_BIN = Path(os.environ.get("CLANAVI_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"  # as named in HBA and IDENT
HBA = """\
# Written by devstack at every start.
# The cluster's OS account (which owns the data files anyway) by peer over the socket; everyone else by password.
local   all   postgres                     peer   map=owner
local   all   all                          scram-sha-256
host    all   all           127.0.0.1/32   scram-sha-256
host    all   all           ::1/128        scram-sha-256
"""
IDENT = """\
# Written by devstack at every start: the cluster's OS account is the superuser.
owner   {account}   postgres
"""
SCRAM_ITERATIONS = 4096


class ServerError(RuntimeError):
    """A local server could not be started or stopped."""


def scram_verifier(password: str, *, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677), computed here so that the password itself
    never reaches the server, its logs or a command line."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass
class PostgresServer:
    """One cluster: data in `root/data`, socket, log and password in `root`."""

    root: Path
    port: int
    database: str = "clanavi"
    durable: bool = True

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def password(self) -> str:
        """The superuser's password, made on first use."""
        return kept_secret(self.password_file, owner=server_user())

    @property
    def url(self) -> str:
        return self.admin_url(self.database)

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def _run(
        self, args: list[str], *, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)]
        else:
            cmd = args
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, input=input)
        if check and result.returncode != 0:
            raise ServerError(f"{shlex.join(args)} failed: {result.stdout}{result.stderr}")
        return result

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        owner = server_user()
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        # The socket lives here too: other accounts cannot even reach it.
        self.root.chmod(0o700)
        kept_secret(self.password_file, owner=owner)  # made now, owned by the account initdb runs as
        if owner is not None:
            # The postgres user must be able to reach the directory through every parent.
            probe = self._run(["test", "-w", str(self.root)], check=False)
            if probe.returncode != 0:
                raise ServerError(f"the postgres user cannot write {self.root}; put the run directory elsewhere")

    def _write_authentication(self) -> None:
        owner = server_user()
        account = owner.pw_name if owner is not None else pwd.getpwuid(os.geteuid()).pw_name
        write_private(self.data_dir / "pg_ident.conf", IDENT.format(account=account), owner=owner)
        write_private(self.data_dir / "pg_hba.conf", HBA, owner=owner)

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False).returncode == 0

    def start(self) -> None:
        """Create the cluster on first use (or convert one that trusted every local connection), start it, and create
        the database."""
        self._prepare_root()
        created = not (self.data_dir / "PG_VERSION").exists()
        if created:
            self._run(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={self.password_file}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        self._write_authentication()
        if self.is_running():
            # Started before (perhaps by an older devstack that trusted everyone): read the rules written above.
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "reload"])
        else:
            options = [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=300",
            ]
            if not self.durable:
                # Test clusters are thrown away; durability only costs time there.
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            self._run(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.root / "postgres.log"),
                    "-o",
                    " ".join(options),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        if not created:
            # The kept password is the truth: a cluster from before passwords, or whose password file was lost, gets
            # it now (over the socket, which lets its owner in by trust before the conversion and by peer after).
            self.psql_script(f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_verifier(self.password)}'")
        self.create_database(self.database)

    def create_database(self, name: str) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.strip() != "1":
            self.psql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _psql(self, database: str, *args: str, input: str | None = None) -> str:
        psql = shutil.which("psql") or str(PG_BIN / "psql")
        command = [psql, "-h", str(self.root), "-p", str(self.port), "-U", SUPERUSER, "-d", database]
        result = self._run([*command, "-tAq", "-v", "ON_ERROR_STOP=1", *args], input=input)
        return result.stdout

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` as the superuser over the socket; the answer's rows, unaligned."""
        return self._psql(database, "-c", sql)

    def psql_script(self, sql: str, database: str = "postgres") -> str:
        """Like `psql`, with the SQL on standard input: other accounts see it in no process list."""
        return self._psql(database, "-f", "-", input=sql)

    def stop(self) -> None:
        if self.data_dir.exists() and self.is_running():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], check=False)
