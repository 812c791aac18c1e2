"""A synthetic serial console: the log a guest would print, from its phase history and what it was launched with.

Each boot prints kernel and systemd lines spread over the boot time, then what cloud-init prints on a real
console: its stage banners ("Cloud-init v. 24.1 running 'init' at ..."), the `ci-info` network tables, the output
of the user-data boot scripts and the warnings of those that fail, and the closing "Cloud-init v. 24.1 finished
at ... Datasource ...  Up N seconds", then a login prompt once the instance runs. A failed boot ends in a panic
that states the reason. Stops, reboots, suspends and the termination leave their lines too. Kernel timestamps
count simulated seconds since the boot, as a real console's do.

Like a real console, this one never shows the user data itself, only what running it prints:
- a `#!` shell script: what its commands print, simulated by `adapters.simcloud.shell` (literal `echo` and
  `printf` only; variables are never expanded, so a secret a script assigns or uses never shows);
- `#cloud-config`: nothing of its content (output of `runcmd` commands is not simulated either);
- MIME multipart (gzip is unpacked when the instance is launched, as cloud-init does first): what each shell part
  (`text/x-shellscript`, `-per-instance`, `-per-boot`, `-per-once`) prints, in the order cloud-init's final stage
  runs them (by module, then by filename), simulated the same way; other parts print nothing;
- a script that exits non-zero: cloud-init's two warnings that its module failed, once the module's scripts ran
  (`adapters.simcloud.user_scripts`); only per-boot scripts run again on later boots;
- cloud-init's other formats (`#include`, `#cloud-boothook`, ...): nothing, as scripts inside them are not
  simulated;
- anything else: cloud-init's "Unhandled non-multipart" warning. Real cloud-init quotes the first 24 bytes of
  such user data in it; SimCloud leaves them out;
- on Windows, `<powershell>` or `<script>` user data: that it ran, not its text or output (EC2Launch-style
  agents log the output to a file, not to the console).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from adapters.base import InstanceState as S
from adapters.simcloud import keys, user_scripts
from adapters.simcloud.timeline import Entry, ends

# Providers keep the most recent 64 KiB of console output.
MAX_CHARS = 64 * 1024
_CLOUD_INIT = "Cloud-init v. 24.1"
# A guest of a cloud without a cloud-init datasource of its own reads its user data from a NoCloud seed disk.
_DATASOURCE = "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]"
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
# Starts of user data that cloud-init handles without a warning (its `INCLUSION_TYPES_MAP`).
_HANDLED_STARTS = (
    "#!",
    "#cloud-config",
    "#include",
    "#part-handler",
    "#cloud-boothook",
    "## template: jinja",
    "text/x-shellscript-per-",
)
# cloud-init's stages run as separate processes: 'init-local', 'init', 'modules:config', 'modules:final'.
_STAGE_PID_OFFSETS = (0, 97, 391, 412)


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
    # The SSH host keys its sshd serves (OpenSSH public key lines), which cloud-init prints to the console.
    host_keys: tuple[str, ...] = ()

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

    @property
    def mac(self) -> str:
        # The locally administered prefix QEMU gives its NICs.
        tail = hashlib.sha256(f"mac:{self.instance_id}".encode()).digest()[:3]
        return ":".join(f"{b:02x}" for b in (0x52, 0x54, 0x00, *tail))


L = TypeVar("L")
# A script: (fraction of the phase's duration at which the line appears, text).
Script = list[tuple[float, str]]


class Raw(str):
    """A line written straight to /dev/console, not through the kernel's log: it has no timestamp."""

    __slots__ = ()


def _host_key_lines(guest: Guest, at: datetime) -> list[str]:
    """What cloud-init's `write-ssh-key-fingerprints` prints: the fingerprints through `logger -s` (a syslog
    prefix on each line), then the public keys as the `.pub` files hold them, in the order of their file names."""
    if not guest.host_keys:
        return []
    # /etc/ssh/ssh_host_{ecdsa,ed25519,rsa}_key.pub
    public = sorted((keys.parse_public(k) for k in guest.host_keys), key=lambda k: k.key_type.removeprefix("ssh-"))
    stamp = f"<14>{at:%b} {at.day:2d} {at:%H:%M:%S} cloud-init: "
    rule = "#" * 61

    def comment(key: keys.PublicKey) -> str:
        fields = key.openssh.split(maxsplit=2)
        return fields[2] if len(fields) > 2 else f"root@{guest.hostname}"

    return [
        *(stamp + line for line in (rule, "-----BEGIN SSH HOST KEY FINGERPRINTS-----")),
        *(stamp + keys.fingerprint_line(k, comment(k)) for k in public),
        *(stamp + line for line in ("-----END SSH HOST KEY FINGERPRINTS-----", rule)),
        "-----BEGIN SSH HOST KEY KEYS-----",
        *(k.openssh for k in public),
        "-----END SSH HOST KEY KEYS-----",
    ]


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)[:200]


def _wall(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _table(title: str, fields: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table as cloud-init's `SimpleTable` draws it, under its title centred in '+'."""
    widths = [max(len(row[i]) for row in (fields, *rows)) for i in range(len(fields))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(row: Sequence[str]) -> str:
        return "|" + "|".join(cell.center(widths[i] + 2) for i, cell in enumerate(row)) + "|"

    return [f"{title:+^{len(rule)}}", rule, line(fields), rule, *(line(row) for row in rows), rule]


def _network_tables(guest: Guest) -> list[str]:
    """The `ci-info` tables cloud-init prints once the network is up: devices, then IPv4 and IPv6 routes."""
    address = ipaddress.ip_address(guest.private_ip)
    subnet = ipaddress.ip_network(f"{address}/16", strict=False)
    gateway = str(subnet.network_address + 1)
    mac = int(guest.mac.replace(":", ""), 16)
    # EUI-64 from the MAC, as the kernel forms the link-local address.
    eui = ((mac >> 24) ^ 0x020000) << 40 | 0xFFFE << 24 | mac & 0xFFFFFF
    link_local = f"{ipaddress.IPv6Address((0xFE80 << 112) | eui)}/64"
    devices = [
        ("eth0", "True", str(address), str(subnet.netmask), "global", guest.mac),
        ("eth0", "True", link_local, ".", "link", guest.mac),
        ("lo", "True", "127.0.0.1", "255.0.0.0", "host", "."),
        ("lo", "True", "::1/128", ".", "host", "."),
    ]
    ipv4 = [
        ("0", "0.0.0.0", gateway, "0.0.0.0", "eth0", "UG"),
        ("1", str(subnet.network_address), "0.0.0.0", str(subnet.netmask), "eth0", "U"),
    ]
    # cloud-init numbers every IPv6 route and then leaves out those of `lo`, so the numbers have gaps.
    ipv6 = [
        (n, destination, "::", "eth0", "U")
        for n, destination in (("1", "fe80::/64"), ("3", "local"), ("4", "multicast"))
    ]
    return [
        f"ci-info: {line}"
        for line in (
            *_table("Net device info", ("Device", "Up", "Address", "Mask", "Scope", "Hw-Address"), devices),
            *_table("Route IPv4 info", ("Route", "Destination", "Gateway", "Genmask", "Interface", "Flags"), ipv4),
            *_table("Route IPv6 info", ("Route", "Destination", "Gateway", "Interface", "Flags"), ipv6),
        )
    ]


def _first_line(data: str | None) -> str:
    return data.partition("\n")[0].strip() if data else ""


def _windows_user_data_lines(guest: Guest) -> list[str]:
    first = _first_line(guest.user_data).lower()
    for tag, runner in (("<powershell>", "PowerShell"), ("<script>", "cmd")):
        if first.startswith(tag):
            return [f"SimLaunch: running user data with {runner}", "SimLaunch: user data finished, exit code 0"]
    return []


def _logged(moment: datetime, warning: user_scripts.Logged) -> str:
    """A warning as cloud-init's console handler formats it (Python logging's asctime, the logging file)."""
    asctime = f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d}"
    return f"{asctime} - {warning.source_file}[WARNING]: {warning.message}"


def _spread(lines: Sequence[L], start: float, stop: float) -> list[tuple[float, L]]:
    if not lines:
        return []
    step = (stop - start) / len(lines)
    return [(start + i * step, line) for i, line in enumerate(lines)]


def _failed(guest: Guest, early: Script, *crash: str) -> Script:
    """A boot that fails: its early lines, the guest's last words as its kernel crashes, then SimCloud's reason."""
    return [
        *early,
        *((1.0, line) for line in crash),
        (1.0, f"simcloud: instance {guest.instance_id} failed: {guest.reason or 'simulated hardware failure'}"),
    ]


def _linux_boot(
    guest: Guest, fails: bool, at: datetime, planned: timedelta, sim_seconds: float, first_boot: bool
) -> Script:
    local_pid, init_pid, config_pid, final_pid = (guest.pid + offset for offset in _STAGE_PID_OFFSETS)

    def up(fraction: float) -> str:
        return f"{fraction * sim_seconds:.2f}"

    def wall(fraction: float) -> str:
        return _wall(at + planned * fraction)

    def banner(pid: int, stage: str, fraction: float) -> tuple[float, str]:
        text = f"{_CLOUD_INIT} running '{stage}' at {wall(fraction)}. Up {up(fraction)} seconds."
        return fraction, f"cloud-init[{pid}]: {text}"

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
        return _failed(
            guest,
            early,
            "mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 4: b200000000070f0f",
            "Kernel panic - not syncing: Fatal machine check",
        )
    data = guest.user_data
    first = _first_line(data)
    unhandled: Script = []
    # cloud-init reads user data that names a MIME version in its first 4 KiB as MIME.
    if data and data.strip() and not first.startswith(_HANDLED_STARTS) and "mime-version:" not in data[:4096].lower():
        warning = user_scripts.Logged("__init__.py", "Unhandled non-multipart (text/x-not-multipart) userdata: '...'")
        unhandled = [(0.49, f"cloud-init[{init_pid}]: {_logged(at + planned * 0.49, warning)}")]
    # The final stage's scripts print, and cloud-init logs the modules that failed, as each happens.
    scripts = [
        (
            f,
            f"cloud-init[{final_pid}]: "
            + (_clean(line.text) if isinstance(line, user_scripts.Printed) else _logged(at + planned * f, line)),
        )
        for f, line in _spread(user_scripts.final_stage(data, first_boot=first_boot), 0.72, 0.9)
    ]
    authorized = (
        [
            f"ci-info: Authorized keys from /home/{guest.user}/.ssh/authorized_keys for user {guest.user}",
            f"ci-info: key pair '{_clean(guest.key_name)}'",
        ]
        if guest.key_name
        else [f"ci-info: no authorized SSH keys fingerprints found for user {guest.user}."]
    )
    return [
        *early,
        banner(local_pid, "init-local", 0.40),
        banner(init_pid, "init", 0.45),
        *_spread([f"cloud-init[{init_pid}]: {line}" for line in _network_tables(guest)], 0.46, 0.48),
        *unhandled,
        banner(config_pid, "modules:config", 0.6),
        banner(final_pid, "modules:final", 0.7),
        # The final stage runs the boot scripts, then prints the authorized keys straight to /dev/console.
        *scripts,
        *_spread(authorized, 0.91, 0.93),
        *((0.94, Raw(line)) for line in _host_key_lines(guest, at + planned * 0.94)),
        (
            0.95,
            f"cloud-init[{final_pid}]: {_CLOUD_INIT} finished at {wall(0.95)}. Datasource {_DATASOURCE}.  "
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
        return _failed(guest, early, "*** STOP: 0x0000009C MACHINE_CHECK_EXCEPTION")
    return [
        *early,
        (0.6, f"SimLaunch: network adapter Ethernet up, address {guest.private_ip}"),
        *_spread(_windows_user_data_lines(guest), 0.7, 0.93),
        (1.0, f"{_wall(at + planned)} SimLaunch: Windows is Ready to use"),
    ]


def _boot(guest: Guest, entry: Entry, speedup: float, first_boot: bool) -> Script:
    phase = entry.phase
    planned = (phase.due_at - entry.at) if phase.due_at else timedelta(0)
    fails = phase.target == S.ERROR
    if guest.os == "windows":
        return _windows_boot(guest, fails, entry.at, planned)
    return _linux_boot(guest, fails, entry.at, planned, planned.total_seconds() * speedup, first_boot)


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
    settled = max((moment for e in history for moment in (e.at, e.phase.due_at) if moment is not None), default=None)
    if settled is not None and settled <= now:
        return _settled(guest, tuple(history), settled, speedup)
    return _render(guest, history, now, speedup)


# Once every phase of its history has come due, a console reads the same until the next action: read again (by
# the boot follower, a script run looking for host keys, a user), it is laid out once.
@functools.lru_cache(maxsize=128)
def _settled(guest: Guest, history: tuple[Entry, ...], settled: datetime, speedup: float) -> str:
    return _render(guest, history, settled, speedup)


def _render(guest: Guest, history: Sequence[Entry], now: datetime, speedup: float) -> str:
    lines: list[str] = []
    boot_start: datetime | None = None

    def emit(script: Script, origin: datetime, entry: Entry, cutoff: datetime) -> None:
        planned = (entry.phase.due_at - entry.at).total_seconds() if entry.phase.due_at else 0.0
        shown = (cutoff - entry.at).total_seconds()
        for fraction, text in script:
            if fraction * planned > shown:
                break
            uptime = ((entry.at - origin).total_seconds() + fraction * planned) * speedup
            lines.append(f"[{uptime:12.6f}] {text}" if text and not isinstance(text, Raw) else text)

    for entry, end in zip(history, ends(history, now), strict=True):
        if entry.at > now:
            break
        cutoff = end or now
        state = entry.phase.state
        if state in (S.PENDING, S.STARTING, S.REBOOTING):
            if state == S.REBOOTING and boot_start is not None:
                emit(_shutdown(guest, state), boot_start, entry, cutoff)
            first_boot = boot_start is None
            boot_start = entry.at
            emit(_boot(guest, entry, speedup, first_boot), entry.at, entry, cutoff)
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
