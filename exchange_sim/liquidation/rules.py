"""Liquidation rule sets as data: what the engine does, stage by stage, and the shipped presets.

A :class:`RuleSet` is frozen configuration, carried in the venue's configuration (and so in the
journal header, so a replay liquidates by the same rules). A scenario names a preset and may
override fields (``docs/scenario-format.md``, ``[liquidation]``); ``docs/liquidation.md`` explains
each field with worked numbers and the sources each preset follows.

Presets (``PRESETS``; each has ``version`` 1 and changes only with a new version):

* ``"teaching"``: the simplest rules. No book: the insurance fund takes every position of an
  account below maintenance at its bankruptcy price (the account keeps nothing); a loss the fund
  cannot cover is shared pro rata among the opposite positions (deleveraging).
* ``"binance"``: Binance / BitMEX style. Open orders cancelled; the position is sold on the
  book no worse than its bankruptcy price, and everything left above bankruptcy goes to the
  insurance fund (Binance's "liquidation clearance fee"); what the book cannot absorb the fund
  takes at the bankruptcy price; when the fund cannot cover a loss, opposite positions are
  deleveraged in BitMEX's ranked queue.
* ``"dydx"``: dYdX v4 style. Orders cancelled; liquidation orders through the book, bounded by the
  fillable price; the liquidation fee (1.5% of notional at most, never more than what is left
  above bankruptcy) goes to the fund and the rest of the margin stays with the trader; a cap on
  notional liquidated per account and step; deleveraging of offsetting positions in pseudo-random
  order when the fund cannot cover; withdrawals gated while any account has negative equity.
* ``"hyperliquid"``: Hyperliquid style. Liquidation through the book, large positions 20% at a
  time; when equity falls below two thirds of maintenance, the backstop vault takes the position
  and the remaining margin; deleveraging ranked by profit and leverage.

Where the engine simplifies a venue's rules, ``docs/liquidation.md`` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any, Final

from exchange_sim.units import PPM, UnitError

__all__ = [
    "ADL_POLICIES",
    "ORDERS",
    "PARTIAL",
    "PRESETS",
    "TAKEOVERS",
    "WORST_PRICES",
    "RuleSet",
    "preset",
]

PARTIAL: Final = ("full", "restore", "fraction", "step_down")
"""How much a book liquidation step closes: everything; only enough to restore health; a fixed
fraction (``partial_ppm``) of positions above ``partial_min_notional``; enough to bring the
position's notional into the next lower bracket (BitMEX's risk-limit step-down; a position in the
lowest bracket is closed in full)."""
WORST_PRICES: Final = ("bankruptcy", "fillable")
"""The worst acceptable price of a liquidation order: the bankruptcy price, or dYdX's fillable
price (between the mark and the bankruptcy price)."""
TAKEOVERS: Final = ("fund", "backstop", "none")
"""Who takes what the book did not: the insurance fund at the bankruptcy price; the backstop
vault (position and remaining margin, below a fraction of maintenance); nobody (deleveraging)."""
ADL_POLICIES: Final = ("queue", "pro_rata", "random", "none")
"""How opposite positions are chosen for deleveraging."""
ORDERS: Final = ("proportional", "largest_maintenance", "most_liquid")
"""Which of a cross account's positions are liquidated first."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One liquidation rule set. Rates in ppm, amounts in settlement atoms, ``None`` = no limit.

    Attributes:
        name, version: what the rules are called and which revision (journaled).
        cancel_orders: stage 1, end the account's open orders and stops first.
        through_book: stage 2, liquidation orders on the book (else straight to stage 3).
        partial: ``"full"``, ``"restore"``, ``"fraction"`` or ``"step_down"`` (:data:`PARTIAL`).
        partial_ppm, partial_min_notional: for ``"fraction"``: the share of a position closed
            per step when its notional is at least ``partial_min_notional`` (smaller: in full).
        worst_price: ``"bankruptcy"`` or ``"fillable"`` (:data:`WORST_PRICES`).
        bankruptcy_adjustment_ppm: dYdX's fillable-price parameter (1000000 = 1).
        fee_ppm: liquidation fee rate, capped by what is left above bankruptcy.
        surplus_to_fund: everything above bankruptcy goes to the fund (Binance), not just the fee.
        max_notional_per_step: at most this much notional liquidated per account per step.
        max_fund_loss_per_step: the fund pays at most this much per account per step.
        takeover: ``"fund"``, ``"backstop"`` or ``"none"`` (:data:`TAKEOVERS`).
        backstop_fraction: the backstop takes over below this fraction of maintenance.
        adl: ``"queue"``, ``"pro_rata"``, ``"random"`` or ``"none"`` (:data:`ADL_POLICIES`).
        socialize: the last resort: a loss left after deleveraging is shared by profitable accounts.
        position_order: ``"proportional"``, ``"largest_maintenance"``, ``"most_liquid"`` (:data:`ORDERS`).
        max_liquidations_per_step: at most this many accounts liquidated per step (dYdX).
        gate_withdrawals: refuse withdrawals while any account has negative equity (dYdX).
    """

    name: str
    version: int = 1
    cancel_orders: bool = True
    through_book: bool = True
    partial: str = "full"
    partial_ppm: int = PPM
    partial_min_notional: int = 0
    worst_price: str = "bankruptcy"
    bankruptcy_adjustment_ppm: int = PPM
    fee_ppm: int = 0
    surplus_to_fund: bool = False
    max_notional_per_step: int | None = None
    max_fund_loss_per_step: int | None = None
    takeover: str = "fund"
    backstop_fraction: Fraction = Fraction(2, 3)
    adl: str = "queue"
    socialize: bool = False
    position_order: str = "largest_maintenance"
    max_liquidations_per_step: int | None = None
    gate_withdrawals: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (
            ("partial", PARTIAL),
            ("worst_price", WORST_PRICES),
            ("takeover", TAKEOVERS),
            ("adl", ADL_POLICIES),
            ("position_order", ORDERS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                options = ", ".join(f'"{a}"' for a in allowed)
                raise UnitError(
                    f"{name} must be one of {options}, got {value!r}", field=name, expected=options
                )
        if not isinstance(self.name, str) or not self.name:
            raise UnitError("a rule set needs a name", field="name", expected="a non-empty string")
        for name in (
            "version",
            "partial_ppm",
            "partial_min_notional",
            "bankruptcy_adjustment_ppm",
            "fee_ppm",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise UnitError(
                    f"{name} must be an integer >= 0, got {value!r}", field=name, expected="an integer >= 0"
                )
        if not 0 < self.partial_ppm <= PPM:
            raise UnitError(
                f"partial_ppm must be in 1..{PPM}, got {self.partial_ppm}",
                field="partial_ppm",
                expected=f"1..{PPM}",
            )
        if self.fee_ppm >= PPM:
            raise UnitError(
                f"fee_ppm must be below {PPM}, got {self.fee_ppm}", field="fee_ppm", expected=f"0..{PPM - 1}"
            )
        for name in ("max_notional_per_step", "max_fund_loss_per_step", "max_liquidations_per_step"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value <= 0):
                raise UnitError(
                    f"{name} must be a positive integer or None, got {value!r}",
                    field=name,
                    expected="an integer > 0",
                )
        fraction = self.backstop_fraction
        if not isinstance(fraction, Fraction) or not 0 < fraction <= 1:
            raise UnitError(
                f"backstop_fraction must be a Fraction in (0, 1], got {fraction!r}",
                field="backstop_fraction",
                expected="a fraction above 0 and at most 1",
            )
        for name in ("cancel_orders", "through_book", "surplus_to_fund", "socialize", "gate_withdrawals"):
            if type(getattr(self, name)) is not bool:
                raise UnitError(f"{name} must be true or false", field=name, expected="a boolean")

    def to_config(self) -> dict[str, Any]:
        """A msgpack-ready dict (the journal header); :meth:`from_config` reads it back."""
        data = asdict(self)
        data["backstop_fraction"] = [self.backstop_fraction.numerator, self.backstop_fraction.denominator]
        return data

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> RuleSet:
        values = dict(data)
        num, den = values.pop("backstop_fraction")
        return cls(backstop_fraction=Fraction(num, den), **values)

    def with_overrides(self, **changes: Any) -> RuleSet:
        """This rule set with some fields changed (validated again)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise UnitError(f"unknown rule-set field(s): {', '.join(unknown)}", field=unknown[0])
        return replace(self, **changes)


PRESETS: Final[dict[str, RuleSet]] = {
    "teaching": RuleSet(
        "teaching",
        cancel_orders=True,
        through_book=False,
        takeover="fund",
        adl="pro_rata",
        socialize=True,
        position_order="proportional",
    ),
    "binance": RuleSet(
        "binance",
        through_book=True,
        partial="full",
        worst_price="bankruptcy",
        surplus_to_fund=True,
        takeover="fund",
        adl="queue",
        position_order="largest_maintenance",
    ),
    "dydx": RuleSet(
        "dydx",
        through_book=True,
        partial="full",
        worst_price="fillable",
        bankruptcy_adjustment_ppm=PPM,
        fee_ppm=15_000,
        surplus_to_fund=False,
        takeover="none",
        adl="random",
        position_order="largest_maintenance",
        max_liquidations_per_step=None,
        gate_withdrawals=True,
    ),
    "hyperliquid": RuleSet(
        "hyperliquid",
        through_book=True,
        partial="fraction",
        partial_ppm=200_000,
        partial_min_notional=100_000_000_000,
        worst_price="bankruptcy",
        takeover="backstop",
        backstop_fraction=Fraction(2, 3),
        adl="queue",
        position_order="largest_maintenance",
    ),
}


def preset(name: str) -> RuleSet:
    """The preset called ``name``; :class:`~exchange_sim.units.UnitError` naming the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        names = ", ".join(f'"{n}"' for n in PRESETS)
        raise UnitError(
            f"unknown rule set {name!r}: the presets are {names}", field="rules", expected=names
        ) from None
