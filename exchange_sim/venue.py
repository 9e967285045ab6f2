"""The venue: instruments, books, accounts and the journal behind one API that takes ``ts``.

Every call that changes state takes the simulated time ``ts`` (integer microseconds, never
decreasing) and is journaled as an *input*, followed by its *outputs* (acceptance or rejection,
fills, orders ended). The venue knows nothing of agents or of the simulation kernel, so it can be
driven by a plain loop, a test, or a notebook.

Numbers follow one convention everywhere: an ``int`` is in base units (ticks for prices, lots
for sizes, atoms for amounts); a decimal string or :class:`~decimal.Decimal` is in human units
(``"30000.5"`` USDC per BTC, ``"0.002"`` contracts, ``"100"`` USDC) and is converted exactly,
or refused with a reason code (``PRICE_OFF_TICK``, ``SIZE_OFF_LOT``, ``INVALID_AMOUNT``).

Every refusal returns a :class:`~exchange_sim.orders.Reason` and changes nothing but the journal.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from exchange_sim import __version__
from exchange_sim.accounts import SYSTEM_PREFIX, Account
from exchange_sim.book import OrderBook
from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import FORMAT_NAME, SCHEMA_VERSION, JournalWriter
from exchange_sim.ledger import Ledger
from exchange_sim.matching import AcceptAll, RiskGate, match
from exchange_sim.orders import Order, OrderType, Reason, Side, TimeInForce
from exchange_sim.reference import LastTradePrices, ReferencePrices, SettablePrices
from exchange_sim.units import PPM, UnitError, parse_decimal, to_units, validate_symbol

_SUBMIT, _ACCEPTED, _REJECTED, _FILL, _ENDED = Ev.SUBMIT, Ev.ACCEPTED, Ev.REJECTED, Ev.FILL, Ev.ENDED
_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_GTC, _IOC = TimeInForce.GTC, TimeInForce.IOC


@dataclass(slots=True)
class Fill:
    """A trade print: one fill between an incoming order (taker) and a resting one (maker)."""

    ts: int
    instrument: str
    taker_order_id: int
    maker_order_id: int
    taker_account: str
    maker_account: str
    taker_side: Side
    price: int
    lots: int
    taker_fee: int
    maker_fee: int


@dataclass(slots=True)
class OrderResult:
    """What became of a submitted order.

    ``accepted`` is False for a rejection (``reason`` says why; nothing changed). For an accepted
    order, ``fills`` are its trades, ``resting`` says whether the rest now rests on the book, and
    ``reason`` (if not ``None``) says why the remaining ``remaining`` lots were cancelled.
    ``removed_makers`` lists resting orders the risk gate removed during matching.
    """

    accepted: bool
    reason: Reason | None = None
    order_id: int | None = None
    fills: list[Fill] = field(default_factory=list)
    remaining: int = 0
    resting: bool = False
    removed_makers: tuple[tuple[int, Reason], ...] = ()

    @property
    def filled(self) -> int:
        return sum(f.lots for f in self.fills)


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of a non-order input: ``ok``, else ``reason``. ``value`` is call-specific."""

    ok: bool
    reason: Reason | None = None
    value: int | None = None


def _discard(event: tuple[Any, ...]) -> None:
    return None


def _raw(value: Any) -> Any:
    """A value as the journal stores it: msgpack-native types as they are, others as strings."""
    if value is None or isinstance(value, int | str | float | bool):
        return int(value) if isinstance(value, Side | OrderType | TimeInForce) else value
    if isinstance(value, Decimal):
        return str(value)
    try:
        return operator.index(value)
    except TypeError:
        return repr(value)


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
        self.books: dict[str, OrderBook] = {i.symbol: OrderBook(i.symbol) for i in config.instruments}
        self.assets = {a.symbol: a for a in config.assets}
        self._listing = {i.symbol: (i, n, self.books[i.symbol]) for n, i in enumerate(config.instruments)}
        self._asset_index = {a.symbol: n for n, a in enumerate(config.assets)}
        self.ledger = Ledger(list(self.assets))
        self._users: dict[str, Account] = {}
        """User accounts only (the ledger also holds system accounts such as ``@fees``)."""
        self.gate: RiskGate = gate if gate is not None else AcceptAll()
        self.last_trade = LastTradePrices()
        self.external_prices = SettablePrices()
        self.reference: ReferencePrices = (
            self.last_trade if config.reference_price is ReferenceSource.LAST_TRADE else self.external_prices
        )
        self.now = 0
        self.next_order_id = 1
        self.journal = journal
        self._write = journal.write if journal is not None else _discard
        if journal is not None and journal.header is None:
            journal.write_header(self.header(meta))
        # per-submit context for the matching callbacks (avoids a closure per order)
        self._inst: Instrument | None = None
        self._result: OrderResult | None = None

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

    def open_account(self, ts: int, account_id: str) -> Result:
        """Open a user account (ids: letters, digits, ``_ . -``; unique)."""
        _check_ts(ts)
        self._write((Ev.OPEN_ACCOUNT, ts, _raw(account_id)))
        reason = self._stale(ts)
        if reason is None:
            try:
                validate_symbol(account_id, "account id")
            except UnitError:
                reason = Reason.INVALID_ACCOUNT_ID
            else:
                if account_id in self.ledger.accounts:
                    reason = Reason.DUPLICATE_ACCOUNT
        if reason is not None:
            return self._reject(reason)
        self._users[account_id] = self.ledger.open(account_id)
        return Result(True)

    def deposit(self, ts: int, account: str, asset: str, amount: int | str | Decimal) -> Result:
        """Credit ``amount`` (int atoms, or a decimal string in whole units) of ``asset``."""
        return self._money(Ev.DEPOSIT, ts, account, asset, amount)

    def withdraw(self, ts: int, account: str, asset: str, amount: int | str | Decimal) -> Result:
        """Debit ``amount`` of ``asset``; refused (``INSUFFICIENT_BALANCE``) beyond the balance.

        Margin-aware limits (free collateral) arrive with the cross-margin issue.
        """
        return self._money(Ev.WITHDRAW, ts, account, asset, amount)

    def _money(self, code: Ev, ts: int, account: str, asset: str, amount: Any) -> Result:
        _check_ts(ts)
        acct = self._user_account(account)
        asset_n = self._asset_index.get(asset) if type(asset) is str else None
        amount = _raw(amount)
        self._write(
            (code, ts, acct.index if acct else _raw(account), asset if asset_n is None else asset_n, amount)
        )
        reason = self._stale(ts)
        atoms = 0
        if reason is None:
            if acct is None:
                reason = Reason.UNKNOWN_ACCOUNT
            elif asset_n is None:
                reason = Reason.UNKNOWN_ASSET
            else:
                atoms = _to_base(amount, Fraction(1, 10 ** self.assets[asset].decimals))
                if atoms is None or atoms <= 0:
                    reason = Reason.INVALID_AMOUNT
                elif code is Ev.WITHDRAW and atoms > acct.balances.get(asset, 0):
                    reason = Reason.INSUFFICIENT_BALANCE
        if reason is not None:
            return self._reject(reason)
        assert acct is not None
        if code is Ev.DEPOSIT:
            self.ledger.deposit(acct, asset, atoms)
        else:
            self.ledger.withdraw(acct, asset, atoms)
        return Result(True, value=atoms)

    # ---------------------------------------------------------------- prices

    def set_reference_price(self, ts: int, instrument: str, price: int | str) -> Result:
        """Push an external reference price (venues configured with ``reference_price = "external"``)."""
        _check_ts(ts)
        listing = self._listing.get(instrument) if type(instrument) is str else None
        inst = listing[0] if listing is not None else None
        price = _raw(price)
        self._write((Ev.SET_REFERENCE, ts, listing[1] if listing is not None else _raw(instrument), price))
        reason = self._stale(ts)
        ticks = None
        if reason is None:
            if inst is None:
                reason = Reason.UNKNOWN_INSTRUMENT
            elif self.reference is not self.external_prices:
                reason = Reason.REFERENCE_NOT_EXTERNAL
            else:
                ticks = _to_base(price, inst.tick_size)
                if ticks is None:
                    reason = Reason.PRICE_OFF_TICK if _is_decimal(price) else Reason.INVALID_PRICE
                elif ticks <= 0:
                    reason = Reason.INVALID_PRICE
        if reason is not None:
            return self._reject(reason)
        self.external_prices.set(instrument, ticks)  # type: ignore[arg-type]
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
    ) -> OrderResult:
        """Submit an order; it matches at once and (GTC limit) rests what is left.

        ``size`` in lots (int) or contracts (decimal string); ``price`` in ticks (int) or
        settlement units per underlying unit (decimal string). Market orders take no price: they
        fill no further than ``market_band_ppm`` from the reference price and never rest.
        """
        if type(ts) is not int or ts < 0:
            _check_ts(ts)
        acct = self._users.get(account) if type(account) is str else None
        listing = self._listing.get(instrument) if type(instrument) is str else None
        if type(size) is not int:
            size = _raw(size)
        if price is not None and type(price) is not int:
            price = _raw(price)
        self._write(
            (
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
        )
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
        band_limit = None
        if order_type is _LIMIT:
            if type(price) is int:
                ticks = price
            elif price is None:
                return self._reject_order(Reason.INVALID_PRICE)
            else:
                ticks = _to_base(price, inst.tick_size)
                if ticks is None:
                    return self._reject_order(
                        Reason.PRICE_OFF_TICK if _is_decimal(price) else Reason.INVALID_PRICE
                    )
            if ticks <= 0:
                return self._reject_order(Reason.INVALID_PRICE)
        else:
            if price is not None:
                return self._reject_order(Reason.MARKET_ORDER_HAS_PRICE)
            ref = self.reference.reference_price(inst.symbol)
            if ref is None:
                return self._reject_order(Reason.NO_REFERENCE_PRICE)
            band = inst.market_band_ppm
            # the band rounds inward: a buy's limit down, a sell's limit up (never below 1 tick)
            ticks = ref * (PPM + band) // PPM if side is _BUY else max(1, -(-(ref * (PPM - band)) // PPM))
            band_limit = ticks
            tif = _IOC
        # ---- accepted
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(order_id, account, inst.symbol, side, ticks, lots, lots, tif, ts)
        self._write((_ACCEPTED, order_id) if band_limit is None else (_ACCEPTED, order_id, band_limit))
        result = OrderResult(True, order_id=order_id)
        self._inst = inst
        self._result = result
        stop = match(book, order, self.gate, self._on_fill, self._on_maker_refused)
        remaining = order.remaining
        result.remaining = remaining
        if remaining:
            if stop is not None:
                reason = stop
            elif tif is _GTC:
                book.add(order)
                result.resting = True
                return result
            elif band_limit is not None and (book.asks if side is _BUY else book.bids):
                reason = Reason.MARKET_BAND
            else:
                reason = Reason.IOC_REMAINDER
            result.reason = reason
            self._write((_ENDED, order_id, reason, remaining))
        return result

    def _on_fill(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        inst = self._inst
        assert inst is not None and self._result is not None
        notional = price * lots * inst.atoms_per_tick_per_lot
        # fees charged round up (units.charge_ppm, inlined on the hot path)
        taker_fee = -(-(notional * inst.taker_fee_ppm) // PPM)
        maker_fee = -(-(notional * inst.maker_fee_ppm) // PPM)
        accounts = self.ledger.accounts
        t_acct = accounts[taker.account]
        m_acct = accounts[maker.account]
        if taker.side is _BUY:
            self.ledger.settle_trade(inst, t_acct, m_acct, price, lots, taker_fee, maker_fee)
        else:
            self.ledger.settle_trade(inst, m_acct, t_acct, price, lots, maker_fee, taker_fee)
        self.last_trade.last[inst.symbol] = price
        self._write((_FILL, maker.order_id, price, lots, taker_fee, maker_fee))
        self._result.fills.append(
            Fill(
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
        )

    def _on_maker_refused(self, maker: Order, reason: Reason) -> None:
        self._write((_ENDED, maker.order_id, reason, maker.remaining))
        assert self._result is not None
        self._result.removed_makers += ((maker.order_id, reason),)

    def cancel(self, ts: int, account: str, order_id: int) -> Result:
        """Cancel a resting order of ``account``; ``value`` is the size that was left."""
        _check_ts(ts)
        acct = self._user_account(account)
        self._write((Ev.CANCEL, ts, acct.index if acct else _raw(account), _raw(order_id)))
        reason = self._stale(ts)
        order = None
        if reason is None:
            if acct is None:
                reason = Reason.UNKNOWN_ACCOUNT
            else:
                order = self.find_order(order_id)
                if order is None:
                    reason = Reason.UNKNOWN_ORDER
                elif order.account != account:
                    reason = Reason.NOT_ORDER_OWNER
        if reason is not None:
            return self._reject(reason)
        assert order is not None
        self.books[order.instrument].remove(order)
        self._write((_ENDED, order.order_id, Reason.CANCELLED, order.remaining))
        return Result(True, value=order.remaining)

    # ---------------------------------------------------------------- views (no journal)

    def find_order(self, order_id: int) -> Order | None:
        """The resting order with this id, or ``None``. O(number of instruments)."""
        if type(order_id) is not int:
            return None
        for book in self.books.values():
            order = book.orders.get(order_id)
            if order is not None:
                return order
        return None

    def account(self, account_id: str) -> Account:
        """The account record (read it, do not change it). KeyError if unknown."""
        return self.ledger.accounts[account_id]

    def open_orders(self, account_id: str) -> list[Order]:
        """Resting orders of one account, by instrument then id (O(resting orders))."""
        return [
            o
            for symbol in self.books
            for o in sorted(self.books[symbol].orders.values(), key=lambda o: o.order_id)
            if o.account == account_id
        ]

    def top(self, instrument: str) -> tuple[int | None, int, int | None, int]:
        """Top of book: ``(bid, bid_size, ask, ask_size)``."""
        return self.books[instrument].top()

    def depth(self, instrument: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return self.books[instrument].depth(levels)

    # ---------------------------------------------------------------- helpers

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
        for symbol, book in self.books.items():
            book._check()
            for order in book.orders.values():
                assert order.instrument == symbol
                assert order.account in self.ledger.accounts and not order.account.startswith(SYSTEM_PREFIX)
                assert 0 < order.order_id < self.next_order_id
                assert order.tif is _GTC
        self.ledger._check(list(self.books))


def _check_ts(ts: Any) -> None:
    """A non-integer time is a programming error in the caller: raise before journaling anything."""
    if type(ts) is not int or ts < 0:
        raise TypeError(f"ts must be non-negative integer microseconds, got {ts!r}")


def _enum(kind: type, value: Any) -> Any:
    try:
        return kind(value) if type(value) is int else None
    except ValueError:
        return None


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
