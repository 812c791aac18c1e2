"""Failover on the platform as processes, through the installed `clanavi` command: a health policy over the servers
carrying a tag, a server launched on SimCloud with that tag watched and judged healthy from the provisioner's own
events, a refresh of servers not launched from a template refused, bad input named."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.platform import TOKEN, Platform, wait_for_state
from tests.e2e.test_cli import LAUNCH, SIM, Shell

pytestmark = pytest.mark.e2e

# The command installed beside the interpreter, run on the checkout under test (as the platform's processes are).
CHECKOUT = str(Path(__file__).resolve().parents[2])


async def test_a_tagged_server_is_watched_from_the_command_line(platform: Platform, tmp_path: Path) -> None:
    admin = Shell(
        tmp_path / "admin",
        CLANAVI_URL=platform.gateway_url,
        CLANAVI_TOKEN=TOKEN,
        CLANAVI_PROJECT="default",
        PYTHONPATH=CHECKOUT,
    )
    cloud = admin("clouds", "add", "--name", "sim-fo", "--driver", "simcloud", *SIM, "-o", "json").json()["id"]
    policy = admin(
        "health-policies", "create", "--name", "web", "--tag", "app=web", "--grace", "0", "--action", "quarantine",
        "--zone-max-unhealthy", "50", "-o", "json",
    ).json()  # fmt: skip
    assert policy["target"] == {"kind": "tag", "key": "app", "value": "web", "scaling_group_id": None,
                                "cluster_id": None, "role": None}  # fmt: skip
    assert policy["breaker"]["open"] is False and policy["action"] == "quarantine"

    launched = admin(*LAUNCH, "--cloud", cloud, "--name", "web-1", "--tag", "app=web", "-o", "json").json()
    other = admin(*LAUNCH, "--cloud", cloud, "--name", "db-1", "--tag", "app=db", "-o", "json").json()
    async with platform.client() as client:
        await wait_for_state(client, launched["id"], "running")
        await wait_for_state(client, other["id"], "running")
    health = admin.poll(
        "health", "list", "--policy", policy["id"], until=lambda items: [i["health"] for i in items] == ["healthy"]
    )
    assert [(i["instance_id"], i["health"], i["quarantined"]) for i in health] == [(launched["id"], "healthy", False)]
    assert health[0]["signals"]["cloud_state"] == "running"
    assert admin("health", "list", "--quarantined", "-o", "json").json() == []

    listed = admin("health-policies", "list", "-o", "json").json()
    assert [p["id"] for p in listed] == [policy["id"]]
    reset = admin("health-policies", "reset-breaker", policy["id"], "-o", "json").json()
    assert reset["breaker"]["open"] is False

    refused = admin("refreshes", "start", "--policy", policy["id"], "--version", "2", expect=1)
    assert "not launched from a template" in refused.err

    bad = admin("health-policies", "create", "--name", "x", "--tag", "a=b", "--grace", "-5", expect=2)
    assert "grace_seconds" in bad.err
    usage = admin("health-policies", "create", "--name", "x", expect=2)
    assert "--scaling-group" in usage.err

    admin("health-policies", "delete", policy["id"])
    assert admin("health-policies", "list", "-o", "json").json() == []
