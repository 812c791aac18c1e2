"""The script and template use cases: make, version, deprecate and delete them, and turn a template into a launch.

No FastAPI here. Every id is looked up in the caller's project first (`owned`), so another project's script or
template is answered like one nobody has. A secret value is sealed before it is stored and opened only to render
the user data of a launch; no answer, event or log line carries one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from adapters.base import CloudError, Feature, Operation
from kernel import events
from kernel.crypto import Keyring
from kernel.errors import Conflict, ValidationFailed
from kernel.events import EventPayload
from kernel.keyset import PageRequest
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.boot import domain as boot_domain
from services.provisioner.boot.domain import BootSection
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.owned import owned
from services.provisioner.runs import login
from services.provisioner.templates import boot, domain, inputs, sealing
from services.provisioner.templates.domain import (
    ScriptContent,
    ScriptRecord,
    ScriptRef,
    ScriptVersion,
    TemplateRecord,
    TemplateSpec,
    TemplateVersion,
)
from services.provisioner.templates.inputs import Resolved, Value
from services.provisioner.templates.repository import NamedFilter, TemplateRepository, TemplateStore

Work = UnitOfWork[TemplateStore]
# The user data a cloud takes when its adapter does not say (EC2's limit, the smallest of the clouds).
DEFAULT_USER_DATA_LIMIT = 16 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid(detail: str, problems: list[dict[str, str]]) -> None:
    if problems:
        raise ValidationFailed(detail, errors=problems)


R = TypeVar("R", ScriptRecord, TemplateRecord)
V = TypeVar("V", ScriptVersion, TemplateVersion)


@dataclass(frozen=True)
class _Kind(Generic[R, V]):
    """Scripts and templates alike: a named thing of a project with immutable numbered versions, and where the
    repository keeps it. What each one allows beyond that (contents, defaults, what uses it) stays in its own use
    cases."""

    what: str
    get: Callable[[TemplateRepository, str, str, bool], Awaitable[R | None]]
    page: Callable[[TemplateRepository, NamedFilter, PageRequest], Awaitable[tuple[list[R], str | None]]]
    save: Callable[[TemplateRepository, R], Awaitable[None]]
    version: Callable[[TemplateRepository, str, int], Awaitable[V | None]]
    versions: Callable[[TemplateRepository, str], Awaitable[list[V]]]
    deprecate: Callable[[TemplateRepository, str, int, bool], Awaitable[None]]
    deprecated: Callable[[R, int, bool], EventPayload]

    async def owned(self, repo: TemplateRepository, project_id: str, id_: str, *, lock: bool = False) -> R:
        return owned(await self.get(repo, project_id, id_, lock), self.what, id_)

    async def owned_version(self, repo: TemplateRepository, record: R, version: int) -> V:
        found = await self.version(repo, record.id, version)
        return owned(found, f"{self.what} version", f"{record.id} version {version}")


_SCRIPTS = _Kind[ScriptRecord, ScriptVersion](
    what="script",
    get=lambda repo, project_id, id_, lock: repo.get_script(project_id, id_, lock=lock),
    page=lambda repo, flt, request: repo.script_page(flt, request),
    save=lambda repo, record: repo.save_script(record),
    version=lambda repo, id_, n: repo.script_version(id_, n),
    versions=lambda repo, id_: repo.script_versions(id_),
    deprecate=lambda repo, id_, n, deprecated: repo.deprecate_script_version(id_, n, deprecated),
    deprecated=lambda script, n, deprecated: events.ScriptVersionDeprecated(
        script_id=script.id, name=script.name, version=n, deprecated=deprecated
    ),
)
_TEMPLATES = _Kind[TemplateRecord, TemplateVersion](
    what="template",
    get=lambda repo, project_id, id_, lock: repo.get_template(project_id, id_, lock=lock),
    page=lambda repo, flt, request: repo.template_page(flt, request),
    save=lambda repo, record: repo.save_template(record),
    version=lambda repo, id_, n: repo.template_version(id_, n),
    versions=lambda repo, id_: repo.template_versions(id_),
    deprecate=lambda repo, id_, n, deprecated: repo.deprecate_template_version(id_, n, deprecated),
    deprecated=lambda template, n, deprecated: events.TemplateVersionDeprecated(
        template_id=template.id, name=template.name, version=n, deprecated=deprecated
    ),
)


async def _get(uow: Work, kind: _Kind[R, V], project_id: str, id_: str) -> R:
    async with uow.reading() as repos:
        return await kind.owned(repos.templates, project_id, id_)


async def _page(uow: Work, kind: _Kind[R, V], flt: NamedFilter, request: PageRequest) -> tuple[list[R], str | None]:
    async with uow.reading() as repos:
        return await kind.page(repos.templates, flt, request)


async def _versions(uow: Work, kind: _Kind[R, V], project_id: str, id_: str) -> list[V]:
    async with uow.reading() as repos:
        record = await kind.owned(repos.templates, project_id, id_)
        return await kind.versions(repos.templates, record.id)


async def _version(uow: Work, kind: _Kind[R, V], project_id: str, id_: str, version: int) -> V:
    async with uow.reading() as repos:
        record = await kind.owned(repos.templates, project_id, id_)
        return await kind.owned_version(repos.templates, record, version)


async def _deprecate(
    uow: Work, kind: _Kind[R, V], project_id: str, id_: str, version: int, deprecated: bool, correlation_id: str
) -> V:
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        record = await kind.owned(repo, project_id, id_, lock=True)
        found = await kind.owned_version(repo, record, version)
        if found.deprecated == deprecated:
            return found
        await kind.deprecate(repo, record.id, version, deprecated)
        record = replace(record, updated_at=_now(), correlation_id=correlation_id)
        await kind.save(repo, tx.changed(record, kind.deprecated(record, version, deprecated)))
        return replace(found, deprecated=deprecated)


# scripts


async def _script(repo: TemplateRepository, project_id: str, script_id: str, *, lock: bool = False) -> ScriptRecord:
    return await _SCRIPTS.owned(repo, project_id, script_id, lock=lock)


async def _script_version(repo: TemplateRepository, script: ScriptRecord, version: int) -> ScriptVersion:
    return await _SCRIPTS.owned_version(repo, script, version)


async def create_script(
    uow: Work, *, project_id: str, name: str, content: ScriptContent, correlation_id: str
) -> tuple[ScriptRecord, ScriptVersion]:
    _invalid("The script is not valid.", domain.script_problems(content))
    now = _now()
    record = ScriptRecord(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        latest_version=1,
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
    )
    version = ScriptVersion(record.id, 1, content.body, content.phase, content.timeout_seconds, content.inputs, now)
    async with uow.transaction() as tx:
        record = tx.changed(
            record,
            events.ScriptCreated(script_id=record.id, name=name, phase=content.phase),
            events.ScriptVersionCreated(script_id=record.id, name=name, version=1),
        )
        await tx.repos.templates.add_script(record)
        await tx.repos.templates.add_script_version(version)
    return record, version


async def add_script_version(
    uow: Work, *, project_id: str, script_id: str, content: ScriptContent, correlation_id: str
) -> tuple[ScriptVersion, bool]:
    """A new version when the content differs from the latest (True), else the latest as it is (False)."""
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        script = await _script(repo, project_id, script_id, lock=True)
        _invalid("The script is not valid.", domain.script_problems(content))
        latest = await repo.script_version(script.id, script.latest_version)
        if latest is not None and latest.same_content(content):
            return latest, False
        n = script.latest_version + 1
        version = ScriptVersion(
            script.id, n, content.body, content.phase, content.timeout_seconds, content.inputs, _now()
        )
        script = replace(script, latest_version=n, updated_at=version.created_at, correlation_id=correlation_id)
        script = tx.changed(script, events.ScriptVersionCreated(script_id=script.id, name=script.name, version=n))
        await repo.add_script_version(version)
        await repo.save_script(script)
    return version, True


async def get_script(uow: Work, project_id: str, script_id: str) -> ScriptRecord:
    return await _get(uow, _SCRIPTS, project_id, script_id)


async def page_scripts(uow: Work, flt: NamedFilter, request: PageRequest) -> tuple[list[ScriptRecord], str | None]:
    return await _page(uow, _SCRIPTS, flt, request)


async def script_versions(uow: Work, project_id: str, script_id: str) -> list[ScriptVersion]:
    return await _versions(uow, _SCRIPTS, project_id, script_id)


async def script_version(uow: Work, project_id: str, script_id: str, version: int) -> ScriptVersion:
    return await _version(uow, _SCRIPTS, project_id, script_id, version)


async def deprecate_script_version(
    uow: Work, *, project_id: str, script_id: str, version: int, deprecated: bool, correlation_id: str
) -> ScriptVersion:
    return await _deprecate(uow, _SCRIPTS, project_id, script_id, version, deprecated, correlation_id)


def _in_use(what: str, users: Sequence[tuple[str, int]]) -> Conflict:
    named = ", ".join(f"{t} version {v}" for t, v in users[:10])
    return Conflict(
        f"{what} is run by templates ({named}); deprecate it instead.",
        templates=[{"template_id": t, "version": v} for t, v in users],
    )


async def delete_script_version(
    uow: Work, *, project_id: str, script_id: str, version: int, correlation_id: str
) -> None:
    """Delete a version no template runs that is not the latest (409 otherwise)."""
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        script = await _script(repo, project_id, script_id, lock=True)
        await _script_version(repo, script, version)
        users = await repo.templates_running([ScriptRef(script.id, version)])
        if users:
            raise _in_use(f"Version {version} of script {script.id}", users)
        if version == script.latest_version:
            # Numbers are never given twice: the latest stays, as the one the next version counts from.
            raise Conflict(f"Version {version} is script {script.id}'s latest: deprecate it, or delete the script.")
        await repo.delete_script_version(script.id, version)
        script = replace(script, updated_at=_now(), correlation_id=correlation_id)
        fact = events.ScriptVersionDeleted(script_id=script.id, name=script.name, version=version)
        await repo.save_script(tx.changed(script, fact))


async def delete_script(uow: Work, *, project_id: str, script_id: str, correlation_id: str) -> None:
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        script = await _script(repo, project_id, script_id, lock=True)
        versions = await repo.script_versions(script.id)
        users = await repo.templates_running([ScriptRef(script.id, v.version) for v in versions])
        if users:
            raise _in_use(f"Script {script.id}", users)
        script = replace(script, correlation_id=correlation_id)
        tx.changed(script, events.ScriptDeleted(script_id=script.id, name=script.name))
        await repo.delete_script(script.id)


# templates


async def _versioned(repo: TemplateRepository, project_id: str, draft: TemplateSpec) -> TemplateSpec:
    """The spec with each script reference that named no version (`LATEST`) given its script's latest."""
    refs = [r for r in draft.script_refs() if r.version == domain.LATEST]
    if not refs:
        return draft
    latest = await repo.latest_script_versions(project_id, {r.script_id for r in refs})

    def pinned(refs: tuple[ScriptRef, ...]) -> tuple[ScriptRef, ...]:
        return tuple(
            ScriptRef(r.script_id, latest.get(r.script_id, 0)) if r.version == domain.LATEST else r for r in refs
        )

    return replace(
        draft,
        boot_scripts=pinned(draft.boot_scripts),
        operational_scripts=pinned(draft.operational_scripts),
        decommission_scripts=pinned(draft.decommission_scripts),
    )


async def _checked(
    repos: TemplateStore, project_id: str, spec: TemplateSpec
) -> tuple[dict[str, inputs.InputSpec], dict[ScriptRef, ScriptVersion]]:
    """The template's merged input declarations and the script versions it runs; raises ValidationFailed (422)
    naming every problem: its own content, its clouds, its scripts, its declarations and values."""
    repo = repos.templates
    problems = domain.template_problems(spec)
    for n, choice in enumerate(spec.clouds):
        if await repos.clouds.get(project_id, choice.cloud_id) is None:
            problems.append({"location": f"body.clouds.{n}.cloud_id", "message": "unknown cloud"})
    # Held: a script version deleted while this template is being made would leave it running nothing.
    versions = await repo.script_versions_named(project_id, spec.script_refs(), hold=True)
    problems += domain.scripts_problems(spec, {r: versions.get(r) for r in spec.script_refs()})
    merged: dict[str, inputs.InputSpec] = {}
    if not problems:
        merged, more = inputs.merge(domain.declared_inputs(spec, versions))
        problems += more + inputs.values_problems(merged, spec.values, "body.values")
    _invalid("The template is not valid.", problems)
    return merged, versions


def _split_values(
    keyring: Keyring | None, template_id: str, n: int, spec: TemplateSpec, merged: Mapping[str, inputs.InputSpec]
) -> tuple[TemplateSpec, bytes | None, tuple[str, ...]]:
    """The spec without its secret values, the secrets sealed, and their names."""
    secrets = {k: v for k, v in spec.values.items() if merged[k].secret}
    plain = {k: v for k, v in spec.values.items() if k not in secrets}
    sealed = sealing.seal_values(keyring, template_id, n, secrets)
    return replace(spec, values=plain), sealed, tuple(sorted(secrets))


async def create_template(
    uow: Work, keyring: Keyring | None, *, project_id: str, name: str, draft: TemplateSpec, correlation_id: str
) -> tuple[TemplateRecord, TemplateVersion]:
    now = _now()
    record = TemplateRecord(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        latest_version=1,
        default_version=1,
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
    )
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        spec = await _versioned(repo, project_id, draft)
        merged, _ = await _checked(tx.repos, project_id, spec)
        stored, sealed, secret_names = _split_values(keyring, record.id, 1, spec, merged)
        version = TemplateVersion(record.id, 1, stored, now, sealed_values=sealed, secret_names=secret_names)
        record = tx.changed(
            record,
            events.TemplateCreated(template_id=record.id, name=name),
            events.TemplateVersionCreated(
                template_id=record.id,
                name=name,
                version=1,
                scripts=[r.key for r in spec.script_refs()],
                alerts=[dict(a) for a in spec.alerts],
            ),
        )
        await repo.add_template(record)
        await repo.add_template_version(version)
    return record, version


async def _template(
    repo: TemplateRepository, project_id: str, template_id: str, *, lock: bool = False, named_in: str | None = None
) -> TemplateRecord:
    found = await repo.get_template(project_id, template_id, lock=lock)
    return owned(found, "template", template_id, named_in=named_in)


async def _template_version(repo: TemplateRepository, template: TemplateRecord, version: int) -> TemplateVersion:
    return await _TEMPLATES.owned_version(repo, template, version)


async def add_template_version(
    uow: Work, keyring: Keyring | None, *, project_id: str, template_id: str, draft: TemplateSpec, correlation_id: str
) -> TemplateVersion:
    """A new version (always: a template version is what an instance records, so two launches of equal content
    from different versions stay told apart); the default does not move."""
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        template = await _template(repo, project_id, template_id, lock=True)
        spec = await _versioned(repo, project_id, draft)
        merged, _ = await _checked(tx.repos, project_id, spec)
        n = template.latest_version + 1
        stored, sealed, secret_names = _split_values(keyring, template.id, n, spec, merged)
        version = TemplateVersion(template.id, n, stored, _now(), sealed_values=sealed, secret_names=secret_names)
        template = replace(template, latest_version=n, updated_at=version.created_at, correlation_id=correlation_id)
        fact = events.TemplateVersionCreated(
            template_id=template.id,
            name=template.name,
            version=n,
            scripts=[r.key for r in spec.script_refs()],
            alerts=[dict(a) for a in spec.alerts],
        )
        await repo.add_template_version(version)
        await repo.save_template(tx.changed(template, fact))
    return version


async def get_template(uow: Work, project_id: str, template_id: str) -> TemplateRecord:
    return await _get(uow, _TEMPLATES, project_id, template_id)


async def page_templates(uow: Work, flt: NamedFilter, request: PageRequest) -> tuple[list[TemplateRecord], str | None]:
    return await _page(uow, _TEMPLATES, flt, request)


async def template_versions(uow: Work, project_id: str, template_id: str) -> list[TemplateVersion]:
    return await _versions(uow, _TEMPLATES, project_id, template_id)


async def template_version(uow: Work, project_id: str, template_id: str, version: int) -> TemplateVersion:
    return await _version(uow, _TEMPLATES, project_id, template_id, version)


async def set_default_version(
    uow: Work, *, project_id: str, template_id: str, version: int, correlation_id: str
) -> TemplateRecord:
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        template = await _template(repo, project_id, template_id, lock=True)
        found = await repo.template_version(template.id, version)
        if found is None or found.deprecated:
            why = "no such version" if found is None else "deprecated"
            raise ValidationFailed(
                f"Version {version} cannot be template {template.id}'s default: {why}.",
                errors=[{"location": "body.default_version", "message": why}],
            )
        if template.default_version == version:
            return template
        template = replace(template, default_version=version, updated_at=_now(), correlation_id=correlation_id)
        fact = events.TemplateDefaultChanged(template_id=template.id, name=template.name, version=version)
        template = tx.changed(template, fact)
        await repo.save_template(template)
        return template


async def deprecate_template_version(
    uow: Work, *, project_id: str, template_id: str, version: int, deprecated: bool, correlation_id: str
) -> TemplateVersion:
    return await _deprecate(uow, _TEMPLATES, project_id, template_id, version, deprecated, correlation_id)


def _launched_from(what: str, instance_ids: Sequence[str]) -> Conflict:
    return Conflict(
        f"Live instances were launched from {what} ({', '.join(instance_ids[:10])}); deprecate it instead.",
        instance_ids=list(instance_ids),
    )


async def delete_template_version(
    uow: Work, *, project_id: str, template_id: str, version: int, correlation_id: str
) -> None:
    """Delete a version no live instance came from that is neither the default nor the latest (409 otherwise)."""
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        template = await _template(repo, project_id, template_id, lock=True)
        await _template_version(repo, template, version)
        live = await repo.live_instances(template.id, version)
        if live:
            raise _launched_from(f"version {version} of template {template.id}", live)
        if version == template.default_version:
            raise Conflict(f"Version {version} is template {template.id}'s default: make another the default first.")
        if version == template.latest_version:
            raise Conflict(f"Version {version} is template {template.id}'s latest: deprecate it instead.")
        await repo.delete_template_version(template.id, version)
        template = replace(template, updated_at=_now(), correlation_id=correlation_id)
        fact = events.TemplateVersionDeleted(template_id=template.id, name=template.name, version=version)
        await repo.save_template(tx.changed(template, fact))


async def delete_template(uow: Work, *, project_id: str, template_id: str, correlation_id: str) -> None:
    async with uow.transaction() as tx:
        repo = tx.repos.templates
        template = await _template(repo, project_id, template_id, lock=True)
        live = await repo.live_instances(template.id)
        if live:
            raise _launched_from(f"template {template.id}", live)
        template = replace(template, correlation_id=correlation_id)
        tx.changed(template, events.TemplateDeleted(template_id=template.id, name=template.name))
        await repo.delete_template(template.id)


# launch


@dataclass(frozen=True)
class LaunchPlan:
    """What a template makes of a launch on one cloud: the launch's fields, the boot user data (None: no boot
    scripts), and what the instance records of where it came from (inputs with secrets masked)."""

    template_id: str
    template_version: int
    image_id: str
    flavor_id: str
    key_name: str | None
    security_group_ids: tuple[str, ...]
    zone: str | None
    tags: Mapping[str, str]
    user_data: bytes | None
    inputs: Mapping[str, Mapping[str, object]]
    # The boot scripts' progress as the instance starts it (None: no boot scripts).
    boot: BootSection | None = None


async def _machine(clouds: CloudDirectory, cloud: Cloud, spec: TemplateSpec, where: str) -> tuple[str, str]:
    """The image and flavor the template runs on the cloud: its choice there, or what meets its requirements."""
    choice = spec.choice_for(cloud.id)
    if choice is not None:
        return choice.image_id, choice.flavor_id
    req = spec.requirements
    if req is None:
        raise ValidationFailed(
            f"{where} names no image and flavor for cloud {cloud.id} and has no requirements to find them by.",
            errors=[{"location": "body.cloud_id", "message": f"{where} cannot run on {cloud.id}"}],
        )
    await clouds.require(cloud, Operation.LIST_FLAVORS, Operation.LIST_IMAGES)
    try:
        flavor = domain.smallest_flavor(await clouds.flavors(cloud.id), req)
        image = domain.image_named(await clouds.images(cloud.id), req)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud.id) from exc
    problems = []
    if image is None:
        problems.append({"location": "body.cloud_id", "message": f"{cloud.id} has no image {req.image_name}"})
    if flavor is None:
        problems.append(
            {
                "location": "body.cloud_id",
                "message": f"{cloud.id} has no flavor with {req.min_vcpus} vCPUs, {req.min_ram_mb} MB of RAM and "
                f"{req.min_disk_gb} GB of disk",
            }
        )
    if image is None or flavor is None:
        raise ValidationFailed(f"{where} cannot run on cloud {cloud.id}.", errors=problems)
    return image.id, flavor.id


async def _resource_inputs(
    repos: TemplateStore, project_id: str, cloud_id: str, resolved: Mapping[str, Resolved]
) -> tuple[dict[str, Value], list[dict[str, str]]]:
    """Values of key pair and security group inputs checked in the cloud; a group's becomes the cloud's id of it."""
    values: dict[str, Value] = {}
    problems = []
    for name, r in resolved.items():
        if r.spec.type == "key_pair":
            names = await repos.resources.launch_names(project_id, cloud_id, str(r.value), ())
            if not names.key_usable:
                problems.append({"location": f"body.inputs.{name}", "message": f"no key pair {r.value} in {cloud_id}"})
        elif r.spec.type == "security_group":
            names = await repos.resources.launch_names(project_id, cloud_id, None, (str(r.value),))
            provider_id = names.group_provider_ids.get(str(r.value))
            if provider_id is None:
                problems.append(
                    {"location": f"body.inputs.{name}", "message": f"no security group {r.value} in {cloud_id}"}
                )
            else:
                values[name] = provider_id
    return values, problems


@dataclass(frozen=True)
class LaunchDraft:
    """A launch from a template as its records make it, before its cloud is asked anything: the template version,
    the cloud (the caller's own, read once for the whole launch), the scripts it runs, every input resolved, and the
    problems found so far."""

    template_id: str
    template_version: int
    cloud: Cloud
    spec: TemplateSpec
    scripts: Mapping[ScriptRef, ScriptVersion]
    resolved: Mapping[str, Resolved]
    cloud_values: Mapping[str, Value]
    problems: list[dict[str, str]]


async def draft_launch(
    repos: TemplateStore,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    template_id: str,
    version: int | None,
    server_inputs: Mapping[str, object],
    cluster_inputs: Mapping[str, object] | None = None,
) -> LaunchDraft:
    """Read a launch from a template on the caller's repositories (see `plan_launch`; `cluster_inputs`: a cluster
    role's values, for its members); raises what it does for a template, version or cloud the project does not
    have."""
    repo = repos.templates
    launchable = owned(
        await repo.launchable(project_id, template_id, version), "template", template_id, named_in="body.template_id"
    )
    template, n, found = launchable.template, launchable.version, launchable.found
    if found is None or found.deprecated:
        why = f"no version {n}" if found is None else f"version {n} is deprecated"
        raise ValidationFailed(
            f"Template {template.id} cannot be launched: {why}.",
            errors=[{"location": "body.template_version", "message": why}],
        )
    cloud = owned(await repos.clouds.get(project_id, cloud_id), "cloud", cloud_id, named_in="body.cloud_id")
    spec = found.spec
    scripts = await repo.launch_scripts(project_id, spec.script_refs())
    missing = [r for r in spec.script_refs() if r not in scripts]
    if missing:
        raise Conflict(f"Template {template.id} version {n} runs script versions that no longer exist.")
    merged, _ = inputs.merge(domain.declared_inputs(spec, scripts))
    template_values = {
        **spec.values,
        **sealing.open_values(clouds.keyring, template.id, n, found.sealed_values),
    }
    resolved, problems = inputs.resolve(
        merged,
        template_values,
        server_inputs,
        template_declared={i.name for i in spec.inputs},
        cluster=cluster_inputs,
    )
    cloud_values, more = await _resource_inputs(repos, project_id, cloud.id, resolved)
    return LaunchDraft(template.id, n, cloud, spec, scripts, resolved, cloud_values, problems + more)


async def plan(clouds: CloudDirectory, draft: LaunchDraft, *, login_key: str | None = None) -> LaunchPlan:
    """The launch a draft makes on its cloud: the image and flavor there, and the boot user data (with `login_key`
    authorized for runs, where the cloud takes user data). Raises ValidationFailed (422) naming each problem."""
    template, n, cloud, spec, scripts = (
        draft.template_id,
        draft.template_version,
        draft.cloud,
        draft.spec,
        draft.scripts,
    )
    where = f"Template {template} version {n}"
    image_id, flavor_id = await _machine(clouds, cloud, spec, where)
    _invalid("The launch's inputs are not valid.", draft.problems)
    values = {name: r.value for name, r in draft.resolved.items()} | dict(draft.cloud_values)
    scripts_parts = [
        boot.marked_part(f"{i:02d}-{ref.script_id}-v{ref.version}", boot.fill(scripts[ref].body, values))
        for i, ref in enumerate(spec.boot_scripts, start=1)
    ]
    # The login part is no boot script: the boot section follows the template's scripts only.
    section = (
        boot_domain.initial(
            [
                (ref.script_id, ref.version, part.filename, boot.part_kind(part))
                for ref, part in zip(spec.boot_scripts, scripts_parts, strict=True)
            ]
        )
        if scripts_parts
        else None
    )
    parts = list(scripts_parts)
    if login_key is not None and Feature.USER_DATA in await clouds.features(cloud):
        parts.append(login.boot_part(login_key))
    data = boot.user_data(parts, user_data_limit(clouds, cloud)) if parts else None
    return LaunchPlan(
        template_id=template,
        template_version=n,
        image_id=image_id,
        flavor_id=flavor_id,
        key_name=spec.key_name,
        security_group_ids=spec.security_group_ids,
        zone=spec.zone,
        tags=spec.tags,
        user_data=data,
        inputs={name: r.shown() for name, r in draft.resolved.items()},
        boot=section,
    )


async def plan_launch(
    uow: Work,
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    template_id: str,
    version: int | None,
    server_inputs: Mapping[str, object],
    login_key: str | None = None,
) -> LaunchPlan:
    """Resolve a launch from a template on a cloud: its version (the default unless named), the image and flavor
    there, every input's value and level, and the boot user data (with `login_key` authorized for runs, where the
    cloud takes user data). Raises ValidationFailed (422) naming each problem
    before anything is recorded; a template, version or cloud the project does not have is a 422 naming its field."""
    async with uow.reading() as repos:
        draft = await draft_launch(
            repos,
            clouds,
            project_id=project_id,
            cloud_id=cloud_id,
            template_id=template_id,
            version=version,
            server_inputs=server_inputs,
        )
    return await plan(clouds, draft, login_key=login_key)


def user_data_limit(clouds: CloudDirectory, cloud: Cloud) -> int:
    """The most bytes of user data the cloud's adapter takes (its `user_data_limit`, else EC2's)."""
    limit = getattr(clouds.adapter_class(cloud.driver, cloud.id), "user_data_limit", DEFAULT_USER_DATA_LIMIT)
    return int(limit)


__all__ = [
    "DEFAULT_USER_DATA_LIMIT",
    "LaunchDraft",
    "LaunchPlan",
    "Work",
    "add_script_version",
    "add_template_version",
    "create_script",
    "create_template",
    "delete_script",
    "delete_script_version",
    "delete_template",
    "delete_template_version",
    "deprecate_script_version",
    "deprecate_template_version",
    "draft_launch",
    "get_script",
    "get_template",
    "page_scripts",
    "page_templates",
    "plan",
    "plan_launch",
    "script_version",
    "script_versions",
    "set_default_version",
    "template_version",
    "template_versions",
    "user_data_limit",
]
