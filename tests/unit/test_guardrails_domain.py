"""The guard-rails' rules, pure: what a launch adds against each quota, required tags, lifetimes and their cap,
when approval is needed, which expiry warnings are due, how a change is described."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kernel.errors import ValidationFailed
from services.provisioner.guardrails import domain
from services.provisioner.guardrails.domain import Demand, Guardrails, Usage

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def demand(**fields: object) -> Demand:
    base: dict[str, object] = {"vcpus": 2, "monthly": Decimal("14.60"), "currency": "USD", "tags": {}}
    return Demand(**{**base, **fields})  # type: ignore[arg-type]


def test_nothing_set_allows_everything_and_needs_nothing() -> None:
    verdict = domain.judge(Guardrails("p"), Usage(instances=500, vcpus=4000), demand(), now=NOW)
    assert verdict.allowed and verdict.quotas == () and not verdict.needs_approval and verdict.expires_at is None


def test_each_quota_names_its_limit_what_is_used_and_what_the_launch_adds() -> None:
    rails = Guardrails("p", max_instances=3, max_vcpus=8, max_monthly_cost=Decimal(40), currency="USD")
    usage = Usage(instances=3, vcpus=6, monthly=Decimal("29.20"))

    verdict = domain.judge(rails, usage, demand(), now=NOW)

    assert [(q.quota, q.limit, q.used, q.adds, q.exceeded) for q in verdict.quotas] == [
        ("max_instances", 3, 3, 1, True),
        ("max_vcpus", 8, 6, 2, False),
        ("max_monthly_cost", Decimal(40), Decimal("29.20"), Decimal("14.60"), True),
    ]
    assert [q.quota for q in verdict.exceeded] == ["max_instances", "max_monthly_cost"]
    assert not verdict.allowed


def test_a_launch_exactly_at_the_limit_fits() -> None:
    rails = Guardrails("p", max_vcpus=8)
    assert domain.judge(rails, Usage(vcpus=6), demand(vcpus=2), now=NOW).allowed
    assert not domain.judge(rails, Usage(vcpus=7), demand(vcpus=2), now=NOW).allowed


def test_what_has_no_price_in_the_guard_rails_currency_counts_zero_and_the_verdict_says_so() -> None:
    rails = Guardrails("p", max_monthly_cost=Decimal(10), currency="EUR", approval_threshold=Decimal(1))
    verdict = domain.judge(rails, Usage(unpriced=2), demand(currency="USD"), now=NOW)

    assert verdict.quotas[0].adds == 0 and verdict.allowed and not verdict.needs_approval
    assert verdict.notes == (
        "2 counted instance(s) have no price in EUR: counted 0",
        "the launch has no price in EUR: it costs 0 here",
    )


def test_required_tags_are_named_when_missing_or_not_allowed() -> None:
    rails = Guardrails("p", required_tags={"owner": (), "env": ("dev", "prod")})

    verdict = domain.judge(rails, Usage(), demand(tags={"env": "test"}), now=NOW)

    assert list(verdict.problems) == [
        {"location": "body.tags.env", "message": "one of dev, prod"},
        {"location": "body.tags.owner", "message": "tag owner is required in this project"},
    ]
    assert domain.judge(rails, Usage(), demand(tags={"env": "dev", "owner": "ann"}), now=NOW).allowed


def test_a_launch_costing_more_than_the_threshold_needs_approval() -> None:
    rails = Guardrails("p", approval_threshold=Decimal("14.60"), currency="USD")
    assert not domain.judge(rails, Usage(), demand(), now=NOW).needs_approval
    assert domain.judge(rails, Usage(), demand(monthly=Decimal("14.61")), now=NOW).needs_approval


def test_the_lifetime_is_the_cap_unless_the_launch_asks_for_less_and_never_more() -> None:
    rails = Guardrails("p", max_lifetime_hours=48, expiry_action="terminate", expiry_warnings=(24.0, 1.0))

    capped = domain.judge(rails, Usage(), demand(), now=NOW)
    shorter = domain.judge(rails, Usage(), demand(lifetime_hours=2.5), now=NOW)
    longer = domain.judge(rails, Usage(), demand(expires_at=NOW + timedelta(hours=49)), now=NOW)
    past = domain.judge(rails, Usage(), demand(expires_at=NOW - timedelta(seconds=1)), now=NOW)

    assert (capped.expires_at, capped.expiry_action, capped.expiry_warnings) == (
        NOW + timedelta(hours=48),
        "terminate",
        (24.0, 1.0),
    )
    assert shorter.expires_at == NOW + timedelta(hours=2.5)
    assert list(longer.problems) == [{"location": "body.expires_at", "message": "at most 48 hours in this project"}]
    assert list(past.problems) == [{"location": "body.expires_at", "message": "must be in the future"}]
    # With no cap, a launch may still give itself a lifetime.
    own = domain.judge(Guardrails("p"), Usage(), demand(lifetime_hours=1), now=NOW)
    assert (own.expires_at, own.expiry_action) == (NOW + timedelta(hours=1), "stop")


def test_warnings_fall_due_one_by_one() -> None:
    end = NOW + timedelta(hours=30)
    warnings = (24.0, 1.0)
    assert domain.warnings_due(end, warnings, NOW) == 0
    assert domain.warnings_due(end, warnings, NOW + timedelta(hours=6)) == 1
    assert domain.warnings_due(end, warnings, NOW + timedelta(hours=29, minutes=30)) == 2


def test_an_extension_stays_within_the_cap_counted_from_the_launch() -> None:
    rails = Guardrails("p", max_lifetime_hours=10)
    launched = NOW - timedelta(hours=8)
    assert domain.extended_until(rails, created_at=launched, now=NOW, until=NOW + timedelta(hours=2)) == []
    assert domain.extended_until(rails, created_at=launched, now=NOW, until=NOW + timedelta(hours=3)) == [
        {"location": "body.expires_at", "message": "at most 10 hours after the launch in this project"}
    ]
    assert domain.extended_until(rails, created_at=launched, now=NOW, until=NOW)[0]["message"] == (
        "must be in the future"
    )


def test_settings_that_do_not_fit_together_are_refused_by_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.checked(Guardrails("p", approval_threshold=Decimal(5), expiry_warnings=(1.0,)))
    assert [e["location"] for e in refused.value.extensions["errors"]] == ["body.currency", "body.expiry_warnings"]
    with pytest.raises(ValidationFailed) as too_late:
        domain.checked(Guardrails("p", max_lifetime_hours=4, expiry_warnings=(1.0, 4.0)))
    assert too_late.value.extensions["errors"] == [
        {"location": "body.expiry_warnings.1", "message": "must be shorter than max_lifetime_hours"}
    ]
    assert domain.checked(Guardrails("p", max_lifetime_hours=48, expiry_warnings=(1.0, 24.0))).expiry_warnings == (
        24.0,
        1.0,
    )


def test_a_change_names_each_setting_from_and_to() -> None:
    before = Guardrails("p", max_instances=3)
    after = Guardrails("p", max_instances=5, max_monthly_cost=Decimal("99.5"), currency="EUR", version=2)
    assert domain.changes(before, after) == {
        "max_instances": {"from": 3, "to": 5},
        "max_monthly_cost": {"from": None, "to": "99.5"},
        "currency": {"from": None, "to": "EUR"},
    }
