"""What an instance's console shows of its boot scripts: a pure reading of console text, no I/O.

The lines it reads, as cloud-init prints them on the console (the logging handler cloud-init sets up writes WARNING
and above to stderr, which the stage's output redirection sends to the console; stage banners and the final message
are written to the same stream):

- a stage banner, "Cloud-init v. 24.1 running 'modules:final' at Wed, 01 Jan 2025 12:00:07 +0000. Up 7.00 seconds."
  (`cmd/main.py` `welcome_format`); stages come in the order init-local, init, modules:config, modules:final, so a
  stage that comes again begins a new boot;
- the final message, "Cloud-init v. 24.1 finished at <date>. Datasource <name>.  Up <n> seconds"
  (`cc_final_message`): the boot's scripts have all run;
- Clanavi's own marker lines around each shell script (`markers`): it started; it exited with a status;
- "Failed running /var/lib/cloud/.../<filename> [<status>]": `util.logexc` in `runparts` before cloud-init 20.3,
  which named a failing script and its status; later versions log it at debug level, off the console;
- "Failed to run module scripts_per_instance (...)" and "Running module scripts_per_instance (...) failed" (the
  module's warning, then `util.logexc`): at least one of the module's scripts exited non-zero, which one unsaid.

Scripts run in the order of their filenames (`subp.runparts` sorts them). A script has started when its start
marker shows; it has finished when its exit marker shows, when a later script starts, when its module's failure
shows, or when cloud-init finishes. Its outcome is its exit status when a line gave it; failing that, it failed if
its module did (a failure nobody else accounts for), else it succeeded. A boot in which none of the scripts showed
anything tells nothing of them (a later boot does not run per-instance scripts again), except that cloud-config
parts, applied by cloud-init's own modules with no result of their own, are done once a boot finishes.

Times come from the console: a banner gives the wall clock at an uptime, and a line with a kernel timestamp
(`[   12.345678]`) is placed from the last banner before it; lines without one have no time.

The console is most often cut (a provider keeps its last 64 KiB), so any part of this may be missing; the caller
keeps what an earlier reading found (`domain.progressed`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from services.provisioner.boot.markers import EXITED, PREFIX, STARTED

__all__ = ["Observed", "Part", "Seen", "read"]

_STAGES = {"init-local": 0, "init": 1, "modules:config": 2, "modules:final": 3}
_BANNER = re.compile(r"Cloud-init v\. \S+ running '([^']+)' at ([^.]+)\. Up ([0-9.]+) seconds")
_FINISHED = re.compile(r"Cloud-init v\. \S+ finished at ([^.]+)\. Datasource .* Up ([0-9.]+) seconds")
_KERNEL_TIME = re.compile(r"^\[\s*([0-9]+\.[0-9]+)\]")
# The date as cloud-init writes it in banners (`%a, %d %b %Y %H:%M:%S %z` of the UTC time): read directly, as the
# standard library's parser of any RFC 5322 date was half the cost of reading a console. Other forms go to that one.
_UTC_DATE = re.compile(r"[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) \+0000")
_MONTHS = {
    m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_LEGACY_FAILED = re.compile(r"Failed running /var/lib/cloud/\S*/([^/\s]+) \[(\d+)\]")
_MODULE = r"scripts[_-]per[_-]instance"
_MODULE_FAILED = re.compile(rf"Failed to run module {_MODULE} \(|Running module {_MODULE} \(.*\) failed")

# What every line above holds: the others (most of a console: the kernel's, systemd's) are passed over at once.
_RELEVANT = re.compile(rf"Cloud-init v\. |{PREFIX}|Failed running |Failed to run module |Running module ")

Kind = Literal["shell", "script", "cloud-config"]


@dataclass(frozen=True, slots=True)
class Part:
    """A boot script as rendered: its filename and kind (`shell`: it prints Clanavi's markers; `script`: another
    executable; `cloud-config`)."""

    filename: str
    kind: Kind


@dataclass(slots=True)
class Seen:
    """What the console showed of one script."""

    started: bool = False
    finished: bool = False
    # Known once finished: None while the outcome waits for the module's result or cloud-init's end.
    failed: bool | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class Observed:
    """What a console showed of a boot's scripts, by filename, and of cloud-init."""

    scripts: dict[str, Seen]
    # cloud-init printed anything at all: the boot is under way.
    cloud_init: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None


def _date(text: str) -> datetime:
    found = _UTC_DATE.fullmatch(text)
    month = _MONTHS.get(found.group(2)) if found is not None else None
    if found is None or month is None:
        return parsedate_to_datetime(text)
    day, year, hour, minute, second = (int(found.group(n)) for n in (1, 3, 4, 5, 6))
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class _Clock:
    """Wall time of console lines, from the last banner's wall time and uptime."""

    def __init__(self) -> None:
        self._anchor: tuple[datetime, float] | None = None

    def banner(self, when: str, uptime: str) -> datetime | None:
        try:
            wall = _date(when.strip())
        except (TypeError, ValueError):
            return None
        self._anchor = (wall, float(uptime))
        return wall

    def of(self, line: str) -> datetime | None:
        found = _KERNEL_TIME.match(line)
        if found is None or self._anchor is None:
            return None
        wall, uptime = self._anchor
        return wall + timedelta(seconds=max(0.0, float(found.group(1)) - uptime))


class _Reading:
    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = sorted(parts, key=lambda p: p.filename.encode())
        self.seen = Observed({p.filename: Seen() for p in parts})
        self.clock = _Clock()
        self.stage = -1
        # Per boot: the scripts that showed they ran in it, and whether their module failed.
        self.ran: set[str] = set()
        self.module_failed = False
        # Whether this boot's final stage shows from its banner on (nothing of it was cut away).
        self.whole_final = False

    def _new_boot(self) -> None:
        for part in self.parts:
            seen = self.seen.scripts[part.filename]
            interrupted = part.filename in self.ran and not seen.finished
            never_ran = self.ran and self.whole_final and not seen.started and part.kind != "cloud-config"
            if interrupted or never_ran:
                # The boot ended under its scripts (a reboot, a crash): the per-instance module is not run again.
                seen.finished, seen.failed = True, True
        self.ran = set()
        self.module_failed = False
        self.whole_final = False

    def _finish(self, filename: str, at: datetime | None) -> None:
        seen = self.seen.scripts[filename]
        if seen.started and not seen.finished:
            seen.finished, seen.finished_at = True, at

    def _finish_before(self, filename: str | None, at: datetime | None) -> None:
        """Every script sorted before `filename` (None: every script) has finished: runparts runs one at a time, in
        order. A script that prints no markers ran unseen."""
        for part in self.parts:
            if part.filename == filename:
                return
            seen = self.seen.scripts[part.filename]
            if part.kind == "script" and not seen.finished:
                seen.started = seen.finished = True
                self.ran.add(part.filename)
            if part.kind != "cloud-config":
                self._finish(part.filename, at)

    def _settle(self, *, boot_over: bool) -> None:
        """The outcome of the scripts that finished in this boot without a status of their own: failed when their
        module failed (it says no more), else succeeded once the boot is over."""
        ran_any = bool(self.ran)
        for part in self.parts:
            seen = self.seen.scripts[part.filename]
            if part.kind == "cloud-config":
                if boot_over:
                    seen.finished, seen.failed = True, False
                continue
            if boot_over and ran_any and not seen.started:
                if not self.whole_final:
                    continue  # its lines may have been cut away
                if part.kind == "shell":
                    # cloud-init ran the others but never this one.
                    seen.finished, seen.failed = True, True
                    continue
                # A script that prints no markers ran unseen with the others.
                seen.started = seen.finished = True
                self.ran.add(part.filename)
            if part.filename not in self.ran or not seen.finished or seen.failed is not None:
                continue
            if self.module_failed:
                seen.failed = True
            elif boot_over:
                seen.failed = False

    def line(self, line: str) -> None:
        if (banner := _BANNER.search(line)) is not None:
            stage = _STAGES.get(banner.group(1), -1)
            if stage <= self.stage:
                self._new_boot()
            self.stage = stage
            self.whole_final = stage == _STAGES["modules:final"]
            wall = self.clock.banner(banner.group(2), banner.group(3))
            if not self.seen.cloud_init:
                self.seen.cloud_init, self.seen.started_at = True, wall
            return
        if (finished := _FINISHED.search(line)) is not None:
            wall = self.clock.banner(finished.group(1), finished.group(2))
            self.seen.cloud_init = True
            for part in self.parts:
                self._finish(part.filename, wall)
            if self.ran and self.seen.finished_at is None:
                self.seen.finished_at = wall
            self._settle(boot_over=True)
            self.stage = len(_STAGES)
            return
        at = self.clock.of(line)
        if (started := STARTED.search(line)) is not None and started.group(1) in self.seen.scripts:
            name = started.group(1)
            self._finish_before(name, at)
            seen = self.seen.scripts[name]
            if not seen.started:
                seen.started, seen.started_at = True, at
            self.ran.add(name)
            self.seen.cloud_init = True
        elif (exited := EXITED.search(line)) is not None and exited.group(1) in self.seen.scripts:
            name = exited.group(1)
            self._finish_before(name, at)
            seen = self.seen.scripts[name]
            if not (seen.finished and seen.failed is not None):
                code = int(exited.group(2))
                # Its start line may have been cut away.
                seen.started = True
                self.ran.add(name)
                seen.finished, seen.finished_at = True, seen.finished_at or at
                seen.failed, seen.exit_code = code != 0, code if code != 0 else None
        elif (legacy := _LEGACY_FAILED.search(line)) is not None and legacy.group(1) in self.seen.scripts:
            name = legacy.group(1)
            self._finish_before(name, at)
            seen = self.seen.scripts[name]
            seen.started = seen.finished = True
            seen.failed, seen.exit_code = True, int(legacy.group(2))
            seen.finished_at = seen.finished_at or at
            self.ran.add(name)
        elif _MODULE_FAILED.search(line) is not None and self.ran:
            self.module_failed = True
            self._finish_before(None, at)
            self._settle(boot_over=False)


def read(console: str, parts: Sequence[Part]) -> Observed:
    """What `console` shows of the boot scripts `parts` (as rendered, in any order)."""
    reading = _Reading(parts)
    relevant = _RELEVANT.search
    for line in console.splitlines():
        if relevant(line) is not None:
            reading.line(line)
    return reading.seen
