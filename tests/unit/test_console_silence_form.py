"""The console's new-silence form read into the API's body: matchers one a line, how long from now; what cannot be
read is refused naming its field, before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clanavi.console.pages.alerts import Unreadable, silence_body, silence_field
from clanavi.console.visits import Form

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def form(**fields: str) -> Form:
    return Form({name: [value] for name, value in fields.items()})


def test_matchers_one_a_line_equal_or_regular_expression_and_the_end_from_the_hours() -> None:
    matchers = "alertname=busy\n\n  queue =~ web-.*  \r\nnote=a=b"
    body = silence_body(form(matchers=matchers, hours="1.5", comment=" x "), NOW)
    assert body == {
        "matchers": [
            {"label": "alertname", "value": "busy", "regex": False},
            {"label": "queue", "value": "web-.*", "regex": True},
            {"label": "note", "value": "a=b", "regex": False},
        ],
        "ends_at": (NOW + timedelta(hours=1.5)).isoformat(),
        "comment": "x",
    }


@pytest.mark.parametrize(
    ("matchers", "hours", "field"),
    [
        ("queue web", "1", "matchers"),
        ("", "1", "matchers"),
        ("  \n ", "1", "matchers"),
        ("a=b", "", "hours"),
        ("a=b", "two", "hours"),
        ("a=b", "0", "hours"),
        ("a=b", "-1", "hours"),
        ("a=b", "nan", "hours"),
        ("a=b", "inf", "hours"),
        ("a=b", str(24 * 366 + 1), "hours"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_its_field(matchers: str, hours: str, field: str) -> None:
    with pytest.raises(Unreadable) as refused:
        silence_body(form(matchers=matchers, hours=hours), NOW)
    assert refused.value.field == field


def test_the_apis_times_are_the_forms_hours_and_its_matchers_the_matchers_text() -> None:
    assert silence_field(["ends_at"]) == "hours"
    assert silence_field(["starts_at"]) == "hours"
    assert silence_field(["matchers", "0", "label"]) == "matchers"
    assert silence_field(["comment"]) == "comment"
