"""Gateway overhead benchmark (7a): `python -m bench.gateway [--instances 60] [--duration 10] [--rounds 2]`.

Starts its own PostgreSQL and RabbitMQ, then provisioner, audit and gateway as processes (as `make run` does) with
SimCloud, creates instances through the gateway, and drives `GET /v1/instances?limit=50` with wrk
(`-t2 -c64 -d10s --latency`, admin token). In the same run, a bare FastAPI hello endpoint served by uvicorn exactly
as the services are (uvloop, httptools, one worker) in its own process gets the same wrk load; the two alternate,
`--rounds` times each. The gateway's rate limits are raised far above what wrk can send, so nothing is throttled
while the limiter still runs on every request.

What the ratio means: a list through the gateway is authentication, rate limiting, validation, one HTTP call to the
provisioner (which reads PostgreSQL and serialises 50 instances) and passing the answer back, on the same two cores
wrk uses; the hello endpoint is the floor of the HTTP stack. Prints one JSON object to stdout, a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench._servers import Endpoints, bench_servers
from bench.pipeline import CpuWindow
from devstack import free_port
from devstack.processes import ServiceProcess, service_env, stop_process

# Fresh for each run: the platform lives only as long as the benchmark.
ADMIN_TOKEN = secrets.token_hex(24)
INTERNAL_KEY = secrets.token_hex(32)
SECRET_KEY = secrets.token_hex(32)
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = secrets.token_hex(16)
LIST_PATH = "/v1/instances?limit=50"
HELLO_PATH = "/hello"
# Far above what wrk can send on two cores: the limiter runs, but never refuses.
UNTHROTTLED = "1000000"
SERVICES = ("provisioner", "audit", "gateway")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- the hello baseline -----------------------------------------------------------------------------------------


def serve_hello(port: int) -> None:
    """A bare FastAPI app, served the way `clanavi serve` serves each service."""
    from fastapi import FastAPI

    from kernel import http

    app = FastAPI()

    @app.get(HELLO_PATH)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    # Served exactly as the services are.
    http.serve(app, host="127.0.0.1", port=port)


@dataclass
class HelloProcess:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.gateway", "--serve-hello", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hello server exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{HELLO_PATH}", timeout=1) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise TimeoutError(f"the hello server did not answer; see {self.log_path}")

    def stop(self) -> None:
        stop_process(self.process)


# --- wrk --------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), and errors from `wrk --latency` output."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    result: dict[str, Any] = {"requests_per_s": float(rate.group(1))}
    distribution = output.split("Latency Distribution", 1)[-1]
    for percent in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{percent}(?:\.0+)?%\s+(\S+)", distribution, re.MULTILINE)
        if found is not None:
            result[f"p{percent}_ms"] = round(_ms(found.group(1)), 3)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+\w+)", output, re.MULTILINE)
    if total is not None:
        result["requests"] = int(total.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx_3xx"] = int(non_2xx.group(1)) if non_2xx else 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    counts = [int(n) for n in sockets.groups()] if sockets else [0, 0, 0, 0]
    result["socket_errors"] = sum(counts[:3])
    # Requests still unanswered after wrk's 2 s timeout: a sign of saturation, not of failure.
    result["timeouts"] = counts[3]
    return result


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `sudo apt-get install wrk` (or `make install`)")
    _progress("wrk is not installed: installing the Debian package with apt-get")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)  # noqa: S603,S607
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install wrk")
    return found


def run_wrk(wrk: str, url: str, *, duration: int, token: str | None, pids: dict[str, int]) -> dict[str, Any]:
    """One wrk run, with the CPU the servers in `pids` (and the whole machine, other tenants included) used."""
    command = [wrk, "-t2", "-c64", f"-d{duration}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    window = CpuWindow(pids)
    done = subprocess.run([*command, url], check=True, capture_output=True, text=True)  # noqa: S603
    cores = window.cores()
    cores.pop("bench_process", None)  # this process only waits for wrk
    result = parse_wrk(done.stdout)
    result["cpu_cores_used"] = cores
    # Steadier than the rates on a shared machine: other tenants' load changes time, not CPU per request.
    servers = [v for k, v in cores.items() if k != "machine"]
    if result["requests_per_s"] > 0 and all(v is not None for v in servers):
        result["server_cpu_ms_per_request"] = round(
            sum(v for v in servers if v is not None) / result["requests_per_s"] * 1000, 3
        )
    return result


# --- the platform -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def platform_processes(endpoints: Endpoints, root: Path) -> Iterator[dict[str, ServiceProcess]]:
    ports = {name: free_port() for name in SERVICES}
    env = service_env(
        env="test",
        database_url=endpoints.database_url,
        amqp_url=endpoints.amqp_url,
        bus_prefix=f"b{uuid.uuid4().hex[:10]}",
        admin_token=ADMIN_TOKEN,
        internal_key=INTERNAL_KEY,
        secret_key=SECRET_KEY,
        log_format="text",
        log_level="WARNING",
        gateway_provisioner_url=f"http://127.0.0.1:{ports['provisioner']}",
        gateway_audit_url=f"http://127.0.0.1:{ports['audit']}",
        gateway_rate_limit_per_ip=UNTHROTTLED,
        gateway_rate_limit_ip_burst=UNTHROTTLED,
        gateway_rate_limit_per_key=UNTHROTTLED,
        gateway_rate_limit_burst=UNTHROTTLED,
        gateway_login_rate_per_ip=UNTHROTTLED,
        gateway_login_rate_burst=UNTHROTTLED,
        gateway_bootstrap_admin_email=ADMIN_EMAIL,
        gateway_bootstrap_admin_password=ADMIN_PASSWORD,
        provisioner_follow_interval="0.05",
        provisioner_sim_boot_seconds="0.2",
        provisioner_sim_terminate_seconds="0.1",
        **{f"{name}_port": str(port) for name, port in ports.items()},
    )
    processes = {name: ServiceProcess(name, port, env, root / f"{name}.log") for name, port in ports.items()}
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def create_instances(base_url: str, count: int) -> int:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        semaphore = asyncio.Semaphore(8)

        async def launch(n: int) -> str:
            async with semaphore:
                answer = await client.post(
                    "/v1/instances",
                    json={"name": f"bench-{n}", "image_id": "img-debian-12", "flavor_id": "sim.small"},
                    headers={"Idempotency-Key": f"bench-{n}-{uuid.uuid4().hex}"},
                )
                if answer.status_code != 202:
                    raise RuntimeError(f"launch answered {answer.status_code}: {answer.text}")
                instance_id: str = answer.json()["id"]
                return instance_id

        ids = await asyncio.gather(*(launch(n) for n in range(count)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            page = (await client.get("/v1/instances", params={"limit": 500, "state": "running"})).json()
            if len(page["items"]) >= len(ids):
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"instances not running after 120 s: {len(page['items'])} of {len(ids)}")
        listed = await client.get(LIST_PATH)
        if listed.status_code != 200 or len(listed.json()["items"]) != 50:
            raise RuntimeError(f"{LIST_PATH} answered {listed.status_code}: {listed.text[:300]}")
        return len(listed.content)


async def access_token(base_url: str) -> tuple[str | None, str]:
    """A JWT access token for the bootstrap admin, or None and why not."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        form = {"grant_type": "password", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        answer = await client.post("/v1/auth/token", data=form)
        if answer.status_code in (415, 422):
            answer = await client.post("/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        if answer.status_code == 404:
            return None, "POST /v1/auth/token answered 404: no login yet"
        if answer.status_code != 200:
            return None, f"POST /v1/auth/token answered {answer.status_code}: {answer.text[:200]}"
        token = answer.json().get("access_token")
        if not isinstance(token, str):
            return None, "the login answer has no access_token"
        check = await client.get(LIST_PATH, headers={"Authorization": f"Bearer {token}"})
        if check.status_code != 200:
            return None, f"{LIST_PATH} with the access token answered {check.status_code}: {check.text[:200]}"
        return token, "ok"


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    instances: int
    duration: int
    rounds: int


def _mean(runs: Sequence[dict[str, Any]], key: str) -> float:
    return round(sum(float(run[key]) for run in runs) / len(runs), 3)


def _summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "requests_per_s": round(_mean(runs, "requests_per_s"), 1),
        "p50_ms": _mean(runs, "p50_ms"),
        "p99_ms": _mean(runs, "p99_ms"),
    }
    if all("server_cpu_ms_per_request" in run for run in runs):
        summary["server_cpu_ms_per_request"] = _mean(runs, "server_cpu_ms_per_request")
    summary["runs"] = list(runs)
    return summary


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def measure(options: Options) -> dict[str, Any]:
    wrk = ensure_wrk()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-gw-"))
    began = time.perf_counter()
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            _progress(f"creating {options.instances} SimCloud instances through the gateway")
            list_bytes = asyncio.run(create_instances(gateway, options.instances))
            token, jwt_note = asyncio.run(access_token(gateway))
            _progress(f"JWT access token: {jwt_note}")
            hello = HelloProcess(free_port(), root / "hello.log")
            hello.start()
            try:
                pids = {name: p.process.pid for name, p in processes.items() if p.process is not None}
                pids.update(endpoints.pids)
                hello_pids = {"hello": hello.process.pid} if hello.process is not None else {}
                results: dict[str, list[dict[str, Any]]] = {"gateway": [], "hello": [], "gateway_jwt": []}
                for round_ in range(1, options.rounds + 1):
                    _progress(f"round {round_}: wrk on the gateway {LIST_PATH} (admin token)")
                    results["gateway"].append(
                        run_wrk(wrk, gateway + LIST_PATH, duration=options.duration, token=ADMIN_TOKEN, pids=pids)
                    )
                    _progress(f"round {round_}: wrk on the hello endpoint")
                    results["hello"].append(
                        run_wrk(
                            wrk,
                            f"http://127.0.0.1:{hello.port}{HELLO_PATH}",
                            duration=options.duration,
                            token=None,
                            pids=hello_pids,
                        )
                    )
                    if token is not None:
                        _progress(f"round {round_}: wrk on the gateway {LIST_PATH} (JWT access token)")
                        results["gateway_jwt"].append(
                            run_wrk(wrk, gateway + LIST_PATH, duration=options.duration, token=token, pids=pids)
                        )
            finally:
                hello.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    gw, base = _summary(results["gateway"]), _summary(results["hello"])
    refused = sum(run["non_2xx_3xx"] + run["socket_errors"] for runs in results.values() for run in runs)
    output: dict[str, Any] = {
        "benchmark": "gateway-overhead-7a",
        "method": (
            f"wrk -t2 -c64 -d{options.duration}s --latency, {options.rounds} rounds alternating gateway and hello; "
            f"gateway: GET {LIST_PATH} with Authorization: Bearer <admin token> over {options.instances} SimCloud "
            "instances, gateway -> provisioner -> PostgreSQL, every service one uvicorn worker (uvloop, httptools); "
            "hello: bare FastAPI GET returning a small dict, same uvicorn settings, own process; the figures are the "
            "mean of the rounds; all on the same machine as wrk; server_cpu_ms_per_request = CPU of the gateway, "
            "provisioner, audit, PostgreSQL and RabbitMQ process trees (hello: its process) / requests; "
            "cpu_cores_used.machine counts every tenant of the machine, wrk included"
        ),
        "rate_limits": f"raised to {UNTHROTTLED}/s with burst {UNTHROTTLED} (per IP, per key, login) so nothing is "
        "throttled; the limiter still runs on every request",
        "list_answer_bytes": list_bytes,
        "gateway": gw,
        "hello": base,
        "ratios": {
            "gateway_rps_over_hello_rps": _ratio(gw["requests_per_s"], base["requests_per_s"]),
            "gateway_p50_over_hello_p50": _ratio(gw["p50_ms"], base["p50_ms"]),
            "gateway_p99_over_hello_p99": _ratio(gw["p99_ms"], base["p99_ms"]),
            "gateway_cpu_per_request_over_hello": _ratio(
                gw.get("server_cpu_ms_per_request", 0.0), base.get("server_cpu_ms_per_request", 0.0)
            ),
        },
        "gateway_jwt": _summary(results["gateway_jwt"]) if results["gateway_jwt"] else {"skipped": jwt_note},
        "errors_or_non_2xx": refused,
        "wrk_timeouts_over_2s": sum(run["timeouts"] for runs in results.values() for run in runs),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "elapsed_s": round(time.perf_counter() - began, 1),
    }
    if results["gateway_jwt"]:
        jwt = output["gateway_jwt"]
        output["ratios"]["gateway_jwt_rps_over_hello_rps"] = _ratio(jwt["requests_per_s"], base["requests_per_s"])
    return output


def table(result: dict[str, Any]) -> str:
    lines = [f"{'':24} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'server CPU ms/req':>18}"]
    for name in ("gateway", "gateway_jwt", "hello"):
        row = result[name]
        if "requests_per_s" in row:
            cpu = row.get("server_cpu_ms_per_request")
            lines.append(
                f"{name:24} {row['requests_per_s']:>10.1f} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f} "
                f"{cpu if cpu is not None else '-':>18}"
            )
    ratios = result["ratios"]
    lines.append(
        f"gateway/hello: req/s x{ratios['gateway_rps_over_hello_rps']}, p50 x{ratios['gateway_p50_over_hello_p50']}, "
        f"p99 x{ratios['gateway_p99_over_hello_p99']}, server CPU per request "
        f"x{ratios['gateway_cpu_per_request_over_hello']}"
    )
    lines.append(f"rate limits: {result['rate_limits']}")
    if "skipped" in result["gateway_jwt"]:
        lines.append(f"JWT run skipped: {result['gateway_jwt']['skipped']}")
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=_positive, default=60, help="instances to create and list (60)")
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--rounds", type=_positive, default=2, help="wrk runs per target, alternating (2)")
    parser.add_argument("--serve-hello", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_hello:
        serve_hello(args.serve_hello)
        return 0
    if args.instances < 50:
        parser.error("--instances must be at least 50: the listed page holds 50")
    signal.signal(signal.SIGTERM, _terminate)  # so the servers and processes are stopped on `kill` too
    result = measure(Options(instances=args.instances, duration=args.duration, rounds=args.rounds))
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0 if result["errors_or_non_2xx"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
