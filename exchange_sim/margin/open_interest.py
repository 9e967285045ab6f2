"""Open-interest-dependent initial margin: the initial rate rises toward 100% as a market grows.

dYdX v4 scales each market's initial margin fraction (IMF) with the market's *open notional*, the
open interest (total size of the open long positions) valued at the oracle price. Below a lower
cap the base IMF applies; between the lower and the upper cap the IMF rises linearly toward 100%;
from the upper cap on it is 100% (1:1 collateral). The maintenance fraction does not change.
In dYdX's words::

    open_notional  = open_interest x oracle_price
    scaling_factor = (open_notional - lower_cap) / (upper_cap - lower_cap)
    IMF_increase   = scaling_factor x (1 - base_IMF)
    effective_IMF  = min(base_IMF + max(IMF_increase, 0), 100%)

Sources (learned from these pages, no code taken from them):

* dYdX, "Open Interest Initial Margin Fraction" (the four formulas above; the caps belong to the
  market's liquidity tier; the maintenance fraction is not affected):
  https://help.dydx.trade/en/articles/228341-open-interest-initial-margin-fraction
* dYdX v4 chain, ``proto/dydxprotocol/perpetuals/perpetual.proto``: ``LiquidityTier``'s
  ``open_interest_lower_cap`` / ``open_interest_upper_cap`` "in quote quantums" ("IMF is not
  affected when OI <= open_interest_lower_cap"), and ``Perpetual.open_interest``, the "total size
  of open long contracts": https://github.com/dydxprotocol/v4-chain

Here the base requirement of a position is its bracket initial requirement
(:mod:`exchange_sim.margin.brackets`), an amount rather than a rate, so the rule is written on
amounts. With ``r = initial / notional`` the position's base rate and ``f`` the clamped scaling
factor, ``notional x (r + (1 - r) x f)`` is::

    f        = clamp((oi_notional - lower) / (upper - lower), 0, 1)      an exact fraction
    required = initial + ceil((notional - initial) x f)

``f`` is never rounded; the add-on is rounded once, up, because a requirement is charged to the
account (DESIGN.md, "Units and numbers"). With a single bracket this is dYdX's effective IMF
applied to the position, up to that one rounding; with several brackets every band's rate is
raised the same way. No float enters.

Units: every argument is in settlement atoms. ``oi_notional`` is the instrument's open interest
in lots x mark in ticks x ``atoms_per_tick_per_lot`` (:class:`~exchange_sim.margin.cross.CrossMargin`
computes it from :attr:`exchange_sim.ledger.Ledger.open_interest`).

>>> caps = OpenInterestCaps(lower=100_000, upper=200_000)
>>> scaled_initial(900, 9_000, 90_000, caps)       # below the lower cap: the base requirement
900
>>> scaled_initial(900, 9_000, 150_000, caps)      # midway, f = 1/2: 900 + 8,100 / 2
4950
>>> scaled_initial(900, 9_000, 200_000, caps)      # at the upper cap: 100%, the whole notional
9000
>>> scaled_initial(900, 9_000, 125_001, caps)      # f = 25,001/100,000: 900 + 2,025.081, rounded up
2926
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exchange_sim.units import UnitError

CAP_EXPECTED = "an integer number of settlement-asset atoms, 0 or more"
"""A valid ``lower`` cap, in words."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class OpenInterestCaps:
    """The open-notional caps of one instrument, in settlement atoms (dYdX's liquidity tier
    ``open_interest_lower_cap`` and ``open_interest_upper_cap``).

    At or below ``lower`` the initial requirement is the brackets'; at or above ``upper`` it is the
    whole notional; in between it rises linearly (see the module docstring).

    Validated on construction: both are integers (not bools), ``0 <= lower < upper``. A violation
    raises :class:`~exchange_sim.units.UnitError` with ``field`` ``"lower"`` or ``"upper"``.
    """

    lower: int
    upper: int

    def __post_init__(self) -> None:
        if not _is_int(self.lower) or self.lower < 0:
            raise UnitError(
                f"open interest lower cap must be an integer number of atoms >= 0, got {self.lower!r}",
                field="lower",
                expected=CAP_EXPECTED,
                got=self.lower,
            )
        if not _is_int(self.upper) or self.upper <= self.lower:
            raise UnitError(
                f"open interest upper cap must be an integer number of atoms above the lower cap"
                f" {self.lower}, got {self.upper!r}",
                field="upper",
                expected=f"an integer number of settlement-asset atoms above the lower cap ({self.lower})",
                got=self.upper,
            )

    def to_config(self) -> dict[str, int]:
        """``{"lower": ..., "upper": ...}``; :meth:`from_config` inverts it."""
        return {"lower": self.lower, "upper": self.upper}

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> OpenInterestCaps:
        """Rebuild caps from :meth:`to_config` output; a malformed value raises ``UnitError``."""
        if not isinstance(data, Mapping) or set(data) != {"lower", "upper"}:
            raise UnitError(
                f"open interest caps must be a mapping with keys lower and upper, got {data!r}",
                field="open_interest_caps",
                expected='{"lower": atoms, "upper": atoms}',
            )
        return cls(data["lower"], data["upper"])


def scaled_initial(initial: int, notional: int, oi_notional: int, caps: OpenInterestCaps) -> int:
    """The initial requirement of a position with the open-interest add-on, in atoms.

    ``initial + ceil((notional - initial) x f)`` with
    ``f = clamp((oi_notional - caps.lower) / (caps.upper - caps.lower), 0, 1)`` as an exact
    fraction (see the module docstring). ``initial`` is the position's base (bracket) initial
    requirement and ``notional`` its absolute value, both in atoms with ``0 <= initial <=
    notional``; ``oi_notional`` is the instrument's open interest valued at the mark, in atoms.
    O(1), not validated (the risk gate's hot path).
    """
    lower = caps.lower
    if oi_notional <= lower:
        return initial
    span = caps.upper - lower
    excess = oi_notional - lower
    if excess >= span:
        return notional
    # initial + ceil(a / b) == initial - floor(-a / b): one exact division, rounded up
    return initial - ((initial - notional) * excess // span)
