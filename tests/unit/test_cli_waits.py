"""`--wait`: the records followed to the state their action leads to, with one live display for all of them; on a
terminal a progress bar, elsewhere a line per change of state, both on stderr."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from clanavi.cli.progress import Watch
from clanavi.client import WaitProgress
from clanavi.client.models import VolumeOut
from tests.cli_kit import Cli, Terminal, logged_in
from tests.client_kit import MOMENT, instance
from tests.network import Network, ok


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def platform(states: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    """The API of a cloud where each instance launched goes through `states`, one per read of it."""
    launched: list[str] = []
    reads: defaultdict[str, int] = defaultdict(int)
    names: dict[str, str] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            instance_id = f"i-{len(launched) + 1}"
            launched.append(instance_id)
            names[instance_id] = json.loads(request.content)["name"]
            return ok(instance(instance_id, "requested", name=names[instance_id]), 202)
        instance_id = request.url.path.rsplit("/", 1)[1]
        state = states[min(reads[instance_id], len(states) - 1)]
        reads[instance_id] += 1
        return ok(instance(instance_id, state, name=names[instance_id]))

    return answer


def test_launching_several_waits_for_all_of_them_at_once(cli: Cli) -> None:
    network = Network(*[platform(["pending", "pending", "running"])] * 12)
    args = ("instances", "launch", "--name", "web", "--image", "img-debian-12", "--flavor", "sim.small")
    ran = cli(*args, "--count", "3", "--wait", "-o", "json", "-c", "id", "-c", "name", "-c", "state", network=network)

    assert ran.status == 0, ran.err
    assert ran.json() == [{"id": f"i-{n}", "name": f"web-{n}", "state": "running"} for n in (1, 2, 3)]
    posts = [r for r in network.requests if r.method == "POST"]
    assert [json.loads(r.content)["name"] for r in posts] == ["web-1", "web-2", "web-3"]
    assert len({r.headers["idempotency-key"] for r in posts}) == 3
    # Three rounds of one read of each, the records not there yet only.
    assert [r.url.path for r in network.requests[3:]] == [f"/v1/instances/i-{n}" for n in (1, 2, 3)] * 3
    assert ran.lines == [
        *(f"instance web-{n} (i-{n}): requested" for n in (1, 2, 3)),
        *(f"instance web-{n} (i-{n}): pending" for n in (1, 2, 3)),
        *(f"instance web-{n} (i-{n}): running" for n in (1, 2, 3)),
    ]


def test_an_action_on_several_instances_follows_them_together(cli: Cli) -> None:
    stopping = [ok(instance(i, "stopping")) for i in ("i-1", "i-2")]
    stopped = [ok(instance(i, "stopped")) for i in ("i-1", "i-2")]
    network = Network(*stopping, *stopped)
    ran = cli("instances", "stop", "i-1", "i-2", "--wait", "-c", "id", "-c", "state", network=network)
    assert ran.status == 0, ran.err
    assert network.paths() == [
        "POST /v1/instances/i-1/actions/stop",
        "POST /v1/instances/i-2/actions/stop",
        "GET /v1/instances/i-1",
        "GET /v1/instances/i-2",
    ]
    assert [line.split() for line in ran.out.splitlines()[2:]] == [["i-1", "stopped"], ["i-2", "stopped"]]


def test_without_wait_an_action_prints_what_the_api_answered(cli: Cli) -> None:
    network = Network(ok(instance("i-1", "rebooting")))
    ran = cli("instances", "reboot", "i-1", "-o", "json", "-c", "state", network=network)
    assert (ran.status, ran.json(), ran.err) == (0, {"state": "rebooting"}, "")
    assert network.paths() == ["POST /v1/instances/i-1/actions/reboot"]


def volume(state: str) -> VolumeOut:
    return VolumeOut(
        id="v-1",
        project_id="default",
        cloud_id="sim",
        name="data",
        provider_id="vol-1",
        state=state,
        pending_action=None,
        reason=None,
        created_at=MOMENT,
        updated_at=MOMENT,
        size_gb=10,
        zone=None,
        instance_id="i-1" if state == "in-use" else None,
        device="/dev/vdb" if state == "in-use" else None,
        snapshot_id=None,
    )


def test_other_records_wait_for_the_state_their_action_leads_to(cli: Cli) -> None:
    network = Network(ok(volume("attaching")), ok(volume("attaching")), ok(volume("in-use")))
    ran = cli("volumes", "attach", "v-1", "--instance", "i-1", "--wait", "-o", "json", "-c", "state", network=network)
    assert ran.status == 0, ran.err
    assert ran.json() == {"state": "in-use"}
    assert json.loads(network.requests[0].content) == {"instance_id": "i-1"}
    assert network.paths() == ["POST /v1/volumes/v-1/actions/attach", "GET /v1/volumes/v-1", "GET /v1/volumes/v-1"]
    assert ran.lines == ["volume data (v-1): attaching", "volume data (v-1): in-use"]


def test_on_a_terminal_the_wait_is_one_bar_for_all() -> None:
    screen = Terminal()
    records = [instance(f"i-{n}", "pending") for n in range(3)]
    with Watch(screen, "instance", ["running"], 3) as watch:
        watch(WaitProgress(tuple(records), 0, 3, 0.5, 300))
        assert watch.done == 0
        records[0] = instance("i-0", "running")
        watch(WaitProgress(tuple(records), 1, 3, 1.0, 300))
        assert watch.done == 1
        watch(WaitProgress(tuple(instance(f"i-{n}", "running") for n in range(3)), 3, 3, 2.0, 300))
        assert watch.done == 3
    shown = screen.getvalue()
    assert "2 pending, 1 running -> running" in shown
    assert "3 running -> running" in shown and "3/3" in shown
    # One bar: no line per record.
    assert "i-0" not in shown


def test_a_timeout_is_shared_by_records_waited_for_one_after_another(cli: Cli) -> None:
    detaching = [ok(volume("detaching").model_copy(update={"id": i})) for i in ("v-1", "v-2")]
    # v-1 takes 4 s of the 5 allowed; v-2 has what is left.
    slow = [ok(volume("detaching"))] * 5 + [ok(volume("available"))]
    network = Network(*detaching, *slow, *[ok(volume("detaching").model_copy(update={"id": "v-2"}))] * 20)
    ran = cli("volumes", "detach", "v-1", "v-2", "--wait", "--timeout", "5", network=network)
    assert ran.status == 3
    assert ran.lines[-1] == "clanavi: timed out waiting: not available after 5 s: volume v-2 detaching"
    assert sum(cli.waits.seconds) == pytest.approx(5)
