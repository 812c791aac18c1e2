"""A local OpenSSH server (Debian's `openssh-server`) on 127.0.0.1: where SimCloud guests' scripts run in the tests,
the benchmarks and `make run`.

It runs as an unprivileged account: as root, a system account of its own (`clanavi-ssh`, made when missing, with a
real shell and home), otherwise the current user. It has its own host keys (Ed25519 and ECDSA), made at the first
start and kept in its directory, and an authorized keys file it owns; `new_host_keys()` replaces the keys, as a
server reinstalled at the same address would. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import stop_process, wait_answering

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
# The account the server runs as when started by root: sshd logs in only as the account it runs as.
ACCOUNT = "clanavi-ssh"
# The host key types a cloud image's sshd makes first, as `ssh-keygen -A` would (RSA left out: slow to make).
HOST_KEY_TYPES = ("ecdsa", "ed25519")


class SshdError(RuntimeError):
    """The server could not be started."""


def sshd_installed() -> bool:
    return SSHD.exists() and shutil.which(SSH_KEYGEN) is not None


def _account() -> pwd.struct_passwd:
    """The account to run as: the current one, or (as root) `clanavi-ssh`, made when missing."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--create-home", "--shell", "/bin/sh", ACCOUNT],  # noqa: S607 - from PATH
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(ACCOUNT)


@dataclass
class SshServer:
    """sshd in `root` (its keys, configuration, authorized keys and log) on 127.0.0.1:`port`."""

    root: Path
    port: int
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.account = _account()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def user(self) -> str:
        return self.account.pw_name

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def log_path(self) -> Path:
        return self.root / "sshd.log"

    def host_key_files(self) -> list[Path]:
        """The public halves of the host keys, in the order cloud-init prints them (by file name)."""
        return sorted(self.root.glob("ssh_host_*_key.pub"))

    def host_keys(self) -> list[str]:
        return [path.read_text().strip() for path in self.host_key_files()]

    def guest_ssh(self) -> dict[str, object]:
        """SimCloud's `guest_ssh` setting for this server."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "host_keys": [str(p) for p in self.host_key_files()],
            "authorized_keys_file": str(self.authorized_keys),
        }

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._own(self.root)
        for kind in HOST_KEY_TYPES:
            key = self.root / f"ssh_host_{kind}_key"
            if not key.exists():
                self._make_key(key, kind)
        if not self.authorized_keys.exists():
            self.authorized_keys.touch(mode=0o600)
        self._own(self.authorized_keys)
        (self.root / "sshd_config").write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}",
                    f"Port {self.port}",
                    *(f"HostKey {self.root / f'ssh_host_{kind}_key'}" for kind in HOST_KEY_TYPES),
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"AllowUsers {self.user}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    # The files live under a temporary directory others may write to, which strict modes refuse.
                    "StrictModes no",
                    # The benchmark opens many sessions at once.
                    "MaxStartups 100:30:200",
                    "LogLevel INFO",
                    "",
                ]
            )
        )

    def _make_key(self, key: Path, kind: str) -> None:
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        subprocess.run(  # noqa: S603 - ssh-keygen with fixed arguments
            [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", f"root@{socket.gethostname()}", "-f", str(key)],
            check=True,
            capture_output=True,
        )
        for path in (key, key.with_suffix(".pub")):
            self._own(path)
        key.chmod(0o600)

    def new_host_keys(self) -> None:
        """Replace the host keys (restart to serve them)."""
        for kind in HOST_KEY_TYPES:
            self._make_key(self.root / f"ssh_host_{kind}_key", kind)

    def start(self, timeout: float = 15.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        if not sshd_installed():
            raise SshdError(f"{SSHD} not found: install Debian's openssh-server")
        self._prepare()
        as_root = os.geteuid() == 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our sshd with our configuration
                [str(SSHD), "-D", "-e", "-f", str(self.root / "sshd_config")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.account.pw_uid if as_root else None,
                group=self.account.pw_gid if as_root else None,
                extra_groups=[] if as_root else None,
                env={"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": self.account.pw_dir},
            )
        wait_answering(
            self._process,
            self._greets,
            timeout,
            exited=lambda code: SshdError(f"sshd exited with {code}; see {self.log_path}"),
            silent=lambda: SshdError(f"sshd not answering on {self.host}:{self.port} after {timeout}s"),
            stop=self.stop,
        )

    def _greets(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1) as sock:
            return sock.recv(4).startswith(b"SSH-")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def stop_left_behind(self) -> None:
        """Stop a server of this directory that a process since gone started (a `make run` that was killed): the
        process its pid file names, if it is sshd with this directory's configuration."""
        try:
            pid = int((self.root / "sshd.pid").read_text().split()[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        # sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f <config> [listener] ..."): look inside it.
        if b"sshd" in command and str(self.root / "sshd_config").encode() in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["ACCOUNT", "HOST_KEY_TYPES", "SshServer", "SshdError", "sshd_installed"]
