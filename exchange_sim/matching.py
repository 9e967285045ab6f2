"""Price-time priority matching, with a risk gate consulted before every fill.

:func:`match` walks the opposite side of the book from the best price while the incoming order
(the *taker*) crosses, oldest resting order (the *maker*) first at each price. Fills happen at the
maker's price. Before each candidate fill it asks the :class:`RiskGate`:

* ``None``: the fill goes ahead; ``on_fill`` settles it (ledger, journal), then the book shrinks
  the maker. ``on_fill`` must apply in full or raise before changing anything.
* a maker refusal: that maker is removed from the book (``on_maker_refused`` records why) and
  matching goes on with the next maker;
* a taker refusal: matching stops and :func:`match` returns the reason; the caller cancels the
  rest of the taker.

The engine knows nothing about margin: the cross-margin gate arrives with its own module and
plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from exchange_sim.book import OrderBook
from exchange_sim.orders import Order, Reason, Side


@dataclass(frozen=True, slots=True)
class Refusal:
    """A gate's "no": which side failed (``maker=True`` for the resting side) and why."""

    maker: bool
    reason: Reason


class RiskGate(Protocol):
    """Decides whether one candidate fill may happen. Must not change any state."""

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None: ...


class AcceptAll:
    """The gate that accepts every fill (no margin model)."""

    __slots__ = ()

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        return None


class RefuseAccounts:
    """A test gate: refuses every fill where one of ``makers`` rests or one of ``takers`` takes."""

    __slots__ = ("makers", "takers")

    def __init__(self, makers: frozenset[str] = frozenset(), takers: frozenset[str] = frozenset()) -> None:
        self.makers = makers
        self.takers = takers

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        if taker.account in self.takers:
            return Refusal(maker=False, reason=Reason.TAKER_RISK_REFUSED)
        if maker.account in self.makers:
            return Refusal(maker=True, reason=Reason.MAKER_RISK_REFUSED)
        return None


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

    Returns the taker refusal reason if the gate stopped matching, else ``None`` (filled in full,
    or nothing left that crosses). ``taker.remaining`` is updated; the taker is never rested here.
    Cost: O(1) per fill plus O(log L) per emptied level.
    """
    check = gate.check
    if taker.side is Side.BUY:
        levels, prices, idx, sign = book.asks, book.ask_prices, 0, 1
    else:
        levels, prices, idx, sign = book.bids, book.bid_prices, -1, -1
    limit = taker.price * sign
    while taker.remaining:
        if not prices:
            return None
        price = prices[idx]
        if price * sign > limit:
            return None
        maker = levels[price].head
        while maker is not None:
            lots = maker.remaining if maker.remaining < taker.remaining else taker.remaining
            refusal = check(taker, maker, price, lots)
            following = maker.next
            if refusal is not None:
                if not refusal.maker:
                    return refusal.reason
                book.remove(maker)
                on_maker_refused(maker, refusal.reason)
            else:
                on_fill(taker, maker, price, lots)
                taker.remaining -= lots
                book.reduce(maker, lots)
                if not taker.remaining:
                    return None
            maker = following
    return None
