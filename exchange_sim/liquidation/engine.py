"""The liquidation engine: find accounts below maintenance and close them out, step by step.

The venue runs :meth:`LiquidationEngine.run` after every input that moves what margin is valued
at (a mark, an index price, a funding payment, an expiry settlement), so liquidation is an
*output* of those inputs: every step is journaled (``LIQUIDATION`` ... ``LIQUIDATION_END``,
``docs/journal-format.md``) and a replay re-derives it. ``docs/liquidation.md`` is the guide.

A *liquidation unit* is a ledger account that is margined on its own: a cross account, or one
isolated position's sub-account (``alice/BTC-PERP``: isolated positions are liquidated alone).
System accounts (``@fees``, ``@insurance``, ``@backstop``, ``@funding``) are never liquidated.

Pipeline for a unit with ``equity < maintenance`` (each stage switched by the
:class:`~exchange_sim.liquidation.rules.RuleSet`; units in ledger order, at most
``max_liquidations_per_step`` per run):

1. **Cancel** the owner's open orders and stops on the unit's instruments (``ENDED`` with reason
   ``LIQUIDATION``), then re-check.
2. **Backstop** (``takeover = "backstop"``): below ``backstop_fraction`` of maintenance the vault
   takes every position and the remaining margin (Hyperliquid); nothing goes to the book.
3. **Book**: positions in the rule set's order; for each, a liquidation order (immediate or
   cancel) for the lots the partial rule says, no worse than its worst acceptable price (the
   bankruptcy price of those lots, or dYdX's fillable price). The liquidated side skips the
   margin check (the maker side is checked as always). Each fill is split into the liquidation
   fee (to the insurance fund; everything above bankruptcy with ``surplus_to_fund``) and, below
   bankruptcy, the fund's payment to the account
   (:func:`~exchange_sim.liquidation.formulas.settle_liquidation_fill`). Stops once the unit is
   healthy when liquidation is partial.
4. **Takeover** of what the book left, by the insurance fund (or the vault) at the bankruptcy
   price: the positions move at the mark and the margin is swept, which is the same money as a
   transfer at the bankruptcy price; only when the receiver can cover the unit's negative equity.
5. **Deleveraging** otherwise: opposite positions, chosen by the ADL policy, close against the
   unit's positions at the mark, and pay the unit's deficit between them (pro rata to the lots
   they close), which is the same money as closing at the bankruptcy price. Each event reports
   the profit it closed beyond what the deficit needed.
6. **Socialised loss**, if allowed, of any negative equity left on a flat unit, pro rata to the
   unrealised profit of accounts in profit; else the fund pays what it can and the rest is
   recorded as ``BAD_DEBT``. Bad debt is never silent.

Detection is exact: ``CrossMargin.totals`` per unit, for the candidates of a numpy pass over all
units (:class:`~exchange_sim.liquidation.scan.HealthScan`, a conservative superset). The scan's
rows are refreshed from the accounts the ledger reports changed (``Ledger.touched``), so a mark
update costs one vectorised pass, not a Python loop over accounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import ceil
from typing import TYPE_CHECKING

from exchange_sim.accounts import Account, Position
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.liquidation.formulas import (
    adl_fills,
    adl_queue,
    adl_score,
    backstop_due,
    bankruptcy_quote,
    book_liquidation_lots,
    fillable_price,
    pro_rata,
    restore_size_in_schedule,
    settle_liquidation_fill,
    step_down_size,
)
from exchange_sim.liquidation.rules import RuleSet
from exchange_sim.liquidation.scan import HealthScan
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.orders import Side
from exchange_sim.units import PPM

if TYPE_CHECKING:
    from exchange_sim.venue import Venue

__all__ = ["BACKSTOP_ACCOUNT", "INSURANCE_ACCOUNT", "LiquidationEngine", "Outcome"]

INSURANCE_ACCOUNT = "@insurance"
"""The insurance fund's ledger account."""
BACKSTOP_ACCOUNT = "@backstop"
"""The backstop vault's ledger account (rule sets with ``takeover = "backstop"``)."""


class Outcome:
    """How a liquidation ended (``LIQUIDATION_END``)."""

    HEALTHY = 0
    FLAT = 1
    OPEN = 2


@dataclass(slots=True)
class EngineStats:
    """Running totals of what the engine did (also derivable from the journal)."""

    liquidations: int = 0
    liquidated_notional: int = 0
    fund_fees: int = 0
    fund_paid: int = 0
    takeovers: int = 0
    deleveraged: int = 0
    socialized: int = 0
    bad_debt: int = 0
    beyond_need: int = 0
    negative: set[str] = field(default_factory=set)
    """Units whose equity was negative at the last run (``gate_withdrawals``)."""


def _splitmix(x: int) -> int:
    """A 64-bit integer hash (SplitMix64's finaliser): the deterministic 'random' ADL order."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _by_index(account: Account) -> int:
    return account.index


class LiquidationEngine:
    """Runs a :class:`RuleSet` on a venue with margin rules (see the module docstring)."""

    def __init__(self, venue: Venue, rules: RuleSet, cross: CrossMargin) -> None:
        self.venue = venue
        self.rules = rules
        self.cross = cross
        ledger = venue.ledger
        self.fund = ledger.open(INSURANCE_ACCOUNT)
        self.vault = ledger.open(BACKSTOP_ACCOUNT) if rules.takeover == "backstop" else None
        self.stats = EngineStats()
        self._running = False
        self.portfolio: PortfolioMargin | None = getattr(venue.gate, "portfolio", None)
        """Portfolio margin of the venue's portfolio accounts (``None``: no portfolio rules)."""
        self.grace_until: dict[str, int] = {}
        """Dynamic margin's grace: units pushed below maintenance by a rate change are not
        liquidated before this time (``Venue.set_margin_rates``)."""
        self.scan = HealthScan(cross, portfolio=self.portfolio)
        """Every unit's balances and sizes in numpy arrays: detection's prefilter."""
        self._fund_left: int | None = None
        """What the fund may still pay for the liquidation in progress (``max_fund_loss_per_step``)."""
        self._capped = False
        """Whether ``max_notional_per_step`` cut the liquidation in progress short."""
        self._owners: dict[str, str] = {}
        """Isolated sub-account id -> its main account id (the owner of its orders)."""
        self.bad_debt_of: dict[str, int] = {}
        """Per flat unit, the negative equity already recorded as ``BAD_DEBT`` (recorded once)."""
        self.notices: list[tuple[int, str, int, int, int]] | None = None
        """When a list (the simulator's liquidation notices), each finished liquidation appends
        ``(ts, unit id, outcome, equity, maintenance)``; the reader drains it."""
        ledger.touched = []  # the ledger reports every account it changes (refreshed into the scan)

    # ------------------------------------------------------------------ detection

    def units(self) -> Iterator[tuple[Account, str]]:
        """``(ledger account, owner id)`` of every liquidation unit, in ledger order."""
        venue = self.venue
        for account in venue.ledger.by_index:
            if account.id.startswith("@"):
                continue
            if account.id in venue.sub_accounts:  # an isolated account's main account holds no position
                continue
            yield account, self._owner(account)

    def model(self, account: Account) -> CrossMargin | PortfolioMargin:
        """The unit's margin model: portfolio margin for a portfolio account, else cross margin
        (an isolated sub-account is a one-position cross account)."""
        if self.portfolio is not None and account.id in self.venue.portfolio_accounts:
            return self.portfolio
        return self.cross

    def totals(self, account: Account) -> tuple[int, int]:
        """``(equity, maintenance)`` of a unit at the venue's current marks and index prices."""
        venue = self.venue
        sizes = {s: p.size for s, p in account.positions.items() if p.size}
        marks = {s: venue.marks.get(s) or venue.last_trade.last.get(s) or 0 for s in sizes}
        prices = {a: venue.index_prices.get(a, 0) for a in account.balances if a != self.cross.settlement}
        equity, _, maintenance = self.model(account).totals(account.balances, sizes, marks, prices)
        return equity, maintenance

    def refresh(self) -> None:
        """Copy every unit the ledger changed since the last call into the scan's arrays."""
        touched = self.venue.ledger.touched
        assert touched is not None
        if not touched:
            return
        venue = self.venue
        scan = self.scan
        for account in {a.index: a for a in touched}.values():  # each once, in first-touched order
            account_id = account.id
            if account_id.startswith("@") or account_id in venue.sub_accounts:
                continue  # system accounts and isolated main accounts are not units
            scan.update(
                account_id,
                account.balances,
                {s: p.size for s, p in account.positions.items() if p.size},
                account_id in venue.portfolio_accounts,
            )
        touched.clear()

    def _check(self) -> None:
        """Assert the scan holds every unit as the ledger has it (after a refresh), and no
        system account or isolated main account; the insurance fund is never a unit."""
        self.refresh()
        scan = self.scan
        venue = self.venue
        units = {account.id: account for account, _ in self.units()}
        assert set(scan._rows) <= set(units), set(scan._rows) - set(units)
        for key, account in units.items():
            row = scan._rows.get(key)
            sizes = {s: p.size for s, p in account.positions.items() if p.size}
            if row is None:
                assert not sizes and not any(account.balances.values()), key
                continue
            for column, symbol in enumerate(scan.instruments):
                assert int(scan._sizes[column, row]) == sizes.get(symbol, 0), (key, symbol)
            for column, asset in enumerate(scan.assets):
                assert scan._balances[column, row] == float(account.balances.get(asset, 0)), (key, asset)
            assert bool(scan._portfolio[row]) == (key in venue.portfolio_accounts), key
        assert INSURANCE_ACCOUNT not in scan._rows and BACKSTOP_ACCOUNT not in scan._rows
        assert venue.ledger.touched == []

    def flagged(self) -> list[tuple[Account, str]]:
        """Units below maintenance now, in ledger order; records which have negative equity.

        The scan's float pass over every unit gives a superset (it never misses one, see
        :mod:`exchange_sim.liquidation.scan`); each candidate is then checked exactly."""
        self.refresh()
        venue = self.venue
        settlement = self.cross.settlement
        marks = {s: venue.marks.get(s) or venue.last_trade.last.get(s) or 0 for s in venue.instruments}
        prices = {a: venue.index_prices.get(a, 0) for a in venue.assets if a != settlement}
        accounts = venue.ledger.accounts
        candidates = sorted((accounts[key] for key in self.scan.candidates(marks, prices)), key=_by_index)
        out = []
        negative = set()
        bad_debt = self.bad_debt_of
        for account in candidates:
            equity, maintenance = self.totals(account)
            if equity < 0:
                negative.add(account.id)
                if -equity <= bad_debt.get(account.id, -1) and not self._open(account):
                    continue  # flat, its deficit already recorded: nothing left to do
            if equity < maintenance:
                out.append((account, self._owner(account)))
        self.stats.negative = negative
        return out

    def _owner(self, account: Account) -> str:
        """Who places a unit's orders: an isolated sub-account's main account, else itself."""
        owner = self._owners.get(account.id)
        if owner is None:
            owner = account.id
            for main, subs in self.venue.sub_accounts.items():
                if any(sub is account for sub in subs.values()):
                    owner = main
                    break
            self._owners[account.id] = owner
        return owner

    # ------------------------------------------------------------------ the pipeline

    def run(self, ts: int) -> None:
        """Liquidate every unit below maintenance now (at most ``max_liquidations_per_step``)."""
        if self._running:
            return
        self._running = True
        liquidated = False
        try:
            cap = self.rules.max_liquidations_per_step
            flagged = self.flagged()
            if self.grace_until:
                grace = self.grace_until
                flagged = [(a, o) for a, o in flagged if grace.get(a.id, ts) <= ts]
            for n, (account, owner) in enumerate(flagged):
                if cap is not None and n >= cap:
                    break
                self._liquidate(ts, account, owner)
                liquidated = True
        finally:
            self._running = False
        if liquidated and self.rules.gate_withdrawals:
            self.flagged()  # the negative-equity set that gates withdrawals, after this run

    def _liquidate(self, ts: int, account: Account, owner: str) -> None:
        venue, rules = self.venue, self.rules
        self._fund_left = rules.max_fund_loss_per_step
        self._capped = False
        write = venue._write
        equity, maintenance = self.totals(account)
        self.stats.liquidations += 1
        write((Ev.LIQUIDATION, account.index, equity, maintenance))
        instruments = self._instruments_of(account)
        if rules.cancel_orders:
            venue._cancel_for_liquidation(owner, instruments if owner != account.id else None)
            equity, maintenance = self.totals(account)
            if equity >= maintenance:
                self._end(account, Outcome.HEALTHY, equity, maintenance)
                return
        if rules.through_book:
            self._through_book(ts, account, owner)
            equity, maintenance = self.totals(account)
            if equity >= maintenance and (rules.partial != "full" or not self._open(account)):
                self._end(
                    account, Outcome.HEALTHY if self._open(account) else Outcome.FLAT, equity, maintenance
                )
                return
        if self._open(account):
            self._after_book(ts, account)
        self._cover(account)
        self._end_now(account)

    def _after_book(self, ts: int, account: Account) -> None:
        """Stages 4 and 5 for what the book left: a takeover, or deleveraging of a bankrupt unit.

        The insurance fund takes the positions if it can cover the unit's negative equity. The
        backstop vault takes them once equity is below ``backstop_fraction`` of maintenance
        (Hyperliquid: "without successful liquidation through the book"). Deleveraging is for a
        unit with negative equity that neither takes. Otherwise the positions stay open and the
        next price input tries again (``LIQUIDATION_END`` outcome 2)."""
        rules = self.rules
        equity, maintenance = self.totals(account)
        if equity >= maintenance and rules.partial != "full":
            return
        if self._capped and equity >= 0:
            return  # the notional cap ended this step; the next price input goes on
        fund_can = self._capacity(self.fund)
        if self._fund_left is not None:
            fund_can = min(fund_can, self._fund_left)
        if rules.takeover == "fund" and fund_can >= max(0, -equity):
            self._take_over(ts, account, self.fund)
        elif (
            rules.takeover == "backstop"
            and self.vault is not None
            and backstop_due(equity, maintenance, rules.backstop_fraction)
            and self._capacity(self.vault) >= max(0, -equity)
        ):
            self._take_over(ts, account, self.vault)
        elif equity < 0 and rules.adl != "none":
            self._deleverage(ts, account)

    def _end_now(self, account: Account) -> None:
        equity, maintenance = self.totals(account)
        outcome = Outcome.OPEN if self._open(account) else Outcome.FLAT
        if outcome == Outcome.OPEN and equity >= maintenance:
            outcome = Outcome.HEALTHY
        self._end(account, outcome, equity, maintenance)

    def _end(self, account: Account, outcome: int, equity: int, maintenance: int) -> None:
        self.venue._write((Ev.LIQUIDATION_END, account.index, outcome, equity, maintenance))
        if self.notices is not None:
            self.notices.append((self.venue.now, account.id, outcome, equity, maintenance))
        self.venue._release_isolated(account)

    @staticmethod
    def _open(account: Account) -> bool:
        return any(p.size for p in account.positions.values())

    def _instruments_of(self, account: Account) -> list[str]:
        return [s for s, p in account.positions.items() if p.size]

    # ------------------------------------------------------------------ stage 3: the book

    def _order(self, account: Account) -> list[str]:
        """The unit's positions in the rule set's liquidation order."""
        venue = self.venue
        symbols = [s for s in venue.instruments if account.positions.get(s) and account.positions[s].size]
        policy = self.rules.position_order
        if policy == "largest_maintenance":

            def requirement(symbol: str) -> int:
                inst = venue.instruments[symbol]
                notional = (
                    abs(account.positions[symbol].size) * self._mark(symbol) * inst.atoms_per_tick_per_lot
                )
                return self.cross.schedules[symbol].maintenance(notional)

            return sorted(symbols, key=lambda s: -requirement(s))
        if policy == "most_liquid":

            def depth(symbol: str) -> int:
                bids, asks = venue.depth(symbol, 10)
                side = bids if account.positions[symbol].size > 0 else asks
                apl = venue.instruments[symbol].atoms_per_tick_per_lot
                return sum(price * lots for price, lots in side) * apl  # notional, comparable

            return sorted(symbols, key=lambda s: -depth(s))
        return symbols  # proportional: every position, in listing order, the same share

    def _mark(self, symbol: str) -> int:
        venue = self.venue
        return venue.marks.get(symbol) or venue.last_trade.last.get(symbol) or 0

    def _through_book(self, ts: int, account: Account, owner: str) -> None:
        rules = self.rules
        order = self._order(account)
        proportional = rules.position_order == "proportional" and rules.partial != "step_down"
        share = self._proportional_share(account, order) if proportional else None  # step-down: each its own
        for symbol in order:
            equity, maintenance = self.totals(account)
            if rules.partial != "full" and equity >= maintenance:
                return
            position = account.positions[symbol]
            if not position.size:
                continue
            inst = self.venue.instruments[symbol]
            lots = self._lots_to_close(account, inst, position.size, equity, maintenance, share)
            if lots:
                self._book_step(ts, account, owner, inst, lots)

    def _limit(self, account: Account, inst: Instrument, size: int, lots: int) -> tuple[int, int]:
        """``(limit price, bankruptcy value)`` of closing ``lots`` of a position of ``size``:
        the worst acceptable price in ticks and the quote the account must get (dYdX's formula)."""
        equity, maintenance = self.totals(account)
        mark = self._mark(inst.symbol)
        apl = inst.atoms_per_tick_per_lot
        closed = lots if size > 0 else -lots
        before, after = self._position_maintenance(account, inst, size, lots, maintenance)
        delta_value = -closed * mark * apl
        bankrupt = bankruptcy_quote(delta_value, after - before, equity, max(1, maintenance))
        if self.rules.worst_price == "fillable" and maintenance > 0:
            limit = fillable_price(
                size,
                mark,
                before,
                equity,
                maintenance,
                apl,
                bankruptcy_adjustment_ppm=self.rules.bankruptcy_adjustment_ppm,
            )
        else:  # the bankruptcy price of these lots: sell no lower, buy no higher
            per_lot = Fraction(bankrupt, lots * apl)
            limit = max(1, ceil(per_lot)) if size > 0 else max(1, int(-per_lot))
        return limit, bankrupt

    def _position_maintenance(
        self, account: Account, inst: Instrument, size: int, lots: int, maintenance: int
    ) -> tuple[int, int]:
        """The position's part of the unit's maintenance requirement before closing ``lots`` of
        it and after: its bracket requirement for a cross unit; for a portfolio unit, how much
        the unit's requirement falls when the whole position goes (its marginal requirement,
        at least 0), and that less the fall when only ``lots`` go."""
        mark = self._mark(inst.symbol)
        apl = inst.atoms_per_tick_per_lot
        model = self.model(account)
        if model is self.cross:
            schedule = self.cross.schedules[inst.symbol]
            return schedule.maintenance(abs(size) * mark * apl), schedule.maintenance(
                (abs(size) - lots) * mark * apl
            )
        sizes = {s: p.size for s, p in account.positions.items() if p.size}
        marks = {s: self._mark(s) for s in sizes}
        without = model.requirements({**sizes, inst.symbol: 0}, marks)[1]  # type: ignore[union-attr]
        closed = lots if size > 0 else -lots
        partly = model.requirements({**sizes, inst.symbol: size - closed}, marks)[1]  # type: ignore[union-attr]
        before = max(0, maintenance - without)
        return before, max(0, before - max(0, maintenance - partly))

    def _lots_to_close(
        self, account: Account, inst: Instrument, size: int, equity: int, maintenance: int, share: int | None
    ) -> int:
        rules = self.rules
        lots = abs(size)
        mark = self._mark(inst.symbol)
        apl = inst.atoms_per_tick_per_lot
        if share is not None:
            lots = min(lots, max(1, -(-lots * share // PPM)))
        elif rules.partial == "fraction":
            lots = book_liquidation_lots(
                size, lots * mark * apl, rules.partial_min_notional, fraction=Fraction(rules.partial_ppm, PPM)
            )
        elif rules.partial in ("step_down", "restore") and self.model(account) is not self.cross:
            lots = self._restore_lots(account, inst, size)
        elif rules.partial == "step_down":
            lots = step_down_size(self.cross.schedules[inst.symbol], size, mark, apl) or lots
        elif rules.partial == "restore":
            schedule = self.cross.schedules[inst.symbol]
            own = schedule.maintenance(lots * mark * apl)
            limit, _ = self._limit(account, inst, size, lots)
            need = restore_size_in_schedule(
                schedule,
                size,
                mark,
                limit,
                equity,
                apl,
                inst.taker_fee_ppm + rules.fee_ppm,
                other_maintenance=maintenance - own,
            )
            if need is not None and need > 0:
                lots = need
        cap = rules.max_notional_per_step
        if cap is not None and mark and lots > max(1, cap // (mark * apl)):
            lots = max(1, cap // (mark * apl))
            self._capped = True
        return lots

    def _restore_lots(self, account: Account, inst: Instrument, size: int) -> int:
        """For a portfolio unit (whose requirement has no bracket formula): the fewest lots of the
        position whose close at the whole position's worst acceptable price (as the bracket
        version, :func:`~exchange_sim.liquidation.formulas.restore_size_in_schedule`, prices it),
        fee paid, leaves the unit at or above maintenance; all of it if none does.

        Health need not be monotone in the lots closed (closing a hedged leg too far adds risk
        back), but the shortfall ``maintenance - equity`` is convex in them: maintenance is a
        maximum of absolute values of linear functions of the lots (stress, VaR's square root of
        a quadratic form, the floor), and equity is linear. So the lots that restore health form
        an interval: a ternary search finds the least shortfall, and a bisection below it the
        fewest lots, each step one exact requirement."""
        venue = self.venue
        settlement = self.cross.settlement
        model = self.model(account)
        fee_ppm = inst.taker_fee_ppm + self.rules.fee_ppm
        sizes = {s: p.size for s, p in account.positions.items() if p.size}
        marks = {s: self._mark(s) for s in sizes}
        prices = {a: venue.index_prices.get(a, 0) for a in account.balances if a != settlement}
        limit, _ = self._limit(account, inst, size, abs(size))
        known: dict[int, int] = {}

        def shortfall(lots: int) -> int:
            if lots not in known:
                closed = lots if size > 0 else -lots
                value = closed * limit * inst.atoms_per_tick_per_lot
                balances = dict(account.balances)
                balances[settlement] = balances.get(settlement, 0) + value - (-(-abs(value) * fee_ppm // PPM))
                after = {**sizes, inst.symbol: size - closed}
                equity, _, maintenance = model.totals(balances, after, marks, prices)
                known[lots] = maintenance - equity
            return known[lots]

        low, high = 0, abs(size)
        while high - low > 2:  # the least shortfall, of a convex function of the lots
            third = (high - low) // 3
            if shortfall(low + third) <= shortfall(high - third):
                high = high - third
            else:
                low = low + third
        best = min(range(low, high + 1), key=lambda lots: (shortfall(lots), lots))
        if shortfall(best) > 0:
            return abs(size)
        low, high = 0, best  # shortfall(0) > 0: the unit is being liquidated
        while high - low > 1:
            middle = (low + high) // 2
            if shortfall(middle) <= 0:
                high = middle
            else:
                low = middle
        return max(1, high)

    def _proportional_share(self, account: Account, order: list[str]) -> int:
        """The share (ppm) of every position a proportional step closes: all of it unless the
        rule is partial; ``partial_ppm`` for ``"fraction"``; for ``"restore"`` the smallest share,
        by bisection, after which the unit is healthy with each close valued at its mark less the
        worst price's distance (a conservative estimate)."""
        rules = self.rules
        if rules.partial == "full":
            return PPM
        if rules.partial == "fraction":
            return rules.partial_ppm
        low, high = 0, PPM
        while high - low > 1:
            middle = (low + high) // 2
            if self._healthy_after_share(account, order, middle):
                high = middle
            else:
                low = middle
        return high

    def _healthy_after_share(self, account: Account, order: list[str], share: int) -> bool:
        venue = self.venue
        balances = dict(account.balances)
        sizes = {s: p.size for s, p in account.positions.items() if p.size}
        settlement = self.cross.settlement
        for symbol in order:
            inst = venue.instruments[symbol]
            size = sizes[symbol]
            lots = min(abs(size), max(1, -(-abs(size) * share // PPM)))
            limit, _ = self._limit(account, inst, size, lots)
            closed = lots if size > 0 else -lots
            value = closed * limit * inst.atoms_per_tick_per_lot
            fee = -(-abs(value) * (inst.taker_fee_ppm + self.rules.fee_ppm) // PPM)
            balances[settlement] = balances.get(settlement, 0) + value - fee
            sizes[symbol] = size - closed
        marks = {s: self._mark(s) for s in sizes}
        prices = {a: venue.index_prices.get(a, 0) for a in balances if a != settlement}
        equity, _, maintenance = self.model(account).totals(balances, sizes, marks, prices)
        return equity >= maintenance

    def _book_step(self, ts: int, account: Account, owner: str, inst: Instrument, lots: int) -> None:
        venue, rules = self.venue, self.rules
        size = account.positions[inst.symbol].size
        limit, _ = self._limit(account, inst, size, lots)
        equity, maintenance = self.totals(account)
        side = Side.SELL if size > 0 else Side.BUY
        fills = venue._liquidation_order(ts, owner, account, inst, side, lots, limit)
        filled = sum(f[1] for f in fills)
        if not filled:
            return
        apl = inst.atoms_per_tick_per_lot
        mark = self._mark(inst.symbol)
        closed = filled if size > 0 else -filled
        fill_value = sum(price * n for price, n, _ in fills) * apl * (1 if size > 0 else -1)
        taker_fees = sum(fee for _, _, fee in fills)
        before, after = self._position_maintenance(account, inst, size, filled, maintenance)
        bankrupt = bankruptcy_quote(-closed * mark * apl, after - before, equity, max(1, maintenance))
        fee_ppm = PPM if rules.surplus_to_fund else rules.fee_ppm
        split = settle_liquidation_fill(fill_value - taker_fees, bankrupt, fee_ppm)
        delta = split.fund_delta
        settlement = self.cross.settlement
        if delta > 0:
            venue.ledger.transfer(account, self.fund, settlement, delta)
            self.stats.fund_fees += delta
        elif delta < 0:
            pay = self._fund_pays(-delta)
            if pay:
                venue.ledger.transfer(self.fund, account, settlement, pay)
            delta = -pay
        self.stats.liquidated_notional += abs(fill_value)
        write = venue._write
        write(
            (
                Ev.LIQ_SETTLED,
                account.index,
                venue._listing[inst.symbol][1],
                filled,
                fill_value,
                bankrupt,
                split.fee,
                delta,
            )
        )

    def _capacity(self, receiver: Account) -> int:
        """What the fund (or the vault) can lose: its equity, positions it took over counted at
        the mark (cash alone would understate a fund holding a long and overstate one holding a
        short), never below zero."""
        equity, _ = self.totals(receiver)
        return max(0, equity)

    def _fund_pays(self, amount: int) -> int:
        """What the fund pays of ``amount``: at most its equity (:meth:`_capacity`) and what is
        left of the cap on its loss for this liquidation (``max_fund_loss_per_step``)."""
        have = self._capacity(self.fund)
        left = self._fund_left
        pay = min(amount, have, left if left is not None else amount)
        if left is not None:
            self._fund_left = left - pay
        self.stats.fund_paid += pay
        return pay

    # ------------------------------------------------------------------ all or nothing

    @contextmanager
    def _all_or_nothing(self, *accounts: Account) -> Iterator[None]:
        """One journaled step (a takeover, a deleveraging close, a sweep) applies in full or not
        at all: on an exception inside, the accounts' balances, positions and stamps, the open
        interest, the ledger's touched list and the engine's totals are put back as they were,
        and the exception goes on (DESIGN.md, invariant 4). The step's event is written after
        its ledger changes, so a failed step leaves no event either."""
        ledger = self.venue.ledger
        saved = [
            (a, dict(a.balances), {s: (p.size, p.cost, p.realized) for s, p in a.positions.items()}, a.stamp)
            for a in accounts
        ]
        open_interest = dict(ledger.open_interest)
        touched = len(ledger.touched or ())
        stats = replace(self.stats, negative=set(self.stats.negative))
        try:
            yield
        except BaseException:
            for account, balances, positions, stamp in saved:
                account.balances.clear()
                account.balances.update(balances)
                for symbol in [s for s in account.positions if s not in positions]:
                    del account.positions[symbol]
                for symbol, (size, cost, realized) in positions.items():
                    position = account.positions.setdefault(symbol, Position())
                    position.size, position.cost, position.realized = size, cost, realized
                account.stamp = stamp
            ledger.open_interest.clear()
            ledger.open_interest.update(open_interest)
            if ledger.touched is not None:
                del ledger.touched[touched:]
            self.stats = stats
            raise

    # ------------------------------------------------------------------ stage 4: takeover

    def _take_over(self, ts: int, account: Account, receiver: Account) -> None:
        venue = self.venue
        write = venue._write
        for symbol in [
            s for s in venue.instruments if account.positions.get(s) and account.positions[s].size
        ]:
            inst = venue.instruments[symbol]
            size = account.positions[symbol].size
            mark = self._mark(symbol)
            with self._all_or_nothing(account, receiver):
                if size > 0:
                    venue.ledger.settle_trade(inst, receiver, account, mark, size, 0, 0)
                else:
                    venue.ledger.settle_trade(inst, account, receiver, mark, -size, 0, 0)
                self.stats.takeovers += 1
            write((Ev.TAKEOVER, account.index, receiver.index, venue._listing[symbol][1], size, mark))
        equity, _ = self.totals(account)
        settlement = self.cross.settlement
        if equity > 0:  # the receiver takes the margin left (the position moved at bankruptcy)
            swept = min(equity, max(0, account.balances.get(settlement, 0)))
            if swept:
                venue.ledger.transfer(account, receiver, settlement, swept)
                write((Ev.SWEPT, account.index, receiver.index, swept))
        elif equity < 0:
            if receiver is self.fund:
                pay = self._fund_pays(-equity)
            else:
                pay = min(-equity, self._capacity(receiver))
            if pay:
                venue.ledger.transfer(receiver, account, settlement, pay)
                write((Ev.SWEPT, account.index, receiver.index, -pay))

    # ------------------------------------------------------------------ stage 5: deleveraging

    def _deleverage(self, ts: int, account: Account) -> None:
        venue = self.venue
        equity, _ = self.totals(account)
        symbols = [s for s in venue.instruments if account.positions.get(s) and account.positions[s].size]
        notionals = [
            abs(account.positions[s].size) * self._mark(s) * venue.instruments[s].atoms_per_tick_per_lot
            for s in symbols
        ]
        deficits = pro_rata(max(0, -equity), notionals) if sum(notionals) else tuple(0 for _ in symbols)
        for symbol, deficit in zip(symbols, deficits, strict=True):
            self._deleverage_position(ts, account, venue.instruments[symbol], deficit)

    def _counterparties(self, account: Account, inst: Instrument, size: int) -> list[tuple[Account, int]]:
        """Opposite positions in the ADL policy's order, ``(account, lots)``; system accounts last."""
        venue, policy = self.venue, self.rules.adl
        symbol = inst.symbol
        users, system = [], []
        for other in venue.ledger.by_index:
            if other is account:
                continue
            position = other.positions.get(symbol)
            if position is None or not position.size or (position.size > 0) == (size > 0):
                continue
            (system if other.id.startswith("@") else users).append(other)
        if policy == "queue":
            scores = {other.index: self._score(other, inst) for other in users}
            ranked = adl_queue(scores)
            users = [venue.ledger.by_index[i] for i in ranked]
        elif policy == "random":
            seed = venue.now ^ (account.index << 20) ^ (venue._listing[symbol][1] << 40)
            users.sort(key=lambda other: (_splitmix(seed ^ other.index), other.index))
        return [(o, abs(o.positions[symbol].size)) for o in users + system]

    def _score(self, other: Account, inst: Instrument) -> Fraction:
        position = other.positions[inst.symbol]
        mark = self._mark(inst.symbol)
        apl = inst.atoms_per_tick_per_lot
        mark_value = position.size * mark * apl
        equity, _ = self.totals(other)  # the equity backing the position: mark value - bankrupt value
        if equity <= 0 or not position.cost:
            return Fraction(0)
        return adl_score(mark_value, position.cost, mark_value - equity)

    def _deleverage_position(self, ts: int, account: Account, inst: Instrument, deficit: int) -> None:
        venue = self.venue
        write = venue._write
        size = account.positions[inst.symbol].size
        mark = self._mark(inst.symbol)
        apl = inst.atoms_per_tick_per_lot
        queue = self._counterparties(account, inst, size)
        if self.rules.adl == "pro_rata":
            lots = pro_rata(abs(size), [n for _, n in queue])
            fills = [(o, n) for (o, _), n in zip(queue, lots, strict=True) if n]
        else:
            fills = list(adl_fills(queue, abs(size)))
        haircuts = pro_rata(deficit, [n for _, n in fills]) if fills else ()
        settlement = self.cross.settlement
        instrument_index = venue._listing[inst.symbol][1]
        closed_total = haircut_total = 0
        for (other, lots), haircut in zip(fills, haircuts, strict=True):
            position = other.positions[inst.symbol]
            profit = (position.size * mark * apl - position.cost) * lots // abs(position.size)
            closed_profit = max(0, profit)
            with self._all_or_nothing(account, other):
                if size > 0:  # the unit is long: the short counterparty buys it back
                    venue.ledger.settle_trade(inst, other, account, mark, lots, 0, 0)
                else:
                    venue.ledger.settle_trade(inst, account, other, mark, lots, 0, 0)
                if haircut:
                    venue.ledger.transfer(other, account, settlement, haircut)
                self.stats.deleveraged += 1
            closed_total += closed_profit
            haircut_total += haircut
            write(
                (
                    Ev.DELEVERAGED,
                    account.index,
                    other.index,
                    instrument_index,
                    lots,
                    mark,
                    haircut,
                    closed_profit,
                )
            )
        beyond = max(0, closed_total - deficit)
        self.stats.beyond_need += beyond
        write((Ev.ADL_DONE, account.index, instrument_index, deficit, haircut_total, closed_total, beyond))

    # ------------------------------------------------------------------ stage 6: what is left

    def _cover(self, account: Account) -> None:
        """A flat unit with negative equity: the fund pays what it can, then socialised loss (if
        allowed), then bad debt is recorded."""
        if self._open(account):
            return
        venue = self.venue
        equity, _ = self.totals(account)
        if equity >= 0:
            return
        settlement = self.cross.settlement
        pay = self._fund_pays(-equity)
        if pay:
            venue.ledger.transfer(self.fund, account, settlement, pay)
            venue._write((Ev.SWEPT, account.index, self.fund.index, -pay))
            equity += pay
        if equity < 0 and self.rules.socialize:
            equity += self._socialize(account, -equity)
        recorded = self.bad_debt_of.get(account.id, 0)
        if -equity > recorded:  # recorded once: only what is new since the last record
            self.bad_debt_of[account.id] = -equity
            self.stats.bad_debt += -equity - recorded
            venue._write((Ev.BAD_DEBT, account.index, -equity - recorded))

    def _socialize(self, account: Account, loss: int) -> int:
        """Share ``loss`` among units in unrealised profit, pro rata to that profit (at most all of
        it). Returns what was collected."""
        venue = self.venue
        payers, profits = [], []
        for other, _ in self.units():
            if other is account:
                continue
            profit = 0
            for symbol, position in other.positions.items():
                if position.size:
                    inst = venue.instruments[symbol]
                    profit += position.size * self._mark(symbol) * inst.atoms_per_tick_per_lot - position.cost
            if profit > 0:
                payers.append(other)
                profits.append(profit)
        total = min(loss, sum(profits))
        if not total:
            return 0
        shares = pro_rata(total, profits)
        settlement = self.cross.settlement
        venue._write((Ev.SOCIALIZED, account.index, total))
        for payer, share in zip(payers, shares, strict=True):
            if share:
                venue.ledger.transfer(payer, account, settlement, share)
                venue._write((Ev.SOCIAL_SHARE, payer.index, share))
        self.stats.socialized += total
        return total
