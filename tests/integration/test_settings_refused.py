"""Bad settings stop a service before it starts anything: one line on stderr naming the variable, no traceback, exit
status 2; `clanavi service check` says the same without starting anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import INTERNAL_KEY, SECRET_KEY

pytestmark = pytest.mark.integration


def clanavi(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """`python -m services ARGS` with the tests' keys, servers that do not exist and `variables` (CLANAVI_ names; an
    empty value unsets the variable)."""
    env = {**os.environ, "CLANAVI_INTERNAL_KEY": INTERNAL_KEY, "CLANAVI_SECRET_KEY": SECRET_KEY, **variables}
    env = {name: value for name, value in env.items() if value}
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "services", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_refused(done: subprocess.CompletedProcess[str], line: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [line], done.stderr[-2000:]
    assert done.stdout == ""


def test_the_gateway_refuses_a_short_admin_token() -> None:
    done = clanavi("serve", "gateway", CLANAVI_ADMIN_TOKEN="short", CLANAVI_GATEWAY_PORT="1")

    assert_refused(done, "clanavi: CLANAVI_ADMIN_TOKEN must be at least 16 characters")


@pytest.mark.parametrize(
    ("service", "variables", "line"),
    [
        ("gateway", {"CLANAVI_GATEWAY_PORT": "abc"}, "clanavi: CLANAVI_GATEWAY_PORT is not a valid port: 'abc'"),
        (
            "gateway",
            {"CLANAVI_GATEWAY_PROVISIONER_URL": "not a url"},
            "clanavi: CLANAVI_GATEWAY_PROVISIONER_URL is not a valid URL: 'not a url'",
        ),
        (
            "provisioner",
            {"CLANAVI_ENV": "production", "CLANAVI_SECRET_KEY": ""},
            "clanavi: CLANAVI_SECRET_KEY is not set: secrets are encrypted at rest with it "
            "(generate one with `openssl rand -hex 32`)",
        ),
        (
            "audit",
            {"CLANAVI_ENV": "production", "CLANAVI_INTERNAL_KEY": ""},
            "clanavi: CLANAVI_INTERNAL_KEY is not set: the gateway and the services share it to trust each other "
            "(generate one with `openssl rand -hex 32`)",
        ),
    ],
)
def test_a_service_refuses_a_bad_setting(service: str, variables: dict[str, str], line: str) -> None:
    assert_refused(clanavi("serve", service, **variables), line)


def test_a_missing_server_url_is_refused_by_every_command() -> None:
    line = (
        "clanavi: CLANAVI_DATABASE_URL is not set: set it to the PostgreSQL server's URL, "
        "postgresql://user:password@host:port/database (`make run` sets it)"
    )
    for command in (("serve", "audit"), ("migrate", "audit"), ("rotate-keys", "provisioner"), ("check",)):
        assert_refused(clanavi(*command, CLANAVI_DATABASE_URL=""), line)


def test_rotate_keys_needs_the_secret_key() -> None:
    done = clanavi("rotate-keys", "provisioner", CLANAVI_SECRET_KEY="short")

    assert_refused(done, "clanavi: CLANAVI_SECRET_KEY must be at least 32 characters long")


def test_check_names_every_problem_once_on_one_line() -> None:
    done = clanavi("check", CLANAVI_ENV="prod", CLANAVI_ADMIN_TOKEN="short")

    assert_refused(
        done,
        "clanavi: CLANAVI_ENV must be 'development', 'test' or 'production': 'prod'; "
        "CLANAVI_ADMIN_TOKEN must be at least 16 characters",
    )
    assert clanavi("check").returncode == 0
