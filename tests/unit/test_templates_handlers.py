"""The script and template use cases on the in-memory unit of work: versions, events, sealing and refusals."""

from __future__ import annotations

import email
from dataclasses import replace

import pytest
import yaml

from adapters.base import InvalidCloudRequest
from adapters.simcloud import guest_ssh
from kernel.crypto import Keyring
from kernel.errors import Conflict, NotFound, ValidationFailed
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.cloud import InstanceKind, launch_spec
from services.provisioner.runs import handlers as runs
from services.provisioner.runs import login, ssh
from services.provisioner.runs.domain import LOGIN_USER
from services.provisioner.templates import handlers, sealing
from services.provisioner.templates.domain import (
    LATEST,
    CloudChoice,
    Requirements,
    ScriptContent,
    ScriptRef,
    TemplateSpec,
)
from services.provisioner.templates.inputs import InputSpec
from tests.fakes.provisioner import KEY, PROJECT, FakeProvisioner, fake_unit_of_work, provisioner

KEYRING = Keyring("unit-test-secret-key-0123456789abcdef")
BODY = "#!/bin/sh\necho {{ site }}\n"
CONTENT = ScriptContent(BODY, "boot", 60, (InputSpec("site", "text"), InputSpec("token", "secret")))


async def test_a_script_gets_a_new_version_only_when_its_content_changes() -> None:
    uow = fake_unit_of_work()
    record, first = await handlers.create_script(uow, project_id="p", name="s", content=CONTENT, correlation_id="c")
    same, created = await handlers.add_script_version(
        uow, project_id="p", script_id=record.id, content=CONTENT, correlation_id="c"
    )
    assert (same.version, created) == (1, False)
    changed = ScriptContent(BODY + "echo more\n", "boot", 60, CONTENT.inputs)
    second, created = await handlers.add_script_version(
        uow, project_id="p", script_id=record.id, content=changed, correlation_id="c"
    )
    assert (second.version, created) == (2, True)
    assert uow.event_types() == ["script.created", "script.version_created", "script.version_created"]
    with pytest.raises(NotFound):
        await handlers.add_script_version(uow, project_id="q", script_id=record.id, content=changed, correlation_id="c")
    assert first.version == 1


async def test_a_template_names_only_clouds_of_its_project() -> None:
    uow = fake_unit_of_work()
    script, _ = await handlers.create_script(uow, project_id="p", name="s", content=CONTENT, correlation_id="c")
    spec = TemplateSpec(
        clouds=(CloudChoice("sim", "img", "flv"),),
        boot_scripts=(ScriptRef(script.id, LATEST),),
        values={"site": "example.org", "token": "tok-secret-1"},
    )
    # Project p has no cloud "sim": a template may name only its project's clouds.
    with pytest.raises(ValidationFailed) as refused:
        await handlers.create_template(uow, KEYRING, project_id="p", name="t", draft=spec, correlation_id="c")
    assert refused.value.extensions["errors"] == [{"location": "body.clouds.0.cloud_id", "message": "unknown cloud"}]


async def test_secret_values_are_sealed_apart_and_a_script_version_in_use_cannot_go() -> None:
    uow = fake_unit_of_work()
    script, _ = await handlers.create_script(uow, project_id="p", name="s", content=CONTENT, correlation_id="c")
    await handlers.add_script_version(
        uow,
        project_id="p",
        script_id=script.id,
        content=ScriptContent("#!/bin/sh\n", "boot", 60),
        correlation_id="c",
    )
    spec = TemplateSpec(
        requirements=Requirements("Debian 12"),
        boot_scripts=(ScriptRef(script.id, 1),),
        values={"site": "example.org", "token": "tok-secret-1"},
    )
    template, version = await handlers.create_template(
        uow, KEYRING, project_id="p", name="t", draft=spec, correlation_id="c"
    )
    assert version.spec.values == {"site": "example.org"} and version.secret_names == ("token",)
    assert sealing.open_values(KEYRING, template.id, 1, version.sealed_values) == {"token": "tok-secret-1"}
    assert b"tok-secret-1" not in (version.sealed_values or b"")
    with pytest.raises(Conflict):
        sealing.open_values(Keyring("another-secret-key-0123456789abcdef"), template.id, 1, version.sealed_values)
    with pytest.raises(Conflict):
        await handlers.delete_script_version(uow, project_id="p", script_id=script.id, version=1, correlation_id="c")
    with pytest.raises(Conflict):
        await handlers.delete_script(uow, project_id="p", script_id=script.id, correlation_id="c")
    assert all("tok-secret-1" not in e.model_dump_json() for e in uow.events)
    await handlers.delete_template(uow, project_id="p", template_id=template.id, correlation_id="c")
    await handlers.delete_script_version(uow, project_id="p", script_id=script.id, version=1, correlation_id="c")
    assert [v.version for v in await handlers.script_versions(uow, "p", script.id)] == [2]
    assert uow.event_types()[-2:] == ["template.deleted", "script.version_deleted"]


async def _template_on_sim(p: FakeProvisioner) -> str:
    script, _ = await handlers.create_script(p.uow, project_id=PROJECT, name="s", content=CONTENT, correlation_id="c")
    spec = TemplateSpec(
        clouds=(CloudChoice("sim", "img-debian-12", "sim.small"),),
        boot_scripts=(ScriptRef(script.id, 1),),
        values={"site": "example.org"},
    )
    template, _ = await handlers.create_template(
        p.uow, p.clouds.keyring, project_id=PROJECT, name="t", draft=spec, correlation_id="c"
    )
    return template.id


def _request() -> instances.LaunchRequest:
    return instances.LaunchRequest(
        project_id=PROJECT, cloud_id="sim", name="web", image_id="", flavor_id="", correlation_id="c"
    )


async def test_the_user_data_of_a_template_launch_stays_sealed_until_the_launch_call() -> None:
    p = provisioner()
    template_id = await _template_on_sim(p)
    launch = instances.TemplateLaunch(template_id, None, {"token": "tok-secret-2"})

    record = await instances.launch_from_template(p.uow, p.clouds, _request(), launch)

    assert (record.template_id, record.template_version, record.image_id) == (template_id, 1, "img-debian-12")
    assert "user_data" not in record.launch_options
    sealed = str(record.launch_options["user_data_sealed"])
    assert "tok-secret-2" not in sealed and "tok-secret-2" not in str(record.inputs)
    opened = launch_spec(record, Keyring(KEY)).user_data
    assert isinstance(opened, bytes) and b"echo example.org" in opened
    with pytest.raises(InvalidCloudRequest):
        launch_spec(record, None)
    kind = InstanceKind(Keyring(KEY))
    assert await p.engine.step(kind, record.id)
    after = await instances.get(p.uow, PROJECT, record.id)
    assert after.provider_id is not None and "user_data_sealed" not in after.launch_options


async def test_a_version_deprecated_after_the_launch_was_planned_is_not_launched() -> None:
    p = provisioner()
    template_id = await _template_on_sim(p)
    plan = await handlers.plan_launch(
        p.uow, p.clouds, project_id=PROJECT, cloud_id="sim", template_id=template_id, version=None, server_inputs={}
    )
    await handlers.deprecate_template_version(
        p.uow, project_id=PROJECT, template_id=template_id, version=1, deprecated=True, correlation_id="c"
    )
    with pytest.raises(ValidationFailed) as refused:
        await instances.launch(
            p.uow, p.clouds, replace(_request(), image_id=plan.image_id, flavor_id=plan.flavor_id), plan
        )
    assert refused.value.extensions["errors"][0]["location"] == "body.template_version"
    assert "instance.requested" not in p.event_types()


async def test_a_template_launch_authorizes_the_projects_key_for_runs_beside_its_own_cloud_config() -> None:
    p = provisioner()
    own = ScriptContent("#cloud-config\nusers:\n  - name: ops\n    ssh_authorized_keys: []\n", "boot", 60, ())
    script, _ = await handlers.create_script(p.uow, project_id=PROJECT, name="users", content=own, correlation_id="c")
    spec = TemplateSpec(
        clouds=(CloudChoice("sim", "img-debian-12", "sim.small"),), boot_scripts=(ScriptRef(script.id, 1),)
    )
    template, _ = await handlers.create_template(
        p.uow, p.clouds.keyring, project_id=PROJECT, name="t", draft=spec, correlation_id="c"
    )

    record = await instances.launch_from_template(p.uow, p.clouds, _request(), instances.TemplateLaunch(template.id))

    key = await runs.project_public_key(p.uow, p.clouds.keyring, PROJECT)
    opened = launch_spec(record, Keyring(KEY)).user_data
    assert isinstance(opened, bytes)
    # Read as cloud-init reads the parts (SimCloud's guests do the same): the key is the login user's.
    assert guest_ssh.user_data_keys(opened.decode()) == [key]
    parts = [p for p in email.message_from_bytes(opened).walk() if p.get_content_type() == "text/cloud-config"]
    assert [p.get_filename() for p in parts] == ["01-" + script.id + "-v1", login.FILENAME]
    payload = parts[1].get_payload(decode=True)
    assert isinstance(payload, bytes)
    config = yaml.safe_load(payload)
    assert config["users"][0] == "default" and config["users"][1]["name"] == LOGIN_USER
    # Appended to the template's own `users`, not replacing them (cloud-init's merge of this part into those before).
    assert {"name": "list", "settings": ["append"]} in config["merge_how"]
    # The login part is no boot script: the boot section follows the template's own.
    assert record.boot is not None
    assert [s["filename"] for s in record.boot["scripts"]] == ["01-" + script.id + "-v1"]


async def test_a_terminate_queues_the_decommission_scripts_in_order_and_waits_for_them() -> None:
    p = provisioner()
    leave = ScriptContent("#!/bin/sh\necho bye {{ site }}\n", "decommission", 20, (InputSpec("site", "text"),))
    needs_secret = ScriptContent(
        "#!/bin/sh\necho {{ token }}\n", "decommission", 30, (InputSpec("token", "secret", required=True),)
    )
    made = [
        await handlers.create_script(p.uow, project_id=PROJECT, name=name, content=content, correlation_id="c")
        for name, content in (("leave", leave), ("needs-secret", needs_secret))
    ]
    refs = tuple(ScriptRef(script.id, 1) for script, _ in made)
    spec = TemplateSpec(clouds=(CloudChoice("sim", "img-debian-12", "sim.small"),), decommission_scripts=refs)
    template, _ = await handlers.create_template(
        p.uow, p.clouds.keyring, project_id=PROJECT, name="t", draft=spec, correlation_id="c"
    )
    launch = instances.TemplateLaunch(template.id, None, {"site": "shop", "token": "tok-secret-3"})
    record = await instances.launch_from_template(p.uow, p.clouds, _request(), launch)
    assert await p.engine.step(InstanceKind(Keyring(KEY)), record.id)

    after = await instances.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, action="terminate", correlation_id="c"
    )

    assert (after.state, after.pending_action) == ("terminating", "terminate")
    rows = list(p.db.script_runs.rows.values())
    assert [r.record.name for r in rows] == ["leave", "needs-secret"]
    first, second = (r.record for r in rows)
    assert first.state == "queued" and first.batch_id == second.batch_id and first.batch_limit == 1
    assert first.inputs["site"] == {"value": "shop", "level": "server", "type": "text"}
    # The secret the launch set was never kept: that script fails at once, saying so, never showing a value.
    assert (second.state, second.problem, second.pending_action) == ("failed", "inputs_invalid", None)
    assert "token" in (second.reason or "") and "tok-secret-3" not in str(second)
    # The terminate waits for the one that can run: its login and timeout, and the slack.
    wait = p.db.instances[record.id].next_at - p.db.now
    assert wait == ssh.CONNECT_SECONDS + 20 + runs.DECOMMISSION_SLACK_SECONDS
    assert p.event_types()[-4:] == [
        "instance.action_requested",
        "script_run.queued",
        "script_run.queued",
        "script_run.failed",
    ]
    # Asked again, the terminate queues nothing more.
    await instances.request_action(
        p.uow, p.clouds, project_id=PROJECT, instance_id=record.id, action="terminate", correlation_id="c"
    )
    assert len(p.db.script_runs.rows) == 2
