"""Budgets and their rules: a monthly amount over a scope (the project, a tag, a cluster), thresholds on the actual
and the forecast spend, and what crossing one does; no I/O. Amounts are `Decimal`: never a float."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from kernel.events import BudgetScope

Basis = Literal["actual", "forecast"]
Action = Literal["notify", "block_launches", "stop_servers"]
# A server with this tag set to "true" is never stopped by a budget.
PROTECTED_TAG = "clanavi:protected"
# Forecasts are not made from less of the month than this: an hour's spend says little about a month's.
_LEAST_ELAPSED = timedelta(hours=1)

# ISO 4217 codes of the currencies in use.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
    VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


@dataclass(frozen=True)
class Threshold:
    percent: int
    basis: Basis = "actual"
    actions: tuple[Action, ...] = ("notify",)

    @property
    def key(self) -> str:
        return f"{self.basis}:{self.percent}"

    def as_json(self) -> dict[str, object]:
        return {"percent": self.percent, "basis": self.basis, "actions": list(self.actions)}

    @staticmethod
    def from_json(data: dict[str, object]) -> Threshold:
        return Threshold(int(data["percent"]), data["basis"], tuple(data["actions"]))  # type: ignore[arg-type, call-overload]


@dataclass(frozen=True)
class Budget:
    id: str
    project_id: str
    name: str
    scope: BudgetScope
    amount: Decimal
    currency: str
    thresholds: tuple[Threshold, ...]
    created_at: datetime
    updated_at: datetime
    correlation_id: str
    # The month the thresholds crossed are of, and their keys ("actual:80").
    period: str = ""
    crossed: tuple[str, ...] = ()
    launches_blocked: bool = False
    last_event_id: str | None = None

    def blocks(self) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if "block_launches" in t.actions)


def period_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def month_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = (int(p) for p in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    days = calendar.monthrange(year, month)[1]
    return start, start + timedelta(days=days)


def forecast(spent: Decimal, now: datetime) -> Decimal:
    """The month's spend if it goes on as it went so far (a straight line through the month)."""
    start, end = month_bounds(period_of(now))
    elapsed = max(now - start, _LEAST_ELAPSED)
    share = Decimal((end - start).total_seconds()) / Decimal(elapsed.total_seconds())
    return (spent * share).quantize(Decimal("1e-6"))


@dataclass(frozen=True)
class Judgement:
    """What a budget's spend now calls for."""

    crossed: tuple[Threshold, ...] = ()
    block: bool = False
    unblock: bool = False
    stop: bool = False
    new_period: bool = False
    keys: tuple[str, ...] = field(default=())


def judge(budget: Budget, spent: Decimal, projected: Decimal, period: str) -> Judgement:
    """The thresholds newly crossed in `period` (each once a month), and whether launches are now to be blocked or
    unblocked: blocked while a block_launches threshold is crossed in the month, unblocked when none is (the amount
    raised, the threshold removed, a new month)."""
    new_period = budget.period != period
    already = set() if new_period else set(budget.crossed)
    crossed = []
    for t in budget.thresholds:
        value = spent if t.basis == "actual" else projected
        if t.key not in already and value * 100 >= budget.amount * t.percent:
            crossed.append(t)
    over = {
        t.key
        for t in budget.thresholds
        if (spent if t.basis == "actual" else projected) * 100 >= budget.amount * t.percent
    }
    keys = tuple(sorted(already & over | {t.key for t in crossed}))
    should_block = any(t.key in keys for t in budget.blocks())
    return Judgement(
        crossed=tuple(crossed),
        block=should_block and not budget.launches_blocked,
        unblock=budget.launches_blocked and not should_block,
        stop=any("stop_servers" in t.actions for t in crossed),
        new_period=new_period,
        keys=keys,
    )


__all__ = [
    "CURRENCIES",
    "PROTECTED_TAG",
    "Action",
    "Basis",
    "Budget",
    "Judgement",
    "Threshold",
    "forecast",
    "judge",
    "month_bounds",
    "period_of",
]
