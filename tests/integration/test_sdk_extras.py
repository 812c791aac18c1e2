"""Clanavi installed without one extra, for real: a fresh venv gets the package (built from this checkout, not
editable) with `[ec2,openstack,libvirt]` and the locked dependencies, from uv's cache (the one `make test`'s
bootstrap filled), so without XenAPI. There `kernel` and `services` import (with no cloud SDK at all, too), the
registry lists xcp as unavailable naming the `xen` extra and the others as available, and a provisioner started from
that venv serves: GET /v1/modules says so, enabling xcp or adding an account of it answers 409 `module_unavailable`
naming the extra, a configured EC2 account and SimCloud work, and a configured xcp account is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from tests.conftest import INTERNAL_KEY, SECRET_KEY, Servers
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".cache" / "uv-venv" / "bin" / "uv"
PROBE = Path(__file__).with_name("sdk_probe.py")
# Every extra but xen.
EXTRAS = ("ec2", "openstack", "libvirt")
MISSING_XEN = "needs the clanavi[xen] extra: No module named 'XenAPI'"
XEN_PASSWORD = "extras-xen-password-5e1f"
AWS_SECRET = "extras-aws-secret-0b9d"
CONFIGURED = [
    {
        "id": "aws",
        "name": "AWS",
        "driver": "ec2",
        "config": {"region": "eu-west-1", "access_key_id": "AKIAEXTRAS", "secret_access_key": AWS_SECRET},
    },
    {
        "id": "xen1",
        "name": "Xen",
        "driver": "xcp",
        "config": {"url": "https://xen.example.org", "username": "root", "password": XEN_PASSWORD},
    },
]


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path


def _sync(venv: Path, *, offline: bool) -> subprocess.CompletedProcess[str]:
    """`uv sync` of this checkout into `venv`: the locked dependencies of the extras named, the project built as a
    wheel (rebuilt, so the code is this checkout's: uv would reuse a wheel built from an older tree)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON_DOWNLOADS="never", UV_SYSTEM_CERTS="1", UV_NO_PROGRESS="1")
    extras = [arg for extra in EXTRAS for arg in ("--extra", extra)]
    return subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(UV),
            "sync",
            "--project",
            str(REPO),
            "--frozen",
            "--no-dev",
            "--no-editable",
            "--refresh-package",
            "clanavi",
            *extras,
            *(["--offline"] if offline else []),
            "--python",
            sys.executable,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("extras")
    started = time.monotonic()
    done = _sync(root / "venv", offline=True)
    if done.returncode != 0:
        # Something the lock names is not in uv's cache yet: fetch it (once; the cache keeps it).
        done = _sync(root / "venv", offline=False)
    assert done.returncode == 0, done.stderr
    print(f"venv without the xen extra installed in {time.monotonic() - started:.1f} s")
    return Venv(root, root / "venv" / "bin" / "python")


def probe(venv: Venv, *args: str) -> dict[str, Any]:
    """What tests/integration/sdk_probe.py finds in the venv, started outside this checkout (so it reads the
    installed package, not the source)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(  # noqa: S603 - the venv's own python and our probe
        [str(venv.python), str(PROBE), *args], cwd=venv.root, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_without_the_xen_extra_only_xcp_is_unavailable_and_says_which_extra(venv: Venv) -> None:
    found = probe(venv)

    assert found["sdks"] == {"XenAPI": False, "libvirt": True, "openstack": True, "aioboto3": True}
    assert Path(found["services"]).is_relative_to(venv.root / "venv"), "the installed package, not this checkout"
    assert {"services.provisioner.app", "services.gateway.app", "kernel.http"} <= set(found["imported"])
    modules = found["modules"]
    assert modules["xcp"] == {"available": False, "reason": MISSING_XEN, "extra": "xen"}
    for name in ("simcloud", "ec2", "openstack", "libvirt"):
        assert modules[name]["available"] and modules[name]["features"], name


def test_kernel_and_services_import_without_any_cloud_sdk(venv: Venv) -> None:
    found = probe(venv, "--without-sdks")

    assert not any(found["sdks"].values())
    assert "services.provisioner.app" in found["imported"]
    modules = found["modules"]
    assert modules["simcloud"]["available"]
    for name, extra in (("ec2", "ec2"), ("openstack", "openstack"), ("libvirt", "libvirt"), ("xcp", "xen")):
        assert not modules[name]["available"] and modules[name]["extra"] == extra
        assert modules[name]["reason"].startswith(f"needs the clanavi[{extra}] extra: "), modules[name]


@pytest.fixture
def provisioner(venv: Venv, servers: Servers) -> Iterator[str]:
    """A provisioner served by the venv's Clanavi, with an EC2 and an xcp account configured; its base URL."""
    database = f"t_extras_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(database)
    port = free_port()
    env = service_env(
        {k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        env="test",
        database_url=servers.database_url(database),
        amqp_url=servers.rabbit.url,
        bus_prefix=f"x{uuid.uuid4().hex[:10]}",
        internal_key=INTERNAL_KEY,
        secret_key=SECRET_KEY,
        log_format="text",
        provisioner_port=str(port),
        provisioner_clouds=json.dumps(CONFIGURED),
    )
    log = venv.root / f"provisioner-{port}.log"
    process = ServiceProcess("provisioner", port, env, log, python=str(venv.python), cwd=venv.root)
    try:
        process.start()
        process.wait_ready()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()
        servers.postgres.drop_database(database)
    assert XEN_PASSWORD not in log.read_text()


async def test_a_provisioner_without_the_xen_extra_serves_every_other_module(provisioner: str, venv: Venv) -> None:
    admin = identity_headers("default", admin=True)
    async with httpx.AsyncClient(base_url=provisioner, headers=admin, timeout=30) as client:
        listed = {m["name"]: m for m in (await client.get("/v1/modules")).json()["items"]}
        xcp = listed["xcp"]
        assert (xcp["available"], xcp["reason"], xcp["features"], xcp["enabled"]) == (False, MISSING_XEN, [], True)
        for name in ("simcloud", "ec2", "openstack", "libvirt"):
            assert listed[name]["available"] and listed[name]["reason"] is None and listed[name]["features"], name
        assert listed["ec2"]["cloud_ids"] == ["aws"] and listed["simcloud"]["cloud_ids"] == ["sim"]

        refused = await client.put("/v1/modules/xcp", json={"enabled": True})
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert (problem["code"], problem["module"], problem["extra"]) == ("module_unavailable", "xcp", "xen")
        assert "clanavi[xen]" in problem["detail"] and problem["reason"] == MISSING_XEN

        added = await client.post(
            "/v1/clouds",
            json={
                "name": "another xen",
                "driver": "xcp",
                "config": {"url": "https://xen2.example.org", "username": "root"},
                "credentials": {"password": XEN_PASSWORD},
            },
        )
        assert added.status_code == 409, added.text
        assert added.json()["code"] == "module_unavailable" and "clanavi[xen]" in added.json()["detail"]

        # The configured xcp account is left out (its secrets would be unknown); the EC2 one is stored, split.
        clouds = {c["id"]: c for c in (await client.get("/v1/clouds")).json()["items"]}
        assert set(clouds) == {"sim", "aws"}
        aws = clouds["aws"]
        assert aws["config"] == {"region": "eu-west-1"}
        assert aws["credential_fields"] == ["access_key_id", "secret_access_key"]
        assert "volumes" in aws["features"]

        flavors = await client.get("/v1/flavors", params={"cloud_id": "sim"})
        assert flavors.status_code == 200 and flavors.json()["items"], flavors.text
