"""xcp-rrdd's updates (`GET /rrd_updates` on a host's HTTP interface) as the contract's metric samples. No I/O here.

xapi stopped filling `VM_metrics.VCPUs_utilisation` long ago ("Disabled in favour of RRDs": it stays `{0: 0.0}`
stamped 1970); the figures live in the round-robin databases xcp-rrdd keeps for every resident domain. Their updates
come as rrdtool's `xport` document (xen-api's `ocaml/libs/xapi-rrd/lib/rrd_updates.ml`): a legend of columns named
`<CF>:<owner>:<uuid>:<data source>` (owner `vm`, `host` or `sr`), then one row per consolidated step, newest first,
each value printed with `%.15g` or as `NaN`/`Infinity`. Newer xapi answers the same structure as JSON when asked
(`json` in the query, or an `Accept` that prefers it), its values as strings; before 2024 its `data` sat inside `meta`.

The data sources this reads (xcp-rrdd's plugins): `cpu<N>` (each vCPU's busy fraction) and `cpu_usage` (the whole
domain's, on newer hosts), `vif_<N>_rx`/`_tx` (bytes per second the guest received/sent through VIF N) and
`vbd_<device>_read`/`_write` (bytes per second from/to that disk). Rates become the bytes of each row's step, as
EC2's sums over a period and libvirt's differences are. `NaN` is an unknown value (the domain had not been sampled
yet, or a device was not there), never a zero.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from adapters.base import MetricSample

AVERAGE = "AVERAGE"
# The step of xcp-rrdd's finest archive (5 s for 10 minutes, then 1 min for 2 hours, 1 h for a week, 1 day for a
# year: `timescales` in rrdd_shared.ml). Asking with this interval gets the finest archive that reaches back to
# `start`.
FINEST_STEP_SECONDS = 5

_CPU = re.compile(r"^cpu(\d+)$")
_VIF = re.compile(r"^vif_(\d+)_(rx|tx)$")
# A device name has no underscore; `vbd_xvda_read_latency` and `vbd_xvda_io_throughput_read` are other figures.
_VBD = re.compile(r"^vbd_([^_]+)_(read|write)$")

_NAMES = {
    "rx": "network_in_bytes",
    "tx": "network_out_bytes",
    "read": "disk_read_bytes",
    "write": "disk_write_bytes",
}


class Unreadable(ValueError):
    """The answer is not an `xport` document (nor its JSON form)."""


@dataclass(frozen=True, slots=True)
class Column:
    cf: str
    owner: str
    uuid: str
    source: str


@dataclass(frozen=True, slots=True)
class Updates:
    step: int
    legend: tuple[Column | None, ...]
    # (epoch seconds, one value per legend entry); rows whose width is not the legend's are dropped.
    rows: tuple[tuple[int, tuple[float, ...]], ...]


def column(entry: str) -> Column | None:
    """A legend entry as a column, or None when it is not `<CF>:<owner>:<uuid>:<source>`."""
    parts = entry.strip().split(":", 3)
    if len(parts) != 4 or not all(parts):
        return None
    return Column(*parts)


def value(text: object) -> float:
    """One value as xcp-rrdd prints it; anything unreadable is unknown."""
    try:
        return float(str(text).strip())
    except ValueError:
        return math.nan


def parse(body: bytes, content_type: str | None = None) -> Updates:
    """The updates in `body`: JSON when the answer says so (or looks like it), rrdtool's XML otherwise."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or (not kind and body.lstrip()[:1] == b"{"):
        return _from_json(body)
    return _from_xml(body)


def _updates(step: object, entries: Iterable[str], rows: Iterable[tuple[object, Sequence[object]]]) -> Updates:
    try:
        seconds = int(str(step))
    except ValueError:
        raise Unreadable("step") from None
    if seconds <= 0:
        raise Unreadable("step")
    legend = tuple(column(e) for e in entries)
    kept: list[tuple[int, tuple[float, ...]]] = []
    for when, values in rows:
        try:
            t = int(str(when).strip())
        except ValueError:
            continue
        if len(values) == len(legend):
            kept.append((t, tuple(value(v) for v in values)))
    return Updates(seconds, legend, tuple(kept))


def _from_xml(body: bytes) -> Updates:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - expat refuses entity expansion bombs since 2.4.1
    except (ElementTree.ParseError, ExpatError) as exc:
        raise Unreadable("not XML") from exc
    meta = root.find("meta")
    if root.tag != "xport" or meta is None:
        raise Unreadable("not an xport document")
    entries = [e.text or "" for e in meta.iterfind("legend/entry")]
    rows = [(row.findtext("t", ""), [v.text or "" for v in row.iterfind("v")]) for row in root.iterfind("data/row")]
    return _updates(meta.findtext("step", ""), entries, rows)


def _from_json(body: bytes) -> Updates:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable("not JSON") from exc
    meta = doc.get("meta") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        raise Unreadable("no meta")
    data = doc.get("data", meta.get("data", []))
    legend = meta.get("legend", [])
    if not isinstance(data, list) or not isinstance(legend, list):
        raise Unreadable("no legend or data")
    rows = [
        (row.get("t", ""), row.get("values", []))
        for row in data
        if isinstance(row, dict) and isinstance(row.get("values"), list)
    ]
    return _updates(meta.get("step", ""), [str(e) for e in legend], rows)


def _known(values: Iterable[float]) -> list[float]:
    """The values that are figures: xcp-rrdd's unknowns are NaN; a negative rate is not one either."""
    return [v for v in values if math.isfinite(v) and v >= 0]


def samples(updates: Updates, vm_uuid: str, since: datetime) -> list[MetricSample]:
    """The contract's samples of the VM `vm_uuid` from `since` on, oldest first: only its own averaged columns count
    (the answer may hold other VMs', the host's and other consolidation functions' too)."""
    cpus: list[int] = []
    usage: list[int] = []
    traffic: dict[str, list[int]] = {name: [] for name in _NAMES.values()}
    for index, col in enumerate(updates.legend):
        if col is None or col.cf != AVERAGE or col.owner != "vm" or col.uuid != vm_uuid:
            continue
        if col.source == "cpu_usage":
            usage.append(index)
        elif _CPU.match(col.source):
            cpus.append(index)
        elif (found := _VIF.match(col.source) or _VBD.match(col.source)) is not None:
            traffic[_NAMES[found.group(2)]].append(index)
    out: list[MetricSample] = []
    for t, row in sorted(updates.rows):
        when = datetime.fromtimestamp(t, UTC)
        if when < since:
            continue
        # The domain's own figure where the host has it, else the mean of its vCPUs' (each a fraction of one CPU).
        busy = _known(row[i] for i in usage) or _known(row[i] for i in cpus)
        if busy:
            percent = 100.0 * sum(busy) / len(busy)
            out.append(MetricSample("cpu_utilization", when, min(100.0, percent), "percent"))
        for name, indexes in traffic.items():
            rates = _known(row[i] for i in indexes)
            if rates:
                out.append(MetricSample(name, when, sum(rates) * updates.step, "bytes"))
    return out


def query(session: str, start: datetime, vm_uuids: Sequence[str]) -> list[tuple[str, str]]:
    """The query of an updates request for the VMs `vm_uuids`, averages only, from `start` at the finest step the
    host still keeps; the host's own figures left out."""
    pairs = [
        ("session_id", session),
        # A negative start means "seconds before the last update" to xcp-rrdd.
        ("start", str(max(0, math.floor(start.timestamp())))),
        ("cf", AVERAGE),
        ("interval", str(FINEST_STEP_SECONDS)),
        ("host", "false"),
    ]
    pairs.extend(("vm_uuid", u) for u in vm_uuids)
    return pairs
