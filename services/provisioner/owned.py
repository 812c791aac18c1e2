"""What a project owns, looked up by id: the one way a request reaches a record.

A use case acting for a project looks up every id it was given (in the path, in the body, in a filter) here, before
any other check: the record's state, whether something uses it, a call to its cloud, a validation that names it.
Every query here carries the project, so another project's id is answered exactly as an id nobody has: the checks
that could tell them apart never see another project's record.

An id named in a path is answered with 404 `not_found`; one named in a body (`named_in`, its location) with 422
`validation_failed` naming the field, since the request itself is then what is wrong.
"""

from __future__ import annotations

from kernel.errors import ClanaviError, NotFound, ValidationFailed
from services.provisioner.clouds.domain import Cloud
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.inventory.domain import SyncRun
from services.provisioner.resources.domain import Kind, ResourceRecord, label
from services.provisioner.unit_of_work import Repositories


def missing(what: str, given: str, named_in: str | None = None) -> ClanaviError:
    """The answer for an id the project has no record of, whether somebody else has one or nobody."""
    detail = f"{what.capitalize()} {given} does not exist."
    if named_in is None:
        return NotFound(detail)
    return ValidationFailed(detail, errors=[{"location": named_in, "message": f"unknown {what}"}])


async def cloud(repos: Repositories, project_id: str, cloud_id: str, *, named_in: str | None = None) -> Cloud:
    found = await repos.clouds.get(project_id, cloud_id)
    if found is None:
        raise missing("cloud", cloud_id, named_in)
    return found


async def instance(
    repos: Repositories, project_id: str, instance_id: str, *, named_in: str | None = None
) -> InstanceRecord:
    record = await repos.instances.get(project_id, instance_id)
    if record is None:
        raise missing("instance", instance_id, named_in)
    return record


async def resource(
    repos: Repositories, project_id: str, kind: Kind, resource_id: str, *, named_in: str | None = None
) -> ResourceRecord:
    record = await repos.resources.get(project_id, kind, resource_id)
    if record is None:
        raise missing(label(kind), resource_id, named_in)
    return record


async def sync_run(repos: Repositories, project_id: str, cloud_id: str, run_id: str) -> SyncRun:
    """A run of one of the project's clouds (look the cloud up first: an unknown cloud is the answer then)."""
    run = await repos.inventory.get_run(project_id, cloud_id, run_id)
    if run is None:
        raise NotFound(f"Sync {run_id} of cloud {cloud_id} does not exist.")
    return run


__all__ = ["cloud", "instance", "missing", "resource", "sync_run"]
