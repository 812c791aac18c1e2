"""Running one script on an instance over SSH (asyncssh), accepting only the host keys pinned from its console.

There is no trust on first use: `known_hosts` holds exactly the pinned keys (so only their algorithms are
negotiated), and a key given only as a fingerprint is checked against it; anything else ends the handshake. The
script travels on the session's standard input into a private temporary file that is run and removed, so no body
(which may hold secrets) shows in a process list or a shell history. Output is passed on as it comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncssh

from services.provisioner.runs import domain
from services.provisioner.runs.domain import Outcome
from services.provisioner.runs.host_keys import HostKeys

# The remote side: a private file for the script, run, then removed; its exit status is the run's.
_COMMAND = 'umask 077; f=$(mktemp) || exit 125; cat > "$f" && chmod u+x "$f" && "$f"; rc=$?; rm -f "$f"; exit $rc'
CONNECT_SECONDS = 15.0
_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    user: str


class _Pinned(asyncssh.SSHClient):
    def __init__(self, pinned: HostKeys) -> None:
        self._pinned = pinned

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._pinned.accepts(key)


async def run(
    target: Target,
    pinned: HostKeys,
    client_key: asyncssh.SSHKey,
    body: str,
    seconds: float,
    output: Callable[[bytes], Awaitable[None]],
    started: Callable[[str], Awaitable[None]],
    *,
    connect_seconds: float = CONNECT_SECONDS,
) -> Outcome:
    """Log in (within `connect_seconds`), run `body` (within `seconds`), pass its output on; `started` is told the
    accepted host key's fingerprint before the script starts. Never raises for what happens on the other side: every
    end is an Outcome."""
    try:
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: _Pinned(pinned),
                target.host,
                target.port,
                username=target.user,
                # Only the pinned keys: no known_hosts file, no trust on first use; fingerprints go to the client.
                known_hosts=(list(pinned.keys), [], []),
                client_keys=[client_key],
                config=None,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                connect_timeout=connect_seconds,
            )
        except TimeoutError:
            return domain.never_ran(
                domain.UNREACHABLE, f"SSH to the instance did not answer within {connect_seconds:g} seconds"
            )
        async with conn, asyncio.timeout(seconds):
            host_key = conn.get_server_host_key()
            await started(host_key.get_fingerprint("sha256") if host_key is not None else "")
            process = await conn.create_process(_COMMAND, stderr=asyncssh.STDOUT, encoding=None)
            process.stdin.write(body.encode())
            process.stdin.write_eof()
            while chunk := await process.stdout.read(_CHUNK):
                await output(chunk)
            done = await process.wait()
        return domain.exited(done.exit_status if done.exit_signal is None else None)
    except TimeoutError:
        return Outcome("timed_out", problem="timed_out", reason=f"the script did not end within {seconds:g} seconds")
    except asyncssh.HostKeyNotVerifiable:
        return domain.never_ran(
            domain.HOST_KEY_MISMATCH,
            "the instance's SSH host key is not the one its console shows: the run was refused",
        )
    except asyncssh.PermissionDenied:
        return domain.never_ran(domain.LOGIN_REFUSED, f"the instance refused the login as {target.user}")
    except (OSError, asyncssh.Error) as exc:
        # Never the other side's words: only what kind of failure it was.
        return domain.never_ran(domain.UNREACHABLE, f"SSH to the instance failed ({type(exc).__name__})")


def private_key(text: str) -> asyncssh.SSHKey:
    return asyncssh.import_private_key(text)


def new_key() -> tuple[str, str]:
    """A new Ed25519 key pair: (private key in OpenSSH format, public key line)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="clanavi")
    return key.export_private_key().decode(), key.export_public_key().decode().strip()


__all__ = ["CONNECT_SECONDS", "Target", "new_key", "private_key", "run"]
