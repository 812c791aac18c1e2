"""Plain helpers shared by the SimCloud integration tests: the clock the test moves, the adapter factory's type, and a
launch spec with defaults. The pytest fixtures built on them are in this directory's conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.base import InstanceState, LaunchSpec
from adapters.simcloud import SimCloudAdapter


class SimClock:
    """The simulation's clock, moved by the test: a transition completes exactly when the test says."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


Make = Callable[..., SimCloudAdapter]


def spec(**changes: Any) -> LaunchSpec:
    values: dict[str, Any] = {
        "name": "web",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "client_token": uuid.uuid4().hex,
    }
    return LaunchSpec(**(values | changes))


async def running(cloud: SimCloudAdapter, clock: SimClock, **changes: Any) -> str:
    instance = await cloud.launch_instance(spec(**changes))
    clock.advance(cloud.config.boot_seconds)
    [seen] = await cloud.get_instances([instance.id])
    assert seen.state == InstanceState.RUNNING
    return instance.id
