"""Momentum trader: follows a move of the mark, then gets out after a fixed holding time.

It watches the instrument's top of book (each delivered :class:`~exchange_sim.client.Top`
carries the mark, and the last trade, which stands in while there is no mark). When a top arrives
whose price differs from the price ``lookback`` earlier (the last one observed at or before that
time, by the venue's timestamps) by more than ``threshold_ppm`` of the older price, and it holds
no position of its own, it buys (a rise) or sells (a fall) ``size`` at market
(:func:`agents.base.take`), waits ``hold``, and closes its whole position with a reduce-only
market order (what a partly filled exit leaves is closed at the next trigger, before any entry).
It acts only on the newest top: one that already has a successor waiting is only recorded.

Parameters (``[[agents]]`` table with ``kind = "momentum"``):

=================  ===================  ==========  =============================================
key                type (unit)          default     meaning
=================  ===================  ==========  =============================================
``instrument``     symbol               required    the contract traded
``size``           decimal (contracts)  required    size of each entry
``threshold_ppm``  integer (ppm)        ``2000``    smallest move over ``lookback`` that triggers
``lookback``       decimal (seconds)    ``"300"``   the window the move is measured over
``hold``           decimal (seconds)    ``"600"``   time from entry to exit
=================  ===================  ==========  =============================================

``log`` records ``(time, "enter", side, move in ppm, lots filled)`` and
``(time, "exit", side, 0, lots filled)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from agents.base import Params, take
from exchange_sim.orders import Side

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig


class Momentum:
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        instrument: str,
        lots: int,
        threshold_ppm: int = 2_000,
        lookback_us: int = 300_000_000,
        hold_us: int = 600_000_000,
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.lots = lots
        self.threshold_ppm = threshold_ppm
        self.lookback_us = lookback_us
        self.hold_us = hold_us
        self.log: list[tuple[int, str, Side, int, int]] = []

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> Momentum:
        p = Params(params, config)
        inst = p.instrument(contract=True)
        agent = cls(
            name,
            inst.symbol,
            p.lots("size", inst),
            p.ppm("threshold_ppm", 2_000),
            p.seconds("lookback", "300"),
            p.seconds("hold", "600"),
        )
        p.done()
        return agent

    def move_ppm(self, history: deque[tuple[int, int]], ts: int, price: int) -> int | None:
        """Record ``price`` at ``ts``; the move since ``lookback`` earlier in ppm (``None``: not
        enough history yet). Keeps one observation at or before the window's start."""
        history.append((ts, price))
        start = ts - self.lookback_us
        while len(history) > 1 and history[1][0] <= start:
            history.popleft()
        then_ts, then = history[0]
        if then_ts > start:
            return None
        return (price - then) * 1_000_000 // then

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env, symbol = client.env, self.instrument
        tops = client.subscribe("top", symbol)
        history: deque[tuple[int, int]] = deque()
        while True:
            top = yield tops.get()
            price = top.mark if top.mark is not None else top.last
            if price is None:
                continue
            move = self.move_ppm(history, top.ts, price)
            if move is None or abs(move) <= self.threshold_ppm or tops.items:
                continue
            held = client.position(symbol)
            if held:  # what an exit left (a partial fill): close it first, enter on a later move
                out = yield from take(
                    client, symbol, Side.SELL if held > 0 else Side.BUY, abs(held), reduce_only=True
                )
                self.log.append((client.now, "exit", Side.SELL if held > 0 else Side.BUY, 0, out.filled))
                continue
            side = Side.BUY if move > 0 else Side.SELL
            entry = yield from take(client, symbol, side, self.lots)
            self.log.append((client.now, "enter", side, move, entry.filled))
            if not entry.filled:
                continue
            yield env.timeout(self.hold_us)
            held = client.position(symbol)  # the whole position in the trade's direction goes
            lots = held if side is Side.BUY else -held
            if lots > 0:
                out = yield from take(client, symbol, Side(-side), lots, reduce_only=True)
                self.log.append((client.now, "exit", Side(-side), 0, out.filled))
