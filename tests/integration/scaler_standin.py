"""A stand-in for the provisioner's commands consumer, for the scaler's tests: it answers each launch command with
the lifecycle events the provisioner publishes for a launch (or with `instance.failed`, like a cloud that fails every
launch) and each terminate with `instance.terminated`, and records the commands and the scaler's events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aio_pika.abc import AbstractIncomingMessage

from kernel.bus import Bus
from kernel.commands import LaunchInstance, TerminateInstance
from kernel.events import (
    Envelope,
    EventPayload,
    InstanceFailed,
    InstanceLaunched,
    InstanceRequested,
    InstanceRunning,
    InstanceTerminated,
    new_event,
)

__all__ = ["BINDINGS", "Cloud", "eventually"]

T = TypeVar("T")
# What the stand-in reads: the commands, and the scaler's own events (bound, so that the relay finds a route).
BINDINGS = ("provisioner.#", "scaling.#", "scaling_group.#", "scaling_policy.#")


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 15.0, what: str = "") -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@dataclass
class Cloud:
    """Answers the scaler's commands as the provisioner would, after it; `fail` makes every launch fail."""

    bus: Bus
    fail: bool = False
    commands: list[Envelope] = field(default_factory=list)
    scaling: list[Envelope] = field(default_factory=list)
    alive: set[str] = field(default_factory=set)
    most_alive: int = 0
    seen: set[uuid.UUID] = field(default_factory=set)

    async def publish(self, *payloads: EventPayload, project: str = "p1") -> None:
        envelopes = [new_event(p, project_id=project, correlation_id="c") for p in payloads]
        await self.bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        envelope = Envelope.model_validate_json(message.body)
        await message.ack()
        # The outbox publishes at least once; the provisioner's inbox drops what it has handled, and so does this.
        if envelope.id in self.seen:
            return
        self.seen.add(envelope.id)
        if envelope.type.startswith("scaling"):
            self.scaling.append(envelope)
            return
        self.commands.append(envelope)
        if envelope.type == LaunchInstance.TYPE:
            launch = LaunchInstance.model_validate(envelope.payload)
            iid = launch.instance_id
            self.alive.add(iid)
            self.most_alive = max(self.most_alive, len(self.alive))
            requested = InstanceRequested(
                instance_id=iid,
                cloud_id="sim",
                name=launch.name or iid,
                image_id="img",
                flavor_id="small",
                zone="zone-a",
                tags=launch.tags,
                template_id=launch.template_id,
                template_version=launch.template_version,
            )
            if self.fail:
                await self.publish(
                    requested,
                    InstanceFailed(
                        instance_id=iid, cloud_id="sim", provider_id=None, reason="the cloud refused the launch"
                    ),
                )
            else:
                await self.publish(
                    requested,
                    InstanceLaunched(
                        instance_id=iid, cloud_id="sim", provider_id=iid, flavor_id="small", image_id="img"
                    ),
                    InstanceRunning(
                        instance_id=iid, cloud_id="sim", provider_id=iid, flavor_id="small", previous_state="pending"
                    ),
                )
        elif envelope.type == TerminateInstance.TYPE:
            iid = TerminateInstance.model_validate(envelope.payload).instance_id
            self.alive.discard(iid)
            await self.publish(InstanceTerminated(instance_id=iid, cloud_id="sim", provider_id=iid))

    def launched(self) -> list[str]:
        return [e.payload["instance_id"] for e in self.commands if e.type == LaunchInstance.TYPE]

    def terminated(self) -> list[str]:
        return [e.payload["instance_id"] for e in self.commands if e.type == TerminateInstance.TYPE]
