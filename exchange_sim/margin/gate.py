"""The margin risk gate: every fill is checked for both sides against their post-trade state.

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

A portfolio-margined account (``venue.portfolio_accounts``) is checked by the same rule with its
portfolio requirements (:mod:`exchange_sim.margin.portfolio_account`): its exposures are cached
and updated by the traded position, and integer bounds decide unless equity falls within a few
atoms of the requirement (``docs/portfolio-margin.md``, "Every fill is checked").

Prices: an instrument's mark is the venue's mark price, else its last trade, else (for the
instrument being traded) the fill price; an asset's index price is the venue's, and an account
that owes an asset without an index price cannot be valued, so its fills are refused.
Cost per fill: O(instruments and assets the two accounts hold).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.isolated import SEPARATOR, top_up
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.margin.reserve import Reservations
from exchange_sim.matching import Refusal
from exchange_sim.orders import Order, Reason, Side
from exchange_sim.units import charge_ppm

if TYPE_CHECKING:
    from exchange_sim.accounts import Account
    from exchange_sim.instruments import Instrument
    from exchange_sim.venue import Venue

_NO_PART = (0, 0)
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

    __slots__ = (
        "_cache",
        "_contracts",
        "_pending",
        "_plans",
        "_portfolio_cache",
        "_portfolio_pending",
        "cross",
        "held",
        "held_prices",
        "portfolio",
        "reservations",
        "venue",
    )

    def __init__(
        self,
        venue: Venue,
        cross: CrossMargin,
        reserving: bool = False,
        portfolio: PortfolioMargin | None = None,
    ) -> None:
        self.venue = venue
        self.cross = cross
        self.portfolio = portfolio
        """Portfolio margin of the accounts in ``venue.portfolio_accounts`` (``None``: no rules)."""
        self._portfolio_cache: dict[str, tuple[int, int, int, tuple[int, ...], int, dict[str, int]]] = {}
        """Per portfolio account, its state while current (:meth:`_portfolio_state`)."""
        self._portfolio_pending: dict[str, tuple] = {}  # type: ignore[type-arg]
        """The post-fill states the last fill check computed for portfolio accounts (:meth:`applied`)."""
        self.reservations = Reservations(venue, cross.schedules) if reserving else None
        """With ``reserving`` (the ``"reserve"`` placement policy): the pricing of resting
        orders (``margin/reserve.py``); withdrawals and margin transfers must then leave the
        reservation covered."""
        self.held: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        """Fills planned but not applied (a FOK order's read-only walk), per account: balance
        and size changes that later checks count as done. Empty outside such a walk."""
        self._contracts: dict[str, tuple[int, Callable[[int], int]]] | None = None
        """Per margined contract, atoms per tick per lot and its initial requirement: the fast
        path's table (``None`` when open-interest caps make initial margin depend on more)."""
        self.schedules_changed()
        self.held_prices: dict[str, int] = {}
        """The last held fill's price per instrument: a mark for instruments that have none."""
        self._cache: dict[str, tuple[int, int, int, int, dict[str, tuple[int, int]]]] = {}
        """Per account, its margin totals while they are current (:meth:`_totals`)."""
        self._plans: dict[tuple[str, int, int, int, int, int, int], tuple[int, int] | None] = {}
        """Isolated plans of the fill being checked, for its settlement (:meth:`isolated_plan`)."""
        self._pending: dict[str, tuple] = {}  # type: ignore[type-arg]
        """The totals the last fill check computed for each side, for :meth:`applied`."""

    def schedules_changed(self) -> None:
        """Rebuild the fast path's table from ``cross.schedules`` (dynamic margin replaced some)."""
        venue, cross = self.venue, self.cross
        self._contracts = (
            None
            if cross.oi_caps
            else {
                symbol: (venue.instruments[symbol].atoms_per_tick_per_lot, schedule.initial_requirement)
                for symbol, schedule in cross.schedules.items()
                if not venue.instruments[symbol].is_spot
                and venue.instruments[symbol].settlement_asset == cross.settlement
            }
        )

    def model(self, account_id: str) -> CrossMargin | PortfolioMargin:
        """The margin model of an account: its ``totals`` give ``(equity, initial, maintenance)``."""
        portfolio = self.venue.portfolio_accounts
        if portfolio and account_id in portfolio:
            assert self.portfolio is not None
            return self.portfolio
        return self.cross

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        inst, delta, notional, taker_fee, maker_fee = self._fill(taker, price, lots)
        self._pending.clear()
        self._portfolio_pending.clear()
        self._plans.clear()
        if not self.fits(taker.account, inst, price, delta, notional, taker_fee, True):
            return _TAKER_REFUSED
        if not self.fits(maker.account, inst, price, -delta, notional, maker_fee, True):
            return _MAKER_REFUSED
        return None

    def applied(
        self, taker: str, maker: str, symbol: str, delta: int, price: int, taker_fee: int, maker_fee: int
    ) -> None:
        """The venue applied the fill just checked (``delta``: the taker's signed lots): each
        side's totals computed by the check become its cached totals, so the account's next
        check does not value it again. Installed only if the account changed by exactly this
        fill (its stamp moved by one) and no price moved since."""
        pending = self._pending
        portfolio = self._portfolio_pending
        if not pending and not portfolio:
            return
        accounts = self.venue.ledger.accounts
        epoch = self.venue.price_epoch
        for account_id, key in (
            (taker, (symbol, delta, price, taker_fee)),
            (maker, (symbol, -delta, price, maker_fee)),
        ):
            entry = pending.get(account_id)
            if entry is not None:
                stamp, at_epoch, fill, equity, initial, parts = entry
                account = accounts[account_id]
                if fill == key and account.stamp == stamp + 1 and epoch == at_epoch:
                    self._cache[account_id] = (account.stamp, epoch, equity, initial, parts)
            state = portfolio.get(account_id)
            if state is not None:
                stamp, at_epoch, fill, *after = state
                account = accounts[account_id]
                if fill == key and account.stamp == stamp + 1 and epoch == at_epoch:
                    self._portfolio_cache[account_id] = (account.stamp, epoch, *after)
        pending.clear()
        portfolio.clear()

    def check_maker(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        inst, delta, notional, _, maker_fee = self._fill(taker, price, lots)
        if not self.fits(maker.account, inst, price, -delta, notional, maker_fee):
            return _MAKER_REFUSED
        return None

    def taker_fits(self, account_id: str) -> bool:
        """Whether ``account_id`` with every held fill applied (a multi-leg plan) meets the
        per-fill rule against its state now: checked once on the combined portfolio, so legs
        that offset may open together. An isolated account: its main account and each
        position's sub-account, each on its own."""
        venue = self.venue
        ledger_ids = [account_id]
        subs = venue.sub_accounts.get(account_id) if venue.sub_accounts else None
        if subs is not None:
            ledger_ids += [sub.id for sub in subs.values() if sub.id in self.held]
        settlement = self.cross.settlement
        prices = venue.index_prices
        for ledger_id in ledger_ids:
            account = venue.ledger.accounts[ledger_id]
            after_balances, after_sizes = self._held_state(account)
            for asset, balance in after_balances.items():
                if balance < 0 and asset != settlement and asset not in prices:
                    return False
            sizes = {symbol: position.size for symbol, position in account.positions.items()}
            marks = self.marks({**sizes, **after_sizes}, "", 0)
            for symbol, mark in marks.items():
                if not mark:
                    marks[symbol] = self.held_prices.get(symbol, 0)
            priced = {a: prices.get(a, 0) for a in after_balances if a != settlement}
            model = self.model(account_id)
            after = model.totals(after_balances, after_sizes, marks, priced)
            if after[0] < after[1]:
                before = model.totals(account.balances, sizes, marks, priced)
                if not acceptable(before, after):
                    return False
        return True

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        """Count an accepted planned fill as done for the checks that follow (until release)."""
        inst, delta, notional, taker_fee, maker_fee = self._fill(taker, price, lots)
        self.held_prices[inst.symbol] = price
        self.hold_side(taker.account, inst, price, delta, notional, taker_fee)
        self.hold_side(maker.account, inst, price, -delta, notional, maker_fee)

    def hold_side(
        self, account_id: str, inst: Instrument, price: int, delta: int, notional: int, fee: int
    ) -> None:
        """Hold one side of a planned fill: its balance and size changes, and for an isolated
        position the margin the fill moves between main account and sub-account."""
        sub = self._sub(account_id, inst)
        if sub is None:
            balances, sizes = self.held.setdefault(account_id, ({}, {}))
            _apply(balances, sizes, inst, delta, notional, fee)
            return
        plan = self.isolated_plan(account_id, sub, inst, price, delta, notional, fee)
        moved = plan[0] - plan[1] if plan is not None else 0
        balances, sizes = self.held.setdefault(sub.id, ({}, {}))
        _apply(balances, sizes, inst, delta, notional, fee)
        if moved:
            settlement = self.cross.settlement
            balances[settlement] += moved
            main = self.held.setdefault(account_id, ({}, {}))[0]
            main[settlement] = main.get(settlement, 0) - moved

    def release(self) -> None:
        """Forget every held fill."""
        self.held.clear()
        self.held_prices.clear()

    def order_fits(self, account_id: str, inst: Instrument, side: Side, lots: int, price: int) -> bool:
        """The dYdX-style placement check: an order alone, filled in full at ``price`` as a taker."""
        notional = price * lots * inst.atoms_per_tick_per_lot
        fee = charge_ppm(notional, inst.taker_fee_ppm)
        return self.fits(account_id, inst, price, lots if side is Side.BUY else -lots, notional, fee)

    def reserved(self, account_id: str, changes: tuple[tuple[str, Side, int, int], ...] = ()) -> int:
        """Margin reserved for the account's resting orders (0 unless the ``"reserve"`` policy is
        in force); see :meth:`Reservations.total <exchange_sim.margin.reserve.Reservations.total>`."""
        return self.reservations.total(account_id, changes) if self.reservations is not None else 0

    def reserve_fits(self, account_id: str, changes: tuple[tuple[str, Side, int, int], ...]) -> bool:
        """The ``"reserve"`` placement check (:meth:`Reservations.fits
        <exchange_sim.margin.reserve.Reservations.fits>`) against :meth:`available`."""
        assert self.reservations is not None
        return self.reservations.fits(account_id, changes, self.available)

    def available(self, account_id: str) -> int:
        """Equity above initial margin, before reservations: a cross account's ``equity -
        initial`` at the current marks; an isolated account's main-account collateral equity
        (its positions' margin is in their sub-accounts). An account that owes an asset without
        an index price cannot be valued: -1."""
        venue = self.venue
        account = venue.ledger.accounts[account_id]
        settlement = self.cross.settlement
        prices = venue.index_prices
        for asset, balance in account.balances.items():
            if balance < 0 and asset != settlement and asset not in prices:
                return -1
        sizes = {symbol: position.size for symbol, position in account.positions.items()}
        priced = {a: prices.get(a, 0) for a in account.balances if a != settlement}
        model = self.model(account_id)
        equity, initial, _ = model.totals(account.balances, sizes, self.marks(sizes, "", 0), priced)
        return equity - initial

    def _fill(self, taker: Order, price: int, lots: int) -> tuple[Instrument, int, int, int, int]:
        inst = self.venue.instruments[taker.instrument]
        notional = price * lots * inst.atoms_per_tick_per_lot
        taker_fee = charge_ppm(notional, inst.taker_fee_ppm)
        maker_fee = charge_ppm(notional, inst.maker_fee_ppm)
        return inst, lots if taker.side is Side.BUY else -lots, notional, taker_fee, maker_fee

    def fits(
        self,
        account_id: str,
        inst: Instrument,
        price: int,
        delta: int,
        notional: int,
        fee: int,
        predict: bool = False,
    ) -> bool:
        """Whether ``account_id`` may take a fill of ``delta`` lots (signed) of ``inst`` at ``price``.

        ``predict``: a fill about to apply if accepted (not a placement check): the totals
        computed for it are kept for :meth:`applied`."""
        venue = self.venue
        if venue.portfolio_accounts and account_id in venue.portfolio_accounts:
            account = venue.ledger.accounts[account_id]
            return self._fits_portfolio(account, inst, price, delta, notional, fee, predict)
        if venue.sub_accounts:
            sub = self._sub(account_id, inst)
            if sub is not None:
                plan = self.isolated_plan(account_id, sub, inst, price, delta, notional, fee, predict)
                return plan is not None
        account = venue.ledger.accounts[account_id]
        if (
            not self.held
            and not inst.is_spot
            and self._meets_initial_after(account, inst, price, delta, notional, fee, predict)
        ):
            return True
        return self._fits_general(account, inst, price, delta, notional, fee)

    def _meets_initial_after(
        self,
        account: Account,
        inst: Instrument,
        price: int,
        delta: int,
        notional: int,
        fee: int,
        predict: bool = False,
    ) -> bool:
        """The common case, found without copying anything: a contract fill after which the
        account (holding the settlement asset alone) meets initial margin. ``False`` means
        "not shown here": :meth:`_fits_general` then decides. The account's totals come from
        :meth:`_totals` (cached until the account or a price changes), and only the traded
        instrument's part is recomputed: the same arithmetic as :meth:`CrossMargin.totals` on
        the post-fill state."""
        contracts = self._contracts
        if contracts is None:
            return False  # open-interest caps: the general path prices them
        contract = contracts.get(inst.symbol)
        totals = self._totals(account) if contract is not None else None
        if totals is None:
            return False
        _, _, equity, initial, parts = totals
        traded = inst.symbol
        old_value, old_initial = parts.get(traded, _NO_PART)
        position = account.positions.get(traded)
        size = position.size + delta if position is not None else delta
        venue = self.venue
        mark = venue.marks.get(traded) or venue.last_trade.last.get(traded) or price
        value = size * mark * contract[0]
        equity += value - old_value - (notional if delta > 0 else -notional) - fee
        required = contract[1](value if value > 0 else -value)
        initial += required - old_initial
        if equity < initial:
            return False
        if predict:
            after = dict(parts)
            if size:
                after[traded] = (value, required)
            else:
                after.pop(traded, None)
            self._pending[account.id] = (
                totals[0],
                totals[1],
                (traded, delta, price, fee),
                equity,
                initial,
                after,
            )
        return True

    def _totals(self, account: Account) -> tuple[int, int, int, int, dict[str, tuple[int, int]]] | None:
        """``(stamp, price epoch, equity, initial, {instrument: (value, initial)})`` of a cross
        account holding the settlement asset alone (else ``None``), at the current prices.
        Cached per account and reused while neither the account (``Account.stamp``) nor a
        price (``Venue.price_epoch``) has changed: placement checks between fills then cost one
        instrument's bracket lookup. :meth:`_check` verifies every live entry."""
        venue = self.venue
        epoch = venue.price_epoch
        entry = self._cache.get(account.id)
        if entry is not None and entry[0] == account.stamp and entry[1] == epoch:
            return entry
        equity = self._settlement_only(account)
        if equity is None:
            return None  # other collateral: valued by the general path
        contracts = self._contracts
        assert contracts is not None
        marks, last = venue.marks, venue.last_trade.last
        initial = 0
        parts = {}
        for symbol, position in account.positions.items():
            size = position.size
            if size:
                contract = contracts.get(symbol)
                if contract is None:
                    continue  # not margined in the settlement asset
                value = size * (marks.get(symbol) or last.get(symbol) or 0) * contract[0]
                required = contract[1](value if value > 0 else -value)
                equity += value
                initial += required
                parts[symbol] = (value, required)
        entry = (account.stamp, epoch, equity, initial, parts)
        self._cache[account.id] = entry
        return entry

    def _settlement_only(self, account: Account) -> int | None:
        """The account's settlement balance if it holds no other asset, else ``None`` (the fast
        paths value such accounts; others go the general way)."""
        settlement = self.cross.settlement
        equity = 0
        for asset, balance in account.balances.items():
            if asset == settlement:
                equity = balance
            elif balance:
                return None
        return equity

    def _check(self) -> None:
        """Assert that every cache entry still current equals a fresh computation."""
        if self.reservations is not None:
            self.reservations._check()
        ledger = self.venue.ledger.accounts
        for (sub_id, sub_stamp, main_stamp, epoch, price, delta, fee), plan in self._plans.items():
            sub = ledger[sub_id]
            main_id, symbol = sub_id.split(SEPARATOR)
            if (sub.stamp, ledger[main_id].stamp, self.venue.price_epoch) == (sub_stamp, main_stamp, epoch):
                inst = self.venue.instruments[symbol]
                notional = price * abs(delta) * inst.atoms_per_tick_per_lot
                fresh = self._plan_isolated(sub, inst, price, delta, notional, fee, main_id)
                assert fresh == plan, f"{sub_id}: stale isolated plan {plan} != {fresh}"
        accounts = self.venue.ledger.accounts
        for account_id, portfolio_entry in list(self._portfolio_cache.items()):
            account = accounts[account_id]
            if portfolio_entry[0] == account.stamp and portfolio_entry[1] == self.venue.price_epoch:
                del self._portfolio_cache[account_id]
                assert self.portfolio is not None
                fresh_state = self._portfolio_state(account, self.portfolio)
                assert fresh_state == portfolio_entry, f"{account_id}: stale portfolio cache"
        for account_id, entry in list(self._cache.items()):
            account = accounts[account_id]
            if entry[0] == account.stamp and entry[1] == self.venue.price_epoch:
                del self._cache[account_id]
                fresh = self._totals(account)
                assert fresh == entry, f"{account_id}: stale margin cache {entry} != {fresh}"

    def _fits_portfolio(
        self,
        account: Account,
        inst: Instrument,
        price: int,
        delta: int,
        notional: int,
        fee: int,
        predict: bool = False,
    ) -> bool:
        """:meth:`fits` for a portfolio-margined account. The common case (a contract fill, the
        account holding the settlement asset alone, no held fills) updates the account's cached
        exposures by the traded position alone and decides with :meth:`PortfolioMargin.meets`;
        everything else, and a fill that does not meet initial margin, goes the general way.
        ``predict``: keep the post-fill state for :meth:`applied`, as the cross path does."""
        model = self.portfolio
        assert model is not None
        if not self.held and not inst.is_spot:
            column = model.columns.get(inst.symbol)
            state = self._portfolio_state(account, model) if column is not None else None
            if state is not None and column is not None:
                _, _, equity, exposures, gross, values = state
                traded = inst.symbol
                old = values.get(traded, 0)
                position = account.positions.get(traded)
                size = position.size + delta if position is not None else delta
                venue = self.venue
                mark = venue.marks.get(traded) or venue.last_trade.last.get(traded) or price
                value = size * mark * column[1]
                equity += value - old - (notional if delta > 0 else -notional) - fee
                e = list(exposures)
                e[column[0]] += value - old
                gross += (value if value > 0 else -value) - (old if old > 0 else -old)
                if model.meets(e, gross, equity):
                    if predict:
                        after = dict(values)
                        if size:
                            after[traded] = value
                        else:
                            after.pop(traded, None)
                        self._portfolio_pending[account.id] = (
                            state[0],
                            state[1],
                            (traded, delta, price, fee),
                            equity,
                            tuple(e),
                            gross,
                            after,
                        )
                    return True
        return self._fits_general(account, inst, price, delta, notional, fee, model)

    def _portfolio_state(
        self, account: Account, model: PortfolioMargin
    ) -> tuple[int, int, int, tuple[int, ...], int, dict[str, int]] | None:
        """``(stamp, price epoch, equity, exposures, gross notional, {instrument: value})`` of a
        portfolio account holding the settlement asset alone (else ``None``), at the current
        prices; cached while the account and the prices are unchanged (as :meth:`_totals`)."""
        venue = self.venue
        epoch = venue.price_epoch
        entry = self._portfolio_cache.get(account.id)
        if entry is not None and entry[0] == account.stamp and entry[1] == epoch:
            return entry
        equity = self._settlement_only(account)
        if equity is None:
            return None  # other collateral: valued by the general path
        marks, last = venue.marks, venue.last_trade.last
        columns = model.columns
        e = [0] * len(model.rules.underlyings)
        gross = 0
        values = {}
        for symbol, position in account.positions.items():
            size = position.size
            if size:
                column = columns.get(symbol)
                if column is None:
                    continue
                value = size * (marks.get(symbol) or last.get(symbol) or 0) * column[1]
                equity += value
                e[column[0]] += value
                gross += value if value > 0 else -value
                values[symbol] = value
        entry = (account.stamp, epoch, equity, tuple(e), gross, values)
        self._portfolio_cache[account.id] = entry
        return entry

    def _fits_general(
        self,
        account: Account,
        inst: Instrument,
        price: int,
        delta: int,
        notional: int,
        fee: int,
        model: CrossMargin | PortfolioMargin | None = None,
    ) -> bool:
        """:meth:`fits` for every case: held fills, other collateral, spot pairs, the
        before-and-after rule (``model``: the account's, default cross margin)."""
        venue = self.venue
        prices = venue.index_prices
        balances, sizes = self._held_state(account)
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
        totals = (model or self.cross).totals
        after = totals(after_balances, after_sizes, marks, priced)
        if after[0] >= after[1]:
            return True  # the common case: no need to value the account before the fill
        return acceptable(totals(balances, sizes, marks, priced), after)

    def _held_state(self, account: Account) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the account's balances and position sizes, with its held fills counted."""
        balances = dict(account.balances)
        sizes = {symbol: position.size for symbol, position in account.positions.items()}
        if self.held:
            held = self.held.get(account.id)
            if held is not None:
                for key, change in held[0].items():
                    balances[key] = balances.get(key, 0) + change
                for key, change in held[1].items():
                    sizes[key] = sizes.get(key, 0) + change
        return balances, sizes

    def _sub(self, account_id: str, inst: Instrument) -> Account | None:
        """The isolated sub-account that holds ``account_id``'s position in ``inst``, if any."""
        subs = self.venue.sub_accounts.get(account_id)
        return subs.get(inst.symbol) if subs is not None else None

    def isolated_plan(
        self,
        account_id: str,
        sub: Account,
        inst: Instrument,
        price: int,
        delta: int,
        notional: int,
        fee: int,
        remember: bool = False,
    ) -> tuple[int, int] | None:
        """For a fill on an isolated position: ``(top_up, released)`` atoms the fill moves from
        the main account into the sub-account and back, or ``None`` if it is refused
        (:mod:`exchange_sim.margin.isolated`). The sub-account is checked alone, by the same
        per-fill rule as a cross account; a top-up must leave the main account at its own rule.

        ``remember`` (a fill check): keep the answer for the settlement of the same fill, which
        asks again right after; it is reused only while both accounts (``Account.stamp``) and the
        prices (``Venue.price_epoch``) are unchanged."""
        key = None
        if not self.held:
            main = self.venue.ledger.accounts[account_id]
            key = (sub.id, sub.stamp, main.stamp, self.venue.price_epoch, price, delta, fee)
            if key in self._plans:
                return self._plans[key]
        plan = self._plan_isolated(sub, inst, price, delta, notional, fee, account_id)
        if remember and key is not None:
            self._plans[key] = plan
        return plan

    def _plan_isolated(
        self, sub: Account, inst: Instrument, price: int, delta: int, notional: int, fee: int, account_id: str
    ) -> tuple[int, int] | None:
        """:meth:`isolated_plan`, computed."""
        symbol = inst.symbol
        balance = sub.balances.get(self.cross.settlement, 0)
        position = sub.positions.get(symbol)
        size = position.size if position is not None else 0
        if self.held:
            held = self.held.get(sub.id)
            if held is not None:
                balance += held[0].get(self.cross.settlement, 0)
                size += held[1].get(symbol, 0)
        venue = self.venue
        mark = venue.marks.get(symbol) or venue.last_trade.last.get(symbol) or price
        balance_after = balance - (notional if delta > 0 else -notional) - fee
        size_after = size + delta
        after = self._one_position(balance_after, inst, size_after, mark)
        needed = top_up(size, size_after, after[0], after[1])
        if needed:
            return (needed, 0) if self.main_affords(account_id, needed) else None
        if size_after == 0:
            return 0, max(0, balance_after)
        if after[0] >= after[1]:
            return 0, 0
        before = self._one_position(balance, inst, size, mark)
        return (0, 0) if acceptable(before, after) else None

    def _one_position(self, balance: int, inst: Instrument, size: int, mark: int) -> tuple[int, int, int]:
        """``(equity, initial, maintenance)`` of a sub-account: ``balance`` of the settlement
        asset and ``size`` lots of ``inst`` at ``mark`` (:meth:`CrossMargin.totals` of it)."""
        cross = self.cross
        if cross.oi_caps:
            return cross.totals({cross.settlement: balance}, {inst.symbol: size}, {inst.symbol: mark}, {})
        value = size * mark * inst.atoms_per_tick_per_lot
        initial, maintenance = cross.schedules[inst.symbol].requirements(value if value > 0 else -value)
        return balance + value, initial, maintenance

    def main_affords(self, account_id: str, atoms: int, keep_reserved: bool = False) -> bool:
        """Whether an isolated account's main account can pay ``atoms`` of the settlement asset
        into a position and still meet its own rule: its collateral equity (it holds no
        positions) stays at least zero, or with ``keep_reserved`` (a margin transfer, not a fill)
        at least the margin reserved for its resting orders."""
        venue = self.venue
        balances, _ = self._held_state(venue.ledger.accounts[account_id])
        settlement = self.cross.settlement
        balances[settlement] = balances.get(settlement, 0) - atoms
        prices = venue.index_prices
        for asset, balance in balances.items():
            if balance < 0 and asset != settlement and asset not in prices:
                return False
        priced = {a: prices.get(a, 0) for a in balances if a != settlement}
        equity, _, _ = self.cross.totals(balances, {}, {}, priced)
        return equity >= (self.reserved(account_id) if keep_reserved else 0)

    def may_withdraw(self, account_id: str, asset: str, atoms: int, count_profit: bool) -> bool:
        """Whether withdrawing ``atoms`` of ``asset`` leaves the account at initial margin.

        After the withdrawal, equity (less unrealised profit, unless ``count_profit``) must be
        at least the initial requirement, plus the margin reserved for resting orders under the
        ``"reserve"`` policy. Unrealised profit of a position is its value at the mark less its
        cost basis, counted where positive.
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
        model = self.model(account_id)
        initial = after.initial if model is self.cross else model.requirements(sizes, marks)[0]  # type: ignore[union-attr]
        return equity >= initial + self.reserved(account_id)

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
