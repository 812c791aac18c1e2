"""v1 address (elastic / floating IP) events, published by the provisioner. `instance_id` is a Clanavi id."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _AddressEvent(EventPayload):
    address_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "address_id"


class _HeldAddressEvent(_AddressEvent):
    """An event of an address the cloud has allocated, which has an `ip` from then on."""

    ip: str


class AddressAllocated(_HeldAddressEvent):
    TYPE = "address.allocated"


class AddressAssociated(_HeldAddressEvent):
    TYPE = "address.associated"
    instance_id: str


class AddressDisassociated(_HeldAddressEvent):
    TYPE = "address.disassociated"
    instance_id: str | None


class AddressReleased(_AddressEvent):
    TYPE = "address.released"
    # None when the cloud had not allocated it yet.
    ip: str | None


class AddressFailed(_AddressEvent, ActionFailure):
    TYPE = "address.failed"
