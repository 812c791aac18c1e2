"""What conformance cases share: polling with a deadline, read-back of each resource kind, unique names, cleanup."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from adapters.base import (
    Address,
    CloudError,
    CloudNotFound,
    Image,
    Instance,
    InstanceState,
    InvalidCloudState,
    KeyPair,
    LaunchSpec,
    SecurityGroup,
    Snapshot,
    Volume,
    VolumeState,
)
from tests.contract.cloud import ContractCloud

T = TypeVar("T")

# Polling starts quick (SimCloud's harness settles in a fraction of a second) and backs off to this.
_MAX_INTERVAL = 0.25


def unique(kind: str) -> str:
    """A name no other case (or earlier run against a shared cloud) uses: `ct-<kind>-<10 hex digits>`."""
    return f"ct-{kind}-{uuid.uuid4().hex[:10]}"


def missing_like(real_id: str) -> str:
    """An id shaped like `real_id` (same length, same classes of characters) that names nothing.

    Clouds validate id formats (EC2 refuses a malformed `i-...` as malformed, not as missing), so an unknown id is
    made from a real one: its last eight letters and digits are rotated within their class.
    """
    chars = list(real_id)
    changed = 0
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
        if c.isdigit():
            chars[i] = str((int(c) + 5) % 10)
        elif "a" <= c <= "f":
            chars[i] = "abcdef"[("abcdef".index(c) + 3) % 6]
        elif "A" <= c <= "F":
            chars[i] = "ABCDEF"[("ABCDEF".index(c) + 3) % 6]
        elif c.isascii() and c.isalpha():
            base = ord("a") if c.islower() else ord("A")
            chars[i] = chr(base + (ord(c) - base + 13) % 26)
        else:
            continue
        changed += 1
        if changed == 8:
            break
    assert changed, f"cannot make an unknown id from {real_id!r}"
    return "".join(chars)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    within: float,
    *,
    until: Callable[[T], bool] = bool,
    what: str = "the condition",
) -> T:
    """Call `probe` until `until` holds for its answer, within `within` seconds; that answer, else AssertionError.

    Retryable cloud errors (throttling, unavailability) count as "not yet"; any other error fails at once.
    """
    deadline = time.monotonic() + within
    interval = 0.02
    last: object = "nothing (no answer yet)"
    while True:
        try:
            value = await probe()
        except CloudError as exc:
            if not exc.retryable:
                raise
            last = exc
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {within} s; last seen: {last!r}")
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, _MAX_INTERVAL)


# --- read-back ---------------------------------------------------------------------------------------------------


async def find_instance(cloud: ContractCloud, instance_id: str) -> Instance | None:
    found = [i for i in await cloud.adapter.get_instances([instance_id]) if i.id == instance_id]
    assert len(found) <= 1, f"get_instances answered {instance_id} more than once: {found}"
    return found[0] if found else None


async def all_instances(cloud: ContractCloud, *, limit: int = 100) -> list[Instance]:
    """Every instance, walking `list_instances` page by page; fails on a repeated id or a cursor that loops."""
    seen: list[Instance] = []
    cursors: set[str] = set()
    cursor: str | None = None
    while True:
        page = await cloud.adapter.list_instances(cursor=cursor, limit=limit)
        assert len(page.items) <= limit, f"a page of limit {limit} held {len(page.items)} instances"
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        assert page.next_cursor not in cursors, f"list_instances handed out cursor {page.next_cursor!r} twice"
        cursors.add(page.next_cursor)
        cursor = page.next_cursor
    repeated = sorted(i for i, n in Counter(i.id for i in seen).items() if n > 1)
    assert not repeated, f"list_instances (limit {limit}) answered these more than once: {repeated}"
    return seen


async def find_key_pair(cloud: ContractCloud, name: str) -> KeyPair | None:
    return _only(name, [k for k in await cloud.adapter.list_key_pairs() if k.name == name])


async def find_group(cloud: ContractCloud, group_id: str) -> SecurityGroup | None:
    return _only(group_id, [g for g in await cloud.adapter.list_security_groups() if g.id == group_id])


async def find_volume(cloud: ContractCloud, volume_id: str) -> Volume | None:
    return _only(volume_id, [v for v in await cloud.adapter.list_volumes() if v.id == volume_id])


async def find_snapshot(cloud: ContractCloud, snapshot_id: str) -> Snapshot | None:
    return _only(snapshot_id, [s for s in await cloud.adapter.list_snapshots() if s.id == snapshot_id])


async def find_address(cloud: ContractCloud, address_id: str) -> Address | None:
    return _only(address_id, [a for a in await cloud.adapter.list_addresses() if a.id == address_id])


async def find_image(cloud: ContractCloud, image_id: str) -> Image | None:
    """The image as `get_image` reads it, or None when the cloud no longer knows it."""
    try:
        return await cloud.adapter.get_image(image_id)
    except CloudNotFound:
        return None


def _only(key: str, found: Sequence[T]) -> T | None:
    assert len(found) <= 1, f"{key} is listed more than once: {found}"
    return found[0] if found else None


def _gone(resource: object) -> bool:
    return resource is None


# --- waiting for a state -----------------------------------------------------------------------------------------


async def wait_instance(cloud: ContractCloud, instance_id: str, state: InstanceState) -> Instance:
    """The instance once it reads `state` (within the cloud's settle time); fails early if it ends in `error`."""

    async def probe() -> Instance | None:
        # None (not listed) counts as "not yet": a cloud may take a moment to show what it just launched.
        instance = await find_instance(cloud, instance_id)
        if instance is not None and state is not InstanceState.ERROR:
            assert instance.state is not InstanceState.ERROR, f"instance {instance_id} failed: {instance.reason}"
        return instance

    found = await eventually(
        probe,
        cloud.settle_seconds,
        until=lambda i: i is not None and i.state is state,
        what=f"instance {instance_id} reading {state.value}",
    )
    assert found is not None
    return found


async def wait_instance_gone(cloud: ContractCloud, instance_id: str) -> None:
    """Until the instance reads terminated or is no longer returned at all."""
    await eventually(
        lambda: find_instance(cloud, instance_id),
        cloud.settle_seconds,
        until=lambda i: i is None or i.state is InstanceState.TERMINATED,
        what=f"instance {instance_id} terminated or gone",
    )


async def wait_volume(cloud: ContractCloud, volume_id: str, state: VolumeState) -> Volume:
    found = await eventually(
        lambda: find_volume(cloud, volume_id),
        cloud.settle_seconds,
        until=lambda v: v is not None and v.state is state,
        what=f"volume {volume_id} reading {state.value}",
    )
    assert found is not None
    return found


async def wait_gone(probe: Callable[[], Awaitable[object]], within: float, what: str) -> None:
    await eventually(probe, within, until=_gone, what=f"{what} gone")


# --- launching ---------------------------------------------------------------------------------------------------


def launch_spec(
    cloud: ContractCloud,
    *,
    name: str | None = None,
    client_token: str | None = None,
    key_name: str | None = None,
    security_group_ids: tuple[str, ...] = (),
    user_data: str | None = None,
    zone: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> LaunchSpec:
    return LaunchSpec(
        name=name or unique("vm"),
        image_id=cloud.image_id,
        flavor_id=cloud.flavor_id,
        client_token=client_token or uuid.uuid4().hex,
        key_name=key_name,
        security_group_ids=security_group_ids,
        user_data=user_data,
        zone=zone or cloud.zone,
        tags=dict(tags or {}),
    )


async def launch(cloud: ContractCloud, cleanup: Cleanup, spec: LaunchSpec | None = None) -> Instance:
    """Launch (the spec, or a plain one) and register the instance for cleanup."""
    instance = await cloud.adapter.launch_instance(spec or launch_spec(cloud))
    cleanup.instance(instance.id)
    return instance


async def running_instance(cloud: ContractCloud, cleanup: Cleanup, spec: LaunchSpec | None = None) -> Instance:
    instance = await launch(cloud, cleanup, spec)
    return await wait_instance(cloud, instance.id, InstanceState.RUNNING)


# --- cleanup -----------------------------------------------------------------------------------------------------


class Cleanup:
    """Undoes what a case created, newest first; a resource the case already removed is fine.

    Each step is retried while the cloud answers that the resource is busy (a group still used by a terminating
    instance, a volume still detaching), within the cloud's settle time. Failures are collected and raised together
    after every step has had its go, so one stuck resource does not leak the others.
    """

    def __init__(self, cloud: ContractCloud) -> None:
        self._cloud = cloud
        self._steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def instance(self, instance_id: str) -> None:
        self._steps.append((f"instance {instance_id}", lambda: self._instance(instance_id)))

    def image(self, image_id: str) -> None:
        self._steps.append((f"image {image_id}", lambda: self._cloud.adapter.deregister_image(image_id)))

    def key_pair(self, name: str) -> None:
        self._steps.append((f"key pair {name}", lambda: self._cloud.adapter.delete_key_pair(name)))

    def security_group(self, group_id: str) -> None:
        self._steps.append((f"security group {group_id}", lambda: self._cloud.adapter.delete_security_group(group_id)))

    def volume(self, volume_id: str) -> None:
        self._steps.append((f"volume {volume_id}", lambda: self._volume(volume_id)))

    def snapshot(self, snapshot_id: str) -> None:
        self._steps.append((f"snapshot {snapshot_id}", lambda: self._cloud.adapter.delete_snapshot(snapshot_id)))

    def address(self, address_id: str) -> None:
        self._steps.append((f"address {address_id}", lambda: self._address(address_id)))

    async def _instance(self, instance_id: str) -> None:
        await self._cloud.adapter.terminate_instance(instance_id)
        await wait_instance_gone(self._cloud, instance_id)

    async def _volume(self, volume_id: str) -> None:
        volume = await find_volume(self._cloud, volume_id)
        if volume is None or volume.state is VolumeState.DELETED:
            return
        if volume.instance_id is not None:
            await self._cloud.adapter.detach_volume(volume_id)
            await wait_volume(self._cloud, volume_id, VolumeState.AVAILABLE)
        await self._cloud.adapter.delete_volume(volume_id)

    async def _address(self, address_id: str) -> None:
        address = await find_address(self._cloud, address_id)
        if address is None:
            return
        if address.instance_id is not None:
            await self._cloud.adapter.disassociate_address(address_id)
        await self._cloud.adapter.release_address(address_id)

    async def _step(self, step: Callable[[], Awaitable[object]]) -> None:
        deadline = time.monotonic() + self._cloud.settle_seconds
        while True:
            try:
                await step()
                return
            except CloudNotFound:
                return
            except CloudError as exc:
                busy = isinstance(exc, InvalidCloudState) or exc.retryable
                if not busy or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        errors: list[Exception] = []
        while self._steps:
            what, step = self._steps.pop()
            try:
                await self._step(step)
            except Exception as exc:
                exc.add_note(f"while cleaning up {what}")
                errors.append(exc)
        if errors:
            raise ExceptionGroup("the contract case could not clean up after itself", errors)


__all__ = [
    "Cleanup",
    "all_instances",
    "eventually",
    "find_address",
    "find_group",
    "find_image",
    "find_instance",
    "find_key_pair",
    "find_snapshot",
    "find_volume",
    "launch",
    "launch_spec",
    "missing_like",
    "running_instance",
    "unique",
    "wait_gone",
    "wait_instance",
    "wait_instance_gone",
    "wait_volume",
]
