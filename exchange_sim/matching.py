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

    def check_maker(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        """:meth:`check` for the maker's side only (multi-leg orders check their taker once)."""
        ...

    def taker_fits(self, account: str) -> bool:
        """After a multi-leg plan: whether ``account``, with every held fill applied, meets the
        per-fill rule against its state now."""
        ...

    def hold(self, taker: Order, maker: Order, price: int, lots: int) -> None: ...

    def release(self) -> None: ...


class AcceptAll:
    """The gate that accepts every fill (no margin model)."""

    __slots__ = ()

    def check(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        return None

    def check_maker(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        return None

    def taker_fits(self, account: str) -> bool:
        return True

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
        return self.check_maker(taker, maker, price, lots)

    def check_maker(self, taker: Order, maker: Order, price: int, lots: int) -> Refusal | None:
        return _MAKER_REFUSED if maker.account in self.makers else None

    def taker_fits(self, account: str) -> bool:
        return account not in self.takers

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


@dataclass(slots=True)
class Plan:
    """What :func:`match` would do for a taker now, found without changing anything.

    ``steps``: in walk order, ``(maker, price, lots, None)`` for a fill, ``(maker, 0, 0, reason)``
    for a maker that matching would remove (refused by the gate, or cancelled by self-trade
    prevention). ``filled``: lots planned. ``stopped``: why matching would stop the taker early
    (self-trade prevention, or the gate), else ``None``.
    """

    steps: list[tuple[Order, int, int, Reason | None]]
    filled: int = 0
    stopped: Reason | None = None


RoomCallback = Callable[[Order, dict[str, int], dict[int, int]], int]
"""``room(maker, moved, used)``: lots a reduce-only maker could still fill once the planned
fills are done (``moved``: planned position change per maker account; ``used``: planned lots
per maker order). Lets a plan see the trims that real fills would make."""


def plan(
    book: OrderBook,
    taker: Order,
    gate: RiskGate,
    room: RoomCallback | None = None,
    *,
    taker_checked: bool = True,
) -> Plan:
    """Plan ``taker`` against ``book`` without changing anything (see :class:`Plan`).

    Walks the same makers in the same order with the same self-trade and gate decisions as
    :func:`match`, each planned fill held by the gate so later checks see it
    (``RiskGate.hold``); the caller releases the gate. With ``taker_checked`` false only makers
    are checked per fill (``RiskGate.check_maker``): a multi-leg order checks its taker once, on
    the combined result. O(makers walked).
    """
    need = taker.remaining
    if taker.side is Side.BUY:
        levels, walk = book.asks, book.ask_prices.irange(maximum=taker.price)
    else:
        levels, walk = book.bids, book.bid_prices.irange(minimum=taker.price, reverse=True)
    out = Plan([])
    check = gate.check if taker_checked else gate.check_maker
    moved: dict[str, int] = {}
    used: dict[int, int] = {}
    sign = -1 if taker.side is Side.BUY else 1  # the makers' position change per lot
    for price in walk:
        maker = levels[price].head
        while maker is not None:
            if maker.account == taker.account:
                if taker.stp is not _CANCEL_TAKER:
                    out.steps.append((maker, 0, 0, _SELF_TRADE))
                if taker.stp is not _CANCEL_MAKER:
                    out.stopped = _SELF_TRADE
                    return out
            else:
                available = maker.remaining
                if maker.flags and room is not None:
                    available = min(available, room(maker, moved, used))
                lots = min(available, need - out.filled)
                if lots > 0:
                    refusal = check(taker, maker, price, lots)
                    if refusal is None:
                        out.steps.append((maker, price, lots, None))
                        out.filled += lots
                        gate.hold(taker, maker, price, lots)
                        moved[maker.account] = moved.get(maker.account, 0) + sign * lots
                        used[maker.order_id] = lots
                        if out.filled >= need:
                            return out
                    else:
                        if refusal.maker:
                            out.steps.append((maker, 0, 0, refusal.reason))
                        if refusal.taker:
                            out.stopped = refusal.reason
                            return out
            maker = maker.next
    return out


def fillable(book: OrderBook, taker: Order, gate: RiskGate, room: RoomCallback | None = None) -> int:
    """Lots :func:`match` would fill for ``taker`` now, found without changing anything
    (:func:`plan`). Used by fill-or-kill orders."""
    try:
        return plan(book, taker, gate, room).filled
    finally:
        gate.release()


_CANCEL_TAKER, _CANCEL_MAKER = SelfTrade.CANCEL_TAKER, SelfTrade.CANCEL_MAKER
_SELF_TRADE = Reason.SELF_TRADE
