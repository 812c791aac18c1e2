"""SimCloud: a simulated cloud that behaves like a real one (instances take time to boot and stop, launches are
idempotent by client token, invalid transitions are refused), with its state in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import (
    AdapterBase,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    LaunchSpec,
    Page,
)
from adapters.registry import AdapterContext
from adapters.simcloud import machine
from adapters.simcloud.store import SimStore, phase_from_row

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class SimCloudConfig(BaseModel):
    """A SimCloud account's settings: how long each transition takes, in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    boot_seconds: float = Field(default=3.0, ge=0, le=3600)
    stop_seconds: float = Field(default=2.0, ge=0, le=3600)
    start_seconds: float = Field(default=2.0, ge=0, le=3600)
    reboot_seconds: float = Field(default=2.0, ge=0, le=3600)
    terminate_seconds: float = Field(default=1.0, ge=0, le=3600)

    def timings(self) -> machine.Timings:
        return machine.Timings(**self.model_dump())


class SimCloudAdapter(AdapterBase):
    driver: ClassVar[str] = "simcloud"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {
            Feature.FLAVORS,
            Feature.IMAGES,
            Feature.INSTANCES,
            Feature.IDEMPOTENT_LAUNCH,
            Feature.USER_DATA,
            Feature.INSTANCE_START_STOP,
            Feature.INSTANCE_REBOOT,
        }
    )

    def __init__(self, store: SimStore, config: SimCloudConfig, clock: Clock = utcnow) -> None:
        self._store = store
        self._timings = config.timings()
        self._clock = clock

    async def close(self) -> None:
        return None

    def _instance(self, row: Any) -> Instance:
        phase = machine.settle(phase_from_row(row), self._clock())
        return Instance(
            id=row["id"],
            name=row["name"],
            state=phase.state,
            image_id=row["image_id"],
            flavor_id=row["flavor_id"],
            created_at=row["created_at"],
            private_ips=(row["private_ip"],),
            reason=row["reason"],
            tags=dict(row["tags"] or {}),
        )

    async def list_images(self) -> Sequence[Image]:
        return await self._store.images()

    async def get_image(self, image_id: str) -> Image:
        image = await self._store.image(image_id)
        if image is None:
            raise CloudNotFound(f"image {image_id} does not exist")
        return image

    async def list_flavors(self) -> Sequence[Flavor]:
        return await self._store.flavors()

    async def get_flavor(self, flavor_id: str) -> Flavor:
        flavor = await self._store.flavor(flavor_id)
        if flavor is None:
            raise CloudNotFound(f"flavor {flavor_id} does not exist")
        return flavor

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        await self.get_image(spec.image_id)
        await self.get_flavor(spec.flavor_id)
        now = self._clock()
        row = await self._store.insert_instance(
            client_token=spec.client_token,
            name=spec.name,
            image_id=spec.image_id,
            flavor_id=spec.flavor_id,
            phase=machine.launched(now, self._timings),
            now=now,
            user_data=spec.user_data,
            tags=dict(spec.tags),
        )
        return self._instance(row)

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        rows = await self._store.instance_page(after=cursor, limit=limit + 1)
        items = [self._instance(r) for r in rows[:limit]]
        return Page(items, items[-1].id if len(rows) > limit else None)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        if not instance_ids:
            return []
        return [self._instance(r) for r in await self._store.instances(instance_ids)]

    async def _act(self, instance_id: str, action: machine.Action) -> Instance:
        async with self._store._pool.acquire() as conn, conn.transaction():
            row = await self._store.locked_instance(conn, instance_id)
            if row is None:
                raise CloudNotFound(f"instance {instance_id} does not exist")
            now = self._clock()
            phase = machine.apply(phase_from_row(row), action, now, self._timings)
            return self._instance(await self._store.save_phase(conn, instance_id, phase))

    async def start_instance(self, instance_id: str) -> Instance:
        return await self._act(instance_id, "start")

    async def stop_instance(self, instance_id: str) -> Instance:
        return await self._act(instance_id, "stop")

    async def reboot_instance(self, instance_id: str) -> Instance:
        return await self._act(instance_id, "reboot")

    async def terminate_instance(self, instance_id: str) -> Instance:
        return await self._act(instance_id, "terminate")


async def connect(account_id: str, config: Mapping[str, Any], context: AdapterContext) -> SimCloudAdapter:
    return SimCloudAdapter(SimStore(context.pool, account_id), SimCloudConfig.model_validate(dict(config)))


__all__ = ["InstanceState", "SimCloudAdapter", "SimCloudConfig", "connect"]
