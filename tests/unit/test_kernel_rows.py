"""kernel.db.from_row: a row read back as the frozen record it stores."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kernel.db import from_row


@dataclass(frozen=True)
class _Record:
    id: str
    names: tuple[str, ...]
    tags: dict[str, str]
    total: int = 0


def test_uuids_become_text_and_arrays_tuples_and_other_values_stay() -> None:
    key = uuid.uuid4()
    row = {"id": key, "names": ["a", "b"], "tags": {"k": "v"}, "total": 3, "unread": "x"}
    assert from_row(_Record, row) == _Record(id=str(key), names=("a", "b"), tags={"k": "v"}, total=3)


def test_fields_that_are_not_one_column_are_given() -> None:
    row = {"id": "r-1", "names": [], "tags": {}}
    assert from_row(_Record, row, total=7) == _Record(id="r-1", names=(), tags={}, total=7)
