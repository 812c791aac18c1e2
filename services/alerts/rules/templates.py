"""A template version's alert specs become rules on its servers: the first launch from the version (its
`instance.requested`) makes one rule per valid spec, scoped to the servers of that template version, unless the
project already has a rule of that name. A spec is an alert rule's body (its `scope` is the template's servers);
one that is not a valid body, or names a channel the project does not have, is left out and logged."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from pydantic import ValidationError

from kernel.unit_of_work import Chained, Transaction
from services.alerts.rules.domain import Rule, Scope
from services.alerts.rules.specs import RULE_BODY, spec_of
from services.alerts.unit_of_work import Repositories

log = logging.getLogger(__name__)


def rule_name(spec_name: str, template_id: str, version: int) -> str:
    return f"{spec_name}-tpl-{template_id[:8]}-v{version}"[:100]


async def rules_for_launch(
    tx: Transaction[Repositories], project_id: str, template_id: str, version: int, origin: Chained
) -> list[Rule]:
    found = await tx.repos.knowledge.template_alerts(project_id, template_id, version)
    if found is None:
        return []
    _, specs = found
    made = []
    now = datetime.now(UTC)
    for raw in specs:
        if not isinstance(raw, dict):
            continue
        name = rule_name(str(raw.get("name", "alert")), template_id, version)
        try:
            # The scope is the template version's servers, whatever the spec says.
            body = RULE_BODY.validate_python({**{k: v for k, v in raw.items() if k != "scope"}, "name": name})
        except ValidationError as exc:
            log.warning("template %s v%s: an alert spec is not a rule body: %s", template_id, version, exc)
            continue
        spec = spec_of(body)
        known = await tx.repos.channels.existing(project_id, spec.channel_ids)
        if set(spec.channel_ids) - known:
            log.warning("template %s v%s: alert spec %s names unknown channels", template_id, version, name)
            continue
        scope = Scope(template_id=template_id, template_version=version)
        rule = Rule(
            id=str(uuid.uuid4()),
            project_id=project_id,
            name=name,
            kind=spec.kind,
            severity=spec.severity,
            condition=replace(spec.condition, scope=scope),
            channel_ids=spec.channel_ids,
            routing=spec.routing,
            correlation_id=origin.correlation_id,
            created_at=now,
            updated_at=now,
        )
        if await tx.repos.rules.add(rule):
            made.append(rule)
    return made


__all__ = ["rule_name", "rules_for_launch"]
