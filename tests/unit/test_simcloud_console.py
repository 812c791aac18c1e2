"""SimCloud's synthetic console: a boot log that grows as the instance boots and shows what the user data printed,
never the user data itself."""

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


def test_cloud_init_prints_its_stages_and_network_as_the_real_one_does() -> None:
    log = render(GUEST, BOOT, at(10), 1.0)

    for stage in ("init-local", "init", "modules:config", "modules:final"):
        assert f"]: Cloud-init v. 24.1 running '{stage}' at Wed, 01 Jan 2025 12:00:" in log
    assert (
        "]: Cloud-init v. 24.1 finished at Wed, 01 Jan 2025 12:00:09 +0000. "
        "Datasource DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 9.50 seconds\n"
    ) in log
    assert "ci-info: +++++++++++++++++++++++++++++++++++++Net device info+++++++++++++++++++++++++++++++++++++\n" in log
    assert "ci-info: | Device |  Up  |          Address           |     Mask    | Scope  |     Hw-Address    |\n" in log
    assert "ci-info: |  eth0  | True |          10.1.2.3          | 255.255.0.0 | global | 52:54:00:" in log
    assert "ci-info: |   0   |   0.0.0.0   | 10.1.0.1 |   0.0.0.0   |    eth0   |   UG  |\n" in log
    assert "Hostname set to <web-1>" in log
    assert "Authorized keys" in log and "key pair 'deploy'" in log
    # The same instance prints the same log: its process ids and MAC address come from its id.
    assert render(replace(GUEST), BOOT, at(10), 1.0) == log
    assert render(replace(GUEST, instance_id="sim-00000000000000001"), BOOT, at(10), 1.0) != log


def test_the_boot_script_shows_what_it_prints_not_its_text() -> None:
    log = render(GUEST, BOOT, at(10), 1.0)

    assert "]: hello from the boot script\n" in log
    for source in ("set -e", "apt-get", "nginx", "echo", "#!/bin/bash"):
        assert source not in log


def test_a_secret_in_a_boot_script_never_reaches_the_console() -> None:
    script = (
        "#!/bin/sh\n"
        "DB_PASSWORD='s3cr3t-value'\n"
        'echo "configuring web"\n'
        'echo "$DB_PASSWORD"\n'
        "printf '%s\\n' \"${DB_PASSWORD}\"\n"
        "cat > /etc/app.env <<EOF\n"
        "echo s3cr3t-value\n"
        "EOF\n"
        "echo 'done'\n"
    )

    log = render(replace(GUEST, user_data=script), BOOT, at(10), 1.0)

    assert "s3cr3t-value" not in log
    assert "DB_PASSWORD" not in log
    assert "/etc/app.env" not in log and "EOF" not in log
    assert "]: configuring web\n" in log and "]: done\n" in log


def test_cloud_config_prints_nothing_of_its_content() -> None:
    cloud_config = (
        "#cloud-config\n"
        "packages:\n  - nginx\n"
        "chpasswd:\n  users:\n    - {name: admin, password: hunter2-cc, type: text}\n"
        "write_files:\n  - path: /etc/app.env\n    content: API_TOKEN=tok-123\n"
        "runcmd:\n  - echo from-runcmd\n"
    )

    log = render(replace(GUEST, user_data=cloud_config), BOOT, at(10), 1.0)

    assert "finished at" in log and log.rstrip().endswith("web-1 login:")
    for content in ("cloud-config", "packages", "nginx", "chpasswd", "hunter2-cc", "API_TOKEN", "tok-123", "runcmd"):
        assert content not in log
    assert "from-runcmd" not in log


def test_other_user_data_gets_cloud_inits_warning_without_its_text() -> None:
    odd = render(replace(GUEST, user_data="password=plain-secret"), BOOT, at(10), 1.0)
    nothing = render(replace(GUEST, user_data=None, key_name=None), BOOT, at(10), 1.0)

    assert (
        "]: 2025-01-01 12:00:04,900 - __init__.py[WARNING]: "
        "Unhandled non-multipart (text/x-not-multipart) userdata: '...'\n"
    ) in odd
    assert "plain-secret" not in odd and "password" not in odd
    assert "Unhandled" not in nothing and "no authorized SSH keys fingerprints found for user debian." in nothing


def test_mime_and_cloud_inits_other_formats_print_nothing_of_their_content() -> None:
    mime = (
        'Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n--==b==\n'
        'Content-Type: text/x-shellscript; charset="us-ascii"\n\n#!/bin/sh\nTOKEN=mime-secret\n--==b==--\n'
    )
    for data in (mime, "#include\nhttps://example.com/include-secret\n", "#cloud-boothook\nBOOT=hook-secret\n"):
        log = render(replace(GUEST, user_data=data), BOOT, at(10), 1.0)

        assert "Unhandled" not in log and "secret" not in log
        assert "finished at" in log


def test_each_shell_part_of_a_mime_multipart_prints_what_it_echoes_in_order() -> None:
    mime = (
        'Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n'
        '--==b==\nContent-Type: text/x-shellscript-per-instance; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
        "#!/bin/sh\nTOKEN=part-secret\necho first part ran\n"
        '--==b==\nContent-Type: text/cloud-config; charset="utf-8"\n\n#cloud-config\nruncmd: [echo cc-secret]\n'
        '--==b==\nContent-Type: text/x-shellscript; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
        "IyEvYmluL3NoCmVjaG8gc2Vjb25kIHBhcnQgcmFuCg==\n"
        "--==b==--\n"
    )
    log = render(replace(GUEST, user_data=mime), BOOT, at(10), 1.0)

    assert log.index("]: first part ran\n") < log.index("]: second part ran\n") < log.index("finished at")
    assert "secret" not in log and "Unhandled" not in log


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
        GUEST,
        os="windows",
        image_name="Windows Server 2022",
        user_data="<powershell>\n$Password = 'w1n-secret'\nGet-Date\n</powershell>",
    )

    log = render(windows, BOOT, at(10), 1.0)

    assert "Windows is starting" in log and "Linux" not in log
    assert "SimLaunch: running user data with PowerShell" in log
    assert "w1n-secret" not in log and "Password" not in log and "Get-Date" not in log
    assert "Windows is Ready to use" in log


def test_control_characters_in_user_data_are_not_printed() -> None:
    log = render(replace(GUEST, user_data="#!/bin/sh\necho \x1b[31mred\x07\nprintf 'bell\\a\\n'\n"), BOOT, at(10), 1.0)

    assert "\x1b" not in log and "\x07" not in log
    assert "]: bell?\n" in log


def test_the_console_keeps_its_most_recent_part() -> None:
    history = [Entry(at(20 * k), Phase(S.REBOOTING, S.RUNNING, at(20 * k + 10))) for k in range(400)]

    log = render(GUEST, [*BOOT, *history], at(20 * 400), 1.0)

    assert len(log) <= MAX_CHARS
    assert log.rstrip().endswith("login:")
    # Cut at a line boundary: every line is whole.
    assert all(line.startswith("[") or line in ("", "Debian 12 web-1 ttyS0") for line in log.splitlines())


def _multipart(*parts: tuple[str, str, str]) -> str:
    """A MIME multipart of (content type, filename, body) parts, as Clanavi's boot rendering makes them."""
    out = ['Content-Type: multipart/mixed; boundary="==b=="\nMIME-Version: 1.0\n\n']
    for ctype, filename, body in parts:
        disposition = f'Content-Disposition: attachment; filename="{filename}"\n' if filename else ""
        out.append(f'--==b==\nContent-Type: {ctype}; charset="utf-8"\n{disposition}\n{body}')
    return "".join(out) + "--==b==--\n"


PER_INSTANCE = "text/x-shellscript-per-instance"
# cloud-init 24.1's two console warnings when a script of the per-instance module exits non-zero (its module's
# `LOG.warning`, then `util.logexc` in `Modules._run_modules`).
PER_INSTANCE_FAILED = (
    " - cc_scripts_per_instance.py[WARNING]: Failed to run module scripts_per_instance "
    "(per-instance in /var/lib/cloud/scripts/per-instance)\n"
)
PER_INSTANCE_LOGEXC = (
    " - util.py[WARNING]: Running module scripts_per_instance (<module 'cloudinit.config.cc_scripts_per_instance' "
    "from '/usr/lib/python3/dist-packages/cloudinit/config/cc_scripts_per_instance.py'>) failed\n"
)


def test_parts_run_sorted_by_filename_and_a_failing_one_makes_its_module_fail_after_all_ran() -> None:
    data = _multipart(
        (PER_INSTANCE, "03-c", "#!/bin/sh\necho c ran\n"),
        (PER_INSTANCE, "01-a", "#!/bin/sh\necho a ran\n"),
        (PER_INSTANCE, "02-b", "#!/bin/sh\necho b ran\nexit 3\necho b never\n"),
        ("text/cloud-config", "04-d", "#cloud-config\npackages: [nginx]\n"),
    )
    log = render(replace(GUEST, user_data=data), BOOT, at(10), 1.0)

    order = [log.index(f"]: {x} ran\n") for x in "abc"]
    assert order == sorted(order)
    assert "b never" not in log and "nginx" not in log
    # runparts goes on after a failure; the module fails once all ran, naming neither the script nor its status.
    failed, logexc = log.index(PER_INSTANCE_FAILED), log.index(PER_INSTANCE_LOGEXC)
    assert order[-1] < failed < logexc < log.index("finished at")
    assert "]: 2025-01-01 12:00:0" in log[log.rindex("\n", 0, failed) : failed]
    assert log.count("[WARNING]") == 2 and "02-b" not in log and "[3]" not in log


def test_scripts_that_exit_zero_print_no_warning() -> None:
    data = _multipart((PER_INSTANCE, "01-a", "#!/bin/sh\necho a ran\nexit 0\n"))

    assert "WARNING" not in render(replace(GUEST, user_data=data), BOOT, at(10), 1.0)


def test_a_plain_script_that_fails_fails_the_user_scripts_module() -> None:
    log = render(replace(GUEST, user_data="#!/bin/sh\necho trying\nexit 1\n"), BOOT, at(10), 1.0)

    assert (
        " - cc_scripts_user.py[WARNING]: Failed to run module scripts_user "
        "(scripts in /var/lib/cloud/instance/scripts)\n" in log
    )
    assert " - util.py[WARNING]: Running module scripts_user (<module 'cloudinit.config.cc_scripts_user' " in log


def test_only_per_boot_scripts_run_again_after_a_reboot_or_a_start() -> None:
    data = _multipart(
        (PER_INSTANCE, "01-once", "#!/bin/sh\necho instance script\nexit 2\n"),
        ("text/x-shellscript-per-boot", "02-every", "#!/bin/sh\necho boot script\n"),
    )
    history = [
        *BOOT,
        Entry(at(20), Phase(S.REBOOTING, S.RUNNING, at(30))),
        Entry(at(40), Phase(S.STOPPING, S.STOPPED, at(42))),
        Entry(at(50), Phase(S.STARTING, S.RUNNING, at(60))),
    ]
    log = render(replace(GUEST, user_data=data), history, at(100), 1.0)

    assert log.count("running 'modules:final'") == 3
    assert log.count("]: instance script\n") == 1 and log.count(PER_INSTANCE_FAILED) == 1
    assert log.count("]: boot script\n") == 3
    # The per-boot module runs before the per-instance one.
    assert log.index("]: boot script\n") < log.index("]: instance script\n")


def test_a_settled_console_reads_the_same_until_its_history_or_guest_changes() -> None:
    done = render(GUEST, BOOT, at(10), 1.0)
    assert render(GUEST, list(BOOT), at(3600), 1.0) == done

    stopped = [*BOOT, Entry(at(20), Phase(S.STOPPING, S.STOPPED, at(22)))]
    assert (
        render(GUEST, stopped, at(20.5), 1.0)
        == done + "[   20.000000] systemd[1]: Stopping session-1.scope - Session 1 of User debian...\n"
    )
    after = render(GUEST, stopped, at(30), 1.0)
    assert after.startswith(done) and after.endswith("reboot: Power down\n")
    assert render(replace(GUEST, name="Web 2"), BOOT, at(3600), 1.0) == done.replace("web-1", "web-2")
