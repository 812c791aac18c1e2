"""An isolated RabbitMQ node in a directory of our own.

The node is started through `/usr/lib/rabbitmq/bin/rabbitmq-server` directly: the `/usr/sbin` wrapper switches to
the `rabbitmq` user and reads the system-wide configuration. Every path, port and the Erlang port mapper (epmd) are
private to the node, so several nodes (a developer's `make run` and a test run) live side by side.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port

RABBIT_BIN = Path(os.environ.get("CLANAVI_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


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
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

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
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
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
        )
        return env

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "advanced.config").write_text("[].\n")
        # Development disks are small and shared: the default 50 MB free-disk alarm is fine, but a node that sees
        # little memory must not block publishers.
        (self.root / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\nvm_memory_high_watermark.relative = 0.4\n"
        )

    def is_running(self) -> bool:
        return self.pid_file.exists() and self._ctl("status", timeout=20).returncode == 0

    def start(self, timeout: float = 90) -> None:
        if self.is_running():
            return
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
            result = self._ctl(*args, timeout=timeout)
            if result.returncode != 0:
                raise RabbitError(f"rabbitmqctl {args[0]} failed: {result.stdout}{result.stderr}")

    def stop_app(self) -> None:
        """Stop the broker inside a running node (clients lose their connections)."""
        self._ctl("stop_app")

    def start_app(self) -> None:
        self._ctl("start_app")
        self._ctl("await_startup")

    def stop(self) -> None:
        if self.pid_file.exists():
            self._ctl("stop", str(self.pid_file))
        # epmd outlives the node that started it.
        subprocess.run(["epmd", "-kill"], env=self.env(), capture_output=True, check=False)
        self.pid_file.unlink(missing_ok=True)
        if self._process is not None:
            self._process.wait(30)  # reap it, so no zombie outlives the node
            self._process = None
