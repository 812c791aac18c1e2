"""Whose address a request comes from, through the gateway process as `python -m services serve gateway` starts it:
the peer, unless the peer is one of CLANAVI_GATEWAY_TRUSTED_PROXIES, and then what it says in `X-Forwarded-For`. A
forged header sent from anywhere else (loopback included, whatever FORWARDED_ALLOW_IPS says) must not buy a fresh
per-address login budget."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import Servers
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

ATTEMPTS = 8
# One login per address, refilled after about 17 minutes: far longer than a test, so a spent budget stays spent.
LOGIN_LIMIT = {"CLANAVI_GATEWAY_LOGIN_RATE_PER_IP": "0.001", "CLANAVI_GATEWAY_LOGIN_RATE_BURST": "1"}
WRONG_LOGIN = {"grant_type": "password", "username": "nobody@example.com", "password": "not-the-password"}


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    root = Path(tempfile.mkdtemp(prefix="clanavi-e2e-", dir=servers.root))
    platform = Platform(root, servers.database_url(name), servers.rabbit.url)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        servers.postgres.drop_database(name)


def restart_gateway(platform: Platform, **env: str | None) -> None:
    """Restart the gateway with these variables set (None: unset); its in-memory rate limits start afresh."""
    gateway = platform.processes["gateway"]
    gateway.stop()
    # A copy: the platform's processes share one environment, and only the gateway changes.
    gateway.env = {**gateway.env, **LOGIN_LIMIT, **{k: v for k, v in env.items() if v is not None}}
    for name in [k for k, v in env.items() if v is None]:
        gateway.env.pop(name, None)
    platform.start("gateway")


def random_addresses(count: int) -> list[str]:
    """Distinct random public-looking IPv4 addresses, none of them loopback."""
    found: set[str] = set()
    while len(found) < count:
        address = ipaddress.IPv4Address(secrets.token_bytes(4))
        if address.is_global:
            found.add(str(address))
    return sorted(found)


async def wrong_logins(platform: Platform, forwarded: Sequence[str | None]) -> list[int]:
    """The statuses of wrong logins sent all at once from 127.0.0.1, one per entry: with that `X-Forwarded-For`, or
    none for None."""
    async with platform.client(token=None) as client:

        async def login(address: str | None) -> int:
            headers = {"X-Forwarded-For": address} if address else {}
            answer = await client.post("/v1/auth/token", data=WRONG_LOGIN, headers=headers)
            assert answer.status_code in (401, 429), answer.text
            if answer.status_code == 429:
                assert answer.json()["code"] == "rate_limited"
                assert int(answer.headers["retry-after"]) >= 1
            return answer.status_code

        return list(await asyncio.gather(*(login(address) for address in forwarded)))


@pytest.mark.parametrize("uvicorn_forwarded_allow_ips", [None, "*"], ids=["uvicorn-default", "allow-all"])
async def test_forged_forwarded_for_does_not_escape_the_login_limit(
    platform: Platform, uvicorn_forwarded_allow_ips: str | None
) -> None:
    """No trusted proxy: every login from 127.0.0.1 draws on 127.0.0.1's budget, whatever address it claims to
    forward, even with uvicorn's FORWARDED_ALLOW_IPS set to trust everyone."""
    restart_gateway(platform, CLANAVI_GATEWAY_TRUSTED_PROXIES="", FORWARDED_ALLOW_IPS=uvicorn_forwarded_allow_ips)

    statuses = await wrong_logins(platform, random_addresses(ATTEMPTS))

    assert sorted(statuses) == [401] + [429] * (ATTEMPTS - 1)
    # The budget spent is the peer's own: without the header it is spent too.
    assert await wrong_logins(platform, [None]) == [429]


async def test_a_trusted_proxy_forwards_each_client_address(platform: Platform) -> None:
    """127.0.0.1 as a trusted proxy: each forwarded address has its own budget, and the proxy's own is apart."""
    restart_gateway(platform, CLANAVI_GATEWAY_TRUSTED_PROXIES="127.0.0.1", FORWARDED_ALLOW_IPS=None)
    addresses = random_addresses(ATTEMPTS)

    assert await wrong_logins(platform, addresses) == [401] * ATTEMPTS
    # The same clients again, through the same proxy: their budgets are spent; a new client's and the proxy's are not.
    assert await wrong_logins(platform, [addresses[0], addresses[-1]]) == [429, 429]
    assert await wrong_logins(platform, [*random_addresses(1), None]) == [401, 401]
