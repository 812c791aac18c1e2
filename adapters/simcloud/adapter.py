"""SimCloud: a simulated cloud that behaves like a real one, with its state in PostgreSQL.

Everything in the contract is here: transitions take the account's configured time, launches are idempotent by
client token, invalid transitions are refused, quotas and an API rate limit apply, some launches fail, and
instances have a console and CPU/network/disk metrics driven by a load profile. This class only admits each call
through the account's rate limit and hands it, through `AdapterBase._call`, to the module that holds the concept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from adapters.base import (
    AdapterBase,
    AdapterContext,
    Address,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    KeyPair,
    LaunchSpec,
    MetricSample,
    Operation,
    Page,
    Quotas,
    Region,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    Throttled,
    Volume,
    VolumeSpec,
    Zone,
)
from adapters.simcloud import throttle
from adapters.simcloud.addresses import Addresses
from adapters.simcloud.catalogue import Catalogue
from adapters.simcloud.config import SimCloudConfig
from adapters.simcloud.instances import Instances
from adapters.simcloud.keypairs import KeyPairs
from adapters.simcloud.security_groups import SecurityGroups
from adapters.simcloud.snapshots import Snapshots
from adapters.simcloud.store import SimStore
from adapters.simcloud.volumes import Volumes
from kernel.token_bucket import TokenBucket

T = TypeVar("T")


class SimCloudAdapter(AdapterBase):
    driver: ClassVar[str] = "simcloud"
    # SimCloud offers the whole contract.
    features: ClassVar[frozenset[Feature]] = frozenset(Feature)
    operator_fields: ClassVar[frozenset[str]] = frozenset({"guest_ssh"})
    config_model: ClassVar[type[SimCloudConfig]] = SimCloudConfig

    @classmethod
    async def connect(cls, account_id: str, config: Mapping[str, Any], context: AdapterContext) -> Self:
        """An account's adapter over its rows in the platform's database (the context's pool)."""
        return cls(SimStore(context.pool, account_id), SimCloudConfig.model_validate(dict(config)))

    def __init__(
        self,
        store: SimStore,
        config: SimCloudConfig,
        bucket: TokenBucket | None = None,
    ) -> None:
        self._config = config
        rate = config.rate_limit_per_second
        self._bucket = bucket or (throttle.bucket_for(store.account, rate) if rate is not None else None)
        self._catalogue = Catalogue(store, config)
        self._instances = Instances(store, config, self._catalogue)
        self._key_pairs = KeyPairs(store)
        self._groups = SecurityGroups(store)
        self._volumes = Volumes(store, config, self._catalogue)
        self._snapshots = Snapshots(store, config)
        self._addresses = Addresses(store)

    @property
    def config(self) -> SimCloudConfig:
        return self._config

    async def _call(self, call: str, request: Callable[[], Awaitable[T]], /) -> T:
        """Every call takes its token of the account's rate limit first; a refused one counts as a `Throttled` call."""

        async def admitted() -> T:
            if self._bucket is not None and not self._bucket.take():
                raise Throttled(
                    f"rate limit of {self._bucket.rate:g} calls/s exceeded; "
                    f"retry in {self._bucket.wait_seconds():.2f} s"
                )
            return await request()

        return await super()._call(call, admitted)

    async def close(self) -> None:
        return None

    # regions and zones

    async def list_regions(self) -> Sequence[Region]:
        return await self._call(Operation.LIST_REGIONS, self._catalogue.regions)

    async def list_zones(self) -> Sequence[Zone]:
        return await self._call(Operation.LIST_ZONES, self._catalogue.zones)

    # flavors and images

    async def list_flavors(self) -> Sequence[Flavor]:
        return await self._call(Operation.LIST_FLAVORS, self._catalogue.flavors)

    async def get_flavor(self, flavor_id: str) -> Flavor:
        return await self._call(Operation.GET_FLAVOR, lambda: self._catalogue.flavor(flavor_id))

    async def list_images(self) -> Sequence[Image]:
        return await self._call(Operation.LIST_IMAGES, self._catalogue.images)

    async def get_image(self, image_id: str) -> Image:
        return await self._call(Operation.GET_IMAGE, lambda: self._catalogue.image(image_id))

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        return await self._call(
            Operation.CREATE_IMAGE, lambda: self._catalogue.create_image(instance_id, name, client_token)
        )

    async def deregister_image(self, image_id: str) -> None:
        await self._call(Operation.DEREGISTER_IMAGE, lambda: self._catalogue.deregister_image(image_id))

    # instances

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        return await self._call(Operation.LIST_INSTANCES, lambda: self._instances.page(cursor, limit))

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        return await self._call(Operation.GET_INSTANCES, lambda: self._instances.get_many(instance_ids))

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        return await self._call(Operation.LAUNCH_INSTANCE, lambda: self._instances.launch(spec))

    async def start_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.START_INSTANCE, lambda: self._instances.act(instance_id, "start"))

    async def stop_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.STOP_INSTANCE, lambda: self._instances.act(instance_id, "stop"))

    async def reboot_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.REBOOT_INSTANCE, lambda: self._instances.act(instance_id, "reboot"))

    async def suspend_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.SUSPEND_INSTANCE, lambda: self._instances.act(instance_id, "suspend"))

    async def resume_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.RESUME_INSTANCE, lambda: self._instances.act(instance_id, "resume"))

    async def terminate_instance(self, instance_id: str) -> Instance:
        return await self._call(Operation.TERMINATE_INSTANCE, lambda: self._instances.act(instance_id, "terminate"))

    async def console_output(self, instance_id: str) -> str:
        return await self._call(Operation.CONSOLE_OUTPUT, lambda: self._instances.console_output(instance_id))

    async def ex_set_load(self, instance_id: str, profile: str) -> Instance:
        """Drive the instance's synthetic CPU load from now on (`steady:`, `ramp:` or `spike:`; see `load`)."""
        return await self._call("ex_set_load", lambda: self._instances.set_load(instance_id, profile))

    async def ex_set_zone_state(self, zone: str, state: str) -> list[str]:
        """Fault injection: take a zone `down` (its instances go to error, launches there fail) or bring it `up`
        (launches succeed again; the instances it caught stay in error). The ids of the instances it put in error."""
        return await self._call("ex_set_zone_state", lambda: self._instances.set_zone_state(zone, state))

    # key pairs

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        return await self._call(Operation.LIST_KEY_PAIRS, self._key_pairs.list)

    async def create_key_pair(self, name: str) -> KeyPair:
        return await self._call(Operation.CREATE_KEY_PAIR, lambda: self._key_pairs.create(name))

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        return await self._call(Operation.IMPORT_KEY_PAIR, lambda: self._key_pairs.import_(name, public_key))

    async def delete_key_pair(self, name: str) -> None:
        await self._call(Operation.DELETE_KEY_PAIR, lambda: self._key_pairs.delete(name))

    # security groups

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        return await self._call(Operation.LIST_SECURITY_GROUPS, self._groups.list)

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        return await self._call(Operation.CREATE_SECURITY_GROUP, lambda: self._groups.create(name, description))

    async def delete_security_group(self, group_id: str) -> None:
        await self._call(Operation.DELETE_SECURITY_GROUP, lambda: self._groups.delete(group_id))

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return await self._call(Operation.AUTHORIZE_SECURITY_RULE, lambda: self._groups.authorize(group_id, rule))

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return await self._call(Operation.REVOKE_SECURITY_RULE, lambda: self._groups.revoke(group_id, rule))

    # volumes and snapshots

    async def list_volumes(self) -> Sequence[Volume]:
        return await self._call(Operation.LIST_VOLUMES, self._volumes.list)

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        return await self._call(Operation.CREATE_VOLUME, lambda: self._volumes.create(spec))

    async def delete_volume(self, volume_id: str) -> None:
        await self._call(Operation.DELETE_VOLUME, lambda: self._volumes.delete(volume_id))

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        return await self._call(Operation.ATTACH_VOLUME, lambda: self._volumes.attach(volume_id, instance_id, device))

    async def detach_volume(self, volume_id: str) -> Volume:
        return await self._call(Operation.DETACH_VOLUME, lambda: self._volumes.detach(volume_id))

    async def list_snapshots(self) -> Sequence[Snapshot]:
        return await self._call(Operation.LIST_SNAPSHOTS, self._snapshots.list)

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        return await self._call(
            Operation.CREATE_SNAPSHOT, lambda: self._snapshots.create(volume_id, name, client_token)
        )

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._call(Operation.DELETE_SNAPSHOT, lambda: self._snapshots.delete(snapshot_id))

    # addresses

    async def list_addresses(self) -> Sequence[Address]:
        return await self._call(Operation.LIST_ADDRESSES, self._addresses.list)

    async def allocate_address(self, *, client_token: str) -> Address:
        return await self._call(Operation.ALLOCATE_ADDRESS, lambda: self._addresses.allocate(client_token))

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        return await self._call(Operation.ASSOCIATE_ADDRESS, lambda: self._addresses.associate(address_id, instance_id))

    async def disassociate_address(self, address_id: str) -> Address:
        return await self._call(Operation.DISASSOCIATE_ADDRESS, lambda: self._addresses.disassociate(address_id))

    async def release_address(self, address_id: str) -> None:
        await self._call(Operation.RELEASE_ADDRESS, lambda: self._addresses.release(address_id))

    # metrics

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        return await self._call(Operation.GET_METRICS, lambda: self._instances.metrics(instance_id, since))

    # capacity

    async def quotas(self) -> Quotas:
        return await self._call(Operation.QUOTAS, self._instances.quotas)


__all__ = ["InstanceState", "SimCloudAdapter", "SimCloudConfig"]
