"""Noise trader: random orders at random times, the background flow a market maker lives on.

It waits an exponentially distributed time (mean ``interval``), cancels its own resting orders
older than ``stale``, then sends one order on a random side (even odds) of a random size, a
whole number of lots uniform from the instrument's minimum to ``max_size``: with probability
``market_share`` a market order (:func:`agents.base.take`), else a limit order, immediate-or-cancel
with probability ``ioc_share`` and good-till-cancelled otherwise. A limit is drawn around a
touch of the latest delivered top of book: the opposite best for an IOC order (a buy near the
ask), its own side's best for a GTC order (a buy near the bid), plus a uniform whole number of
ticks within ``offset_ppm`` of the reference either way; a missing side is replaced by the
reference (:func:`agents.base.reference`). With no reference yet it skips its turn. It looks at
the market only when it wakes (:meth:`~exchange_sim.client.Client.query_top`: a request and an
answer), so a thousand noise traders cost no market-data fan-out.

Parameters (``[[agents]]`` table with ``kind = "noise"``):

================  ===================  =========  ================================================
key               type (unit)          default    meaning
================  ===================  =========  ================================================
``instrument``    symbol               required   the instrument traded
``max_size``      decimal (contracts)  required   largest order
``interval``      decimal (seconds)    ``"10"``   mean time between orders (exponential)
``market_share``  decimal (0 to 1)     ``"0.3"``  probability that an order is a market order
``ioc_share``     decimal (0 to 1)     ``"0.5"``  probability that a limit order is IOC (else GTC)
``offset_ppm``    integer (ppm)        ``1000``   how far from the touch a limit may be, in ppm
``stale``         decimal (seconds)    ``"60"``   age at which its resting orders are cancelled
================  ===================  =========  ================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agents.base import Params, accepted, reference, take
from exchange_sim.orders import OrderType, Side, TimeInForce

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig


class Noise:
    """See the module docstring. ``stats`` counts orders, rejections, filled lots and cancels."""

    def __init__(
        self,
        name: str,
        instrument: str,
        min_lots: int,
        max_lots: int,
        interval_us: int = 10_000_000,
        market_share: Fraction = Fraction(3, 10),
        ioc_share: Fraction = Fraction(1, 2),
        offset_ppm: int = 1_000,
        stale_us: int = 60_000_000,
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.min_lots = min_lots
        self.max_lots = max_lots
        self.interval_us = interval_us
        self.market_share = market_share
        self.ioc_share = ioc_share
        self.offset_ppm = offset_ppm
        self.stale_us = stale_us
        self.stats: Counter[str] = Counter()
        self._resting: dict[int, int] = {}  # own resting order id -> time it was accepted

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> Noise:
        p = Params(params, config)
        inst = p.instrument()
        max_lots = p.lots("max_size", inst)
        agent = cls(
            name,
            inst.symbol,
            inst.min_size,
            max_lots,
            p.seconds("interval", "10"),
            p.fraction("market_share", "0.3"),
            p.fraction("ioc_share", "0.5"),
            p.ppm("offset_ppm", 1_000),
            p.seconds("stale", "60"),
        )
        p.done()
        return agent

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env, symbol = client.env, self.instrument
        while True:
            yield env.timeout(max(1, round(rng.exponential(self.interval_us))))
            yield client.query_top(symbol)  # it looks at the market only when it wakes
            self._cancel_stale(client)
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            lots = int(rng.integers(self.min_lots, self.max_lots + 1))
            market, ioc, offset = (
                rng.random() < self.market_share,
                rng.random() < self.ioc_share,
                rng.random(),
            )
            ref = reference(client, symbol)
            if ref is None:
                continue
            if market:
                result = yield from take(client, symbol, side, lots)
            else:
                top = client.tops[symbol]
                touch = top.ask if (side is Side.BUY) == ioc else top.bid  # IOC: the opposite best
                reach = max(1, ref * self.offset_ppm // 1_000_000)
                price = max(1, (touch or ref) + side * (int(offset * (2 * reach + 1)) - reach))
                tif = TimeInForce.IOC if ioc else TimeInForce.GTC
                result = yield client.submit(symbol, side, lots, price, OrderType.LIMIT, tif)
                if result.resting:
                    self._resting[result.order_id] = client.now
            self.stats["orders" if result.accepted else "rejected"] += 1
            self.stats["filled_lots"] += result.filled

    def _cancel_stale(self, client: Client) -> None:
        live = {o.order_id for o in client.open_orders()}
        for order_id, placed in list(self._resting.items()):
            if order_id not in live:
                del self._resting[order_id]
            elif client.now - placed >= self.stale_us:
                del self._resting[order_id]
                client.cancel(order_id).callbacks.append(self._count_cancel)

    def _count_cancel(self, event: simpy.Event) -> None:
        self.stats["cancelled" if accepted(event.value) else "cancel_rejected"] += 1
