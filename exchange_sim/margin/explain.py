"""The explanation API: one account's margin, broken down so a person can follow every number.

An isolated account is explained as its main account (collateral) plus one breakdown per
position sub-account (``Explanation.isolated``): each position's liquidation price there counts
only the margin of that position (``margin/isolated.py``). A portfolio account
(``margin/portfolio_account.py``) has the same breakdown, but its requirements are the
portfolio's, not the sum of the positions' brackets: each position row still shows its bracket
requirements (what it would need alone), and its liquidation price is found against the
portfolio requirement.

:func:`explain` returns collateral per asset (before and after haircut), each position's size,
entry, mark, notional, bracket, requirements, unrealised PnL, liquidation price and bankruptcy
price, and the account's equity, requirements, margin ratio and free collateral.

**Liquidation price** of a position: the mark at which the account would fall below maintenance
with everything else held fixed (the other marks, the balances). It is honest by construction:
it is the first tick, stepping from the current mark toward the loss, at which
``equity < maintenance`` (``tests/test_margin_explain.py`` steps tick by tick to check it).
Both sides of the comparison move with the mark: equity by ``size x atoms_per_tick_per_lot`` per
tick, maintenance by the bracket rate of the position's notional (with the bracket changing as
the notional crosses band floors), so it is found by bisection over ticks, not by a closed form
that would ignore brackets or rounding, a common source of the complaint that venues'
displayed liquidation prices differ from where users were liquidated. ``None`` means no mark of
this instrument alone can bring the account below maintenance.

**Bankruptcy price**: the mark at which equity reaches zero, everything else fixed: the first
tick, stepping toward the loss, with ``equity <= 0``. Exact: equity is linear in the mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from exchange_sim.margin.cross import AccountMargin, CollateralMargin

if TYPE_CHECKING:
    from exchange_sim.venue import Venue


@dataclass(frozen=True, slots=True)
class PositionExplanation:
    instrument: str
    size: int
    """Signed lots."""
    entry_price: Fraction
    """Cost basis per lot, in ticks (exact)."""
    mark: int
    value: int
    notional: int
    bracket: int
    initial: int
    maintenance: int
    unrealized_pnl: int
    """Value at the mark less cost basis (a view: no money moves)."""
    liquidation_price: int | None
    bankruptcy_price: int | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """One ledger account's margin. For an isolated account, the main account's collateral,
    with each position's own breakdown in ``isolated`` (one per sub-account that holds a
    position or margin), whose liquidation and bankruptcy prices count only that position's
    margin."""

    account: str
    settlement_asset: str
    settlement_balance: int
    collateral: tuple[CollateralMargin, ...]
    positions: tuple[PositionExplanation, ...]
    equity: int
    initial: int
    maintenance: int
    mode: str = "cross"
    isolated: tuple[Explanation, ...] = ()
    reserved: int = 0
    """Margin reserved for resting orders (the ``"reserve"`` placement policy), else 0."""

    @property
    def free_collateral(self) -> int:
        """Equity above initial margin and what resting orders reserve."""
        return self.equity - self.initial - self.reserved

    @property
    def margin_ratio(self) -> Fraction | None:
        """Maintenance over equity (1 or more: liquidatable); ``None`` with no positions, or when
        equity is not positive (bankrupt)."""
        if self.maintenance == 0 or self.equity <= 0:
            return None
        return Fraction(self.maintenance, self.equity)


def explain(venue: Venue, account_id: str) -> Explanation:
    """The margin breakdown of ``account_id`` now (the venue must have margin rules)."""
    gate = venue.gate
    cross = getattr(gate, "cross", None)
    if cross is None:
        raise ValueError("the venue has no margin rules: there is nothing to explain")
    reserved = gate.reserved(account_id)  # type: ignore[attr-defined]
    subs = venue.sub_accounts.get(account_id)
    if subs is None:
        if account_id in venue.portfolio_accounts:
            model = gate.portfolio  # type: ignore[attr-defined]
            return _explain(venue, gate, cross, venue.account(account_id), "portfolio", (), reserved, model)
        return _explain(venue, gate, cross, venue.account(account_id), "cross", (), reserved)
    isolated = tuple(
        _explain(venue, gate, cross, sub, "isolated", (), 0)
        for sub in subs.values()
        if sub.balances.get(cross.settlement, 0) or any(p.size for p in sub.positions.values())
    )
    return _explain(venue, gate, cross, venue.account(account_id), "isolated", isolated, reserved)


def _explain(  # type: ignore[no-untyped-def]
    venue: Venue,
    gate,
    cross,
    account,
    mode: str,
    isolated: tuple[Explanation, ...],
    reserved: int,
    model=None,
) -> Explanation:
    """``model``: the account's margin model when it is not ``cross`` (portfolio margin)."""
    sizes = {symbol: position.size for symbol, position in account.positions.items()}
    marks = gate.marks(sizes, "", 0)
    prices = {a: venue.index_prices.get(a, 0) for a in account.balances if a != cross.settlement}
    state: AccountMargin = cross.state(account.balances, sizes, marks, prices)
    totals = (state.equity, state.initial, state.maintenance)
    if model is not None:
        totals = model.totals(account.balances, sizes, marks, prices)
    positions = []
    for p in state.positions:
        inst = venue.instruments[p.instrument]
        cost = account.positions[p.instrument].cost
        positions.append(
            PositionExplanation(
                p.instrument,
                p.size,
                Fraction(cost, p.size * inst.atoms_per_tick_per_lot),
                p.mark,
                p.value,
                p.notional,
                p.bracket,
                p.initial,
                p.maintenance,
                p.value - cost,
                liquidation_price(model or cross, account.balances, sizes, marks, prices, p.instrument),
                bankruptcy_price(state.equity, p.size, p.mark, inst.atoms_per_tick_per_lot),
            )
        )
    return Explanation(
        account.id,
        cross.settlement,
        state.settlement_balance,
        state.collateral,
        tuple(positions),
        *totals,
        mode,
        isolated,
        reserved,
    )


def bankruptcy_price(equity: int, size: int, mark: int, apl: int) -> int | None:
    """First tick, from ``mark`` toward the loss, where equity (linear in the mark) is <= 0.

    Equity at mark ``m`` is ``equity + size x apl x (m - mark)``, zero at
    ``m* = mark - equity / (size x apl)``. A long is bankrupt at or below ``m*``: the first tick
    stepping down is ``floor(m*)``; a short at or above it: ``ceil(m*)``. An account already
    bankrupt is bankrupt at ``mark``. ``None``: a long that stays solvent at every positive price.

    >>> bankruptcy_price(1_000, 3, 100, 10)   # long 3 lots, 30 atoms a tick: m* = 100 - 33.3
    66
    >>> bankruptcy_price(1_000, -3, 100, 10)  # short: m* = 133.3
    134
    """
    if size == 0:
        return None
    step = abs(size) * apl
    if size > 0:
        price = min(mark, mark + (-equity) // step)
        return price if price >= 1 else None
    return max(mark, mark - ((-equity) // step))


def liquidation_price(  # type: ignore[no-untyped-def]
    cross, balances, sizes, marks, prices, symbol: str
) -> int | None:
    """First tick, from the current mark toward the loss, where equity < maintenance (module
    docstring), the other marks and the balances held fixed. Bisection, O(log price) evaluations.
    ``cross``: the account's margin model (anything with ``totals``: cross or portfolio margin)."""
    trial = dict(marks)

    def below(m: int) -> bool:
        trial[symbol] = m
        equity, _, maintenance = cross.totals(balances, sizes, trial, prices)
        return equity < maintenance

    mark = marks[symbol]
    if below(mark):
        return mark
    if sizes[symbol] > 0:  # a long fails on the ticks [1, L]: L is the highest failing tick
        if not below(1):
            return None
        return _boundary(below, failing=1, passing=mark)
    far = mark * 2  # a short fails on the ticks [L, ...): L is the lowest failing tick
    while not below(far):
        if far > mark * 10**9:
            return None
        far *= 2
    return _boundary(below, failing=far, passing=mark)


def _boundary(fails, failing: int, passing: int) -> int:  # type: ignore[no-untyped-def]
    """The failing tick next to the passing side, by bisection between a failing and a passing
    tick (in either order), assuming the ticks fail on one side of a single boundary."""
    while abs(failing - passing) > 1:
        middle = (failing + passing) // 2
        if fails(middle):
            failing = middle
        else:
            passing = middle
    return failing
