"""What the command line's unit tests share: `Cli` runs `clanavi.cli.main` as the `clanavi` command runs it, with
its config directory in a temporary folder, its client over a fake network (tests/network.py) and on a clock only
its waits move; each run answers its exit status and what it printed."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from clanavi.cli import main
from clanavi.cli.session import Runtime
from clanavi.client.models import UserOut
from tests.client_kit import MOMENT, URL, Waits
from tests.network import Network, ok


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


class Terminal(io.StringIO):
    """Standard input (or output) that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Cli:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str], **environ: str) -> None:
        self.home, self.capsys = home, capsys
        self.environ = {"XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home), **environ}
        self.waits = Waits()

    @property
    def config_file(self) -> Path:
        return self.home / "config" / "clanavi" / "config.json"

    def store(self, **values: Any) -> None:
        """A config file as `clanavi login` leaves it."""
        self.config_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(values))
        self.config_file.chmod(0o600)

    def stored(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.config_file.read_text())
        return loaded

    def __call__(
        self,
        *args: str,
        network: Network | None = None,
        stdin: str | io.StringIO = "",
        env: Mapping[str, str] | None = None,
    ) -> Ran:
        self.capsys.readouterr()
        runtime = Runtime(
            {**self.environ, **(env or {})},
            stdin=stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin),
            transport=(network or Network()).transport(),
            sleep=self.waits.blocking,
            clock=self.waits.clock,
        )
        with pytest.raises(SystemExit) as ended:
            main(list(args), runtime)
        captured = self.capsys.readouterr()
        code = ended.value.code
        return Ran(code if isinstance(code, int) else 1, captured.out, captured.err)


def logged_in(cli: Cli, *, project: str | None = None) -> None:
    """A config file of an API key login to the fake network's API."""
    cli.store(url=URL, login="api_key", access_token="key-1", **({"project": project} if project else {}))


def password_login(cli: Cli, *, expires_in: float = 900, number: int = 1, **more: Any) -> None:
    """A config file of a password login to the fake network's API, its tokens numbered `number`, its access
    token running out in `expires_in` seconds."""
    cli.store(
        url=URL,
        login="password",
        access_token=f"access-{number}",
        refresh_token=f"refresh-{number}",
        expires_at=time.time() + expires_in,
        **more,
    )


def user() -> UserOut:
    """Ana, a user of the API who is no admin."""
    return UserOut(
        id="u-1",
        email="ana@example.com",
        name="Ana",
        admin=False,
        disabled=False,
        disabled_at=None,
        created_at=MOMENT,
        updated_at=MOMENT,
    )


def listing(items: Sequence[BaseModel]) -> Callable[[httpx.Request], httpx.Response]:
    """The API's answer to a list of `items`: pages of the size the request asks for (`limit`, default 50), whose
    cursor is the fake's own (an offset)."""

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor", "0"))
        end = start + int(request.url.params.get("limit", "50"))
        page = [item.model_dump(mode="json") for item in items[start:end]]
        return ok({"items": page, "next_cursor": str(end) if end < len(items) else None})

    return answer
