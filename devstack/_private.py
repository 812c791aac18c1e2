"""Files and directories only their owner may read: the run directory's secrets and the servers' homes."""

from __future__ import annotations

import base64
import os
import pwd
import secrets
from pathlib import Path


def server_user() -> pwd.struct_passwd | None:
    """The `postgres` OS account PostgreSQL runs as when we are root (it refuses to run as root), else None."""
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def private_dir(path: Path, *, passable: bool = False) -> Path:
    """Make `path` (and its parents) and let only its owner in. `passable` also lets others pass through it without
    listing it: as root, the `postgres` account must reach the cluster's directory inside."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o711 if passable and server_user() is not None else 0o700)
    return path


def write_private(path: Path, text: str, *, owner: pwd.struct_passwd | None = None) -> None:
    """Write `text` to `path`, readable by its owner only from the first byte on (not chmod after the fact)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if owner is not None:
        os.chown(temporary, owner.pw_uid, owner.pw_gid)
    temporary.replace(path)


def kept_secret(path: Path, *, owner: pwd.struct_passwd | None = None) -> str:
    """The secret kept in `path`, made on first use; the file is mode 0600 (a looser one left by an older version is
    tightened) and belongs to `owner` when given."""
    if path.exists():
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, value + "\n", owner=owner)
    return value


def kept_signing_key(path: Path) -> str:
    """The audit's Ed25519 signing key kept in `path` (its 32 bytes in base64), made on first use, mode 0600: the
    digests of a `make run` stay verifiable against one key across restarts."""
    if path.exists():
        path.chmod(0o600)
        return path.read_text().strip()
    value = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, value + "\n")
    return value
