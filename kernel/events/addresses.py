"""v1 address (elastic / floating IP) events, published by the provisioner. `instance_id` is a Clanavi id."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _AddressEvent(EventPayload):
    address_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "address_id"


class AddressAllocated(_AddressEvent):
    TYPE = "address.allocated"
    ip: str


class AddressAssociated(_AddressEvent):
    TYPE = "address.associated"
    ip: str
    instance_id: str


class AddressDisassociated(_AddressEvent):
    TYPE = "address.disassociated"
    ip: str
    instance_id: str | None


class AddressReleased(_AddressEvent):
    TYPE = "address.released"
    ip: str | None


class AddressFailed(_AddressEvent, ActionFailure):
    TYPE = "address.failed"
