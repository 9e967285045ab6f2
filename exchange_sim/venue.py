"""The venue: instruments, books, accounts and the journal behind one API that takes ``ts``.

Every call that changes state takes the simulated time ``ts`` (integer microseconds, never
decreasing) and is journaled as an *input*, followed by its *outputs* (acceptance or rejection,
fills, orders ended, stops triggered). The venue knows nothing of agents or of the simulation
kernel, so it can be driven by a plain loop, a test, or a notebook.

Numbers follow one convention everywhere: an ``int`` is in base units (ticks for prices, lots
for sizes, atoms for amounts); a decimal string or :class:`~decimal.Decimal` is in human units
(``"30000.5"`` USDC per BTC, ``"0.002"`` contracts, ``"100"`` USDC) and is converted exactly,
or refused with a reason code (``PRICE_OFF_TICK``, ``SIZE_OFF_LOT``, ``INVALID_AMOUNT``).

Every refusal returns a :class:`~exchange_sim.orders.Reason` and changes nothing but the journal.
The order vocabulary (time in force, stops, reduce-only, self-trade prevention, amend, client
order ids) is described in ``docs/orders.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from typing import Any

from exchange_sim import __version__
from exchange_sim.accounts import Account, Position
from exchange_sim.book import OrderBook
from exchange_sim.breakers import MarkWindow, outside_band
from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.events import Ev
from exchange_sim.funding import FUNDING_RESIDUE_ACCOUNT, funding_payments
from exchange_sim.instruments import Instrument, InstrumentKind
from exchange_sim.journal import FORMAT_NAME, SCHEMA_VERSION, JournalWriter
from exchange_sim.ledger import Ledger
from exchange_sim.liquidation.engine import BACKSTOP_ACCOUNT, INSURANCE_ACCOUNT, LiquidationEngine
from exchange_sim.margin.config import (
    MODE_CROSS,
    MODE_ISOLATED,
    MODE_PORTFOLIO,
    MODES,
    PLACEMENT_CHECK,
    PLACEMENT_RESERVE,
)
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.dynamic import MAX_SCALE_PPM
from exchange_sim.margin.gate import CrossMarginGate
from exchange_sim.margin.isolated import sub_account_id
from exchange_sim.margin.portfolio import validate_window
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.margin.reserve import ExposureBook
from exchange_sim.matching import AcceptAll, RiskGate, fillable, match, plan
from exchange_sim.order_rules import band_limit, post_only_price, reduce_only_capacity, reduce_only_trims
from exchange_sim.orders import REDUCE_ONLY_FLAG, Order, OrderType, Reason, SelfTrade, Side, TimeInForce
from exchange_sim.reference import LastTradePrices, ReferencePrices, SettablePrices
from exchange_sim.results import Fill, LegsResult, OrderResult, Result
from exchange_sim.stops import StopBook, StopOrder, Trigger
from exchange_sim.units import PPM, UnitError, parse_decimal, to_units, validate_symbol

__all__ = ["Fill", "LegsResult", "OrderResult", "Result", "Venue"]

_SUBMIT, _ACCEPTED, _REJECTED, _FILL, _ENDED = Ev.SUBMIT, Ev.ACCEPTED, Ev.REJECTED, Ev.FILL, Ev.ENDED
_BUY = Side.BUY
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_STOP_MARKET, _STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT
_STOP_TYPES = (_STOP_MARKET, _STOP_LIMIT)
_GTC, _IOC, _FOK, _POST_ONLY = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY
_LAST_TRADE = Trigger.LAST_TRADE
MAX_CLIENT_ID = 36
MAX_LEGS = 8
"""Most legs a multi-leg order may have."""


def _discard(event: tuple[Any, ...]) -> None:
    return None


def _raw(value: Any) -> Any:
    """A value as the journal stores it: msgpack-native types as they are, others as strings."""
    if type(value) is int:
        return value
    if value is None or isinstance(value, str | float | bool):
        return value
    if isinstance(value, int):
        return int(value) if isinstance(value, IntEnum) else value
    if isinstance(value, Decimal):
        return str(value)
    try:
        return operator.index(value)
    except TypeError:
        return repr(value)


def _plain(value: Any) -> Any:
    """A value as the journal stores it, lists (and tuples) kept as lists of stored values."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return _raw(value)


class Venue:
    """An exchange: listed instruments, their books, accounts and (optionally) a journal.

    Args:
        config: assets, instruments and venue options (see :mod:`exchange_sim.config`).
        journal: where to record every event; ``None`` records nothing.
        gate: the per-fill risk gate (default: accept every fill).
        meta: free-form run metadata stored in the journal header (scenario name, seed, ...).
    """

    def __init__(
        self,
        config: VenueConfig,
        *,
        journal: JournalWriter | None = None,
        gate: RiskGate | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in config.instruments}
        placement = config.margin.placement if config.margin is not None else None
        book_type = ExposureBook if placement == PLACEMENT_RESERVE and gate is None else OrderBook
        self.books: dict[str, OrderBook] = {i.symbol: book_type(i.symbol) for i in config.instruments}
        self.stops: dict[str, StopBook] = {i.symbol: StopBook() for i in config.instruments}
        self.assets = {a.symbol: a for a in config.assets}
        self._listing = {i.symbol: (i, n, self.books[i.symbol]) for n, i in enumerate(config.instruments)}
        self._asset_index = {a.symbol: n for n, a in enumerate(config.assets)}
        self.ledger = Ledger(list(self.assets))
        self._users: dict[str, Account] = {}
        """User accounts only (the ledger also holds system accounts such as ``@fees``)."""
        self.sub_accounts: dict[str, dict[str, Account]] = {}
        """Isolated accounts: instrument -> the sub-account that holds the position."""
        self.portfolio_accounts: set[str] = set()
        """Accounts in the ``"portfolio"`` margin mode."""
        self.margin_scales: dict[str, int] = {}
        """Dynamic margin: the scale (ppm) in force per underlying, as last set by
        :meth:`set_margin_rates` (absent: 1x)."""
        self.margin_covariance: tuple[tuple[float, ...], ...] | None = None
        """Dynamic margin: the covariance last given to portfolio VaR (``None``: the configured one)."""
        self.margin_returns: tuple[tuple[float, ...], ...] | None = None
        """Dynamic margin: the window of moves last given to historical VaR (``None``: none yet)."""
        self.marks: dict[str, int] = {}
        """Mark price (ticks) per instrument, as last set by :meth:`set_mark_price`."""
        self.index_prices: dict[str, int] = {}
        """Index price per non-settlement asset, in settlement atoms per whole unit."""
        self._breakers = {b.instrument: b for b in config.breakers}
        self._mark_windows = {
            b.instrument: MarkWindow(b.window_us) for b in config.breakers if b.halt_move_ppm
        }
        self.halted_until: dict[str, int] = {}
        """Per instrument, when its current volatility halt ends (microseconds)."""
        self.settled: dict[str, int] = {}
        """Settlement price (ticks) of every dated future settled at its expiry."""
        self.price_epoch = 0
        """Bumped whenever a price that margin is valued at changes: a mark, an index price, or
        the last trade of an instrument without a mark (caches compare it)."""
        if gate is None and config.margin is not None:
            margin = config.margin
            cross = CrossMargin(
                margin.settlement,
                self.instruments,
                margin.schedule_map(),
                self.assets,
                margin.rule_map(),
                open_interest=self.ledger.open_interest,
                oi_caps=dict(margin.open_interest_caps),
            )
            portfolio = PortfolioMargin(cross, margin.portfolio) if margin.portfolio is not None else None
            gate = CrossMarginGate(self, cross, reserving=book_type is ExposureBook, portfolio=portfolio)
        self.gate: RiskGate = gate if gate is not None else AcceptAll()
        self.liquidation: LiquidationEngine | None = None
        """The liquidation engine, when the configuration has liquidation rules (``docs/liquidation.md``)."""
        self.tape: list[Fill] | None = None
        """When a list (the simulator's market data), every fill is appended to it, whatever input
        caused it (an order, a triggered stop, a liquidation); the reader drains it."""
        self._liquidating: Account | None = None
        """The unit a liquidation order is closing (an isolated one keeps its margin until done)."""
        self._placement = placement if isinstance(self.gate, CrossMarginGate) else None
        self._applied = self.gate.applied if isinstance(self.gate, CrossMarginGate) else None
        """Tells the gate a checked fill applied (it keeps the totals it computed)."""
        """The placement policy in force: ``"check"`` or ``"reserve"`` check new orders
        (:meth:`_placement_refused`); ``None`` or ``"fills"`` do not."""
        self.last_trade = LastTradePrices()
        self.external_prices = SettablePrices()
        self.reference: ReferencePrices = (
            self.last_trade if config.reference_price is ReferenceSource.LAST_TRADE else self.external_prices
        )
        self.now = 0
        self.next_order_id = 1
        self._client_ids: dict[tuple[str, str], Order] = {}
        """Live orders (resting or untriggered stops) by (account, client order id)."""
        self._stp_defaults: dict[str, SelfTrade] = {}
        self._stp_venue = config.self_trade_prevention
        self._reduce_only: dict[tuple[str, str], list[Order]] = {}
        """Resting reduce-only orders by (account, instrument); may hold orders that have left."""
        self._stop_count = 0
        self.journal = journal
        self._write = journal.write if journal is not None else _discard
        self._write_input = journal.write_input if journal is not None else _discard
        if journal is not None and journal.header is None:
            journal.write_header(self.header(meta))
        # per-execution context for the matching callbacks (avoids a closure per order)
        self._inst: Instrument | None = None
        self._book: OrderBook | None = None
        self._result: OrderResult | None = None
        self._settle = self.ledger.settle_trade
        self._settlers = {
            i.symbol: self.ledger.settle_spot if i.is_spot else self.ledger.settle_trade
            for i in config.instruments
        }
        if config.liquidation is not None and isinstance(self.gate, CrossMarginGate):
            self.liquidation = LiquidationEngine(self, config.liquidation, self.gate.cross)

    def header(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The journal header: format, schema, package version, resolved configuration, metadata."""
        return {
            "format": FORMAT_NAME,
            "schema": SCHEMA_VERSION,
            "package_version": __version__,
            "config": self.config.to_dict(),
            "meta": dict(meta or {}),
        }

    # ---------------------------------------------------------------- accounts and money

    def open_account(self, ts: int, account_id: str, margin_mode: str | None = None) -> Result:
        """Open a user account (ids: letters, digits, ``_ . -``; unique).

        ``margin_mode`` (venues with margin rules): ``"cross"``, ``"isolated"`` or, with portfolio
        rules, ``"portfolio"``; by default the rules' ``mode``. An isolated account gets one
        sub-account per contract settled in the margin asset (``docs/margin.md``, "Isolated
        margin"); a portfolio account is charged by ``docs/portfolio-margin.md``.
        """
        _check_ts(ts)
        record: tuple[Any, ...] = (Ev.OPEN_ACCOUNT, ts, _raw(account_id))
        if margin_mode is not None:
            record += (_raw(margin_mode),)
        self._write_input(record)
        reason = self._stale(ts)
        margin = self.config.margin
        if reason is None:
            try:
                validate_symbol(account_id, "account id")
            except UnitError:
                reason = Reason.INVALID_ACCOUNT_ID
            else:
                if account_id in self.ledger.accounts:
                    reason = Reason.DUPLICATE_ACCOUNT
                elif margin_mode is not None and (
                    margin is None
                    or margin_mode not in MODES
                    or not isinstance(self.gate, CrossMarginGate)
                    or (margin_mode == MODE_PORTFOLIO and self.gate.portfolio is None)
                ):
                    reason = Reason.INVALID_MARGIN_MODE
        if reason is not None:
            return self._reject(reason)
        self._users[account_id] = self.ledger.open(account_id)
        mode = margin_mode if margin_mode is not None else margin.mode if margin is not None else MODE_CROSS
        if mode == MODE_ISOLATED and isinstance(self.gate, CrossMarginGate):
            assert margin is not None
            self.sub_accounts[account_id] = {
                inst.symbol: self.ledger.open(sub_account_id(account_id, inst.symbol))
                for inst in self.config.instruments
                if not inst.is_spot and inst.settlement_asset == margin.settlement
            }
        elif mode == MODE_PORTFOLIO and isinstance(self.gate, CrossMarginGate):
            self.portfolio_accounts.add(account_id)
        return Result(True)

    def margin_mode(self, account_id: str) -> str:
        """``"isolated"``, ``"portfolio"`` or ``"cross"`` (KeyError for an unknown account)."""
        if account_id not in self._users:
            raise KeyError(account_id)
        if account_id in self.sub_accounts:
            return MODE_ISOLATED
        return MODE_PORTFOLIO if account_id in self.portfolio_accounts else MODE_CROSS

    def transfer_margin(self, ts: int, account: str, instrument: str, amount: int | str | Decimal) -> Result:
        """Move settlement-asset margin between an isolated account and one of its positions.

        ``amount > 0`` adds margin to the position (moves its liquidation price away); refused
        with ``INSUFFICIENT_MARGIN`` if the main account cannot afford it. ``amount < 0`` removes
        margin; refused with ``WITHDRAWAL_BREACHES_MARGIN`` if the position would be left below
        initial margin (unrealised profit counts only where the rules allow it for withdrawals).
        ``value``: the atoms moved (signed).
        """
        _check_ts(ts)
        acct = self._user_account(account)
        listing = self._listing.get(instrument) if type(instrument) is str else None
        amount = _raw(amount)
        self._write_input(
            (
                Ev.MARGIN_TRANSFER,
                ts,
                acct.index if acct else _raw(account),
                listing[1] if listing is not None else _raw(instrument),
                amount,
            )
        )
        reason = self._stale(ts)
        atoms = 0
        sub = None
        if reason is None:
            subs = self.sub_accounts.get(account) if acct is not None else None
            if acct is None:
                reason = Reason.UNKNOWN_ACCOUNT
            elif listing is None:
                reason = Reason.UNKNOWN_INSTRUMENT
            elif subs is None or instrument not in subs:
                reason = Reason.NOT_ISOLATED
            else:
                sub = subs[instrument]
                settlement = self.config.margin.settlement  # type: ignore[union-attr]
                atoms = _to_base(amount, Fraction(1, 10 ** self.assets[settlement].decimals))  # type: ignore[assignment]
                gate: CrossMarginGate = self.gate  # type: ignore[assignment]
                if atoms is None or atoms == 0:
                    reason = Reason.INVALID_AMOUNT
                elif atoms > 0 and not gate.main_affords(account, atoms, keep_reserved=True):
                    reason = Reason.INSUFFICIENT_MARGIN
                elif atoms < 0 and not gate.may_withdraw(
                    sub.id,
                    settlement,
                    -atoms,
                    self.config.margin.unrealized_profit_withdrawable,  # type: ignore[union-attr]
                ):
                    reason = Reason.WITHDRAWAL_BREACHES_MARGIN
        if reason is not None:
            return self._reject(reason)
        assert acct is not None and sub is not None
        self._move_margin(acct, sub, instrument, atoms)
        return Result(True, value=atoms)

    def _move_margin(self, main: Account, sub: Account, instrument: str, atoms: int) -> None:
        """Move ``atoms`` of the settlement asset from ``main`` into ``sub`` (negative: back)."""
        settlement = self.config.margin.settlement  # type: ignore[union-attr]
        self.ledger.transfer(main, sub, settlement, atoms)
        self._write((Ev.MARGIN_MOVED, main.index, self._listing[instrument][1], atoms))

    def deposit(self, ts: int, account: str, asset: str, amount: int | str | Decimal) -> Result:
        """Credit ``amount`` (int atoms, or a decimal string in whole units) of ``asset``."""
        return self._money(Ev.DEPOSIT, ts, account, asset, amount)

    def withdraw(self, ts: int, account: str, asset: str, amount: int | str | Decimal) -> Result:
        """Debit ``amount`` of ``asset``: refused beyond the balance (``INSUFFICIENT_BALANCE``) or,
        with margin rules, beyond what keeps the account at initial margin
        (``WITHDRAWAL_BREACHES_MARGIN``; see ``docs/margin.md``)."""
        return self._money(Ev.WITHDRAW, ts, account, asset, amount)

    def deposit_system(self, ts: int, account: str, asset: str, amount: int | str | Decimal) -> Result:
        """Capitalise the insurance fund (``"@insurance"``) or the backstop vault (``"@backstop"``)
        of a venue with liquidation rules: money enters the venue as a deposit into that system
        account (``NOT_A_SYSTEM_ACCOUNT`` for any other account)."""
        return self._money(Ev.SYSTEM_DEPOSIT, ts, account, asset, amount)

    def _system_account(self, account: Any) -> Account | None:
        """The insurance fund or the backstop vault named ``account``, if this venue has it."""
        engine = self.liquidation
        if engine is None:
            return None
        if account == INSURANCE_ACCOUNT:
            return engine.fund
        return engine.vault if account == BACKSTOP_ACCOUNT else None

    def _money(self, code: Ev, ts: int, account: str, asset: str, amount: Any) -> Result:
        _check_ts(ts)
        system = code is Ev.SYSTEM_DEPOSIT  # journaled by name: system accounts have no OPEN_ACCOUNT
        acct = self._system_account(account) if system else self._user_account(account)
        asset_n = self._asset_index.get(asset) if type(asset) is str else None
        amount = _raw(amount)
        ref = _raw(account) if system or acct is None else acct.index
        self._write_input((code, ts, ref, asset if asset_n is None else asset_n, amount))
        reason = self._stale(ts)
        atoms = 0
        if reason is None:
            if acct is None:
                reason = Reason.NOT_A_SYSTEM_ACCOUNT if system else Reason.UNKNOWN_ACCOUNT
            elif asset_n is None:
                reason = Reason.UNKNOWN_ASSET
            else:
                atoms = _to_base(amount, Fraction(1, 10 ** self.assets[asset].decimals))
                if atoms is None or atoms <= 0:
                    reason = Reason.INVALID_AMOUNT
                elif code is Ev.WITHDRAW:
                    reason = self._withdrawal_refusal(acct, asset, atoms)
        if reason is not None:
            return self._reject(reason)
        assert acct is not None
        if code is Ev.WITHDRAW:
            self.ledger.withdraw(acct, asset, atoms)
        else:
            self.ledger.deposit(acct, asset, atoms)
        return Result(True, value=atoms)

    def _withdrawal_refusal(self, acct: Account, asset: str, atoms: int) -> Reason | None:
        """Without margin rules a withdrawal is limited by the balance. With them, the margin
        asset may be withdrawn (even into a negative balance: borrowing against equity) as long as
        the account stays at initial margin; other assets never beyond their balance."""
        engine = self.liquidation
        if engine is not None and engine.rules.gate_withdrawals and engine.stats.negative:
            return Reason.WITHDRAWALS_GATED
        margin = self.config.margin
        borrows = margin is not None and asset == margin.settlement
        if not borrows and atoms > acct.balances.get(asset, 0):
            return Reason.INSUFFICIENT_BALANCE
        gate = self.gate
        if (
            margin is not None
            and isinstance(gate, CrossMarginGate)
            and not gate.may_withdraw(acct.id, asset, atoms, margin.unrealized_profit_withdrawable)
        ):
            return Reason.WITHDRAWAL_BREACHES_MARGIN
        return None

    def set_self_trade_prevention(self, ts: int, account: str, mode: SelfTrade) -> Result:
        """Set an account's default self-trade prevention mode (orders may still override it)."""
        _check_ts(ts)
        acct = self._user_account(account)
        self._write_input((Ev.SET_SELF_TRADE, ts, acct.index if acct else _raw(account), _raw(mode)))
        reason = self._stale(ts)
        resolved = _enum(SelfTrade, mode)
        if reason is None:
            if acct is None:
                reason = Reason.UNKNOWN_ACCOUNT
            elif resolved is None:
                reason = Reason.INVALID_SELF_TRADE_MODE
        if reason is not None:
            return self._reject(reason)
        self._stp_defaults[account] = resolved
        return Result(True)

    # ---------------------------------------------------------------- prices

    def set_reference_price(self, ts: int, instrument: str, price: int | str) -> Result:
        """Push an external reference price (venues configured with ``reference_price = "external"``,
        and stops that watch ``Trigger.EXTERNAL``). Triggered stops are released at once."""
        listing, price, reason = self._instrument_input(Ev.SET_REFERENCE, ts, instrument, price)
        ticks = None
        if reason is None:
            if self.reference is not self.external_prices:
                reason = Reason.REFERENCE_NOT_EXTERNAL
            else:
                ticks = self._ticks(price, listing[0])
                if ticks is None:
                    reason = _bad_price(price, listing[0])
        if reason is not None:
            return self._reject(reason)
        self.external_prices.set(instrument, ticks)  # type: ignore[arg-type]
        if self._stop_count:
            self._release_stops()
        return Result(True, value=ticks)

    def _instrument_input(
        self, code: Ev, ts: int, instrument: Any, value: Any
    ) -> tuple[Any, Any, Reason | None]:
        """The start of every input about one instrument with one value (a price, a rate):
        journal it, then check the time and the instrument. ``(listing, value as journaled,
        reason)``; ``listing`` is ``(instrument, index, book)`` whenever ``reason`` is ``None``."""
        _check_ts(ts)
        listing = self._listing.get(instrument) if type(instrument) is str else None
        value = _raw(value)
        self._write_input((code, ts, listing[1] if listing is not None else _raw(instrument), value))
        reason = self._stale(ts)
        if reason is None and listing is None:
            reason = Reason.UNKNOWN_INSTRUMENT
        return listing, value, reason

    def set_mark_price(self, ts: int, instrument: str, price: int | str) -> Result:
        """Set an instrument's mark price (ticks, or a decimal string), which margin is valued at.

        Until the prices issue brings mark processes, tests and scenarios set marks directly.
        """
        listing, price, reason = self._instrument_input(Ev.SET_MARK, ts, instrument, price)
        ticks = None
        if reason is None:
            ticks = self._ticks(price, listing[0])
            if ticks is None:
                reason = _bad_price(price, listing[0])
        if reason is not None:
            return self._reject(reason)
        self.marks[instrument] = ticks  # type: ignore[assignment]
        self.price_epoch += 1
        window = self._mark_windows.get(instrument)
        if window is not None:
            breaker = self._breakers[instrument]
            if window.moved_too_far(ts, ticks, breaker.halt_move_ppm):  # type: ignore[arg-type]
                until = max(self.halted_until.get(instrument, 0), ts + breaker.halt_us)
                self.halted_until[instrument] = until
                self._write((Ev.HALTED, listing[1], until))  # type: ignore[index]
        if self.liquidation is not None:
            self._run_liquidation(ts)
        return Result(True, value=ticks)

    def set_index_price(self, ts: int, asset: str, price: int | str) -> Result:
        """Set a collateral asset's index price: an int in settlement atoms per whole unit, or a
        decimal string in settlement units (``"30000"`` USDC per BTC)."""
        _check_ts(ts)
        asset_n = self._asset_index.get(asset) if type(asset) is str else None
        price = _raw(price)
        self._write_input((Ev.SET_INDEX, ts, asset if asset_n is None else asset_n, price))
        reason = self._stale(ts)
        atoms = None
        if reason is None:
            margin = self.config.margin
            if asset_n is None:
                reason = Reason.UNKNOWN_ASSET
            elif margin is None:
                reason = Reason.MARGIN_NOT_CONFIGURED
            else:
                atoms = _to_base(price, Fraction(1, 10 ** self.assets[margin.settlement].decimals))
                if atoms is None or atoms < 0:
                    reason = Reason.INVALID_PRICE
        if reason is not None:
            return self._reject(reason)
        self.index_prices[asset] = atoms  # type: ignore[assignment]
        self.price_epoch += 1
        if self.liquidation is not None:
            self._run_liquidation(ts)
        return Result(True, value=atoms)

    # ---------------------------------------------------------------- dynamic margin

    def set_margin_rates(
        self,
        ts: int,
        scales: Any,
        covariance: Sequence[Sequence[float]] | None = None,
        returns: Sequence[Sequence[float]] | None = None,
    ) -> Result:
        """Dynamic margin (:mod:`exchange_sim.margin.dynamic`): put margin scales in force.

        ``scales``: ``{underlying: scale in ppm}`` (or ``[[underlying, ppm], ...]``); every
        bracket rate of the contracts on an underlying becomes the configured rate times its
        scale, and so does the portfolio stress grid's scan range. ``covariance``: for portfolio
        rules with VaR, the annual covariance of the rules' underlyings to use from now on.
        ``returns``: for historical VaR rules, the window of moves over the horizon (``T`` rows,
        one move per underlying of the rules) to use from now on.
        Units pushed below maintenance are liquidated by the venue's rules, after the dynamic
        margin's ``grace_us``. Refused with ``INVALID_MARGIN_RATES`` (nothing changes) for an
        unknown underlying, a scale outside 1..100x, or a covariance or window the rules cannot use.
        """
        _check_ts(ts)
        pairs = _plain([[u, v] for u, v in scales.items()] if isinstance(scales, dict) else scales)
        cov = _plain(covariance)
        record: tuple[Any, ...] = (Ev.MARGIN_RATES, ts, pairs, cov)
        window = None
        if returns is not None:  # only then: journals without historical VaR keep their shape
            window = _plain(returns)
            record += (window,)
        self._write_input(record)
        reason = self._stale(ts)
        gate = self.gate
        parsed: dict[str, int] = {}
        matrix = moves = None
        if reason is None:
            if not isinstance(gate, CrossMarginGate):
                reason = Reason.MARGIN_NOT_CONFIGURED
            else:
                parsed, matrix, reason = self._margin_rates(gate, pairs, cov)
                if reason is None and window is not None:
                    moves, reason = self._returns_window(gate, window)
        if reason is not None:
            return self._reject(reason)
        assert isinstance(gate, CrossMarginGate)
        engine = self.liquidation
        grace = self.config.margin.dynamic.grace_us if self.config.margin.dynamic else 0  # type: ignore[union-attr]
        before = {a.id for a, _ in engine.flagged()} if engine is not None and grace else set()
        self.margin_scales.update(parsed)
        if matrix is not None:
            self.margin_covariance = matrix
        if moves is not None:
            self.margin_returns = moves
        base = self.config.margin.schedule_map()  # type: ignore[union-attr]
        schedules = gate.cross.schedules
        for symbol, inst in self.instruments.items():
            if symbol in base and inst.underlying in parsed:
                schedules[symbol] = base[symbol].scaled(parsed[inst.underlying])  # type: ignore[index]
        gate.schedules_changed()
        if gate.portfolio is not None:
            gate.portfolio.set_rules(
                gate.portfolio.base.scaled(self.margin_scales, self.margin_covariance, self.margin_returns)
            )
        self.price_epoch += 1  # every cached requirement is stale
        if engine is not None:
            engine.scan.schedules_changed()
            if grace:
                for account, _ in engine.flagged():
                    if account.id not in before:
                        engine.grace_until[account.id] = ts + grace
            self._run_liquidation(ts)
        return Result(True)

    def _margin_rates(
        self, gate: CrossMarginGate, pairs: Any, cov: Any
    ) -> tuple[dict[str, int], tuple[tuple[float, ...], ...] | None, Reason | None]:
        """Validate a ``MARGIN_RATES`` input: ``(scales, covariance, reason or None)``."""
        bad = ({}, None, Reason.INVALID_MARGIN_RATES)
        margin = self.config.margin
        assert margin is not None
        known = {
            inst.underlying
            for inst in self.instruments.values()
            if not inst.is_spot and inst.settlement_asset == margin.settlement
        }
        if not isinstance(pairs, list):
            return bad
        parsed: dict[str, int] = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                return bad
            if pair[0] not in known or pair[0] in parsed:
                return bad
            scale = pair[1]
            if type(scale) is not int or not 1 <= scale <= MAX_SCALE_PPM:
                return bad
            parsed[pair[0]] = scale
        if cov is None:
            return parsed, None, None
        portfolio = gate.portfolio
        if portfolio is None or portfolio.base.method == "stress" or not isinstance(cov, list):
            return bad
        n = len(portfolio.base.underlyings)
        if len(cov) != n or any(not isinstance(row, list) or len(row) != n for row in cov):
            return bad
        if any(type(x) is not float or not math.isfinite(x) for row in cov for x in row):
            return bad
        matrix = tuple(tuple(row) for row in cov)
        try:
            portfolio.base.scaled(parsed, matrix)  # symmetric, positive semi-definite
        except UnitError:
            return bad
        return parsed, matrix, None

    def _returns_window(
        self, gate: CrossMarginGate, window: Any
    ) -> tuple[tuple[tuple[float, ...], ...] | None, Reason | None]:
        """Validate a ``MARGIN_RATES`` input's window of moves for historical VaR rules."""
        portfolio = gate.portfolio
        if portfolio is None or portfolio.base.var_model != "historical" or portfolio.base.method == "stress":
            return None, Reason.INVALID_MARGIN_RATES
        if not isinstance(window, list) or any(
            not isinstance(row, list) or any(type(x) is not float for x in row) for row in window
        ):
            return None, Reason.INVALID_MARGIN_RATES
        try:
            return validate_window(window, len(portfolio.base.underlyings)), None
        except UnitError:
            return None, Reason.INVALID_MARGIN_RATES

    # ---------------------------------------------------------------- funding

    def apply_funding(self, ts: int, instrument: str, rate_ppm: int) -> Result:
        """Pay one funding interval of a perpetual at ``rate_ppm`` (:func:`exchange_sim.funding.
        funding_rate` computes it from premium samples): every position, wherever it is held
        (isolated sub-accounts and system accounts included), pays or receives
        ``size x mark x atoms_per_tick_per_lot x rate``, longs paying shorts when the rate is
        positive. Payers' charges round up and receivers' credits down; the residue stays in the
        system account ``@funding`` (opened at the first funding), so the payments net to
        exactly zero (:func:`exchange_sim.funding.funding_payments`). Journaled as ``FUNDED`` per
        account. Refused for a non-perpetual (``NOT_A_PERPETUAL``), a rate that is not an integer
        in (-1000000, 1000000) ppm (``INVALID_RATE``) and without a mark or a last trade
        (``NO_MARK_PRICE``). ``value``: the residue in atoms."""
        listing, rate_ppm, reason = self._instrument_input(Ev.FUNDING, ts, instrument, rate_ppm)
        mark = None
        if reason is None:
            if listing[0].kind is not InstrumentKind.PERPETUAL:
                reason = Reason.NOT_A_PERPETUAL
            elif type(rate_ppm) is not int or not -PPM < rate_ppm < PPM:
                reason = Reason.INVALID_RATE
            else:
                mark = self.marks.get(instrument) or self.last_trade.last.get(instrument)
                if mark is None:
                    reason = Reason.NO_MARK_PRICE
        if reason is not None:
            return self._reject(reason)
        assert listing is not None and mark is not None
        inst = listing[0]
        positions = {
            account.id: account.positions[instrument].size
            for account in self.ledger.by_index
            if instrument in account.positions and account.positions[instrument].size
        }
        payments = funding_payments(positions, mark, rate_ppm, inst.atoms_per_tick_per_lot)
        if not payments.transfers:
            return Result(True, value=0)
        pool = self.ledger.accounts.get(FUNDING_RESIDUE_ACCOUNT) or self.ledger.open(FUNDING_RESIDUE_ACCOUNT)
        accounts, asset = self.ledger.accounts, inst.settlement_asset
        for transfer in payments.transfers:  # computed above: from here on, transfers only
            self.ledger.transfer(pool, accounts[transfer.account], asset, transfer.amount)
        for transfer in payments.transfers:
            self._write((Ev.FUNDED, accounts[transfer.account].index, transfer.amount))
        if self.liquidation is not None:
            self._run_liquidation(ts)
        return Result(True, value=payments.residue)

    # ---------------------------------------------------------------- expiry

    def settle_expiry(self, ts: int, instrument: str, price: int | str | Decimal) -> Result:
        """Settle a dated future at its expiry: every resting order and untriggered stop of the
        instrument ends (``INSTRUMENT_EXPIRED``), and every position is closed at ``price`` (the
        settlement price, e.g. an average of the index over a window:
        :func:`exchange_sim.settlement.settlement_price`), each holder receiving or paying
        ``size x price x atoms_per_tick_per_lot`` (journaled as ``SETTLED``); an isolated
        position's remaining margin returns to its main account. Refused before the expiry time
        (``NOT_EXPIRED``), for an instrument that is not a future (``NOT_A_FUTURE``) and a second
        time (``ALREADY_SETTLED``). Orders on an expired future are refused already
        (``INSTRUMENT_EXPIRED``). ``value``: the settlement price in ticks."""
        listing, price, reason = self._instrument_input(Ev.SETTLE_EXPIRY, ts, instrument, price)
        ticks = None
        if reason is None:
            if listing[0].expiry_us is None or listing[0].is_spot:
                reason = Reason.NOT_A_FUTURE
            elif ts < listing[0].expiry_us:
                reason = Reason.NOT_EXPIRED
            elif instrument in self.settled:
                reason = Reason.ALREADY_SETTLED
            else:
                ticks = self._ticks(price, listing[0])
                if ticks is None:
                    reason = _bad_price(price, listing[0])
        if reason is not None:
            return self._reject(reason)
        assert listing is not None and ticks is not None
        inst, _, book = listing
        for order in sorted(book.orders.values(), key=_by_id):
            book.remove(order)
            self._write((_ENDED, order.order_id, Reason.INSTRUMENT_EXPIRED, order.remaining))
            if order.client_id is not None:
                self._forget(order)
        stop_book = self.stops[instrument]
        for stop in sorted(stop_book.orders.values(), key=lambda s: s.order.order_id):
            stop_book.remove(stop.order.order_id)
            self._stop_count -= 1
            self._write((_ENDED, stop.order.order_id, Reason.INSTRUMENT_EXPIRED, stop.order.remaining))
            if stop.order.client_id is not None:
                self._forget(stop.order)
        self._reduce_only = {k: v for k, v in self._reduce_only.items() if k[1] != instrument}
        for account, size, amount in self.ledger.settle_positions(inst, ticks):
            self._write((Ev.SETTLED, account.index, size, amount))
        for main_id, subs in self.sub_accounts.items():
            sub = subs.get(instrument)
            left = sub.balances.get(inst.settlement_asset, 0) if sub is not None else 0
            if left > 0:
                self._move_margin(self.ledger.accounts[main_id], sub, instrument, -left)  # type: ignore[arg-type]
        self.settled[instrument] = ticks
        self.marks[instrument] = ticks
        self.price_epoch += 1
        if self.liquidation is not None:
            self._run_liquidation(ts)
        return Result(True, value=ticks)

    # ---------------------------------------------------------------- orders

    def submit(
        self,
        ts: int,
        account: str,
        instrument: str,
        side: Side,
        size: int | str | Decimal,
        price: int | str | Decimal | None = None,
        order_type: OrderType = _LIMIT,
        tif: TimeInForce = _GTC,
        *,
        stop_price: int | str | Decimal | None = None,
        trigger: Trigger = _LAST_TRADE,
        reduce_only: bool = False,
        client_id: str | None = None,
        stp: SelfTrade | None = None,
    ) -> OrderResult:
        """Submit an order; it matches at once and (GTC or post-only limit) rests what is left.

        ``size`` in lots (int) or contracts (decimal string); ``price`` in ticks (int) or
        settlement units per underlying unit (decimal string). Market orders take no price: they
        fill no further than ``market_band_ppm`` from the reference price and never rest. Stop
        orders (``STOP_MARKET``, ``STOP_LIMIT``) wait until the ``trigger`` price reaches
        ``stop_price``. See ``docs/orders.md`` for ``tif``, ``reduce_only``, ``client_id`` and
        ``stp`` (self-trade prevention).
        """
        if type(ts) is not int or ts < 0:
            _check_ts(ts)
        acct = self._users.get(account) if type(account) is str else None
        listing = self._listing.get(instrument) if type(instrument) is str else None
        if type(size) is not int:
            size = _raw(size)
        if price is not None and type(price) is not int:
            price = _raw(price)
        record: tuple[Any, ...] = (
            _SUBMIT,
            ts,
            acct.index if acct is not None else _raw(account),
            listing[1] if listing is not None else _raw(instrument),
            side if type(side) is Side else _raw(side),
            order_type if type(order_type) is OrderType else _raw(order_type),
            tif if type(tif) is TimeInForce else _raw(tif),
            size,
            price,
        )
        plain = (
            stop_price is None
            and trigger is _LAST_TRADE
            and reduce_only is False
            and client_id is None
            and stp is None
        )
        if not plain:
            record += (_raw(stop_price), _raw(trigger), _raw(reduce_only), _raw(client_id), _raw(stp))
        self._write_input(record)
        # ---- validate: first failure wins, nothing changes
        if ts < self.now:
            return self._reject_order(Reason.STALE_TIMESTAMP)
        self.now = ts
        if acct is None:
            return self._reject_order(Reason.UNKNOWN_ACCOUNT)
        if listing is None:
            return self._reject_order(Reason.UNKNOWN_INSTRUMENT)
        inst, _, book = listing
        if type(side) is not Side:
            side = _enum(Side, side)
            if side is None:
                return self._reject_order(Reason.INVALID_SIDE)
        if type(order_type) is not OrderType:
            order_type = _enum(OrderType, order_type)
            if order_type is None:
                return self._reject_order(Reason.INVALID_ORDER_TYPE)
        if type(tif) is not TimeInForce:
            tif = _enum(TimeInForce, tif)
            if tif is None:
                return self._reject_order(Reason.INVALID_TIME_IN_FORCE)
        if inst.expiry_us is not None and ts >= inst.expiry_us:
            return self._reject_order(Reason.INSTRUMENT_EXPIRED)
        if type(size) is not int:
            lots = _to_base(size, inst.lot_size)
            if lots is None:
                return self._reject_order(Reason.SIZE_OFF_LOT if _is_decimal(size) else Reason.INVALID_SIZE)
        else:
            lots = size
        if lots <= 0:
            return self._reject_order(Reason.INVALID_SIZE)
        if lots < inst.min_size:
            return self._reject_order(Reason.BELOW_MIN_SIZE)
        is_market = order_type is _MARKET or order_type is _STOP_MARKET
        if is_market:
            if price is not None:
                return self._reject_order(Reason.MARKET_ORDER_HAS_PRICE)
            if tif is _POST_ONLY:
                return self._reject_order(Reason.INVALID_TIME_IN_FORCE)
            ticks = 0
        else:
            if type(price) is int and price > 0:
                ticks = price
            else:
                ticks = self._ticks(price, inst)
                if ticks is None:
                    return self._reject_order(_bad_price(price, inst))
        stop = None
        flags = 0
        mode = None
        if not plain or order_type is _STOP_MARKET or order_type is _STOP_LIMIT:
            reason, stop, flags, mode = self._validate_extras(
                acct, inst, side, order_type, stop_price, trigger, reduce_only, client_id, stp
            )
            if reason is not None:
                return self._reject_order(reason)
        if mode is None:
            mode = self._stp_defaults.get(account, self._stp_venue) if self._stp_defaults else self._stp_venue
        if order_type is _MARKET:
            ref = self.reference.reference_price(inst.symbol)
            if ref is None:
                return self._reject_order(Reason.NO_REFERENCE_PRICE)
            ticks = band_limit(ref, side, inst.market_band_ppm)
        if self._breakers:
            reason = self._breaker_refusal(inst.symbol, side, None if is_market else ticks)
            if reason is not None:
                return self._reject_order(reason)
        repriced = False
        if tif is _POST_ONLY and order_type is _LIMIT:
            best = book.best_ask() if side is _BUY else book.best_bid()
            posted = post_only_price(side, ticks, best, inst.post_only_reprice)
            if posted is None:
                return self._reject_order(Reason.POST_ONLY_WOULD_TAKE)
            repriced, ticks = posted != ticks, posted
        if (
            self._placement is not None
            and stop is None
            and self._placement_refused(
                acct.id, inst, side, lots, ticks, (tif is _GTC or tif is _POST_ONLY) and not is_market
            )
        ):
            return self._reject_order(Reason.INSUFFICIENT_MARGIN)
        # ---- accepted
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(
            order_id, account, inst.symbol, side, ticks, lots, lots, tif, ts, 0, mode, flags, client_id
        )
        if client_id is not None:
            self._client_ids[(account, client_id)] = order
        result = OrderResult(True, order_id=order_id)
        if stop is not None:
            self._write((_ACCEPTED, order_id))
            stop.order = order
            self.stops[inst.symbol].add(stop)
            self._stop_count += 1
            result.remaining = lots
            result.stop_pending = True
            return result
        self._write((_ACCEPTED, order_id) if order_type is not _MARKET else (_ACCEPTED, order_id, ticks))
        if repriced:
            self._write((Ev.REPRICED, order_id, ticks))
        self._execute(order, inst, book, result, is_market)
        if self._stop_count:
            self._release_stops()
        return result

    def _placement_refused(
        self,
        account_id: str,
        inst: Instrument,
        side: Side,
        lots: int,
        price: int,
        rests: bool,
        replaces: Order | None = None,
    ) -> bool:
        """Whether the placement policy refuses an order of ``lots`` at ``price`` (``rests``:
        whether what does not fill would rest; ``replaces``: the resting order an amend would
        replace). Reservations concern resting orders only: an order that never rests
        (immediate-or-cancel, fill-or-kill, market) is left to the fill-time check under
        ``"reserve"``. See ``docs/margin.md``, "Order placement"."""
        gate: CrossMarginGate = self.gate  # type: ignore[assignment]
        if self._placement == PLACEMENT_CHECK:
            return not gate.order_fits(account_id, inst, side, lots, price)
        if self._placement == PLACEMENT_RESERVE and rests:
            changes: tuple[tuple[str, Side, int, int], ...] = ((inst.symbol, side, lots, price),)
            if replaces is not None:
                changes += ((inst.symbol, replaces.side, -replaces.remaining, replaces.price),)
            return not gate.reserve_fits(account_id, changes)
        return False

    def submit_legs(self, ts: int, account: str, legs: Any) -> LegsResult:
        """Submit an atomic multi-leg order: all legs fill in full at once, or none does.

        ``legs``: 1 to :data:`MAX_LEGS` tuples ``(instrument, side, size, price)``, each on a
        different instrument; ``price`` is a limit (ticks or a decimal string) or ``None`` for a
        market leg bounded by the protection band. Every leg executes immediate-or-cancel. The
        venue plans all legs without changing anything: each maker is checked per fill by the
        risk gate, with the fills planned before it counted, and the taker is checked once, on
        its combined post-trade portfolio, so offsetting legs (long perpetual, short future) may
        open together where one alone would not fit. Then every planned fill applies, or, if
        any leg cannot fill in full (``LEGS_UNFILLED``), meets the account's own order
        (``SELF_TRADE``) or fails the combined check (``TAKER_RISK_REFUSED``), nothing changes.
        Invalid legs are refused with the reason and the leg's index (``LegsResult.leg``).
        """
        _check_ts(ts)
        acct = self._user_account(account)
        self._write_input((Ev.SUBMIT_LEGS, ts, acct.index if acct else _raw(account), self._raw_legs(legs)))
        reason = self._stale(ts)
        if reason is None and acct is None:
            reason = Reason.UNKNOWN_ACCOUNT
        if reason is not None:
            return self._reject_legs(reason, None)
        parsed, reason, index = self._parse_legs(legs)
        if reason is not None:
            return self._reject_legs(reason, index)
        mode = self._stp_defaults.get(account, self._stp_venue)
        orders = [
            Order(0, account, inst.symbol, side, ticks, lots, lots, _IOC, ts, 0, mode)
            for inst, side, lots, ticks in parsed
        ]
        gate = self.gate
        room = self._reduce_only_room if self._reduce_only else None
        plans = []
        try:
            for index, order in enumerate(orders):
                planned = plan(self.books[order.instrument], order, gate, room, taker_checked=False)
                if planned.stopped is not None:
                    return self._reject_legs(planned.stopped, index)
                if planned.filled < order.remaining:
                    return self._reject_legs(Reason.LEGS_UNFILLED, index)
                plans.append(planned)
            if not gate.taker_fits(account):
                return self._reject_legs(Reason.TAKER_RISK_REFUSED, None)
        finally:
            gate.release()
        result = LegsResult(True)
        for order, planned in zip(orders, plans, strict=True):
            order.order_id = self.next_order_id
            self.next_order_id += 1
            self._write((_ACCEPTED, order.order_id))
            leg = OrderResult(True, order_id=order.order_id)
            inst, _, book = self._listing[order.instrument]
            self._inst, self._book, self._result = inst, book, leg
            self._settle = self._settlers[inst.symbol]
            for maker, price, lots, refused in planned.steps:
                if refused is None:
                    self._on_fill(order, maker, price, lots)
                else:
                    book.remove(maker)
                    self._on_maker_refused(maker, refused)
            result.legs.append(leg)
        if self._stop_count:
            self._release_stops()
        return result

    def _raw_legs(self, legs: Any) -> Any:
        """Legs as the journal stores them: instruments as indexes where known."""
        if not isinstance(legs, list | tuple):
            return _raw(legs)
        out = []
        for leg in legs:
            if not isinstance(leg, list | tuple):
                out.append(_raw(leg))
                continue
            row = [_raw(v) for v in leg]
            if row and type(leg[0]) is str and leg[0] in self._listing:
                row[0] = self._listing[leg[0]][1]
            out.append(row)
        return out

    def _parse_legs(
        self, legs: Any
    ) -> tuple[list[tuple[Instrument, Side, int, int]], Reason | None, int | None]:
        """Validate every leg: ``(parsed legs, None, None)`` or ``([], reason, leg index)``."""
        if not isinstance(legs, list | tuple) or not 0 < len(legs) <= MAX_LEGS:
            return [], Reason.INVALID_LEGS, None
        parsed = []
        seen: set[str] = set()
        for index, leg in enumerate(legs):
            if not isinstance(leg, list | tuple) or len(leg) != 4:
                return [], Reason.INVALID_LEGS, index
            instrument, side, size, price = leg
            listing = self._listing.get(instrument) if type(instrument) is str else None
            if listing is None:
                return [], Reason.UNKNOWN_INSTRUMENT, index
            inst = listing[0]
            if inst.symbol in seen:
                return [], Reason.DUPLICATE_LEG, index
            seen.add(inst.symbol)
            side = _enum(Side, side)
            if side is None:
                return [], Reason.INVALID_SIDE, index
            if inst.expiry_us is not None and self.now >= inst.expiry_us:
                return [], Reason.INSTRUMENT_EXPIRED, index
            lots = _to_base(_raw(size), inst.lot_size)
            if lots is None:
                return [], (Reason.SIZE_OFF_LOT if _is_decimal(size) else Reason.INVALID_SIZE), index
            if lots <= 0:
                return [], Reason.INVALID_SIZE, index
            if lots < inst.min_size:
                return [], Reason.BELOW_MIN_SIZE, index
            if price is None:
                ref = self.reference.reference_price(inst.symbol)
                if ref is None:
                    return [], Reason.NO_REFERENCE_PRICE, index
                ticks = band_limit(ref, side, inst.market_band_ppm)
            else:
                ticks = self._ticks(_raw(price), inst)
                if ticks is None:
                    return [], _bad_price(_raw(price), inst), index
            if self._breakers:
                reason = self._breaker_refusal(inst.symbol, side, None if price is None else ticks)
                if reason is not None:
                    return [], reason, index
            parsed.append((inst, side, lots, ticks))
        return parsed, None, None

    def _reject_legs(self, reason: Reason, leg: int | None) -> LegsResult:
        self._write((_REJECTED, reason) if leg is None else (_REJECTED, reason, leg))
        return LegsResult(False, reason, leg)

    def _reduce_only_room(self, maker: Order, moved: dict[str, int], used: dict[int, int]) -> int:
        """For a plan (``matching.plan``): lots a resting reduce-only ``maker`` could still fill
        once the planned fills are done, as the trims that follow real fills would leave it
        (``order_rules.reduce_only_trims``: oldest orders keep their size)."""
        tracked = self._reduce_only.get((maker.account, maker.instrument), ())
        book = self.books[maker.instrument]
        position = self.position_of(maker.account, maker.instrument)
        size = (position.size if position else 0) + moved.get(maker.account, 0)
        capacity = abs(size)
        for order in sorted((o for o in tracked if book.orders.get(o.order_id) is o), key=_by_seq):
            remaining = order.remaining - used.get(order.order_id, 0)
            keep = min(remaining, capacity) if reduce_only_capacity(size, order.side) else 0
            capacity -= keep
            if order is maker:
                return keep
        return maker.remaining

    def _breaker_refusal(self, symbol: str, side: Side, price: int | None) -> Reason | None:
        """Circuit breakers (``breakers.py``): a halted instrument takes no orders; a limit
        ``price`` beyond the band around the mark is refused (``None``: a market order, bounded
        by its own band)."""
        breaker = self._breakers.get(symbol)
        if breaker is None:
            return None
        if self.now < self.halted_until.get(symbol, 0):
            return Reason.INSTRUMENT_HALTED
        mark = self.marks.get(symbol)
        if (
            breaker.band_ppm
            and price is not None
            and mark is not None
            and outside_band(price, side, mark, breaker.band_ppm)
        ):
            return Reason.PRICE_BAND_EXCEEDED
        return None

    def _validate_extras(
        self,
        acct: Account,
        inst: Instrument,
        side: Side,
        order_type: OrderType,
        stop_price: Any,
        trigger: Any,
        reduce_only: Any,
        client_id: Any,
        stp: Any,
    ) -> tuple[Reason | None, StopOrder | None, int, SelfTrade | None]:
        """Check the optional order fields: ``(reason, stop, flags, stp mode)``."""
        stop = None
        if order_type in _STOP_TYPES:
            stop_ticks = self._ticks(stop_price, inst)
            if stop_ticks is None:
                return Reason.INVALID_STOP_PRICE, None, 0, None
            source = _enum(Trigger, trigger)
            if source is None:
                return Reason.INVALID_TRIGGER, None, 0, None
            stop = StopOrder(None, order_type, stop_ticks, source)  # type: ignore[arg-type]
            current = self._trigger_prices(inst.symbol)[source]
            if current is not None and (current >= stop_ticks if side is _BUY else current <= stop_ticks):
                return Reason.STOP_WOULD_TRIGGER, None, 0, None
        elif stop_price is not None:
            return Reason.INVALID_STOP_PRICE, None, 0, None
        elif _enum(Trigger, trigger) is not _LAST_TRADE:
            return Reason.INVALID_TRIGGER, None, 0, None
        if type(reduce_only) is not bool:
            return Reason.INVALID_REDUCE_ONLY, None, 0, None
        flags = 0
        if reduce_only:
            if inst.is_spot:
                return Reason.REDUCE_ONLY_NOT_ALLOWED, None, 0, None
            position = self.position_of(acct.id, inst.symbol)
            if stop is None and not reduce_only_capacity(position.size if position else 0, side):
                return Reason.REDUCE_ONLY_WOULD_INCREASE, None, 0, None
            flags = REDUCE_ONLY_FLAG
        if client_id is not None:
            if (
                type(client_id) is not str
                or not 0 < len(client_id) <= MAX_CLIENT_ID
                or not client_id.isascii()
                or not client_id.isprintable()
            ):
                return Reason.INVALID_CLIENT_ID, None, 0, None
            if (acct.id, client_id) in self._client_ids:
                return Reason.DUPLICATE_CLIENT_ID, None, 0, None
        mode = None
        if stp is not None:
            mode = _enum(SelfTrade, stp)
            if mode is None:
                return Reason.INVALID_SELF_TRADE_MODE, None, 0, None
        return None, stop, flags, mode

    def _execute(
        self, order: Order, inst: Instrument, book: OrderBook, result: OrderResult, is_market: bool
    ) -> None:
        """Match an accepted order as the taker, then rest it or end it, journaling each outcome."""
        self._inst, self._book, self._result = inst, book, result
        self._settle = self._settlers[inst.symbol]
        order_id = order.order_id
        if order.flags:  # reduce-only: never more than the position it reduces
            position = self.position_of(order.account, inst.symbol)
            capacity = reduce_only_capacity(position.size if position else 0, order.side)
            if capacity < order.remaining:
                if not capacity:
                    self._end(order, Reason.REDUCE_ONLY, result)
                    return
                order.remaining = capacity
                self._write((Ev.TRIMMED, order_id, Reason.REDUCE_ONLY, capacity))
        tif = order.tif
        room = self._reduce_only_room if self._reduce_only else None
        if tif is _FOK and fillable(book, order, self.gate, room) < order.remaining:
            self._end(order, Reason.FOK_UNFILLED, result)
            return
        stopped = match(book, order, self.gate, self._on_fill, self._on_maker_refused)
        remaining = order.remaining
        result.remaining = remaining
        if not remaining:
            if order.client_id is not None:
                self._forget(order)
            return
        if stopped is not None:
            reason = stopped
        elif (tif is _GTC or tif is _POST_ONLY) and not is_market:
            book.add(order)
            result.resting = True
            if order.flags:
                self._track_reduce_only(order)
            return
        elif is_market and (book.asks if order.side is _BUY else book.bids):
            reason = Reason.MARKET_BAND
        else:
            reason = Reason.IOC_REMAINDER
        self._end(order, reason, result)

    def _end(self, order: Order, reason: Reason, result: OrderResult) -> None:
        """An order that is not resting ends with ``reason`` and its remaining size."""
        result.reason = reason
        result.remaining = order.remaining
        self._write((_ENDED, order.order_id, reason, order.remaining))
        if order.client_id is not None:
            self._forget(order)

    def _on_fill(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        inst = self._inst
        book = self._book
        assert inst is not None and book is not None and self._result is not None
        notional = price * lots * inst.atoms_per_tick_per_lot
        # fees charged round up (units.charge_ppm, inlined on the hot path)
        taker_fee = -(-(notional * inst.taker_fee_ppm) // PPM)
        maker_fee = -(-(notional * inst.maker_fee_ppm) // PPM)
        accounts = self.ledger.accounts
        t_acct = accounts[taker.account]
        m_acct = accounts[maker.account]
        settle = self._settle
        if self.sub_accounts and (taker.account in self.sub_accounts or maker.account in self.sub_accounts):
            self._settle_isolated(taker, maker, t_acct, m_acct, price, lots, notional, taker_fee, maker_fee)
        elif taker.side is _BUY:
            settle(inst, t_acct, m_acct, price, lots, taker_fee, maker_fee)
        else:
            settle(inst, m_acct, t_acct, price, lots, maker_fee, taker_fee)
        book.reduce(maker, lots)
        taker.remaining -= lots
        self.last_trade.last[inst.symbol] = price
        if inst.symbol not in self.marks:
            self.price_epoch += 1  # margin values this instrument at its last trade
        if self._applied is not None:
            delta = lots if taker.side is _BUY else -lots
            self._applied(taker.account, maker.account, inst.symbol, delta, price, taker_fee, maker_fee)
        self._write((_FILL, maker.order_id, price, lots, taker_fee, maker_fee))
        fill = Fill(
            taker.ts,
            inst.symbol,
            taker.order_id,
            maker.order_id,
            taker.account,
            maker.account,
            taker.side,
            price,
            lots,
            taker_fee,
            maker_fee,
        )
        self._result.fills.append(fill)
        if self.tape is not None:
            self.tape.append(fill)
        if not maker.remaining and maker.client_id is not None:
            self._forget(maker)
        if self._reduce_only:
            for account_id in (maker.account, taker.account):
                if (account_id, inst.symbol) in self._reduce_only:
                    self._enforce_reduce_only(account_id, inst.symbol)

    def _settle_isolated(
        self,
        taker: Order,
        maker: Order,
        t_acct: Account,
        m_acct: Account,
        price: int,
        lots: int,
        notional: int,
        taker_fee: int,
        maker_fee: int,
    ) -> None:
        """Settle a fill where a side is isolated: its sub-account takes the fill, the margin the
        gate planned moves in first (undone if settlement fails), and a closed position's
        remaining margin returns to the main account (``margin/isolated.py``)."""
        inst = self._inst
        assert inst is not None
        gate: CrossMarginGate = self.gate  # type: ignore[assignment]
        delta = lots if taker.side is _BUY else -lots
        moves = []
        holders = []
        for main, signed, fee in ((t_acct, delta, taker_fee), (m_acct, -delta, maker_fee)):
            sub = self.sub_accounts.get(main.id, {}).get(inst.symbol)
            if sub is None:
                holders.append(main)
                continue
            holders.append(sub)
            plan = gate.isolated_plan(main.id, sub, inst, price, signed, notional, fee)
            if plan is not None and plan[0]:
                moves.append((main, sub, plan[0]))
        settlement = inst.settlement_asset
        saved = [(a, a.balances.get(settlement)) for main, sub, _ in moves for a in (main, sub)]
        for main, sub, atoms in moves:
            self.ledger.transfer(main, sub, settlement, atoms)
        try:
            if taker.side is _BUY:
                self._settle(inst, holders[0], holders[1], price, lots, taker_fee, maker_fee)
            else:
                self._settle(inst, holders[1], holders[0], price, lots, maker_fee, taker_fee)
        except BaseException:
            for account, balance in reversed(saved):  # as they were, absent keys included
                if balance is None:
                    account.balances.pop(settlement, None)
                else:
                    account.balances[settlement] = balance
                account.stamp += 1
            raise
        instrument_n = self._listing[inst.symbol][1]
        for main, _, atoms in moves:
            self._write((Ev.MARGIN_MOVED, main.index, instrument_n, atoms))
        for main, holder in ((t_acct, holders[0]), (m_acct, holders[1])):
            if (
                holder is not main
                and holder is not self._liquidating
                and not holder.positions[inst.symbol].size
            ):
                left = holder.balances.get(settlement, 0)
                if left > 0:
                    self._move_margin(main, holder, inst.symbol, -left)

    def _on_maker_refused(self, maker: Order, reason: Reason) -> None:
        self._write((_ENDED, maker.order_id, reason, maker.remaining))
        if maker.client_id is not None:
            self._forget(maker)
        assert self._result is not None
        self._result.removed_makers += ((maker.order_id, reason),)

    # ---------------------------------------------------------------- stops

    def _trigger_prices(self, symbol: str) -> dict[Trigger, int | None]:
        return {
            Trigger.LAST_TRADE: self.last_trade.last.get(symbol),
            Trigger.EXTERNAL: self.external_prices.prices.get(symbol),
        }

    def _release_stops(self) -> None:
        """Release every stop the reference prices have reached, one at a time (``stops.py``).

        Instruments are visited in configuration order; each release may move the price and
        trigger more (a cascade), so the search starts again after each one.
        """
        while self._stop_count:
            for symbol, stop_book in self.stops.items():
                if stop_book:
                    stop = stop_book.next_triggered(self._trigger_prices(symbol))
                    if stop is not None:
                        stop_book.remove(stop.order.order_id)
                        self._stop_count -= 1
                        self._trigger(stop)
                        break
            else:
                return

    def _trigger(self, stop: StopOrder) -> None:
        order = stop.order
        inst, _, book = self._listing[order.instrument]
        self._write((Ev.TRIGGERED, order.order_id))
        result = OrderResult(True, order_id=order.order_id)
        if inst.expiry_us is not None and self.now >= inst.expiry_us:
            self._end(order, Reason.INSTRUMENT_EXPIRED, result)
            return
        is_market = stop.order_type is OrderType.STOP_MARKET
        if is_market:
            ref = self.reference.reference_price(inst.symbol)
            if ref is None:
                self._end(order, Reason.NO_REFERENCE_PRICE, result)
                return
            order.price = band_limit(ref, order.side, inst.market_band_ppm)
            self._write((Ev.REPRICED, order.order_id, order.price))
        elif order.tif is _POST_ONLY:
            best = book.best_ask() if order.side is _BUY else book.best_bid()
            posted = post_only_price(order.side, order.price, best, inst.post_only_reprice)
            if posted is None:
                self._end(order, Reason.POST_ONLY_WOULD_TAKE, result)
                return
            if posted != order.price:
                order.price = posted
                self._write((Ev.REPRICED, order.order_id, posted))
        if self._breakers:
            refused = self._breaker_refusal(inst.symbol, order.side, None if is_market else order.price)
            if refused is not None:
                self._end(order, refused, result)
                return
        if self._placement is not None and self._placement_refused(
            order.account,
            inst,
            order.side,
            order.remaining,
            order.price,
            (order.tif is _GTC or order.tif is _POST_ONLY) and not is_market,
        ):
            self._end(order, Reason.INSUFFICIENT_MARGIN, result)
            return
        self._execute(order, inst, book, result, is_market)

    # ---------------------------------------------------------------- cancel and amend

    def cancel(
        self, ts: int, account: str, order_id: int | None = None, *, client_id: str | None = None
    ) -> Result:
        """Cancel a resting order or an untriggered stop of ``account``, named by its order id or
        by its client order id; ``value`` is the size that was left."""
        _check_ts(ts)
        acct = self._user_account(account)
        record: tuple[Any, ...] = (Ev.CANCEL, ts, acct.index if acct else _raw(account), _raw(order_id))
        if client_id is not None:
            record += (_raw(client_id),)
        self._write_input(record)
        order, reason = self._lookup(ts, acct, order_id, client_id)
        if reason is not None:
            return self._reject(reason)
        assert order is not None
        book = self.books[order.instrument]
        if book.orders.get(order.order_id) is order:
            book.remove(order)
        else:
            self.stops[order.instrument].remove(order.order_id)
            self._stop_count -= 1
        self._write((_ENDED, order.order_id, Reason.CANCELLED, order.remaining))
        if order.client_id is not None:
            self._forget(order)
        return Result(True, value=order.remaining)

    def amend(
        self,
        ts: int,
        account: str,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        size: int | str | Decimal | None = None,
        price: int | str | Decimal | None = None,
    ) -> OrderResult:
        """Change a resting limit order's open size and/or price.

        Reducing the size at the same price keeps time priority. A new price or a larger size
        loses it: the order leaves the book, may match at its new price like a new incoming
        order (post-only rules apply), and rests behind every order now at that price. ``size``
        is the new *open* size. An order that has filled or been cancelled meanwhile is refused
        with ``ORDER_CLOSED``.
        """
        _check_ts(ts)
        acct = self._user_account(account)
        size, price = _raw(size), _raw(price)
        self._write_input(
            (
                Ev.AMEND,
                ts,
                acct.index if acct else _raw(account),
                _raw(order_id),
                _raw(client_id),
                size,
                price,
            )
        )
        order, reason = self._lookup(ts, acct, order_id, client_id)
        if reason is not None:
            return self._reject_order(reason)
        assert order is not None
        inst, _, book = self._listing[order.instrument]
        if book.orders.get(order.order_id) is not order:
            return self._reject_order(Reason.CANNOT_AMEND)
        if size is None and price is None:
            return self._reject_order(Reason.NOTHING_TO_AMEND)
        new_size = order.remaining
        if size is not None:
            new_size = _to_base(size, inst.lot_size)
            if new_size is None:
                return self._reject_order(Reason.SIZE_OFF_LOT if _is_decimal(size) else Reason.INVALID_SIZE)
            if new_size <= 0:
                return self._reject_order(Reason.INVALID_SIZE)
            if new_size < inst.min_size:
                return self._reject_order(Reason.BELOW_MIN_SIZE)
        new_price = order.price
        if price is not None:
            new_price = self._ticks(price, inst)
            if new_price is None:
                return self._reject_order(_bad_price(price, inst))
        result = OrderResult(True, order_id=order.order_id)
        if new_price == order.price and new_size <= order.remaining:
            if new_size < order.remaining:
                book.reduce(order, order.remaining - new_size)
            self._write((Ev.AMENDED, order.order_id, new_size, new_price, True))
            result.remaining, result.resting = new_size, True
            return result
        if order.tif is _POST_ONLY:
            best = book.best_ask() if order.side is _BUY else book.best_bid()
            posted = post_only_price(order.side, new_price, best, inst.post_only_reprice)
            if posted is None:
                return self._reject_order(Reason.POST_ONLY_WOULD_TAKE)
            new_price = posted
        if self._breakers:
            reason = self._breaker_refusal(inst.symbol, order.side, new_price)
            if reason is not None:
                return self._reject_order(reason)
        if self._placement is not None and self._placement_refused(
            order.account, inst, order.side, new_size, new_price, True, replaces=order
        ):
            return self._reject_order(Reason.INSUFFICIENT_MARGIN)
        book.remove(order)
        order.price, order.remaining = new_price, new_size
        self._write((Ev.AMENDED, order.order_id, new_size, new_price, False))
        self._execute(order, inst, book, result, False)
        if self._stop_count:
            self._release_stops()
        return result

    def _lookup(
        self, ts: int, acct: Account | None, order_id: Any, client_id: Any
    ) -> tuple[Order | None, Reason | None]:
        """For cancel and amend at ``ts``: a live order of ``acct`` named by id or client id, or the
        reason it cannot be had (a stale time, an unknown account, or the order itself)."""
        reason = self._stale(ts)
        if reason is not None:
            return None, reason
        if acct is None:
            return None, Reason.UNKNOWN_ACCOUNT
        account = acct.id
        if (order_id is None) == (client_id is None):
            return None, Reason.ORDER_ID_AND_CLIENT_ID
        if client_id is not None:
            order = self._client_ids.get((account, client_id)) if type(client_id) is str else None
            return (order, None) if order is not None else (None, Reason.UNKNOWN_ORDER)
        order = self.find_order(order_id)
        if order is None:
            if type(order_id) is int and 0 < order_id < self.next_order_id:
                return None, Reason.ORDER_CLOSED
            return None, Reason.UNKNOWN_ORDER
        if order.account != account:
            return None, Reason.NOT_ORDER_OWNER
        return order, None

    # ---------------------------------------------------------------- reduce-only and client ids

    def _track_reduce_only(self, order: Order) -> None:
        key = (order.account, order.instrument)
        tracked = self._reduce_only.setdefault(key, [])
        if not any(o is order for o in tracked):  # an amended order is tracked already
            tracked.append(order)
        self._enforce_reduce_only(*key)

    def _enforce_reduce_only(self, account_id: str, symbol: str) -> None:
        """Trim or cancel resting reduce-only orders that exceed the position (``order_rules``)."""
        key = (account_id, symbol)
        book = self.books[symbol]
        live = [o for o in self._reduce_only[key] if book.orders.get(o.order_id) is o]
        position = self.position_of(account_id, symbol)
        for order, keep in reduce_only_trims(position.size if position else 0, live):
            if keep:
                book.reduce(order, order.remaining - keep)
                self._write((Ev.TRIMMED, order.order_id, Reason.REDUCE_ONLY, keep))
            else:
                book.remove(order)
                self._write((_ENDED, order.order_id, Reason.REDUCE_ONLY, order.remaining))
                if order.client_id is not None:
                    self._forget(order)
        live = [o for o in live if book.orders.get(o.order_id) is o]
        if live:
            self._reduce_only[key] = live
        else:
            del self._reduce_only[key]

    def _forget(self, order: Order) -> None:
        """An order with a client id is no longer live: its client id may be used again."""
        key = (order.account, order.client_id)
        if self._client_ids.get(key) is order:  # type: ignore[arg-type]
            del self._client_ids[key]  # type: ignore[arg-type]

    # ---------------------------------------------------------------- liquidation

    def _run_liquidation(self, ts: int) -> None:
        """Run the liquidation engine after an input that moved what margin is valued at; stops
        that its fills trigger are released afterwards."""
        assert self.liquidation is not None
        self.liquidation.run(ts)
        if self._stop_count:
            self._release_stops()

    def _cancel_for_liquidation(self, owner: str, instruments: list[str] | None) -> None:
        """End ``owner``'s resting orders and stops (on ``instruments`` only, for an isolated
        position), reason ``LIQUIDATION``, in order-id order."""
        for symbol in self.instruments if instruments is None else instruments:
            book = self.books[symbol]
            for order in sorted((o for o in book.orders.values() if o.account == owner), key=_by_id):
                book.remove(order)
                self._write((_ENDED, order.order_id, Reason.LIQUIDATION, order.remaining))
                if order.client_id is not None:
                    self._forget(order)
            stop_book = self.stops[symbol]
            for stop in sorted(
                (s for s in stop_book.orders.values() if s.order.account == owner),
                key=lambda s: s.order.order_id,
            ):
                stop_book.remove(stop.order.order_id)
                self._stop_count -= 1
                self._write((_ENDED, stop.order.order_id, Reason.LIQUIDATION, stop.order.remaining))
                if stop.order.client_id is not None:
                    self._forget(stop.order)
        self._reduce_only = {
            k: v
            for k, v in self._reduce_only.items()
            if k[0] != owner or (instruments and k[1] not in instruments)
        }

    def _liquidation_order(
        self, ts: int, owner: str, unit: Account, inst: Instrument, side: Side, lots: int, limit: int
    ) -> list[tuple[int, int, int]]:
        """Send an immediate-or-cancel liquidation order for ``unit`` (owned by ``owner``) to the
        book: the liquidated side skips the margin check, the makers are checked as always.
        Journaled as ``LIQ_ORDER``, its ``FILL`` s and, for what is left, ``ENDED`` with reason
        ``LIQUIDATION``. Returns ``(price, lots, taker fee)`` per fill."""
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        listing = self._listing[inst.symbol]
        mode = self._stp_defaults.get(owner, self._stp_venue) if self._stp_defaults else self._stp_venue
        order = Order(order_id, owner, inst.symbol, side, limit, lots, lots, _IOC, ts, 0, mode, 0, None)
        self._write((Ev.LIQ_ORDER, order_id, unit.index, listing[1], side, lots, limit))
        result = OrderResult(True, order_id=order_id)
        self._inst, self._book, self._result = inst, listing[2], result
        self._settle = self._settlers[inst.symbol]
        self._liquidating = unit
        try:
            match(listing[2], order, _MakersChecked(self.gate), self._on_fill, self._on_maker_refused)
        finally:
            self._liquidating = None
        if order.remaining:
            self._write((_ENDED, order_id, Reason.LIQUIDATION, order.remaining))
        return [(f.price, f.lots, f.taker_fee) for f in result.fills]

    def _release_isolated(self, unit: Account) -> None:
        """An isolated unit the engine left flat returns its remaining margin to its main account."""
        for main_id, subs in self.sub_accounts.items():
            for symbol, sub in subs.items():
                if sub is unit and not (sub.positions.get(symbol) and sub.positions[symbol].size):
                    left = sub.balances.get(self.config.margin.settlement, 0)  # type: ignore[union-attr]
                    if left > 0:
                        self._move_margin(self.ledger.accounts[main_id], sub, symbol, -left)
                    return

    # ---------------------------------------------------------------- views (no journal)

    def find_order(self, order_id: int) -> Order | None:
        """The live order (resting, or an untriggered stop) with this id, or ``None``.

        O(number of instruments).
        """
        if type(order_id) is not int:
            return None
        for book in self.books.values():
            order = book.orders.get(order_id)
            if order is not None:
                return order
        if self._stop_count:
            for stop_book in self.stops.values():
                stop = stop_book.orders.get(order_id)
                if stop is not None:
                    return stop.order
        return None

    def account(self, account_id: str) -> Account:
        """The account record (read it, do not change it). KeyError if unknown. An isolated
        account's positions are held by its sub-accounts: read them with :meth:`positions` or
        :meth:`position_of`."""
        return self.ledger.accounts[account_id]

    def position_of(self, account_id: str, instrument: str) -> Position | None:
        """The account's position in ``instrument`` (held by its sub-account when isolated), or
        ``None`` if it never had one."""
        if self.sub_accounts:
            subs = self.sub_accounts.get(account_id)
            if subs is not None and instrument in subs:
                return subs[instrument].positions.get(instrument)
        return self.ledger.accounts[account_id].positions.get(instrument)

    def positions(self, account_id: str) -> dict[str, Position]:
        """Every position the account holds or has held, by instrument in listing order,
        wherever it is held (its own ledger account, or its isolated sub-accounts)."""
        out = {}
        for symbol in self.instruments:
            position = self.position_of(account_id, symbol)
            if position is not None:
                out[symbol] = position
        return out

    def open_orders(self, account_id: str) -> list[Order]:
        """Resting orders of one account, by instrument then id (O(resting orders))."""
        return [
            o
            for symbol in self.books
            for o in sorted(self.books[symbol].orders.values(), key=lambda o: o.order_id)
            if o.account == account_id
        ]

    def stop_orders(self, account_id: str) -> list[StopOrder]:
        """Untriggered stops of one account, by instrument then id."""
        return [
            s
            for symbol in self.stops
            for s in sorted(self.stops[symbol].orders.values(), key=lambda s: s.order.order_id)
            if s.order.account == account_id
        ]

    def top(self, instrument: str) -> tuple[int | None, int, int | None, int]:
        """Top of book: ``(bid, bid_size, ask, ask_size)``."""
        return self.books[instrument].top()

    def depth(self, instrument: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return self.books[instrument].depth(levels)

    # ---------------------------------------------------------------- helpers

    def _ticks(self, price: Any, inst: Instrument) -> int | None:
        """A positive price in ticks from an int or a decimal string, else ``None``."""
        ticks = _to_base(price, inst.tick_size)
        return ticks if ticks is not None and ticks > 0 else None

    def _user_account(self, account: Any) -> Account | None:
        return self._users.get(account) if type(account) is str else None

    def _stale(self, ts: int) -> Reason | None:
        if ts < self.now:
            return Reason.STALE_TIMESTAMP
        self.now = ts
        return None

    def _reject(self, reason: Reason) -> Result:
        self._write((_REJECTED, reason))
        return Result(False, reason)

    def _reject_order(self, reason: Reason) -> OrderResult:
        self._write((_REJECTED, reason))
        return OrderResult(False, reason)

    def _check(self) -> None:
        """Assert the invariants of every book, the ledger, and the links between them."""
        live: dict[tuple[str, str], Order] = {}
        for symbol, book in self.books.items():
            book._check()
            self.stops[symbol]._check()
            resting = list(book.orders.values())
            waiting = [s.order for s in self.stops[symbol].orders.values()]
            for order in resting + waiting:
                assert order.instrument == symbol
                assert order.account in self._users
                assert 0 < order.order_id < self.next_order_id
                if order.client_id is not None:
                    live[(order.account, order.client_id)] = order
            for order in resting:
                assert order.tif is _GTC or order.tif is _POST_ONLY
                assert self.stops[symbol].orders.get(order.order_id) is None
            # reduce-only orders never exceed what would bring the position to zero
            reducing: dict[str, list[Order]] = {}
            for order in resting:
                if order.flags & REDUCE_ONLY_FLAG:
                    reducing.setdefault(order.account, []).append(order)
            for account_id, orders in reducing.items():
                position = self.position_of(account_id, symbol)
                assert not reduce_only_trims(position.size if position else 0, orders), (
                    f"{account_id} {symbol}: reduce-only orders exceed the position"
                )
                tracked = self._reduce_only.get((account_id, symbol), [])
                assert all(any(o is t for t in tracked) for o in orders), "untracked reduce-only order"
        assert live == self._client_ids, "client order ids out of step with live orders"
        if self.liquidation is not None:
            self.liquidation._check()
        for account_id, subs in self.sub_accounts.items():
            main = self.ledger.accounts[account_id]
            assert not any(main.positions.get(symbol, Position()).size for symbol in subs), (
                f"{account_id}: an isolated account's main account holds a position"
            )
            for symbol, sub in subs.items():
                assert set(sub.positions) <= {symbol}, f"{sub.id}: holds another instrument"
                assert set(sub.balances) <= {self.config.margin.settlement}, f"{sub.id}: holds collateral"  # type: ignore[union-attr]
        assert self._stop_count == sum(len(s) for s in self.stops.values())
        self.ledger._check([s for s, i in self.instruments.items() if not i.is_spot])
        gate_check = getattr(self.gate, "_check", None)
        if gate_check is not None:
            gate_check()


def _by_seq(order: Order) -> int:
    return order.seq


def _by_id(order: Order) -> int:
    return order.order_id


def _check_ts(ts: Any) -> None:
    """A non-integer time is a programming error in the caller: raise before journaling anything."""
    if type(ts) is not int or ts < 0:
        raise TypeError(f"ts must be non-negative integer microseconds, got {ts!r}")


def _enum(kind: type, value: Any) -> Any:
    if type(value) is kind:
        return value
    try:
        return kind(value) if type(value) is int else None
    except ValueError:
        return None


def _bad_price(price: Any, inst: Instrument) -> Reason:
    """Why ``price`` is not a positive number of ticks: off the tick grid, or not a price at all."""
    if isinstance(price, str) and _is_decimal(price) and _to_base(price, inst.tick_size) is None:
        return Reason.PRICE_OFF_TICK
    return Reason.INVALID_PRICE


def _is_decimal(value: Any) -> bool:
    try:
        parse_decimal(value)
    except UnitError:
        return False
    return True


def _to_base(value: Any, unit: Fraction) -> int | None:
    """An int as it is; a decimal string converted exactly into ``unit``s; else ``None``."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        return None
    try:
        return to_units(value, unit)
    except UnitError:
        return None


class _MakersChecked:
    """The risk gate for a liquidation order: the liquidated taker is not checked (its order is
    bounded by its worst acceptable price instead); every maker is, as always."""

    __slots__ = ("gate",)

    def __init__(self, gate: RiskGate) -> None:
        self.gate = gate

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Any:
        return self.gate.check_maker(taker, maker, price, lots)

    def check_maker(self, taker: Order, maker: Order, price: int, lots: int) -> Any:
        return self.gate.check_maker(taker, maker, price, lots)

    def taker_fits(self, account: str) -> bool:
        return True

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        self.gate.hold(taker, maker, price, lots)

    def release(self) -> None:
        self.gate.release()
