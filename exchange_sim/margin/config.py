"""A venue's margin rules as configuration: which asset margins, each instrument's brackets,
and how other assets count as collateral. Recorded in the journal header (``to_dict``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exchange_sim.margin.brackets import BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.margin.dynamic import DynamicMargin
from exchange_sim.margin.open_interest import OpenInterestCaps
from exchange_sim.margin.portfolio import PortfolioRules
from exchange_sim.units import UnitError, require_key

PLACEMENT_FILLS, PLACEMENT_CHECK, PLACEMENT_RESERVE = "fills", "check", "reserve"
PLACEMENTS = (PLACEMENT_FILLS, PLACEMENT_CHECK, PLACEMENT_RESERVE)
MODE_CROSS, MODE_ISOLATED, MODE_PORTFOLIO = "cross", "isolated", "portfolio"
MODES = (MODE_CROSS, MODE_ISOLATED, MODE_PORTFOLIO)


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
    placement: str = PLACEMENT_FILLS
    """The order-placement policy (``docs/margin.md``, "Order placement"):

    * ``"fills"``: orders are not margin-checked when placed; only their fills are.
    * ``"check"``: as dYdX does, each new order is also checked alone, as if it filled in full at
      its limit price (a market order at its band limit), without reserving anything for it.
    * ``"reserve"``: as Binance and BitMEX do, initial margin is reserved for resting orders (the
      worse side per instrument) and a new order must fit in what is left.

    An order refused by either is rejected with ``INSUFFICIENT_MARGIN``."""
    mode: str = MODE_CROSS
    """The default margin mode of accounts: ``"cross"`` pools everything an account holds;
    ``"isolated"`` gives each contract position its own collateral; ``"portfolio"`` pools like
    cross but charges one requirement from the whole portfolio under stress (``portfolio`` rules
    needed). An account may override it when opened."""
    open_interest_caps: tuple[tuple[str, OpenInterestCaps], ...] = ()
    """(instrument symbol, caps) of each contract whose initial requirement grows with its open
    interest, as dYdX v4 does (``exchange_sim/margin/open_interest.py``); each such instrument
    has brackets. Instruments not listed: the brackets alone."""

    portfolio: PortfolioRules | None = None
    """Portfolio-margin rules (``docs/portfolio-margin.md``): needed by accounts in the
    ``"portfolio"`` mode; every margined contract's underlying must be among their underlyings."""
    dynamic: DynamicMargin | None = None
    """Dynamic margin (``exchange_sim/margin/dynamic.py``): rates that follow realised volatility;
    ``None``: the configured rates always apply."""

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise UnitError(
                f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}",
                field="placement",
                expected=f"one of {', '.join(repr(p) for p in PLACEMENTS)}",
            )
        if self.mode not in MODES:
            raise UnitError(
                f"mode must be one of {', '.join(MODES)}, got {self.mode!r}",
                field="mode",
                expected=f"one of {', '.join(repr(m) for m in MODES)}",
            )
        if self.open_interest_caps != ():
            _check_caps(self.open_interest_caps, self.schedules)
        if self.portfolio is not None and not isinstance(self.portfolio, PortfolioRules):
            raise UnitError("portfolio must be PortfolioRules", field="portfolio")
        if self.dynamic is not None and not isinstance(self.dynamic, DynamicMargin):
            raise UnitError("dynamic must be DynamicMargin", field="dynamic")
        if self.mode == MODE_PORTFOLIO and self.portfolio is None:
            raise UnitError(
                'mode "portfolio" needs portfolio rules',
                field="mode",
                expected='"cross" or "isolated", or portfolio rules with "portfolio"',
            )
        if self.portfolio is not None and self.placement == PLACEMENT_RESERVE:
            raise UnitError(
                'placement "reserve" is not available with portfolio margin (reservations are per'
                " position, the portfolio requirement is not)",
                field="placement",
                expected='"fills" or "check" with portfolio rules',
            )

    def schedule_map(self) -> dict[str, BracketSchedule]:
        return dict(self.schedules)

    def rule_map(self) -> dict[str, CollateralRule]:
        return {rule.asset: rule for rule in self.collateral}

    def to_dict(self) -> dict[str, Any]:
        data = {
            "settlement": self.settlement,
            "schedules": [[symbol, schedule.to_config()] for symbol, schedule in self.schedules],
            "collateral": [[rule.asset, rule.haircut_ppm] for rule in self.collateral],
            "unrealized_profit_withdrawable": self.unrealized_profit_withdrawable,
            "placement": self.placement,
            "mode": self.mode,
            "open_interest_caps": [[symbol, caps.to_config()] for symbol, caps in self.open_interest_caps],
        }
        # written only when set, so that journals of venues without them keep their bytes
        if self.portfolio is not None:
            data["portfolio"] = self.portfolio.to_config()
        if self.dynamic is not None:
            data["dynamic"] = self.dynamic.to_config()
        return data

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
            data.get("placement", PLACEMENT_FILLS),
            data.get("mode", MODE_CROSS),
            _caps_from_config(data.get("open_interest_caps", []), what),
            None if data.get("portfolio") is None else PortfolioRules.from_config(data["portfolio"]),
            None if data.get("dynamic") is None else DynamicMargin.from_config(data["dynamic"]),
        )


def _check_caps(caps: object, schedules: object) -> None:
    """``open_interest_caps`` is a tuple of (symbol, OpenInterestCaps) pairs, one per instrument,
    each instrument one with brackets in ``schedules``."""
    rows = schedules if isinstance(schedules, tuple | list) else ()
    bracketed = {entry[0] for entry in rows if isinstance(entry, tuple) and entry}
    expected = "a tuple of (instrument symbol, OpenInterestCaps) pairs, for instruments with brackets"
    if not isinstance(caps, tuple):
        raise UnitError(
            f"open_interest_caps must be a tuple, got {type(caps).__name__}",
            field="open_interest_caps",
            expected=expected,
        )
    seen: set[str] = set()
    for entry in caps:
        if not (
            isinstance(entry, tuple)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], OpenInterestCaps)
        ):
            raise UnitError(
                f"open_interest_caps entry must be (symbol, OpenInterestCaps), got {entry!r}",
                field="open_interest_caps",
                expected=expected,
            )
        symbol = entry[0]
        if symbol in seen or symbol not in bracketed:
            why = "listed twice" if symbol in seen else "an instrument without brackets"
            raise UnitError(
                f"open_interest_caps for {symbol!r}: {why}",
                field="open_interest_caps",
                expected=expected + ", each at most once",
            )
        seen.add(symbol)


def _caps_from_config(rows: object, what: str) -> tuple[tuple[str, OpenInterestCaps], ...]:
    if not isinstance(rows, list | tuple):
        raise UnitError(
            f"{what}: open_interest_caps must be a list, got {type(rows).__name__}",
            field="open_interest_caps",
            expected="a list of [symbol, {lower, upper}] pairs",
        )
    out = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) != 2 or not isinstance(row[0], str):
            raise UnitError(
                f"{what}: open_interest_caps entry must be [symbol, {{lower, upper}}], got {row!r}",
                field="open_interest_caps",
                expected="a list of [symbol, {lower, upper}] pairs",
            )
        out.append((row[0], OpenInterestCaps.from_config(row[1])))
    return tuple(out)
