"""An isolated RabbitMQ node in a directory of our own.

The node is started through `/usr/lib/rabbitmq/bin/rabbitmq-server` directly: the `/usr/sbin` wrapper switches to
the `rabbitmq` user and reads the system-wide configuration. Every path, port and the Erlang port mapper (epmd) are
private to the node, so several nodes (a developer's `make run` and a test run) live side by side.

Clients log in as `clanavi` with a generated password (kept in `root/password`, mode 0600) on the default virtual
host; `guest` does not exist. The node loads the user from a definitions file at boot (which holds the password's
salted hash only), so a new node never has `guest` at all; a node made before passwords existed gets the user and
loses `guest` at its next start. `rabbitmqctl` needs no password: it proves itself with the Erlang cookie in the
node's home, which only its owner can read. Every listener is on loopback: AMQP, epmd, the Erlang distribution port
and those of `rabbitmqctl`'s own nodes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devstack._private import kept_secret, private_dir, write_private
from devstack.ports import free_port

RABBIT_BIN = Path(os.environ.get("CLANAVI_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
USER = "clanavi"
LOOPBACK = "127.0.0.1"
LOOPBACK_DISTRIBUTION = "-kernel inet_dist_use_interface {127,0,0,1}"
NO_SUCH_USER = 67  # rabbitmqctl's exit status (EX_NOUSER) when the user to delete does not exist


def password_hash(password: str) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + SHA-256(salt + password)) with a 4-byte salt."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class RabbitError(RuntimeError):
    """The node could not be started or stopped."""


@dataclass
class RabbitServer:
    root: Path
    port: int
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def node(self) -> str:
        return f"clanavi-{self.port}@localhost"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def password(self) -> str:
        """The password of the user clients log in as, made on first use."""
        return kept_secret(self.password_file)

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/"

    @property
    def definitions_file(self) -> Path:
        return self.root / "definitions.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "rabbit.pid"

    def env(self) -> dict[str, str]:
        plugins = self.root / "enabled_plugins"
        conf_env = self.root / "rabbitmq-env.conf"
        env = dict(os.environ)
        env.update(
            HOME=str(self.root),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_CONF_ENV_FILE=str(conf_env),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.root / "advanced.config"),
            ERL_EPMD_PORT=str(self.epmd_port),
            # Only this machine talks to the node: epmd, the node's distribution port and the CLI's own short-lived
            # nodes listen on loopback, never on every interface.
            ERL_EPMD_ADDRESS=LOOPBACK,
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=LOOPBACK_DISTRIBUTION,
            RABBITMQ_CTL_ERL_ARGS=LOOPBACK_DISTRIBUTION,
        )
        return env

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`rabbitmqctl` against this node; its exit status is for the caller to judge."""
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _definitions(self) -> dict[str, Any]:
        return {
            "users": [
                {
                    "name": USER,
                    "password_hash": password_hash(self.password),
                    "hashing_algorithm": "rabbit_password_hashing_sha256",
                    "tags": "",
                }
            ],
            "vhosts": [{"name": "/"}],
            "permissions": [{"user": USER, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
        }

    def _write_config(self) -> None:
        # The home holds the Erlang cookie, which lets whoever reads it run any command on the node.
        private_dir(self.root)
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "advanced.config").write_text("[].\n")
        write_private(self.definitions_file, json.dumps(self._definitions(), indent=2) + "\n")
        # Definitions loaded at boot keep RabbitMQ from creating guest on a new node. Development disks are small and
        # shared: the default 50 MB free-disk alarm is fine, but a node that sees little memory must not block
        # publishers.
        write_private(
            self.root / "rabbitmq.conf",
            f"load_definitions = {self.definitions_file}\n"
            "loopback_users.guest = true\n"
            "vm_memory_high_watermark.relative = 0.4\n",
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise RabbitError(f"rabbitmqctl {what} failed: {result.stdout}{result.stderr}")

    def _secure(self, *, running_before: bool, new_node: bool) -> None:
        """The user clients log in as, with the kept password, and no guest."""
        if running_before:
            # Perhaps started by an older devstack, before the definitions file existed: load it now.
            self._write_config()
            self._check(self.ctl("import_definitions", str(self.definitions_file)), "import_definitions")
        if new_node:
            return  # the definitions loaded at its birth kept guest from being created
        deleted = self.ctl("delete_user", "guest")
        if deleted.returncode not in (0, NO_SUCH_USER):
            self._check(deleted, "delete_user guest")

    def is_running(self) -> bool:
        return self.pid_file.exists() and self.ctl("status", timeout=20).returncode == 0

    def start(self, timeout: float = 90) -> None:
        if self.is_running():
            self._secure(running_before=True, new_node=False)
            return
        new_node = not (self.root / "mnesia").exists()
        self._write_config()
        with (self.root / "server.out").open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed program path
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.pid_file.exists():
            if time.monotonic() > deadline:
                raise RabbitError(f"RabbitMQ wrote no pid file; see {self.root / 'server.out'}")
            time.sleep(0.1)
        # `await_startup` alone exits early before the node has registered with epmd; `wait` covers that gap.
        for args in (("wait", "--timeout", str(int(timeout)), str(self.pid_file)), ("await_startup",)):
            self._check(self.ctl(*args, timeout=timeout), args[0])
        self._secure(running_before=False, new_node=new_node)

    def stop_app(self) -> None:
        """Stop the broker inside a running node (clients lose their connections)."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup")

    def stop(self) -> None:
        if self.pid_file.exists():
            self.ctl("stop", str(self.pid_file))
        # epmd outlives the node that started it.
        subprocess.run(["epmd", "-kill"], env=self.env(), capture_output=True, check=False)
        self.pid_file.unlink(missing_ok=True)
        if self._process is not None:
            self._process.wait(30)  # reap it, so no zombie outlives the node
            self._process = None
