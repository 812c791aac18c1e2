"""Who the command line calls the API as, and where: the client made from the config file and the environment.

`CLANAVI_URL`, `CLANAVI_TOKEN` and `CLANAVI_PROJECT` override what `clanavi login` stored (and `--project` overrides
them all). Stored credentials are sent only to the URL they were stored for. The tokens of a password login are
renewed before a command when they run out soon (one command at a time), and by the client when they run out during
one; each new pair is written back at once, since a refresh token works once."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from clanavi.cli.config import DIRECTORY_MODE, FILE_MODE, Stored, config_file, load, save
from clanavi.cli.exits import Exit, Refused
from clanavi.client import Client, ConfigurationError, ConnectionFailed, Tokens

__all__ = ["AHEAD", "Runtime", "Settings", "connect", "fresh", "keeper", "reaching", "settings_of"]

# A stored login is renewed before a command when its access token runs out within this many seconds: more than the
# client's own margin, so that the client does not renew it again during a command.
AHEAD = 60.0


@dataclass(frozen=True)
class Runtime:
    """What one run of the command line works with: its environment and stdin, and the network under the client
    (`transport`, with the `sleep` and `clock` its waits use: tests give a fake network and clock)."""

    environ: Mapping[str, str]
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], object] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @property
    def config_file(self) -> Path:
        return config_file(self.environ)

    def client(
        self, url: str, *, tokens: Tokens | None, project: str | None, on_tokens: Callable[[Tokens | None], object]
    ) -> Client:
        return Client(
            url,
            tokens=tokens,
            project=project,
            on_tokens=on_tokens,
            transport=self.transport,
            sleep=self.sleep,
            clock=self.clock,
        )


@dataclass(frozen=True)
class Settings:
    """Where the calls go, with what credentials, in which project, and where those come from."""

    url: str | None
    tokens: Tokens | None
    project: str | None
    # "environment" (CLANAVI_TOKEN), "config" (a login), or None.
    credentials_from: str | None
    stored: Stored


def settings_of(runtime: Runtime, project: str | None = None) -> Settings:
    env = runtime.environ
    stored = load(runtime.config_file)
    url = env.get("CLANAVI_URL") or stored.url
    # Credentials stored for another API are never sent to this one.
    mine = stored.tokens if stored.url is not None and url == stored.url else None
    token = env.get("CLANAVI_TOKEN")
    tokens, source = (Tokens(token), "environment") if token else (mine, "config" if mine else None)
    chosen = project or env.get("CLANAVI_PROJECT") or stored.project
    return Settings(url, tokens, chosen, source, stored)


def keeper(path: Path) -> Callable[[Tokens | None], None]:
    """What hears of the client's new tokens: writes them to the config file as they come."""

    def keep(tokens: Tokens | None) -> None:
        save(path, load(path).with_tokens(tokens))

    return keep


def _due(tokens: Tokens) -> bool:
    return (
        tokens.refresh_token is not None and tokens.expires_at is not None and time.time() >= tokens.expires_at - AHEAD
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The config file's lock, held by one command at a time (blocking until the others let go)."""
    path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def fresh(runtime: Runtime, url: str, tokens: Tokens) -> Tokens:
    """The stored login's tokens, renewed first when they run out soon. Commands run at once share the file, and a
    refresh token used twice ends the whole login: so one command renews at a time, under the file's lock, and a
    command that finds them renewed meanwhile by another takes the new ones."""
    if not _due(tokens):
        return tokens
    path = runtime.config_file
    with _locked(path):
        current = load(path).tokens
        if current is None or current.refresh_token is None:
            return tokens
        if current.refresh_token != tokens.refresh_token and not _due(current):
            return current
        with runtime.client(url, tokens=current, project=None, on_tokens=keeper(path)) as client:
            client.refresh()
            renewed = client.tokens
    return renewed if renewed is not None else tokens


def connect(runtime: Runtime, project: str | None = None) -> Client:
    """A client of the API the settings name, logged in as they say."""
    settings = settings_of(runtime, project)
    if settings.url is None:
        raise ConfigurationError("no API to call: log in with `clanavi login --url URL`, or set CLANAVI_URL")
    if settings.tokens is None:
        raise ConfigurationError(f"not logged in to {settings.url}: run `clanavi login`, or set CLANAVI_TOKEN")
    if settings.credentials_from != "config":
        # A token from the environment is never written down.
        return runtime.client(settings.url, tokens=settings.tokens, project=settings.project, on_tokens=_ignore)
    with reaching(settings.url):
        tokens = fresh(runtime, settings.url, settings.tokens)
    # Tokens the client renews itself (a command that runs long, a token ended early) go back to the file too.
    keep = keeper(runtime.config_file)
    return runtime.client(settings.url, tokens=tokens, project=settings.project, on_tokens=keep)


def _ignore(tokens: Tokens | None) -> None:
    return None


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """Say which API did not answer (the client's error names the request's path only)."""
    try:
        yield
    except ConnectionFailed as exc:
        raise Refused(f"no answer from {url} ({exc.method} {exc.url}): {exc.words}", Exit.API_ERROR) from None
