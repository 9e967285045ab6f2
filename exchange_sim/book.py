"""A limit order book for one instrument: price levels in sorted containers, FIFO queues.

Structure:

* each side keeps a ``dict`` price -> :class:`Level` and a :class:`~sortedcontainers.SortedList`
  of the prices that have a level (best bid is the last bid price, best ask the first ask price);
* a level is a FIFO queue of :class:`~exchange_sim.orders.Order` objects, doubly linked through
  ``order.prev`` / ``order.next``, with its total size and order count kept alongside;
* ``orders`` indexes every resting order by id.

Complexity: add to an existing level O(1), add at a new price O(log L) (L levels on the side);
cancel by id O(1) plus O(log L) when it empties its level; best price O(1); partial fill of the
head O(1). The book knows nothing of accounts, margin or time; matching is
:mod:`exchange_sim.matching`.
"""

from __future__ import annotations

from sortedcontainers import SortedList

from exchange_sim.orders import Order, Side


class Level:
    """A FIFO queue of resting orders at one price."""

    __slots__ = ("count", "head", "price", "size", "tail")

    def __init__(self, price: int) -> None:
        self.price = price
        self.head: Order | None = None
        self.tail: Order | None = None
        self.size = 0
        self.count = 0

    def orders(self) -> list[Order]:
        """The queue in time priority (O(n), for snapshots and checks)."""
        out = []
        node = self.head
        while node is not None:
            out.append(node)
            node = node.next
        return out


class OrderBook:
    """Resting orders of one instrument. See the module docstring for structure and costs."""

    __slots__ = ("ask_prices", "asks", "bid_prices", "bids", "next_seq", "orders", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.next_seq = 1
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_prices: SortedList = SortedList()
        self.ask_prices: SortedList = SortedList()
        self.orders: dict[int, Order] = {}

    # queries -------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    def top(self) -> tuple[int | None, int, int | None, int]:
        """``(bid, bid_size, ask, ask_size)``; a missing side is ``(None, 0)``."""
        bid = self.best_bid()
        ask = self.best_ask()
        return (
            bid,
            self.bids[bid].size if bid is not None else 0,
            ask,
            self.asks[ask].size if ask is not None else 0,
        )

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Up to ``levels`` aggregated ``(price, size)`` per side, best first."""
        bids = (
            [(p, self.bids[p].size) for p in self.bid_prices.islice(-levels, reverse=True)] if levels else []
        )
        asks = [(p, self.asks[p].size) for p in self.ask_prices.islice(0, levels)] if levels else []
        return bids, asks

    def __len__(self) -> int:
        return len(self.orders)

    # mutation ------------------------------------------------------------------------------

    def add(self, order: Order) -> None:
        """Rest ``order`` at the back of its price level, with the next time-priority ``seq``.

        Its id must not be resting already. Re-adding a removed order (an amend that loses
        priority) puts it behind every order now at that price.
        """
        order.seq = self.next_seq
        self.next_seq += 1
        if order.side is Side.BUY:
            levels, prices = self.bids, self.bid_prices
        else:
            levels, prices = self.asks, self.ask_prices
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = Level(order.price)
            prices.add(order.price)
            level.head = order
        else:
            tail = level.tail
            tail.next = order  # type: ignore[union-attr]
            order.prev = tail
        level.tail = order
        level.size += order.remaining
        level.count += 1
        self.orders[order.order_id] = order

    def remove(self, order: Order) -> None:
        """Take a resting order off the book (cancel, or fully filled)."""
        del self.orders[order.order_id]
        if order.side is Side.BUY:
            levels, prices = self.bids, self.bid_prices
        else:
            levels, prices = self.asks, self.ask_prices
        level = levels[order.price]
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None
        level.count -= 1
        if level.count == 0:
            del levels[order.price]
            prices.remove(order.price)
        else:
            level.size -= order.remaining

    def reduce(self, order: Order, lots: int) -> None:
        """A resting order filled ``lots``: shrink it, and remove it when nothing remains."""
        if lots >= order.remaining:
            self.remove(order)
            order.remaining -= lots
            return
        order.remaining -= lots
        levels = self.bids if order.side is Side.BUY else self.asks
        levels[order.price].size -= lots

    # invariants ----------------------------------------------------------------------------

    def _check(self) -> None:
        """Assert every internal invariant (called by tests after each action; O(n))."""
        seen: set[int] = set()
        for side, levels, prices in (
            (Side.BUY, self.bids, self.bid_prices),
            (Side.SELL, self.asks, self.ask_prices),
        ):
            prices._check()
            assert list(prices) == sorted(levels), f"{self.symbol}: price index != levels"
            for price, level in levels.items():
                assert level.price == price
                queue = level.orders()
                assert queue, f"{self.symbol}: empty level {price}"
                assert level.count == len(queue), f"{self.symbol}: count at {price}"
                assert level.size == sum(o.remaining for o in queue), f"{self.symbol}: size at {price}"
                assert level.tail is queue[-1] and queue[0].prev is None
                prev = None
                for order in queue:
                    assert order.prev is prev
                    assert order.side is side and order.price == price and order.remaining > 0
                    assert self.orders.get(order.order_id) is order, f"unindexed order {order.order_id}"
                    assert order.order_id not in seen
                    if prev is not None:
                        assert prev.seq < order.seq, "time priority broken"
                    seen.add(order.order_id)
                    prev = order
        assert seen == set(self.orders), f"{self.symbol}: index holds orders not in levels"
        bid, ask = self.best_bid(), self.best_ask()
        assert bid is None or ask is None or bid < ask, f"{self.symbol}: crossed book {bid} >= {ask}"
