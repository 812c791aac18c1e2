"""An instance's `boot` section: the progress of each of its template's boot scripts and of the boot as a whole, and
how a reading of the console moves it on; no I/O.

States only move forward (pending -> running -> succeeded or failed): a later reading of a console that lost its
start, or shows a later boot, never takes back what an earlier one found. The boot as a whole is `pending` until
cloud-init shows itself, `running` until every script has an outcome, then `succeeded` or `failed`; `unknown` when
Clanavi stops following it first (the instance ended, or the boot outlasted the bound).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

from kernel.events import EventPayload, InstanceBootCompleted, InstanceBootScriptFailed
from services.provisioner.boot.progress import Kind, Observed, Part, Seen

__all__ = [
    "About",
    "BootScript",
    "BootSection",
    "BootState",
    "ScriptState",
    "given_up",
    "initial",
    "progressed",
    "section_of",
]

ScriptState = Literal["pending", "running", "succeeded", "failed"]
BootState = Literal["pending", "running", "succeeded", "failed", "unknown"]
ENDS: frozenset[str] = frozenset({"succeeded", "failed", "unknown"})
_RANK = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2}


@dataclass(frozen=True, slots=True)
class BootScript:
    script_id: str
    version: int
    filename: str
    kind: Kind
    state: ScriptState = "pending"
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BootSection:
    scripts: tuple[BootScript, ...]
    state: BootState = "pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def over(self) -> bool:
        return self.state in ENDS

    @property
    def parts(self) -> list[Part]:
        return [Part(s.filename, s.kind) for s in self.scripts]

    def stored(self) -> dict[str, Any]:
        """The section as the instance's `boot` column keeps it (and the API shows it)."""

        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "state": self.state,
            "started_at": when(self.started_at),
            "finished_at": when(self.finished_at),
            "scripts": [
                {
                    "script_id": s.script_id,
                    "version": s.version,
                    "filename": s.filename,
                    "kind": s.kind,
                    "state": s.state,
                    "exit_code": s.exit_code,
                    "started_at": when(s.started_at),
                    "finished_at": when(s.finished_at),
                }
                for s in self.scripts
            ],
        }


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def section_of(stored: Mapping[str, Any]) -> BootSection:
    """The section from its stored form."""
    scripts = tuple(
        BootScript(
            script_id=str(s["script_id"]),
            version=int(s["version"]),
            filename=str(s["filename"]),
            kind=cast(Kind, s["kind"]),
            state=cast(ScriptState, s["state"]),
            exit_code=s.get("exit_code"),
            started_at=_moment(s.get("started_at")),
            finished_at=_moment(s.get("finished_at")),
        )
        for s in stored.get("scripts", ())
    )
    return BootSection(
        scripts,
        cast(BootState, stored.get("state", "pending")),
        _moment(stored.get("started_at")),
        _moment(stored.get("finished_at")),
    )


def _state(seen: Seen) -> ScriptState:
    if seen.finished and seen.failed is not None:
        return "failed" if seen.failed else "succeeded"
    return "running" if seen.started else "pending"


def _advanced(script: BootScript, seen: Seen) -> BootScript:
    state = _state(seen)
    if _RANK[state] <= _RANK[script.state]:
        return script
    return replace(
        script,
        state=state,
        exit_code=seen.exit_code if state == "failed" else None,
        started_at=script.started_at or seen.started_at,
        finished_at=seen.finished_at if state in ENDS else None,
    )


@dataclass(frozen=True, slots=True)
class About:
    """What the boot's events name: the instance and the template version it came from."""

    instance_id: str
    cloud_id: str
    template_id: str
    template_version: int


def progressed(section: BootSection, observed: Observed, about: About) -> tuple[BootSection, list[EventPayload]]:
    """The section once a console reading is taken in, and the events of what it newly found."""
    if section.over:
        return section, []
    scripts = tuple(_advanced(s, observed.scripts[s.filename]) for s in section.scripts)
    events: list[EventPayload] = [
        InstanceBootScriptFailed(
            **_named(about),
            script_id=after.script_id,
            script_version=after.version,
            filename=after.filename,
            exit_code=after.exit_code,
        )
        for before, after in zip(section.scripts, scripts, strict=True)
        if after.state == "failed" and before.state != "failed"
    ]
    if all(s.state in ENDS for s in scripts):
        state: BootState = "failed" if any(s.state == "failed" for s in scripts) else "succeeded"
    elif observed.cloud_init or any(s.state != "pending" for s in scripts):
        state = "running"
    else:
        state = "pending"
    after = replace(
        section,
        scripts=scripts,
        state=state,
        started_at=section.started_at or observed.started_at,
        finished_at=_finished_at(section, observed, scripts) if state in ENDS else None,
    )
    if after.over:
        events.append(_completed(after, about))
    return after, events


def _finished_at(section: BootSection, observed: Observed, scripts: Sequence[BootScript]) -> datetime | None:
    """When the boot ended: cloud-init's end, else its last script's."""
    ends = [s.finished_at for s in scripts if s.finished_at is not None]
    return section.finished_at or observed.finished_at or (max(ends) if ends else None)


def given_up(section: BootSection, about: About, at: datetime) -> tuple[BootSection, list[EventPayload]]:
    """The section when Clanavi stops following a boot that has not ended: its outcome is unknown."""
    if section.over:
        return section, []
    after = replace(section, state="unknown", finished_at=at)
    return after, [_completed(after, about)]


def _named(about: About) -> dict[str, Any]:
    return {
        "instance_id": about.instance_id,
        "cloud_id": about.cloud_id,
        "template_id": about.template_id,
        "template_version": about.template_version,
    }


def _completed(section: BootSection, about: About) -> InstanceBootCompleted:
    return InstanceBootCompleted(
        **_named(about),
        state=cast(Literal["succeeded", "failed", "unknown"], section.state),
        failed=[s.filename for s in section.scripts if s.state == "failed"],
    )


def initial(parts: Sequence[tuple[str, int, str, Kind]]) -> BootSection:
    """The section of a launch: every script (script id, version, filename, kind) pending."""
    return BootSection(
        tuple(BootScript(script_id, version, filename, kind) for script_id, version, filename, kind in parts)
    )
