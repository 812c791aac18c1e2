"""OpenStack under the conformance suite: the openstacksdk adapter against the in-process OpenStack stand-in.

One stand-in (an HTTP server on a free local port) serves the whole session, started on first use and stopped when
the session ends; each case gets a reset cloud and a fresh adapter (which authenticates against Keystone anew). The
OpenStack integration tests share the same stand-in through `standin_for`.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openstack.warnings
import pytest

from adapters.openstack import OpenStackAdapter, OpenStackConfig
from tests.contract.cloud import ContractCloud
from tests.standins.openstack import OpenStackStandIn
from tests.standins.openstack.server import REGION, ZONE

ADAPTER_CLASS = OpenStackAdapter

FLAVOR = "1"  # m1.tiny

_STANDIN = pytest.StashKey[OpenStackStandIn]()

# openstacksdk 4.22 warns from its own code paths, whatever the caller does: its Resource constructor calls its own
# deprecated `_compute_attributes` on every resource, and its request statistics pass the deprecated `service_type`
# on every failed request. Exactly those warnings are ignored, in OpenStack cases only.
SDK_WARNING_MESSAGES = (
    "The _compute_attributes method is deprecated for removal",
    "The 'service_type' parameter is unnecesary and will be removed",
)
SDK_WARNING_FILTERS = tuple(f"ignore:{m}:openstack.warnings.RemovedInSDK50Warning" for m in SDK_WARNING_MESSAGES)


def quiet_sdk(request: pytest.FixtureRequest) -> None:
    """Ignore the SDK's own deprecation warnings for the rest of this case: this phase now, later phases by marker."""
    for line in SDK_WARNING_FILTERS:
        request.node.add_marker(pytest.mark.filterwarnings(line))
    for message in SDK_WARNING_MESSAGES:
        warnings.filterwarnings("ignore", message=re.escape(message), category=openstack.warnings.RemovedInSDK50Warning)


def standin_for(config: pytest.Config) -> OpenStackStandIn:
    """The session's stand-in: started on first use, stopped at the end of the session (pass or fail)."""
    standin = config.stash.get(_STANDIN, None)
    if standin is None:
        standin = OpenStackStandIn(transition_seconds=0.2)
        config.add_cleanup(standin.stop)
        standin.start()
        config.stash[_STANDIN] = standin
    return standin


def adapter_config(standin: OpenStackStandIn, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "auth_url": standin.auth_url,
        "username": standin.username,
        "password": standin.password,
        "project_name": standin.project_name,
        "region_name": REGION,
        "timeout_seconds": 10,
    }
    config.update(overrides)
    return config


async def open_adapter(standin: OpenStackStandIn, **overrides: Any) -> OpenStackAdapter:
    return await OpenStackAdapter.open("contract", OpenStackConfig.model_validate(adapter_config(standin, **overrides)))


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    quiet_sdk(request)
    standin = standin_for(request.config)
    await asyncio.to_thread(standin.reset)
    adapter = await open_adapter(standin)
    try:
        yield ContractCloud(adapter=adapter, image_id=standin.image_id, flavor_id=FLAVOR, settle_seconds=5.0, zone=ZONE)
    finally:
        await adapter.close()


__all__ = [
    "ADAPTER_CLASS",
    "FLAVOR",
    "SDK_WARNING_FILTERS",
    "quiet_sdk",
    "adapter_config",
    "open_adapter",
    "open_cloud",
    "standin_for",
]
