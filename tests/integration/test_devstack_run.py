"""`make run` (python -m devstack run) checks every service's settings before it starts anything: a bad one stops it
with the service's own one line, no banner, no server started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="clanavi-run-")) / ".run"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def devstack_run(run_dir: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLANAVI_RUN_DIR": str(run_dir),
        # Ports of its own, should it start anyway (RabbitMQ's, with its distribution port 20000 above, below 45536).
        "CLANAVI_DEV_PG_PORT": str(free_port()),
        "CLANAVI_DEV_AMQP_PORT": str(free_port() % 40000 + 1024),
        **variables,
    }
    # As `make run` has it: no server URL of its own, it starts its servers.
    for name in ("CLANAVI_DATABASE_URL", "CLANAVI_AMQP_URL", "CLANAVI_ADMIN_TOKEN"):
        if name not in variables:
            env.pop(name, None)
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devstack", "run"], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        ({"CLANAVI_ADMIN_TOKEN": "short"}, "clanavi: CLANAVI_ADMIN_TOKEN must be at least 16 characters"),
        ({"CLANAVI_GATEWAY_PORT": "abc"}, "clanavi: CLANAVI_GATEWAY_PORT is not a valid port: 'abc'"),
        (
            {"CLANAVI_GATEWAY_AUDIT_URL": "not a url"},
            "clanavi: CLANAVI_GATEWAY_AUDIT_URL is not a valid URL: 'not a url'",
        ),
        (
            {"CLANAVI_AMQP_URL": "guest:guest@localhost"},
            "clanavi: CLANAVI_AMQP_URL is not a valid URL",
        ),
        ({"CLANAVI_DEV_PG_PORT": "abc"}, "clanavi: CLANAVI_DEV_PG_PORT is not a valid port: 'abc'"),
        ({"CLANAVI_DEV_SSH_PORT": "0"}, "clanavi: CLANAVI_DEV_SSH_PORT is not a valid port: '0'"),
    ],
)
def test_a_bad_setting_stops_make_run_before_anything_starts(
    run_dir: Path, variables: dict[str, str], line: str
) -> None:
    done = devstack_run(run_dir, **variables)

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [line]
    assert done.stdout == ""  # no banner, no "starting PostgreSQL"
    assert not (run_dir / "postgres").exists()
    assert not (run_dir / "rabbitmq").exists()
    assert not (run_dir / "devstack.pid").exists()
