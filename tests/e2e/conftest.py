from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from devstack import MotoServer, SshServer, free_port
from tests.conftest import Servers
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e


def _platform(
    servers: Servers,
    gateway_env: Mapping[str, str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **timings: str,
) -> Iterator[Platform]:
    """A platform on a database of its own; `env` goes to every service, `gateway_env` to the gateway only."""
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    root = Path(tempfile.mkdtemp(prefix="clanavi-e2e-", dir=servers.root))
    platform = Platform(root, servers.database_url(name), servers.rabbit.url, sim_timings=timings)
    for process in platform.processes.values():
        process.env.update(env or {})
    platform.processes["gateway"].env.update(gateway_env or {})
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        servers.postgres.drop_database(name)


def _quick_platform(servers: Servers, env: Mapping[str, str] | None = None) -> Iterator[Platform]:
    """A platform whose built-in `sim` cloud boots in 0.3 s and stops, starts, reboots and terminates in 0.2 s."""
    yield from _platform(servers, env=env, boot="0.3", stop="0.2", start="0.2", reboot="0.2", terminate="0.2")


@pytest.fixture(scope="session")
def shared_platform(servers: Servers) -> Iterator[Platform]:
    """The platform of every module that asks for `platform` and does not set `OWN_PLATFORM`: started once for the
    session, so its tests make what they use under names and in projects of their own and look only at that."""
    yield from _quick_platform(servers)


@pytest.fixture(scope="module")
def platform(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Platform]:
    """The session's shared platform; a module with `OWN_PLATFORM = True` (one whose tests judge a project's every
    instance, event or policy, or leave work running behind them) gets one of its own, on a new database."""
    if getattr(request.module, "OWN_PLATFORM", False):
        yield from _quick_platform(servers)
    else:
        yield request.getfixturevalue("shared_platform")


@pytest.fixture(scope="session")
def ssh_platform(servers: Servers, sshd: SshServer) -> Iterator[Platform]:
    """A platform whose built-in `sim` cloud (the default project's) has guests that answer SSH: the session's
    OpenSSH server, set as an operator sets it. Shared by the modules that use it, as `shared_platform` is."""
    sim = {"CLANAVI_PROVISIONER_SIM_OPTIONS": json.dumps({"guest_ssh": sshd.guest_ssh()})}
    yield from _quick_platform(servers, sim)


@pytest.fixture
def rate_limited_platform(servers: Servers) -> Iterator[Platform]:
    """A platform whose gateway allows one call per caller (and one login per address), then answers 429."""
    limits = {
        "CLANAVI_GATEWAY_RATE_LIMIT_PER_KEY": "0.001",
        "CLANAVI_GATEWAY_RATE_LIMIT_BURST": "1",
        "CLANAVI_GATEWAY_LOGIN_RATE_PER_IP": "0.001",
        "CLANAVI_GATEWAY_LOGIN_RATE_BURST": "1",
    }
    yield from _platform(servers, gateway_env=limits)


@pytest.fixture
def own_platform(servers: Servers) -> Iterator[Platform]:
    """A platform for one test that kills or restarts parts of it."""
    yield from _platform(servers, boot="1.0", stop="0.2", start="0.2", reboot="0.2", terminate="0.2")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """A moto EC2 server for the modules that configure an `ec2` account."""
    server = MotoServer(free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
