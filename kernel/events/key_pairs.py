"""v1 key pair events, published by the provisioner. A private key never travels in an event."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _KeyPairEvent(EventPayload):
    key_pair_id: str
    cloud_id: str
    # A key pair's name is its id in the cloud.
    name: str

    SUBJECT = "key_pair_id"


class KeyPairCreated(_KeyPairEvent):
    """The cloud holds the key pair: generated there (`imported` false) or imported from a public key."""

    TYPE = "key_pair.created"
    fingerprint: str
    imported: bool


class KeyPairDeleted(_KeyPairEvent):
    TYPE = "key_pair.deleted"


class KeyPairFailed(_KeyPairEvent, ActionFailure):
    """The cloud could not carry out `action`; the key pair is left in `state`."""

    TYPE = "key_pair.failed"
