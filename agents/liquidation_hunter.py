"""Liquidation hunter: sells into a falling market where it guesses leveraged longs will be
liquidated, to set off their forced selling, and buys back afterwards.

It cannot see other accounts: it has only the public client API (tops of book with marks and
last trades; its own account). So its estimate is deliberately simple and honest about that:
it assumes longs were opened near the prices of the last ``window`` at ``assumed_leverage``,
so their liquidation prices sit about ``1 / assumed_leverage`` below those prices, and it takes
the cluster to be at ``median(observed prices) x (1 - 1 / assumed_leverage)``. When the mark (the
last trade while there is none) is at or above that level but within ``trigger_ppm`` of it, it
sells ``size`` at market (:func:`agents.base.take`) to push the price through, waits ``hold``,
and buys back what it sold. It acts on the newest top only.

Parameters (``[[agents]]`` table with ``kind = "liquidation_hunter"``):

====================  ===================  =========  ============================================
key                   type (unit)          default    meaning
====================  ===================  =========  ============================================
``instrument``        symbol               required   the contract traded
``size``              decimal (contracts)  required   size of each push
``assumed_leverage``  decimal (times)      ``"20"``   leverage it assumes the longs took (> 1)
``window``            decimal (seconds)    ``"3600"`` how far back it assumes they opened
``trigger_ppm``       integer (ppm)        ``2000``   how close above the level the mark must be
``hold``              decimal (seconds)    ``"300"``  time from the sale to the buy-back
====================  ===================  =========  ============================================

``log`` records ``(time, "sell", mark, estimated level, lots filled)`` and
``(time, "buy", mark, level, lots filled)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agents.base import Params, take
from exchange_sim.orders import Side

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig


class LiquidationHunter:
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        instrument: str,
        lots: int,
        assumed_leverage: Fraction = Fraction(20),
        window_us: int = 3_600_000_000,
        trigger_ppm: int = 2_000,
        hold_us: int = 300_000_000,
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.lots = lots
        self.assumed_leverage = assumed_leverage
        self.window_us = window_us
        self.trigger_ppm = trigger_ppm
        self.hold_us = hold_us
        self.log: list[tuple[int, str, int, int, int]] = []

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> LiquidationHunter:
        p = Params(params, config)
        inst = p.instrument(contract=True)
        lots = p.lots("size", inst)
        leverage = p.decimal("assumed_leverage", "20")
        if leverage <= 1:
            raise p.error("assumed_leverage", "a leverage above 1", leverage)
        agent = cls(
            name,
            inst.symbol,
            lots,
            leverage,
            p.seconds("window", "3600"),
            p.ppm("trigger_ppm", 2_000),
            p.seconds("hold", "300"),
        )
        p.done()
        return agent

    def level(self, prices: deque[tuple[int, int]]) -> int:
        """The estimated liquidation cluster in ticks: the median observed price (the lower
        middle one of an even count) less ``1 / assumed_leverage`` of it."""
        ordered = sorted(price for _, price in prices)
        median = ordered[(len(ordered) - 1) // 2]
        return int(median * (1 - 1 / self.assumed_leverage))

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env, symbol = client.env, self.instrument
        tops = client.subscribe("top", symbol)
        prices: deque[tuple[int, int]] = deque()
        while True:
            top = yield tops.get()
            mark = top.mark if top.mark is not None else top.last
            if mark is None:
                continue
            prices.append((top.ts, mark))
            while prices[0][0] < top.ts - self.window_us:
                prices.popleft()
            level = self.level(prices)
            if tops.items or not 0 <= (mark - level) * 1_000_000 <= self.trigger_ppm * level:
                continue
            sale = yield from take(client, symbol, Side.SELL, self.lots)
            self.log.append((client.now, "sell", mark, level, sale.filled))
            if not sale.filled:
                continue
            yield env.timeout(self.hold_us)
            back = yield from take(client, symbol, Side.BUY, sale.filled)
            self.log.append((client.now, "buy", client.tops[symbol].mark or 0, level, back.filled))
