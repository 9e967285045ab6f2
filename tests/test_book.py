"""Order book structure: levels, FIFO queues, O(1) cancel by id, snapshots, _check().

Behaviours verified:
- orders at one price queue in arrival order; level size and count follow adds and removes;
- best bid/ask, top of book and depth snapshots (best first, aggregated);
- removing the head, middle and tail of a queue keeps the links right; an emptied level vanishes;
- a partial reduce shrinks the level, a full one removes the order;
- _check() catches a corrupted level size (it is a real check).
"""

import pytest

from exchange_sim.book import OrderBook
from exchange_sim.orders import Order, Side, TimeInForce


def order(oid: int, side: Side, price: int, size: int) -> Order:
    return Order(oid, "acct", "X", side, price, size, size, TimeInForce.GTC, 0)


def test_levels_queue_in_arrival_order() -> None:
    book = OrderBook("X")
    for oid, (side, price, size) in enumerate(
        [(Side.BUY, 99, 2), (Side.BUY, 99, 3), (Side.BUY, 98, 1), (Side.SELL, 101, 4), (Side.SELL, 102, 5)], 1
    ):
        book.add(order(oid, side, price, size))
    book._check()
    assert [o.order_id for o in book.bids[99].orders()] == [1, 2]
    assert book.bids[99].size == 5 and book.bids[99].count == 2
    assert book.top() == (99, 5, 101, 4)
    assert book.depth(1) == ([(99, 5)], [(101, 4)])
    assert book.depth(5) == ([(99, 5), (98, 1)], [(101, 4), (102, 5)])
    assert len(book) == 5


def test_remove_head_middle_tail() -> None:
    book = OrderBook("X")
    orders = [order(i, Side.SELL, 100, i) for i in range(1, 5)]
    for o in orders:
        book.add(o)
    book.remove(orders[1])  # middle
    book._check()
    book.remove(orders[0])  # head
    book._check()
    book.remove(orders[3])  # tail
    book._check()
    assert [o.order_id for o in book.asks[100].orders()] == [3]
    assert book.asks[100].size == 3
    book.remove(orders[2])
    book._check()
    assert book.best_ask() is None and 100 not in book.asks and len(book) == 0
    assert book.top() == (None, 0, None, 0)


def test_reduce_partial_and_full() -> None:
    book = OrderBook("X")
    a, b = order(1, Side.BUY, 50, 5), order(2, Side.BUY, 50, 2)
    book.add(a)
    book.add(b)
    book.reduce(a, 3)
    assert a.remaining == 2 and book.bids[50].size == 4
    book.reduce(a, 2)
    assert a.remaining == 0 and 1 not in book.orders and book.bids[50].head is b
    book._check()


def test_check_detects_corruption() -> None:
    book = OrderBook("X")
    book.add(order(1, Side.BUY, 50, 5))
    book.bids[50].size += 1
    with pytest.raises(AssertionError, match="size at 50"):
        book._check()
