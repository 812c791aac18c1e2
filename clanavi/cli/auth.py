"""`clanavi login`, `logout` and `whoami`: the credentials the other commands call the API with.

A password login keeps the access and refresh tokens (renewed as they run out); an API key is kept as it is. Both are
typed at a prompt that does not echo them, or read from stdin's first line with `--stdin`; never given as an
argument, which other users could read in the process list and which shells keep in their history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from clanavi.cli.config import Stored, forget_login, load, save
from clanavi.cli.exits import Refused
from clanavi.cli.invocation import Invocation, command
from clanavi.cli.session import reaching, settings_of
from clanavi.client import Tokens, Unauthorized
from clanavi.client.models import MeOut

__all__ = ["DEFAULT_URL", "group"]

# Where `make run` serves the API.
DEFAULT_URL = "http://127.0.0.1:8080"

group = typer.Typer()


def _ignore(tokens: Tokens | None) -> None:
    return None


@command(group, "login", prints=False)
def login(
    cli: Invocation,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help=f"The API's URL (default: CLANAVI_URL, else the one logged in to last, else {DEFAULT_URL}).",
        ),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", "-u", help="Your email (asked for when not given).")] = None,
    api_key: Annotated[bool, typer.Option("--api-key", help="Log in with an API key instead of a password.")] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password (or the API key) from stdin's first line.")
    ] = False,
) -> None:
    """Log in, and keep the credentials in the config file (readable by you only) for the other commands.
    --project chooses the project they act in."""
    settings = settings_of(cli.runtime)
    stored = settings.stored
    target = url or cli.runtime.environ.get("CLANAVI_URL") or stored.url or DEFAULT_URL
    project = cli.project if cli.project is not None else (stored.project if target == stored.url else None)
    if api_key:
        secret = cli.secret("API key", from_stdin=stdin)
        with (
            reaching(target),
            cli.runtime.client(target, tokens=Tokens(secret), project=project, on_tokens=_ignore) as client,
        ):
            me = client.me()
        kept = Stored(url=target, project=project, login="api_key", access_token=secret)
    else:
        if email is None:
            if stdin or not cli.runtime.stdin.isatty():
                raise Refused("give your email with --email")
            email = typer.prompt("Email")
        password = cli.secret("Password", from_stdin=stdin)
        with reaching(target), cli.runtime.client(target, tokens=None, project=project, on_tokens=_ignore) as client:
            client.login(email, password)
            me = client.me()
            kept = Stored(url=target, project=project, login="password", email=email).with_tokens(client.tokens)
    save(cli.runtime.config_file, kept)
    cli.display.note(f"logged in to {target} as {_who(me)}" + (f" in project {me.project_id}" if me.project_id else ""))


@command(group, "logout", prints=False)
def logout(cli: Invocation) -> None:
    """End the login (its tokens stop working everywhere) and forget the credentials kept."""
    stored = load(cli.runtime.config_file)
    unreached: Refused | None = None
    if stored.login == "password" and stored.url is not None and stored.tokens is not None:
        try:
            with (
                reaching(stored.url),
                cli.runtime.client(stored.url, tokens=stored.tokens, project=None, on_tokens=_ignore) as client,
            ):
                client.logout()
        except Unauthorized:
            pass  # the login had ended already
        except Refused as exc:
            unreached = exc
    # The credentials are forgotten here even when the API could not be told.
    forget_login(cli.runtime.config_file)
    if unreached is not None:
        raise unreached
    cli.display.note(f"logged out of {stored.url}" if stored.login else "not logged in")
    if cli.runtime.environ.get("CLANAVI_TOKEN"):
        cli.display.note("CLANAVI_TOKEN is still set: the other commands use it")


def _who(me: MeOut) -> str:
    if me.user is not None:
        return me.user.email
    if me.api_key is not None:
        return f"API key {me.api_key.name}" + (f" ({me.api_key.prefix}...)" if me.api_key.prefix else "")
    return me.principal


@command(group, "whoami")
def whoami(cli: Invocation) -> None:
    """Who the commands call the API as, where, and in which project with which role."""
    settings = settings_of(cli.runtime, cli.project)
    with cli.client() as client:
        me = client.me()
    table = cli.display.format in ("table", "value")
    summary: dict[str, Any] = {
        "url": settings.url,
        "credentials": settings.credentials_from,
        "who": _who(me),
        "kind": me.kind,
        "admin": me.admin,
        "project_id": me.project_id,
        "role": me.role.value if me.role else None,
        "projects": [f"{p.id} ({p.role.value})" if table else p.model_dump(mode="json") for p in me.projects],
    }
    cli.display.summary(summary)
