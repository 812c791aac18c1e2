"""The web console's users for the console's tests: members of project `default` (where the built-in SimCloud
account is) with each role, and a browser-like httpx client that logs in through the console's own form."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from tests.e2e.platform import Platform
from tests.e2e.tenants import PASSWORD, user_in

CONSOLE = "/console"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Member:
    email: str
    role: str


async def add_members(platform: Platform, tag: str) -> dict[str, Member]:
    """An owner, an operator and a viewer of project `default`, with the password `PASSWORD`."""
    members = {role: Member(f"{role}-{tag}@example.com", role) for role in ("owner", "operator", "viewer")}
    async with platform.client() as admin:
        for member in members.values():
            await user_in(admin, member.email, "default", member.role)
    return members


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF field in the page"
    return html.unescape(found.group(1))


def browser(platform: Platform, host: str | None = None) -> httpx.AsyncClient:
    """A client that keeps cookies and sends the Origin a browser sends (of `host`, default the gateway's)."""
    origin = f"http://{host}" if host else platform.gateway_url
    headers = {"Origin": origin, **({"Host": host} if host else {})}
    return httpx.AsyncClient(base_url=platform.gateway_url, headers=headers, timeout=30)


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get(f"{CONSOLE}/login")
    assert form.status_code == 200, form.text
    return await client.post(
        f"{CONSOLE}/login", data={"csrf": csrf_of(form.text), "username": email, "password": password}
    )


@asynccontextmanager
async def logged_in(platform: Platform, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(platform) as client:
        answer = await log_in(client, email)
        assert answer.status_code == 303 and answer.headers["location"] == f"{CONSOLE}/instances", answer.text
        yield client
