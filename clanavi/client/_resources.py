"""Key pairs, security groups and their rules, volumes, snapshots and addresses.

A write answers the record once the cloud did it (201 or 200), or with its `pending_action` when the cloud did not
answer and Clanavi finishes it in the background (202): either way the record as it is now."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from clanavi.client._calls import Call, body, model_of, page_of, path, query
from clanavi.client._endpoints import M, listing, operation
from clanavi.client._listing import Order
from clanavi.client._pages import Listing
from clanavi.client._records import Records
from services.provisioner.resources.schemas import (
    AddressAllocate,
    AddressAssociate,
    AddressOut,
    AddressStateName,
    KeyPairCreate,
    KeyPairImport,
    KeyPairOut,
    KeyPairState,
    NewKeyPairOut,
    SecurityGroupCreate,
    SecurityGroupOut,
    SecurityGroupState,
    SecurityRuleIn,
    SnapshotCreate,
    SnapshotOut,
    SnapshotStateName,
    VolumeAttach,
    VolumeCreate,
    VolumeOut,
    VolumeStateName,
)

__all__ = ["Addresses", "KeyPairs", "SecurityGroups", "Snapshots", "Volumes"]

Body = Mapping[str, Any]


class KeyPairs(Records[M, KeyPairOut]):
    route, what, model = "/v1/key-pairs", "key pair", KeyPairOut
    ended = frozenset({"error", "deleted"})

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: KeyPairState | Collection[KeyPairState] | None = None,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[KeyPairOut]:
        filters = query(cloud_id=cloud_id, state=state, name=name)
        return Listing(self.route, page_of(KeyPairOut), filters, query(sort=sort, order=order), limit)

    @operation
    def create(self, key_pair: KeyPairCreate | Body, *, idempotency_key: str | None = None) -> Call[NewKeyPairOut]:
        """A key pair the cloud generates: the answer holds its private key, shown this once."""
        content = body(KeyPairCreate, key_pair)
        return Call("POST", self.route, model_of(NewKeyPairOut), content=content, idempotency_key=idempotency_key)

    @operation
    def import_key(self, key_pair: KeyPairImport | Body, *, idempotency_key: str | None = None) -> Call[KeyPairOut]:
        """A key pair from an OpenSSH public key."""
        content = body(KeyPairImport, key_pair)
        return Call(
            "POST", self.route + "/import", model_of(KeyPairOut), content=content, idempotency_key=idempotency_key
        )

    @operation
    def delete(self, key_pair_id: str) -> Call[KeyPairOut]:
        """Delete a key pair; repeating it is harmless."""
        return self._on("DELETE", key_pair_id)


class SecurityGroups(Records[M, SecurityGroupOut]):
    route, what, model = "/v1/security-groups", "security group", SecurityGroupOut
    ended = frozenset({"error", "deleted"})

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: SecurityGroupState | Collection[SecurityGroupState] | None = None,
        name: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[SecurityGroupOut]:
        filters = query(cloud_id=cloud_id, state=state, name=name)
        return Listing(self.route, page_of(SecurityGroupOut), filters, query(sort=sort, order=order), limit)

    @operation
    def create(
        self, group: SecurityGroupCreate | Body, *, idempotency_key: str | None = None
    ) -> Call[SecurityGroupOut]:
        content = body(SecurityGroupCreate, group)
        return Call("POST", self.route, model_of(SecurityGroupOut), content=content, idempotency_key=idempotency_key)

    @operation
    def delete(self, group_id: str) -> Call[SecurityGroupOut]:
        """Delete a group (409 while instances that are not terminated use it); repeating it is harmless."""
        return self._on("DELETE", group_id)

    @operation
    def authorize(
        self, group_id: str, rule: SecurityRuleIn | Body, *, idempotency_key: str | None = None
    ) -> Call[SecurityGroupOut]:
        """Authorize a rule; the group answers with its rules, each with the `id` to revoke it by."""
        content = body(SecurityRuleIn, rule)
        return self._on("POST", group_id, "/rules", content=content, idempotency_key=idempotency_key)

    @operation
    def revoke(self, group_id: str, rule_id: str) -> Call[SecurityGroupOut]:
        """Revoke a rule, by the id the group lists it with."""
        return Call("DELETE", path(self.route + "/{}/rules/{}", group_id, rule_id), model_of(SecurityGroupOut))


class Volumes(Records[M, VolumeOut]):
    route, what, model = "/v1/volumes", "volume", VolumeOut
    ended = frozenset({"error", "deleted", "gone"})

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: VolumeStateName | Collection[VolumeStateName] | None = None,
        name: str | None = None,
        instance_id: str | None = None,
        discovered: bool | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[VolumeOut]:
        filters = query(cloud_id=cloud_id, state=state, name=name, instance_id=instance_id, discovered=discovered)
        return Listing(self.route, page_of(VolumeOut), filters, query(sort=sort, order=order), limit)

    @operation
    def create(self, volume: VolumeCreate | Body, *, idempotency_key: str | None = None) -> Call[VolumeOut]:
        """An empty volume (`size_gb`), or one made from a snapshot (`snapshot_id`): creating -> available."""
        content = body(VolumeCreate, volume)
        return Call("POST", self.route, model_of(VolumeOut), content=content, idempotency_key=idempotency_key)

    @operation
    def delete(self, volume_id: str) -> Call[VolumeOut]:
        """Delete an available volume; repeating it is harmless."""
        return self._on("DELETE", volume_id)

    @operation
    def attach(
        self, volume_id: str, attachment: VolumeAttach | Body, *, idempotency_key: str | None = None
    ) -> Call[VolumeOut]:
        """Attach to an instance of the same cloud: attaching -> in-use."""
        content = body(VolumeAttach, attachment)
        return self._on("POST", volume_id, "/actions/attach", content=content, idempotency_key=idempotency_key)

    @operation
    def detach(self, volume_id: str, *, idempotency_key: str | None = None) -> Call[VolumeOut]:
        """Detach: detaching -> available."""
        return self._on("POST", volume_id, "/actions/detach", idempotency_key=idempotency_key)


class Snapshots(Records[M, SnapshotOut]):
    route, what, model = "/v1/snapshots", "snapshot", SnapshotOut
    ended = frozenset({"error", "deleted"})

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: SnapshotStateName | Collection[SnapshotStateName] | None = None,
        name: str | None = None,
        volume_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[SnapshotOut]:
        filters = query(cloud_id=cloud_id, state=state, name=name, volume_id=volume_id)
        return Listing(self.route, page_of(SnapshotOut), filters, query(sort=sort, order=order), limit)

    @operation
    def create(self, snapshot: SnapshotCreate | Body, *, idempotency_key: str | None = None) -> Call[SnapshotOut]:
        """Snapshot a volume: pending -> available."""
        content = body(SnapshotCreate, snapshot)
        return Call("POST", self.route, model_of(SnapshotOut), content=content, idempotency_key=idempotency_key)

    @operation
    def delete(self, snapshot_id: str) -> Call[SnapshotOut]:
        """Delete a snapshot; repeating it is harmless."""
        return self._on("DELETE", snapshot_id)


class Addresses(Records[M, AddressOut]):
    route, what, model = "/v1/addresses", "address", AddressOut
    ended = frozenset({"error", "released"})

    @listing
    def list(
        self,
        *,
        cloud_id: str | None = None,
        state: AddressStateName | Collection[AddressStateName] | None = None,
        name: str | None = None,
        instance_id: str | None = None,
        sort: str | None = None,
        order: Order | None = None,
        limit: int | None = None,
    ) -> Listing[AddressOut]:
        filters = query(cloud_id=cloud_id, state=state, name=name, instance_id=instance_id)
        return Listing(self.route, page_of(AddressOut), filters, query(sort=sort, order=order), limit)

    @operation
    def allocate(
        self, address: AddressAllocate | Body | None = None, *, idempotency_key: str | None = None
    ) -> Call[AddressOut]:
        """A public address (elastic or floating IP), in SimCloud unless `cloud_id` says otherwise."""
        content = body(AddressAllocate, address if address is not None else {})
        return Call("POST", self.route, model_of(AddressOut), content=content, idempotency_key=idempotency_key)

    @operation
    def release(self, address_id: str) -> Call[AddressOut]:
        """Release an address that is not associated; repeating it is harmless."""
        return self._on("DELETE", address_id)

    @operation
    def associate(
        self, address_id: str, association: AddressAssociate | Body, *, idempotency_key: str | None = None
    ) -> Call[AddressOut]:
        """Associate with an instance of the same cloud."""
        content = body(AddressAssociate, association)
        return self._on("POST", address_id, "/actions/associate", content=content, idempotency_key=idempotency_key)

    @operation
    def disassociate(self, address_id: str, *, idempotency_key: str | None = None) -> Call[AddressOut]:
        return self._on("POST", address_id, "/actions/disassociate", idempotency_key=idempotency_key)
