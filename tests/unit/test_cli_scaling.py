"""`clanavi scaling-groups`: what its commands send, and what they show of a group's decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clanavi.client.models import ActivityOut, GroupOut, PolicyOut
from kernel.pagination import Page
from tests.cli_kit import Cli, logged_in
from tests.client_kit import MOMENT
from tests.network import Network, ok


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def group(**changes: object) -> GroupOut:
    fields: dict[str, object] = {
        "id": "g-1",
        "name": "web",
        "template_id": "t-1",
        "template_version": 1,
        "min_size": 1,
        "max_size": 6,
        "desired": 1,
        "allowed_clouds": [],
        "allowed_zones": [],
        "strategy": "spread",
        "tags": {},
        "inputs": {},
        "cooldown_seconds": 300,
        "stabilisation_seconds": 300,
        "termination_policies": ["zone_balance"],
        "lifecycle_hooks": [],
        "created_at": MOMENT,
        "updated_at": MOMENT,
        "last_scaled_at": None,
        "failures": 0,
        "backoff_until": None,
    }
    return GroupOut.model_validate({**fields, **changes})


def test_set_sends_only_what_it_is_given(cli: Cli) -> None:
    network = Network(ok(group(desired=3)))
    ran = cli("scaling-groups", "set", "g-1", "--desired", "3", "-o", "json", network=network)
    assert ran.status == 0, ran.err
    assert network.requests[0].method == "PATCH" and network.requests[0].url.path == "/v1/scaling-groups/g-1"
    assert json.loads(network.requests[0].content) == {"desired": 3}
    assert ran.json()["desired"] == 3


def test_activities_show_each_decisions_reason(cli: Cli) -> None:
    reason = "scaled out 3 -> 5: cpu_utilization 82 % > target 60 % for 2 samples"
    activity = ActivityOut(id=7, at=MOMENT, kind="decided", instance_id=None, description=reason, details=None)
    network = Network(ok(Page[ActivityOut](items=[activity], next_cursor=None)))
    ran = cli("scaling-groups", "activities", "g-1", network=network)
    assert ran.status == 0, ran.err
    assert network.requests[0].url.path == "/v1/scaling-groups/g-1/activities"
    assert reason in ran.out


def test_a_policy_is_added_from_its_spec(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "cpu.yaml"
    spec.write_text("name: cpu\nkind: target_tracking\nmetric: cpu_utilization\ntarget: 60\n")
    answer = PolicyOut(
        id="p-1",
        group_id="g-1",
        name="cpu",
        kind="target_tracking",
        metric="cpu_utilization",
        target=60,
        warmup_seconds=60,
        tolerance=0.1,
        adjustment_type="ChangeInCapacity",
        steps=[],
        min_adjustment_magnitude=0,
        cron=None,
        time_zone="UTC",
        min_size=None,
        max_size=None,
        desired=None,
        next_run_at=None,
        created_at=MOMENT,
    )
    network = Network(ok(answer, 201))
    ran = cli("scaling-groups", "policies", "add", "g-1", "-f", str(spec), "-o", "json", network=network)
    assert ran.status == 0, ran.err
    sent = json.loads(network.requests[0].content)
    assert sent["kind"] == "target_tracking" and sent["metric"] == "cpu_utilization" and sent["target"] == 60
    assert network.requests[0].url.path == "/v1/scaling-groups/g-1/policies"


def test_a_hook_is_abandoned_on_request(cli: Cli) -> None:
    network = Network(ok({}, 204))
    ran = cli("scaling-groups", "complete-hook", "g-1", "drain", "i-1", "--abandon", network=network)
    assert ran.status == 0, ran.err
    assert json.loads(network.requests[0].content) == {"instance_id": "i-1", "result": "ABANDON"}
    assert ran.lines == ["i-1: hook drain completed with ABANDON"]
