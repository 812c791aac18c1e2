"""What commands print on stdout: records as a table (the columns that matter for each kind, or those `-c` names), as
JSON, as YAML, or as bare values for a shell to read (`-o value -c id`: a line per record, its values separated by
tabs; of one record, a line per value); and, on stderr, notes for the person at the terminal (what a script reading
stdout never parses).

Every value is printed as text, never as markup: a name such as `[bold]` is shown as written."""

from __future__ import annotations

import enum
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TextIO

import yaml
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from clanavi.cli.exits import Refused
from clanavi.client import models

__all__ = ["DEFAULT_COLUMNS", "Display", "Format", "cell", "columns_of", "print_table"]

Format = Literal["table", "json", "yaml", "value"]

# The columns a table shows of each kind of record when `-c` names none (a single record shows every field).
DEFAULT_COLUMNS: dict[type[BaseModel], tuple[str, ...]] = {
    models.InstanceOut: ("id", "name", "state", "cloud_id", "flavor_id", "image_id", "private_ips"),
    models.KeyPairOut: ("id", "name", "state", "cloud_id", "fingerprint"),
    models.SecurityGroupOut: ("id", "name", "state", "cloud_id", "description"),
    models.SecurityRuleOut: ("id", "direction", "protocol", "from_port", "to_port", "cidr"),
    models.VolumeOut: ("id", "name", "state", "size_gb", "instance_id", "device", "cloud_id"),
    models.SnapshotOut: ("id", "name", "state", "volume_id", "size_gb", "cloud_id"),
    models.AddressOut: ("id", "name", "state", "ip", "instance_id", "cloud_id"),
    models.CustomImageOut: ("id", "name", "state", "instance_id", "provider_id", "cloud_id"),
    models.ImageOut: ("id", "name", "os", "min_disk_gb", "state", "hourly_price", "currency", "cloud_id"),
    models.FlavorOut: ("id", "name", "vcpus", "ram_mb", "disk_gb", "hourly_price", "currency", "cloud_id"),
    models.PriceOut: ("kind", "region", "item", "price", "unit"),
    models.PriceCatalogVersionOut: ("version", "effective_from", "currency", "source", "price_count", "warning_count"),
    models.CloudOut: ("id", "name", "driver", "enabled", "module_enabled", "source"),
    models.SyncRunOut: ("id", "status", "trigger", "started_at", "finished_at", "adopted", "drifted", "vanished"),
    models.ModuleOut: ("name", "source", "enabled", "available", "reason", "cloud_ids"),
    models.ProjectOut: ("id", "name", "role", "created_at"),
    models.MemberOut: ("user_id", "email", "name", "role"),
    models.ApiKeyOut: ("id", "name", "prefix", "role", "state", "expires_at"),
    models.UserOut: ("id", "email", "name", "admin", "disabled"),
    models.AuditEvent: ("occurred_at", "type", "subject", "correlation_id"),
    models.MetricSampleOut: ("timestamp", "name", "value", "unit"),
    models.ScriptOut: ("id", "name", "latest_version", "created_at"),
    models.ScriptVersionOut: ("script_id", "version", "phase", "timeout_seconds", "deprecated", "created_at"),
    models.TemplateOut: ("id", "name", "default_version", "latest_version", "created_at"),
    models.TemplateVersionOut: ("template_id", "version", "clouds", "boot_scripts", "deprecated", "created_at"),
    models.LaunchBlockOut: ("budget_id", "budget_name", "scope", "period", "reason", "blocked_at"),
    models.RunOut: ("id", "instance_id", "name", "script_version", "phase", "state", "exit_code", "problem"),
}


def columns_of(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def _defaults(model: type[BaseModel]) -> tuple[str, ...]:
    for kind in model.__mro__:
        if kind in DEFAULT_COLUMNS:
            return DEFAULT_COLUMNS[kind]
    return columns_of(model)


def cell(value: Any) -> str:
    """A value as a table shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), separators=(",", ":"))
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={cell(each)}" for key, each in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(each) for each in value)
    return str(value)


def print_table(table: Table, file: TextIO) -> None:
    """A table on a terminal as wide as the terminal; elsewhere (a file, another program) as wide as it needs, so
    that no cell is cut or folded, without the spaces that pad its lines' ends."""
    if file.isatty():
        Console(file=file, highlight=False).print(table)
        return
    rendered = io.StringIO()
    Console(file=rendered, width=10_000, highlight=False, color_system=None).print(table)
    file.write("".join(line.rstrip() + "\n" for line in rendered.getvalue().splitlines()))


@dataclass
class Display:
    """How this command prints: `format`, and the `columns` chosen with `-c` (none: the kind's defaults)."""

    format: Format = "table"
    columns: tuple[str, ...] = ()
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def chosen(self, model: type[BaseModel], *, every: bool) -> tuple[str, ...]:
        """The columns to show of `model`: those `-c` named (each must be one of its fields), else its defaults
        (`every`: all of its fields)."""
        known = columns_of(model)
        if not self.columns:
            return known if every else _defaults(model)
        unknown = [name for name in self.columns if name not in known]
        if unknown:
            raise Refused(f"unknown column {', '.join(unknown)}: choose from {', '.join(known)}")
        return self.columns

    def record(self, record: BaseModel) -> None:
        """One record: every field (or the columns chosen), as a table of field and value, JSON or YAML."""
        names = self.chosen(type(record), every=True)
        if self.format == "table":
            table = Table("field", "value", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for name in names:
                table.add_row(Text(name), Text(cell(getattr(record, name))))
            print_table(table, self.stdout)
        elif self.format == "value":
            for name in names:
                self._write(cell(getattr(record, name)))
        else:
            self._document(_plain(record, names))

    def records(self, records: Sequence[BaseModel], model: type[BaseModel]) -> None:
        """Records of one kind: a table with a row each, or a JSON or YAML list."""
        names = self.chosen(model, every=False)
        if self.format == "table":
            table = Table(*names, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for record in records:
                table.add_row(*(Text(cell(getattr(record, name))) for name in names))
            print_table(table, self.stdout)
        elif self.format == "value":
            for record in records:
                self._write(_line(record, names))
        else:
            self._document([_plain(record, names) for record in records])

    def item(self, record: BaseModel) -> None:
        """One record of a stream as it comes: a line of its columns, a line of JSON, or a YAML document."""
        names = self.chosen(type(record), every=False)
        if self.format == "table":
            self._write("  ".join(cell(getattr(record, name)) or "-" for name in names))
        elif self.format == "value":
            self._write(_line(record, names))
        elif self.format == "json":
            self._write(json.dumps(_plain(record, names), ensure_ascii=False))
        else:
            self._write("---\n" + yaml.safe_dump(_plain(record, names), sort_keys=False, allow_unicode=True).rstrip())
        self.stdout.flush()

    def text(self, text: str) -> None:
        """Text as it is (a console's output)."""
        self.stdout.write(text if text.endswith("\n") or not text else text + "\n")

    def summary(self, document: Mapping[str, Any]) -> None:
        """A summary that is not a record: its fields (or the columns chosen) as a table, JSON, YAML or values."""
        unknown = [name for name in self.columns if name not in document]
        if unknown:
            raise Refused(f"unknown column {', '.join(unknown)}: choose from {', '.join(document)}")
        if self.columns:
            document = {name: document[name] for name in self.columns}
        if self.format == "table":
            table = Table("field", "value", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for name, each in document.items():
                table.add_row(Text(str(name)), Text(cell(each)))
            print_table(table, self.stdout)
        elif self.format == "value":
            for each in document.values():
                self._write(cell(each))
        else:
            self._document(dict(document))

    def note(self, line: str) -> None:
        """A line for the person at the terminal, on stderr."""
        self.stderr.write(line + "\n")
        self.stderr.flush()

    def _document(self, document: Any) -> None:
        if self.format == "json":
            self._write(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            self._write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip())

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")


def _line(record: BaseModel, names: Iterable[str]) -> str:
    return "\t".join(cell(getattr(record, name)) for name in names)


def _plain(record: BaseModel, names: Iterable[str]) -> dict[str, Any]:
    """The record's JSON values of the columns, in their order."""
    values = record.model_dump(mode="json")
    return {name: values[name] for name in names}
