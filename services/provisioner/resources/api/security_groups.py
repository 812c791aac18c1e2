"""Routes of security groups and their rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from kernel.authz import Operator, Reader
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import handlers
from services.provisioner.resources.api.common import (
    SEVERAL,
    WRITE,
    answer,
    get_route,
    new_router,
    page,
    ports_of,
    security_group_out,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import (
    SecurityGroupCreate,
    SecurityGroupOut,
    SecurityGroupState,
    SecurityRuleIn,
)
from services.provisioner.resources.security_rules import rule_from_dict
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/security-groups",
    status_code=201,
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Create a security group",
    responses=WRITE,
)
async def create_security_group(
    request: Request, response: Response, body: SecurityGroupCreate, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.create_security_group(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        description=body.description,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, security_group_out, created=True)


@router.get(
    "/security-groups", response_model=Page[SecurityGroupOut], tags=["security groups"], summary="List security groups"
)
async def list_security_groups(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SecurityGroupState] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
) -> Page[SecurityGroupOut]:
    flt = ResourceFilter(caller.project_id, "security_group", cloud_id=cloud_id, states=state or (), name=name)
    return await page(request, security_group_out, flt, paging)


get_route(
    router,
    "/security-groups/{group_id}",
    "security_group",
    security_group_out,
    SecurityGroupOut,
    name="get_security_group",
    tag="security groups",
)


@router.delete(
    "/security-groups/{group_id}",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Delete a security group (409 while instances that are not terminated use it)",
    responses=WRITE,
)
async def delete_security_group(
    request: Request, response: Response, group_id: str, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.delete_security_group(
        ports_of(request), project_id=caller.project_id, group_id=group_id, correlation_id=correlation_id()
    )
    return answer(response, outcome, security_group_out, created=False)


@router.post(
    "/security-groups/{group_id}/rules",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Authorize a rule (granting one the group has already changes nothing)",
    responses=WRITE,
)
async def authorize_rule(
    request: Request, response: Response, group_id: str, body: SecurityRuleIn, caller: Operator
) -> SecurityGroupOut:
    rule = rule_from_dict(body.model_dump())
    outcome = await handlers.authorize_rule(
        ports_of(request),
        project_id=caller.project_id,
        group_id=group_id,
        rule=rule,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, security_group_out, created=False)


@router.delete(
    "/security-groups/{group_id}/rules/{rule_id}",
    response_model=SecurityGroupOut,
    tags=["security groups"],
    summary="Revoke a rule, by the id the group lists it with",
    responses=WRITE,
)
async def revoke_rule(
    request: Request, response: Response, group_id: str, rule_id: str, caller: Operator
) -> SecurityGroupOut:
    outcome = await handlers.revoke_rule(
        ports_of(request),
        project_id=caller.project_id,
        group_id=group_id,
        rule_id=rule_id,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, security_group_out, created=False)


__all__ = ["router"]
