"""The run use cases: ask for runs of an operational script on running instances (one, or several with a
concurrency limit), read them and their output, and queue an instance's decommission scripts before its terminate.

A run is validated whole before anything is recorded: the script (a version of this project's, operational, not
deprecated), every input (resolved as a launch resolves them: the script's defaults, then the instance's template's
values, then the request's; each problem a 422 naming `body.inputs.<name>`), and the instance (this project's,
running: 409 otherwise). The filled script is sealed until the worker runs it; the secrets it was given are sealed
with it, to be masked in its output. No answer, event or log line carries a body or a secret value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.base import InstanceState as S
from adapters.base import Operation
from kernel.crypto import Keyring
from kernel.errors import InvalidState, ValidationFailed
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction, UnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.owned import owned
from services.provisioner.runs import ssh
from services.provisioner.runs.domain import DEFAULT_CONCURRENCY, RunPhase, RunRecord, ended, never_ran
from services.provisioner.runs.repository import Output, RunFilter, RunStore
from services.provisioner.templates import boot, inputs, sealing
from services.provisioner.templates.domain import ScriptVersion
from services.provisioner.templates.inputs import Value
from services.provisioner.work.engine import WORK_CHANNEL

Work = UnitOfWork[RunStore]
# What a terminate waits for its decommission scripts beyond their logins and timeouts: a worker to take them up.
DECOMMISSION_SLACK_SECONDS = 45


@dataclass(frozen=True)
class RunRequest:
    project_id: str
    script_id: str
    version: int | None
    inputs: Mapping[str, object]
    correlation_id: str


async def project_public_key(uow: Work, keyring: Keyring | None, project_id: str) -> str:
    """The project's SSH public key, made (its private half sealed) on first use."""
    async with uow.reading() as repos:
        found = await repos.runs.project_key(project_id)
    if found is not None:
        return found[0]
    private, public = ssh.new_key()
    sealed = sealing.seal_project_key(keyring, project_id, private)
    async with uow.transaction() as tx:
        await tx.repos.runs.add_project_key(project_id, public, sealed, datetime.now(UTC))
        kept = await tx.repos.runs.project_key(project_id)
    assert kept is not None
    return kept[0]


def _unusable(version: ScriptVersion | None, n: int, phase: RunPhase) -> str | None:
    if version is None:
        return f"no version {n}"
    if version.deprecated:
        return f"version {n} is deprecated"
    if version.phase != phase:
        return f"phase {version.phase}, not {phase}"
    return None


async def _script(repos: RunStore, req: RunRequest) -> tuple[str, ScriptVersion]:
    script = owned(
        await repos.templates.get_script(req.project_id, req.script_id),
        "script",
        req.script_id,
        named_in="body.script_id",
    )
    n = req.version or script.latest_version
    version = await repos.templates.script_version(script.id, n)
    why = _unusable(version, n, "operational")
    if why is not None or version is None:
        location = "body.script_version" if req.version else "body.script_id"
        raise ValidationFailed(
            f"Script {script.id} cannot be run: {why}.", errors=[{"location": location, "message": why}]
        )
    return script.name, version


async def _template_values(repos: RunStore, keyring: Keyring | None, instance: InstanceRecord) -> dict[str, Value]:
    """The values the instance's template version sets (its secrets opened), or none."""
    if instance.template_id is None or instance.template_version is None:
        return {}
    found = await repos.templates.template_version(instance.template_id, instance.template_version)
    if found is None:
        return {}
    opened = sealing.open_values(keyring, found.template_id, found.version, found.sealed_values)
    return {**found.spec.values, **opened}


def _filled(
    version: ScriptVersion, template: Mapping[str, Value], server: Mapping[str, object]
) -> tuple[str, list[str], dict[str, object], list[dict[str, str]]]:
    """The script filled with its resolved inputs, the secret values among them, what the run records of them, and
    the problems."""
    specs = {spec.name: spec for spec in version.inputs}
    resolved, problems = inputs.resolve(specs, {k: v for k, v in template.items() if k in specs}, server)
    values = {name: r.value for name, r in resolved.items()}
    secrets = [inputs.rendered(r.value) for r in resolved.values() if r.spec.secret]
    shown: dict[str, object] = {name: r.shown() for name, r in resolved.items()}
    return boot.fill(version.body, values), secrets, shown, problems


def _running(instance: InstanceRecord, location: str) -> None:
    if instance.state != S.RUNNING or instance.pending_action is not None or instance.provider_id is None:
        doing = f" (a {instance.pending_action} is in progress)" if instance.pending_action else ""
        raise InvalidState(
            f"Instance {instance.id} is {instance.state}{doing}: scripts run only on a running instance.",
            state=instance.state,
            errors=[{"location": location, "message": f"the instance is {instance.state}, not running"}],
        )


def _run(
    instance: InstanceRecord,
    name: str,
    version: ScriptVersion,
    phase: RunPhase,
    shown: Mapping[str, object],
    correlation_id: str,
    batch: tuple[str, int] | None,
) -> RunRecord:
    now = datetime.now(UTC)
    return RunRecord(
        id=str(uuid.uuid4()),
        project_id=instance.project_id,
        cloud_id=instance.cloud_id,
        name=name,
        instance_id=instance.id,
        provider_id=instance.provider_id,
        script_id=version.script_id,
        script_version=version.version,
        phase=phase,
        timeout_seconds=version.timeout_seconds,
        state="queued",
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
        inputs=dict(shown),
        pending_since=now,
        batch_id=batch[0] if batch else None,
        batch_limit=batch[1] if batch else None,
    )


async def start_runs(
    uow: Work,
    clouds: CloudDirectory,
    req: RunRequest,
    instance_ids: Sequence[str],
    *,
    location: str | None = None,
    concurrency: int | None = None,
) -> list[RunRecord]:
    """Queue a run of the script on each instance (several: one batch, at most `concurrency` at a time); nothing is
    recorded unless every one is valid. `location` names the body field that lists the instance ids (None: one
    instance, named by the path)."""
    keyring = clouds.keyring
    planned: list[tuple[RunRecord, bytes]] = []
    batch = (str(uuid.uuid4()), concurrency or DEFAULT_CONCURRENCY) if len(instance_ids) > 1 else None
    async with uow.reading() as repos:
        # The instances first: one named by the path is not found before anything of the body is looked at.
        found: list[tuple[str, InstanceRecord]] = []
        for n, instance_id in enumerate(instance_ids):
            at = "path.instance_id" if location is None else f"{location}.{n}"
            looked_up = await repos.instances.get(req.project_id, instance_id)
            found.append((at, owned(looked_up, "instance", instance_id, named_in=None if location is None else at)))
        name, version = await _script(repos, req)
        problems: list[dict[str, str]] = []
        for at, instance in found:
            _running(instance, at)
            cloud = owned(await repos.clouds.get(req.project_id, instance.cloud_id), "cloud", instance.cloud_id)
            await clouds.require(cloud, Operation.CONSOLE_OUTPUT)
            body, secrets, shown, wrong = _filled(version, await _template_values(repos, keyring, instance), req.inputs)
            problems += [p for p in wrong if p not in problems]
            run = _run(instance, name, version, "operational", shown, req.correlation_id, batch)
            planned.append((run, sealing.seal_run(keyring, run.id, body, secrets)))
    if problems:
        raise ValidationFailed("The run's inputs are not valid.", errors=problems)
    # Made once every run is valid: the key the worker logs in with.
    await project_public_key(uow, keyring, req.project_id)
    made = []
    async with uow.transaction() as tx:
        for record, sealed in planned:
            record = tx.changed(record, record.queued())
            await tx.repos.runs.add(record, sealed)
            made.append(record)
        tx.notify(WORK_CHANNEL)
    return made


@dataclass(frozen=True)
class Decommission:
    """The runs of an instance's decommission scripts, in order, each with its sealed script, or why it cannot run
    (its inputs no longer resolve); and how long the instance's terminate may wait for them."""

    instance_id: str
    runs: Sequence[tuple[RunRecord, bytes | str]]
    seconds: float


def _launch_values(instance: InstanceRecord) -> dict[str, object]:
    """The values the instance's launch set itself (its secrets were never kept: a script cannot have them again)."""
    return {
        name: shown["value"]
        for name, shown in instance.inputs.items()
        if isinstance(shown, Mapping) and shown.get("level") == "server" and shown.get("type") != "secret"
    }


async def plan_decommission(
    uow: Work, keyring: Keyring | None, instance: InstanceRecord, correlation_id: str
) -> Decommission | None:
    """The runs a terminate of the instance makes first: the decommission scripts of the template version it was
    launched from, filled with its inputs as they were resolved at launch. None when there are none, or when the
    instance was never in its cloud."""
    if instance.template_id is None or instance.template_version is None or instance.provider_id is None:
        return None
    async with uow.reading() as repos:
        found = await repos.templates.template_version(instance.template_id, instance.template_version)
        if found is None or not found.spec.decommission_scripts:
            return None
        refs = found.spec.decommission_scripts
        scripts = await repos.templates.script_versions_named(instance.project_id, refs)
        template = await _template_values(repos, keyring, instance)
        names = {}
        for ref in refs:
            script = await repos.templates.get_script(instance.project_id, ref.script_id)
            names[ref] = script.name if script is not None else ""
    await project_public_key(uow, keyring, instance.project_id)
    batch = (str(uuid.uuid4()), 1)  # one at a time, in order
    planned: list[tuple[RunRecord, bytes | str]] = []
    seconds = 0.0
    for ref in refs:
        version = scripts.get(ref)
        if version is None:
            continue  # a script version a template runs is never deleted
        body, secrets, shown, problems = _filled(version, template, _launch_values(instance))
        record = _run(instance, names[ref], version, "decommission", shown, correlation_id, batch)
        if problems:
            wrong = ", ".join(p["location"].removeprefix("body.inputs.") for p in problems)
            planned.append((record, f"its inputs do not resolve ({wrong}): a secret the launch set is not kept"))
        else:
            planned.append((record, sealing.seal_run(keyring, record.id, body, secrets)))
            seconds += ssh.CONNECT_SECONDS + version.timeout_seconds
    if not planned:
        return None
    return Decommission(instance.id, planned, seconds + DECOMMISSION_SLACK_SECONDS if seconds else 0.0)


async def queue_decommission(tx: Transaction[RunStore], plan: Decommission) -> None:
    """Record the decommission runs (one that cannot run fails at once) and hold the instance's terminate until they
    have ended or their time is up."""
    for record, sealed in plan.runs:
        record = tx.changed(record, record.queued())
        if isinstance(sealed, str):
            after, events = ended(record, never_ran("inputs_invalid", sealed))
            record = tx.changed(after, *events)
        await tx.repos.runs.add(record, sealed if isinstance(sealed, bytes) else None)
    if plan.seconds:
        await tx.repos.runs.terminate_when_ready(plan.instance_id, plan.seconds)
        tx.notify(WORK_CHANNEL)


async def matching(
    uow: Work, project_id: str, cloud_id: str | None, template_id: str | None, name: str | None
) -> list[str]:
    """The project's running instances that match a bulk run's filter."""
    async with uow.reading() as repos:
        return await repos.runs.running_instances(project_id, cloud_id, template_id, name)


async def get(uow: Work, project_id: str, run_id: str) -> RunRecord:
    async with uow.reading() as repos:
        return owned(await repos.runs.get(project_id, run_id), "run", run_id)


async def page(uow: Work, flt: RunFilter, request: PageRequest) -> tuple[list[RunRecord], str | None]:
    async with uow.reading() as repos:
        if flt.instance_id is not None:
            owned(await repos.instances.get(flt.project_id, flt.instance_id), "instance", flt.instance_id)
        return await repos.runs.page(flt, request)


async def output(uow: Work, project_id: str, run_id: str, offset: int, limit: int) -> tuple[RunRecord, Output]:
    async with uow.reading() as repos:
        record = owned(await repos.runs.get(project_id, run_id), "run", run_id)
        found = await repos.runs.output(project_id, run_id, offset, limit)
    assert found is not None
    return record, found


__all__ = [
    "DECOMMISSION_SLACK_SECONDS",
    "Decommission",
    "RunRequest",
    "Work",
    "get",
    "matching",
    "output",
    "page",
    "plan_decommission",
    "project_public_key",
    "queue_decommission",
    "start_runs",
]
