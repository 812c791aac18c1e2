"""Script runs benchmark: operational runs per second over SSH to N SimCloud servers, C at a time.

    python -m bench.script_runs [--servers 50] [--concurrency 10] [--rounds 3]

The platform runs as `make run` runs it (gateway, provisioner, audit as processes, on the benchmark's own PostgreSQL
and RabbitMQ), its built-in SimCloud account's guests answering SSH through one real OpenSSH server (`devstack/sshd.py`)
as an operator sets it (`CLANAVI_PROVISIONER_SIM_OPTIONS`'s `guest_ssh`). N servers are launched from a template, which
authorizes the project's key; then, each round, one `POST /v1/runs` asks for a short script with an input on all N
at most C at a time, and the round is timed from that request until every run has ended, polling the batch's runs.
Each run is what a user's is: the console read for its host keys, an SSH login pinned to them, the script sent and
run, its output kept, its events written. Reported per round and as the median: runs per second, each run's queue
wait and its time from login to end, and the CPU the provisioner and sshd spent per run. One JSON object goes to
stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import _procfs
from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import ADMIN_TOKEN, platform_processes
from bench._servers import bench_servers
from devstack import SshServer, free_port

SCRIPT = "#!/bin/sh\necho run {{ round }} on $(hostname) as $(id -un)\n"


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU of each process tree, with that of the children it reaped (sshd's sessions end and are reaped)."""
    stats = _procfs.all_stats()
    found = {name: _procfs.tree_seconds(pid, stats, reaped=True) for name, pid in pids.items()}
    return {name: seconds for name, seconds in found.items() if seconds is not None}


def _ok(answer: httpx.Response, *statuses: int) -> Any:
    if answer.status_code not in (statuses or (200,)):
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}")
    return answer.json()


async def _all(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _ok(await client.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def _servers(client: httpx.AsyncClient, n: int) -> list[str]:
    template = {
        "name": "bench-runs",
        "clouds": [{"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small"}],
    }
    template_id = _ok(await client.post("/v1/templates", json=template), 201)["template_id"]
    ids = []
    for number in range(n):
        body = {"name": f"bench-{number}", "cloud_id": "sim", "template_id": template_id}
        ids.append(_ok(await client.post("/v1/instances", json=body), 202)["id"])
    deadline = time.monotonic() + 120
    while len(await _all(client, "/v1/instances", state="running")) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} servers not running after 120 s")
        await asyncio.sleep(0.5)
    return ids


def _seconds(later: str | None, earlier: str | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _round(
    client: httpx.AsyncClient, script_id: str, ids: list[str], concurrency: int, number: int, pids: dict[str, int]
) -> dict[str, Any]:
    cpu_before = _cpu_seconds(pids)
    started = time.perf_counter()
    body = {"script_id": script_id, "inputs": {"round": number}, "instance_ids": ids, "concurrency": concurrency}
    batch = _ok(await client.post("/v1/runs", json=body), 202)["batch_id"]
    while True:
        runs = await _all(client, "/v1/runs", batch_id=batch)
        if all(r["state"] not in ("queued", "running") for r in runs):
            break
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds(pids)
    states = {state: sum(1 for r in runs if r["state"] == state) for state in {r["state"] for r in runs}}
    if states != {"succeeded": len(ids)}:
        raise RuntimeError(f"round {number}: runs ended {states}")
    waited = [_seconds(r["started_at"], r["created_at"]) for r in runs]
    ran = [_seconds(r["ended_at"], r["started_at"]) for r in runs]
    return {
        "seconds": round(seconds, 3),
        "runs_per_s": round(len(runs) / seconds, 2),
        "queued_until_logged_in": _summary([w for w in waited if w is not None]),
        "logged_in_until_ended": _summary([r for r in ran if r is not None]),
        "cpu_ms_per_run": {
            name: round((cpu[name] - before) * 1000 / len(runs), 1)
            for name, before in cpu_before.items()
            if name in cpu
        },
    }


async def bench(base_url: str, n: int, concurrency: int, rounds: int, pids: dict[str, int]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        progress(f"launching {n} servers from a template")
        ids = await _servers(client, n)
        script = {
            "name": "bench-hello",
            "phase": "operational",
            "timeout_seconds": 60,
            "body": SCRIPT,
            "inputs": [{"name": "round", "type": "number", "required": True}],
        }
        script_id = _ok(await client.post("/v1/scripts", json=script), 201)["script_id"]
        progress("a warm-up round (imports, the first logins)")
        await _round(client, script_id, ids, concurrency, 0, pids)
        results = []
        for number in range(1, rounds + 1):
            progress(f"round {number} of {rounds}: {n} runs, {concurrency} at a time")
            results.append(await _round(client, script_id, ids, concurrency, number, pids))
    return {
        "benchmark": "script-runs",
        "method": (
            f"the platform as processes (gateway, provisioner, audit) on the benchmark's own PostgreSQL 15 (fsync "
            f"on) and RabbitMQ; {n} SimCloud servers launched from a template, their SSH one local OpenSSH server; "
            f"each round one POST /v1/runs of a one-line script with an input on all {n} at most {concurrency} at a "
            "time, timed until every run had ended (the batch's runs polled every 50 ms); each run reads the "
            "console for its host keys, logs in pinned to them, runs the script, keeps its output and writes its "
            "events; after one warm-up round"
        ),
        "servers": n,
        "concurrency": concurrency,
        "rounds": results,
        "median_runs_per_s": round(statistics.median(r["runs_per_s"] for r in results), 2),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.script_runs", description=__doc__)
    parser.add_argument("--servers", type=positive, default=50)
    parser.add_argument("--concurrency", type=positive, default=10)
    parser.add_argument("--rounds", type=positive, default=3)
    args = parser.parse_args()
    exit_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-runs-"))
    root.chmod(0o755)  # sshd's unprivileged account must reach its directory inside
    try:
        sshd = SshServer(root / "sshd", free_port())
        progress("starting OpenSSH")
        sshd.start()
        try:
            with bench_servers() as endpoints:
                sim = json.dumps({"guest_ssh": sshd.guest_ssh()})
                settings = {"provisioner_sim_options": sim, "provisioner_run_concurrency": str(args.concurrency)}
                with platform_processes(endpoints, root, **settings) as processes:
                    provisioner = processes["provisioner"].process
                    assert provisioner is not None
                    pids = {
                        "provisioner": provisioner.pid,
                        "sshd": int((sshd.root / "sshd.pid").read_text().split()[0]),
                    }
                    url = f"http://127.0.0.1:{processes['gateway'].port}"
                    result = asyncio.run(bench(url, args.servers, args.concurrency, args.rounds, pids))
        finally:
            sshd.stop()
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
