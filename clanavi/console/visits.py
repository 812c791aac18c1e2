"""A request of a logged-in user: its session, a `clanavi.client.AsyncClient` that calls the gateway's own REST API
with the user's token (over ASGI, in process: authentication, the permission checks, rate limits, idempotency and
the audit apply exactly as to any other caller), and the page it answers."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jinja2
from fastapi import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from clanavi.client import AsyncClient, RetryPolicy, Tokens
from clanavi.client.models import MeOut, Role
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.session import ConsoleSession, Renewals, SessionCookies
from kernel import correlation

__all__ = ["Console", "Form", "Refused", "SignInNeeded", "Visit", "api_client", "checked_form", "visit"]

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# Each page asks the API once; a refusal is shown at once rather than retried while the user waits.
_ONE_TRY = RetryPolicy(attempts=1)


class SignInNeeded(Exception):
    """No session, or the API no longer accepts its tokens: the user logs in again."""


class Refused(Exception):
    """A state-changing request that does not come from the console's own page (no or another Origin, no or a wrong
    CSRF token)."""


@dataclass
class Console:
    """What every console request shares: the templates, the session cookies and the renewals."""

    templates: Jinja2Templates
    cookies: SessionCookies
    renewals: Renewals

    @classmethod
    def create(cls, cookies: SessionCookies) -> Console:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        return cls(Jinja2Templates(env=environment), cookies, Renewals())


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def api_client(request: Request, tokens: Tokens | None, project: str | None) -> AsyncClient:
    """A client of this gateway's REST API, as called by the browser's own address."""
    peer = request.client
    transport = httpx.ASGITransport(app=request.app, client=(peer.host, peer.port) if peer else ("127.0.0.1", 0))
    return AsyncClient(
        str(request.base_url),
        tokens=tokens,
        project=project,
        transport=transport,
        retry=_ONE_TRY,
        correlation_id=correlation.current.get(),
    )


@dataclass
class Visit:
    request: Request
    console: Console
    session: ConsoleSession
    api: AsyncClient
    changed: bool = False
    _me: MeOut | None = field(default=None, repr=False)

    async def me(self) -> MeOut:
        if self._me is None:
            self._me = await self.api.me()
        return self._me

    async def may_operate(self) -> bool:
        me = await self.me()
        return me.admin or me.role in (Role.OWNER, Role.OPERATOR)

    async def may_manage(self) -> bool:
        me = await self.me()
        return me.admin or me.role is Role.OWNER

    def keep(self, response: Response) -> Response:
        """`response`, with the session cookie rewritten when the session changed (renewed tokens, another project)."""
        if self.changed:
            self.console.cookies.write(response, self.request, self.session)
        return response

    async def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """A whole page: the layout (navigation, project switcher, the user's role) around `template`."""
        me = await self.me()
        return self.fragment(template, status, me=me, operate=await self.may_operate(), **context)

    def fragment(self, template: str, status: int = 200, **context: Any) -> Response:
        """Part of a page (an htmx swap): `template` alone."""
        context.setdefault("operate", False)
        context.setdefault("problem", None)
        answer = self.console.templates.TemplateResponse(
            self.request, template, {"csrf": self.session.csrf, "prefix": CONSOLE_PREFIX, **context}, status_code=status
        )
        return self.keep(answer)

    def redirect(self, url: str) -> Response:
        """After a change: back to a page (Post/Redirect/Get), or the htmx equivalent."""
        if self.request.headers.get("hx-request"):
            return self.keep(Response(status_code=204, headers={"HX-Redirect": url}))
        return self.keep(RedirectResponse(url, status_code=303))


async def _renewed(request: Request, console: Console, session: ConsoleSession) -> ConsoleSession:
    async def trade() -> Tokens:
        async with api_client(request, session.tokens, session.project) as api:
            await api.refresh(console.cookies.renewal_key(session.refresh_token))
            assert api.tokens is not None
            return api.tokens

    return session.renewed(await console.renewals.renew(session.refresh_token, trade))


async def visit(request: Request) -> AsyncIterator[Visit]:
    """The dependency of every page behind the login."""
    console = console_of(request)
    session = console.cookies.read(request)
    if session is None:
        raise SignInNeeded
    renewed = session.due(time.time())
    if renewed:
        session = await _renewed(request, console, session)
    # The access token alone: renewing is this module's job (one renewal per login, whatever the client meets).
    async with api_client(request, Tokens(session.access_token), session.project) as api:
        yield Visit(request, console, session, api, renewed)


@dataclass(frozen=True)
class Form:
    """A submitted form's fields (`application/x-www-form-urlencoded`)."""

    fields: Mapping[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def optional(self, name: str) -> str | None:
        return self.get(name).strip() or None

    def getlist(self, name: str) -> list[str]:
        return [v for v in self.fields.get(name, []) if v]

    def values(self) -> dict[str, str]:
        """Every field but the CSRF token, to show the form again as it was sent."""
        return {k: v[0] for k, v in self.fields.items() if v and k != CSRF_FIELD}


def same_origin(request: Request) -> bool:
    """Whether the request says it comes from a page of this host. Browsers send `Origin` with every POST; a
    request without one is not from the console's pages."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.headers.get("host")


async def read_form(request: Request) -> Form:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused
    body = await request.body()
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        raise Refused from None
    return Form(fields)


def token_matches(expected: str, form: Form, request: Request) -> bool:
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


async def checked_form(request: Request, session: ConsoleSession) -> Form:
    """The form of a state-changing request, once it is shown to come from the console: same origin, and the
    session's CSRF token in the form or the `X-CSRF-Token` header."""
    if not same_origin(request):
        raise Refused
    form = await read_form(request)
    if not token_matches(session.csrf, form, request):
        raise Refused
    return form
