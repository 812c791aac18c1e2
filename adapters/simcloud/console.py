"""A synthetic serial console: the log a guest would print, from its phase history and what it was launched with.

Each boot prints kernel, systemd and cloud-init lines spread over the boot time, including what the user data
(boot script or cloud-config) does, and a login prompt once the instance runs; a failed boot ends in a panic that
states the reason. Stops, reboots, suspends and the termination leave their lines too. Kernel timestamps count
simulated seconds since the boot, as a real console's do.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.base import InstanceState as S
from adapters.simcloud.timeline import Entry, ends

# Providers keep the most recent 64 KiB of console output.
MAX_CHARS = 64 * 1024
# Lines of user data that the log echoes, at most.
MAX_SCRIPT_LINES = 40
_CLOUD_INIT = "Cloud-init v. 24.1"
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class Guest:
    instance_id: str
    name: str
    os: str
    image_name: str
    vcpus: int
    ram_mb: int
    private_ip: str
    user_data: str | None = None
    key_name: str | None = None
    reason: str | None = None

    @property
    def hostname(self) -> str:
        host = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")[:63]
        return host or self.instance_id

    @property
    def user(self) -> str:
        if self.os == "windows":
            return "Administrator"
        words = self.image_name.split()
        return words[0].lower() if words else "cloud-user"

    @property
    def pid(self) -> int:
        return 400 + int(hashlib.sha256(self.instance_id.encode()).hexdigest()[:6], 16) % 600


# A script: (fraction of the phase's duration at which the line appears, text).
Script = list[tuple[float, str]]


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)[:200]


def _wall(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _shell_lines(body: Sequence[str]) -> list[str]:
    """What running a shell boot script prints, as if under `set -x`: each command, and what `echo` says."""
    out: list[str] = []
    for raw in body:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(f"+ {_clean(line)}")
        command, _, rest = line.partition(" ")
        if command == "echo":
            try:
                words = shlex.split(rest, comments=True)
            except ValueError:
                words = [rest]
            out.append(_clean(" ".join(w for w in words if w != "-n")))
    return out


def _user_data_lines(guest: Guest) -> list[str]:
    pid = guest.pid
    data = guest.user_data
    if not data or not data.strip():
        return [f"cloud-init[{pid}]: no user data given"]
    lines = data.splitlines()
    body = lines[:MAX_SCRIPT_LINES]
    more = len(lines) - len(body)
    tail = [f"cloud-init[{pid}]: ... {more} more lines of user data not shown"] if more > 0 else []
    first = lines[0].strip()
    if first.startswith("#!"):
        script = "/var/lib/cloud/instance/scripts/part-001"
        return [
            f"cloud-init[{pid}]: running boot script {script} ({_clean(first[2:].strip())}, {len(lines)} lines)",
            *_shell_lines(body[1:]),
            *tail,
            f"cloud-init[{pid}]: boot script {script} finished, exit status 0",
        ]
    if first.startswith("#cloud-config"):
        modules = [m.group(1) for m in (re.match(r"([A-Za-z_][\w-]*):", line) for line in lines) if m]
        return [
            f"cloud-init[{pid}]: processing #cloud-config user data ({len(lines)} lines)",
            *(f"cloud-init[{pid}]: config module '{_clean(m)}' ran" for m in modules),
        ]
    if guest.os == "windows" and first.lower().startswith("<powershell>"):
        script_lines = [line for line in body[1:] if line.strip() and not line.strip().lower().startswith("</")]
        return [
            f"SimLaunch: running user data with PowerShell ({len(lines)} lines)",
            *(f"PS> {_clean(line.strip())}" for line in script_lines),
            *tail,
            "SimLaunch: user data finished, exit code 0",
        ]
    return [f"cloud-init[{pid}]: Unhandled non-multipart (text/x-not-multipart) userdata: {_clean(first[:40])!r}..."]


def _spread(lines: Sequence[str], start: float, stop: float) -> Script:
    if not lines:
        return []
    step = (stop - start) / len(lines)
    return [(start + i * step, line) for i, line in enumerate(lines)]


def _linux_boot(guest: Guest, fails: bool, at: datetime, planned: timedelta, sim_seconds: float) -> Script:
    pid = guest.pid

    def up(fraction: float) -> str:
        return f"{fraction * sim_seconds:.2f}"

    def wall(fraction: float) -> str:
        return _wall(at + planned * fraction)

    early: Script = [
        (0.0, f"Linux version 6.1.0-sim-amd64 ({_clean(guest.image_name)}) #1 SMP PREEMPT_DYNAMIC"),
        (0.0, "Command line: BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro console=ttyS0,115200n8"),
        (0.02, "Hypervisor detected: KVM"),
        (0.05, f"Memory: {guest.ram_mb * 1024}K/{guest.ram_mb * 1024}K available"),
        (0.08, f"smpboot: Allowing {guest.vcpus} CPUs, 0 hotplug CPUs"),
        (0.15, "virtio_blk virtio1: [vda] 1:1 logical blocks"),
        (0.25, "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none."),
        (0.30, "systemd[1]: Detected virtualization kvm."),
        (0.32, f"systemd[1]: Hostname set to <{guest.hostname}>."),
    ]
    if fails:
        return [
            *early,
            (1.0, "mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 4: b200000000070f0f"),
            (1.0, "Kernel panic - not syncing: Fatal machine check"),
            (1.0, f"simcloud: instance {guest.instance_id} failed: {guest.reason or 'simulated hardware failure'}"),
        ]
    keys = (
        [
            f"ci-info: Authorized keys from /home/{guest.user}/.ssh/authorized_keys for user {guest.user}",
            f"ci-info: key pair '{_clean(guest.key_name)}'",
        ]
        if guest.key_name
        else [f"ci-info: no authorized SSH keys fingerprints found for user {guest.user}."]
    )
    return [
        *early,
        (0.45, f"cloud-init[{pid}]: {_CLOUD_INIT} running 'init' at {wall(0.45)}. Up {up(0.45)} seconds."),
        (0.47, f"ci-info: | eth0 | True | {guest.private_ip} | 255.255.0.0 | global |"),
        *_spread(keys, 0.5, 0.55),
        (0.6, f"cloud-init[{pid}]: {_CLOUD_INIT} running 'modules:config' at {wall(0.6)}. Up {up(0.6)} seconds."),
        (0.7, f"cloud-init[{pid}]: {_CLOUD_INIT} running 'modules:final' at {wall(0.7)}. Up {up(0.7)} seconds."),
        *_spread(_user_data_lines(guest), 0.72, 0.93),
        (
            0.95,
            f"cloud-init[{pid}]: {_CLOUD_INIT} finished at {wall(0.95)}. Datasource DataSourceSimCloud. "
            f"Up {up(0.95)} seconds",
        ),
        (1.0, ""),
        (1.0, f"{_clean(guest.image_name)} {guest.hostname} ttyS0"),
        (1.0, ""),
        (1.0, f"{guest.hostname} login: "),
    ]


def _windows_boot(guest: Guest, fails: bool, at: datetime, planned: timedelta) -> Script:
    early: Script = [
        (0.0, "SimCloud BIOS 1.16 - Booting from Hard Disk..."),
        (0.2, "Windows is starting"),
        (0.5, f"{_wall(at + planned * 0.5)} SimLaunch: computer name {guest.hostname.upper()[:15]}"),
    ]
    if fails:
        return [
            *early,
            (1.0, "*** STOP: 0x0000009C MACHINE_CHECK_EXCEPTION"),
            (1.0, f"simcloud: instance {guest.instance_id} failed: {guest.reason or 'simulated hardware failure'}"),
        ]
    return [
        *early,
        (0.6, f"SimLaunch: network adapter Ethernet up, address {guest.private_ip}"),
        *_spread(_user_data_lines(guest), 0.7, 0.93),
        (1.0, f"{_wall(at + planned)} SimLaunch: Windows is Ready to use"),
    ]


def _boot(guest: Guest, entry: Entry, speedup: float) -> Script:
    phase = entry.phase
    planned = (phase.due_at - entry.at) if phase.due_at else timedelta(0)
    fails = phase.target == S.ERROR
    if guest.os == "windows":
        return _windows_boot(guest, fails, entry.at, planned)
    return _linux_boot(guest, fails, entry.at, planned, planned.total_seconds() * speedup)


def _shutdown(guest: Guest, state: S) -> Script:
    if guest.os == "windows":
        final = "Restarting" if state == S.REBOOTING else "Shutting down"
        return [(0.0, f"SimLaunch: Windows is {final.lower()}"), (1.0 if state != S.REBOOTING else 0.0, final)]
    if state == S.REBOOTING:
        return [(0.0, "systemd[1]: Reached target reboot.target - System Reboot."), (0.0, "reboot: Restarting system")]
    return [
        (0.0, f"systemd[1]: Stopping session-1.scope - Session 1 of User {guest.user}..."),
        (0.5, "systemd[1]: Reached target poweroff.target - System Power Off."),
        (1.0, "reboot: Power down"),
    ]


def render(guest: Guest, history: Sequence[Entry], now: datetime, speedup: float) -> str:
    """The console as it reads at `now`, its most recent `MAX_CHARS` characters."""
    lines: list[str] = []
    boot_start: datetime | None = None

    def emit(script: Script, origin: datetime, entry: Entry, cutoff: datetime) -> None:
        planned = (entry.phase.due_at - entry.at).total_seconds() if entry.phase.due_at else 0.0
        shown = (cutoff - entry.at).total_seconds()
        for fraction, text in script:
            if fraction * planned > shown:
                break
            uptime = ((entry.at - origin).total_seconds() + fraction * planned) * speedup
            lines.append(f"[{uptime:12.6f}] {text}" if text else "")

    for entry, end in zip(history, ends(history, now), strict=True):
        if entry.at > now:
            break
        cutoff = end or now
        state = entry.phase.state
        if state in (S.PENDING, S.STARTING, S.REBOOTING):
            if state == S.REBOOTING and boot_start is not None:
                emit(_shutdown(guest, state), boot_start, entry, cutoff)
            boot_start = entry.at
            emit(_boot(guest, entry, speedup), entry.at, entry, cutoff)
        elif state in (S.STOPPING, S.TERMINATING, S.STOPPED, S.TERMINATED):
            # Stopped or terminated with no transition: how an instance from before SimCloud kept history reads.
            emit(_shutdown(guest, state), boot_start or entry.at, entry, cutoff)
            due = entry.phase.due_at
            if state in (S.TERMINATING, S.TERMINATED) and (due is None or due <= cutoff):
                lines.append(f"simcloud: instance {guest.instance_id} terminated")
        elif state == S.SUSPENDED:
            emit([(0.0, "PM: suspend entry (s2idle)")], boot_start or entry.at, entry, cutoff)
        elif state == S.RUNNING:
            emit([(0.0, "PM: suspend exit")], boot_start or entry.at, entry, cutoff)
    text = "\n".join(lines) + "\n"
    if len(text) <= MAX_CHARS:
        return text
    text = text[-MAX_CHARS:]
    return text[text.find("\n") + 1 :]
