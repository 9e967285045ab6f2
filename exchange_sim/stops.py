"""Untriggered stop orders of one instrument, kept in the order they would trigger.

A stop *buy* triggers when the reference price rises to its stop price or above; a stop *sell*
when it falls to its stop price or below. When one reference price triggers several stops (a
burst), they are released one at a time in a documented, deterministic order:

1. the order in which a moving price reaches them: buy stops from the lowest stop price up,
   sell stops from the highest stop price down;
2. at the same stop price, the order they were placed in (``seq``);
3. buy stops before sell stops, which can only matter for stops placed before the first
   reference price existed (otherwise a stop that has already triggered is refused at placement).

After each release the venue reads the reference price again, since the released order's fills
may move it and trigger further stops (a cascade).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sortedcontainers import SortedList

from exchange_sim.orders import Order, OrderType, Side


class Trigger(IntEnum):
    """Which reference price a stop order watches."""

    LAST_TRADE = 0
    """The instrument's last trade price."""
    EXTERNAL = 1
    """The externally pushed reference price (:meth:`Venue.set_reference_price`)."""


@dataclass(slots=True, eq=False)
class StopOrder:
    """A stop waiting to trigger: the order it releases, its stop price and trigger source."""

    order: Order
    order_type: OrderType
    stop_price: int
    trigger: Trigger
    seq: int = 0

    def triggers_at(self, reference: int) -> bool:
        if self.order.side is Side.BUY:
            return reference >= self.stop_price
        return reference <= self.stop_price


class StopBook:
    """Stops of one instrument. Add and remove O(log n); the next to trigger O(1).

    One sorted list per (side, trigger source); keys are ``(stop price, seq, order id)`` for
    buys (lowest first) and ``(-stop price, seq, order id)`` for sells (highest first), so the
    head of each list is the first of its kind to trigger.
    """

    __slots__ = ("lists", "next_seq", "orders")

    def __init__(self) -> None:
        self.lists: dict[tuple[Side, Trigger], SortedList] = {
            (side, trigger): SortedList() for side in (Side.BUY, Side.SELL) for trigger in Trigger
        }
        self.orders: dict[int, StopOrder] = {}
        self.next_seq = 1

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, stop: StopOrder) -> None:
        stop.seq = self.next_seq
        self.next_seq += 1
        self.orders[stop.order.order_id] = stop
        self.lists[stop.order.side, stop.trigger].add(_key(stop))

    def remove(self, order_id: int) -> StopOrder:
        stop = self.orders.pop(order_id)
        self.lists[stop.order.side, stop.trigger].remove(_key(stop))
        return stop

    def next_triggered(self, prices: dict[Trigger, int | None]) -> StopOrder | None:
        """The first stop the current reference prices trigger (module docstring order), or ``None``.

        ``prices`` maps each trigger source to its current price (``None``: no price yet).
        """
        for side in (Side.BUY, Side.SELL):
            best = None
            for trigger in Trigger:
                keys = self.lists[side, trigger]
                price = prices.get(trigger)
                if keys and price is not None:
                    stop = self.orders[keys[0][2]]
                    if stop.triggers_at(price) and (best is None or _key(stop) < _key(best)):
                        best = stop
            if best is not None:
                return best
        return None

    def _check(self) -> None:
        assert sum(len(keys) for keys in self.lists.values()) == len(self.orders)
        for (side, trigger), keys in self.lists.items():
            for key in keys:
                stop = self.orders[key[2]]
                assert key == _key(stop) and stop.order.side is side and stop.trigger is trigger


def _key(stop: StopOrder) -> tuple[int, int, int]:
    price = stop.stop_price if stop.order.side is Side.BUY else -stop.stop_price
    return (price, stop.seq, stop.order.order_id)
