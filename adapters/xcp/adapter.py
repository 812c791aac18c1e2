"""XCP-ng / XenServer through XAPI: instances are VMs cloned from templates, images are templates, volumes are VDIs.

What is offered (`features`): flavors (from the account's settings: XAPI has none), images (templates; `create_image`
snapshots a VM into a template), instances with idempotent launch (the client token is kept in the VM's
`other_config` and looked up before cloning; images, volumes and snapshots keep theirs the same way), start/stop,
reboot, suspend/resume, volumes (VDIs in the account's SR) attached through VBDs (plugged at once on a running VM),
VDI snapshots and volumes made from them, and metrics (CPU, network and disk) from the RRDs xcp-rrdd keeps on the
VM's host (`_rrd`). Not offered, because XAPI has nothing honest to map them to: zones, key pairs, security groups,
public addresses, user data and console output (a launch that asks for any of them is refused, not half done).

Everything Clanavi keeps about a resource rides in the object's `other_config` under `clanavi_*` keys, so the
adapter holds no state of its own. XenAPI is synchronous XML-RPC: each operation's calls run in one worker thread
(`AdapterBase._run`), each XAPI call's errors translated on the way out (`_xapi`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.base import (
    MACHINE_FEATURES,
    AdapterBase,
    CloudNotFound,
    Feature,
    Flavor,
    Image,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    MetricSample,
    Operation,
    Page,
    Snapshot,
    UnsupportedOperation,
    Volume,
    VolumeSpec,
    run_in_thread,
)
from adapters.kit import Flavors, made_by_token
from adapters.xcp import _errors, _rrd
from adapters.xcp._mapping import (
    ACCOUNT,
    CREATED,
    FLAVOR,
    FROM_SNAPSHOT,
    GIB,
    IDEMPOTENCY,
    IMAGE,
    IMAGE_OWNER,
    SNAPSHOT_OWNER,
    TAGS,
    VOLUME_OF,
    VOLUME_OWNER,
    to_image,
    to_instance,
    to_snapshot,
    to_volume,
)
from adapters.xcp._xapi import Xapi
from adapters.xcp.config import XcpConfig

DRIVER = "xcp"
log = logging.getLogger("clanavi.adapters.xcp")
MIB = 1024**2
NULL = "OpaqueRef:NULL"

_DEVICE = re.compile(r"^(?:/dev/)?xvd([a-p])$")
# clean_shutdown / clean_reboot need the guest's cooperation (PV drivers); without it, pull the plug. Today's xapi
# refuses with VM_LACKS_FEATURE [vm]; older ones said VM_MISSING_PV_DRIVERS [vm].
_NEEDS_FORCE = frozenset({"VM_MISSING_PV_DRIVERS", "VM_LACKS_FEATURE", "VM_LACKS_FEATURE_SHUTDOWN"})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class XcpAdapter(AdapterBase):
    driver: ClassVar[str] = DRIVER
    errors = _errors
    features: ClassVar[frozenset[Feature]] = MACHINE_FEATURES | {
        Feature.VOLUME_ATTACH,
        Feature.INSTANCE_SUSPEND,
        Feature.METRICS,
    }
    config_model: ClassVar[type[XcpConfig]] = XcpConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    def __init__(self, account_id: str, config: XcpConfig, xapi: Xapi, sr: str, network: str | None) -> None:
        self.account_id = account_id
        self.config = config
        self.xapi = xapi
        self._sr = sr
        self._network = network
        self._flavors = Flavors(config.flavors)
        # One launch at a time, so two retries of one client token cannot both clone.
        self._launching = threading.Lock()
        # One create of a volume, snapshot or image at a time, for the same reason.
        self._creating = threading.Lock()

    @classmethod
    async def open(cls, account_id: str, config: XcpConfig) -> XcpAdapter:
        """Logs in to the pool master once for the account; everything Clanavi keeps lives in XAPI's other_config."""
        xapi = Xapi(config.url, ignore_ssl=config.ignore_ssl)
        await run_in_thread(
            cls.driver, cls.errors, "connect", xapi.login, config.username, config.password.get_secret_value()
        )
        try:
            sr, network = await run_in_thread(cls.driver, cls.errors, "connect", _resolve, xapi, config)
        except BaseException:
            await asyncio.to_thread(xapi.logout)
            raise
        return cls(account_id, config, xapi, sr, network)

    async def close(self) -> None:
        await self._run("close", self.xapi.logout)

    # --- flavors and images -------------------------------------------------------------------------------------

    async def list_flavors(self) -> Sequence[Flavor]:
        return self._flavors.all()

    async def get_flavor(self, flavor_id: str) -> Flavor:
        return self._flavors.get(flavor_id)

    async def list_images(self) -> Sequence[Image]:
        return await self._run(Operation.LIST_IMAGES, self._list_images)

    def _list_images(self) -> list[Image]:
        images = [to_image(rec) for rec in self.xapi.records("VM").values() if self._is_image(rec)]
        return sorted(images, key=lambda i: (i.name, i.id))

    def _is_image(self, rec: Mapping[str, Any]) -> bool:
        if not rec["is_a_template"] or rec.get("is_control_domain"):
            return False
        owner = rec["other_config"].get(IMAGE_OWNER)
        # The pool's templates, plus the images this account made (not other accounts' or others' snapshots).
        return owner == self.account_id if owner is not None or rec.get("is_a_snapshot") else True

    async def get_image(self, image_id: str) -> Image:
        return await self._run(Operation.GET_IMAGE, self._get_image, image_id)

    def _get_image(self, image_id: str) -> Image:
        ref, rec = self._vm_by_uuid(image_id)
        if not self._is_image(rec):
            raise CloudNotFound(f"no image {image_id}")
        return to_image(rec)

    def _made_by(self, kind: str, owned: Callable[[Mapping[str, Any]], bool], client_token: str) -> str | None:
        """The object of class `kind` (VM, VDI) of this account that a create with this client token made."""
        for ref, rec in self.xapi.records(kind).items():
            if owned(rec) and rec["other_config"].get(IDEMPOTENCY) == client_token:
                return ref
        return None

    async def create_image(self, instance_id: str, name: str, *, client_token: str) -> Image:
        return await self._run(Operation.CREATE_IMAGE, self._create_image, instance_id, name, client_token)

    def _create_image(self, instance_id: str, name: str, client_token: str) -> Image:
        with self._creating:
            made = self._made_by("VM", self._is_own_image, client_token)
            if made is not None:
                return made_by_token("image", to_image(self.xapi.record("VM", made)), name=name)
            ref, rec = self._instance_ref(instance_id)
            snapshot = self.xapi.call("VM.snapshot", ref, name)
            source_os = self._image_os(rec)
            self.xapi.call(
                "VM.set_other_config",
                snapshot,
                {
                    IMAGE_OWNER: self.account_id,
                    IDEMPOTENCY: client_token,
                    CREATED: _now_iso(),
                    "clanavi_os": source_os,
                    "clanavi_source": instance_id,
                },
            )
            return to_image(self.xapi.record("VM", snapshot))

    def _is_own_image(self, rec: Mapping[str, Any]) -> bool:
        return self._is_image(rec) and rec["other_config"].get(IMAGE_OWNER) == self.account_id

    def _image_os(self, rec: Mapping[str, Any]) -> str:
        image_id = rec["other_config"].get(IMAGE)
        if image_id:
            try:
                return self._get_image(image_id).os
            except CloudNotFound:
                pass
        return "unknown"

    async def deregister_image(self, image_id: str) -> None:
        await self._run(Operation.DEREGISTER_IMAGE, self._deregister_image, image_id)

    def _deregister_image(self, image_id: str) -> None:
        ref, rec = self._vm_by_uuid(image_id)
        if not self._is_image(rec):
            raise CloudNotFound(f"no image {image_id}")
        if rec["other_config"].get(IMAGE_OWNER) != self.account_id:
            raise InvalidCloudRequest(f"image {image_id} is one of the pool's templates, not one this account made")
        self._destroy_vm_and_disks(ref, rec)

    # --- instances ------------------------------------------------------------------------------------------------

    def _is_instance(self, rec: Mapping[str, Any]) -> bool:
        return (
            not rec["is_a_template"]
            and not rec.get("is_control_domain")
            and rec["other_config"].get(ACCOUNT) == self.account_id
        )

    def _guest(self, rec: Mapping[str, Any]) -> Mapping[str, Any] | None:
        ref = rec.get("guest_metrics", NULL)
        if ref == NULL:
            return None
        try:
            return self.xapi.record("VM_guest_metrics", ref)
        except CloudNotFound:
            return None

    def _vm_by_uuid(self, vm_uuid: str) -> tuple[str, dict[str, Any]]:
        ref: str = self.xapi.call("VM.get_by_uuid", vm_uuid)
        return ref, self.xapi.record("VM", ref)

    def _instance_ref(self, instance_id: str) -> tuple[str, dict[str, Any]]:
        ref, rec = self._vm_by_uuid(instance_id)
        if not self._is_instance(rec):
            raise CloudNotFound(f"no instance {instance_id} in this account")
        return ref, rec

    def _read(self, ref: str) -> Instance:
        rec = self.xapi.record("VM", ref)
        return to_instance(rec, self._guest(rec))

    def _all_instances(self) -> list[Instance]:
        vms = self.xapi.records("VM")
        mine = [rec for rec in vms.values() if self._is_instance(rec)]
        guests = self.xapi.records("VM_guest_metrics") if any(r["guest_metrics"] != NULL for r in mine) else {}
        return sorted((to_instance(r, guests.get(r["guest_metrics"])) for r in mine), key=lambda i: i.id)

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Page[Instance]:
        if limit < 1:
            raise InvalidCloudRequest("limit must be at least 1")
        every = await self._run(Operation.LIST_INSTANCES, self._all_instances)
        after = [i for i in every if cursor is None or i.id > cursor]
        page = after[:limit]
        return Page(page, page[-1].id if len(after) > limit else None)

    async def get_instances(self, instance_ids: Sequence[str]) -> Sequence[Instance]:
        if not instance_ids:
            return []
        wanted = set(instance_ids)
        return [i for i in await self._run(Operation.GET_INSTANCES, self._all_instances) if i.id in wanted]

    async def launch_instance(self, spec: LaunchSpec) -> Instance:
        refused = [
            what
            for what, asked in (
                ("user_data", spec.user_data is not None),
                ("key_name", spec.key_name is not None),
                ("security_group_ids", bool(spec.security_group_ids)),
                ("zone", spec.zone is not None),
            )
            if asked
        ]
        if refused:
            raise UnsupportedOperation(DRIVER, f"launch_instance with {', '.join(refused)}")
        flavor = await self.get_flavor(spec.flavor_id)
        return await self._run(Operation.LAUNCH_INSTANCE, self._launch, spec, flavor)

    def _launch(self, spec: LaunchSpec, flavor: Flavor) -> Instance:
        with self._launching:
            for ref, rec in self.xapi.records("VM").items():
                if self._is_instance(rec) and rec["other_config"].get(IDEMPOTENCY) == spec.client_token:
                    return self._read(ref)  # launched before with this token: the same instance
            template, template_rec = self._vm_by_uuid(spec.image_id)
            if not self._is_image(template_rec):
                raise CloudNotFound(f"no image {spec.image_id}")
            vm = self.xapi.call("VM.clone", template, spec.name)
            try:
                # Claim the token first: a crash after this point leaves a VM the retry finds (and finishes).
                self.xapi.call(
                    "VM.set_other_config",
                    vm,
                    {
                        **{
                            k: v
                            for k, v in self.xapi.call("VM.get_other_config", vm).items()
                            if not k.startswith("clanavi_")
                        },
                        ACCOUNT: self.account_id,
                        IDEMPOTENCY: spec.client_token,
                        IMAGE: spec.image_id,
                        FLAVOR: flavor.id,
                        CREATED: _now_iso(),
                        TAGS: json.dumps(dict(spec.tags), sort_keys=True),
                    },
                )
                self.xapi.call("VM.provision", vm)
                self._grow_root_disk(vm, flavor)
                self.xapi.call("VM.set_is_a_template", vm, False)
                memory = str(flavor.ram_mb * MIB)
                self.xapi.call("VM.set_memory_limits", vm, memory, memory, memory, memory)
                rec = self.xapi.record("VM", vm)
                if flavor.vcpus >= int(rec["VCPUs_max"]):
                    self.xapi.call("VM.set_VCPUs_max", vm, str(flavor.vcpus))
                    self.xapi.call("VM.set_VCPUs_at_startup", vm, str(flavor.vcpus))
                else:
                    self.xapi.call("VM.set_VCPUs_at_startup", vm, str(flavor.vcpus))
                    self.xapi.call("VM.set_VCPUs_max", vm, str(flavor.vcpus))
                if self._network is not None and not rec["VIFs"]:
                    self.xapi.call(
                        "VIF.create",
                        {
                            "device": "0",
                            "network": self._network,
                            "VM": vm,
                            "MAC": "",
                            "MTU": "1500",
                            "other_config": {},
                            "qos_algorithm_type": "",
                            "qos_algorithm_params": {},
                        },
                    )
                self.xapi.call("VM.start", vm, False, False)
            except BaseException:
                self._discard(vm)
                raise
            return self._read(vm)

    def _grow_root_disk(self, vm: str, flavor: Flavor) -> None:
        """The flavor's disk size for the root disk provisioning made, when the template's is smaller."""
        wanted = flavor.disk_gb * GIB
        for vbd in self.xapi.record("VM", vm)["VBDs"]:
            vbd_rec = self.xapi.record("VBD", vbd)
            if vbd_rec["userdevice"] != "0" or vbd_rec["type"] != "Disk" or vbd_rec["VDI"] == NULL:
                continue
            if int(self.xapi.record("VDI", vbd_rec["VDI"])["virtual_size"]) < wanted:
                self.xapi.call("VDI.resize", vbd_rec["VDI"], str(wanted))

    def _discard(self, vm: str) -> None:
        """Remove a VM whose launch failed half-way, and its disks; best effort (the original error matters more)."""
        try:
            rec = self.xapi.record("VM", vm)
            if rec["power_state"] != "Halted":
                self.xapi.call("VM.hard_shutdown", vm)
            self._destroy_vm_and_disks(vm, self.xapi.record("VM", vm))
        except Exception:  # noqa: S110 - the launch's own error is what the caller gets
            pass

    def _destroy_vm_and_disks(self, ref: str, rec: Mapping[str, Any]) -> None:
        """VM.destroy removes the VM and its VBDs but leaves the VDIs: its own disks go too, volumes stay."""
        own: list[str] = []
        for vbd in rec["VBDs"]:
            vbd_rec = self.xapi.record("VBD", vbd)
            if vbd_rec["type"] != "Disk" or vbd_rec["VDI"] == NULL:
                continue
            vdi_config = self.xapi.call("VDI.get_other_config", vbd_rec["VDI"])
            if VOLUME_OWNER not in vdi_config:
                own.append(vbd_rec["VDI"])
            elif vbd_rec["currently_attached"]:
                self.xapi.call("VBD.unplug", vbd)
        self.xapi.call("VM.destroy", ref)
        for vdi in own:
            self.xapi.call("VDI.destroy", vdi)

    def _power(self, instance_id: str, action: Callable[[str, str], None]) -> Instance:
        ref, rec = self._instance_ref(instance_id)
        action(ref, rec["power_state"])
        return self._read(ref)

    def _wake(self, ref: str, power: str) -> None:
        """Run a paused or suspended VM again; one in any other state is left as it is."""
        if power == "Suspended":
            self.xapi.call("VM.resume", ref, False, False)
        elif power == "Paused":
            self.xapi.call("VM.unpause", ref)

    async def start_instance(self, instance_id: str) -> Instance:
        def start(ref: str, power: str) -> None:
            if power == "Halted":
                self.xapi.call("VM.start", ref, False, False)
            else:
                self._wake(ref, power)

        return await self._run(Operation.START_INSTANCE, self._power, instance_id, start)

    def _gently(self, clean: str, hard: str, ref: str) -> None:
        try:
            self.xapi.call(clean, ref)
        except InvalidCloudState as exc:
            code = _errors.failure_code(exc.__cause__ or exc)
            if code not in _NEEDS_FORCE:
                raise
            log.warning(
                "%s refused (%s): the guest has no PV drivers to act on it; falling back to %s for VM %s",
                clean,
                code,
                hard,
                self.xapi.call("VM.get_uuid", ref),
            )
            self.xapi.call(hard, ref)

    async def stop_instance(self, instance_id: str) -> Instance:
        def stop(ref: str, power: str) -> None:
            if power == "Running":
                self._gently("VM.clean_shutdown", "VM.hard_shutdown", ref)
            elif power in ("Paused", "Suspended"):
                self.xapi.call("VM.hard_shutdown", ref)

        return await self._run(Operation.STOP_INSTANCE, self._power, instance_id, stop)

    async def reboot_instance(self, instance_id: str) -> Instance:
        return await self._run(
            Operation.REBOOT_INSTANCE,
            self._power,
            instance_id,
            lambda ref, _power: self._gently("VM.clean_reboot", "VM.hard_reboot", ref),
        )

    async def suspend_instance(self, instance_id: str) -> Instance:
        def suspend(ref: str, power: str) -> None:
            if power != "Suspended":
                self.xapi.call("VM.suspend", ref)

        return await self._run(Operation.SUSPEND_INSTANCE, self._power, instance_id, suspend)

    async def resume_instance(self, instance_id: str) -> Instance:
        def resume(ref: str, power: str) -> None:
            if power == "Halted":
                raise InvalidCloudState(f"instance {instance_id} is stopped, not suspended: start it")
            self._wake(ref, power)

        return await self._run(Operation.RESUME_INSTANCE, self._power, instance_id, resume)

    async def terminate_instance(self, instance_id: str) -> Instance:
        return await self._run(Operation.TERMINATE_INSTANCE, self._terminate, instance_id)

    def _terminate(self, instance_id: str) -> Instance:
        ref, rec = self._instance_ref(instance_id)
        last = to_instance(rec, state=InstanceState.TERMINATED)
        if rec["power_state"] != "Halted":
            self.xapi.call("VM.hard_shutdown", ref)
        self._destroy_vm_and_disks(ref, self.xapi.record("VM", ref))
        return last

    # --- volumes and snapshots ------------------------------------------------------------------------------------

    def _volume(self, rec: Mapping[str, Any], vbds: Mapping[str, Mapping[str, Any]]) -> Volume:
        attachment = next((vbds[v] for v in rec["VBDs"] if v in vbds), None)
        instance_id = None if attachment is None else str(self.xapi.call("VM.get_uuid", attachment["VM"]))
        return to_volume(rec, attachment, instance_id, self._sr)

    def _is_volume(self, rec: Mapping[str, Any]) -> bool:
        return not rec["is_a_snapshot"] and rec["other_config"].get(VOLUME_OWNER) == self.account_id

    def _is_snapshot(self, rec: Mapping[str, Any]) -> bool:
        return bool(rec["is_a_snapshot"]) and rec["other_config"].get(SNAPSHOT_OWNER) == self.account_id

    def _list_volumes(self) -> list[Volume]:
        vdis = [r for r in self.xapi.records("VDI").values() if self._is_volume(r)]
        vbds = self.xapi.records("VBD") if any(r["VBDs"] for r in vdis) else {}
        return sorted((self._volume(r, vbds) for r in vdis), key=lambda v: v.id)

    async def list_volumes(self) -> Sequence[Volume]:
        return await self._run(Operation.LIST_VOLUMES, self._list_volumes)

    def _vdi(self, vdi_uuid: str, owned: Callable[[Mapping[str, Any]], bool], kind: str) -> tuple[str, dict[str, Any]]:
        ref: str = self.xapi.call("VDI.get_by_uuid", vdi_uuid)
        rec = self.xapi.record("VDI", ref)
        if not owned(rec):
            raise CloudNotFound(f"no {kind} {vdi_uuid} in this account")
        return ref, rec

    def _read_volume(self, ref: str) -> Volume:
        rec = self.xapi.record("VDI", ref)
        return self._volume(rec, {v: self.xapi.record("VBD", v) for v in rec["VBDs"]})

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        if spec.zone is not None:
            raise UnsupportedOperation(DRIVER, "create_volume in a zone")
        if spec.size_gb < 1:
            raise InvalidCloudRequest("a volume is at least 1 GB")
        return await self._run(Operation.CREATE_VOLUME, self._create_volume, spec)

    def _create_volume(self, spec: VolumeSpec) -> Volume:
        with self._creating:
            made = self._made_by("VDI", self._is_volume, spec.client_token)
            if made is not None:
                volume = self._read_volume(made)
                return made_by_token("volume", volume, size_gb=spec.size_gb, snapshot_id=spec.snapshot_id)
            return self._new_volume(spec)

    def _new_volume(self, spec: VolumeSpec) -> Volume:
        config = {VOLUME_OWNER: self.account_id, IDEMPOTENCY: spec.client_token, CREATED: _now_iso()}
        if spec.snapshot_id is None:
            ref = self.xapi.call(
                "VDI.create",
                {
                    "name_label": spec.name,
                    "name_description": "",
                    "SR": self._sr,
                    "virtual_size": str(spec.size_gb * GIB),
                    "type": "user",
                    "sharable": False,
                    "read_only": False,
                    "other_config": config,
                    "xenstore_data": {},
                    "sm_config": {},
                    "tags": [],
                },
            )
            return self._read_volume(ref)
        snapshot, snap_rec = self._vdi(spec.snapshot_id, self._is_snapshot, "snapshot")
        if spec.size_gb * GIB != -(-int(snap_rec["virtual_size"]) // GIB) * GIB:
            raise InvalidCloudRequest("a volume made from a snapshot has the snapshot's size")
        ref = self.xapi.call("VDI.copy", snapshot, self._sr)
        self.xapi.call("VDI.set_name_label", ref, spec.name)
        self.xapi.call("VDI.set_other_config", ref, {**config, FROM_SNAPSHOT: spec.snapshot_id})
        return self._read_volume(ref)

    async def delete_volume(self, volume_id: str) -> None:
        await self._run(Operation.DELETE_VOLUME, self._delete_volume, volume_id)

    def _delete_volume(self, volume_id: str) -> None:
        ref, rec = self._vdi(volume_id, self._is_volume, "volume")
        if rec["VBDs"]:
            raise InvalidCloudState(f"volume {volume_id} is attached: detach it first")
        self.xapi.call("VDI.destroy", ref)

    async def attach_volume(self, volume_id: str, instance_id: str, device: str | None = None) -> Volume:
        userdevice = "autodetect"
        if device is not None:
            match = _DEVICE.match(device)
            if match is None:
                raise InvalidCloudRequest(f"device {device!r} is not a Xen disk name (xvdb ... xvdp)")
            userdevice = str(ord(match.group(1)) - ord("a"))
        return await self._run(Operation.ATTACH_VOLUME, self._attach, volume_id, instance_id, userdevice)

    def _attach(self, volume_id: str, instance_id: str, userdevice: str) -> Volume:
        vdi, rec = self._vdi(volume_id, self._is_volume, "volume")
        vm, vm_rec = self._instance_ref(instance_id)
        if rec["VBDs"]:
            raise InvalidCloudState(f"volume {volume_id} is already attached")
        vbd = self.xapi.call(
            "VBD.create",
            {
                "VM": vm,
                "VDI": vdi,
                "userdevice": userdevice,
                "bootable": False,
                "mode": "RW",
                "type": "Disk",
                "empty": False,
                "other_config": {},
                "qos_algorithm_type": "",
                "qos_algorithm_params": {},
            },
        )
        if vm_rec["power_state"] == "Running":
            try:
                self.xapi.call("VBD.plug", vbd)
            except BaseException:
                self.xapi.call("VBD.destroy", vbd)
                raise
        return self._read_volume(vdi)

    async def detach_volume(self, volume_id: str) -> Volume:
        return await self._run(Operation.DETACH_VOLUME, self._detach, volume_id)

    def _detach(self, volume_id: str) -> Volume:
        vdi, rec = self._vdi(volume_id, self._is_volume, "volume")
        if not rec["VBDs"]:
            raise InvalidCloudState(f"volume {volume_id} is not attached")
        for vbd in rec["VBDs"]:
            if self.xapi.record("VBD", vbd)["currently_attached"]:
                self.xapi.call("VBD.unplug", vbd)
            self.xapi.call("VBD.destroy", vbd)
        return self._read_volume(vdi)

    async def list_snapshots(self) -> Sequence[Snapshot]:
        return await self._run(Operation.LIST_SNAPSHOTS, self._list_snapshots)

    def _list_snapshots(self) -> list[Snapshot]:
        found = [to_snapshot(r) for r in self.xapi.records("VDI").values() if self._is_snapshot(r)]
        return sorted(found, key=lambda s: s.id)

    async def create_snapshot(self, volume_id: str, name: str, *, client_token: str) -> Snapshot:
        return await self._run(Operation.CREATE_SNAPSHOT, self._create_snapshot, volume_id, name, client_token)

    def _create_snapshot(self, volume_id: str, name: str, client_token: str) -> Snapshot:
        with self._creating:
            made = self._made_by("VDI", self._is_snapshot, client_token)
            if made is not None:
                return made_by_token("snapshot", to_snapshot(self.xapi.record("VDI", made)), volume_id=volume_id)
            vdi, _rec = self._vdi(volume_id, self._is_volume, "volume")
            snapshot = self.xapi.call("VDI.snapshot", vdi, {})
            self.xapi.call("VDI.set_name_label", snapshot, name)
            self.xapi.call(
                "VDI.set_other_config",
                snapshot,
                {SNAPSHOT_OWNER: self.account_id, VOLUME_OF: volume_id, IDEMPOTENCY: client_token, CREATED: _now_iso()},
            )
            return to_snapshot(self.xapi.record("VDI", snapshot))

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._run(Operation.DELETE_SNAPSHOT, self._delete_snapshot, snapshot_id)

    def _delete_snapshot(self, snapshot_id: str) -> None:
        ref, _rec = self._vdi(snapshot_id, self._is_snapshot, "snapshot")
        self.xapi.call("VDI.destroy", ref)

    # --- metrics --------------------------------------------------------------------------------------------------

    async def get_metrics(self, instance_id: str, since: datetime) -> Sequence[MetricSample]:
        return await self._run(Operation.GET_METRICS, self._metrics, instance_id, since)

    def _metrics(self, instance_id: str, since: datetime) -> list[MetricSample]:
        """The instance's samples from xcp-rrdd on the host it runs on. Only a resident domain has an RRD there (a
        halted or suspended VM's is archived on the master, out of `/rrd_updates`' reach), so any other has none."""
        _ref, rec = self._instance_ref(instance_id)
        host = rec["resident_on"]
        if rec["power_state"] not in ("Running", "Paused") or host == NULL:
            return []
        uuids = [instance_id]
        # xcp-rrdd answers 500 when none of the VMs asked for has an RRD yet, as a VM has not for its first seconds;
        # its host's control domain always has one, so that answer is left for real failures.
        dom0 = self.xapi.call("host.get_control_domain", host)
        if dom0 != NULL:
            uuids.append(str(self.xapi.call("VM.get_uuid", dom0)))
        pools = self.xapi.call("pool.get_all")
        master = self.xapi.call("pool.get_master", pools[0]) if pools else NULL
        address = None if host == master else str(self.xapi.call("host.get_address", host))
        body, content_type = self.xapi.get("/rrd_updates", _rrd.query(self.xapi.handle, since, uuids), address)
        return _rrd.samples(_rrd.parse(body, content_type), instance_id, since)


def _resolve(xapi: Xapi, config: XcpConfig) -> tuple[str, str | None]:
    """The SR volumes go to and the network VIFs go on, by name label, checked now rather than at first use."""
    if config.sr is None:
        pools = xapi.call("pool.get_all")
        sr: str = xapi.call("pool.get_default_SR", pools[0]) if pools else NULL
        if sr == NULL:
            raise InvalidCloudRequest("the pool has no default SR: name one in the account's `sr` setting")
    else:
        found = xapi.call("SR.get_by_name_label", config.sr)
        if not found:
            raise InvalidCloudRequest(f"no storage repository named {config.sr!r}")
        sr = found[0]
    network: str | None = None
    if config.network is not None:
        networks = xapi.call("network.get_by_name_label", config.network)
        if not networks:
            raise InvalidCloudRequest(f"no network named {config.network!r}")
        network = networks[0]
    return sr, network
