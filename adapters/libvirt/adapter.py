"""libvirt: domains made from images kept as volumes in a storage pool.

- An image is a volume named `<image_prefix><name>`. A launch clones it (virStorageVolCreateXMLFrom) into the
  instance's root disk, defines a domain (name `<prefix><uuid>`, the flavor's vCPUs and memory, the root disk, a NIC
  on the account's network, and Clanavi's data in a <metadata> element of its own namespace) and starts it.
- The instance id is the domain's UUID, derived from the account and the client token: a retried launch finds the
  domain it made before, in one lookup, whichever process retries.
- Volumes and snapshots are volumes of the same pool; a snapshot is a full copy of its volume, made while the
  domain using it (if any) is paused. Their names carry what libvirt cannot store for them (see `_naming`).
- Metrics come from the domain's CPU time and its NIC and disk counters, read twice.

Not offered, because nothing here could do them honestly: key pairs and user data (they need a cloud-init seed
image written into the pool, and the test driver cannot store volume contents), security groups (nwfilter,
which the test driver lacks), addresses (libvirt networks have no floating IPs), and console output (a
pty console is a live stream, not a log to read back). Disk hot-plug is offered where the hypervisor can do it
(`HotplugLibvirtAdapter`); elsewhere a volume attaches to a stopped instance only, through `ex_attach_volume`.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from weakref import WeakValueDictionary

from adapters.base import (
    MACHINE_FEATURES,
    AdapterBase,
    CloudError,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    Limit,
    MetricSample,
    Operation,
    Page,
    Quotas,
    Region,
    Snapshot,
    Volume,
    VolumeSpec,
    VolumeState,
    Zone,
    run_in_thread,
)
from adapters.kit import Flavors, made_by_token, token_digest
from adapters.libvirt import _errors, _mapping, _metrics, _naming, _states, _xml
from adapters.libvirt._host import DomainView, Host, PoolVolume
from adapters.libvirt.config import LibvirtConfig

# Instance ids are UUIDv5 of (account, client token) in this namespace.
_TOKEN_NAMESPACE = uuid.UUID("6f0c0a52-3c1e-4f7e-9a57-1f2a3c4d5e60")
_DEVICE = re.compile(r"^(?:/dev/)?((?:vd|sd|hd|xvd)[a-z]{1,2})$")
# Hypervisor types (virConnectGetType) whose drivers attach and detach disks of running domains.
HOTPLUG_TYPES = frozenset({"QEMU", "XEN"})
# A reading older than this is too stale to difference against; a fresh pair is taken instead.
_MAX_READING_GAP = 300.0
_HISTORY = 720


class LibvirtAdapter(AdapterBase):
    """A libvirt host as a cloud with one zone. This class serves hypervisors that cannot hot-plug disks."""

    driver: ClassVar[str] = "libvirt"
    errors = _errors
    features: ClassVar[frozenset[Feature]] = MACHINE_FEATURES | {
        Feature.ZONES,
        Feature.INSTANCE_SUSPEND,
        Feature.METRICS,
        Feature.QUOTAS,
    }
    config_model: ClassVar[type[LibvirtConfig]] = LibvirtConfig

    def __init__(
        self,
        host: Host,
        config: LibvirtConfig,
        *,
        account_id: str,
        zone: str,
        region: str,
        domain_type: str,
    ) -> None:
        self._host = host
        self._config = config
        self._account = account_id
        self._zone = zone
        self._region = region
        self._domain_type = domain_type
        self._flavors = Flavors(config.flavors)
        self._launching: dict[str, asyncio.Lock] = {}
        # Client token digest -> the lock of its create, while someone holds or awaits it.
        self._creating: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._disks = asyncio.Lock()
        self._readings: dict[str, _metrics.Reading] = {}
        self._history: dict[str, deque[MetricSample]] = {}

    @classmethod
    def features_for(cls, config: Mapping[str, Any]) -> frozenset[Feature]:
        """The features of the class that serves a host of the account's URI, whose driver (`qemu` of
        `qemu+ssh://host/system`) is its hypervisor's type. A URI alias (libvirt.conf's `uri_aliases`) names no driver:
        the class that does not hot-plug answers for it until a connected adapter says otherwise."""
        uri = config.get("uri")
        scheme, separator, _ = uri.partition("://") if isinstance(uri, str) else ("", "", "")
        return _serving(scheme.partition("+")[0].upper() if separator else "").features

    @classmethod
    async def open(cls, account_id: str, config: LibvirtConfig) -> LibvirtAdapter:
        """One libvirt connection for the account, its pool and network checked, as the class its hypervisor calls for
        (`HotplugLibvirtAdapter` where disks hot-plug). Nothing is kept elsewhere: domain metadata and volume names
        hold it all."""
        _errors.quiet()
        host = await run_in_thread(
            cls.driver,
            cls.errors,
            "connect",
            Host,
            config.uri,
            pool=config.pool,
            network=config.network,
            prefix=config.prefix,
            image_prefix=config.image_prefix,
        )
        try:
            hostname, hypervisor = await run_in_thread(cls.driver, cls.errors, "connect", _identify, host)
        except BaseException:
            await asyncio.to_thread(host.close)
            raise
        zone = config.zone or hostname
        return _serving(hypervisor)(
            host,
            config,
            account_id=account_id,
            zone=zone,
            region=config.region or zone,
            domain_type=config.domain_type or ("test" if hypervisor == "TEST" else "kvm"),
        )

    async def close(self) -> None:
        await self._run("close", self._host.close)

    # --- regions, zones, flavors ----------------------------------------------------------------------------

    async def list_regions(self) -> Sequence[Region]:
        return [Region(id=self._region, name=self._region)]

    async def list_zones(self) -> Sequence[Zone]:
        return [Zone(id=self._zone, region_id=self._region)]

    async def list_flavors(self) -> Sequence[Flavor]:
        return self._flavors.all()

    async def get_flavor(self, flavor_id: str) -> Flavor:
        return self._flavors.get(flavor_id)

    # --- images ---------------------------------------------------------------------------------------------

    def _image(self, facts: _xml.VolumeFacts) -> Image:
        return _mapping.to_image(facts, self._config)

    def _is_image(self, volume_name: str) -> bool:
        return volume_name.startswith(self._config.image_prefix) and len(volume_name) > len(self._config.image_prefix)

    async def list_images(self) -> Sequence[Image]:
        names = [n for n in await self._run(Operation.LIST_IMAGES, self._host.volume_names) if self._is_image(n)]
        found = await self._run(Operation.LIST_IMAGES, self._host.volumes, names, with_attachments=False)
        return [self._image(v.facts) for v in found]

    async def get_image(self, image_id: str) -> Image:
        facts = await self._run(Operation.GET_IMAGE, self._host.volume, image_id) if self._is_image(image_id) else None
        if facts is None:
            raise CloudNotFound(f"image {image_id} does not exist")
        return self._image(facts)

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        """A copy of the instance's root disk, named by the image's name and the client token: a repeated create
        finds it by that name, and of two at one moment libvirt refuses the second, which then finds the first's."""
        if not _naming.valid_image_name(name):
            raise InvalidCloudRequest("an image name is 1-128 letters, digits, '.', '_' or '-', starting alphanumeric")
        prefix = self._config.image_prefix
        image_id = _naming.image_volume(prefix, name, token_digest(self._account, client_token))
        made = await self._run(Operation.CREATE_IMAGE, self._host.volume, image_id)
        if made is not None:
            return self._image(made)
        view = await self._view_or_not_found(Operation.CREATE_IMAGE, instance_id)
        names = await self._run(Operation.CREATE_IMAGE, self._host.volume_names)
        if image_id in names:
            # This token's image, made by a create of the same moment since it was looked for above.
            made = await self._run(Operation.CREATE_IMAGE, self._host.volume, image_id)
            if made is not None:
                return self._image(made)
        if any(n != image_id and self._is_image(n) and _naming.image_name(prefix, n) == name for n in names):
            raise InvalidCloudRequest(f"an image named {name} exists already")
        try:
            made = await self._run(
                Operation.CREATE_IMAGE,
                self._host.clone_volume,
                view.meta.root_volume,
                image_id,
                attached_to=instance_id,
            )
        except CloudError:
            made = await self._run(Operation.CREATE_IMAGE, self._host.volume, image_id)
            if made is None:
                raise
        return self._image(made)

    async def deregister_image(self, image_id: str) -> None:
        await self.get_image(image_id)
        await self._run(Operation.DEREGISTER_IMAGE, self._host.delete_volume, image_id)

    # --- instances ------------------------------------------------------------------------------------------

    def _instance(self, view: DomainView, state: InstanceState | None = None) -> Instance:
        return _mapping.to_instance(view, self._zone, state)

    async def _view_or_not_found(self, operation: str, instance_id: str) -> DomainView:
        view = await self._run(operation, self._host.view, instance_id)
        if view is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        return view

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        if limit < 1:
            raise InvalidCloudRequest("limit must be at least 1")
        ids = await self._run(Operation.LIST_INSTANCES, self._host.managed_domain_ids)
        after = [i for i in ids if cursor is None or i > cursor]
        page = after[:limit]
        views = await self._run(Operation.LIST_INSTANCES, self._host.views, page)
        return Page([self._instance(v) for v in views], page[-1] if len(after) > limit else None)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        wanted = list(dict.fromkeys(instance_ids))
        if not wanted:
            return []
        return [self._instance(v) for v in await self._run(Operation.GET_INSTANCES, self._host.views, wanted)]

    def instance_id_for(self, client_token: str) -> str:
        """The instance id a launch with this client token gets in this account."""
        return str(uuid.uuid5(_TOKEN_NAMESPACE, f"{self._account}\n{client_token}"))

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        if spec.user_data is not None:
            raise self._unsupported("launch_instance with user data")
        if spec.key_name is not None:
            raise self._unsupported("launch_instance with a key pair")
        if spec.security_group_ids:
            raise self._unsupported("launch_instance with security groups")
        if not spec.client_token:
            raise InvalidCloudRequest("a launch needs a client token")
        if spec.zone is not None and spec.zone != self._zone:
            raise InvalidCloudRequest(f"zone {spec.zone} is not this host's zone {self._zone}")
        if not self._is_image(spec.image_id):
            raise CloudNotFound(f"image {spec.image_id} does not exist")
        flavor = await self.get_flavor(spec.flavor_id)
        instance_id = self.instance_id_for(spec.client_token)
        root = _naming.root_volume(self._config.prefix, instance_id)
        meta = _xml.InstanceMeta(
            account=self._account,
            client_token=spec.client_token,
            name=spec.name,
            image_id=spec.image_id,
            flavor_id=flavor.id,
            created_at=datetime.now(UTC),
            root_volume=root,
            zone=self._zone,
            tags=dict(spec.tags),
        )
        build = partial(
            self._domain_xml, instance_id=instance_id, title=spec.name, flavor=flavor, root_volume=root, meta=meta
        )
        lock = self._launching.setdefault(instance_id, asyncio.Lock())
        try:
            async with lock:
                await self._run(
                    Operation.LAUNCH_INSTANCE,
                    self._host.launch,
                    instance_id=instance_id,
                    image_volume=spec.image_id,
                    root_volume=root,
                    min_capacity=flavor.disk_gb * _mapping.GIB,
                    build_xml=build,
                )
                view = await self._view_or_not_found(Operation.LAUNCH_INSTANCE, instance_id)
        finally:
            if not lock.locked():
                self._launching.pop(instance_id, None)
        return self._instance(view)

    def _domain_xml(
        self,
        root_format: str | None,
        *,
        instance_id: str,
        title: str,
        flavor: Flavor,
        root_volume: str,
        meta: _xml.InstanceMeta,
    ) -> str:
        return _xml.domain_xml(
            domain_type=self._domain_type,
            name=self._config.prefix + instance_id,
            uuid=instance_id,
            title=title,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            pool=self._config.pool,
            root_volume=root_volume,
            root_format=root_format,
            network=self._config.network,
            meta=meta,
        )

    async def start_instance(self, instance_id: str) -> Instance:
        return self._instance(await self._run(Operation.START_INSTANCE, self._host.act, instance_id, "start"))

    async def stop_instance(self, instance_id: str) -> Instance:
        """ACPI shutdown; if the guest is still up after `shutdown_timeout_seconds`, power it off (or, when
        `force_stop_after_timeout` is off, answer `stopping` and let the guest take its time)."""
        view = await self._run(Operation.STOP_INSTANCE, self._host.act, instance_id, "stop")
        deadline = time.monotonic() + self._config.shutdown_timeout_seconds
        interval = 0.05
        while view.state != _states.SHUTOFF and time.monotonic() < deadline:
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 2, 1.0)
            view = await self._view_or_not_found(Operation.STOP_INSTANCE, instance_id)
        if view.state == _states.SHUTOFF:
            return self._instance(view)
        if self._config.force_stop_after_timeout:
            return self._instance(await self._run(Operation.STOP_INSTANCE, self._host.act, instance_id, "destroy"))
        return self._instance(view, InstanceState.STOPPING)

    async def reboot_instance(self, instance_id: str) -> Instance:
        return self._instance(await self._run(Operation.REBOOT_INSTANCE, self._host.act, instance_id, "reboot"))

    async def suspend_instance(self, instance_id: str) -> Instance:
        return self._instance(await self._run(Operation.SUSPEND_INSTANCE, self._host.act, instance_id, "suspend"))

    async def resume_instance(self, instance_id: str) -> Instance:
        return self._instance(await self._run(Operation.RESUME_INSTANCE, self._host.act, instance_id, "resume"))

    async def terminate_instance(self, instance_id: str) -> Instance:
        """Power off, undefine, delete the root disk. Attached volumes stay, detached; the domain is gone."""
        async with self._disks:
            view = await self._run(Operation.TERMINATE_INSTANCE, self._host.terminate, instance_id)
        self._readings.pop(instance_id, None)
        self._history.pop(instance_id, None)
        return self._instance(view, InstanceState.TERMINATED)

    # --- volumes --------------------------------------------------------------------------------------------

    def _kind(self, volume_name: str) -> tuple[str, _naming.Managed | None]:
        if self._is_image(volume_name):
            return "image", None
        if _naming.is_root_volume(self._config.prefix, volume_name):
            return "root", None
        managed = _naming.decode(self._config.prefix, volume_name)
        if managed is not None:
            return managed.kind, managed
        if volume_name.startswith(self._config.prefix):
            return "reserved", None  # ours by its name, yet not one we could have made: leave it alone
        return "vol", None

    def _volume(self, pool_volume: PoolVolume) -> Volume:
        _, managed = self._kind(pool_volume.facts.name)
        return _mapping.to_volume(pool_volume, managed, self._config.pool, self._zone)

    async def _names(self, operation: str, kind: str) -> list[str]:
        names = await self._run(operation, self._host.volume_names)
        return [n for n in names if self._kind(n)[0] == kind]

    async def _resolve(self, operation: str, kind: str, object_id: str) -> str:
        """The libvirt volume name of the volume or snapshot `object_id`."""
        for name in await self._names(operation, kind):
            _, managed = self._kind(name)
            if (managed is not None and managed.id == object_id) or (managed is None and name == object_id):
                return name
        raise CloudNotFound(f"{'snapshot' if kind == 'snap' else 'volume'} {object_id} does not exist")

    async def _read_volume(self, operation: str, name: str) -> Volume:
        found = await self._run(operation, self._host.volumes, [name], with_attachments=True)
        if not found:
            raise CloudNotFound(f"volume {name} does not exist")
        return self._volume(found[0])

    async def list_volumes(self) -> Sequence[Volume]:
        names = await self._names(Operation.LIST_VOLUMES, "vol")
        return [
            self._volume(v)
            for v in await self._run(Operation.LIST_VOLUMES, self._host.volumes, names, with_attachments=True)
        ]

    def _encode(self, managed_id: str, fields: Mapping[str, str]) -> str:
        try:
            return _naming.encode(self._config.prefix, managed_id, fields)
        except ValueError as exc:
            raise InvalidCloudRequest(str(exc)) from None

    async def _made_by(self, operation: str, kind: str, token: str) -> str | None:
        """The libvirt name of the volume or snapshot made by the create whose client token has this digest."""
        for name in await self._names(operation, kind):
            _, managed = self._kind(name)
            if managed is not None and managed.fields.get("t") == token:
                return name
        return None

    @asynccontextmanager
    async def _alone(self, token: str) -> AsyncIterator[None]:
        """One create at a time of a client token (whose digest this is) in this adapter: a volume's name holds its
        creation time, so libvirt would not refuse a second one made at the same moment."""
        lock = self._creating.get(token)
        if lock is None:
            lock = self._creating[token] = asyncio.Lock()
        async with lock:
            yield

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        if spec.size_gb < 1:
            raise InvalidCloudRequest("a volume holds at least 1 GB")
        if spec.zone is not None and spec.zone != self._zone:
            raise InvalidCloudRequest(f"zone {spec.zone} is not this host's zone {self._zone}")
        token = token_digest(self._account, spec.client_token)
        async with self._alone(token):
            made = await self._made_by(Operation.CREATE_VOLUME, "vol", token)
            if made is not None:
                volume = await self._read_volume(Operation.CREATE_VOLUME, made)
                return made_by_token("volume", volume, size_gb=spec.size_gb, snapshot_id=spec.snapshot_id)
            return await self._new_volume(spec, token)

    async def _new_volume(self, spec: VolumeSpec, token: str) -> Volume:
        volume_id = _naming.new_id("vol", datetime.now(UTC))
        name = self._encode(volume_id, {"n": spec.name, "s": spec.snapshot_id or "", "t": token})
        capacity = spec.size_gb * _mapping.GIB
        if spec.snapshot_id is None:
            await self._run(
                Operation.CREATE_VOLUME, self._host.create_volume, name, capacity, self._config.volume_format
            )
        else:
            source = await self._resolve(Operation.CREATE_VOLUME, "snap", spec.snapshot_id)
            snapshot = await self._run(Operation.CREATE_VOLUME, self._host.volume, source)
            if snapshot is None:
                raise CloudNotFound(f"snapshot {spec.snapshot_id} does not exist")
            if capacity < snapshot.capacity:
                raise InvalidCloudRequest(f"snapshot {spec.snapshot_id} needs a volume of at least that size")
            await self._run(Operation.CREATE_VOLUME, self._host.clone_volume, source, name, capacity=capacity)
        return await self._read_volume(Operation.CREATE_VOLUME, name)

    async def delete_volume(self, volume_id: str) -> None:
        async with self._disks:
            name = await self._resolve(Operation.DELETE_VOLUME, "vol", volume_id)
            volume = await self._read_volume(Operation.DELETE_VOLUME, name)
            if volume.instance_id is not None:
                raise InvalidCloudState(f"volume {volume_id} is attached to instance {volume.instance_id}")
            await self._run(Operation.DELETE_VOLUME, self._host.delete_volume, name)

    async def _attach(self, operation: str, volume_id: str, instance_id: str, device: str | None) -> Volume:
        target = None
        if device is not None:
            match = _DEVICE.match(device)
            if match is None:
                raise InvalidCloudRequest(f"device {device} is not a disk name such as /dev/vdb")
            target = match.group(1)
        async with self._disks:
            name = await self._resolve(operation, "vol", volume_id)
            await self._view_or_not_found(operation, instance_id)
            # The guest finds the disk under /dev/disk/by-id by this serial (virtio-blk keeps 20 characters).
            serial = re.sub(r"[^A-Za-z0-9]", "", volume_id.removeprefix("vol-"))[:20]
            await self._run(operation, self._host.attach, name, instance_id, target, serial)
            return await self._read_volume(operation, name)

    async def _detach(self, operation: str, volume_id: str) -> Volume:
        async with self._disks:
            name = await self._resolve(operation, "vol", volume_id)
            attachment = await self._run(operation, self._host.detach, name)
            if attachment is None:
                raise InvalidCloudState(f"volume {volume_id} is not attached")
            volume = await self._read_volume(operation, name)
            # A guest may take a moment to let go of a hot-unplugged disk: until then it still reads as attached.
            return volume if volume.instance_id is None else replace(volume, state=VolumeState.DETACHING)

    async def ex_attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        """Attach a volume to a stopped instance (its persistent definition), on any hypervisor."""
        view = await self._view_or_not_found("ex_attach_volume", instance_id)
        if view.active:
            raise InvalidCloudState("this hypervisor attaches volumes to stopped instances only")
        return await self._attach("ex_attach_volume", volume_id, instance_id, device)

    async def ex_detach_volume(self, volume_id: str) -> Volume:
        """Detach a volume from a stopped instance, on any hypervisor."""
        name = await self._resolve("ex_detach_volume", "vol", volume_id)
        volume = await self._read_volume("ex_detach_volume", name)
        if volume.instance_id is not None:
            view = await self._run("ex_detach_volume", self._host.view, volume.instance_id)
            if view is not None and view.active:
                raise InvalidCloudState("this hypervisor detaches volumes from stopped instances only")
        return await self._detach("ex_detach_volume", volume_id)

    # --- snapshots ------------------------------------------------------------------------------------------

    def _snapshot(self, pool_volume: PoolVolume) -> Snapshot:
        _, managed = self._kind(pool_volume.facts.name)
        assert managed is not None and managed.kind == "snap"
        return _mapping.to_snapshot(pool_volume, managed, self._config.pool)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        names = await self._names(Operation.LIST_SNAPSHOTS, "snap")
        found = await self._run(Operation.LIST_SNAPSHOTS, self._host.volumes, names, with_attachments=False)
        return [self._snapshot(v) for v in found]

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        """A full copy of the volume, taken while the instance using it (if running) is paused. Snapshots are made
        one at a time, so a client token's is looked for first without a race."""
        token = token_digest(self._account, client_token)
        async with self._disks:
            made = await self._made_by(Operation.CREATE_SNAPSHOT, "snap", token)
            if made is not None:
                found = await self._run(Operation.CREATE_SNAPSHOT, self._host.volumes, [made], with_attachments=False)
                if found:
                    return made_by_token("snapshot", self._snapshot(found[0]), volume_id=volume_id)
            source = await self._resolve(Operation.CREATE_SNAPSHOT, "vol", volume_id)
            volume = await self._read_volume(Operation.CREATE_SNAPSHOT, source)
            snapshot_id = _naming.new_id("snap", datetime.now(UTC))
            target = self._encode(snapshot_id, {"n": name, "v": volume_id, "t": token})
            facts = await self._run(
                Operation.CREATE_SNAPSHOT, self._host.clone_volume, source, target, attached_to=volume.instance_id
            )
        return self._snapshot(PoolVolume(facts, None))

    async def delete_snapshot(self, snapshot_id: str) -> None:
        name = await self._resolve(Operation.DELETE_SNAPSHOT, "snap", snapshot_id)
        await self._run(Operation.DELETE_SNAPSHOT, self._host.delete_volume, name)

    # --- metrics --------------------------------------------------------------------------------------------

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        """CPU utilisation, network and disk bytes of a running instance, from differences of libvirt's counters.

        libvirt keeps no history: each call reads the counters and adds a sample for the time since this adapter's
        previous reading (or, without a recent one, since a reading taken `metrics_interval_seconds` earlier).
        The samples this adapter has made stay available for later calls.
        """
        reading = await self._run(Operation.GET_METRICS, self._host.reading, instance_id)
        history = self._history.setdefault(instance_id, deque(maxlen=_HISTORY))
        if reading is not None:
            previous = self._readings.get(instance_id)
            gap = None if previous is None else reading.monotonic - previous.monotonic
            if previous is None or gap is None or gap > _MAX_READING_GAP:
                await asyncio.sleep(self._config.metrics_interval_seconds)
                later = await self._run(Operation.GET_METRICS, self._host.reading, instance_id)
                if later is not None:
                    history.extend(_metrics.samples(reading, later))
                    self._readings[instance_id] = later
            elif gap >= self._config.metrics_interval_seconds:
                history.extend(_metrics.samples(previous, reading))
                self._readings[instance_id] = reading
        return [s for s in history if s.timestamp >= since]

    # --- capacity -------------------------------------------------------------------------------------------

    async def quotas(self) -> Quotas:
        """The host as the limit: its CPUs and memory, against what its running domains take; libvirt sets no
        limit of instances."""
        cpus, memory_mb, used_cpus, used_mb, managed = await self._run(Operation.QUOTAS, self._host.capacity)
        return Quotas(instances=Limit(managed), vcpus=Limit(used_cpus, cpus), ram_mb=Limit(used_mb, memory_mb))


class HotplugLibvirtAdapter(LibvirtAdapter):
    """A libvirt host whose hypervisor attaches and detaches disks of running domains (QEMU/KVM, Xen)."""

    features: ClassVar[frozenset[Feature]] = LibvirtAdapter.features | {Feature.VOLUME_ATTACH}

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        """Attach live (when running) and persistently."""
        return await self._attach(Operation.ATTACH_VOLUME, volume_id, instance_id, device)

    async def detach_volume(self, volume_id: str) -> Volume:
        """Detach live and persistently; reads `detaching` until the guest has let the disk go."""
        return await self._detach(Operation.DETACH_VOLUME, volume_id)


def _serving(hypervisor: str) -> type[LibvirtAdapter]:
    """The class that serves a host of this hypervisor type (virConnectGetType's, in capitals)."""
    return HotplugLibvirtAdapter if hypervisor in HOTPLUG_TYPES else LibvirtAdapter


def _identify(host: Host) -> tuple[str, str]:
    """The host's name and hypervisor type, once its pool and network are checked."""
    host.check()
    return host.hostname(), host.hypervisor_type().upper()


__all__ = ["HOTPLUG_TYPES", "HotplugLibvirtAdapter", "LibvirtAdapter"]
