"""An in-memory cloud behind the adapter contract, for the provisioner's unit tests: instances launched, and volumes,
snapshots, images and addresses made, once per client token, every resource kind, transitions that complete when the
test says (`finish`), and chosen failures: `fail` refuses a call before it acts, `lose` lets it act and then loses its
answer (CloudUnavailable)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from adapters.base import (
    AdapterBase,
    Address,
    CloudError,
    CloudNotFound,
    CloudUnavailable,
    Feature,
    Flavor,
    Image,
    ImageState,
    Instance,
    InstanceState,
    KeyPair,
    LaunchSpec,
    MetricSample,
    Page,
    Region,
    SecurityGroup,
    SecurityRule,
    Snapshot,
    SnapshotState,
    Volume,
    VolumeSpec,
    VolumeState,
    Zone,
)

T = TypeVar("T")

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# A transitional state -> where it ends.
_SETTLES = {
    InstanceState.PENDING: InstanceState.RUNNING,
    InstanceState.STARTING: InstanceState.RUNNING,
    InstanceState.STOPPING: InstanceState.STOPPED,
    InstanceState.REBOOTING: InstanceState.RUNNING,
    InstanceState.TERMINATING: InstanceState.TERMINATED,
}


class FakeCloud(AdapterBase):
    driver: ClassVar[str] = "simcloud"
    # Everything: a test of a cloud that lacks something subclasses it with fewer.
    features: ClassVar[frozenset[Feature]] = frozenset(Feature)

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.tokens: dict[str, str] = {}
        # (what was made, client token) -> its id, for volumes, snapshots, images and addresses.
        self.made: dict[tuple[str, str], str] = {}
        self.key_pairs: dict[str, KeyPair] = {}
        self.groups: dict[str, SecurityGroup] = {}
        self.volumes: dict[str, Volume] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.addresses: dict[str, Address] = {}
        self.images: dict[str, Image] = {"img-debian-12": Image("img-debian-12", "Debian 12", "linux")}
        self.flavors = {"sim.small": Flavor("sim.small", "small", 1, 1024, 10)}
        self.calls: list[str] = []
        self.fail: dict[str, list[CloudError]] = defaultdict(list)
        self.lose: set[str] = set()
        self.closed = False
        # Samples an instance's monitoring holds (by provider id), for those a test sets; others answer two at `since`.
        self.samples: dict[str, list[MetricSample]] = {}
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _once(self, kind: str, client_token: str, table: dict[str, T], make: Callable[[str], T]) -> T:
        """What the client token made of `kind` before, if it is still there; else `make(new id)`, remembered."""
        known = self.made.get((kind, client_token))
        if known is not None and known in table:
            return table[known]
        made_id = self._id(kind)
        table[made_id] = made = make(made_id)
        self.made[(kind, client_token)] = made_id
        return made

    def _called(self, name: str) -> None:
        self.calls.append(name)
        if self.fail[name]:
            raise self.fail[name].pop(0)

    def _answer(self, name: str, value: T) -> T:
        if name in self.lose:
            self.lose.discard(name)
            raise CloudUnavailable(f"{name}: the answer was lost")
        return value

    def finish(self) -> None:
        """Every transition under way completes."""
        for iid, instance in list(self.instances.items()):
            if instance.state in _SETTLES:
                self.instances[iid] = replace(instance, state=_SETTLES[instance.state])
        for vid, volume in list(self.volumes.items()):
            if volume.state == VolumeState.CREATING:
                self.volumes[vid] = replace(volume, state=VolumeState.AVAILABLE)
        for sid, snapshot in list(self.snapshots.items()):
            if snapshot.state == SnapshotState.PENDING:
                self.snapshots[sid] = replace(snapshot, state=SnapshotState.AVAILABLE)
        for image_id, image in list(self.images.items()):
            if image.state == ImageState.PENDING:
                self.images[image_id] = replace(image, state=ImageState.AVAILABLE)

    async def close(self) -> None:
        self.closed = True

    # --- places and catalogue ---

    async def list_regions(self) -> Sequence[Region]:
        self._called("list_regions")
        return [Region("sim-1", "Sim One")]

    async def list_zones(self) -> Sequence[Zone]:
        self._called("list_zones")
        return [Zone("sim-1a", "sim-1"), Zone("sim-1b", "sim-1")]

    async def list_flavors(self) -> Sequence[Flavor]:
        self._called("list_flavors")
        return list(self.flavors.values())

    async def get_flavor(self, flavor_id: str) -> Flavor:
        self._called("get_flavor")
        return self._found(self.flavors, flavor_id)

    async def list_images(self) -> Sequence[Image]:
        self._called("list_images")
        return list(self.images.values())

    async def get_image(self, image_id: str) -> Image:
        self._called("get_image")
        return self._found(self.images, image_id)

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        self._called("create_image")
        self._found(self.instances, instance_id)
        image = self._once("ami", client_token, self.images, lambda i: Image(i, name, "linux", ImageState.PENDING))
        return self._answer("create_image", image)

    async def deregister_image(self, image_id: str) -> None:
        self._called("deregister_image")
        self._found(self.images, image_id)
        del self.images[image_id]

    @staticmethod
    def _found(items: dict[str, T], key: str) -> T:
        if key not in items:
            raise CloudNotFound(f"no {key}")
        return items[key]

    # --- instances ---

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        self._called("list_instances")
        items = sorted(self.instances.values(), key=lambda i: i.id)
        start = int(cursor or 0)
        end = start + limit
        return Page(items[start:end], str(end) if end < len(items) else None)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        self._called("get_instances")
        return [self.instances[i] for i in instance_ids if i in self.instances]

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        self._called("launch_instance")
        known = self.tokens.get(spec.client_token)
        if known is None:
            instance = Instance(
                id=self._id("i"),
                name=spec.name,
                state=InstanceState.PENDING,
                image_id=spec.image_id,
                flavor_id=spec.flavor_id,
                created_at=NOW,
                private_ips=("10.0.0.5",),
                zone=spec.zone,
                key_name=spec.key_name,
                security_group_ids=spec.security_group_ids,
                tags=dict(spec.tags),
            )
            self.instances[instance.id] = instance
            self.tokens[spec.client_token] = known = instance.id
        return self._answer("launch_instance", self.instances[known])

    def _move(self, name: str, instance_id: str, state: InstanceState) -> Instance:
        self._called(name)
        instance = replace(self._found(self.instances, instance_id), state=state)
        self.instances[instance_id] = instance
        return self._answer(name, instance)

    async def start_instance(self, instance_id: str) -> Instance:
        return self._move("start_instance", instance_id, InstanceState.STARTING)

    async def stop_instance(self, instance_id: str) -> Instance:
        return self._move("stop_instance", instance_id, InstanceState.STOPPING)

    async def reboot_instance(self, instance_id: str) -> Instance:
        return self._move("reboot_instance", instance_id, InstanceState.REBOOTING)

    async def suspend_instance(self, instance_id: str) -> Instance:
        return self._move("suspend_instance", instance_id, InstanceState.SUSPENDED)

    async def resume_instance(self, instance_id: str) -> Instance:
        return self._move("resume_instance", instance_id, InstanceState.RUNNING)

    async def terminate_instance(self, instance_id: str) -> Instance:
        return self._move("terminate_instance", instance_id, InstanceState.TERMINATING)

    async def console_output(self, instance_id: str) -> str:
        self._called("console_output")
        return f"{self._found(self.instances, instance_id).name} login:"

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        self._called("get_metrics")
        self._found(self.instances, instance_id)
        if instance_id in self.samples:
            return [sample for sample in self.samples[instance_id] if sample.timestamp >= since]
        return [
            MetricSample("network_in_bytes", since, 10.0, "bytes"),
            MetricSample("cpu_utilization", since, 3.5, "percent"),
        ]

    # --- key pairs and security groups ---

    async def list_key_pairs(self) -> Sequence[KeyPair]:
        self._called("list_key_pairs")
        return list(self.key_pairs.values())

    async def create_key_pair(self, name: str) -> KeyPair:
        self._called("create_key_pair")
        self.key_pairs[name] = KeyPair(name, f"fp-{name}")
        return self._answer("create_key_pair", replace(self.key_pairs[name], private_key="PRIVATE"))

    async def import_key_pair(self, name: str, public_key: str) -> KeyPair:
        self._called("import_key_pair")
        self.key_pairs[name] = KeyPair(name, f"fp-{name}")
        return self._answer("import_key_pair", self.key_pairs[name])

    async def delete_key_pair(self, name: str) -> None:
        self._called("delete_key_pair")
        self._found(self.key_pairs, name)
        del self.key_pairs[name]

    async def list_security_groups(self) -> Sequence[SecurityGroup]:
        self._called("list_security_groups")
        return list(self.groups.values())

    async def create_security_group(self, name: str, description: str) -> SecurityGroup:
        self._called("create_security_group")
        group = SecurityGroup(self._id("sg"), name, description)
        self.groups[group.id] = group
        return self._answer("create_security_group", group)

    async def delete_security_group(self, group_id: str) -> None:
        self._called("delete_security_group")
        self._found(self.groups, group_id)
        del self.groups[group_id]

    def _rules(self, name: str, group_id: str, change: Callable[[tuple[SecurityRule, ...]], Any]) -> SecurityGroup:
        self._called(name)
        group = self._found(self.groups, group_id)
        self.groups[group_id] = replace(group, rules=tuple(change(group.rules)))
        return self._answer(name, self.groups[group_id])

    async def authorize_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return self._rules("authorize_security_rule", group_id, lambda rules: (*rules, rule))

    async def revoke_security_rule(self, group_id: str, rule: SecurityRule) -> SecurityGroup:
        return self._rules("revoke_security_rule", group_id, lambda rules: [r for r in rules if r != rule])

    # --- volumes, snapshots, addresses ---

    async def list_volumes(self) -> Sequence[Volume]:
        self._called("list_volumes")
        return list(self.volumes.values())

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        self._called("create_volume")
        volume = self._once(
            "vol",
            spec.client_token,
            self.volumes,
            lambda i: Volume(i, spec.name, spec.size_gb, VolumeState.CREATING, NOW, zone=spec.zone),
        )
        return self._answer("create_volume", volume)

    async def delete_volume(self, volume_id: str) -> None:
        self._called("delete_volume")
        self._found(self.volumes, volume_id)
        del self.volumes[volume_id]

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        self._called("attach_volume")
        volume = replace(
            self._found(self.volumes, volume_id), state=VolumeState.IN_USE, instance_id=instance_id, device=device
        )
        self.volumes[volume_id] = volume
        return self._answer("attach_volume", volume)

    async def detach_volume(self, volume_id: str) -> Volume:
        self._called("detach_volume")
        volume = replace(self._found(self.volumes, volume_id), state=VolumeState.AVAILABLE, instance_id=None)
        self.volumes[volume_id] = volume
        return self._answer("detach_volume", volume)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        self._called("list_snapshots")
        return list(self.snapshots.values())

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        self._called("create_snapshot")
        volume = self._found(self.volumes, volume_id)
        snapshot = self._once(
            "snap",
            client_token,
            self.snapshots,
            lambda i: Snapshot(i, volume_id, volume.size_gb, SnapshotState.PENDING, NOW, name=name),
        )
        return self._answer("create_snapshot", snapshot)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        self._called("delete_snapshot")
        self._found(self.snapshots, snapshot_id)
        del self.snapshots[snapshot_id]

    async def list_addresses(self) -> Sequence[Address]:
        self._called("list_addresses")
        return list(self.addresses.values())

    async def allocate_address(self, *, client_token: str) -> Address:
        self._called("allocate_address")
        ip = f"203.0.113.{len(self.addresses) + 1}"
        address = self._once("eip", client_token, self.addresses, lambda i: Address(i, ip))
        return self._answer("allocate_address", address)

    async def associate_address(self, address_id: str, instance_id: str) -> Address:
        self._called("associate_address")
        address = replace(self._found(self.addresses, address_id), instance_id=instance_id)
        self.addresses[address_id] = address
        return self._answer("associate_address", address)

    async def disassociate_address(self, address_id: str) -> Address:
        self._called("disassociate_address")
        address = replace(self._found(self.addresses, address_id), instance_id=None)
        self.addresses[address_id] = address
        return self._answer("disassociate_address", address)

    async def release_address(self, address_id: str) -> None:
        self._called("release_address")
        self._found(self.addresses, address_id)
        del self.addresses[address_id]


__all__ = ["NOW", "FakeCloud"]
