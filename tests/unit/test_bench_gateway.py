"""The gateway benchmark's own arithmetic: wrk's output read right, launch bodies the API accepts, CPU divided per
request and per process, targets judged, and the anchor answering with the platform's columns."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bench import _procfs, anchor
from bench._platform import CpuUse
from bench.gateway import (
    LAUNCH,
    launch_script,
    parse_wrk,
    rate_target,
    rss_target,
    summary,
    targets,
)
from services.provisioner.schemas import InstanceCreate, InstanceOut

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8080/v1/instances
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   410.11ms  120.30ms   1.20s    70.00%
    Req/Sec    75.10     30.22   150.00     65.00%
  Latency Distribution
     50%  381.81ms
     75%  450.00ms
     90%  600.50ms
     99%    1.02s
  735 requests in 5.00s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    147.00
Transfer/sec:    245.00KB
"""


def test_wrk_output_is_read_with_its_units_and_errors() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result["requests_per_s"] == 147.0
    assert result["requests"] == 735
    assert (result["p50_ms"], result["p99_ms"]) == (381.81, 1020.0)
    assert (result["non_2xx_3xx"], result["socket_errors"], result["timeouts"]) == (4, 2, 3)


def test_each_launch_body_is_one_the_api_accepts_with_a_name_of_its_own() -> None:
    script = launch_script("r1-gateway")
    template = re.search(r"string\.format\('(.*)', thread_number, sent\)", script)
    assert template is not None

    def lua_format(thread: int, sent: int) -> str:
        return template.group(1).replace("%d", str(thread), 1).replace("%d", str(sent), 1).replace("%%", "%")

    bodies = [lua_format(1, 1), lua_format(2, 7)]
    launches = [InstanceCreate.model_validate(json.loads(body)) for body in bodies]
    assert [launch.name for launch in launches] == ["r1-gateway-t1-1", "r1-gateway-t2-7"]
    assert launches[0].model_dump(include=set(LAUNCH)) == LAUNCH
    # No Idempotency-Key: every request is a launch of its own (the Authorization header comes from `wrk -H`).
    assert re.findall(r'wrk\.headers\["([^"]+)"\]', script) == ["Content-Type"]


def test_cpu_per_request_per_process_and_on_the_path() -> None:
    use = CpuUse(
        wall=10.0,
        seconds={"gateway": 1.0, "provisioner": 3.0, "postgres": 0.5, "hello": None},
        postgres_by_client={"provisioner": 0.4, "gateway": 0.1, "audit": 0.0},
        machine_cores=1.9,
    )
    figures = use.per_request(1000, ("gateway", "provisioner", "postgres"))
    assert figures["cpu_ms_per_request"] == {"gateway": 1.0, "provisioner": 3.0, "postgres": 0.5, "hello": None}
    assert figures["server_cpu_ms_per_request"] == 4.5
    # A client whose backends did nothing is left out.
    assert figures["postgres_cpu_ms_per_request_by_client"] == {"gateway": 0.1, "provisioner": 0.4}
    assert use.per_request(1000, ("gateway", "hello"))["server_cpu_ms_per_request"] is None
    assert use.per_request(0, ("gateway",))["server_cpu_ms_per_request"] is None
    assert use.cores() == {"gateway": 0.1, "provisioner": 0.3, "postgres": 0.05, "hello": None, "machine": 1.9}


def _run(rate: float, p99: float, cpu: float) -> dict[str, Any]:
    return {
        "requests_per_s": rate,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "server_cpu_ms_per_request": cpu,
        "cpu_ms_per_request": {"gateway": cpu},
        "postgres_cpu_ms_per_request_by_client": {},
    }


def test_the_summary_is_the_mean_of_the_rounds() -> None:
    result = summary([_run(100.0, 200.0, 4.0), _run(300.0, 100.0, 2.0)])
    assert (result["requests_per_s"], result["p99_ms"], result["server_cpu_ms_per_request"]) == (200.0, 150.0, 3.0)
    assert result["cpu_ms_per_request"] == {"gateway": 3.0}
    assert "until_settled" not in result


def test_targets_are_judged_on_the_means() -> None:
    def route(ratio: float, p99: float = 50.0) -> dict[str, Any]:
        return {"ratios": {"rps_gateway_over_anchor": ratio}, "gateway": {"p99_ms": p99}}

    memory = {
        "idle": {"gateway": {"rss_mb": 119.0}, "provisioner": {"rss_mb": 100.0}, "audit": {"rss_mb": 90.0}},
        "after": {"gateway": {"rss_mb": 125.0}, "provisioner": {"rss_mb": 110.0}},
    }
    held = targets({"list": route(0.5, 120.5), "get": route(0.49), "post": route(2.0)}, memory)
    assert held[rate_target("list")] is True
    assert held[rate_target("get")] is False
    assert held[rate_target("post")] is True
    assert held["list_p99_at_most_120ms"] is False
    assert held[rss_target("gateway")] is False  # over after the load, though not idle
    assert held[rss_target("provisioner")] is True
    assert held[rss_target("audit")] is None  # not measured after the load


def test_the_anchor_reads_every_field_of_the_answer_model_from_both_tables() -> None:
    ddl_columns = set(re.findall(r"^\s+(\w+) \w", anchor._DDL, re.MULTILINE))
    assert set(InstanceOut.model_fields) <= ddl_columns
    created_at, key = datetime(2026, 12, 3, 9, 30, tzinfo=UTC), "3f1c2d4e-0000-4000-8000-000000000001"
    assert anchor.decode_cursor(anchor.cursor_after(created_at, key)) == (created_at, uuid.UUID(key))


# --- /proc --------------------------------------------------------------------------------------------------------


def test_a_stat_line_is_read_whatever_the_command_name_holds() -> None:
    fields = ["S", "41", *["0"] * 9, "150", "50", "7", "3", *["0"] * 30]
    stat = _procfs.parse_stat(f"4242 (postgres: a (b) c) {' '.join(fields)}")
    assert stat == _procfs.Stat(parent=41, ticks=200, reaped_ticks=10)


def test_established_sockets_are_read_from_the_tcp_table() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1538 0100007F:D431 01 00000000:00000000 00:00000000 00000000   999        0 777 1\n"
        "   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 778 1\n"
    )
    assert _procfs.parse_tcp_table(table) == {777: (0x1538, 0xD431)}


def test_a_process_belongs_to_its_nearest_named_ancestor() -> None:
    def stat(parent: int) -> _procfs.Stat:
        return _procfs.Stat(parent=parent, ticks=0, reaped_ticks=0)

    stats = {1: stat(0), 10: stat(1), 20: stat(10), 21: stat(20), 30: stat(1)}
    named = {10: "bench", 20: "gateway"}
    assert sorted(_procfs.tree(10, stats)) == [10, 20, 21]
    assert _procfs.owner(21, named, stats) == "gateway"
    assert _procfs.owner(10, named, stats) == "bench"
    assert _procfs.owner(30, named, stats) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_backend_is_followed_to_the_process_at_the_other_end_of_its_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                sys.executable,
                "-c",
                f"import socket, sys; s = socket.create_connection(('127.0.0.1', {port})); sys.stdin.read()",
            ],
            stdin=subprocess.PIPE,
        )
        try:
            accepted, _ = server.accept()
            with accepted:
                # This process plays the server's backend; the child is the named client.
                found = _procfs.backend_clients([os.getpid()], port, {"client": client.pid}, _procfs.all_stats())
                assert found == {os.getpid(): "client"}
                assert _procfs.backend_clients([os.getpid()], port, {}, _procfs.all_stats()) == {
                    os.getpid(): _procfs.OTHER
                }
        finally:
            client.communicate(b"", timeout=10)
