"""Order rules as pure functions: market protection band, post-only pricing, reduce-only limits.

Each function decides; the venue applies the decision (and journals it). Keeping the rules
here, free of state, lets tests check them with hand-made numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from exchange_sim.orders import Order, Side
from exchange_sim.units import PPM


def band_limit(reference: int, side: Side, band_ppm: int) -> int:
    """The worst price a market order may fill at: ``reference x (1 +/- band)``, rounded inward.

    A buy's limit rounds down and a sell's up (never below one tick), so the band is never
    exceeded.

    >>> band_limit(10_000, Side.BUY, 10_000), band_limit(10_100, Side.SELL, 10_000)
    (10100, 9999)
    """
    if side is Side.BUY:
        return reference * (PPM + band_ppm) // PPM
    return max(1, -(-(reference * (PPM - band_ppm)) // PPM))


def post_only_price(side: Side, price: int, best_opposite: int | None, reprice: bool) -> int | None:
    """The price a post-only order may rest at, or ``None`` if it must be rejected.

    It would take when it reaches the opposite best price. Then, with ``reprice``, it moves to
    one tick inside that price (a buy to ``best ask - 1``, a sell to ``best bid + 1``), as
    "post-only slide" venues do; without, it is rejected. A buy repriced below one tick is rejected.

    >>> post_only_price(Side.BUY, 105, 100, True), post_only_price(Side.BUY, 105, 100, False)
    (99, None)
    """
    if best_opposite is None:
        return price
    if side is Side.BUY:
        if price < best_opposite:
            return price
        return best_opposite - 1 if reprice and best_opposite > 1 else None
    if price > best_opposite:
        return price
    return best_opposite + 1 if reprice else None


def reduce_only_capacity(position: int, side: Side) -> int:
    """Lots an order on ``side`` may fill while only reducing ``position`` (signed lots).

    >>> [reduce_only_capacity(p, side) for p, side in ((5, Side.SELL), (5, Side.BUY), (0, Side.SELL))]
    [5, 0, 0]
    """
    if position > 0 and side is Side.SELL:
        return position
    if position < 0 and side is Side.BUY:
        return -position
    return 0


def reduce_only_trims(position: int, orders: Iterable[Order]) -> list[tuple[Order, int]]:
    """Which resting reduce-only orders must shrink, and to what, for ``position`` (signed lots).

    Together, an account's resting reduce-only orders in one instrument may not exceed what
    would bring its position to zero: orders on the side that would increase the position (or
    any, when flat) go entirely; on the reducing side, the oldest orders (lowest ``seq``) keep
    their size and the newest are trimmed first. Returns ``(order, new remaining)`` pairs, a new
    remaining of 0 meaning cancel.
    """
    out: list[tuple[Order, int]] = []
    capacity = abs(position)
    for order in sorted(orders, key=lambda o: o.seq):
        keep = min(order.remaining, capacity) if reduce_only_capacity(position, order.side) else 0
        capacity -= keep
        if keep < order.remaining:
            out.append((order, keep))
    return out
