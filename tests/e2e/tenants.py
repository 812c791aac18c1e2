"""Two tenants on one platform, for the suites that attack tenancy (test_tenancy.py, test_hostile.py): projects alpha
and beta, each with an owner who made one of every kind of object in a SimCloud account of the project's own, a viewer
of alpha, and a valid body for every route that takes one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from kernel.events import BudgetLaunchesBlocked, BudgetScope, new_event
from tests.e2e.platform import Platform, eventually, wait_for_state

PASSWORD = "correct horse battery staple"
SIM_CONFIG = {"boot_seconds": 0.2, "stop_seconds": 0.1, "start_seconds": 0.1, "terminate_seconds": 0.1}
# Routes anyone may call (they authenticate the caller themselves) and routes every caller may call on their own
# account; neither holds another project's objects.
PUBLIC = {("POST", "/v1/auth/token"), ("POST", "/v1/auth/logout"), ("GET", "/v1/me")}
# The role of each project's cluster.
CLUSTER_ROLE = "web"
# The lifecycle hook of each project's scaling group.
SCALING_HOOK = "drain"


@dataclass
class Tenant:
    """A project, its owner's client, and the ids of everything made in it."""

    project: str
    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)
    # What the project was shown once and must never be shown again (webhook signing secrets).
    secrets: list[str] = field(default_factory=list)


async def login(platform: Platform, email: str, project: str) -> httpx.AsyncClient:
    async with platform.client(token=None) as anonymous:
        answer = await anonymous.post(
            "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
        )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.AsyncClient(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}", "X-Clanavi-Project": project},
        timeout=30,
    )


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


async def user_in(admin: httpx.AsyncClient, email: str, project: str, role: str) -> str:
    user = created(
        await admin.post("/v1/users", json={"email": email, "name": email.split("@")[0], "password": PASSWORD})
    )
    member = await admin.put(f"/v1/members/{user['id']}", json={"role": role}, headers={"X-Clanavi-Project": project})
    assert member.status_code in (200, 201), member.text
    return str(user["id"])


async def populate(tenant: Tenant) -> None:
    """One of every kind of object, made by the project's owner in a SimCloud account of the project's own."""
    c, ids = tenant.client, tenant.ids
    cloud = created(
        await c.post("/v1/clouds", json={"name": f"sim-{tenant.project}", "driver": "simcloud", "config": SIM_CONFIG})
    )
    ids["cloud_id"] = cloud["id"]
    launch = {"cloud_id": cloud["id"], "image_id": "img-debian-12", "flavor_id": "sim.small"}
    instance = created(await c.post("/v1/instances", json={**launch, "name": f"web-{tenant.project}"}))
    ids["instance_id"] = instance["id"]
    await wait_for_state(c, instance["id"], "running")
    ids["key_pair_id"] = created(await c.post("/v1/key-pairs", json={"cloud_id": cloud["id"], "name": "deploy"}))["id"]
    group = created(await c.post("/v1/security-groups", json={"cloud_id": cloud["id"], "name": "web"}))
    port = 22 if tenant.project == "alpha" else 2222
    ids["group_id"] = group["id"]
    rule = created(
        await c.post(
            f"/v1/security-groups/{group['id']}/rules",
            # rule ids derive from the rule, so each project's rule is its own
            json={"protocol": "tcp", "from_port": port, "to_port": port, "cidr": "10.0.0.0/8"},
        )
    )
    ids["rule_id"] = rule["rules"][0]["id"] if "rules" in rule else rule["id"]
    volume = created(await c.post("/v1/volumes", json={"cloud_id": cloud["id"], "name": "data", "size_gb": 1}))
    ids["volume_id"] = volume["id"]
    await eventually(lambda: _state_is(c, f"/v1/volumes/{volume['id']}", "available"), what="volume available")
    snapshot = created(await c.post("/v1/snapshots", json={"volume_id": volume["id"], "name": "nightly"}))
    ids["snapshot_id"] = snapshot["id"]
    ids["address_id"] = created(await c.post("/v1/addresses", json={"cloud_id": cloud["id"], "name": "front"}))["id"]
    image = created(await c.post("/v1/images", json={"instance_id": instance["id"], "name": "golden"}))
    ids["image_id"] = image["id"]
    key = created(await c.post("/v1/api-keys", json={"name": "ci", "role": "operator"}))
    ids["key_id"] = key["id"]
    ids["sync_id"] = created(await c.post(f"/v1/clouds/{cloud['id']}/sync"))["id"]
    boot = {"name": "hello", "body": "#!/bin/sh\necho hello\n"}
    ids["script_id"] = created(await c.post("/v1/scripts", json=boot))["script_id"]
    template = {"name": "web", "clouds": [launch], "boot_scripts": [{"script_id": ids["script_id"]}]}
    ids["template_id"] = created(await c.post("/v1/templates", json=template))["template_id"]
    # A run of an operational script: the account has no SSH side, so it fails, but it is the project's run.
    report = {"name": "report", "body": "#!/bin/sh\necho report\n", "phase": "operational"}
    ids["operational_script_id"] = created(await c.post("/v1/scripts", json=report))["script_id"]
    run = {"script_id": ids["operational_script_id"]}
    ids["run_id"] = created(await c.post(f"/v1/instances/{instance['id']}/runs", json=run))["id"]
    # Runs on two instances at once make a batch.
    other = created(await c.post("/v1/instances", json={**launch, "name": f"worker-{tenant.project}"}))
    await wait_for_state(c, other["id"], "running")
    bulk = {**run, "instance_ids": [instance["id"], other["id"]]}
    ids["batch_id"] = created(await c.post("/v1/runs", json=bulk))["batch_id"]
    role = {"name": CLUSTER_ROLE, "template_id": ids["template_id"], "cloud_id": cloud["id"], "count": 1}
    ids["cluster_id"] = created(await c.post("/v1/clusters", json={"name": "shop", "roles": [role]}))["id"]
    await eventually(lambda: _state_is(c, f"/v1/clusters/{ids['cluster_id']}", "running"), what="cluster running")
    # A costly launch waits for approval: the threshold is set for it alone, nothing else is held back.
    created(await c.put("/v1/guardrails", json={"approval_threshold": "1", "currency": "USD"}))
    waiting = created(await c.post("/v1/instances", json={**launch, "name": f"big-{tenant.project}"}))
    ids["approval_id"] = waiting["approval"]["id"]
    created(await c.put("/v1/guardrails", json={}))
    policy = {"name": "web", "target": {"kind": "cluster_role", "cluster_id": ids["cluster_id"], "role": CLUSTER_ROLE}}
    ids["policy_id"] = created(await c.post("/v1/health-policies", json=policy))["id"]
    refresh = {"policy_id": ids["policy_id"], "template_version": 1, "checkpoint_percent": 50}
    ids["refresh_id"] = created(await c.post("/v1/refreshes", json=refresh))["id"]
    budget = {"name": "month", "amount": "1000", "currency": "USD", "thresholds": [{"percent": 80}]}
    ids["budget_id"] = created(await c.post("/v1/budgets", json=budget))["id"]
    await scaling_group(tenant)
    await alerting(tenant)


async def alerting(tenant: Tenant) -> None:
    """A webhook channel (its endpoint never called), a silence, and a rule on the project's instance that fires on
    the metric sample pushed for it."""
    c, ids = tenant.client, tenant.ids
    hook = {"kind": "webhook", "name": "ops", "url": f"https://hooks.example.com/{tenant.project}"}
    channel = created(await c.post("/v1/channels", json=hook))
    ids["channel_id"] = channel["id"]
    tenant.secrets.append(channel["secret"])
    silence = {"matchers": [{"label": "alertname", "value": "none"}], "ends_at": "2999-01-01T00:00:00Z"}
    ids["silence_id"] = created(await c.post("/v1/silences", json=silence))["id"]
    rule = {
        "name": "busy",
        "kind": "threshold",
        "metric": "cpu_utilization",
        "operator": ">=",
        "value": 0,
        "scope": {"instance_ids": [ids["instance_id"]]},
    }
    ids["alert_rule_id"] = created(await c.post("/v1/alert-rules", json=rule))["id"]
    sample = {"samples": [{"name": "cpu_utilization", "value": 50, "instance_id": ids["instance_id"]}]}

    async def firing() -> str | None:
        created(await c.post("/v1/metrics", json=sample))
        found = (await c.get("/v1/alerts", params={"rule_id": ids["alert_rule_id"]})).json()["items"]
        return str(found[0]["id"]) if found else None

    ids["alert_id"] = await eventually(firing, what="the project's alert to fire")


async def scaling_group(tenant: Tenant) -> None:
    """A scaling group of no members over the project's template (once the scaler has heard of the template), with a
    policy and a terminating hook."""
    c, ids = tenant.client, tenant.ids
    group = {
        "name": "web",
        "template_id": ids["template_id"],
        "template_version": 1,
        "min_size": 0,
        "max_size": 2,
        "lifecycle_hooks": [{"name": SCALING_HOOK, "transition": "terminating", "timeout_seconds": 60}],
    }

    async def made() -> dict[str, Any] | None:
        answer = await c.post("/v1/scaling-groups", json=group)
        return None if answer.status_code == 422 else created(answer)

    ids["scaling_group_id"] = (await eventually(made, what="the scaler to know the template"))["id"]
    policy = {"name": "cpu", "kind": "target_tracking", "metric": "cpu_utilization", "target": 60}
    policies = f"/v1/scaling-groups/{ids['scaling_group_id']}/policies"
    ids["scaling_policy_id"] = created(await c.post(policies, json=policy))["id"]


async def _state_is(client: httpx.AsyncClient, path: str, state: str) -> bool:
    return bool((await client.get(path)).json().get("state") == state)


@dataclass
class World:
    admin: httpx.AsyncClient
    alpha: Tenant
    beta: Tenant
    viewer: httpx.AsyncClient  # a viewer of alpha
    operations: list[tuple[str, str]]
    user_ids: dict[str, str]


# --- what each route is called with ----------------------------------------------------------------------------


def bodies(ids: dict[str, str], user_ids: dict[str, str]) -> dict[tuple[str, str], Any]:
    """A valid body for every route that takes one, naming alpha's objects wherever a body names an object."""
    cloud = ids["cloud_id"]
    machine = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}
    return {
        ("POST", "/v1/instances"): {
            "cloud_id": cloud,
            "name": "x",
            "image_id": "img-debian-12",
            "flavor_id": "sim.small",
        },
        ("POST", "/v1/key-pairs"): {"cloud_id": cloud, "name": "x"},
        ("POST", "/v1/key-pairs/import"): {
            "cloud_id": cloud,
            "name": "x",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Gv3NwR2Yc9S0cJp8n4mC7q7n9m7Yc0kQe0b1xKpQh me@host",
        },
        ("POST", "/v1/security-groups"): {"cloud_id": cloud, "name": "x"},
        ("POST", "/v1/security-groups/{group_id}/rules"): {
            "protocol": "tcp",
            "from_port": 80,
            "to_port": 80,
            "cidr": "0.0.0.0/0",
        },
        ("POST", "/v1/volumes"): {"cloud_id": cloud, "name": "x", "size_gb": 1},
        ("POST", "/v1/volumes/{volume_id}/actions/attach"): {"instance_id": ids["instance_id"]},
        ("POST", "/v1/snapshots"): {"volume_id": ids["volume_id"], "name": "x"},
        ("POST", "/v1/addresses"): {"cloud_id": cloud},
        ("POST", "/v1/addresses/{address_id}/actions/associate"): {"instance_id": ids["instance_id"]},
        ("POST", "/v1/images"): {"instance_id": ids["instance_id"], "name": "x"},
        ("POST", "/v1/clouds"): {"name": "x", "driver": "simcloud", "config": {}},
        ("PATCH", "/v1/clouds/{cloud_id}"): {"name": "renamed"},
        ("PUT", "/v1/modules/{name}"): {"enabled": True},
        ("POST", "/v1/users"): {"email": "mallory@example.com", "name": "m", "password": PASSWORD},
        ("PATCH", "/v1/users/{user_id}"): {"name": "m"},
        ("POST", "/v1/projects"): {"id": "mallory", "name": "Mallory"},
        ("PUT", "/v1/members/{user_id}"): {"role": "viewer"},
        ("POST", "/v1/api-keys"): {"name": "x"},
        ("POST", "/v1/scripts"): {"name": "x", "body": "#!/bin/sh\necho x\n"},
        ("POST", "/v1/scripts/{script_id}/versions"): {"body": "#!/bin/sh\necho y\n"},
        ("PATCH", "/v1/scripts/{script_id}/versions/{version}"): {"deprecated": False},
        ("POST", "/v1/templates"): {"name": "x", "clouds": [machine]},
        ("POST", "/v1/templates/{template_id}/versions"): {"clouds": [machine]},
        ("PATCH", "/v1/templates/{template_id}"): {"default_version": 1},
        ("PATCH", "/v1/templates/{template_id}/versions/{version}"): {"deprecated": False},
        ("POST", "/v1/instances/{instance_id}/runs"): {"script_id": ids["operational_script_id"]},
        ("POST", "/v1/clouds/{cloud_id}/prices"): {
            "currency": "EUR",
            "prices": [{"kind": "flavor", "region": "", "item": "sim.small", "price": "0.0250"}],
        },
        ("POST", "/v1/runs"): {"script_id": ids["operational_script_id"], "instance_ids": [ids["instance_id"]]},
        ("POST", "/v1/clusters"): {
            "name": "x",
            "roles": [{"name": "db", "template_id": ids["template_id"], "cloud_id": cloud, "count": 1}],
        },
        ("POST", "/v1/clusters/{cluster_id}/roles/{role}/scale"): {"count": 1},
        ("PUT", "/v1/guardrails"): {"max_instances": 1000},
        ("POST", "/v1/approvals/{approval_id}/reject"): {"reason": "too costly"},
        ("POST", "/v1/instances/{instance_id}/extend"): {"hours": 1},
        ("POST", "/v1/placements"): machine,
        ("POST", "/v1/health-policies"): {"name": "x", "target": {"kind": "tag", "key": "app", "value": "x"}},
        ("PUT", "/v1/health-policies/{policy_id}"): {
            "name": "web",
            "target": {"kind": "tag", "key": "app", "value": "web"},
            "action": "reboot",
        },
        ("POST", "/v1/health-policies/{policy_id}/breaker/reset"): None,
        ("POST", "/v1/refreshes"): {"policy_id": ids["policy_id"], "template_version": 2},
        ("POST", "/v1/refreshes/{refresh_id}/continue"): None,
        ("POST", "/v1/refreshes/{refresh_id}/cancel"): None,
        ("POST", "/v1/alert-rules"): {
            "name": "x",
            "kind": "threshold",
            "metric": "cpu_utilization",
            "operator": ">",
            "value": 90,
        },
        ("PUT", "/v1/alert-rules/{alert_rule_id}"): {
            "name": "busy",
            "kind": "threshold",
            "metric": "cpu_utilization",
            "operator": ">=",
            "value": 0,
            "scope": {"instance_ids": [ids["instance_id"]]},
        },
        ("POST", "/v1/channels"): {"kind": "console", "name": "x"},
        ("POST", "/v1/channels/{channel_id}/enable"): None,
        ("POST", "/v1/silences"): {
            "matchers": [{"label": "alertname", "value": "x"}],
            "ends_at": "2999-01-01T00:00:00Z",
        },
        ("POST", "/v1/metrics"): {"samples": [{"name": "queue_depth", "value": 3, "instance_id": ids["instance_id"]}]},
        ("PUT", "/v1/clouds/{cloud_id}/simulation/zones/{zone}"): {"state": "up"},
        ("PUT", "/v1/instances/{instance_id}/simulation/load"): {"profile": "steady:20"},
        ("POST", "/v1/scaling-groups"): {
            "name": "x",
            "template_id": ids["template_id"],
            "template_version": 1,
            "min_size": 0,
            "max_size": 1,
        },
        ("PATCH", "/v1/scaling-groups/{scaling_group_id}"): {"max_size": 2},
        ("PUT", "/v1/scaling-groups/{scaling_group_id}/instances/{instance_id}/protection"): {"protected": True},
        ("POST", "/v1/scaling-groups/{scaling_group_id}/policies"): {
            "name": "x",
            "kind": "target_tracking",
            "metric": "cpu_utilization",
            "target": 50,
        },
        ("POST", "/v1/scaling-groups/{scaling_group_id}/hooks/{hook}/complete"): {
            "instance_id": ids["instance_id"],
            "result": "CONTINUE",
        },
        ("POST", "/v1/scaling-groups/{scaling_group_id}/hooks/{hook}/heartbeat"): {"instance_id": ids["instance_id"]},
        ("POST", "/v1/costs/rerate"): {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
        ("POST", "/v1/budgets"): {"name": "x", "amount": "10", "currency": "USD"},
        ("PUT", "/v1/budgets/{budget_id}"): {"name": "month", "amount": "2000", "currency": "EUR"},
    }


def fill(path: str, ids: dict[str, str], user_ids: dict[str, str]) -> str:
    values = {
        **ids,
        "action": "stop",
        "name": "simcloud",
        "project_id": "alpha",
        "version": "1",
        "role": CLUSTER_ROLE,
        "zone": "sim-1a",
        "hook": SCALING_HOOK,
        "month": datetime.now(UTC).strftime("%Y-%m"),
        # a member of alpha only: to beta's owner an unknown member
        "user_id": user_ids["vera"],
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


ADMIN_ONLY_PREFIXES = ("/v1/users", "/v1/modules", "/v1/audit/verify", "/v1/audit/digests", "/v1/audit/export")
ADMIN_ONLY = {("POST", "/v1/projects")}
# Reads of a project's credentials-like objects: owners (and admins) only.
MANAGER_READS = {("GET", "/v1/api-keys"), ("GET", "/v1/api-keys/{key_id}")}
# Reads of the caller's own project named by something that is no object's id (an invoice's month): another
# project's caller reads its own, never alpha's.
OWN_PROJECT_READS = {("GET", "/v1/invoices/{month}")}
# Routes that name alpha's objects only in their body.
BODY_REFERENCES = {
    ("POST", "/v1/instances"),
    ("POST", "/v1/key-pairs"),
    ("POST", "/v1/key-pairs/import"),
    ("POST", "/v1/security-groups"),
    ("POST", "/v1/volumes"),
    ("POST", "/v1/snapshots"),
    ("POST", "/v1/addresses"),
    ("POST", "/v1/images"),
    ("POST", "/v1/templates"),
    ("POST", "/v1/runs"),
    ("POST", "/v1/clusters"),
    ("POST", "/v1/placements"),
    ("POST", "/v1/refreshes"),
    ("POST", "/v1/metrics"),
    ("POST", "/v1/scaling-groups"),
}
# Routes that make something in the caller's own project without naming any object of another project. Not
# `PUT /v1/members/{user_id}`: a user of another project is as unknown to its owner as an id nobody has.
OWN_PROJECT_WRITES = {
    ("POST", "/v1/clouds"),
    ("POST", "/v1/api-keys"),
    ("POST", "/v1/scripts"),
    ("PUT", "/v1/guardrails"),
    ("POST", "/v1/health-policies"),
    ("POST", "/v1/costs/rerate"),
    ("POST", "/v1/budgets"),
    ("POST", "/v1/alert-rules"),
    ("POST", "/v1/channels"),
    ("POST", "/v1/silences"),
}


def admin_only(method: str, path: str) -> bool:
    return path.startswith(ADMIN_ONLY_PREFIXES) or (method, path) in ADMIN_ONLY


def lists_of_project(method: str, path: str) -> bool:
    """Routes that answer the caller's own project's objects (collections), rather than one object by id."""
    return method == "GET" and "{" not in path


async def call(client: httpx.AsyncClient, method: str, path: str, world: World, **params: str) -> httpx.Response:
    ids, users = world.alpha.ids, world.user_ids
    body = bodies(ids, users).get((method, path))
    return await client.request(method, fill(path, ids, users), json=body, params=params or None)


async def block_launches(platform: Platform, tenant: Tenant) -> None:
    """The project's budget blocking launches of servers with a tag no test launches with, as the billing service
    would publish it; waits until the project lists it."""
    budget_id = tenant.ids["budget_id"]
    scope = BudgetScope(kind="tag", tag_key="budget", tag_value="capped")
    period = f"{datetime.now(UTC):%Y-%m}"
    blocked = BudgetLaunchesBlocked(budget_id=budget_id, name="capped", scope=scope, period=period, reason="over")
    await platform.publish(new_event(blocked, project_id=tenant.project, correlation_id=f"corr-{budget_id[:8]}"))

    async def listed() -> bool | None:
        items = created(await tenant.client.get("/v1/launch-blocks"))["items"]
        return True if [b["budget_id"] for b in items] == [budget_id] else None

    await eventually(listed, what=f"{tenant.project}'s launch block")


async def build_world(platform: Platform) -> AsyncIterator[World]:
    """The two tenants, populated; their clients are closed when the iterator ends."""
    async with platform.client() as admin:
        for project in ("alpha", "beta"):
            answer = await admin.post("/v1/projects", json={"id": project, "name": project.title()})
            assert answer.status_code == 201, answer.text
        users = {
            "alice": await user_in(admin, "alice@example.com", "alpha", "owner"),
            "bob": await user_in(admin, "bob@example.com", "beta", "owner"),
            "vera": await user_in(admin, "vera@example.com", "alpha", "viewer"),
        }
        alpha = Tenant("alpha", await login(platform, "alice@example.com", "alpha"))
        beta = Tenant("beta", await login(platform, "bob@example.com", "beta"))
        viewer = await login(platform, "vera@example.com", "alpha")
        await populate(alpha)
        await populate(beta)
        for tenant in (alpha, beta):
            await block_launches(platform, tenant)
        spec = (await admin.get("/openapi.json")).json()
        operations = [
            (method.upper(), path)
            for path, ops in spec["paths"].items()
            if path.startswith("/v1/")
            for method in ops
            if method in {"get", "post", "put", "patch", "delete"}
        ]
        try:
            yield World(admin, alpha, beta, viewer, operations, users)
        finally:
            for client in (alpha.client, beta.client, viewer):
                await client.aclose()
