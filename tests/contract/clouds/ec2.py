"""EC2 under the conformance suite: the adapter against one local moto server for the whole test session.

The server starts on first use and stops when the session ends, whatever the outcome (`config.add_cleanup`); each
case gets a reset server (moto keeps every account's state in its one process) and a fresh adapter. The EC2
integration tests share the same server through `moto_server_for`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.base import LaunchSpec
from adapters.ec2 import Ec2Adapter, Ec2Config
from devstack.moto import MotoServer
from devstack.ports import free_port
from tests.contract.cloud import ContractCloud

ADAPTER_CLASS = Ec2Adapter

REGION = "us-east-1"
ZONE = "us-east-1a"
FLAVOR = "t3.micro"
# moto ships a catalogue of real (old) public AMIs; the suite launches from the newest Amazon Linux 2 among them.
IMAGE_NAME = "amzn2-ami-hvm-*-x86_64-gp2"

_SERVER = pytest.StashKey[MotoServer]()
_IMAGE = pytest.StashKey[str]()


def moto_server_for(config: pytest.Config) -> MotoServer:
    """The session's moto server: started on first use, stopped at the end of the session (pass or fail)."""
    server = config.stash.get(_SERVER, None)
    if server is None:
        server = MotoServer(free_port())
        config.add_cleanup(server.stop)  # before start: a server that fails half-way is stopped too
        server.start()
        config.stash[_SERVER] = server
    return server


def adapter_config(server: MotoServer, **overrides: Any) -> dict[str, Any]:
    """An EC2 account on the moto server, with quick retries (moto never throttles; tests provoke it)."""
    config: dict[str, Any] = {
        "region": REGION,
        "endpoint_url": server.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        # moto 5 ignores RunInstances' ClientToken; the adapter finds the earlier launch by its tag instead.
        "client_token_lookup": True,
        "throttle": {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05},
    }
    config.update(overrides)
    return config


async def open_adapter(server: MotoServer, **overrides: Any) -> Ec2Adapter:
    return await Ec2Adapter.open("contract", Ec2Config.model_validate(adapter_config(server, **overrides)))


async def moto_image(config: pytest.Config, server: MotoServer) -> str:
    """The id of the newest x86_64 Amazon Linux 2 AMI that moto describes (found once per session)."""
    image_id = config.stash.get(_IMAGE, None)
    if image_id is None:
        adapter = await open_adapter(server)
        try:
            found = await adapter.ex_search_images(IMAGE_NAME, owners=("amazon",))
        finally:
            await adapter.close()
        assert found, f"moto describes no image named {IMAGE_NAME}"
        image_id = config.stash[_IMAGE] = found[0].id
    return image_id


async def fresh_adapter(config: pytest.Config, **overrides: Any) -> Ec2Adapter:
    """An adapter on a freshly reset moto server (for the EC2 integration tests), listing moto's test image."""
    server = await asyncio.to_thread(moto_server_for, config)
    await asyncio.to_thread(server.reset)
    image_id = await moto_image(config, server)
    return await open_adapter(server, **{"image_ids": (image_id,), **overrides})


def launch_spec(adapter: Ec2Adapter, **fields: Any) -> LaunchSpec:
    """A plain launch of the adapter's first configured image on the test flavor, with a fresh token."""
    values: dict[str, Any] = {
        "name": f"vm-{uuid.uuid4().hex[:8]}",
        "image_id": adapter.config.image_ids[0],
        "flavor_id": FLAVOR,
        "client_token": uuid.uuid4().hex,
    }
    values.update(fields)
    return LaunchSpec(**values)


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    server = await asyncio.to_thread(moto_server_for, request.config)
    await asyncio.to_thread(server.reset)
    image_id = await moto_image(request.config, server)
    adapter = await open_adapter(server, image_ids=(image_id,))
    try:
        yield ContractCloud(adapter=adapter, image_id=image_id, flavor_id=FLAVOR, settle_seconds=10.0, zone=ZONE)
    finally:
        await adapter.close()
