"""Echo: an in-memory cloud with a fixed catalogue, as a third-party Clanavi adapter plugin.

It does what it declares and nothing else: flavors, images and instances (launched idempotently by client token,
running at once, terminated for good). Its state lives in the process, one cloud per account id. It takes no
settings (`AdapterBase`'s `config_model` refuses any), so `AdapterBase.connect` validates them and calls `open`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from adapters.base import (
    AdapterBase,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    LaunchSpec,
    Page,
)

FLAVORS = (
    Flavor(id="echo.small", name="Echo small", vcpus=1, ram_mb=512, disk_gb=1),
    Flavor(id="echo.large", name="Echo large", vcpus=4, ram_mb=8192, disk_gb=20),
)
IMAGES = (Image(id="echo-linux", name="Echo Linux", os="linux", min_disk_gb=1),)


class _Cloud:
    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.by_token: dict[str, str] = {}


# account id -> its cloud: reconnecting an account in the same process finds its instances again
_CLOUDS: dict[str, _Cloud] = {}


class EchoAdapter(AdapterBase):
    driver: ClassVar[str] = "echo"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.FLAVORS, Feature.IMAGES, Feature.INSTANCES, Feature.IDEMPOTENT_LAUNCH}
    )

    def __init__(self, account_id: str) -> None:
        self._cloud = _CLOUDS.setdefault(account_id, _Cloud())
        self._account_id = account_id

    @classmethod
    async def open(cls, account_id: str, config: Any) -> Self:
        return cls(account_id)

    async def list_flavors(self) -> Sequence[Flavor]:
        return FLAVORS

    async def get_flavor(self, flavor_id: str) -> Flavor:
        for flavor in FLAVORS:
            if flavor.id == flavor_id:
                return flavor
        raise CloudNotFound(f"flavor {flavor_id}")

    async def list_images(self) -> Sequence[Image]:
        return IMAGES

    async def get_image(self, image_id: str) -> Image:
        for image in IMAGES:
            if image.id == image_id:
                return image
        raise CloudNotFound(f"image {image_id}")

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        ids = sorted(self._cloud.instances)
        start = ids.index(cursor) if cursor in ids else 0
        chunk = ids[start : start + limit]
        next_cursor = ids[start + limit] if start + limit < len(ids) else None
        return Page(items=[self._cloud.instances[i] for i in chunk], next_cursor=next_cursor)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        return [self._cloud.instances[i] for i in instance_ids if i in self._cloud.instances]

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        known = self._cloud.by_token.get(spec.client_token)
        if known is not None:
            return self._cloud.instances[known]
        if spec.flavor_id not in {f.id for f in FLAVORS}:
            raise InvalidCloudRequest(f"no flavor {spec.flavor_id}")
        if spec.image_id not in {i.id for i in IMAGES}:
            raise InvalidCloudRequest(f"no image {spec.image_id}")
        number = len(self._cloud.instances) + 1
        instance = Instance(
            id=f"echo-{self._account_id}-{number}",
            name=spec.name,
            state=InstanceState.RUNNING,
            image_id=spec.image_id,
            flavor_id=spec.flavor_id,
            created_at=datetime.now(UTC),
            private_ips=(f"10.99.0.{number % 250 + 1}",),
            tags=dict(spec.tags),
        )
        self._cloud.instances[instance.id] = instance
        self._cloud.by_token[spec.client_token] = instance.id
        return instance

    async def terminate_instance(self, instance_id: str) -> Instance:
        found = self._cloud.instances.get(instance_id)
        if found is None:
            raise CloudNotFound(f"instance {instance_id}")
        gone = replace(found, state=InstanceState.TERMINATED)
        self._cloud.instances[instance_id] = gone
        return gone


__all__ = ["EchoAdapter"]
