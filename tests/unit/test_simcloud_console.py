"""SimCloud's synthetic console: a boot log that grows as the instance boots and shows what the user data did."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.base import InstanceState as S
from adapters.simcloud.console import MAX_CHARS, Guest, render
from adapters.simcloud.machine import Phase
from adapters.simcloud.timeline import Entry

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SCRIPT = "#!/bin/bash\nset -e\napt-get install -y nginx\necho 'hello from the boot script'\n"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


GUEST = Guest(
    instance_id="sim-0123456789abcdef0",
    name="Web 1",
    os="linux",
    image_name="Debian 12",
    vcpus=2,
    ram_mb=4096,
    private_ip="10.1.2.3",
    user_data=SCRIPT,
    key_name="deploy",
)


BOOT = [Entry(T0, Phase(S.PENDING, S.RUNNING, at(10)))]


def test_the_log_grows_as_the_instance_boots() -> None:
    early = render(GUEST, BOOT, at(0.5), 1.0)
    middle = render(GUEST, BOOT, at(5), 1.0)
    done = render(GUEST, BOOT, at(10), 1.0)

    assert "Linux version" in early and "cloud-init" not in early
    assert middle.startswith(early.rstrip("\n"))
    assert "Cloud-init v. 24.1 running 'init'" in middle and "login:" not in middle
    assert done.startswith(middle.rstrip("\n"))
    assert done.rstrip().endswith("web-1 login:")
    assert render(GUEST, BOOT, at(500), 1.0) == done


def test_the_boot_script_runs_under_cloud_init() -> None:
    log = render(GUEST, BOOT, at(10), 1.0)

    assert "running boot script /var/lib/cloud/instance/scripts/part-001 (/bin/bash, 4 lines)" in log
    assert "+ apt-get install -y nginx" in log
    assert "] hello from the boot script\n" in log
    assert "finished, exit status 0" in log
    assert "10.1.2.3" in log and "Hostname set to <web-1>" in log
    assert "Authorized keys" in log and "key pair 'deploy'" in log


def test_cloud_config_and_other_user_data() -> None:
    cloud_config = render(
        replace(GUEST, user_data="#cloud-config\npackages:\n  - nginx\nruncmd:\n  - ls\n"), BOOT, at(10), 1.0
    )
    nothing = render(replace(GUEST, user_data=None, key_name=None), BOOT, at(10), 1.0)
    odd = render(replace(GUEST, user_data="just some text"), BOOT, at(10), 1.0)

    assert "config module 'packages' ran" in cloud_config and "config module 'runcmd' ran" in cloud_config
    assert "no user data given" in nothing and "no authorized SSH keys" in nothing
    assert "Unhandled non-multipart (text/x-not-multipart) userdata: 'just some text'" in odd


def test_kernel_timestamps_count_simulated_seconds() -> None:
    fast = render(GUEST, [Entry(T0, Phase(S.PENDING, S.RUNNING, at(0.1)))], at(1), 100.0)

    # The boot lasted 0.1 s on the wall clock, 10 s in the simulation: the login comes at 10 s of uptime.
    assert "[   10.000000] web-1 login:" in fast


def test_a_failed_boot_ends_in_a_panic_that_gives_the_reason() -> None:
    history = [Entry(T0, Phase(S.PENDING, S.ERROR, at(10)))]
    failing = replace(GUEST, reason="simulated hardware failure: the host lost power")

    before = render(failing, history, at(9), 1.0)
    after = render(failing, history, at(10), 1.0)

    assert "Kernel panic" not in before
    assert "Kernel panic - not syncing" in after
    assert "failed: simulated hardware failure: the host lost power" in after
    assert "login:" not in after and "boot script" not in after


def test_stop_start_reboot_suspend_and_terminate_leave_their_lines() -> None:
    history = [
        *BOOT,
        Entry(at(20), Phase(S.STOPPING, S.STOPPED, at(22))),
        Entry(at(30), Phase(S.STARTING, S.RUNNING, at(40))),
        Entry(at(50), Phase(S.REBOOTING, S.RUNNING, at(60))),
        Entry(at(70), Phase(S.SUSPENDED)),
        Entry(at(75), Phase(S.RUNNING)),
        Entry(at(80), Phase(S.TERMINATING, S.TERMINATED, at(81))),
    ]

    log = render(GUEST, history, at(100), 1.0)

    assert log.count("Linux version") == 3
    assert log.count("login:") == 3
    assert log.count("reboot: Power down") == 2
    assert "reboot: Restarting system" in log
    assert "PM: suspend entry" in log and "PM: suspend exit" in log
    assert log.rstrip().endswith("instance sim-0123456789abcdef0 terminated")


def test_a_boot_cut_short_by_termination_stops_where_it_was() -> None:
    history = [Entry(T0, Phase(S.PENDING, S.RUNNING, at(10))), Entry(at(2), Phase(S.TERMINATING, S.TERMINATED, at(3)))]

    log = render(GUEST, history, at(50), 1.0)

    assert "cloud-init" not in log and "login:" not in log
    assert "terminated" in log


def test_windows_boots_its_own_way() -> None:
    windows = replace(
        GUEST, os="windows", image_name="Windows Server 2022", user_data="<powershell>\nGet-Date\n</powershell>"
    )

    log = render(windows, BOOT, at(10), 1.0)

    assert "Windows is starting" in log and "Linux" not in log
    assert "PS> Get-Date" in log
    assert "Windows is Ready to use" in log


def test_control_characters_in_user_data_are_not_printed() -> None:
    log = render(replace(GUEST, user_data="#!/bin/sh\necho \x1b[31mred\x07\n"), BOOT, at(10), 1.0)

    assert "\x1b" not in log and "\x07" not in log


def test_the_console_keeps_its_most_recent_part() -> None:
    history = [Entry(at(20 * k), Phase(S.REBOOTING, S.RUNNING, at(20 * k + 10))) for k in range(400)]

    log = render(GUEST, [*BOOT, *history], at(20 * 400), 1.0)

    assert len(log) <= MAX_CHARS
    assert log.rstrip().endswith("login:")
    # Cut at a line boundary: every line is whole.
    assert all(line.startswith("[") or line in ("", "Debian 12 web-1 ttyS0") for line in log.splitlines())
