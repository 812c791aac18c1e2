"""Host keys pinned from a console: the text cloud-init's own helper prints (`tests/reference/cloud-init/`, run over
keys `ssh-keygen` made), among the noise of a serial console, cut where a cloud keeps only the last 64 KiB, and
contradicting itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import asyncssh
import pytest

from services.provisioner.runs import host_keys
from services.provisioner.runs.host_keys import Unpinned, pinned

HELPER = Path(__file__).parents[1] / "reference" / "cloud-init" / "write-ssh-key-fingerprints"
KEY_TYPES = ("ed25519", "ecdsa", "rsa")

pytestmark = pytest.mark.skipif(
    not (shutil.which("ssh-keygen") and shutil.which("logger")), reason="needs ssh-keygen and logger"
)


def _host_keys(where: Path) -> dict[str, asyncssh.SSHKey]:
    where.mkdir()
    keys = {}
    for kind in KEY_TYPES:
        path = where / f"ssh_host_{kind}_key"
        subprocess.run(  # noqa: S603 - fixed arguments
            ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@web-1", "-f", str(path)], check=True
        )
        keys[kind] = asyncssh.read_public_key(f"{path}.pub")
    return keys


def _console_of(where: Path) -> str:
    """What cloud-init's helper prints for the keys in `where` (stdout and stderr together, as the console has it)."""
    script = HELPER.read_text()
    assert script.count("/etc/ssh/ssh_host_*key.pub") == 2  # the reference is the file these tests expect
    script = script.replace("/etc/ssh/", f"{where}/").replace(
        'logger_opts="-s"', 'logger_opts="-s --socket-errors=off"'
    )
    done = subprocess.run(  # noqa: S603 - the reference script
        ["/bin/sh", "-c", script, "write-ssh-key-fingerprints", "", ""],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


# Made once for the module: RSA keys take a while to make.
@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, asyncssh.SSHKey]:
    return _host_keys(tmp_path_factory.getbasetemp() / "ssh")


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, asyncssh.SSHKey]) -> str:
    return _console_of(tmp_path_factory.getbasetemp() / "ssh")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The helper's output for other keys."""
    _host_keys(tmp_path_factory.getbasetemp() / "other")
    return _console_of(tmp_path_factory.getbasetemp() / "other")


def _fingerprints(keys: dict[str, asyncssh.SSHKey]) -> frozenset[str]:
    return frozenset(k.get_fingerprint("sha256") for k in keys.values())


NOISE_BEFORE = """[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)
[  OK  ] Started ssh.service - OpenBSD Secure Shell server.
Cloud-init v. 24.4 running 'modules:final' at Thu, 03 Dec 2026 10:00:00 +0000. Up 9.10 seconds.
ci-info: no authorized SSH keys fingerprints found for user debian.
"""
NOISE_AFTER = """Cloud-init v. 24.4 finished at Thu, 03 Dec 2026 10:00:02 +0000. Datasource DataSourceEc2Local.  Up 11 s

Debian GNU/Linux 12 web-1 ttyS0

web-1 login: """


def test_the_helpers_real_output_pins_every_key(printed: str, keys: dict[str, asyncssh.SSHKey]) -> None:
    # The format as the helper makes it: logger's syslog prefix on the fingerprints, the keys as `cat` prints them.
    assert "cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----" in printed
    assert "\n-----BEGIN SSH HOST KEY KEYS-----\n" in printed
    found = pinned(NOISE_BEFORE + printed + NOISE_AFTER)
    assert set(found.keys) == set(keys.values())
    assert found.fingerprints == _fingerprints(keys)
    assert all(found.accepts(k) for k in keys.values())
    assert not found.accepts(asyncssh.generate_private_key("ssh-ed25519"))


def test_older_images_prefix_every_line_and_kernel_lines_cut_in(printed: str, keys: dict[str, asyncssh.SSHKey]) -> None:
    lines = printed.splitlines()
    noisy = []
    for n, line in enumerate(lines):
        noisy.append(f"ec2: {line}")
        if n % 3 == 0:
            noisy.append("[   12.345678] cloud-init[612]: random: crng init done")
    assert pinned("\n".join(noisy)).fingerprints == _fingerprints(keys)


def test_only_fingerprints_pin_their_keys(printed: str, keys: dict[str, asyncssh.SSHKey]) -> None:
    fingerprints_only = printed.split(host_keys.KEYS[0])[0]
    found = pinned(fingerprints_only)
    assert found.keys == () and found.fingerprints == _fingerprints(keys)
    assert found.accepts(keys["rsa"])


def test_a_console_cut_at_64_kib_keeps_only_whole_blocks(printed: str, keys: dict[str, asyncssh.SSHKey]) -> None:
    console = NOISE_BEFORE * 500 + printed + NOISE_AFTER
    assert pinned(console[-64 * 1024 :]).fingerprints == _fingerprints(keys)
    # Cut inside the keys block: its start is lost, and the fingerprints block before it: nothing can be pinned.
    start_of_keys = console.index(host_keys.KEYS[0])
    cut_in_keys = console[start_of_keys + len(host_keys.KEYS[0]) + 5 :]
    with pytest.raises(Unpinned) as refused:
        pinned(cut_in_keys)
    assert refused.value.problem == "host_keys_unknown"
    # Cut inside the fingerprints block: the keys block is whole and pins the keys.
    start_of_fingerprints = console.index(host_keys.FINGERPRINTS[0])
    assert set(pinned(console[start_of_fingerprints + 60 :]).keys) == set(keys.values())


def test_a_block_still_being_printed_counts_as_absent(printed: str) -> None:
    unfinished = printed.split(host_keys.KEYS[1])[0]
    found = pinned(unfinished)
    assert found.keys == ()  # the fingerprints block, which ended, pins; the open keys block does not


def test_keys_and_fingerprints_that_disagree_pin_nothing(printed: str, other: str) -> None:
    # The fingerprints of one set of keys, the keys of another: the console contradicts itself.
    mixed = printed.split(host_keys.KEYS[0])[0] + host_keys.KEYS[0] + other.split(host_keys.KEYS[0])[1]
    with pytest.raises(Unpinned) as refused:
        pinned(mixed)
    assert refused.value.problem == "host_keys_inconsistent"


def test_the_last_complete_blocks_count_after_a_second_boot(
    printed: str, other: str, keys: dict[str, asyncssh.SSHKey]
) -> None:
    # An image whose keys were made again (a new instance from an image of this one) prints new blocks.
    found = pinned(printed + NOISE_AFTER + NOISE_BEFORE + other)
    assert found.fingerprints.isdisjoint(_fingerprints(keys))


def test_garbled_and_missing_keys_pin_nothing() -> None:
    garbled = f"{host_keys.KEYS[0]}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!!broken root@x\n{host_keys.KEYS[1]}\n"
    with pytest.raises(Unpinned):
        pinned(garbled)
    with pytest.raises(Unpinned) as refused:
        pinned(NOISE_BEFORE + NOISE_AFTER)
    assert refused.value.problem == "host_keys_unknown"
