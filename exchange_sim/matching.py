"""Price-time priority matching, with self-trade prevention and a risk gate before every fill.

:func:`match` walks the opposite side of the book from the best price while the incoming order
(the *taker*) crosses, oldest resting order (the *maker*) first at each price. Fills happen at the
maker's price. For each candidate maker:

* same account as the taker: self-trade prevention, by the taker's :class:`SelfTrade` mode,
  cancels the maker (``on_maker_refused`` with ``SELF_TRADE``), stops the taker, or both. No
  self-trade ever prints.
* otherwise the :class:`RiskGate` is asked. ``None``: ``on_fill`` applies the fill in full
  (money, positions, ``book.reduce(maker, lots)`` and ``taker.remaining -= lots``) or raises
  before changing anything. A refusal removes the maker (matching goes on
  with the next one), stops the taker (:func:`match` returns the reason; the caller cancels the
  rest), or both.

After every step the walk re-reads the level's head, so callbacks may remove resting orders
(e.g. reduce-only trimming) without breaking it. The engine knows nothing about margin: the
cross-margin gate (:mod:`exchange_sim.margin.gate`) plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from exchange_sim.book import OrderBook
from exchange_sim.orders import Order, Reason, SelfTrade, Side


@dataclass(frozen=True, slots=True)
class Refusal:
    """A "no" to one candidate fill: remove the resting order (``maker``), stop the incoming one
    (``taker``), or both, for ``reason``."""

    reason: Reason
    maker: bool = False
    taker: bool = False

    def __post_init__(self) -> None:
        if not (self.maker or self.taker):
            raise ValueError("a Refusal must remove the maker, stop the taker, or both")


class RiskGate(Protocol):
    """Decides whether one candidate fill may happen. Must not change any state.

    ``hold`` and ``release`` serve read-only walks that plan several fills (fill-or-kill): a held
    fill counts as done for later checks, until ``release``. Gates whose decisions do not depend
    on earlier fills may do nothing in both.
    """

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None: ...

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None: ...

    def release(self) -> None: ...


class AcceptAll:
    """The gate that accepts every fill (no margin model)."""

    __slots__ = ()

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        return None

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        return None

    def release(self) -> None:
        return None


class RefuseAccounts:
    """A test gate: refuses every fill where one of ``makers`` rests or one of ``takers`` takes."""

    __slots__ = ("makers", "takers")

    def __init__(self, makers: frozenset[str] = frozenset(), takers: frozenset[str] = frozenset()) -> None:
        self.makers = makers
        self.takers = takers

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        if taker.account in self.takers:
            return _TAKER_REFUSED
        if maker.account in self.makers:
            return _MAKER_REFUSED
        return None

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None:
        return None

    def release(self) -> None:
        return None


_TAKER_REFUSED = Refusal(Reason.TAKER_RISK_REFUSED, taker=True)
_MAKER_REFUSED = Refusal(Reason.MAKER_RISK_REFUSED, maker=True)


FillCallback = Callable[[Order, Order, int, int], None]
RefusedCallback = Callable[[Order, Reason], None]


def match(
    book: OrderBook,
    taker: Order,
    gate: RiskGate,
    on_fill: FillCallback,
    on_maker_refused: RefusedCallback,
) -> Reason | None:
    """Match ``taker`` (limit ``taker.price``) against ``book``; see the module docstring.

    Returns the reason the taker was stopped (self-trade prevention or the gate), else ``None``
    (filled in full, or nothing left that crosses). The taker is never rested here.
    Cost: O(1) per fill plus O(log L) per emptied level.
    """
    check = gate.check
    if taker.side is Side.BUY:
        levels, prices, idx, sign = book.asks, book.ask_prices, 0, 1
    else:
        levels, prices, idx, sign = book.bids, book.bid_prices, -1, -1
    limit = taker.price * sign
    account = taker.account
    while taker.remaining:
        if not prices:
            return None
        price = prices[idx]
        if price * sign > limit:
            return None
        level = levels[price]
        maker = level.head
        while maker is not None:
            if maker.account == account:
                mode = taker.stp
                if mode is not _CANCEL_TAKER:
                    book.remove(maker)
                    on_maker_refused(maker, _SELF_TRADE)
                if mode is not _CANCEL_MAKER:
                    return _SELF_TRADE
            else:
                lots = maker.remaining if maker.remaining < taker.remaining else taker.remaining
                refusal = check(taker, maker, price, lots)
                if refusal is None:
                    on_fill(taker, maker, price, lots)
                    if not taker.remaining:
                        return None
                else:
                    if refusal.maker:
                        book.remove(maker)
                        on_maker_refused(maker, refusal.reason)
                    if refusal.taker:
                        return refusal.reason
            maker = level.head
    return None


def fillable(book: OrderBook, taker: Order, gate: RiskGate) -> int:
    """Lots :func:`match` would fill for ``taker`` now, found without changing anything.

    Walks the same makers in the same order with the same self-trade and gate decisions, each
    planned fill held by the gate so later checks see it (``RiskGate.hold``), and stops counting
    where matching would stop. Used by fill-or-kill orders. O(makers walked).
    """
    try:
        return _walk(book, taker, gate)
    finally:
        gate.release()


def _walk(book: OrderBook, taker: Order, gate: RiskGate) -> int:
    need = taker.remaining
    if taker.side is Side.BUY:
        levels, walk = book.asks, book.ask_prices.irange(maximum=taker.price)
    else:
        levels, walk = book.bids, book.bid_prices.irange(minimum=taker.price, reverse=True)
    total = 0
    for price in walk:
        maker = levels[price].head
        while maker is not None:
            if maker.account == taker.account:
                if taker.stp is not _CANCEL_MAKER:
                    return total
            else:
                lots = min(maker.remaining, need - total)
                refusal = gate.check(taker, maker, price, lots)
                if refusal is None:
                    total += lots
                    if total >= need:
                        return total
                    gate.hold(taker, maker, price, lots)
                elif refusal.taker:
                    return total
            maker = maker.next
    return total


_CANCEL_TAKER, _CANCEL_MAKER = SelfTrade.CANCEL_TAKER, SelfTrade.CANCEL_MAKER
_SELF_TRADE = Reason.SELF_TRADE
