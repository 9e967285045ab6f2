"""Margin reserved for resting orders: the ``"reserve"`` placement policy (Binance, BitMEX).

Under this policy a resting order holds back part of its account's collateral, so that an
account cannot place more orders than it could margin if they filled. Per account and contract
instrument, with position ``p`` lots, mark ``m`` ticks, ``k`` atoms per tick per lot, and the
instrument's initial bracket schedule ``IM(notional)``:

    buy side:   B lots resting, N_buy = sum of price x lots x k over them (atoms at limit prices)
                free   = max(0, -p)                  lots that only close a short: no margin
                opened = max(0, B - free)            lots that would open or add to a long
                N_open = ceil(N_buy x opened / B)    their notional, at the average buy price
                base   = max(0, p) x m x k           the long already held
                r_buy  = IM(base + N_open) - IM(base) + max(0, N_buy - B x m x k)
    sell side:  the mirror image (short for long, the open loss is max(0, S x m x k - N_sell))
    reserved   = max(0, r_buy, r_sell)               the worse side only

The first term is the initial margin the opening part would add to the position, charged at the
bracket its notional would reach (so a large order pays the higher bands' rates); the second is
the *open loss* of buying above the mark (or selling below it), which the account would lose at
once if the order filled. Orders that only reduce a position need nothing, and only the worse of
the two sides is reserved, because both cannot fill into a larger position at once.

Sources: Binance, "How to Calculate the Cost Required to Open a Position in Perpetual Futures
Contracts" (https://www.binance.com/en/support/faq/87fa7ee33b574f7084d42bd2ce2e463b): the cost
of an order is its initial margin plus its open loss against the mark. BitMEX's exchange guide
(https://www.bitmex.com/app/exchangeGuide): resting orders reserve initial margin, orders that
reduce the position are not charged, bids and offers together are charged on the larger side
(net bids plus offers), and an order beyond the mark funds the difference in full. Where those
venues charge the order's notional at the rate of the leverage the trader picked, this project
charges the bracket schedule's initial requirement, like the fill-time rule.
Fees are not reserved, and spot orders reserve nothing (their fills are checked when they
happen).

An account's free collateral under this policy is ``equity - initial - sum of reserved`` over
its instruments (for an isolated account: its main account's collateral equity less the sum of
reserved over its positions). A new order is accepted if it fits in that, or if it does not
raise the account's reservation (an order that only reduces risk). Fills are checked by the
fill-time rule alone; withdrawals must leave the reservation covered.

Costs: :class:`ExposureBook` keeps, per account, the resting lots and limit-price notional of
each side, updated in O(1) as orders rest, fill and leave; so a reservation costs O(1) per
instrument, and an account's O(instruments), never O(orders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from exchange_sim.book import OrderBook
from exchange_sim.margin.brackets import BracketSchedule
from exchange_sim.orders import Order, Side

if TYPE_CHECKING:
    from exchange_sim.venue import Venue

Change = tuple[str, Side, int, int]
"""An order ``(instrument, side, signed lots, price)`` added to (lots > 0) or taken from the book."""


class ExposureBook(OrderBook):
    """An order book that also keeps, per account, the size and notional resting on each side:
    ``exposure[account] = [buy_lots, buy_ticks_x_lots, sell_lots, sell_ticks_x_lots]``."""

    __slots__ = ("exposure",)

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol)
        self.exposure: dict[str, list[int]] = {}

    def _count(self, order: Order, lots: int) -> None:
        totals = self.exposure.get(order.account)
        if totals is None:
            totals = self.exposure[order.account] = [0, 0, 0, 0]
        at = 0 if order.side is Side.BUY else 2
        totals[at] += lots
        totals[at + 1] += lots * order.price
        if not (totals[0] or totals[2]):
            del self.exposure[order.account]

    def add(self, order: Order) -> None:
        super().add(order)
        self._count(order, order.remaining)

    def remove(self, order: Order) -> None:
        super().remove(order)
        self._count(order, -order.remaining)

    def reduce(self, order: Order, lots: int) -> None:
        if lots >= order.remaining:
            self.remove(order)
            order.remaining -= lots
            return
        super().reduce(order, lots)
        self._count(order, -lots)

    def _check(self) -> None:
        super()._check()
        expected: dict[str, list[int]] = {}
        for order in self.orders.values():
            totals = expected.setdefault(order.account, [0, 0, 0, 0])
            at = 0 if order.side is Side.BUY else 2
            totals[at] += order.remaining
            totals[at + 1] += order.remaining * order.price
        assert expected == self.exposure, f"{self.symbol}: resting exposure out of step with the book"


def side_reservation(
    schedule: BracketSchedule,
    apl: int,
    position: int,
    lots: int,
    ticks_x_lots: int,
    mark: int | None,
    buy: bool,
) -> int:
    """``r_buy`` (``buy``) or ``r_sell`` of the module docstring; may be negative.

    ``mark`` ``None`` (no mark and no trade yet): the position is valued at nothing and there is
    no open loss.

    >>> from exchange_sim.margin.brackets import Bracket
    >>> flat = BracketSchedule.create([Bracket(0, 5_000, 10_000)])   # 1% initial
    >>> side_reservation(flat, 10, 0, 4, 4 * 1_000, 1_000, True)     # buy 4 @ 1,000 at the mark
    400
    >>> side_reservation(flat, 10, 0, 4, 4 * 1_050, 1_000, True)     # 50 ticks above: + 2,000 loss
    2420
    >>> side_reservation(flat, 10, -3, 4, 4 * 1_000, 1_000, True)    # 3 of 4 close a short
    100
    """
    if not lots:
        return 0
    notional = ticks_x_lots * apl
    held = max(0, position) if buy else max(0, -position)
    free = max(0, -position) if buy else max(0, position)
    opened = max(0, lots - free)
    opened_notional = -(-notional * opened // lots)
    if mark is None:
        base = 0
        loss = 0
    else:
        base = held * mark * apl
        at_mark = lots * mark * apl
        loss = notional - at_mark if buy else at_mark - notional
        if loss < 0:
            loss = 0
    initial = schedule.initial_requirement  # BracketSchedule.initial without re-validating
    return initial(base + opened_notional) - (initial(base) if base else 0) + loss


def reservation(
    schedule: BracketSchedule, apl: int, position: int, exposure: list[int] | None, mark: int | None
) -> int:
    """Margin reserved for one account's resting orders in one instrument (the worse side)."""
    if exposure is None:
        return 0
    buy = side_reservation(schedule, apl, position, exposure[0], exposure[1], mark, True)
    sell = side_reservation(schedule, apl, position, exposure[2], exposure[3], mark, False)
    return max(0, buy, sell)


class Reservations:
    """The reserve policy for one venue: each account's reservation, priced at the marks (or
    last trades) and positions of the moment, from the books' resting totals
    (:class:`ExposureBook`). The reservation of what rests is cached per account and instrument
    while the position's holder (``Account.stamp``), the prices (``Venue.price_epoch``) and the
    resting totals are unchanged: most orders change one instrument."""

    __slots__ = ("cache", "schedules", "venue")

    def __init__(self, venue: Venue, schedules: Mapping[str, BracketSchedule]) -> None:
        self.venue = venue
        self.schedules = schedules
        self.cache: dict[tuple[str, str], tuple[tuple[int, ...], int]] = {}

    def total(self, account_id: str, changes: tuple[Change, ...] = ()) -> int:
        """The account's reservation summed over instruments, as it would be after ``changes``.
        O(instruments)."""
        total = 0
        for symbol, book in self.venue.books.items():
            exposure = book.exposure.get(account_id)  # type: ignore[attr-defined]
            if any(change[0] == symbol for change in changes):
                total += self.price(account_id, symbol, _changed(exposure, symbol, changes))
            else:
                total += self.current(account_id, symbol, exposure)
        return total

    def fits(self, account_id: str, changes: tuple[Change, ...], available: Callable[[str], int]) -> bool:
        """The placement check: after ``changes`` the reservation fits in ``available(account)``
        (equity above initial margin), or it did not grow. Only the changed instruments are
        priced twice (before and after); the others only when the reservation grows."""
        books = self.venue.books
        grows = after_total = 0
        changed = dict.fromkeys(change[0] for change in changes)
        for symbol in changed:
            exposure = books[symbol].exposure.get(account_id)  # type: ignore[attr-defined]
            now = self.price(account_id, symbol, _changed(exposure, symbol, changes))
            grows += now - self.current(account_id, symbol, exposure)
            after_total += now
        if grows <= 0:
            return True
        for symbol, book in books.items():
            if symbol not in changed:
                exposure = book.exposure.get(account_id)  # type: ignore[attr-defined]
                after_total += self.current(account_id, symbol, exposure)
        return available(account_id) >= after_total

    def current(self, account_id: str, symbol: str, exposure: list[int] | None) -> int:
        """:meth:`price` of what rests now, from the cache while it is current."""
        if exposure is None:
            return 0
        venue = self.venue
        subs = venue.sub_accounts.get(account_id) if venue.sub_accounts else None
        holder = subs[symbol] if subs is not None and symbol in subs else venue.ledger.accounts[account_id]
        key = (holder.stamp, venue.price_epoch, *exposure)
        entry = self.cache.get((account_id, symbol))
        if entry is not None and entry[0] == key:
            return entry[1]
        value = self.price(account_id, symbol, exposure)
        self.cache[(account_id, symbol)] = (key, value)
        return value

    def price(self, account_id: str, symbol: str, exposure: list[int] | None) -> int:
        """:func:`reservation` of one instrument at its mark (or last trade) and the account's
        position; 0 for instruments without brackets (spot)."""
        schedule = self.schedules.get(symbol)
        if exposure is None or schedule is None:
            return 0
        venue = self.venue
        position = venue.position_of(account_id, symbol)
        mark = venue.marks.get(symbol) or venue.last_trade.last.get(symbol)
        apl = venue.instruments[symbol].atoms_per_tick_per_lot
        return reservation(schedule, apl, position.size if position else 0, exposure, mark)

    def _check(self) -> None:
        """Assert that every cache entry still current equals a fresh price."""
        books = self.venue.books
        for (account_id, symbol), (key, value) in list(self.cache.items()):
            exposure = books[symbol].exposure.get(account_id)  # type: ignore[attr-defined]
            del self.cache[(account_id, symbol)]
            if exposure is None:
                continue
            fresh = self.current(account_id, symbol, exposure)  # recomputed: the entry is gone
            if self.cache[(account_id, symbol)][0] == key:  # the old entry was current
                assert fresh == value, f"{account_id} {symbol}: stale reservation {value} != {fresh}"


def _changed(exposure: list[int] | None, symbol: str, changes: tuple[Change, ...]) -> list[int]:
    """A copy of one instrument's resting totals with ``changes`` to that instrument applied."""
    out = list(exposure) if exposure is not None else [0, 0, 0, 0]
    for name, side, lots, price in changes:
        if name == symbol:
            at = 0 if side is Side.BUY else 2
            out[at] += lots
            out[at + 1] += lots * price
    return out
