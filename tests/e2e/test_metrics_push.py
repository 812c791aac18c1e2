"""Pushed metrics through the gateway and the installed `clanavi` command: an operator's samples reach the audit as
`metrics.sampled` (source agent); a viewer is refused, another project's instance is answered as one nobody has, and
a batch over 1000 samples is refused; a SimCloud instance's load is changed through the API."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.platform import TOKEN, Platform
from tests.e2e.test_cli import Shell

pytestmark = pytest.mark.e2e

CODE = {"PYTHONPATH": str(Path(__file__).parents[2])}
SIM = ("--config", "boot_seconds=0.3")


def _audited(admin: httpx.Client, project: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        answer = admin.get(
            "/v1/audit/events", params={"type": "metrics.sampled"}, headers={"X-Clanavi-Project": project}
        )
        # Pushed samples only (the provisioner samples the instance's cloud too, once a minute on this account).
        items: list[dict[str, Any]] = [e for e in answer.json()["items"] if e["payload"]["source"] == "agent"]
        if items:
            return items
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def test_samples_pushed_from_the_command_line_and_what_is_refused(platform: Platform, tmp_path: Path) -> None:
    url = platform.gateway_url
    keys = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as admin:
        for project in ("pushers", "strangers"):
            assert admin.post("/v1/projects", json={"id": project, "name": project.title()}).status_code == 201
        for project, role in (("pushers", "operator"), ("pushers", "viewer"), ("strangers", "owner")):
            made = admin.post("/v1/api-keys", json={"name": role, "role": role}, headers={"X-Clanavi-Project": project})
            keys[project, role] = made.json()["key"]
        operator = Shell(tmp_path / "operator", **CODE)
        operator("login", "--url", url, "--api-key", "--stdin", stdin=keys["pushers", "operator"] + "\n")
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {keys['pushers', 'operator']}"}, timeout=30
        ) as mine:
            cloud = mine.post("/v1/clouds", json={"name": "s", "driver": "simcloud", "config": {"boot_seconds": 0.3}})
            assert cloud.status_code == 403  # clouds are an owner's: use the admin's
            made = admin.post(
                "/v1/clouds",
                json={"name": "s", "driver": "simcloud", "config": {"boot_seconds": 0.3}},
                headers={"X-Clanavi-Project": "pushers"},
            )
            cloud_id = made.json()["id"]
            launch = {"cloud_id": cloud_id, "name": "w", "image_id": "img-debian-12", "flavor_id": "sim.small"}
            instance = mine.post("/v1/instances", json=launch).json()["id"]

            pushed = operator(
                "metrics", "push", "--name", "queue_depth", "--value", "42", "--instance", instance,
                "--label", "queue=jobs", "-o", "json",
            ).json()  # fmt: skip
            assert pushed == {"accepted": 1}
            [event] = _audited(admin, "pushers")
            assert event["type"] == "metrics.sampled"
            [sample] = event["payload"]["samples"]
            assert (sample["name"], sample["value"], sample["instance_id"]) == ("queue_depth", 42.0, instance)
            assert sample["labels"] == {"queue": "jobs"}

            # A viewer reads, never pushes.
            sample_body = {"samples": [{"name": "x", "value": 1, "instance_id": instance}]}
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {keys['pushers', 'viewer']}"}, timeout=30
            ) as viewer:
                assert viewer.post("/v1/metrics", json=sample_body).status_code == 403
            # Another project's instance is answered as an id nobody has.
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {keys['strangers', 'owner']}"}, timeout=30
            ) as stranger:
                foreign = stranger.post("/v1/metrics", json=sample_body)
                nobody = str(uuid.uuid4())
                missing = stranger.post(
                    "/v1/metrics", json={"samples": [{"name": "x", "value": 1, "instance_id": nobody}]}
                )
                assert foreign.status_code == missing.status_code == 422
                assert foreign.json()["errors"][0]["location"] == "body.samples.0.instance_id"
                assert foreign.json()["errors"][0]["message"].replace(instance, "<id>") == missing.json()["errors"][0][
                    "message"
                ].replace(nobody, "<id>")
                oversize = stranger.post("/v1/metrics", json={"samples": [{"name": "x", "value": 1}] * 1001})
                assert oversize.status_code == 422
                # The load of another project's instance is not theirs to change either.
                assert (
                    stranger.put(f"/v1/instances/{instance}/simulation/load", json={"profile": "steady:99"}).status_code
                    == 404
                )
            deadline = time.monotonic() + 30
            while mine.get(f"/v1/instances/{instance}").json()["state"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            loaded = mine.put(f"/v1/instances/{instance}/simulation/load", json={"profile": "steady:99"})
            assert loaded.status_code == 200 and loaded.json()["id"] == instance, loaded.text
            # Only its owner takes a zone down.
            zone = mine.put(f"/v1/clouds/{cloud_id}/simulation/zones/sim-1a", json={"state": "down"})
            assert zone.status_code == 403
            # Nothing but the one push was published.
            assert len(_audited(admin, "pushers")) == 1
