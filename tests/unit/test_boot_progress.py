"""Reading boot scripts' progress from console text in the formats real cloud-init prints (24.1, and the
"Failed running ... [status]" line of cloud-init before 20.3), through reboots and a console cut at 64 KiB."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.simcloud.shell import run
from services.provisioner.boot import domain
from services.provisioner.boot.domain import About, BootSection
from services.provisioner.boot.markers import mark
from services.provisioner.boot.progress import Part, read

A, B, C = "01-a1b2-v1", "02-c3d4-v2", "03-e5f6-v1"
PARTS = [Part(A, "shell"), Part(B, "shell"), Part(C, "shell")]
ABOUT = About("i-1", "sim", "t-1", 3)

# The start of a real Ubuntu 24.04 console on a KVM guest, up to cloud-init's final stage (cloud-init 24.1 prints
# the banners through its stage process, which systemd prefixes with `cloud-init[pid]: `).
EARLY = "".join(
    f"{line}\n"
    for line in (
        "[    0.000000] Linux version 6.8.0-1008-aws (buildd@lcy02-amd64-056) (x86_64-linux-gnu-gcc-13) #8-Ubuntu SMP",
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.8.0-1008-aws root=PARTUUID=1d9c console=tty1 console=ttyS0",
        "[    4.812301] cloud-init[457]: Cloud-init v. 24.1.3-0ubuntu3 running 'init-local' at "
        "Wed, 01 Jan 2025 12:00:04 +0000. Up 4.75 seconds.",
        "[    6.337005] cloud-init[498]: Cloud-init v. 24.1.3-0ubuntu3 running 'init' at "
        "Wed, 01 Jan 2025 12:00:06 +0000. Up 6.27 seconds.",
        "[    6.420111] cloud-init[498]: ci-info: +++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++",
        "[    9.101010] cloud-init[791]: Cloud-init v. 24.1.3-0ubuntu3 running 'modules:config' at "
        "Wed, 01 Jan 2025 12:00:09 +0000. Up 9.05 seconds.",
    )
)
FINAL = (
    "[   10.000000] cloud-init[812]: Cloud-init v. 24.1.3-0ubuntu3 running 'modules:final' at "
    "Wed, 01 Jan 2025 12:00:10 +0000. Up 10.00 seconds.\n"
)
FINISHED = (
    "[   30.500000] cloud-init[812]: Cloud-init v. 24.1.3-0ubuntu3 finished at Wed, 01 Jan 2025 12:00:30 +0000. "
    "Datasource DataSourceEc2Local.  Up 30.50 seconds\n"
)
# cloud-init 24.1's two warnings when a per-instance script exits non-zero.
MODULE_FAILED = (
    "[   25.000001] cloud-init[812]: 2025-01-01 12:00:25,000 - cc_scripts_per_instance.py[WARNING]: Failed to run "
    "module scripts_per_instance (per-instance in /var/lib/cloud/scripts/per-instance)\n"
    "[   25.000002] cloud-init[812]: 2025-01-01 12:00:25,000 - util.py[WARNING]: Running module scripts_per_instance "
    "(<module 'cloudinit.config.cc_scripts_per_instance' from "
    "'/usr/lib/python3/dist-packages/cloudinit/config/cc_scripts_per_instance.py'>) failed\n"
)


def started(name: str, at: float) -> str:
    return f"[{at:12.6f}] cloud-init[812]: clanavi: boot script {name} started\n"


def exited(name: str, code: int, at: float) -> str:
    return f"[{at:12.6f}] cloud-init[812]: clanavi: boot script {name} exited with {code}\n"


def states(console: str, parts: list[Part] = PARTS) -> dict[str, tuple[str, int | None]]:
    section = domain.initial([("s", 1, p.filename, p.kind) for p in parts])
    after, _ = domain.progressed(section, read(console, parts), ABOUT)
    return {s.filename: (s.state, s.exit_code) for s in after.scripts}


def test_the_markers_are_what_the_rendered_script_prints() -> None:
    # The marker line goes after the shebang; the simulated shell (checked against dash and bash) prints the lines
    # this reader takes, with the status the script exits with.
    ran = run(mark(B, "#!/bin/sh\necho working\nexit 3\n"))

    assert ran.status == 3
    assert ran.output == f"clanavi: boot script {B} started\nworking\nclanavi: boot script {B} exited with 3\n"
    assert mark(B, "#!/usr/bin/python3\nprint(1)\n") == "#!/usr/bin/python3\nprint(1)\n"
    assert mark(B, "#cloud-config\n") == "#cloud-config\n"


def test_scripts_are_pending_until_the_final_stage_runs_them_in_order() -> None:
    assert states(EARLY) == {A: ("pending", None), B: ("pending", None), C: ("pending", None)}
    assert states(EARLY + FINAL) == {A: ("pending", None), B: ("pending", None), C: ("pending", None)}

    first = EARLY + FINAL + started(A, 10.1) + "[   11.000000] cloud-init[812]: Reading package lists...\n"
    assert states(first) == {A: ("running", None), B: ("pending", None), C: ("pending", None)}

    second = first + exited(A, 0, 12.0) + started(B, 12.1)
    assert states(second) == {A: ("succeeded", None), B: ("running", None), C: ("pending", None)}


def test_a_failing_script_its_status_and_the_boot_that_failed() -> None:
    console = (
        EARLY
        + FINAL
        + started(A, 10.1)
        + exited(A, 0, 12.0)
        + started(B, 12.1)
        + "[   12.500000] cloud-init[812]: E: Unable to locate package nosuchpackage\n"
        + exited(B, 3, 13.0)
        + started(C, 13.1)
        + exited(C, 0, 24.0)
        + MODULE_FAILED
        + FINISHED
    )
    section = domain.initial([("s-a", 1, A, "shell"), ("s-b", 2, B, "shell"), ("s-c", 1, C, "shell")])
    after, events = domain.progressed(section, read(console, PARTS), ABOUT)

    assert [(s.state, s.exit_code) for s in after.scripts] == [("succeeded", None), ("failed", 3), ("succeeded", None)]
    assert after.state == "failed"
    assert after.started_at == datetime(2025, 1, 1, 12, 0, 4, tzinfo=UTC)
    assert after.finished_at == datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC)
    # Placed from the final stage's banner (12:00:10 at 10.00 s of uptime) by the lines' kernel timestamps.
    assert after.scripts[1].started_at == datetime(2025, 1, 1, 12, 0, 12, 100000, tzinfo=UTC)
    assert after.scripts[1].finished_at == datetime(2025, 1, 1, 12, 0, 13, tzinfo=UTC)
    assert [(e.TYPE, e.model_dump().get("filename"), e.model_dump().get("exit_code")) for e in events] == [
        ("instance.boot_script_failed", B, 3),
        ("instance.boot_completed", None, None),
    ]
    assert events[1].model_dump()["state"] == "failed" and events[1].model_dump()["failed"] == [B]
    # Taking in the same console again finds nothing new.
    assert domain.progressed(after, read(console, PARTS), ABOUT) == (after, [])


def test_all_succeeded_once_cloud_init_finished() -> None:
    console = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + exited(B, 0, 12)
    console += started(C, 12.1) + exited(C, 0, 13)
    parts = [*PARTS, Part("04-cfg-v1", "cloud-config")]

    assert states(console, parts)["04-cfg-v1"] == ("pending", None)
    assert set(states(console + FINISHED, parts).values()) == {("succeeded", None)}


def test_a_script_that_hides_its_exit_line_fails_when_its_module_does() -> None:
    # B sends its own output elsewhere (`exec > /var/log/b.log 2>&1`) after the start line: no exit line shows.
    console = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + started(C, 14) + exited(C, 0, 15)

    assert states(console)[B] == ("running", None)
    assert states(console + MODULE_FAILED)[B] == ("failed", None)
    assert states(console + FINISHED)[B] == ("succeeded", None)


def test_the_failing_line_of_cloud_init_before_20_3_names_the_script_and_its_status() -> None:
    # cloud-init 19.4 (CentOS 8): `util.logexc` in runparts, at WARNING, so on the console; a script for another
    # interpreter prints no markers of Clanavi's.
    parts = [Part("01-py-v1", "script"), Part("02-sh-v1", "shell")]
    console = (
        "[    9.000000] cloud-init[901]: Cloud-init v. 19.4 running 'modules:final' at Wed, 01 Jan 2025 12:00:09 "
        "+0000. Up 9.00 seconds.\n"
        "[   10.000000] cloud-init[901]: 2025-01-01 12:00:10,000 - util.py[WARNING]: Failed running "
        "/var/lib/cloud/scripts/per-instance/01-py-v1 [1]\n"
    )
    assert states(console, parts) == {"01-py-v1": ("failed", 1), "02-sh-v1": ("pending", None)}

    console += started("02-sh-v1", 10.5) + exited("02-sh-v1", 0, 11)
    assert states(console, parts) == {"01-py-v1": ("failed", 1), "02-sh-v1": ("succeeded", None)}


def test_an_unmarked_script_ran_once_a_later_one_started() -> None:
    parts = [Part("01-py-v1", "script"), Part("02-sh-v1", "shell")]
    console = EARLY + FINAL + started("02-sh-v1", 12) + exited("02-sh-v1", 0, 13)

    assert states(console, parts)["01-py-v1"] == ("running", None)
    assert states(console + FINISHED, parts)["01-py-v1"] == ("succeeded", None)


def _reboot() -> str:
    return (
        "[   40.000000] reboot: Restarting system\n"
        + EARLY.replace("Up 4.75", "Up 4.80")
        + FINAL
        + FINISHED.replace("12:00:30", "12:01:30")
    )


def test_a_second_boot_runs_no_per_instance_script_and_changes_nothing() -> None:
    first = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + exited(B, 3, 12)
    first += started(C, 12.1) + exited(C, 0, 13) + MODULE_FAILED + FINISHED
    section = domain.initial([("s", 1, p.filename, p.kind) for p in PARTS])
    after_first, _ = domain.progressed(section, read(first, PARTS), ABOUT)

    both = read(first + _reboot(), PARTS)
    assert domain.progressed(section, both, ABOUT)[0] == after_first
    # The second boot alone (the first one cut away) tells nothing of the scripts.
    second_only = read(_reboot(), PARTS)
    assert all(not s.started for s in second_only.scripts.values())
    assert domain.progressed(after_first, second_only, ABOUT) == (after_first, [])


def test_a_reboot_in_the_middle_of_a_script_fails_it() -> None:
    console = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + _reboot()

    assert states(console) == {A: ("succeeded", None), B: ("failed", None), C: ("failed", None)}


def test_a_console_cut_at_64_kib_keeps_what_an_earlier_reading_found() -> None:
    noise = "".join(f"[{20 + i / 1000:12.6f}] cloud-init[812]: Unpacking libfoo{i} (1.0-1) ...\n" for i in range(2000))
    console = EARLY + FINAL + started(A, 10.1) + exited(A, 0, 11) + started(B, 11.1) + noise
    section = domain.initial([("s", 1, p.filename, p.kind) for p in PARTS])
    early, _ = domain.progressed(section, read(console, PARTS), ABOUT)
    assert [s.state for s in early.scripts] == ["succeeded", "running", "pending"]

    console += exited(B, 0, 30) + started(C, 30.1) + exited(C, 7, 31) + MODULE_FAILED + FINISHED
    cut = console[-64 * 1024 :]
    cut = cut[cut.index("\n") + 1 :]
    assert "running 'modules:final'" not in cut and started(A, 10.1) not in cut and started(B, 11.1) not in cut

    later, events = domain.progressed(early, read(cut, PARTS), ABOUT)

    assert [(s.state, s.exit_code) for s in later.scripts] == [("succeeded", None), ("succeeded", None), ("failed", 7)]
    assert later.state == "failed" and later.scripts[0].started_at == early.scripts[0].started_at
    assert [e.TYPE for e in events] == ["instance.boot_script_failed", "instance.boot_completed"]


def test_a_boot_given_up_is_unknown_once() -> None:
    section = domain.initial([("s", 1, A, "shell")])
    at = datetime(2025, 1, 1, 13, 0, tzinfo=UTC)

    after, events = domain.given_up(section, ABOUT, at)

    assert after.state == "unknown" and after.finished_at == at
    assert [e.model_dump()["state"] for e in events] == ["unknown"]
    assert domain.given_up(after, ABOUT, at) == (after, [])


def test_the_stored_form_reads_back_the_same() -> None:
    console = EARLY + FINAL + started(A, 10.1) + exited(A, 4, 11)
    section = domain.initial([("s", 1, p.filename, p.kind) for p in PARTS])
    after, _ = domain.progressed(section, read(console, PARTS), ABOUT)

    assert domain.section_of(after.stored()) == after
    assert isinstance(domain.section_of(after.stored()), BootSection)
