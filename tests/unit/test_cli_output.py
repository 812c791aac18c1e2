"""What commands print: tables of each kind's main columns (or those `-c` names), JSON and YAML of the same fields,
every value as text (never markup), and lists that walk the API's cursor only as far as asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clanavi.cli.output import DEFAULT_COLUMNS, Display, cell
from clanavi.client.models import AuditEvent, InstanceOut
from tests.cli_kit import Cli, listing, logged_in
from tests.client_kit import MOMENT, instance
from tests.network import Network, ok


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    made = Cli(tmp_path, capsys)
    logged_in(made)
    return made


def fleet(count: int) -> list[InstanceOut]:
    return [instance(f"i-{n}", name=f"web-{n}", private_ips=[f"10.0.0.{n}"]) for n in range(count)]


def test_a_list_is_a_table_of_the_kinds_main_columns(cli: Cli) -> None:
    ran = cli("instances", "list", network=Network(listing(fleet(2))))
    assert ran.status == 0, ran.err
    header, rule, *rows = ran.out.splitlines()
    assert header.split() == list(DEFAULT_COLUMNS[InstanceOut])
    assert set(rule) == {"─"}
    assert [row.split() for row in rows] == [
        ["i-0", "web-0", "running", "sim", "sim.small", "img-debian-12", "10.0.0.0"],
        ["i-1", "web-1", "running", "sim", "sim.small", "img-debian-12", "10.0.0.1"],
    ]
    # Piped: as wide as needed, no padding at the lines' ends.
    assert all(line == line.rstrip() for line in ran.out.splitlines())


def test_values_are_printed_as_text_never_as_markup(cli: Cli) -> None:
    named = instance("i-1", name="[bold red]web[/bold red]", tags={"team": "[link=x]ops[/link]"})
    ran = cli("instances", "list", "-c", "name", "-c", "tags", network=Network(listing([named])))
    assert ran.out.splitlines()[2].split(maxsplit=1) == ["[bold", "red]web[/bold red]   team=[link=x]ops[/link]"]


def test_json_and_yaml_hold_the_columns_chosen_in_their_order(cli: Cli) -> None:
    network = Network(listing(fleet(2)), listing(fleet(2)))
    ran = cli("instances", "list", "-o", "json", "-c", "state", "-c", "id", "-c", "private_ips", network=network)
    expected = [
        {"state": "running", "id": "i-0", "private_ips": ["10.0.0.0"]},
        {"state": "running", "id": "i-1", "private_ips": ["10.0.0.1"]},
    ]
    assert ran.json() == expected and list(ran.json()[0]) == ["state", "id", "private_ips"]
    ran = cli("instances", "list", "-o", "yaml", "-c", "state", "-c", "id", "-c", "private_ips", network=network)
    assert yaml.safe_load(ran.out) == expected


def test_bare_values_are_for_a_shell_to_read(cli: Cli) -> None:
    network = Network(listing(fleet(2)), ok(fleet(1)[0]))
    ran = cli("instances", "list", "-o", "value", "-c", "id", "-c", "name", "-c", "private_ips", network=network)
    assert ran.out == "i-0\tweb-0\t10.0.0.0\ni-1\tweb-1\t10.0.0.1\n"
    assert (
        cli("instances", "show", "i-0", "-o", "value", "-c", "id", "-c", "state", network=network).out
        == "i-0\nrunning\n"
    )


def test_json_of_a_list_holds_the_main_columns_and_of_one_record_every_field(cli: Cli) -> None:
    network = Network(listing(fleet(1)), ok(fleet(1)[0]))
    assert list(cli("instances", "list", "-o", "json", network=network).json()[0]) == list(DEFAULT_COLUMNS[InstanceOut])
    shown = cli("instances", "show", "i-0", "-o", "json", network=network).json()
    assert shown == fleet(1)[0].model_dump(mode="json")


def test_one_record_is_a_table_of_every_field(cli: Cli) -> None:
    ran = cli("instances", "show", "i-1", network=Network(ok(instance("i-1", tags={"a": "1", "b": "2"}))))
    rows = [line.split(maxsplit=1) for line in ran.out.splitlines()[2:]]
    assert [row[0] for row in rows] == list(InstanceOut.model_fields)
    assert dict(row for row in rows if len(row) == 2)["tags"] == "a=1, b=2"
    assert dict(row for row in rows if len(row) == 2)["created_at"] == "2026-12-01T12:00:00+00:00"


def test_an_unknown_column_is_a_usage_error_naming_the_known_ones(cli: Cli) -> None:
    ran = cli("instances", "list", "-c", "colour", network=Network(listing(fleet(1))))
    assert ran.status == 2 and ran.out == ""
    assert ran.lines == [f"clanavi: unknown column colour: choose from {', '.join(InstanceOut.model_fields)}"]


def test_a_list_stops_at_its_limit_and_says_how_to_go_on(cli: Cli) -> None:
    network = Network(listing(fleet(5)))
    ran = cli(
        "instances", "list", "--limit", "2", "--state", "running", "--sort", "name", "-o", "json", network=network
    )
    assert [i["id"] for i in ran.json()] == ["i-0", "i-1"]
    (asked,) = network.requests
    assert list(asked.url.params.multi_items()) == [
        ("state", "running"),
        ("limit", "2"),
        ("sort", "name"),
    ]
    assert ran.lines == ["2 shown and more to come: --cursor 2 for the next page, or --all for every one"]

    # Going on from the cursor: the cursor carries the sort, so only the filters and the size are sent again.
    network = Network(listing(fleet(5)))
    ran = cli("instances", "list", "--limit", "2", "--state", "running", "--cursor", "2", "-o", "json", network=network)
    assert [i["id"] for i in ran.json()] == ["i-2", "i-3"]
    assert list(network.requests[0].url.params.multi_items()) == [("state", "running"), ("limit", "2"), ("cursor", "2")]


def test_all_walks_every_page_of_the_largest_size(cli: Cli) -> None:
    network = Network(*[listing(fleet(1201))] * 3)
    ran = cli("instances", "list", "--all", "-o", "json", "-c", "id", network=network)
    assert len(ran.json()) == 1201 and ran.err == ""
    assert [r.url.params["limit"] for r in network.requests] == ["500", "500", "500"]
    assert [r.url.params.get("cursor") for r in network.requests] == [None, "500", "1000"]


def test_a_limit_past_a_page_takes_part_of_the_next_and_says_there_is_more(cli: Cli) -> None:
    network = Network(*[listing(fleet(1201))] * 2)
    ran = cli("instances", "list", "--limit", "600", "-o", "json", "-c", "id", network=network)
    assert len(ran.json()) == 600
    assert ran.lines == ["600 shown and more to come: --all for every one"]


def test_a_stream_prints_a_line_per_record_as_it_comes(tmp_path: Path) -> None:
    event = AuditEvent.model_validate(
        {
            "id": "7d3a6b1e-0f5c-4c1c-9a59-2f1b7f3f8a11",
            "type": "instance.running",
            "version": 1,
            "occurred_at": MOMENT,
            "project_id": "web",
            "correlation_id": "cid-9",
            "causation_id": None,
            "subject": "i-1",
            "payload": {"instance_id": "i-1"},
            "seq": 4,
            "received_at": MOMENT,
            "hash": "ab",
            "hash_version": 2,
        }
    )
    for format, expected in (
        ("table", "2026-12-01T12:00:00+00:00  instance.running  i-1  cid-9\n"),
        (
            "json",
            '{"occurred_at": "2026-12-01T12:00:00Z", "type": "instance.running", "subject": "i-1", '
            '"correlation_id": "cid-9"}\n',
        ),
        (
            "yaml",
            "---\noccurred_at: '2026-12-01T12:00:00Z'\ntype: instance.running\nsubject: i-1\ncorrelation_id: cid-9\n",
        ),
    ):
        with (tmp_path / format).open("w+") as out:
            Display(format, stdout=out).item(event)  # type: ignore[arg-type]
            out.seek(0)
            assert out.read() == expected


def test_cells() -> None:
    assert [cell(None), cell(True), cell([1, "a"]), cell({"k": None}), cell(MOMENT)] == [
        "",
        "true",
        "1, a",
        "k=",
        "2026-12-01T12:00:00+00:00",
    ]
