"""The run directory's secrets are readable by their owner only, from the moment they exist."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from devstack.__main__ import kept_secret, without_password
from devstack._private import private_dir, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_made_once_and_kept_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLANAVI_ADMIN_TOKEN", raising=False)
    first = kept_secret(tmp_path, "CLANAVI_ADMIN_TOKEN", "admin-token")

    assert len(first) >= 32
    assert mode(tmp_path / "admin-token") == 0o600
    assert kept_secret(tmp_path, "CLANAVI_ADMIN_TOKEN", "admin-token") == first


def test_a_secret_left_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    old = tmp_path / "internal-key"
    old.write_text("kept-from-before\n")
    old.chmod(0o644)

    assert kept_secret(tmp_path, "CLANAVI_TEST_UNSET_VARIABLE", "internal-key") == "kept-from-before"
    assert mode(old) == 0o600


def test_the_environment_overrides_the_kept_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLANAVI_SECRET_KEY", "from-the-environment")

    assert kept_secret(tmp_path, "CLANAVI_SECRET_KEY", "secret-key") == "from-the-environment"
    assert not (tmp_path / "secret-key").exists()


def test_a_private_file_is_never_readable_by_others(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the loosest umask: the file must not rely on it
    try:
        write_private(tmp_path / "definitions.json", "{}")
    finally:
        os.umask(old_umask)

    assert mode(tmp_path / "definitions.json") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["definitions.json"]


def test_a_private_directory_is_not_listable_by_others(tmp_path: Path) -> None:
    path = private_dir(tmp_path / "run", passable=True)

    assert mode(path) & 0o077 in (0, 0o011)  # as root others may pass through (for `postgres`), never list
    assert mode(private_dir(tmp_path / "rabbitmq")) == 0o700


def test_banners_show_urls_without_their_passwords() -> None:
    assert without_password("amqp://clanavi:s3cr3t@127.0.0.1:5682/") == "amqp://clanavi:***@127.0.0.1:5682/"
    assert (
        without_password("postgresql://postgres@127.0.0.1:5442/clanavi")
        == "postgresql://postgres@127.0.0.1:5442/clanavi"
    )


def test_free_ports_come_from_the_processs_range_each_once_while_others_are_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devstack.ports import RANGE_ENV, free_port

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        monkeypatch.setenv(RANGE_ENV, f"{busy}-{busy}")
        with pytest.raises(OSError, match=RANGE_ENV):
            free_port()
    low = 31990  # outside the test workers' own ranges
    monkeypatch.setenv(RANGE_ENV, f"{low}-{low + 3}")
    found = [free_port() for _ in range(4)]
    assert sorted(found) == [low, low + 1, low + 2, low + 3]
