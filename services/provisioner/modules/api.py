"""Routes of the adapter modules: list them, enable or disable one (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kernel.authz import Admin
from kernel.http import Routes, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.modules import handlers as modules
from services.provisioner.schemas import ListOf, ModuleOut, ModuleUpdate
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", tags=["modules"], responses=problem_responses(401, 422))
routes = Routes(router)


def module_out(view: modules.ModuleView) -> ModuleOut:
    module = view.module
    return ModuleOut(
        name=view.name,
        source=module.source if module is not None else "missing",
        distribution=module.distribution if module is not None else None,
        version=module.version if module is not None else None,
        enabled=view.enabled,
        available=view.available,
        reason=view.reason,
        features=list(view.features),
        cloud_ids=list(view.cloud_ids),
    )


@routes.get(
    "/modules",
    ListOf[ModuleOut],
    "The adapter modules: built in or plugins, enabled, available, features, and the accounts using each",
    problems=(403,),
)
async def list_modules(request: Request, caller: Admin) -> ListOf[ModuleOut]:
    views = await modules.list_modules(uow_of(request), clouds_of(request))
    return ListOf[ModuleOut](items=[module_out(v) for v in views])


@routes.get("/modules/{name}", ModuleOut, "One adapter module", problems=(403, 404))
async def get_module(request: Request, name: str, caller: Admin) -> ModuleOut:
    return module_out(await modules.get_module(uow_of(request), clouds_of(request), name))


@routes.put(
    "/modules/{name}",
    ModuleOut,
    "Enable or disable an adapter module at runtime",
    problems=(403, 404, 409),
    description="A disabled module's cloud accounts answer 409 `module_disabled` to anything that calls the cloud; "
    "their pending work waits and resumes when the module is enabled again. The state survives restarts. A module "
    "that cannot be loaded here (`available` false: a built-in one whose cloud SDK's extra is not installed, a "
    "broken plugin) cannot be enabled: 409 `module_unavailable` says why and names the extra.",
)
async def put_module(request: Request, name: str, body: ModuleUpdate, caller: Admin) -> ModuleOut:
    view = await modules.set_enabled(
        uow_of(request),
        clouds_of(request),
        name,
        enabled=body.enabled,
        correlation_id=correlation_id(),
    )
    return module_out(view)


__all__ = ["router"]
