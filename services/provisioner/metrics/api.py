"""`POST /v1/metrics`: agents and applications push custom samples. Reached only through the gateway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kernel.authz import Operator
from kernel.http import Routes, answer, problem_responses
from services.provisioner.metrics import handlers
from services.provisioner.metrics.schemas import MetricsAccepted, MetricsIn
from services.provisioner.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "metrics")


@routes.post(
    "/metrics",
    MetricsAccepted,
    "Push metric samples",
    status=202,
    problems=(403, 429),
    description="At most 1000 samples, each of one of the project's instances (`instance_id`; another id is a 422 "
    "naming `body.samples.<i>.instance_id`) or of nothing; `at` defaults to now and may be at most 5 minutes ahead "
    "and 1 hour old. They are published as one `metrics.sampled` event (source `agent`) that the scaler and failover "
    "read. Each project may push `CLANAVI_PROVISIONER_METRICS_PUSH_RATE` times a second (bursts of "
    "`..._PUSH_BURST`); beyond, 429 with `Retry-After`.",
)
async def push_metrics(request: Request, body: MetricsIn, caller: Operator) -> Response:
    limit: handlers.PushLimit = request.app.state.push_limit
    limit.take(caller.project_id)
    samples = [handlers.Pushed(s.name, s.value, s.unit, s.at, s.instance_id, dict(s.labels)) for s in body.samples]
    accepted = await handlers.push(uow_of(request), project_id=caller.project_id, samples=samples)
    return answer(MetricsAccepted(accepted=accepted), status=202)


__all__ = ["router"]
