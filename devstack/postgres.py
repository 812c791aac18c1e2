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

The cluster lives in `root`, unless the server could not use it there: as root, when the `postgres` account cannot
reach `root` (a checkout in root's own home, mode 0700 on Debian), or when the socket's path would be too long for a
Unix socket (a deep checkout). Then it lives in a directory of its own under `STATE_DIR` (or `~/.local/state`), named
after `root`'s path, and `root` becomes a symbolic link to it: the data outlives reboots and every later start (and
`stop`) finds it through the link. `remove()` deletes both.
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
# Where clusters live that cannot live where they were asked to (see above): as root, a directory the `postgres`
# account can pass through; otherwise the user's own state directory.
STATE_DIR = "/var/lib/clanavi-dev"
# sockaddr_un.sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107
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


def state_dir() -> Path:
    """Where clusters are kept that cannot live where they were asked to (CLANAVI_DEV_STATE_DIR overrides)."""
    if chosen := os.environ.get("CLANAVI_DEV_STATE_DIR"):
        return Path(chosen)
    if os.geteuid() == 0:
        return Path(STATE_DIR)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "clanavi-dev"


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
    """One cluster: data in `home/data`, socket, log and password in `home`, which is `root` or where it links to."""

    root: Path
    port: int
    database: str = "clanavi"
    durable: bool = True

    @property
    def home(self) -> Path:
        return self.root.resolve() if self.root.is_symlink() else self.root

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

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

    def _socket_path(self, home: Path) -> Path:
        return home / f".s.PGSQL.{self.port}"

    def _reachable(self, path: Path, owner: pwd.struct_passwd | None) -> bool:
        """True when the account the server runs as may pass through `path` and every directory above it."""
        if owner is None:
            return True
        return self._run(["test", "-x", str(path)], check=False).returncode == 0

    def _elsewhere(self) -> Path:
        """The directory of its own the cluster lives in when it cannot live in `root`."""
        wanted = self.root.parent.resolve() / self.root.name
        return state_dir() / hashlib.sha256(str(wanted).encode()).hexdigest()[:16]

    def _settle_home(self, owner: pwd.struct_passwd | None) -> None:
        """Make `root` a link to a directory of its own when the server could not use `root` itself."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        if self.root.is_symlink():
            target = self.home
        elif len(str(self._socket_path(self.root))) > _MAX_SOCKET_PATH or not self._reachable(self.root.parent, owner):
            target = self._elsewhere()
        else:
            return
        if not target.parent.exists():
            target.parent.mkdir(parents=True)
            # As root, `postgres` passes through to its cluster; nobody lists whose clusters are there.
            target.parent.chmod(0o711 if owner is not None else 0o700)
        if not self.root.is_symlink():
            if self.root.exists():
                # What an earlier start left there (a cluster made before the checkout became unreachable, or the
                # password of a start that could not go on): moved, not lost.
                if target.exists():
                    raise ServerError(f"both {self.root} and {target} hold a cluster; remove the one not wanted")
                shutil.move(self.root, target)
                if owner is not None:
                    # A move across file systems is a copy, made by us.
                    for directory, _, files in os.walk(target):
                        for path in (directory, *(os.path.join(directory, name) for name in files)):
                            os.chown(path, owner.pw_uid, owner.pw_gid)
            target.mkdir(exist_ok=True)
            # Which checkout the cluster belongs to, for whoever finds it there.
            (target / "origin").write_text(f"{self.root.parent.resolve() / self.root.name}\n")
            self.root.symlink_to(target, target_is_directory=True)
        if len(str(self._socket_path(target))) > _MAX_SOCKET_PATH:
            raise ServerError(f"{target} is too long a path for PostgreSQL's socket; set CLANAVI_DEV_STATE_DIR shorter")

    def _prepare_root(self) -> None:
        owner = server_user()
        self._settle_home(owner)
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(home, owner.pw_uid, owner.pw_gid)
        # The socket lives here too: other accounts cannot even reach it.
        home.chmod(0o700)
        kept_secret(self.password_file, owner=owner)  # made now, owned by the account initdb runs as
        if owner is not None:
            probe = self._run(["test", "-w", str(home)], check=False)
            if probe.returncode != 0:
                raise ServerError(f"the postgres user cannot write {home}; set CLANAVI_DEV_STATE_DIR to where it can")

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
                f"-k {self.home}",
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
                    str(self.home / "postgres.log"),
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
        command = [psql, "-h", str(self.home), "-p", str(self.port), "-U", SUPERUSER, "-d", database]
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

    def remove(self) -> None:
        """Stop the server and delete the cluster, wherever it lives, and `root` (a directory or a link)."""
        self.stop()
        home = self.home
        if self.root.is_symlink():
            self.root.unlink()
        shutil.rmtree(home, ignore_errors=True)
