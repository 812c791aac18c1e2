"""Structured logs: one JSON object a line, with the service and the correlation id."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from kernel import correlation
from kernel.logs import JsonFormatter, TextFormatter


def make_record(msg: str = "hello %s", *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.getLogger("clanavi.test").makeRecord(
        "clanavi.test", logging.WARNING, __file__, 1, msg, args or ("world",), None, extra=extra or None
    )
    return record


def test_json_line_carries_service_level_logger_and_message() -> None:
    line = JsonFormatter("provisioner").format(make_record())

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["service"] == "provisioner"
    assert entry["level"] == "warning"
    assert entry["logger"] == "clanavi.test"
    assert entry["msg"] == "hello world"
    assert entry["ts"].endswith("+00:00")
    assert "correlation_id" not in entry


def test_json_line_carries_the_current_correlation_id() -> None:
    token = correlation.current.set("cid-42")
    try:
        entry = json.loads(JsonFormatter("gateway").format(make_record()))
    finally:
        correlation.current.reset(token)

    assert entry["correlation_id"] == "cid-42"


def test_an_explicit_correlation_id_wins() -> None:
    token = correlation.current.set("ambient")
    try:
        entry = json.loads(JsonFormatter("gateway").format(make_record(correlation_id="explicit")))
    finally:
        correlation.current.reset(token)

    assert entry["correlation_id"] == "explicit"


def test_extra_fields_are_kept_and_private_ones_dropped() -> None:
    entry = json.loads(JsonFormatter("s").format(make_record(instance_id="inst-1", attempts=3, _secret="x")))

    assert entry["instance_id"] == "inst-1"
    assert entry["attempts"] == 3
    assert "_secret" not in entry
    assert "args" not in entry and "levelno" not in entry


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("broken thing")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    entry = json.loads(JsonFormatter("s").format(record))

    assert "ValueError: broken thing" in entry["exc"]


def test_text_format_appends_the_correlation_id() -> None:
    token = correlation.current.set("cid-7")
    try:
        line = TextFormatter("audit").format(make_record())
    finally:
        correlation.current.reset(token)

    assert "audit WARNING clanavi.test: hello world" in line
    assert line.endswith("[cid=cid-7]")
