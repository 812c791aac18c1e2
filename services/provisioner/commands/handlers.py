"""Carrying out a recorded command with the use cases the API uses, as the command's project, with `requested_by`
kept. No FastAPI, no aio-pika.

What a command records of having been carried out commits in the transaction of its effect (the use case's `also`),
so a worker killed at any moment leaves either both or neither, and the command is taken again after its lease. A
use case's refusal (a 4xx problem: quota, validation, not found, wrong state) becomes `command.refused` with nothing
made; a cloud that is away is tried again later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from kernel.commands import (
    CommandPayload,
    LaunchInstance,
    MoveAddress,
    QuarantineInstance,
    RebootInstance,
    ReplaceInstance,
    StopInstance,
    TerminateInstance,
)
from kernel.errors import ClanaviError, InvalidState, ValidationFailed
from kernel.events import CommandRefused
from kernel.events.envelope import payload_type
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clusters import handlers as clusters
from services.provisioner.commands.repository import CommandRecord, State
from services.provisioner.errors import RetryLater
from services.provisioner.guardrails.handlers import Asked
from services.provisioner.instances import handlers as instances
from services.provisioner.instances.domain import ENDED, InstanceRecord, UserAction
from services.provisioner.instances.quarantine import quarantine
from services.provisioner.instances.repository import owned_instance
from services.provisioner.placement.domain import PlacementPolicy
from services.provisioner.resources import handlers as resources
from services.provisioner.resources.flow import Ports, owned_resource
from services.provisioner.unit_of_work import Repositories

log = logging.getLogger(__name__)

# How long a command waits before it is tried again after its cloud was away, and how often it is tried at most.
RETRY_SECONDS = 5.0
MAX_ATTEMPTS = 20

_ACTIONS: dict[str, UserAction] = {
    TerminateInstance.TYPE: "terminate",
    RebootInstance.TYPE: "reboot",
    StopInstance.TYPE: "stop",
}


class TryLater(Exception):
    """The command cannot go on yet (an address still moving); it is taken again after a pause."""


@dataclass(frozen=True)
class Carrier:
    """What carrying out commands works with: the provisioner's unit of work, its clouds and the resource ports."""

    uow: UnitOfWork[Repositories]
    clouds: CloudDirectory
    ports: Ports

    async def carry_out(self, command: CommandRecord) -> None:
        """Carry out a pending command once; refused or put off as its outcome says."""
        try:
            await self._dispatch(command)
        except (RetryLater, TryLater) as exc:
            await self._later(command, str(exc))
        except ClanaviError as exc:
            if exc.http_status >= 500:
                await self._later(command, exc.detail)
            else:
                await self.refuse(command, exc)

    async def _later(self, command: CommandRecord, reason: str) -> None:
        async with self.uow.transaction() as tx:
            if command.attempts >= MAX_ATTEMPTS:
                await tx.repos.commands.settle(command.id, "refused", reason=reason)
                tx.emit_new(
                    command.project_id,
                    refusal(command, 503, "service_unavailable", f"Gave up after {command.attempts} tries."),
                    correlation_id=command.correlation_id,
                )
            else:
                await tx.repos.commands.later(command.id, RETRY_SECONDS, reason)

    async def refuse(self, command: CommandRecord, exc: ClanaviError) -> None:
        errors = exc.extensions.get("errors") or []
        refused = refusal(command, exc.http_status, exc.code, exc.detail, errors)
        async with self.uow.transaction() as tx:
            await tx.repos.commands.settle(command.id, "refused", reason=exc.detail)
            tx.emit_new(command.project_id, refused, correlation_id=command.correlation_id)

    def _settled(self, command: CommandRecord, state: State = "done") -> Callable[[Any], Awaitable[None]]:
        async def settle(repos: Any) -> None:
            await repos.commands.settle(command.id, state)

        return settle

    def _leaving(self, command: CommandRecord, instance_id: str) -> Callable[[Any], Awaitable[None]]:
        """A terminate by command: a cluster member it ends leaves its role (see `clusters.leave_by_command`)."""

        async def settle(repos: Any) -> None:
            await clusters.leave_by_command(repos, command.project_id, instance_id)
            await repos.commands.settle(command.id, "done")

        return settle

    async def _settle(self, command: CommandRecord, state: State = "done") -> None:
        async with self.uow.transaction() as tx:
            await tx.repos.commands.settle(command.id, state)

    async def _dispatch(self, command: CommandRecord) -> None:
        cls = payload_type(command.type, 1)
        payload = cls.model_validate(command.payload) if cls is not None else None
        if isinstance(payload, LaunchInstance):
            await self._launch(command, payload)
        elif isinstance(payload, ReplaceInstance):
            await self._replace(command, payload)
        elif isinstance(payload, QuarantineInstance):
            await quarantine(
                self.uow,
                self.clouds,
                project_id=command.project_id,
                instance_id=payload.instance_id,
                requested_by=payload.requested_by,
                reason=payload.reason,
                correlation_id=command.correlation_id,
                also=self._settled(command),
            )
        elif isinstance(payload, MoveAddress):
            await self._move_address(command, payload)
        elif isinstance(payload, CommandPayload) and command.type in _ACTIONS:
            instance_id = payload.model_dump()["instance_id"]
            also = self._settled(command)
            if isinstance(payload, TerminateInstance):
                also = self._leaving(command, instance_id)
            await instances.request_action(
                self.uow,
                self.clouds,
                project_id=command.project_id,
                instance_id=instance_id,
                action=_ACTIONS[command.type],
                correlation_id=command.correlation_id,
                also=also,
            )
        else:
            # Recorded by a newer provisioner than this one: left for it.
            log.error("command %s of type %s is not one this provisioner carries out", command.id, command.type)
            await self._later(command, f"unknown command {command.type}")

    async def _launched_already(self, command: CommandRecord, instance_id: str, then: State) -> bool:
        """Whether the instance the command makes exists (made by this command before its worker stopped)."""
        async with self.uow.reading() as repos:
            found = await repos.instances.project_of(instance_id)
        if found is None:
            return False
        await self._settle(command, then)
        return True

    async def _launch(self, command: CommandRecord, payload: LaunchInstance) -> None:
        if await self._launched_already(command, payload.instance_id, "done"):
            return
        if payload.cluster_id is not None or payload.cluster_role is not None:
            await self._join(command, payload)
            return
        named = payload.cloud_id is not None and not payload.allowed_clouds and not payload.allowed_zones
        policy = PlacementPolicy(
            strategy=payload.strategy,
            cloud_ids=tuple(payload.allowed_clouds),
            zones=tuple(payload.allowed_zones),
            # The group's members are placed seeing each other (`spread` evens them over zones), never refused for
            # sharing a zone: a group outgrows its zones.
            group=payload.placement_group,
            affinity="none",
        )
        req = instances.LaunchRequest(
            project_id=command.project_id,
            cloud_id=payload.cloud_id or "",
            name=payload.name or _default_name(payload.requested_by, payload.instance_id),
            image_id="",
            flavor_id="",
            correlation_id=command.correlation_id,
            zone=payload.zone,
            tags=dict(payload.tags),
            placement=None if named else policy,
            instance_id=payload.instance_id,
            requested_by=payload.requested_by,
        )
        template = instances.TemplateLaunch(payload.template_id, payload.template_version, dict(payload.inputs))
        await instances.launch_from_template(
            self.uow,
            self.clouds,
            req,
            template,
            asked=Asked(requested_by=payload.requested_by),
            also=self._settled(command),
        )

    async def _join(self, command: CommandRecord, payload: LaunchInstance) -> None:
        """Launch a new member of a running cluster's role, from the role's template version and placement (what
        the command says of the template and placement is the role's already); its tags are the command's."""
        if payload.cluster_id is None or payload.cluster_role is None:
            raise ValidationFailed(
                "A member's launch names both its cluster and its role.",
                errors=[{"location": "cluster_role", "message": "cluster_id and cluster_role go together"}],
            )
        cluster, role = await clusters.role_to_join(
            self.uow, command.project_id, payload.cluster_id, payload.cluster_role
        )
        req = replace(
            clusters.member_launch(cluster, role, payload.instance_id, command.correlation_id),
            tags=dict(payload.tags),
            requested_by=payload.requested_by,
        )
        await instances.launch_from_template(
            self.uow,
            self.clouds,
            req,
            clusters.member_template(role),
            asked=Asked(requested_by=payload.requested_by),
            member=clusters.Joining(cluster.id, role.name, command.project_id),
            also=self._settled(command),
        )

    async def _replace(self, command: CommandRecord, payload: ReplaceInstance) -> None:
        if await self._launched_already(command, payload.new_instance_id, "replacing"):
            return
        async with self.uow.reading() as repos:
            old = await owned_instance(repos.instances, command.project_id, payload.instance_id)
        if old.state in ENDED:
            raise InvalidState(f"Instance {old.id} is {old.state}: there is nothing to replace.", state=old.state)
        req = instances.LaunchRequest(
            project_id=command.project_id,
            cloud_id=old.cloud_id,
            name=old.name,
            image_id=old.image_id,
            flavor_id=old.flavor_id,
            correlation_id=command.correlation_id,
            key_name=old.key_name,
            security_group_ids=old.security_group_ids,
            zone=old.zone,
            tags=dict(old.tags),
            instance_id=payload.new_instance_id,
            requested_by=payload.requested_by,
        )
        asked = Asked(requested_by=payload.requested_by)
        also = self._settled(command, "replacing")
        if old.template_id is None:
            await instances.launch(self.uow, self.clouds, req, asked=asked, also=also)
            return
        server, cluster = _inputs_by_level(old)
        template = instances.TemplateLaunch(
            old.template_id, payload.template_version or old.template_version, server, cluster
        )
        await instances.launch_from_template(self.uow, self.clouds, req, template, asked=asked, also=also)

    async def finish_replacement(self, command: CommandRecord) -> None:
        """The new instance of a replacement has settled: running, the old one is disposed of as asked; failed or
        ended, the old one stays (the new one's `instance.failed` told why)."""
        payload = ReplaceInstance.model_validate(command.payload)
        async with self.uow.reading() as repos:
            new = await repos.instances.get(command.project_id, payload.new_instance_id)
        if new is None or new.state != "running" or payload.dispose == "keep":
            await self._settle(command, "done")
            return
        try:
            if payload.dispose == "quarantine":
                await quarantine(
                    self.uow,
                    self.clouds,
                    project_id=command.project_id,
                    instance_id=payload.instance_id,
                    requested_by=payload.requested_by,
                    reason=payload.reason or f"replaced by {new.id}",
                    correlation_id=command.correlation_id,
                    also=self._settled(command),
                )
            else:
                await instances.request_action(
                    self.uow,
                    self.clouds,
                    project_id=command.project_id,
                    instance_id=payload.instance_id,
                    action="terminate",
                    correlation_id=command.correlation_id,
                    also=self._settled(command),
                )
        except RetryLater:
            return  # taken again on the next round
        except ClanaviError as exc:
            if exc.http_status >= 500:
                return
            # The old one went meanwhile (or cannot be stopped): the new one runs, which is what was asked.
            log.info("replacement %s: the old instance was not disposed of: %s", command.id, exc.detail)
            await self._settle(command, "done")

    async def _move_address(self, command: CommandRecord, payload: MoveAddress) -> None:
        address = await owned_resource(self.ports, command.project_id, "address", payload.address_id)
        held_by = address.attrs.get("instance_id")
        if address.state == "associated" and held_by == payload.instance_id:
            await self._settle(command)
            return
        if address.pending_action is not None:
            raise TryLater(f"address {address.id} is {address.state}")
        if address.state == "associated":
            await resources.act_plainly(
                self.ports,
                project_id=command.project_id,
                kind="address",
                resource_id=address.id,
                action="disassociate",
                correlation_id=command.correlation_id,
            )
            raise TryLater(f"address {address.id} is leaving instance {held_by}")
        moved = await resources.associate_address(
            self.ports,
            project_id=command.project_id,
            address_id=address.id,
            instance_id=payload.instance_id,
            correlation_id=command.correlation_id,
        )
        if moved.done:
            await self._settle(command)
            return
        raise TryLater(f"address {address.id} is moving to instance {payload.instance_id}")


def _default_name(requested_by: str, instance_id: str) -> str:
    return f"{requested_by.split(':', 1)[0]}-{instance_id[:8]}"


def _inputs_by_level(record: InstanceRecord) -> tuple[dict[str, object], dict[str, object]]:
    """The values a server's inputs were given at its level and at its cluster's (the template's own apply again)."""
    server: dict[str, object] = {}
    cluster: dict[str, object] = {}
    for name, given in record.inputs.items():
        if isinstance(given, dict) and given.get("level") == "server":
            server[name] = given["value"]
        elif isinstance(given, dict) and given.get("level") == "cluster":
            cluster[name] = given["value"]
    return server, cluster


def refusal(
    command: CommandRecord, status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None
) -> CommandRefused:
    return CommandRefused(
        command_id=command.id,
        command=command.type,
        requested_by=command.requested_by,
        subject_id=command.makes_instance or command.payload.get("instance_id") or command.payload.get("address_id"),
        status=status,
        code=code,
        detail=detail,
        errors=[dict(e) for e in errors or []],
    )


__all__ = ["Carrier", "TryLater", "refusal"]
