"""What every kind of resource record shares: read one by its Clanavi id, and wait for its state."""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar, Generic, TypeVar

from clanavi.client._calls import Call, model_of, path
from clanavi.client._endpoints import M, Namespace, operation, procedure
from clanavi.client._steps import Plan
from clanavi.client._waiting import Progress, states, wait
from services.provisioner.resources.schemas import ResourceOut

R = TypeVar("R", bound=ResourceOut)

__all__ = ["Records"]


def _state(record: ResourceOut) -> str:
    return record.state


class Records(Namespace[M], Generic[M, R]):
    """A kind of resource: its route (`/v1/volumes`), answer model, name in messages, and the states a record
    does not leave for another."""

    route: ClassVar[str]
    what: ClassVar[str]
    ended: ClassVar[frozenset[str]]
    model: type[R]

    def _one(self, record_id: str) -> Call[R]:
        return Call("GET", path(self.route + "/{}", record_id), model_of(self.model))

    def _on(
        self,
        method: str,
        record_id: str,
        suffix: str = "",
        *,
        content: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> Call[R]:
        """A write on one record (`suffix`: `/actions/attach`), answering the record."""
        route = path(self.route + "/{}" + suffix, record_id)
        return Call(method, route, model_of(self.model), content=content, idempotency_key=idempotency_key)

    @operation
    def get(self, record_id: str) -> Call[R]:
        """One record, by its Clanavi id."""
        return self._one(record_id)

    @procedure
    def wait_for(
        self,
        record_id: str,
        state: str | Collection[str] = "available",
        *,
        timeout: float = 300.0,
        progress: Progress[R] | None = None,
        failed: Collection[str] | None = None,
    ) -> Plan[R]:
        """Wait until the record is in `state` (one or several); raises WaitFailed when it reaches one of `failed`
        (by default the kind's ended states) instead, WaitTimeout after `timeout` seconds."""
        found = yield from wait(
            self.what,
            [record_id],
            self._one,
            _state,
            states(state),
            self.ended if failed is None else failed,
            timeout=timeout,
            progress=progress,
        )
        return found[0]
