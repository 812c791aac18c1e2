"""Blocking libvirt work, typed: what the adapter asks of one hypervisor connection.

Every method here blocks; the adapter runs each in a worker thread (libvirt connections are thread-safe) through
`AdapterBase._run`, which turns libvirt's errors into the contract's (`_errors`). Methods that take several libvirt
calls do them in one thread hop. libvirt objects are untyped (`Any`); nothing untyped leaves this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import libvirt

from adapters.base import CloudNotFound, InvalidCloudRequest, InvalidCloudState
from adapters.libvirt import _states, _xml
from adapters.libvirt._errors import (
    DOM_EXIST,
    INVALID_ARG,
    NO_DOMAIN,
    NO_STORAGE_VOL,
    NO_SUPPORT,
    OPERATION_FAILED,
    OPERATION_INVALID,
    STORAGE_VOL_EXIST,
    LibvirtError,
    code_of,
)
from adapters.libvirt._metrics import Reading

Action = Literal["start", "stop", "destroy", "reboot", "suspend", "resume"]
# How long after its launch a domain that never ran is still taken for an interrupted launch, and started.
UNSTARTED_GRACE = timedelta(minutes=15)

_AFFECT_LIVE = int(libvirt.VIR_DOMAIN_AFFECT_LIVE)
_AFFECT_CONFIG = int(libvirt.VIR_DOMAIN_AFFECT_CONFIG)
_XML_INACTIVE = int(libvirt.VIR_DOMAIN_XML_INACTIVE)
_UNDEFINE_FLAGS = (
    # Everything a managed domain may leave behind; drivers that know fewer flags get fewer.
    int(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    | int(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    | int(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    | int(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA),
    int(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) | int(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA),
    0,
)


@dataclass(frozen=True, slots=True)
class DomainView:
    """One Clanavi domain as libvirt has it now."""

    facts: _xml.DomainFacts
    meta: _xml.InstanceMeta
    state: int
    reason: int
    private_ips: tuple[str, ...]

    @property
    def active(self) -> bool:
        return _states.is_active(self.state)


@dataclass(frozen=True, slots=True)
class Attachment:
    instance_id: str
    target: str
    disk: _xml.Disk


@dataclass(frozen=True, slots=True)
class PoolVolume:
    facts: _xml.VolumeFacts
    attachment: Attachment | None


def open_connection(uri: str) -> Any:
    return libvirt.open(uri)


def _is(exc: BaseException, *codes: int) -> bool:
    return code_of(exc) in codes


class Host:
    """One libvirt connection, the pool and network of one account, and the naming rules for both."""

    def __init__(self, uri: str, *, pool: str, network: str, prefix: str, image_prefix: str) -> None:
        self.uri = uri
        self.pool_name = pool
        self.network_name = network
        self.prefix = prefix
        self.image_prefix = image_prefix
        self._lock = threading.Lock()
        self._conn: Any = open_connection(uri)

    # --- the connection -------------------------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        """The connection, opened again if the daemon dropped it (libvirtd restarted, socket closed)."""
        with self._lock:
            if not self._conn.isAlive():
                self._conn = open_connection(self.uri)
            return self._conn

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except LibvirtError:
                pass  # already gone with the daemon

    def hostname(self) -> str:
        return str(self.conn.getHostname())

    def hypervisor_type(self) -> str:
        return str(self.conn.getType())

    def check(self) -> None:
        """The account's pool and network exist and are active; raises CloudNotFound otherwise."""
        pool = self._pool()
        if not pool.isActive():
            raise CloudNotFound(f"storage pool {self.pool_name} is not active")
        network = self.conn.networkLookupByName(self.network_name)
        if not network.isActive():
            raise CloudNotFound(f"network {self.network_name} is not active")

    def _pool(self) -> Any:
        return self.conn.storagePoolLookupByName(self.pool_name)

    # --- domains --------------------------------------------------------------------------------------------

    def managed_domain_ids(self) -> list[str]:
        """The UUIDs of the domains named as Clanavi names them, sorted."""
        return sorted(str(d.UUIDString()) for d in self.conn.listAllDomains(0) if str(d.name()).startswith(self.prefix))

    def capacity(self) -> tuple[int, int, int, int, int]:
        """The host's CPUs and memory (MiB), what its running domains (anyone's) take of them, and how many of
        Clanavi's domains it holds."""
        conn = self.conn
        info = conn.getInfo()
        cpus, memory_mb = int(info[2]), int(info[1])
        used_cpus = used_kib = managed = 0
        for domain in conn.listAllDomains(0):
            if str(domain.name()).startswith(self.prefix):
                managed += 1
            if domain.isActive():
                # [state, max memory KiB, memory KiB, vCPUs, CPU time]
                state = domain.info()
                used_kib += int(state[2])
                used_cpus += int(state[3])
        return cpus, memory_mb, used_cpus, used_kib // 1024, managed

    def _domain(self, instance_id: str) -> Any | None:
        try:
            domain = self.conn.lookupByUUIDString(instance_id)
        except LibvirtError as exc:
            if _is(exc, NO_DOMAIN, INVALID_ARG):
                return None
            raise
        return domain if str(domain.name()).startswith(self.prefix) else None

    def _require(self, instance_id: str) -> Any:
        domain = self._domain(instance_id)
        if domain is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        return domain

    def _view(self, domain: Any) -> DomainView | None:
        facts = _xml.parse_domain(str(domain.XMLDesc(0)))
        if facts.meta is None:
            return None
        state, reason = (int(v) for v in domain.state(0))
        ips: tuple[str, ...] = ()
        if _states.is_active(state):
            ips = self._addresses(domain)
        return DomainView(facts, facts.meta, state, reason, ips)

    def _addresses(self, domain: Any) -> tuple[str, ...]:
        try:
            answer = domain.interfaceAddresses(int(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE), 0)
        except LibvirtError:
            return ()  # no lease yet, or a hypervisor that cannot tell
        found: list[str] = []
        for interface in (answer or {}).values():
            for address in interface.get("addrs") or ():
                found.append(str(address["addr"]))
        return tuple(found)

    def view(self, instance_id: str) -> DomainView | None:
        """The domain, or None when it does not exist (or Clanavi did not create it)."""
        domain = self._domain(instance_id)
        if domain is None:
            return None
        try:
            return self._view(domain)
        except LibvirtError as exc:
            if _is(exc, NO_DOMAIN):
                return None  # undefined between the lookup and the read
            raise

    def views(self, instance_ids: list[str]) -> list[DomainView]:
        found = []
        for instance_id in instance_ids:
            view = self.view(instance_id)
            if view is not None:
                found.append(view)
        return found

    def launch(
        self,
        *,
        instance_id: str,
        image_volume: str,
        root_volume: str,
        min_capacity: int,
        build_xml: Callable[[str | None], str],
    ) -> bool:
        """Define and start the domain `instance_id` on a clone of the image; False if it existed already.

        A domain of this id that was defined recently and never started is what a launch interrupted between
        defining and starting leaves: it is started now. One that ran and was stopped stays stopped.
        """
        existing = self._domain(instance_id)
        if existing is not None:
            self._start_if_never_started(existing)
            return False
        pool = self._pool()
        image = pool.storageVolLookupByName(image_volume)
        image_facts = _xml.parse_volume(str(image.XMLDesc(0)))
        root, created_root = self._root_clone(pool, image, image_facts, root_volume, min_capacity)
        root_facts = _xml.parse_volume(str(root.XMLDesc(0)))
        try:
            domain = self.conn.defineXML(build_xml(root_facts.format))
        except LibvirtError as exc:
            if _is(exc, OPERATION_FAILED, DOM_EXIST) and self._domain(instance_id) is not None:
                return False  # a launch with the same client token got there first
            if created_root:
                self._delete_volume_quietly(root)
            raise
        try:
            domain.create()
        except LibvirtError:
            state = int(domain.state(0)[0])
            if not _states.is_active(state):
                # Leave nothing half made: a retried launch with the same token starts over.
                self._undefine(domain)
                self._delete_volume_quietly(root)
                raise
        return True

    def _start_if_never_started(self, domain: Any) -> None:
        state, reason = (int(v) for v in domain.state(0))
        if (state, reason) != (_states.SHUTOFF, _states.SHUTOFF_UNKNOWN):
            return
        view = self._view(domain)
        if view is None or datetime.now(UTC) - view.meta.created_at > UNSTARTED_GRACE:
            return
        try:
            domain.create()
        except LibvirtError:
            if not _states.is_active(int(domain.state(0)[0])):
                raise  # not started by a concurrent retry either

    def _root_clone(
        self, pool: Any, image: Any, image_facts: _xml.VolumeFacts, name: str, min_capacity: int
    ) -> tuple[Any, bool]:
        existing = self._volume_or_none(pool, name)
        if existing is not None:
            return existing, False  # left by an interrupted launch with this client token
        spec = _xml.volume_xml(
            name=name, capacity_bytes=max(min_capacity, image_facts.capacity), fmt=image_facts.format
        )
        try:
            return pool.createXMLFrom(spec, image, 0), True
        except LibvirtError as exc:
            again = self._volume_or_none(pool, name) if _is(exc, OPERATION_FAILED, STORAGE_VOL_EXIST) else None
            if again is None:
                raise
            return again, False

    def _undefine(self, domain: Any) -> None:
        for flags in _UNDEFINE_FLAGS:
            try:
                domain.undefineFlags(flags) if flags else domain.undefine()
                return
            except LibvirtError as exc:
                if not _is(exc, INVALID_ARG, NO_SUPPORT) or flags == 0:
                    raise

    def act(self, instance_id: str, action: Action) -> DomainView:
        """Ask for a state change the domain's current state allows; asking for the state it is in (or on its way
        to) changes nothing. Returns the domain as it reads right after."""
        domain = self._require(instance_id)
        state = int(domain.state(0)[0])
        running = state in (_states.RUNNING, _states.BLOCKED)
        paused = state == _states.PAUSED
        off = state == _states.SHUTOFF
        if action == "start":
            if off:
                domain.create()
            elif not (running or state == _states.PMSUSPENDED):
                raise InvalidCloudState(f"cannot start an instance that is {self._word(state)}")
        elif action == "stop":
            if paused:
                domain.resume()  # a paused guest cannot see the power button
                domain.shutdown()
            elif running:
                domain.shutdown()
            elif state in (_states.CRASHED, _states.PMSUSPENDED):
                domain.destroy()
        elif action == "destroy":
            if not off:
                domain.destroy()
        elif action == "reboot":
            if not running:
                raise InvalidCloudState(f"cannot reboot an instance that is {self._word(state)}")
            domain.reboot(0)
        elif action == "suspend":
            if running:
                domain.suspend()
            elif not paused:
                raise InvalidCloudState(f"cannot suspend an instance that is {self._word(state)}")
        elif action == "resume":
            if paused:
                domain.resume()
            elif state == _states.PMSUSPENDED:
                domain.pMWakeup(0)
            elif not running:
                raise InvalidCloudState(f"cannot resume an instance that is {self._word(state)}")
        view = self._view(domain)
        if view is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        return view

    @staticmethod
    def _word(state: int) -> str:
        return _states.normalise(state, -1).state.value

    def terminate(self, instance_id: str) -> DomainView:
        """Power off, undefine, and delete the root disk; the domain as it was before."""
        domain = self._require(instance_id)
        view = self._view(domain)
        if view is None:
            raise CloudNotFound(f"instance {instance_id} does not exist")
        if view.active:
            try:
                domain.destroy()
            except LibvirtError as exc:
                if not _is(exc, OPERATION_INVALID):
                    raise  # "not running" means it went down by itself meanwhile
        self._undefine(domain)
        pool = self._pool()
        root = self._volume_or_none(pool, view.meta.root_volume)
        if root is not None:
            self._delete_volume_quietly(root)
        return view

    @contextmanager
    def _quiesced(self, instance_id: str | None) -> Iterator[None]:
        """Pause a running domain while one of its disks is copied, so the copy is consistent as after a crash."""
        domain = self._domain(instance_id) if instance_id else None
        if domain is None or int(domain.state(0)[0]) not in (_states.RUNNING, _states.BLOCKED):
            yield
            return
        domain.suspend()
        try:
            yield
        finally:
            domain.resume()

    # --- storage --------------------------------------------------------------------------------------------

    def volume_names(self) -> list[str]:
        return sorted(str(n) for n in self._pool().listVolumes())

    @staticmethod
    def _volume_or_none(pool: Any, name: str) -> Any | None:
        try:
            return pool.storageVolLookupByName(name)
        except LibvirtError as exc:
            if _is(exc, NO_STORAGE_VOL):
                return None
            raise

    @staticmethod
    def _delete_volume_quietly(volume: Any) -> None:
        try:
            volume.delete(0)
        except LibvirtError as exc:
            if not _is(exc, NO_STORAGE_VOL):
                raise

    def volume(self, name: str) -> _xml.VolumeFacts | None:
        volume = self._volume_or_none(self._pool(), name)
        return None if volume is None else _xml.parse_volume(str(volume.XMLDesc(0)))

    def volumes(self, names: list[str], *, with_attachments: bool) -> list[PoolVolume]:
        """The named volumes that still exist, and which domain each is attached to."""
        pool = self._pool()
        attachments = self.attachments() if with_attachments else {}
        found = []
        for name in names:
            volume = self._volume_or_none(pool, name)
            if volume is None:
                continue
            facts = _xml.parse_volume(str(volume.XMLDesc(0)))
            found.append(PoolVolume(facts, attachments.get(facts.name) or attachments.get(f"key:{facts.key}")))
        return found

    def attachments(self) -> dict[str, Attachment]:
        """Volume name (or `key:<key>` for disks given by path) -> the domain that uses it, over every domain."""
        found: dict[str, Attachment] = {}
        for domain in self.conn.listAllDomains(0):
            try:
                facts = _xml.parse_domain(str(domain.XMLDesc(0)))
            except LibvirtError as exc:
                if _is(exc, NO_DOMAIN):
                    continue
                raise
            for disk in facts.disks:
                attachment = Attachment(facts.uuid, disk.target, disk)
                if disk.source_pool == self.pool_name and disk.source_volume:
                    found[disk.source_volume] = attachment
                elif disk.source_file:
                    found[f"key:{disk.source_file}"] = attachment
        return found

    def create_volume(self, name: str, capacity: int, fmt: str | None) -> _xml.VolumeFacts:
        spec = _xml.volume_xml(name=name, capacity_bytes=capacity, fmt=fmt)
        return _xml.parse_volume(str(self._pool().createXML(spec, 0).XMLDesc(0)))

    def clone_volume(
        self, source: str, name: str, *, capacity: int | None = None, attached_to: str | None = None
    ) -> _xml.VolumeFacts:
        """A full copy of the volume `source` (pausing `attached_to` while it is copied)."""
        pool = self._pool()
        original = pool.storageVolLookupByName(source)
        facts = _xml.parse_volume(str(original.XMLDesc(0)))
        spec = _xml.volume_xml(name=name, capacity_bytes=max(capacity or 0, facts.capacity), fmt=facts.format)
        with self._quiesced(attached_to):
            clone = pool.createXMLFrom(spec, original, 0)
        return _xml.parse_volume(str(clone.XMLDesc(0)))

    def delete_volume(self, name: str) -> None:
        self._pool().storageVolLookupByName(name).delete(0)

    def attach(self, volume_name: str, instance_id: str, target: str | None, serial: str) -> str:
        """Attach the volume as a disk, live and persistently; the device it got."""
        domain = self._require(instance_id)
        facts = _xml.parse_volume(str(self._pool().storageVolLookupByName(volume_name).XMLDesc(0)))
        if self.attachments().get(volume_name) is not None:
            raise InvalidCloudState(f"volume {volume_name} is attached already")
        persistent = str(domain.XMLDesc(_XML_INACTIVE))
        live = str(domain.XMLDesc(0))
        used = {d.target for text in (persistent, live) for d in _xml.parse_domain(text).disks}
        if target is None:
            target = next(f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"vd{c}" not in used)
        elif target in used:
            raise InvalidCloudRequest(f"device {target} is in use on instance {instance_id}")
        disk = _xml.data_disk_xml(
            pool=self.pool_name, volume=volume_name, target=target, fmt=facts.format, serial=serial
        )
        self._change_disks(
            domain, persistent, lambda flags: domain.attachDeviceFlags(disk, flags), _xml.with_disk, disk
        )
        return target

    def detach(self, volume_name: str) -> Attachment | None:
        """Detach the volume from its domain; the attachment as it was, or None if it was not attached."""
        attachment = self.attachments().get(volume_name)
        if attachment is None:
            return None
        domain = self._require(attachment.instance_id)
        persistent = str(domain.XMLDesc(_XML_INACTIVE))
        self._change_disks(
            domain,
            persistent,
            lambda flags: domain.detachDeviceFlags(attachment.disk.xml, flags),
            _xml.without_disk,
            attachment.target,
        )
        return attachment

    def _change_disks(
        self,
        domain: Any,
        persistent: str,
        hotplug: Callable[[int], object],
        edit: Callable[[str, str], str],
        argument: str,
    ) -> None:
        active = _states.is_active(int(domain.state(0)[0]))
        try:
            hotplug(_AFFECT_CONFIG | (_AFFECT_LIVE if active else 0))
        except LibvirtError as exc:
            if not _is(exc, NO_SUPPORT):
                raise
            if active:
                raise InvalidCloudState(
                    "this hypervisor cannot change the disks of a running instance; stop the instance first"
                ) from exc
            # The domain is off: changing its persistent definition is exactly what AFFECT_CONFIG does.
            self.conn.defineXML(edit(persistent, argument))

    # --- metrics --------------------------------------------------------------------------------------------

    def reading(self, instance_id: str) -> Reading | None:
        """The domain's counters now, or None when it is not running."""
        domain = self._require(instance_id)
        facts = _xml.parse_domain(str(domain.XMLDesc(0)))
        info = domain.info()
        if int(info[0]) not in (_states.RUNNING, _states.BLOCKED):
            return None
        rx = tx = rd = wr = 0
        for interface in facts.interfaces:
            if interface.target:
                stats = domain.interfaceStats(interface.target)
                rx, tx = rx + int(stats[0]), tx + int(stats[4])
        for disk in facts.disks:
            if disk.target and disk.device == "disk":
                stats = domain.blockStats(disk.target)
                rd, wr = rd + int(stats[1]), wr + int(stats[3])
        return Reading(
            at=datetime.now(UTC),
            monotonic=time.monotonic(),
            cpu_time_ns=int(info[4]),
            vcpus=int(info[3]),
            rx_bytes=rx,
            tx_bytes=tx,
            read_bytes=rd,
            write_bytes=wr,
        )


__all__ = ["Action", "Attachment", "DomainView", "Host", "PoolVolume", "open_connection"]
