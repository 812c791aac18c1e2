"""The failover service driven over the bus as the provisioner would drive it: lifecycle and address events published
on a real RabbitMQ, and the commands it publishes caught by a queue bound to everything (as the audit's is)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from kernel.bus import Bus
from kernel.commands import SCALING_GROUP_TAG
from kernel.events import (
    AddressAssociated,
    Envelope,
    EventPayload,
    InstanceFailed,
    InstanceRequested,
    InstanceRunning,
    new_event,
)

PROJECT = "p1"


@dataclass
class Caught:
    """Every message the bus carried, with when it arrived (monotonic seconds)."""

    messages: list[tuple[float, Envelope]] = field(default_factory=list)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.messages.append((time.monotonic(), Envelope.model_validate(json.loads(message.body))))

    def of(self, type_: str, **payload: Any) -> list[Envelope]:
        return [
            e for _, e in self.messages if e.type == type_ and all(e.payload.get(k) == v for k, v in payload.items())
        ]

    def distinct(self, type_: str, **payload: Any) -> list[Envelope]:
        """Each message once: a relay killed between publishing and forgetting a message publishes it again, with
        its id, which the receiver's inbox drops."""
        seen: dict[uuid.UUID, Envelope] = {}
        for e in self.of(type_, **payload):
            seen.setdefault(e.id, e)
        return list(seen.values())

    async def wait(self, what: Callable[[], Any], within: float = 15.0) -> Any:
        deadline = time.monotonic() + within
        while True:
            found = what()
            if found:
                return found
            if time.monotonic() > deadline:
                types = sorted({e.type for _, e in self.messages})
                raise AssertionError(f"not seen within {within}s (types seen: {types})")
            await asyncio.sleep(0.02)


async def listen(url: str, prefix: str) -> tuple[Bus, Caught]:
    bus = Bus(url, prefix=prefix, service="test-listener")
    await bus.connect()
    caught = Caught()
    await bus.subscribe(bindings=("#",), callback=caught, max_deliveries=5, prefetch=200)
    return bus, caught


async def publish(bus: Bus, *payloads: EventPayload, project: str = PROJECT) -> list[Envelope]:
    envelopes = [new_event(p, project_id=project, correlation_id=f"test-{uuid.uuid4().hex[:8]}") for p in payloads]
    await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])
    return envelopes


def requested(instance_id: str, *, group: str = "g1", zone: str = "zone-a", version: int = 1) -> InstanceRequested:
    return InstanceRequested(
        instance_id=instance_id,
        cloud_id="sim",
        name=instance_id,
        image_id="img",
        flavor_id="sim.nano",
        zone=zone,
        tags={SCALING_GROUP_TAG: group},
        template_id="tpl-1",
        template_version=version,
    )


def running(instance_id: str) -> InstanceRunning:
    return InstanceRunning(
        instance_id=instance_id,
        cloud_id="sim",
        provider_id=f"sim-{instance_id}",
        flavor_id="sim.nano",
        previous_state="pending",
    )


def failed(instance_id: str) -> InstanceFailed:
    return InstanceFailed(instance_id=instance_id, cloud_id="sim", provider_id=None, reason="host lost")


def associated(instance_id: str, ip: str, address_id: str = "addr-1") -> AddressAssociated:
    return AddressAssociated(address_id=address_id, cloud_id="sim", provider_id=None, ip=ip, instance_id=instance_id)


def policy_body(name: str = "web", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "target": {"kind": "scaling_group", "scaling_group_id": "g1"},
        "grace_seconds": 0,
        "action": "replace",
    }
    body.update(changes)
    return body
