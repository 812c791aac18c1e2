"""The cluster use cases and the worker's pass on the in-memory unit of work: a cluster's members launched role by role
through the launch use case, a pass after a restart that finds a member planned but never launched launches it, a
member withdrawn while its launch was under way leaves no instance, and cluster-level inputs resolved at their level."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kernel.errors import InvalidState, ValidationFailed
from services.provisioner.clusters import domain, handlers
from services.provisioner.clusters.domain import Role
from services.provisioner.instances import handlers as instances
from services.provisioner.templates import handlers as templates
from services.provisioner.templates.domain import CloudChoice, ScriptContent, ScriptRef, TemplateSpec
from services.provisioner.templates.inputs import InputSpec
from tests.fakes.provisioner import PROJECT, FakeProvisioner, provisioner

CONTENT = ScriptContent("#!/bin/sh\necho {{ site }}\n", "boot", 60, (InputSpec("site", "text", required=True),))


async def _template(p: FakeProvisioner) -> str:
    script, _ = await templates.create_script(p.uow, project_id=PROJECT, name="s", content=CONTENT, correlation_id="c")
    spec = TemplateSpec(
        clouds=(CloudChoice("sim", "img-debian-12", "sim.small"),), boot_scripts=(ScriptRef(script.id, 1),)
    )
    template, _ = await templates.create_template(
        p.uow, p.clouds.keyring, project_id=PROJECT, name="t", draft=spec, correlation_id="c"
    )
    return template.id


def _request(template_id: str, *roles: Role) -> handlers.ClusterRequest:
    return handlers.ClusterRequest(PROJECT, "shop", roles, "degrade", "c")


def _role(name: str, template_id: str, count: int, *after: str) -> Role:
    return Role(name, template_id, count, inputs={"site": f"{name}.example.org"}, cloud_id="sim", depends_on=after)


async def test_members_launch_role_by_role_with_the_cluster_level_inputs() -> None:
    p = provisioner()
    template_id = await _template(p)
    made = await handlers.create(
        p.uow, p.clouds, _request(template_id, _role("db", template_id, 1), _role("web", template_id, 2, "db"))
    )
    assert [r.template_version for r in made.roles] == [1, 1]
    passes = handlers.Clusters(p.uow, p.clouds)
    await passes.advance(made.id)
    _, members = await handlers.get(p.uow, PROJECT, made.id)
    assert [(m.name, m.status) for m in members] == [("shop-db-1", "launched")]
    db = await instances.get(p.uow, PROJECT, members[0].instance_id or "")
    assert (db.cluster_id, db.cluster_role) == (made.id, "db")
    assert db.inputs["site"] == {"value": "db.example.org", "level": "cluster", "type": "text"}

    # The database runs: the web servers follow, and once they run the cluster does.
    _running(p, db.id)
    await passes.advance(made.id)
    _, members = await handlers.get(p.uow, PROJECT, made.id)
    assert [m.name for m in members] == ["shop-db-1", "shop-web-1", "shop-web-2"]
    for m in members[1:]:
        _running(p, m.instance_id or "")
    await passes.advance(made.id)
    cluster, _ = await handlers.get(p.uow, PROJECT, made.id)
    assert cluster.state == "running"
    assert [t for t in p.event_types() if t.startswith("cluster.")] == ["cluster.created", "cluster.running"]


def _running(p: FakeProvisioner, instance_id: str) -> None:
    rows = p.db.instances
    rows[instance_id] = replace(rows[instance_id], record=replace(rows[instance_id].record, state="running"))


async def test_a_member_planned_before_a_restart_is_launched_by_the_next_pass_and_only_once() -> None:
    p = provisioner()
    template_id = await _template(p)
    made = await handlers.create(p.uow, p.clouds, _request(template_id, _role("db", template_id, 2)))
    # What a pass that died after deciding left: the members planned, their launches never asked for.
    async with p.uow.transaction() as tx:
        cluster = await tx.repos.clusters.lock_active(made.id)
        assert cluster is not None
        decided = domain.step(cluster, [], cluster.created_at)
        await tx.repos.clusters.add_members(decided.plan)
        await tx.repos.clusters.save(decided.cluster)
    await handlers.Clusters(p.uow, p.clouds).advance(made.id)
    await handlers.Clusters(p.uow, p.clouds).advance(made.id)
    _, members = await handlers.get(p.uow, PROJECT, made.id)
    assert [(m.name, m.status) for m in members] == [("shop-db-1", "launched"), ("shop-db-2", "launched")]
    assert len(p.db.instances) == 2


async def test_a_member_withdrawn_while_its_launch_was_under_way_leaves_no_instance() -> None:
    p = provisioner()
    template_id = await _template(p)
    made = await handlers.create(p.uow, p.clouds, _request(template_id, _role("db", template_id, 1)))
    async with p.uow.transaction() as tx:
        cluster = await tx.repos.clusters.lock_active(made.id)
        assert cluster is not None
        decided = domain.step(cluster, [], cluster.created_at)
        await tx.repos.clusters.add_members(decided.plan)
        # Withdrawn (the cluster was terminated) before the launch recorded its instance.
        await tx.repos.clusters.update_members([replace(m, retired=True, status="withdrawn") for m in decided.plan])
    member = decided.plan[0]
    req = instances.LaunchRequest(PROJECT, "sim", member.name, "", "", "c")
    with pytest.raises(InvalidState, match="no longer waiting"):
        await instances.launch_from_template(
            p.uow, p.clouds, req, instances.TemplateLaunch(template_id, cluster_inputs={"site": "x"}),
            member=handlers._Enlisted(member),
        )  # fmt: skip
    assert p.db.instances == {}


async def test_a_secret_set_for_a_role_is_refused_where_it_is() -> None:
    p = provisioner()
    secret = ScriptContent("#!/bin/sh\n: {{ token }}\n", "boot", 60, (InputSpec("token", "secret"),))
    script, _ = await templates.create_script(p.uow, project_id=PROJECT, name="s", content=secret, correlation_id="c")
    spec = TemplateSpec(
        clouds=(CloudChoice("sim", "img-debian-12", "sim.small"),), boot_scripts=(ScriptRef(script.id, 1),)
    )
    template, _ = await templates.create_template(
        p.uow, p.clouds.keyring, project_id=PROJECT, name="t", draft=spec, correlation_id="c"
    )
    role = Role("db", template.id, 1, inputs={"token": "s3cret-value"}, cloud_id="sim")
    with pytest.raises(ValidationFailed) as refused:
        await handlers.create(p.uow, p.clouds, _request(template.id, role))
    assert refused.value.extensions["errors"] == [
        {"location": "body.roles.0.inputs.token", "message": "a secret is set on the template, not here"}
    ]
    assert p.db.clusters == {}
