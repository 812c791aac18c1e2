"""`--wait`: the live display of records on their way to a state, fed by the client's wait progress.

On a terminal it is one rich progress bar for all the records waited for (how many are there, the states of the
others, the time gone); elsewhere (a log, a pipe) it is one line each time a record changes state. Both go to stderr,
so stdout holds only the records printed at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from clanavi.client import WaitProgress

__all__ = ["Watch", "state_of"]


def state_of(record: Any) -> str:
    return str(getattr(record, "state", None) or getattr(record, "status", "?"))


def _label(record: Any) -> str:
    name = getattr(record, "name", None)
    return f"{name} ({record.id})" if name else str(record.id)


class Watch:
    """The display of one `--wait`: `what` (instance, volume) on its way to one of `targets`, `total` records.

    Called with each round of the client's wait (several waits, one after another, may feed one watch)."""

    def __init__(self, stderr: TextIO, what: str, targets: Collection[str], total: int) -> None:
        self._stderr, self._what, self._targets, self._total = stderr, what, frozenset(targets), total
        self._states: dict[str, str] = {}
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> Watch:
        if self._stderr.isatty():
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self._stderr, highlight=False),
            )
            self._progress.start()
            self._task = self._progress.add_task(self._describe(), total=self._total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def done(self) -> int:
        return sum(state in self._targets for state in self._states.values())

    def __call__(self, progress: WaitProgress[Any]) -> None:
        self.seen(progress.records)

    def seen(self, records: Sequence[Any]) -> None:
        """The records as last read."""
        for record in records:
            state = state_of(record)
            if self._states.get(record.id) != state and self._progress is None:
                self._stderr.write(f"{self._what} {_label(record)}: {state}\n")
                self._stderr.flush()
            self._states[record.id] = state
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, description=self._describe(), refresh=True)

    def _describe(self) -> str:
        wanted = " or ".join(sorted(self._targets))
        if not self._states:
            return f"waiting for {self._total} {self._what}(s) to be {wanted}"
        counts = Counter(self._states.values())
        return ", ".join(f"{count} {state}" for state, count in counts.most_common()) + f" -> {wanted}"
