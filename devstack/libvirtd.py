"""A private, unprivileged session `libvirtd`, so several processes share one libvirt `test` hypervisor.

libvirt's `test:///default` driver keeps its state inside the process that opened it, and throws it away when the
last connection closes. Served by a daemon of our own, every client reaching the daemon's socket sees the same
hypervisor: connect with `LibvirtDaemon.uri` and keep one connection open for as long as the state must live.

libvirtd refuses to run as root without the system's `libvirt-qemu` user, so as root the daemon runs as `nobody`
in a directory of its own; as any other user it runs directly. It listens on Unix sockets under `root/run` only
(never TCP). Stdlib only: the daemon is started by test fixtures and tools that must not depend on libvirt-python.
"""

from __future__ import annotations

import os
import pwd
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

LIBVIRTD = Path(os.environ.get("CLANAVI_LIBVIRTD", "/usr/sbin/libvirtd"))
# The user the daemon runs as when we are root.
DAEMON_USER = "nobody"
# sockaddr_un.sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107


class LibvirtDaemonError(RuntimeError):
    """The daemon could not be started."""


@dataclass
class LibvirtDaemon:
    """One session libvirtd: configuration, state, log and sockets all under `root`."""

    root: Path
    # The hypervisor to reach through the daemon; `test:///default` is libvirt's built-in test driver.
    driver_uri: str = "test:///default"
    # Exit on its own after this many idle seconds (no client connected), so a killed test run leaves no daemon.
    idle_timeout: int | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "libvirtd.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "libvirtd.log"

    @property
    def uri(self) -> str:
        """The URI clients connect with: the driver URI, carried over the daemon's Unix socket."""
        scheme, sep, rest = self.driver_uri.partition("://")
        if not sep:
            raise LibvirtDaemonError(f"not a libvirt URI: {self.driver_uri!r}")
        return f"{scheme}+unix://{rest}?socket={self.socket_path}"

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _prepare_root(self) -> None:
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise LibvirtDaemonError(
                f"socket path {self.socket_path} is too long for a Unix socket; use a shorter root"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        # The daemon's own configuration: logs to stderr (our log file), nothing over TCP.
        (self.root / "libvirtd.conf").write_text('log_outputs = "3:stderr"\n')
        if self._as_root():
            entry = pwd.getpwnam(DAEMON_USER)
            for path in (self.root, self.root / "libvirtd.conf"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            probe = subprocess.run(
                ["su", DAEMON_USER, "-s", "/bin/sh", "-c", shlex.join(["test", "-w", str(self.root)])],
                capture_output=True,
                check=False,
            )
            if probe.returncode != 0:
                raise LibvirtDaemonError(f"{DAEMON_USER} cannot write {self.root}; put the directory elsewhere")

    def _command(self) -> list[str]:
        env = {
            "HOME": str(self.root),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "XDG_CONFIG_HOME": str(self.root / "cfg"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        daemon = [str(LIBVIRTD), "--config", str(self.root / "libvirtd.conf"), "--pid-file", str(self.pid_file)]
        if self.idle_timeout is not None:
            daemon += ["--timeout", str(self.idle_timeout)]
        # `exec` so that the process `su` waits for is libvirtd itself.
        script = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), "exec", shlex.join(daemon)])
        if self._as_root():
            return ["su", DAEMON_USER, "-s", "/bin/sh", "-c", script]
        return ["/bin/sh", "-c", script]

    def is_running(self) -> bool:
        """True when something accepts connections on the daemon's socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            try:
                sock.connect(str(self.socket_path))
            except OSError:
                return False
            return True

    def has_exited(self) -> bool:
        """True once the daemon we started has ended (stopped, crashed, or idle past `idle_timeout`)."""
        return self._process is None or self._process.poll() is not None

    def start(self, timeout: float = 30) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._prepare_root()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise LibvirtDaemonError(f"libvirtd exited with {code}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise LibvirtDaemonError(f"libvirtd did not open {self.socket_path} in {timeout}s; see {self.log_path}")
            time.sleep(0.05)

    def _daemon_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 15) -> None:
        """Stop the daemon we started (SIGTERM, then SIGKILL), and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            # As root our child is `su`, which waits for libvirtd (whose pid the pid file holds) and reaps it:
            # signal the daemon only, so `su` outlives it and nothing is left a zombie.
            pid = self._daemon_pid() if self._as_root() else None
            target = pid if pid is not None else process.pid
            _signal(target, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal(target, signal.SIGKILL)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    _signal(process.pid, signal.SIGKILL)
                    process.wait(5)
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> LibvirtDaemon:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


__all__ = ["LibvirtDaemon", "LibvirtDaemonError"]
