"""xcp-rrdd as the stand-in's one host runs it, and the updates `/rrd_updates` exports from it.

Written from xen-api's `ocaml/xcp-rrdd` (`rrdd_shared.ml`'s archives, `rrdd_monitor.ml`'s life of an RRD,
`rrdd_http_handler.ml`'s query, the `rrdp-*` plugins' data sources) and `ocaml/libs/xapi-rrd` (`rrd.ml`'s choice of
archive and consolidation, `rrd_updates.ml`'s export and its XML and JSON forms):

- A domain's RRD appears at the first 5-second reading after the domain first ran (until then, and for a VM never
  started, there is none: asking only for such VMs is xcp-rrdd's `No_RRA_Available`); it lives on the host while the
  domain is resident, and comes back with its history when the VM starts again.
- Counters (`Derive` sources: vCPU time, bytes through VIFs and disks) need two readings of one domain: the first
  5 s of a domain, and of a device plugged later, are unknown (`NaN`), as is everything before the RRD existed.
- Archives: 5 s for 10 minutes, 1 min for 2 hours, 1 h for a week, 1 day for a year; a VM's average only
  (xff 0.5), the host's average, min and max (xff 1.0). A consolidated row is the mean of its known points, or
  `NaN` when more than xff of them are unknown.

Values are not stored but computed, point by point, from each domain's simulated `Load` when asked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

STEP = 5
# (rows, points per row): rrdd_shared.ml's `timescales`.
TIMESCALES = ((120, 1), (120, 12), (168, 720), (366, 17280))
CFS = ("AVERAGE", "MIN", "MAX", "LAST")

Value = Callable[[float, bool], float]


class NoRraAvailable(Exception):
    """xcp-rrdd's `Rrd.No_RRA_Available`: nothing to export; the HTTP handler answers 500."""


@dataclass(frozen=True, slots=True)
class Archive:
    cf: str
    rows: int
    pdp_count: int
    xff: float


def archives(min_max: bool) -> tuple[Archive, ...]:
    """`create_rras`: per timescale, the average alone (xff 0.5), or average, min and max (xff 1.0)."""
    if not min_max:
        return tuple(Archive("AVERAGE", rows, pdps, 0.5) for rows, pdps in TIMESCALES)
    return tuple(Archive(cf, rows, pdps, 1.0) for rows, pdps in TIMESCALES for cf in ("AVERAGE", "MIN", "MAX"))


def floor_step(t: float, step: int = STEP) -> int:
    return int(t // step) * step


@dataclass
class Load:
    """What a guest does: each vCPU's busy fraction, and bytes per second received and sent through each VIF, and
    read and written on each disk. `cpu` None is a slow wave of the domain's own, from 5 to 45 %."""

    cpu: float | None = None
    rx: float = 12_000.0
    tx: float = 3_000.0
    read: float = 40_000.0
    write: float = 25_000.0


@dataclass
class Life:
    """One domain, from its creation to its destruction (a reboot makes a new one)."""

    start: float
    end: float | None = None
    pauses: list[list[float | None]] = field(default_factory=list)

    def holds(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def paused(self, t: float) -> bool:
        return any(a is not None and a <= t and (b is None or t < b) for a, b in self.pauses)


@dataclass
class Source:
    """One data source: a counter's rate (`derive`) or a level (`gauge`), there from `added` until `removed`."""

    derive: bool
    value: Value
    added: float
    removed: float | None = None

    def holds(self, t: float) -> bool:
        return self.added <= t and (self.removed is None or t < self.removed)


class DomainRrd:
    """The RRD of one domain (or of the host): its lives, its data sources, its archives."""

    def __init__(self, uuid: str, *, min_max: bool, load: Load | None = None) -> None:
        self.uuid = uuid
        self.archives = archives(min_max)
        self.load = load or Load()
        self.lives: list[Life] = []
        self.sources: dict[str, Source] = {}
        self.created: int | None = None
        # Where in its wave a domain's CPU starts, from its uuid: two domains do not move together.
        self.phase = int(uuid.replace("-", "")[:8] or "0", 16) % 600

    # --- the life of a domain, as xapi tells xcp-rrdd of it -------------------------------------------------------

    def start(self, now: float) -> None:
        self.lives.append(Life(now))
        if self.created is None:
            self.created = floor_step(now) + STEP

    def stop(self, now: float) -> None:
        if self.lives and self.lives[-1].end is None:
            life = self.lives[-1]
            life.end = now
            for pause in life.pauses:
                if pause[1] is None:
                    pause[1] = now

    def pause(self, now: float) -> None:
        if self.resident:
            self.lives[-1].pauses.append([now, None])

    def unpause(self, now: float) -> None:
        if self.resident:
            for pause in self.lives[-1].pauses:
                if pause[1] is None:
                    pause[1] = now

    def track(self, now: float, wanted: dict[str, tuple[bool, Value]]) -> None:
        """The data sources the plugins report now: new ones join (in name order, after the RRD's), gone ones stop."""
        for name in sorted(wanted):
            derive, value = wanted[name]
            known = self.sources.get(name)
            if known is None:
                self.sources[name] = Source(derive, value, now)
            elif known.removed is not None:
                known.added, known.removed, known.value = now, None, value
        for name, source in self.sources.items():
            if name not in wanted and source.removed is None:
                source.removed = now

    def backdate(self, seconds: float) -> None:
        """Everything that happened to this domain, `seconds` earlier: as if it had been running that much longer."""
        if self.created is not None:
            self.created = floor_step(self.created - seconds)
        for life in self.lives:
            life.start -= seconds
            life.end = None if life.end is None else life.end - seconds
            life.pauses = [[None if x is None else x - seconds for x in pause] for pause in life.pauses]
        for source in self.sources.values():
            source.added -= seconds
            source.removed = None if source.removed is None else source.removed - seconds

    @property
    def resident(self) -> bool:
        return bool(self.lives) and self.lives[-1].end is None

    def served(self, now: float) -> bool:
        """Whether the host has this RRD: the domain is resident and has been read once."""
        return self.resident and self.created is not None and self.created <= now

    # --- values ----------------------------------------------------------------------------------------------------

    def cpu(self, t: float, vcpu: int) -> float:
        if self.load.cpu is not None:
            return self.load.cpu
        return 0.25 + 0.2 * math.sin(2 * math.pi * (t + self.phase + 37 * vcpu) / 600)

    def _life(self, t: float) -> Life | None:
        if self.created is None or t < self.created:
            return None
        return next((life for life in self.lives if life.holds(t)), None)

    def pdp(self, name: str, t: int) -> float:
        """The primary data point of `name` for the 5 s ending at `t`, NaN when unknown."""
        source = self.sources[name]
        life = self._life(t)
        if life is None or not source.holds(t):
            return math.nan
        if source.derive and (self._life(t - STEP) is not life or not source.holds(t - STEP)):
            return math.nan
        return source.value(t, life.paused(t - STEP / 2))

    def cdp(self, archive: Archive, name: str, end: int) -> float:
        """The consolidated row of `archive` that ends at `end`."""
        n = archive.pdp_count
        first = end - (n - 1) * STEP
        ticks: set[int] = set()
        for life in self.lives:
            lo = max(first, floor_step(life.start))
            hi = min(end, floor_step(life.end) + STEP if life.end is not None else end)
            ticks.update(range(lo, hi + 1, STEP))
        known = [v for v in (self.pdp(name, t) for t in sorted(ticks)) if not math.isnan(v)]
        if n - len(known) > int(archive.xff * n) or not known:
            return math.nan
        if archive.cf == "MIN":
            return min(known)
        if archive.cf == "MAX":
            return max(known)
        if archive.cf == "LAST":
            return known[-1]
        return sum(known) / len(known)

    # --- rrd.ml's choice of archives -------------------------------------------------------------------------------

    def best_archives(self, now: float, pdp_interval: int, cf: str | None, start: int) -> list[Archive]:
        """`Rrd.find_best_rras`: the first archive (of `cf`) holding `start` at a step of at least `pdp_interval`
        points, with its siblings; failing that, those holding as far back as the coarsest goes."""
        rras = [a for a in self.archives if cf is None or a.cf == cf]
        if not rras:
            raise NoRraAvailable
        last_pdp = floor_step(now)

        def holds(t: int, rra: Archive) -> bool:
            return rra.pdp_count >= pdp_interval and t > last_pdp - STEP * rra.rows * rra.pdp_count

        first = next((a for a in rras if holds(start, a)), None)
        if first is not None:
            return [a for a in rras if (a.rows, a.pdp_count) == (first.rows, first.pdp_count)]
        coarsest = rras[-1]
        return [a for a in rras if holds(1 + last_pdp - STEP * coarsest.rows * coarsest.pdp_count, a)]


@dataclass(frozen=True, slots=True)
class Export:
    start: int
    step: int
    end: int
    legend: tuple[str, ...]
    # Newest first, as rrd_updates.ml writes them.
    rows: tuple[tuple[int, tuple[float, ...]], ...]


def export(rrds: Sequence[tuple[str, DomainRrd]], now: float, start: int, interval: int, cf: str | None) -> Export:
    """`Rrd_updates.create_multi`: the rows since `start` of the RRDs, each under its legend prefix."""
    if not rrds:
        raise NoRraAvailable
    last_updated = floor_step(now)
    pdp_interval = interval // STEP
    if start < 0:  # relative to the last update
        start += last_updated
    chosen = [rrd.best_archives(now, pdp_interval, cf, start) for _prefix, rrd in rrds]
    first = next((found[0] for found in chosen if found), None)
    if first is None:
        raise NoRraAvailable
    chosen = [[a for a in found if (a.pdp_count, a.rows) == (first.pdp_count, first.rows)] for found in chosen]
    columns = [
        (prefix, rrd, a, name)
        for (prefix, rrd), found in zip(rrds, chosen, strict=True)
        for a in found
        for name in rrd.sources
    ]
    legend = tuple(f"{a.cf}:{prefix}{name}" for prefix, _rrd, a, name in columns)
    step = STEP * first.pdp_count
    last_cdp = floor_step(last_updated, step)
    first_cdp = floor_step(start, step) + step
    rows: list[tuple[int, tuple[float, ...]]] = []
    for i in range(first.rows):
        t = last_cdp - i * step
        if t < start:
            break
        rows.append((t, tuple(rrd.cdp(a, name, t) for _prefix, rrd, a, name in columns)))
    return Export(first_cdp, step, last_cdp, legend, tuple(rows))


def number(v: float) -> str:
    """`Utils.f_to_s`: how xcp-rrdd prints a value."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "0.0"
    return format(v, ".15g")


def to_xml(e: Export) -> bytes:
    """`Rrd_updates.xml_of`, as Xmlm writes it: a declaration, then the elements without indentation."""

    def tag(name: str, text: object) -> str:
        return f"<{name}>{text}</{name}>"

    legend = "".join(tag("entry", entry) for entry in e.legend)
    meta = (
        tag("start", e.start)
        + tag("step", e.step)
        + tag("end", e.end)
        + tag("rows", len(e.rows))
        + tag("columns", len(e.legend))
        + tag("legend", legend)
    )
    data = "".join(tag("row", tag("t", t) + "".join(tag("v", number(v)) for v in values)) for t, values in e.rows)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{tag("xport", tag("meta", meta) + tag("data", data))}'.encode()


def to_json(e: Export) -> bytes:
    """`Rrd_updates.json_of_t` (since 2024: `data` beside `meta`, each value a string)."""
    doc = {
        "meta": {
            "start": e.start,
            "step": e.step,
            "end": e.end,
            "rows": len(e.rows),
            "columns": len(e.legend),
            "legend": list(e.legend),
        },
        "data": [{"t": t, "values": [number(v) for v in values]} for t, values in e.rows],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def prefers_json(accept: str | None, query: Iterable[tuple[str, str]]) -> bool:
    """`client_prefers_json`: the Accept header's choice between JSON and XML (JSON on a tie, as with `*/*`), or,
    when it names neither, whether the query has `json`."""
    if accept:
        ranges: list[tuple[str, float]] = []
        for part in accept.split(","):
            media, *params = (p.strip() for p in part.split(";"))
            q = 1.0
            for param in params:
                key, _, val = param.partition("=")
                if key.strip() == "q":
                    try:
                        q = float(val)
                    except ValueError:
                        q = 0.0
            ranges.append((media.lower(), q))

        def quality(mime: str) -> float:
            kind = mime.split("/")[0]
            for wanted in (mime, f"{kind}/*", "*/*"):
                found = [q for media, q in ranges if media == wanted]
                if found:
                    return max(found)
            return 0.0

        as_json, as_xml = quality("application/json"), quality("text/xml")
        if as_json > 0 or as_xml > 0:
            return as_json >= as_xml
    return any(key == "json" for key, _ in query)


__all__ = ["STEP", "DomainRrd", "Export", "Load", "NoRraAvailable", "export", "prefers_json", "to_json", "to_xml"]
