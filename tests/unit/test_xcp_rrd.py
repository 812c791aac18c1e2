"""xcp-rrdd's `/rrd_updates` answers read as the contract's metric samples.

The first body is the example of xen-api's own documentation (doc/content/xen-api/topics/metrics.md, kept verbatim in
tests/standins/xapi/reference/rrd_updates.xml); the others are written as rrd_updates.ml's `xml_of` and `json_of_t`
print today (a declaration, `%.15g` values, `NaN` for unknowns, JSON values as strings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import MetricSample
from adapters.xcp import _rrd

REFERENCE = Path(__file__).parents[1] / "standins" / "xapi" / "reference" / "rrd_updates.xml"
DOC_VM = "ecd8d7a0-1be3-4d91-bd0e-4888c0e30ab3"
VM = "0b7c5e3e-6a43-4c8e-9d0a-2f1d6c7e9a11"
OTHER = "5d2f7a90-1c3b-4e8a-b7d6-3e9f0a1b2c4d"
HOST = "a1b2c3d4-0000-4000-8000-000000000001"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def xport(step: int, legend: list[str], rows: list[tuple[int, list[str]]]) -> bytes:
    entries = "".join(f"<entry>{e}</entry>" for e in legend)
    data = "".join(f"<row><t>{t}</t>{''.join(f'<v>{v}</v>' for v in vs)}</row>" for t, vs in rows)
    first = rows[-1][0] if rows else 0
    last = rows[0][0] if rows else 0
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<xport><meta><start>{first}</start><step>{step}</step>'
        f"<end>{last}</end><rows>{len(rows)}</rows><columns>{len(legend)}</columns><legend>{entries}</legend></meta>"
        f"<data>{data}</data></xport>"
    ).encode()


def by_name(samples: Sequence[MetricSample]) -> dict[str, list[tuple[datetime, float]]]:
    found: dict[str, list[tuple[datetime, float]]] = {}
    for s in samples:
        found.setdefault(s.name, []).append((s.timestamp, round(s.value, 9)))
    return found


def test_the_documentations_example_reads_its_averages_only() -> None:
    updates = _rrd.parse(REFERENCE.read_bytes(), "text/xml")
    assert updates.step == 3600
    assert len(updates.legend) == 12
    assert updates.legend[1] == _rrd.Column("AVERAGE", "vm", DOC_VM, "cpu0")
    assert updates.legend[9] == _rrd.Column("LAST", "vm", DOC_VM, "cpu1")
    assert [t for t, _ in updates.rows] == [1213617600]

    samples = _rrd.samples(updates, DOC_VM, EPOCH)
    # AVERAGE cpu1 0.0 and cpu0 0.0282: the mean of its vCPUs' busy fractions, as a percentage. The MIN, MAX and
    # LAST columns (0.0201, 0.0445, 0.0243 for cpu0) are not averages and are not read.
    assert [(s.name, s.unit, s.timestamp) for s in samples] == [
        ("cpu_utilization", "percent", datetime.fromtimestamp(1213617600, UTC))
    ]
    assert samples[0].value == pytest.approx(1.41)
    # Memory is no metric of the contract's; another VM's columns are not this one's.
    assert _rrd.samples(updates, OTHER, EPOCH) == []
    assert _rrd.samples(updates, DOC_VM, datetime.fromtimestamp(1213617601, UTC)) == []


def test_todays_xml_with_several_owners_unknowns_and_devices() -> None:
    legend = [
        f"AVERAGE:host:{HOST}:cpu0",
        f"AVERAGE:vm:{VM}:cpu0",
        f"AVERAGE:vm:{VM}:cpu1",
        f"AVERAGE:vm:{VM}:cpu_usage",
        f"AVERAGE:vm:{VM}:memory",
        f"AVERAGE:vm:{VM}:vif_0_rx",
        f"AVERAGE:vm:{VM}:vif_0_tx",
        f"AVERAGE:vm:{VM}:vif_1_rx",
        f"AVERAGE:vm:{VM}:vbd_xvda_read",
        f"AVERAGE:vm:{VM}:vbd_xvda_write",
        f"AVERAGE:vm:{VM}:vbd_xvda_read_latency",
        f"AVERAGE:vm:{VM}:vbd_xvda_io_throughput_read",
        f"AVERAGE:vm:{VM}:vbd_xvdb_write",
        f"AVERAGE:vm:{OTHER}:cpu0",
        f"AVERAGE:vm:{OTHER}:vif_0_rx",
        "not a legend entry",
    ]
    rows = [
        # Newest first, as rrd_updates.ml writes them.
        (
            1796310060,
            [
                "0.9",
                "0.5",
                "0.3",
                "0.4",
                "1073741824",
                "1000",
                "10",
                "NaN",
                "2000",
                "100",
                "180",
                "5",
                "50",
                "0.99",
                "77777",
                "3",
            ],
        ),
        # cpu_usage unknown (an older host has none): the mean of the vCPUs'; vif 1 was not there yet.
        (
            1796310000,
            [
                "0.9",
                "0.2",
                "0.6",
                "NaN",
                "1073741824",
                "500",
                "5",
                "NaN",
                "0.0",
                "0.0",
                "170",
                "0.0",
                "NaN",
                "0.99",
                "77777",
                "3",
            ],
        ),
        # The domain's first step: its counters are not known yet.
        (
            1796309940,
            [
                "0.9",
                "NaN",
                "NaN",
                "NaN",
                "1073741824",
                "NaN",
                "NaN",
                "NaN",
                "NaN",
                "NaN",
                "NaN",
                "NaN",
                "NaN",
                "0.99",
                "77777",
                "3",
            ],
        ),
        (1796309880, ["0.9", "0.1"]),  # a row that is not as wide as the legend
    ]
    updates = _rrd.parse(xport(60, legend, rows), "text/xml")
    assert updates.legend[-1] is None
    assert [t for t, _ in updates.rows] == [1796310060, 1796310000, 1796309940]

    found = by_name(_rrd.samples(updates, VM, EPOCH))
    t1, t2 = datetime.fromtimestamp(1796310000, UTC), datetime.fromtimestamp(1796310060, UTC)
    assert found["cpu_utilization"] == [(t1, 40.0), (t2, 40.0)]
    # Rates (bytes per second) over the 60 s step; an unknown VIF adds nothing; latency and throughput are not bytes.
    assert found["network_in_bytes"] == [(t1, 30_000.0), (t2, 60_000.0)]
    assert found["network_out_bytes"] == [(t1, 300.0), (t2, 600.0)]
    assert found["disk_read_bytes"] == [(t1, 0.0), (t2, 120_000.0)]
    assert found["disk_write_bytes"] == [(t1, 0.0), (t2, 9_000.0)]

    since = datetime.fromtimestamp(1796310001, UTC)
    assert {s.timestamp for s in _rrd.samples(updates, VM, since)} == {t2}
    t0 = datetime.fromtimestamp(1796309940, UTC)
    assert by_name(_rrd.samples(updates, OTHER, EPOCH))["cpu_utilization"] == [
        (t0, 99.0),
        (t1, 99.0),
        (t2, 99.0),
    ]


def test_values_out_of_range_are_not_figures() -> None:
    legend = [f"AVERAGE:vm:{VM}:cpu0", f"AVERAGE:vm:{VM}:vif_0_rx", f"AVERAGE:vm:{VM}:vbd_xvda_read"]
    rows = [(100, ["1.7", "-Infinity", "Infinity"]), (95, ["-0.1", "nonsense", "12"])]
    found = by_name(_rrd.samples(_rrd.parse(xport(5, legend, rows)), VM, EPOCH))
    assert found == {
        "cpu_utilization": [(datetime.fromtimestamp(100, UTC), 100.0)],
        "disk_read_bytes": [(datetime.fromtimestamp(95, UTC), 60.0)],
    }


def test_json_as_newer_hosts_answer_it_and_as_they_did_before_2024() -> None:
    meta = {
        "start": 1796309940,
        "step": 5,
        "end": 1796310000,
        "rows": 2,
        "columns": 2,
        "legend": [f"AVERAGE:vm:{VM}:cpu0", f"AVERAGE:vm:{VM}:vif_0_rx"],
    }
    data = [{"t": 1796310000, "values": ["0.25", "100"]}, {"t": 1796309995, "values": ["NaN", "NaN"]}]
    today = json.dumps({"meta": meta, "data": data}).encode()
    before = json.dumps({"meta": {**meta, "data": data}}).encode()
    for body, content_type in ((today, "application/json"), (before, None)):
        updates = _rrd.parse(body, content_type)
        assert updates.step == 5
        found = by_name(_rrd.samples(updates, VM, EPOCH))
        when = datetime.fromtimestamp(1796310000, UTC)
        assert found == {"cpu_utilization": [(when, 25.0)], "network_in_bytes": [(when, 500.0)]}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body><h1>HTTP 500 internal server error</h1></body></html>", "text/html"),
        (b"<rrd><version>0003</version></rrd>", "text/xml"),
        (b"<xport><meta><step>0</step></meta></xport>", "text/xml"),
        (b"not xml at all", None),
        (b'{"meta": 1}', "application/json"),
        (b"{", "application/json"),
    ],
)
def test_what_is_not_an_xport_is_unreadable(body: bytes, content_type: str | None) -> None:
    with pytest.raises(_rrd.Unreadable):
        _rrd.parse(body, content_type)


def test_an_empty_export_has_no_samples() -> None:
    assert _rrd.samples(_rrd.parse(xport(5, [], [])), VM, EPOCH) == []


def test_the_query_asks_for_averages_at_the_finest_step_and_never_a_negative_start() -> None:
    start = datetime(2026, 12, 3, 10, 0, 0, 900_000, tzinfo=UTC)
    query = _rrd.query("OpaqueRef:s", start, [VM, OTHER])
    assert query == [
        ("session_id", "OpaqueRef:s"),
        ("start", str(math.floor(start.timestamp()))),
        ("cf", "AVERAGE"),
        ("interval", "5"),
        ("host", "false"),
        ("vm_uuid", VM),
        ("vm_uuid", OTHER),
    ]
    # xcp-rrdd reads a negative start as "that long before the last update".
    early = dict(_rrd.query("s", EPOCH - timedelta(days=1), [VM]))
    assert early["start"] == "0"
