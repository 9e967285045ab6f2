"""Cross margin for one account: equity, initial and maintenance requirements, free collateral.

Cross margin pools everything an account holds (the cash-flow model of DESIGN.md, "Money"):

    equity      = settlement balance
                + sum over other assets of their collateral value  (margin/collateral.py)
                + sum over positions of size x mark x atoms_per_tick_per_lot
    initial     = sum over positions of the bracket initial requirement of |notional|
    maintenance = sum over positions of the bracket maintenance requirement of |notional|
    free collateral = equity - initial

where ``notional = |size| x mark x atoms_per_tick_per_lot`` and the brackets are
:mod:`exchange_sim.margin.brackets`. An account is healthy while ``equity >= maintenance`` and may
open risk while ``equity >= initial``. Equity in this form (quote balance plus every position's
value at the oracle/mark price) is how dYdX v4's margining documentation defines an account's
total value; pooling one margin balance across all positions is cross margin as Binance and
other venues offer it; the per-position tiered requirements are the brackets Binance and
Hyperliquid publish (see ``docs/margin.md``).

An instrument given open-interest caps (``oi_caps``) has its initial requirement raised with the
instrument's open interest, as dYdX v4 does (:mod:`exchange_sim.margin.open_interest`)::

    initial = scaled_initial(bracket initial, notional, oi_lots x mark x atoms_per_tick_per_lot, caps)

where ``oi_lots`` is read from ``open_interest`` (the ledger's live
:attr:`~exchange_sim.ledger.Ledger.open_interest`): the open interest as it stands when asked,
so the risk gate prices a fill at the open interest before that fill. Maintenance is unchanged.

All amounts are settlement atoms. Only positions and collateral in the settlement asset's venue
are pooled; this module computes, it changes nothing and journals nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange_sim.accounts import Account
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import BracketSchedule
from exchange_sim.margin.collateral import CollateralRule, collateral_value
from exchange_sim.margin.open_interest import OpenInterestCaps, scaled_initial
from exchange_sim.units import Asset


@dataclass(frozen=True, slots=True)
class PositionMargin:
    """One position's part of the account's requirements (amounts in settlement atoms)."""

    instrument: str
    size: int
    mark: int
    value: int
    """size x mark x atoms_per_tick_per_lot: signed, counted in equity."""
    notional: int
    """|value|: what the brackets are applied to."""
    bracket: int
    initial: int
    maintenance: int


@dataclass(frozen=True, slots=True)
class CollateralMargin:
    """One non-settlement asset's contribution to equity."""

    asset: str
    balance: int
    price: int
    haircut_ppm: int
    value: int


@dataclass(frozen=True, slots=True)
class AccountMargin:
    """An account's cross-margin state at given prices."""

    settlement_balance: int
    collateral: tuple[CollateralMargin, ...]
    positions: tuple[PositionMargin, ...]
    equity: int
    initial: int
    maintenance: int

    @property
    def free_collateral(self) -> int:
        """Equity above the initial requirement (negative: no new risk may be opened)."""
        return self.equity - self.initial

    @property
    def healthy(self) -> bool:
        """At or above maintenance; an account below it is to be liquidated (liquidation engine)."""
        return self.equity >= self.maintenance


@dataclass(frozen=True, slots=True)
class CrossMargin:
    """The cross-margin rules of a venue: settlement asset, instruments, brackets, collateral.

    :meth:`state` computes one account's :class:`AccountMargin` from its balances and position
    sizes at given prices; it changes nothing, so the risk gate can ask it about hypothetical
    post-trade balances and sizes.
    """

    settlement: str
    instruments: Mapping[str, Instrument]
    schedules: Mapping[str, BracketSchedule]
    assets: Mapping[str, Asset]
    rules: Mapping[str, CollateralRule]
    open_interest: Mapping[str, int] = field(default_factory=dict)
    """Open interest in lots per instrument (the ledger's live dict; read, never changed)."""
    oi_caps: Mapping[str, OpenInterestCaps] = field(default_factory=dict)
    """Open-interest caps per instrument; an instrument without caps: the brackets alone."""

    def state(
        self,
        balances: Mapping[str, int],
        sizes: Mapping[str, int],
        marks: Mapping[str, int],
        prices: Mapping[str, int],
    ) -> AccountMargin:
        """An account's cross-margin state (see the module docstring).

        ``balances``: atoms per asset; ``sizes``: signed lots per instrument. ``marks``: mark price
        in ticks of every instrument with a non-zero size. ``prices``: index price (settlement
        atoms per whole unit) of every non-settlement asset with a non-zero balance. An asset
        without a collateral rule counts for nothing (a 100% haircut) when held, and in full when
        owed (a debt is never ignored). Cost: O(assets held + positions held).
        """
        settlement = self.settlement
        oi_caps = self.oi_caps
        collateral = []
        for symbol, balance in balances.items():
            if symbol == settlement or balance == 0:
                continue
            rule = self.rules.get(symbol)
            haircut = rule.haircut_ppm if rule is not None else 1_000_000
            price = prices[symbol]
            value = collateral_value(balance, self.assets[symbol].decimals, price, haircut)
            collateral.append(CollateralMargin(symbol, balance, price, haircut, value))
        positions = []
        for symbol, size in sizes.items():
            if not size:
                continue
            inst = self.instruments[symbol]
            if inst.settlement_asset != settlement:
                continue
            mark = marks[symbol]
            value = size * mark * inst.atoms_per_tick_per_lot
            notional = abs(value)
            schedule = self.schedules[symbol]
            initial = schedule.initial(notional)
            caps = oi_caps.get(symbol) if oi_caps else None
            if caps is not None:
                oi_notional = self.open_interest.get(symbol, 0) * mark * inst.atoms_per_tick_per_lot
                initial = scaled_initial(initial, notional, oi_notional, caps)
            positions.append(
                PositionMargin(
                    symbol,
                    size,
                    mark,
                    value,
                    notional,
                    schedule.bracket_index(notional),
                    initial,
                    schedule.maintenance(notional),
                )
            )
        balance = balances.get(settlement, 0)
        equity = balance + sum(c.value for c in collateral) + sum(p.value for p in positions)
        return AccountMargin(
            balance,
            tuple(collateral),
            tuple(positions),
            equity,
            sum(p.initial for p in positions),
            sum(p.maintenance for p in positions),
        )

    def totals(
        self,
        balances: Mapping[str, int],
        sizes: Mapping[str, int],
        marks: Mapping[str, int],
        prices: Mapping[str, int],
    ) -> tuple[int, int, int]:
        """``(equity, initial, maintenance)``: what :meth:`state` computes, without the breakdown.

        The risk gate's hot path; ``tests/test_margin_cross.py`` checks that both agree.
        """
        settlement = self.settlement
        equity = self.collateral_equity(balances, prices)
        initial = maintenance = 0
        instruments, schedules, oi_caps = self.instruments, self.schedules, self.oi_caps
        for symbol, size in sizes.items():
            if size:
                inst = instruments[symbol]
                if inst.settlement_asset != settlement:
                    continue
                value = size * marks[symbol] * inst.atoms_per_tick_per_lot
                equity += value
                notional = value if value > 0 else -value
                i, m = schedules[symbol].requirements(notional)
                if oi_caps:  # instruments without caps: nothing more than this test
                    caps = oi_caps.get(symbol)
                    if caps is not None:
                        oi_notional = (
                            self.open_interest.get(symbol, 0) * marks[symbol] * inst.atoms_per_tick_per_lot
                        )
                        i = scaled_initial(i, notional, oi_notional, caps)
                initial += i
                maintenance += m
        return equity, initial, maintenance

    def collateral_equity(self, balances: Mapping[str, int], prices: Mapping[str, int]) -> int:
        """The part of equity that is not positions: the settlement balance plus every other
        asset's collateral value (the first two lines of the module docstring's equity)."""
        settlement = self.settlement
        equity = balances.get(settlement, 0)
        for symbol, balance in balances.items():
            if symbol != settlement and balance:
                rule = self.rules.get(symbol)
                haircut = rule.haircut_ppm if rule is not None else 1_000_000
                equity += collateral_value(balance, self.assets[symbol].decimals, prices[symbol], haircut)
        return equity

    def of(self, account: Account, marks: Mapping[str, int], prices: Mapping[str, int]) -> AccountMargin:
        """:meth:`state` of an account as it is now."""
        return self.state(account.balances, {s: p.size for s, p in account.positions.items()}, marks, prices)
