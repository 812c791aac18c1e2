"""The command line's own file: the API's URL, the project chosen, and the credentials of the last `clanavi login`.

It lives in `$XDG_CONFIG_HOME/clanavi/config.json` (`~/.config/clanavi/config.json` without it), in a directory only
its owner can enter (0700), readable and writable by its owner only (0600): it holds a refresh token or an API key.
A file that others can read is refused, as ssh refuses such a key, rather than used. Every write replaces the file
whole (a new file renamed over the old), so a command interrupted mid-write never leaves half a token behind."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from clanavi.client import ConfigurationError, Tokens

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "Login", "Stored", "config_file", "forget_login", "load", "save"]

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
FILE_NAME = "config.json"

Login = Literal["password", "api_key"]


@dataclass(frozen=True, slots=True)
class Stored:
    """What the file holds. `login` says how the credentials were given: a password login keeps the access token,
    the refresh token and when the access token runs out; an API key is kept as the access token alone."""

    url: str | None = None
    project: str | None = None
    login: Login | None = None
    email: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None

    @property
    def tokens(self) -> Tokens | None:
        if self.access_token is None:
            return None
        return Tokens(self.access_token, self.refresh_token, self.expires_at)

    def with_tokens(self, tokens: Tokens | None) -> Stored:
        if tokens is None:
            return replace(self, login=None, email=None, access_token=None, refresh_token=None, expires_at=None)
        return replace(
            self, access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at
        )

    def __repr__(self) -> str:
        # Never shows a credential, not even in a traceback's locals.
        return f"Stored(url={self.url!r}, project={self.project!r}, login={self.login!r}, email={self.email!r})"


def config_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or ""
    # The XDG base directory spec: a relative path is invalid and ignored.
    root = Path(base) if os.path.isabs(base) else Path(environ.get("HOME") or Path.home()) / ".config"
    return root / "clanavi" / FILE_NAME


def load(path: Path) -> Stored:
    """The stored settings; empty ones when there is no file yet."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return Stored()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, encoding="utf-8") as file:
        mode = os.fstat(file.fileno()).st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise ConfigurationError(f"{path} can be read by others: run `chmod 600 {path}` (it holds credentials)")
        try:
            content = json.load(file)
        except ValueError:
            raise ConfigurationError(f"{path} is not JSON: remove it and log in again") from None
    if not isinstance(content, dict):
        raise ConfigurationError(f"{path} is not a JSON object: remove it and log in again")
    known = {f.name for f in fields(Stored)}
    values: dict[str, Any] = {k: v for k, v in content.items() if k in known}
    return Stored(**values)


def save(path: Path, stored: Stored) -> None:
    """Write the settings: the directory made (or narrowed to) 0700, the file 0600 from its first byte."""
    directory = path.parent
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != DIRECTORY_MODE:
        directory.chmod(DIRECTORY_MODE)
    content = json.dumps({k: v for k, v in asdict(stored).items() if v is not None}, indent=2) + "\n"
    # mkstemp makes the file with O_EXCL and mode 0600, under a name nobody can have prepared.
    descriptor, name = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=directory)
    staging = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def forget_login(path: Path) -> Stored:
    """Drop the credentials, keep the URL and the project."""
    stored = load(path).with_tokens(None)
    if path.exists():
        save(path, stored)
    return stored
