"""The use cases of key pairs, security groups, volumes, snapshots, addresses and images on fakes: each kind's
create, actions and delete carried out in the request; refusals (another project's ids, things in use, what the cloud
does not support, its quota, its throttling) leave nothing behind; a lost answer is answered 202 and finished by the
engine, which finds what the first try made instead of making it twice."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest

from adapters.base import CloudUnavailable, Feature, QuotaExceeded, SecurityRule, Throttled, Volume, VolumeSpec
from kernel.errors import Conflict, InvalidState, NotFound, NotImplementedByCloud, ValidationFailed
from services.provisioner import errors
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.resources import handlers
from services.provisioner.resources.cloud import RESOURCES
from services.provisioner.resources.domain import ResourceRecord
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner
from tests.provisioner_requests import request_volume

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.org"
SSH = SecurityRule(direction="ingress", protocol="tcp", from_port=22, to_port=22, cidr="0.0.0.0/0")


async def an_instance(p: FakeProvisioner) -> str:
    record = await instances.launch(
        p.uow,
        p.clouds,
        instances.LaunchRequest(
            project_id=PROJECT, cloud_id="sim", name="vm", image_id="img-debian-12", flavor_id="sim.small",
            correlation_id="c",
        ),
    )  # fmt: skip
    await p.engine.step(INSTANCES, record.id)
    p.cloud.finish()
    await p.engine.follow(INSTANCES)
    return record.id


async def a_volume(
    p: FakeProvisioner, name: str = "data", size_gb: int | None = 2, *, snapshot_id: str | None = None
) -> ResourceRecord:
    outcome = await request_volume(p.ports, name, size_gb, snapshot_id=snapshot_id)
    p.cloud.finish()
    await p.engine.follow(RESOURCES)
    return await handlers.get(p.ports, PROJECT, "volume", outcome.record.id)


async def act(p: FakeProvisioner, record: ResourceRecord, action: str) -> handlers.Outcome:
    return await handlers.act_plainly(
        p.ports, project_id=PROJECT, kind=record.kind, resource_id=record.id, action=action, correlation_id="c"
    )


async def test_a_key_pair_is_created_with_its_private_key_shown_once_imported_and_deleted() -> None:
    p = provisioner()

    made = await handlers.create_key_pair(p.ports, project_id=PROJECT, cloud_id="sim", name="ops", correlation_id="c")
    imported = await handlers.import_key_pair(
        p.ports, project_id=PROJECT, cloud_id="sim", name="mine", public_key=PUBLIC_KEY, correlation_id="c"
    )

    assert made.done and made.private_key == "PRIVATE" and made.record.state == "available"
    assert "PRIVATE" not in str(p.db.resources[made.record.id].record)
    assert imported.done and imported.record.attrs["fingerprint"] == "fp-mine"
    with pytest.raises(Conflict):
        await handlers.create_key_pair(p.ports, project_id=PROJECT, cloud_id="sim", name="ops", correlation_id="c")
    deleted = await act(p, made.record, "delete")
    assert deleted.done and deleted.record.state == "deleted" and "ops" not in p.cloud.key_pairs
    assert (await act(p, deleted.record, "delete")).record.state == "deleted"
    assert p.event_types() == ["key_pair.created", "key_pair.created", "key_pair.deleted"]
    with pytest.raises(ValidationFailed):
        await handlers.import_key_pair(
            p.ports, project_id=PROJECT, cloud_id="sim", name="bad", public_key="ssh-rsa nonsense", correlation_id="c"
        )


async def test_a_security_group_s_rules_are_authorized_once_revoked_by_id_and_a_group_in_use_is_kept() -> None:
    p = provisioner()
    group = (
        await handlers.create_security_group(
            p.ports, project_id=PROJECT, cloud_id="sim", name="web", description="", correlation_id="c"
        )
    ).record

    granted = await handlers.authorize_rule(
        p.ports, project_id=PROJECT, group_id=group.id, rule=SSH, correlation_id="c"
    )
    again = await handlers.authorize_rule(p.ports, project_id=PROJECT, group_id=group.id, rule=SSH, correlation_id="c")
    assert again.record == granted.record and p.cloud.calls.count("authorize_security_rule") == 1
    (rule,) = granted.record.attrs["rules"]
    with pytest.raises(NotFound):
        await handlers.revoke_rule(p.ports, project_id=PROJECT, group_id=group.id, rule_id="rule-x", correlation_id="c")
    revoked = await handlers.revoke_rule(
        p.ports, project_id=PROJECT, group_id=group.id, rule_id=rule["id"], correlation_id="c"
    )
    assert revoked.record.attrs["rules"] == []

    vm = await instances.launch(
        p.uow,
        p.clouds,
        instances.LaunchRequest(
            project_id=PROJECT, cloud_id="sim", name="vm", image_id="img-debian-12", flavor_id="sim.small",
            correlation_id="c", security_group_ids=[group.id],
        ),
    )  # fmt: skip
    assert vm.launch_options["security_group_provider_ids"] == [group.provider_id]
    with pytest.raises(InvalidState) as in_use:
        await handlers.delete_security_group(p.ports, project_id=PROJECT, group_id=group.id, correlation_id="c")
    assert in_use.value.extensions["instance_ids"] == [vm.id]
    await instances.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=vm.id, action="terminate", correlation_id="c"
    )
    deleted = await handlers.delete_security_group(p.ports, project_id=PROJECT, group_id=group.id, correlation_id="c")
    assert deleted.record.state == "deleted"
    assert p.event_types()[-1] == "security_group.deleted"


async def test_a_volume_is_created_attached_detached_snapshotted_made_again_from_its_snapshot_and_deleted() -> None:
    p = provisioner()
    vm = await an_instance(p)
    volume = await a_volume(p)
    assert (volume.state, volume.provider_id) == ("available", "vol-2")

    attached = await handlers.attach_volume(
        p.ports, project_id=PROJECT, volume_id=volume.id, instance_id=vm, device="/dev/vdb", correlation_id="c"
    )
    assert attached.record.state == "in-use" and attached.record.attrs["instance_id"] == vm
    with pytest.raises(InvalidState):
        await act(p, attached.record, "delete")
    snapshot = await handlers.create_snapshot(
        p.ports, project_id=PROJECT, volume_id=volume.id, name="nightly", correlation_id="c"
    )
    p.cloud.finish()
    await p.engine.follow(RESOURCES)
    detached = await act(p, attached.record, "detach")
    assert detached.record.state == "available"

    with pytest.raises(ValidationFailed) as too_small:
        await a_volume(p, "copy", size_gb=1, snapshot_id=snapshot.record.id)
    assert too_small.value.extensions["errors"][0]["location"] == "body.size_gb"
    copy = await a_volume(p, "copy", size_gb=None, snapshot_id=snapshot.record.id)
    assert copy.attrs["size_gb"] == 2 and copy.attrs["snapshot_id"] == snapshot.record.id

    assert (await act(p, detached.record, "delete")).record.state == "deleted"
    assert [t for t in p.event_types() if t.startswith("volume.")] == [
        "volume.created",
        "volume.available",
        "volume.attached",
        "volume.detached",
        "volume.created",
        "volume.available",
        "volume.deleted",
    ]


async def test_an_address_is_allocated_associated_disassociated_and_released() -> None:
    p = provisioner()
    vm = await an_instance(p)

    address = await handlers.allocate_address(
        p.ports, project_id=PROJECT, cloud_id="sim", name=None, correlation_id="c"
    )
    associated = await handlers.associate_address(
        p.ports, project_id=PROJECT, address_id=address.record.id, instance_id=vm, correlation_id="c"
    )
    disassociated = await act(p, associated.record, "disassociate")
    released = await act(p, disassociated.record, "release")

    assert address.record.name == f"address-{address.record.id[:8]}" and address.record.attrs["ip"]
    assert (associated.record.state, disassociated.record.state, released.record.state) == (
        "associated",
        "available",
        "released",
    )
    assert p.event_types()[-4:] == [
        "address.allocated",
        "address.associated",
        "address.disassociated",
        "address.released",
    ]


async def test_an_image_is_made_from_an_instance_followed_and_deregistered() -> None:
    p = provisioner()
    vm = await an_instance(p)

    made = await handlers.create_image(
        p.ports, project_id=PROJECT, cloud_id="sim", instance_id=vm, name="golden", correlation_id="c"
    )
    p.cloud.finish()
    await p.engine.follow(RESOURCES)
    image = await handlers.get(p.ports, PROJECT, "image", made.record.id)
    gone = await act(p, image, "deregister")

    assert image.state == "available" and gone.record.state == "deregistered"
    assert p.event_types()[-3:] == ["image.created", "image.available", "image.deregistered"]


async def test_another_project_s_ids_answer_like_unknown_ones_in_paths_and_bodies() -> None:
    p = provisioner()
    vm = await an_instance(p)
    volume = await a_volume(p)

    with pytest.raises(NotFound):
        await handlers.get(p.ports, "other", "volume", volume.id)
    with pytest.raises(NotFound):
        await handlers.act_plainly(
            p.ports, project_id="other", kind="volume", resource_id=volume.id, action="delete", correlation_id="c"
        )
    with pytest.raises(ValidationFailed) as named:
        await handlers.create_snapshot(p.ports, project_id="other", volume_id=volume.id, name="x", correlation_id="c")
    assert named.value.extensions["errors"][0]["location"] == "body.volume_id"
    with pytest.raises(ValidationFailed) as cloud:
        await handlers.create_key_pair(p.ports, project_id="other", cloud_id="sim", name="k", correlation_id="c")
    assert cloud.value.extensions["errors"][0]["location"] == "body.cloud_id"
    p.db.instances[vm].record = replace(p.db.instances[vm].record, project_id="other")
    with pytest.raises(ValidationFailed) as instance:
        await handlers.attach_volume(
            p.ports, project_id=PROJECT, volume_id=volume.id, instance_id=vm, device=None, correlation_id="c"
        )
    assert instance.value.extensions["errors"][0]["location"] == "body.instance_id"


class NoAddresses(FakeCloud):
    features: ClassVar[frozenset[Feature]] = frozenset(Feature) - {Feature.ADDRESSES, Feature.SNAPSHOTS}


async def test_what_the_cloud_does_not_support_is_refused_with_501_and_nothing_recorded() -> None:
    p = provisioner(NoAddresses())
    volume = await a_volume(p)

    with pytest.raises(NotImplementedByCloud):
        await handlers.allocate_address(p.ports, project_id=PROJECT, cloud_id="sim", name=None, correlation_id="c")
    with pytest.raises(NotImplementedByCloud):
        await handlers.create_snapshot(p.ports, project_id=PROJECT, volume_id=volume.id, name="x", correlation_id="c")
    assert [r.record.kind for r in p.db.resources.values()] == ["volume"]


async def test_a_refusal_by_the_cloud_leaves_nothing_and_an_exhausted_quota_says_so() -> None:
    p = provisioner()
    p.cloud.fail["create_volume"].append(QuotaExceeded("20 of 20 volumes"))

    with pytest.raises(errors.QuotaExceeded) as refused:
        await a_volume(p)

    assert refused.value.http_status == 409 and refused.value.code == "quota_exceeded"
    assert p.db.resources == {} and p.event_types() == []


async def test_a_throttled_request_leaves_nothing_and_says_when_to_retry() -> None:
    p = provisioner()
    slow_down = Throttled("slow down")
    slow_down.retry_after = 3  # type: ignore[attr-defined]
    p.cloud.fail["create_volume"].append(slow_down)

    with pytest.raises(errors.Throttled) as refused:
        await a_volume(p)

    assert refused.value.retry_after == 3 and refused.value.http_status == 503
    assert p.db.resources == {}


class WithoutClientTokens(FakeCloud):
    """A cloud (a plugin's, say) that makes a second resource when a create is repeated with its client token."""

    features: ClassVar[frozenset[Feature]] = FakeCloud.features - {Feature.IDEMPOTENT_CREATE}

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        return await super().create_volume(replace(spec, client_token=f"{spec.client_token}-{len(self.calls)}"))


async def test_a_lost_answer_is_accepted_and_the_engine_asks_again_with_the_same_client_token() -> None:
    p = provisioner()
    p.cloud.lose.add("create_volume")

    outcome = await request_volume(p.ports)

    assert not outcome.done and outcome.record.pending_action == "create" and outcome.record.attempts == 1
    assert p.event_types() == []
    p.db.clock.advance(2)
    assert await p.engine.step(RESOURCES, outcome.record.id)
    after = await handlers.get(p.ports, PROJECT, "volume", outcome.record.id)
    assert after.provider_id == next(iter(p.cloud.volumes)) and after.pending_action is None
    # Asked twice with the record's id as client token: one volume, and no list of the cloud's volumes to search.
    assert p.cloud.calls.count("create_volume") == 2 and len(p.cloud.volumes) == 1
    assert "list_volumes" not in p.cloud.calls
    assert p.event_types() == ["volume.created"]


async def test_without_client_tokens_the_engine_finds_what_the_first_try_made_by_its_name() -> None:
    p = provisioner(WithoutClientTokens())
    p.cloud.lose.add("create_volume")

    outcome = await request_volume(p.ports)

    p.db.clock.advance(2)
    assert await p.engine.step(RESOURCES, outcome.record.id)
    after = await handlers.get(p.ports, PROJECT, "volume", outcome.record.id)
    assert after.provider_id == next(iter(p.cloud.volumes)) and after.pending_action is None
    assert p.cloud.calls.count("create_volume") == 1 and len(p.cloud.volumes) == 1
    assert "list_volumes" in p.cloud.calls


async def test_an_address_allocation_sends_its_client_token_and_lists_nothing_first() -> None:
    p = provisioner()
    p.cloud.lose.add("allocate_address")

    outcome = await handlers.allocate_address(
        p.ports, project_id=PROJECT, cloud_id="sim", name=None, correlation_id="c"
    )
    assert not outcome.done and "known_before" not in outcome.record.pending
    p.db.clock.advance(2)
    assert await p.engine.step(RESOURCES, outcome.record.id)

    after = await handlers.get(p.ports, PROJECT, "address", outcome.record.id)
    assert after.provider_id == next(iter(p.cloud.addresses)) and len(p.cloud.addresses) == 1
    assert p.cloud.calls.count("allocate_address") == 2 and "list_addresses" not in p.cloud.calls


async def test_an_interrupted_key_pair_creation_is_undone_since_its_private_key_is_lost() -> None:
    p = provisioner()
    p.cloud.lose.add("create_key_pair")

    with pytest.raises(errors.CloudUnavailable):
        await handlers.create_key_pair(p.ports, project_id=PROJECT, cloud_id="sim", name="ops", correlation_id="c")
    (pending,) = p.db.resources
    p.db.clock.advance(2)
    await p.engine.step(RESOURCES, pending)

    assert p.db.resources == {} and p.cloud.key_pairs == {} and p.event_types() == []


async def test_a_request_whose_claim_was_taken_over_reports_what_the_worker_did() -> None:
    class SlowCloud(FakeCloud):
        async def create_volume(self, spec: VolumeSpec) -> Volume:
            made = await super().create_volume(spec)
            if self.calls.count("create_volume") == 1:
                # The request's lease runs out meanwhile and a worker finishes the action first (asking again with
                # the same client token).
                p.db.clock.advance(31)
                await p.step_engine().step(RESOURCES, next(iter(p.db.resources)))
            return made

    p = provisioner(SlowCloud(), lease=30.0)
    outcome = await request_volume(p.ports)

    assert outcome.done and outcome.record.provider_id is not None
    assert p.event_types() == ["volume.created"] and len(p.cloud.volumes) == 1


async def test_a_plain_action_on_a_record_the_cloud_never_had_is_withdrawn() -> None:
    p = provisioner()
    # The request's try gets no answer; the worker's try (the same client token) is refused.
    p.cloud.fail["create_volume"] += [CloudUnavailable("no answer"), *[QuotaExceeded("x")] * 3]
    outcome = await request_volume(p.ports)
    p.db.clock.advance(2)
    await p.engine.step(RESOURCES, outcome.record.id)
    failed = await handlers.get(p.ports, PROJECT, "volume", outcome.record.id)
    assert (failed.state, failed.provider_id) == ("error", None)

    withdrawn = await act(p, failed, "delete")

    assert withdrawn.done and withdrawn.record.state == "deleted"
    assert p.event_types() == ["volume.failed", "volume.deleted"]
