"""XCP / XenServer under the conformance suite: the adapter, through the real XenAPI client, against the local XAPI
stand-in (tests/standins/xapi), one per pytest session.

The stand-in starts on first use and stops when the session ends, whatever the outcome (`config.add_cleanup`). Each
case gets an adapter of its own account (the adapter keeps its account in every VM's and VDI's other_config, so
cases do not see one another's instances) and logs out when the case ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import adapters.xcp
from adapters.registry import AdapterContext
from adapters.xcp import XcpAdapter
from tests.contract.cloud import ContractCloud
from tests.standins.xapi import XapiStandIn

ADAPTER_CLASS = XcpAdapter

USERNAME = "root"
PASSWORD = "standin-password"
TEMPLATE = "Debian Bookworm 12"
FLAVOR = "xcp.tiny"
FLAVORS = [
    {"id": FLAVOR, "name": "tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 8},
    {"id": "xcp.small", "name": "small", "vcpus": 2, "ram_mb": 2048, "disk_gb": 20},
]

_STANDIN = pytest.StashKey[XapiStandIn]()


def standin_for(config: pytest.Config) -> XapiStandIn:
    """The session's XAPI stand-in: started on first use, stopped at the end of the session (pass or fail)."""
    found = config.stash.get(_STANDIN, None)
    if found is None:
        found = XapiStandIn(USERNAME, PASSWORD)
        config.add_cleanup(found.stop)  # before start: a half-started server is stopped too
        found.start()
        config.stash[_STANDIN] = found
    return found


def account_config(standin: XapiStandIn, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "url": standin.url,
        "username": USERNAME,
        "password": PASSWORD,
        "flavors": FLAVORS,
        "network": "Pool-wide network associated with eth0",
    }
    settings.update(overrides)
    return settings


async def connect(standin: XapiStandIn, account_id: str | None = None, **overrides: Any) -> XcpAdapter:
    return await adapters.xcp.XcpAdapter.connect(
        account_id or f"contract-{uuid.uuid4().hex[:8]}", account_config(standin, **overrides), AdapterContext(None)
    )


def template_uuid(standin: XapiStandIn, name: str = TEMPLATE) -> str:
    with standin.state.lock:
        found = [str(r["uuid"]) for r in standin.state.objects["VM"].values() if r["name_label"] == name]
    assert len(found) == 1, f"the stand-in has {len(found)} templates named {name}"
    return found[0]


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    standin = await asyncio.to_thread(standin_for, request.config)
    adapter = await connect(standin)
    try:
        yield ContractCloud(adapter=adapter, image_id=template_uuid(standin), flavor_id=FLAVOR, settle_seconds=5.0)
    finally:
        await adapter.close()


__all__ = ["ADAPTER_CLASS", "FLAVOR", "TEMPLATE", "account_config", "connect", "open_cloud", "standin_for"]
