"""Placement from the command line, through the installed `clanavi` command: a preview of where servers would go
with every candidate scored, a preview that cannot place them all (exit 1, the candidates shown), and a launch placed
by a strategy that keeps how it was placed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.platform import TOKEN, Platform
from tests.e2e.test_cli import PASSWORD, SIM, Shell

pytestmark = pytest.mark.e2e


def test_placements_preview_and_a_launch_placed_by_strategy(platform: Platform, tmp_path: Path) -> None:
    admin = Shell(tmp_path / "admin", CLANAVI_URL=platform.gateway_url, CLANAVI_TOKEN=TOKEN)
    admin("projects", "create", "--id", "cli-place", "--name", "Placement")
    user_id = admin(
        "users", "create", "--email", "place@example.com", "--name", "P", "--password-stdin", "-o", "json",
        stdin=PASSWORD + "\n",
    ).json()["id"]  # fmt: skip
    admin("members", "set", user_id, "--role", "owner", "-p", "cli-place")
    owner = Shell(tmp_path / "owner")
    owner("login", "--url", platform.gateway_url, "--email", "place@example.com", "--project", "cli-place", "--stdin",
          stdin=PASSWORD + "\n")  # fmt: skip
    clouds = {
        owner("clouds", "add", "--name", n, "--driver", "simcloud", *SIM, "-o", "json").json()["id"] for n in "ab"
    }

    preview = ("placements", "preview", "--image", "img-debian-12", "--vcpus", "1", "--ram-mb", "1024")
    found = owner(*preview, "--count", "2", "--strategy", "spread", "--seed", "1", "-o", "json").json()
    assert {p["cloud_id"] for p in found["placed"]} == clouds
    assert {p["flavor_id"] for p in found["placed"]} == {"sim.small"}
    rejected = {c["flavor_id"]: c["rejected"] for c in found["candidates"] if c["rejected"]}
    assert "below the requirements" in rejected["sim.nano"]
    table = owner(*preview, "--strategy", "cheapest")
    assert "1 placed by cheapest" in table.err
    assert "sim.small" in table.out and "below the requirements" in table.out

    apart = ("--group", "db", "--affinity", "anti_affinity", "--scope", "cloud", "--count", "3")
    refused = owner(*preview, *apart, expect=1)
    assert "422 placement_failed" in refused.err and "only 2 of 3" in refused.err
    assert "sim.small" in refused.out, "the candidates are shown"

    launched = owner(
        "instances", "launch", "--name", "placed", "--image", "img-debian-12", "--flavor", "sim.small",
        "--strategy", "spread", "--placement", '{"group": "web"}', "-o", "json",
    ).json()  # fmt: skip
    assert launched["cloud_id"] in clouds
    assert (launched["placement"]["strategy"], launched["placement"]["group"]) == ("spread", "web")
    dry = owner(
        "instances", "launch", "--name", "d", "--image", "img-debian-12", "--flavor", "sim.small", "--strategy",
        "cheapest", "--dry-run", "-o", "json",
    ).json()  # fmt: skip
    assert dry["cloud_id"] in clouds and dry["placement"]["strategy"] == "cheapest"
