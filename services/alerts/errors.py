"""The alerts service's refusals, in the words a user reads."""

from __future__ import annotations

from kernel.errors import Conflict, NotFound, ValidationFailed


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(f"No alert rule {rule_id} in this project.")


def alert_not_found(alert_id: str) -> NotFound:
    return NotFound(f"No alert {alert_id} in this project.")


def channel_not_found(channel_id: str) -> NotFound:
    return NotFound(f"No notification channel {channel_id} in this project.")


def silence_not_found(silence_id: str) -> NotFound:
    return NotFound(f"No silence {silence_id} in this project.")


def channel_in_use(channel: str, rules: list[str], total: int) -> Conflict:
    more = f" and {total - len(rules)} more" if total > len(rules) else ""
    return Conflict(
        f"The notification channel {channel} is used by the alert rules {', '.join(rules)}{more}: take it out of "
        "them (or delete them) first."
    )


def name_taken(what: str, name: str) -> Conflict:
    return Conflict(f"The project already has {what} named {name}.")


def unknown_metric(metric: str) -> ValidationFailed:
    return ValidationFailed(
        f"No one publishes the metric {metric} in this project: it is not a cloud metric and was never pushed.",
        errors=[{"location": "body.metric", "message": "unknown metric", "type": "unknown_metric"}],
    )


def unknown_channels(missing: list[str]) -> ValidationFailed:
    return ValidationFailed(
        f"No notification channel {', '.join(missing)} in this project.",
        errors=[{"location": "body.channel_ids", "message": "unknown channel", "type": "unknown_channel"}],
    )


__all__ = [
    "alert_not_found",
    "channel_in_use",
    "channel_not_found",
    "name_taken",
    "rule_not_found",
    "silence_not_found",
    "unknown_channels",
    "unknown_metric",
]
