"""Accounts and positions: balances per asset in atoms, signed positions with a cost basis.

Cash-flow accounting (DESIGN.md, "Money"): a trade moves its full quote amount between the
buyer's and the seller's balances, so a long position bought for 30,000 USDC leaves the buyer's
USDC balance 30,000 lower. Nothing else holds money. Equity at a mark is derived:

    equity = balance + sum over positions of size x mark x atoms_per_tick_per_lot

and because positions net to zero across accounts, the sum of all equities at any common mark
equals the sum of all balances. A position's *cost basis* is the signed quote amount paid for the
open size, so its entry price is ``cost / size`` (a derived, exact fraction of ticks).
Realised PnL is a view kept per position: it moves no money.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FEE_ACCOUNT = "@fees"
"""System account that receives trading fees and pays maker rebates."""

SYSTEM_PREFIX = "@"
"""Ids starting with this are venue-owned accounts; user ids may not start with it."""


@dataclass(slots=True)
class Position:
    """One account's position in one instrument.

    Attributes:
        size: signed lots (long > 0, short < 0).
        cost: signed settlement atoms paid for the open size (a short's cost is negative:
            it was paid to open it). ``cost / size`` is the entry price in atoms per lot.
        realized: realised PnL in atoms, a view (no money moves when it changes).
    """

    size: int = 0
    cost: int = 0
    realized: int = 0


def position_after(size: int, cost: int, realized: int, delta: int, value: int) -> tuple[int, int, int]:
    """Position ``(size, cost, realized)`` after a fill of ``delta`` lots (signed) for ``value`` atoms.

    ``value`` is the signed quote amount the account paid (``delta x price x atoms_per_tick_per_lot``).
    Increasing adds to the cost basis. Reducing removes the closed part's share of the cost basis,
    ``cost x closed / |size|``, truncated toward zero, and realises the difference from the closed
    part's value; a fill larger than the position closes it and opens the rest the other way.
    Truncation moves less than one atom per reduction between the realised and unrealised
    *views* (several partial closes can add up to a few atoms against exact average cost); a
    position closed in full releases its whole remaining cost, so realised PnL over a position's
    life is exact, and money is never affected. (Average-cost basis, as Binance and BitMEX
    report entry price.)

    >>> position_after(2, 200, 0, -1, -110)   # long 2 @ 100, sell 1 @ 110
    (1, 100, 10)
    >>> position_after(1, 100, 10, -3, -270)  # sell 3 @ 90: close 1 (loss 10), open short 2 @ 90
    (-2, -180, 0)
    """
    if size == 0 or (size > 0) == (delta > 0):
        return size + delta, cost + value, realized
    abs_size, abs_delta = abs(size), abs(delta)
    if abs_delta < abs_size:
        removed = _trunc_div(cost * abs_delta, abs_size)
        return size + delta, cost - removed, realized - value - removed
    # close all (and maybe flip): the closing part's value is value x |size| / |delta|.
    if abs_delta == abs_size:
        return 0, 0, realized - value - cost
    closing_value = _trunc_div(value * abs_size, abs_delta)
    return size + delta, value - closing_value, realized - closing_value - cost


def _trunc_div(a: int, b: int) -> int:
    """``a / b`` truncated toward zero (``b > 0``)."""
    return a // b if a >= 0 else -(-a // b)


@dataclass(slots=True)
class Account:
    """A ledger account: balances per asset (atoms) and positions per instrument."""

    id: str
    index: int
    balances: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    stamp: int = 0
    """Bumped by the ledger at every change of balances or positions, so that caches of values
    derived from them (the risk gate's margin totals) can tell when they are stale."""

    def balance(self, asset: str) -> int:
        return self.balances.get(asset, 0)

    def position(self, instrument: str) -> Position:
        """The position (a flat one if the account never traded the instrument)."""
        return self.positions.get(instrument) or Position()
