"""Records as xapi's `get_record` answers them: every field of the class's datamodel, each on the wire as XML-RPC
carries xapi's types (int64 as a decimal string, a set as an array, a map as a struct with string keys, an
enum as its name, a reference as `OpaqueRef:...`, a date as `DateTime`).

The fields and types come from the datamodel xapi's documentation publishes (`reference/datamodel.json`, see there
for where it was taken from); a stand-in object starts as the blank record of its class, with each field's
declared default or its type's zero, and the stand-in then sets what it knows. `tests/integration/test_xcp_standin.py`
checks, against the same reference, that what the stand-in sets keeps those types.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import xmlrpc.client
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).parent / "reference"
NULL = "OpaqueRef:NULL"
EPOCH = "19700101T00:00:00Z"


@functools.cache
def datamodel() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REFERENCE / "datamodel.json").read_text())
    return loaded


def fields(cls: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = datamodel()["classes"][cls]
    return found


def enum_values(name: str) -> list[str]:
    values: list[str] = datamodel()["enums"][name]
    return values


def _zero(kind: str, default: str | None) -> Any:
    if kind.endswith(" set"):
        return re.findall(r"\d+", default or "") if kind == "int set" else []
    if kind.endswith(" map"):
        return dict(re.findall(r'"([^"]*)" -> "([^"]*)"', default or ""))
    if kind.endswith(" ref"):
        return NULL
    if kind.startswith("enum "):
        values = enum_values(kind.removeprefix("enum "))
        return default if default in values else values[0]
    if kind == "int":
        return default if default is not None and default.lstrip("-").isdigit() else "0"
    if kind == "float":
        return float(default) if default else 0.0
    if kind == "bool":
        return default == "true"
    if kind == "datetime":
        return xmlrpc.client.DateTime(default or EPOCH)
    return (default or '""').strip('"')


@functools.cache
def _blank(cls: str) -> dict[str, Any]:
    return {name: _zero(spec["type"], spec.get("default")) for name, spec in fields(cls).items()}


def blank(cls: str) -> dict[str, Any]:
    """A record of `cls` with every field at its default."""
    return copy.deepcopy(_blank(cls))


__all__ = ["EPOCH", "NULL", "blank", "datamodel", "enum_values", "fields"]
