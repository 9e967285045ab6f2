"""The cross-margin risk gate: every fill is checked for both sides against their post-trade state.

For a candidate fill the gate computes, for the taker and then the maker, the account's
cross-margin state (:mod:`exchange_sim.margin.cross`) before the fill and as it would be after
it (the quote amount and the fee moved, the position changed; for a spot pair the two assets
exchanged), at the current mark and index prices, and accepts the fill for that account when

* after the fill the account meets initial margin (``equity >= initial``; with no positions
  left that means equity of at least zero), or
* the account had positions before (a maintenance requirement) and the fill either closes them
  all (no maintenance requirement after it) or leaves it no riskier: its maintenance
  requirement does not rise and its ratio of equity to maintenance does not fall.

This is the collateral check dYdX v4 applies to every match (its subaccounts module lets an
update through if the account is collateralised at initial margin afterwards, or if the update
does not make it riskier), and it is what lets an unhealthy account reduce but never add risk.
A refused taker stops matching; a refused maker loses its order (``matching.py``). The gate
changes nothing: the fill then applies in full, or not at all.

Prices: an instrument's mark is the venue's mark price, else its last trade, else (for the
instrument being traded) the fill price; an asset's index price is the venue's, and an account
that owes an asset without an index price cannot be valued, so its fills are refused.
Cost per fill: O(instruments and assets the two accounts hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchange_sim.margin.cross import CrossMargin
from exchange_sim.matching import Refusal
from exchange_sim.orders import Order, Reason, Side
from exchange_sim.units import charge_ppm

if TYPE_CHECKING:
    from exchange_sim.instruments import Instrument
    from exchange_sim.venue import Venue

_TAKER_REFUSED = Refusal(Reason.TAKER_RISK_REFUSED, taker=True)
_MAKER_REFUSED = Refusal(Reason.MAKER_RISK_REFUSED, maker=True)


def acceptable(before: tuple[int, int, int], after: tuple[int, int, int]) -> bool:
    """The per-fill rule of the module docstring, for one account's ``(equity, initial,
    maintenance)`` before and after the fill."""
    equity, initial, maintenance = after
    if equity >= initial:
        return True
    old_equity, _, old_maintenance = before
    if old_maintenance == 0:
        return False  # nothing to reduce: a new exposure must meet initial margin
    if maintenance == 0:
        return True  # closes every position, even at a loss
    return maintenance <= old_maintenance and equity * old_maintenance >= old_equity * maintenance


class CrossMarginGate:
    """A :class:`~exchange_sim.matching.RiskGate` for cross-margined accounts of one venue."""

    __slots__ = ("cross", "held", "venue")

    def __init__(self, venue: Venue, cross: CrossMargin) -> None:
        self.venue = venue
        self.cross = cross
        self.held: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        """Fills planned but not applied (a FOK order's read-only walk), per account: balance
        and size changes that later checks count as done. Empty outside such a walk."""

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        inst, delta, notional, taker_fee, maker_fee = self._fill(taker, price, lots)
        if not self.fits(taker.account, inst, price, delta, notional, taker_fee):
            return _TAKER_REFUSED
        if not self.fits(maker.account, inst, price, -delta, notional, maker_fee):
            return _MAKER_REFUSED
        return None

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        """Count an accepted planned fill as done for the checks that follow (until release)."""
        inst, delta, notional, taker_fee, maker_fee = self._fill(taker, price, lots)
        for account_id, signed, fee in (
            (taker.account, delta, taker_fee),
            (maker.account, -delta, maker_fee),
        ):
            balances, sizes = self.held.setdefault(account_id, ({}, {}))
            _apply(balances, sizes, inst, signed, notional, fee)

    def release(self) -> None:
        """Forget every held fill."""
        self.held.clear()

    def order_fits(self, account_id: str, inst: Instrument, side: Side, lots: int, price: int) -> bool:
        """The dYdX-style placement check: an order alone, filled in full at ``price`` as a taker."""
        notional = price * lots * inst.atoms_per_tick_per_lot
        fee = charge_ppm(notional, inst.taker_fee_ppm)
        return self.fits(account_id, inst, price, lots if side is Side.BUY else -lots, notional, fee)

    def _fill(self, taker: Order, price: int, lots: int) -> tuple[Instrument, int, int, int, int]:
        inst = self.venue.instruments[taker.instrument]
        notional = price * lots * inst.atoms_per_tick_per_lot
        taker_fee = charge_ppm(notional, inst.taker_fee_ppm)
        maker_fee = charge_ppm(notional, inst.maker_fee_ppm)
        return inst, lots if taker.side is Side.BUY else -lots, notional, taker_fee, maker_fee

    def fits(
        self, account_id: str, inst: Instrument, price: int, delta: int, notional: int, fee: int
    ) -> bool:
        """Whether ``account_id`` may take a fill of ``delta`` lots (signed) of ``inst`` at ``price``."""
        venue = self.venue
        account = venue.ledger.accounts[account_id]
        prices = venue.index_prices
        balances = dict(account.balances)
        sizes = {symbol: position.size for symbol, position in account.positions.items()}
        if self.held:
            held = self.held.get(account_id)
            if held is not None:
                for key, change in held[0].items():
                    balances[key] = balances.get(key, 0) + change
                for key, change in held[1].items():
                    sizes[key] = sizes.get(key, 0) + change
        for asset, balance in balances.items():
            if balance < 0 and asset != self.cross.settlement and asset not in prices:
                return False
        after_balances, after_sizes = dict(balances), dict(sizes)
        _apply(after_balances, after_sizes, inst, delta, notional, fee)
        marks = self.marks(after_sizes, inst.symbol, price)
        priced = (
            {a: prices.get(a, 0) for a in after_balances if a != self.cross.settlement}
            if len(after_balances) > 1
            else {}
        )
        after = self.cross.totals(after_balances, after_sizes, marks, priced)
        if after[0] >= after[1]:
            return True  # the common case: no need to value the account before the fill
        return acceptable(self.cross.totals(balances, sizes, marks, priced), after)

    def may_withdraw(self, account_id: str, asset: str, atoms: int, count_profit: bool) -> bool:
        """Whether withdrawing ``atoms`` of ``asset`` leaves the account at initial margin.

        After the withdrawal, equity (less unrealised profit, unless ``count_profit``) must be
        at least the initial requirement. Unrealised profit of a position is its value at the
        mark less its cost basis, counted where positive.
        """
        account = self.venue.ledger.accounts[account_id]
        balances = dict(account.balances)
        balances[asset] = balances.get(asset, 0) - atoms
        for symbol, balance in balances.items():
            if balance < 0 and symbol != self.cross.settlement and symbol not in self.venue.index_prices:
                return False
        sizes = {symbol: position.size for symbol, position in account.positions.items()}
        marks = self.marks(sizes, "", 0)
        priced = {a: self.venue.index_prices.get(a, 0) for a in balances if a != self.cross.settlement}
        after = self.cross.state(balances, sizes, marks, priced)
        equity = after.equity
        if not count_profit:
            for position in after.positions:
                equity -= max(0, position.value - account.positions[position.instrument].cost)
        return equity >= after.initial

    def marks(self, sizes: dict[str, int], traded: str, price: int) -> dict[str, int]:
        venue = self.venue
        out = {}
        for symbol in sizes:  # before and after the fill: a closed position still had a value
            mark = venue.marks.get(symbol) or venue.last_trade.last.get(symbol)
            out[symbol] = mark if mark is not None else price if symbol == traded else 0
        return out


def _apply(
    balances: dict[str, int], sizes: dict[str, int], inst: Instrument, delta: int, notional: int, fee: int
) -> None:
    """Change ``balances`` and ``sizes`` as a fill of ``delta`` lots (signed) would, fee included."""
    quote = inst.settlement_asset
    paid = notional if delta > 0 else -notional
    balances[quote] = balances.get(quote, 0) - paid - fee
    if inst.is_spot:
        balances[inst.underlying] = balances.get(inst.underlying, 0) + delta * inst.base_atoms_per_lot
    else:
        sizes[inst.symbol] = sizes.get(inst.symbol, 0) + delta
