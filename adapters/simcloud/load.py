"""Synthetic CPU load profiles: parsing their text form and the utilisation they give over simulated time.

    steady:<pct>                                 always <pct>
    ramp:<from>:<to>:<seconds>                   linear from <from> to <to> over <seconds>, then <to>
    spike:<base>:<peak>:<period_s>:<duration_s>  <base>, then <peak> for the last <duration_s> of every period

Percentages are 0-100; times are simulated seconds counted from when the profile took effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class BadProfile(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Steady:
    percent: float


@dataclass(frozen=True, slots=True)
class Ramp:
    start: float
    end: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Spike:
    base: float
    peak: float
    period: float
    duration: float


LoadProfile = Steady | Ramp | Spike

_ARITY = {"steady": 1, "ramp": 3, "spike": 4}


def _number(text: str, what: str, profile: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadProfile(f"load profile {profile!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadProfile(f"load profile {profile!r}: {what} must be finite")
    return value


def _percent(text: str, what: str, profile: str) -> float:
    value = _number(text, what, profile)
    if not 0 <= value <= 100:
        raise BadProfile(f"load profile {profile!r}: {what} must be between 0 and 100")
    return value


def parse(profile: str) -> LoadProfile:
    kind, *args = profile.strip().split(":")
    if kind not in _ARITY:
        raise BadProfile(f"load profile {profile!r}: the kind must be one of steady, ramp, spike")
    if len(args) != _ARITY[kind]:
        raise BadProfile(f"load profile {profile!r}: {kind} takes {_ARITY[kind]} values separated by ':'")
    if kind == "steady":
        return Steady(_percent(args[0], "the percentage", profile))
    if kind == "ramp":
        seconds = _number(args[2], "the duration", profile)
        if seconds < 0:
            raise BadProfile(f"load profile {profile!r}: the duration must not be negative")
        return Ramp(_percent(args[0], "the start", profile), _percent(args[1], "the end", profile), seconds)
    period = _number(args[2], "the period", profile)
    duration = _number(args[3], "the spike duration", profile)
    if period <= 0:
        raise BadProfile(f"load profile {profile!r}: the period must be positive")
    if not 0 <= duration <= period:
        raise BadProfile(f"load profile {profile!r}: the spike duration must be between 0 and the period")
    return Spike(_percent(args[0], "the base", profile), _percent(args[1], "the peak", profile), period, duration)


def cpu_at(profile: LoadProfile, elapsed: float) -> float:
    """CPU utilisation in percent `elapsed` simulated seconds after the profile took effect."""
    elapsed = max(elapsed, 0.0)
    match profile:
        case Steady(percent):
            return percent
        case Ramp(start, end, seconds):
            if elapsed >= seconds:
                return end
            return start + (end - start) * elapsed / seconds
        case Spike(base, peak, period, duration):
            return peak if elapsed % period >= period - duration and duration > 0 else base
