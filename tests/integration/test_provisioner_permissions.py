"""The provisioner checks the permission of the identity the gateway signed itself, on every route: a validly signed
identity whose role lacks what the route declares gets 403 problem JSON from the provisioner, and nothing changes
(no record, no event), even when the request names real records and would otherwise succeed. On the whole app with
real PostgreSQL, RabbitMQ and SimCloud.

The routes are read from the app, so a route added later is checked too; one that declares no permission fails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from kernel.authz import route_permission
from kernel.identity import Identity, Permission, Role
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import (
    CLUSTER_ROLE,
    PUBLIC_KEY,
    SIM,
    World,
    build,
    everything,
    provisioner,
    routes,
    use_secret_key,
)
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

PROJECT = "alpha"

# Which of the world's records each path parameter takes, unless the route says otherwise below.
PATH_RECORDS = {
    "instance_id": "instance",
    "key_pair_id": "key_pair",
    "group_id": "security_group",
    "rule_id": "rule",
    "volume_id": "volume",
    "snapshot_id": "snapshot",
    "address_id": "address",
    "image_id": "image",
    "cloud_id": "cloud",
    "sync_id": "sync",
    "script_id": "script",
    "template_id": "template",
    "run_id": "run",
    "cluster_id": "cluster",
    "approval_id": "approval",
}
# Records on which the route would succeed, had it not refused the caller.
ROUTE_RECORDS = {
    ("DELETE", "/v1/volumes/{volume_id}"): {"volume_id": "spare_volume"},
    ("POST", "/v1/volumes/{volume_id}/actions/attach"): {"volume_id": "spare_volume"},
    ("DELETE", "/v1/addresses/{address_id}"): {"address_id": "spare_address"},
    ("POST", "/v1/addresses/{address_id}/actions/associate"): {"address_id": "spare_address"},
    ("POST", "/v1/clusters/{cluster_id}/members/{instance_id}/replace"): {"instance_id": "cluster_member"},
    ("POST", "/v1/instances/{instance_id}/extend"): {"instance_id": "expiring"},
}
PATH_VALUES = {"action": "stop", "name": "simcloud", "version": 1, "role": CLUSTER_ROLE, "zone": "sim-1a"}
# A query that makes a route do the most.
QUERIES = {("DELETE", "/v1/clouds/{cloud_id}"): {"force": "true"}}


def bodies(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """A body each route taking one would carry out."""
    cloud = world.cloud
    template_cloud = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}
    return {
        ("POST", "/v1/instances"): {
            "cloud_id": cloud,
            "name": "web2",
            "image_id": "img-debian-12",
            "flavor_id": "sim.small",
            "key_name": world.key_name,
            "security_group_ids": [world.security_group],
        },
        ("POST", "/v1/clouds"): {"name": "another", "driver": "simcloud", "config": SIM},
        ("PATCH", "/v1/clouds/{cloud_id}"): {"name": "renamed", "enabled": False},
        ("POST", "/v1/key-pairs"): {"cloud_id": cloud, "name": "k2"},
        ("POST", "/v1/key-pairs/import"): {"cloud_id": cloud, "name": "k3", "public_key": PUBLIC_KEY},
        ("POST", "/v1/security-groups"): {"cloud_id": cloud, "name": "g2"},
        ("POST", "/v1/security-groups/{group_id}/rules"): {"protocol": "tcp", "from_port": 80, "cidr": "0.0.0.0/0"},
        ("POST", "/v1/volumes"): {"cloud_id": cloud, "name": "v2", "size_gb": 1},
        ("POST", "/v1/volumes/{volume_id}/actions/attach"): {"instance_id": world.instance},
        ("POST", "/v1/snapshots"): {"volume_id": world.volume, "name": "s2"},
        ("POST", "/v1/addresses"): {"cloud_id": cloud},
        ("POST", "/v1/addresses/{address_id}/actions/associate"): {"instance_id": world.instance},
        ("POST", "/v1/images"): {"instance_id": world.instance, "name": "i2"},
        ("PUT", "/v1/modules/{name}"): {"enabled": False},
        ("POST", "/v1/scripts"): {"name": "s2", "body": "#!/bin/sh\necho hi\n"},
        ("POST", "/v1/scripts/{script_id}/versions"): {"body": "#!/bin/sh\necho again\n"},
        ("PATCH", "/v1/scripts/{script_id}/versions/{version}"): {"deprecated": True},
        ("POST", "/v1/templates"): {"name": "t2", "clouds": [template_cloud]},
        ("POST", "/v1/templates/{template_id}/versions"): {"clouds": [template_cloud]},
        ("PATCH", "/v1/templates/{template_id}"): {"default_version": 1},
        ("PATCH", "/v1/templates/{template_id}/versions/{version}"): {"deprecated": True},
        ("POST", "/v1/instances/{instance_id}/runs"): {"script_id": world.operational_script},
        ("POST", "/v1/runs"): {"script_id": world.operational_script, "instance_ids": [world.instance]},
        ("POST", "/v1/clusters"): {
            "name": "c2",
            "roles": [{"name": "db", "template_id": world.template, "cloud_id": cloud, "count": 1}],
        },
        ("POST", "/v1/clusters/{cluster_id}/roles/{role}/scale"): {"count": 2},
        ("PUT", "/v1/guardrails"): {"max_instances": 1},
        ("POST", "/v1/approvals/{approval_id}/reject"): {"reason": "too costly"},
        ("POST", "/v1/instances/{instance_id}/extend"): {"hours": 1},
        ("POST", "/v1/placements"): {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"},
        ("POST", "/v1/metrics"): {"samples": [{"name": "queue_depth", "value": 3, "instance_id": world.instance}]},
        ("PUT", "/v1/clouds/{cloud_id}/simulation/zones/{zone}"): {"state": "down"},
        ("PUT", "/v1/instances/{instance_id}/simulation/load"): {"profile": "steady:90"},
    }


def lacking(permission: Permission) -> dict[str, dict[str, str]]:
    """Signed identities of the project whose role lacks `permission`, by role."""
    return {
        role.value: identity_headers(PROJECT, role)
        for role in Role
        if not Identity(f"user:{role.value}", PROJECT, role).can(permission)
    }


def url(route: APIRoute, method: str, world: World) -> str:
    records = {**PATH_RECORDS, **ROUTE_RECORDS.get((method, route.path), {})}
    ids = world.ids()
    values = {name: ids[key] for name, key in records.items()}
    return route.path.format(**values, **PATH_VALUES)


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def test_a_role_without_the_routes_permission_is_refused_by_the_provisioner_and_nothing_changes(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (app, client):
        world = await build(client, PROJECT)
        before = await everything(database_url)
        body_of = bodies(world)
        wrong: list[str] = []
        checked = 0
        for route in routes(app):
            declared = route_permission(route)
            if declared is None:
                wrong.append(f"{sorted(route.methods or ())} {route.path} declares no permission")
            # A route that declares nothing is tried with the least role, to show what it lets through.
            permission = declared or Permission.OPERATE
            for method in sorted(route.methods or ()):
                if route.body_field is not None and (method, route.path) not in body_of:
                    wrong.append(f"{method} {route.path}: give it a body in `bodies`")
                    continue
                target = url(route, method, world)
                body = body_of.get((method, route.path))
                query = QUERIES.get((method, route.path))
                for role, headers in lacking(permission).items():
                    answer = await client.request(method, target, json=body, params=query, headers=headers)
                    checked += 1
                    if not refused(answer):
                        wrong.append(f"{method} {route.path} ({declared}) as {role}: {answer.status_code}")
                if permission is Permission.READ:
                    # Nobody lacks it: a viewer reads.
                    viewer = identity_headers(PROJECT, Role.VIEWER)
                    answer = await client.request(method, target, json=body, params=query, headers=viewer)
                    if answer.status_code == 403:
                        wrong.append(f"{method} {route.path} refuses a viewer: {answer.text}")
        assert not wrong, "\n".join(wrong)
        assert checked > 30
        assert await everything(database_url) == before


def refused(answer: httpx.Response) -> bool:
    if answer.status_code != 403 or not answer.headers["content-type"].startswith("application/problem+json"):
        return False
    problem = answer.json()
    return bool(problem["status"] == 403 and problem["code"] == "forbidden" and problem["detail"])
