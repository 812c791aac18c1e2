"""The use cases of a project's clouds and of adapter modules on fakes: a cloud is tested through its adapter before
it is stored (secrets sealed, never in `config`, never in an event); changed; removed only while Clanavi holds nothing
live in it unless forced; configured clouds are the configuration's; modules are enabled and disabled."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from adapters.base import CloudAdapter, CloudAuthError, Operation
from kernel import events
from kernel.crypto import Keyring
from kernel.errors import Conflict, NotFound, ValidationFailed
from services.provisioner.clouds import configured, credentials, handlers
from services.provisioner.clouds.domain import CloudConfigured, CloudConnectionFailed, CloudInUse, shown_config
from services.provisioner.clouds.repository import ENDED
from services.provisioner.errors import ModuleIsDisabled, ModuleUnavailable
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.modules import handlers as modules
from services.provisioner.resources.domain import GONE, RULES
from services.provisioner.settings import ConfiguredCloud
from services.provisioner.work.engine import WORK_CHANNEL
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import KEY, PROJECT, FakeProvisioner, a_cloud, provisioner
from tests.fakes.sdks import without_sdk

SECRET = "AKIAEXAMPLE0123456789"


class Connector:
    """Connects every new cloud to a fake of its own, and remembers what it was given."""

    def __init__(self) -> None:
        self.given: list[dict[str, Any]] = []
        self.next: FakeCloud = FakeCloud()

    async def __call__(self, cloud_id: str, driver: str, config: Mapping[str, Any]) -> CloudAdapter:
        self.given.append({"cloud_id": cloud_id, "driver": driver, **config})
        made, self.next = self.next, FakeCloud()
        return made


def new_cloud(**fields: Any) -> handlers.NewCloud:
    base: dict[str, Any] = {
        "project_id": PROJECT,
        "name": "aws",
        "driver": "ec2",
        "config": {"region": "us-east-1"},
        "credentials": {"access_key_id": SECRET, "secret_access_key": "s3cr3t-value"},
        "enabled": True,
        "correlation_id": "c",
    }
    return handlers.NewCloud(**{**base, **fields})


def world() -> tuple[FakeProvisioner, Connector]:
    connector = Connector()
    return provisioner(connect=connector), connector


async def test_a_cloud_is_stored_once_it_connects_with_its_credentials_sealed() -> None:
    p, connector = world()

    cloud = await handlers.create(p.uow, p.clouds, new_cloud(), within=5)

    assert connector.given[0]["access_key_id"] == SECRET and connector.given[0]["region"] == "us-east-1"
    stored = p.db.clouds[cloud.id]
    assert stored.config == {"region": "us-east-1"} and stored.credential_fields == (
        "access_key_id",
        "secret_access_key",
    )
    assert stored.credentials is not None and SECRET.encode() not in stored.credentials
    assert credentials.open_credentials(Keyring(KEY), stored)["access_key_id"] == SECRET
    assert p.event_types() == ["cloud.added"]
    assert SECRET not in p.uow.events[0].model_dump_json()


async def test_secrets_in_config_an_unknown_driver_and_a_taken_name_are_refused_with_nothing_stored() -> None:
    p, connector = world()

    with pytest.raises(ValidationFailed) as secret:
        await handlers.create(p.uow, p.clouds, new_cloud(config={"secret_access_key": "x"}, credentials={}), within=5)
    assert secret.value.extensions["errors"][0]["location"] == "body.config.secret_access_key"
    with pytest.raises(ValidationFailed):
        await handlers.create(p.uow, p.clouds, new_cloud(driver="nimbus"), within=5)
    with pytest.raises(Conflict):
        await handlers.create(p.uow, p.clouds, new_cloud(name="SimCloud", driver="simcloud", credentials={}), within=5)
    assert connector.given == [] and list(p.db.clouds) == ["sim"]


async def test_a_cloud_that_does_not_connect_is_refused_without_its_credentials_in_the_answer() -> None:
    p, connector = world()
    connector.next.fail["list_regions"].append(CloudAuthError(f"the key {SECRET} was refused"))

    with pytest.raises(CloudConnectionFailed) as refused:
        await handlers.create(p.uow, p.clouds, new_cloud(), within=5)

    assert SECRET not in refused.value.detail and "[redacted]" in refused.value.detail
    assert list(p.db.clouds) == ["sim"] and p.event_types() == []


async def test_a_stored_cloud_is_tested_again_with_what_is_stored_and_nothing_changes() -> None:
    p, connector = world()
    cloud = await handlers.create(p.uow, p.clouds, new_cloud(), within=5)
    stored, events = p.db.clouds[cloud.id], list(p.uow.events)

    passed = await handlers.connection_test(p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, within=5)
    connector.next.fail["list_regions"].append(CloudAuthError(f"the key {SECRET} was refused"))
    failed = await handlers.connection_test(p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, within=5)

    assert passed.ok and passed.probe == handlers.Probe("regions", 1) and passed.failure is None
    assert connector.given[-1]["access_key_id"] == SECRET and connector.given[-1]["region"] == "us-east-1"
    assert not failed.ok and isinstance(failed.failure, CloudConnectionFailed)
    assert SECRET not in failed.failure.detail and "The account is unchanged." in failed.failure.detail
    assert failed.failure.extensions["errors"][0]["location"] == "cloud"
    assert p.db.clouds[cloud.id] == stored and p.uow.events == events
    with pytest.raises(NotFound):
        await handlers.connection_test(p.uow, p.clouds, project_id="other", cloud_id=cloud.id, within=5)
    p.clouds.set_module("ec2", enabled=False)
    with pytest.raises(ModuleIsDisabled):
        await handlers.connection_test(p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, within=5)


async def test_a_disabled_module_takes_no_new_clouds() -> None:
    p, _ = world()
    p.clouds.set_module("ec2", enabled=False)

    with pytest.raises(ModuleIsDisabled):
        await handlers.create(p.uow, p.clouds, new_cloud(), within=5)


async def test_a_change_is_tested_like_a_new_cloud_and_the_old_adapter_is_forgotten() -> None:
    p, connector = world()
    cloud = await handlers.create(p.uow, p.clouds, new_cloud(), within=5)
    first = await p.clouds.adapter(cloud.id)

    renamed = await handlers.update(
        p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, change=handlers.CloudChange(name="prod"),
        correlation_id="c", within=5,
    )  # fmt: skip
    assert renamed.name == "prod" and len(connector.given) == 2
    moved = await handlers.update(
        p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id,
        change=handlers.CloudChange(config={"region": "eu-west-1"}), correlation_id="c", within=5,
    )  # fmt: skip

    assert moved.config == {"region": "eu-west-1"} and connector.given[-1]["access_key_id"] == SECRET
    assert isinstance(first, FakeCloud) and first.closed
    assert p.event_types() == ["cloud.added", "cloud.updated", "cloud.updated"]
    assert p.uow.events[-1].payload["changed"] == ["config"]
    assert [n for n in p.uow.notifications if n[0] == "provisioner_clouds"] == [("provisioner_clouds", cloud.id)] * 2


async def test_a_configured_cloud_is_changed_and_removed_only_by_configuration() -> None:
    p, _ = world()

    with pytest.raises(CloudConfigured):
        await handlers.update(
            p.uow, p.clouds, project_id=PROJECT, cloud_id="sim", change=handlers.CloudChange(name="x"),
            correlation_id="c", within=5,
        )  # fmt: skip
    with pytest.raises(CloudConfigured):
        await handlers.remove(p.uow, p.clouds, project_id=PROJECT, cloud_id="sim", force=True, correlation_id="c")


async def test_a_cloud_in_use_is_kept_unless_forced_and_then_clanavi_forgets_its_records() -> None:
    p, _ = world()
    cloud = await handlers.create(p.uow, p.clouds, new_cloud(driver="simcloud", credentials={}, config={}), within=5)
    vm = await instances.launch(
        p.uow,
        p.clouds,
        instances.LaunchRequest(
            project_id=PROJECT, cloud_id=cloud.id, name="vm", image_id="img-debian-12", flavor_id="sim.small",
            correlation_id="c",
        ),
    )  # fmt: skip

    with pytest.raises(CloudInUse) as in_use:
        await handlers.remove(p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, force=False, correlation_id="c")
    assert in_use.value.extensions["in_use"] == {"instances": 1}
    with pytest.raises(NotFound):
        await handlers.remove(p.uow, p.clouds, project_id="other", cloud_id=cloud.id, force=True, correlation_id="c")

    await handlers.remove(p.uow, p.clouds, project_id=PROJECT, cloud_id=cloud.id, force=True, correlation_id="c")

    assert cloud.id not in p.db.clouds and vm.id not in p.db.instances
    removed = p.uow.events[-1]
    assert removed.type == "cloud.removed" and removed.payload["forgotten_ids"] == [vm.id]


async def test_the_configured_clouds_are_added_once_and_unchanged_ones_are_left_alone() -> None:
    p, _ = world()
    aws = ConfiguredCloud(
        id="aws",
        name="AWS",
        driver="ec2",
        config={"region": "us-east-1", "secret_access_key": "s"},
        credentials={"access_key_id": SECRET},
    )

    await configured.configure(p.uow, Keyring(KEY), [aws])
    await configured.configure(p.uow, Keyring(KEY), [aws])

    stored = p.db.clouds["aws"]
    assert stored.config == {"region": "us-east-1"}
    assert set(credentials.open_credentials(Keyring(KEY), stored)) == {"access_key_id", "secret_access_key"}
    assert p.event_types() == ["cloud.added"]
    rotated = Keyring("another-secret-key-0123456789abcdef0123", [KEY])
    assert (await configured.rewrap_all(p.uow, rotated)).rewrapped == 1
    assert credentials.open_credentials(rotated, p.db.clouds["aws"])["access_key_id"] == SECRET


async def test_a_module_is_disabled_and_enabled_with_its_events_and_its_held_work_resumes() -> None:
    p, _ = world()
    vm = await instances.launch(
        p.uow,
        p.clouds,
        instances.LaunchRequest(
            project_id=PROJECT, cloud_id="sim", name="vm", image_id="img-debian-12", flavor_id="sim.small",
            correlation_id="c",
        ),
    )  # fmt: skip

    view = await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=False, correlation_id="c")
    assert (view.enabled, view.cloud_ids) == (False, ("sim",))
    assert await p.engine.due(INSTANCES, 10) == []
    await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=True, correlation_id="c")
    await modules.set_enabled(p.uow, p.clouds, "simcloud", enabled=True, correlation_id="c")

    assert await p.engine.due(INSTANCES, 10) == [vm.id]
    assert p.event_types()[-2:] == ["module.disabled", "module.enabled"]
    # About the platform, not a project: no project's members see them in their trail.
    assert {e.project_id for e in p.uow.events[-2:]} == {events.PLATFORM_SCOPE}
    assert p.uow.notifications[-1] == (WORK_CHANNEL, "")
    with pytest.raises(NotFound):
        await modules.set_enabled(p.uow, p.clouds, "nope", enabled=False, correlation_id="c")
    names = [v.name for v in await modules.list_modules(p.uow, p.clouds)]
    assert names[:2] == ["simcloud", "ec2"]


async def test_a_module_whose_sdk_is_missing_takes_no_clouds_and_its_clouds_say_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """xcp without XenAPI: its module is listed unavailable and cannot be enabled; new accounts of it, changes and
    operations of the ones stored (when it was installed) answer 409 `module_unavailable` naming the extra, never
    501; its stored settings are neither shown nor moved, and a configured account of it is left as it is."""
    stored = a_cloud(
        "xen1", driver="xcp", name="Xen", config={"url": "https://xen.example.org", "username": "root"}, source="api"
    )
    plaintext = a_cloud("xen2", driver="xcp", name="Old Xen", config={"url": "https://x", "password": "in-the-clear"})
    p = provisioner()
    p.db.clouds.update({"xen1": stored, "xen2": plaintext})
    without_sdk(monkeypatch, "XenAPI", "adapters.xcp")

    listed = {v.name: v for v in await modules.list_modules(p.uow, p.clouds)}
    assert (listed["xcp"].available, listed["xcp"].features) == (False, ())
    assert listed["xcp"].reason is not None and listed["xcp"].reason.startswith("needs the clanavi[xen] extra: ")
    assert listed["ec2"].available and listed["simcloud"].available
    with pytest.raises(ModuleUnavailable) as refused:
        await modules.set_enabled(p.uow, p.clouds, "xcp", enabled=True, correlation_id="c")
    assert refused.value.extensions["extra"] == "xen" and "clanavi[xen]" in refused.value.detail
    # Disabling it is harmless.
    assert not (await modules.set_enabled(p.uow, p.clouds, "xcp", enabled=False, correlation_id="c")).enabled
    await modules.set_enabled(p.uow, p.clouds, "xcp", enabled=False, correlation_id="c")
    p.clouds.set_module("xcp", enabled=True)

    with pytest.raises(ModuleUnavailable):
        await handlers.create(
            p.uow, p.clouds, new_cloud(driver="xcp", config={"url": "https://xen.example.org"}, credentials={}),
            within=5,
        )  # fmt: skip
    with pytest.raises(ModuleUnavailable):
        await handlers.update(
            p.uow, p.clouds, project_id=PROJECT, cloud_id="xen1",
            change=handlers.CloudChange(config={"url": "https://xen3.example.org"}), correlation_id="c", within=5,
        )  # fmt: skip
    with pytest.raises(ModuleUnavailable) as operation:
        await p.clouds.require(stored, Operation.LIST_FLAVORS)
    assert operation.value.extensions["cloud_id"] == "xen1"
    with pytest.raises(ModuleUnavailable):
        await p.clouds.adapter("xen1")
    assert await p.clouds.features(stored) == frozenset()
    assert not p.clouds.module_available("xcp") and p.clouds.module_available("simcloud")

    assert shown_config(stored) == {}
    assert await configured.seal_plaintext(p.uow, Keyring(KEY)) == 0
    assert p.db.clouds["xen2"].config == plaintext.config
    xen = ConfiguredCloud(id="xen3", name="Xen 3", driver="xcp", config={"url": "https://x", "password": "p"})
    with caplog.at_level(logging.WARNING):
        await configured.configure(p.uow, Keyring(KEY), [xen])
    assert "cloud xen3 is left as it is stored" in caplog.text
    assert set(p.db.clouds) == {"sim", "xen1", "xen2"}


def test_a_cloud_s_usage_counts_as_ended_exactly_what_the_resource_rules_end_in() -> None:
    assert {rules.gone for rules in RULES.values()} | {GONE} == ENDED
