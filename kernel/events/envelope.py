"""The envelope every message on the bus travels in.

Routing keys are `<type>.v<version>` (`instance.launched.v1`) on one topic exchange. Adding a field keeps the version;
a breaking change publishes a new version beside the old one until every consumer has moved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_REGISTRY: dict[tuple[str, int], type[EventPayload]] = {}


class EventPayload(BaseModel):
    """Base of every event's payload; subclasses name their `TYPE` (past tense) and `VERSION`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    # The field that holds the id of what the event is about (its subject), when it is about one thing.
    SUBJECT: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            _REGISTRY[(cls.TYPE, cls.VERSION)] = cls

    @property
    def subject(self) -> str | None:
        """The id of the resource the event is about, when there is one."""
        return None if self.SUBJECT is None else getattr(self, self.SUBJECT)


class FieldGroup(BaseModel):
    """Fields that several events hold, mixed into each of them.

    A payload lists the fields of its bases from the last base to the first: a group named before an event's base
    comes after that base's fields, one named after it comes before them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionFailure(FieldGroup):
    """The fields of an event that says the cloud could not carry out `action`: what is left is `state`, and why."""

    action: str
    state: str
    reason: str


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    project_id: str
    correlation_id: str
    causation_id: str | None = None
    # The resource the event is about (CloudEvents' `subject`); lets the audit index by resource.
    subject: str | None = None
    payload: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return f"{self.type}.v{self.version}"


def new_event(
    payload: EventPayload,
    *,
    project_id: str,
    correlation_id: str,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        type=payload.TYPE,
        version=payload.VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        project_id=project_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        subject=payload.subject,
        payload=payload.model_dump(mode="json"),
    )


def payload_type(type_: str, version: int) -> type[EventPayload] | None:
    return _REGISTRY.get((type_, version))


class UnknownEventType(LookupError):
    """No schema is registered for this type and version: no retry will ever handle it."""


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of a known event; raises UnknownEventType, or ValidationError for bad data."""
    cls = _REGISTRY.get((envelope.type, envelope.version))
    if cls is None:
        raise UnknownEventType(envelope.routing_key)
    return cls.model_validate(envelope.payload)
