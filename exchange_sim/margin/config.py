"""A venue's margin rules as configuration: which asset margins, each instrument's brackets,
and how other assets count as collateral. Recorded in the journal header (``to_dict``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exchange_sim.margin.brackets import BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.units import UnitError, require_key


@dataclass(frozen=True, slots=True)
class MarginConfig:
    """Cross margin in ``settlement``; ``schedules`` gives every contract settled in it its
    brackets (instrument symbol, schedule); ``collateral`` the haircut of each other asset that
    counts (assets without a rule count for nothing). ``unrealized_profit_withdrawable``: whether
    unrealised profit counts toward what may be withdrawn (venues differ; the 2022 Mango Markets
    exploit withdrew borrowed funds against unrealised profit on a manipulated price)."""

    settlement: str
    schedules: tuple[tuple[str, BracketSchedule], ...]
    collateral: tuple[CollateralRule, ...] = ()
    unrealized_profit_withdrawable: bool = False
    check_orders: bool = False
    """The placement policy. False: orders are not margin-checked when placed, only their fills
    are. True: as dYdX does, each new order is also checked alone, as if it filled in full at its
    limit price (a market order at its band limit), without reserving anything for it; one that
    would not pass the fill-time rule is refused with ``INSUFFICIENT_MARGIN``."""

    def __post_init__(self) -> None:
        if not isinstance(self.check_orders, bool):
            raise UnitError(
                f"check_orders must be true or false, got {self.check_orders!r}",
                field="check_orders",
                expected="true or false",
            )

    def schedule_map(self) -> dict[str, BracketSchedule]:
        return dict(self.schedules)

    def rule_map(self) -> dict[str, CollateralRule]:
        return {rule.asset: rule for rule in self.collateral}

    def to_dict(self) -> dict[str, Any]:
        return {
            "settlement": self.settlement,
            "schedules": [[symbol, schedule.to_config()] for symbol, schedule in self.schedules],
            "collateral": [[rule.asset, rule.haircut_ppm] for rule in self.collateral],
            "unrealized_profit_withdrawable": self.unrealized_profit_withdrawable,
            "check_orders": self.check_orders,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarginConfig:
        what = "margin configuration"
        try:
            schedules = tuple(
                (symbol, BracketSchedule.from_config(schedule))
                for symbol, schedule in require_key(data, "schedules", what)
            )
            collateral = tuple(
                CollateralRule(asset, haircut) for asset, haircut in require_key(data, "collateral", what)
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, UnitError):
                raise
            raise UnitError(f"{what} is malformed: {exc}") from None
        withdrawable = data.get("unrealized_profit_withdrawable", False)
        if not isinstance(withdrawable, bool):
            raise UnitError(
                f"{what}: unrealized_profit_withdrawable must be true or false, got {withdrawable!r}",
                field="unrealized_profit_withdrawable",
                expected="true or false",
            )
        return cls(
            require_key(data, "settlement", what),
            schedules,
            collateral,
            withdrawable,
            data.get("check_orders", False),
        )
