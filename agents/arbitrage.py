"""Basis arbitrageur: trades the gap between a perpetual and a dated future on the same underlying.

Every ``interval`` it reads both marks from the latest delivered tops of book
(:func:`agents.base.reference`) and the basis ``(future mark - perpetual mark) / perpetual mark``
in ppm. Flat, it opens a hedged pair with one atomic multi-leg order
(:meth:`Client.submit_legs <exchange_sim.client.Client.submit_legs>`: both legs fill in full or
neither does) when the basis is beyond ``entry_ppm``: above it, buy ``size`` of the perpetual and
sell ``size`` of the future (the future is dear); below minus it, the reverse. Holding a pair, it
unwinds both legs together once the basis has come back inside ``exit_ppm`` (below ``exit_ppm``
for a pair long the perpetual, above ``-exit_ppm`` for the reverse). Each leg's limit is its mark
moved ``slippage_ppm`` in the trade's direction. A refused pair (``LEGS_UNFILLED``: the book too
thin at those limits) is tried again at the next check. It stops trading at the future's expiry
(the venue settles what is left). The positions it reads are its account's, so give it an
account of its own.

Parameters (``[[agents]]`` table with ``kind = "arbitrage"``):

================  ===================  ==========  ===============================================
key               type (unit)          default     meaning
================  ===================  ==========  ===============================================
``perpetual``     symbol               required    the perpetual leg
``future``        symbol               required    the dated future leg
``size``          decimal (contracts)  required    size of each leg
``entry_ppm``     integer (ppm)        ``2000``    basis beyond which it opens a pair
``exit_ppm``      integer (ppm)        ``500``     basis inside which it closes it (< entry)
``interval``      decimal (seconds)    ``"10"``    time between checks
``slippage_ppm``  integer (ppm)        ``1000``    how far beyond its mark each leg may fill
================  ===================  ==========  ===============================================

``log`` records ``(time, "open" or "close", basis in ppm, LegsResult)``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from agents.base import Params, reference, shift_ppm, watch
from exchange_sim.instruments import InstrumentKind
from exchange_sim.orders import Side

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig


class Arbitrage:
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        perpetual: str,
        future: str,
        lots: int,
        entry_ppm: int = 2_000,
        exit_ppm: int = 500,
        interval_us: int = 10_000_000,
        slippage_ppm: int = 1_000,
        expiry_us: int | None = None,
    ) -> None:
        self.name = name
        self.perpetual = perpetual
        self.future = future
        self.lots = lots
        self.entry_ppm = entry_ppm
        self.exit_ppm = exit_ppm
        self.interval_us = interval_us
        self.slippage_ppm = slippage_ppm
        self.expiry_us = expiry_us
        self.log: list[tuple[int, str, int, Any]] = []

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> Arbitrage:
        p = Params(params, config)
        perp = p.instrument("perpetual")
        if perp.kind is not InstrumentKind.PERPETUAL:
            raise p.error("perpetual", "a perpetual", perp.symbol)
        future = p.instrument("future")
        if future.kind is not InstrumentKind.FUTURE:
            raise p.error("future", "a dated future", future.symbol)
        same = (future.underlying, future.lot_size * future.contract_size)
        if same != (perp.underlying, perp.lot_size * perp.contract_size):
            raise p.error(
                "future", "a future on the perpetual's underlying with lots of the same size", future.symbol
            )
        lots = p.lots("size", perp)
        entry = p.ppm("entry_ppm", 2_000)
        exit_ppm = p.ppm("exit_ppm", 500)
        if exit_ppm >= entry:
            raise p.error("exit_ppm", f"less than entry_ppm ({entry})", exit_ppm)
        agent = cls(
            name,
            perp.symbol,
            future.symbol,
            lots,
            entry,
            exit_ppm,
            p.seconds("interval", "10"),
            p.ppm("slippage_ppm", 1_000, maximum=999_999),
            future.expiry_us,
        )
        p.done()
        return agent

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env = client.env
        watch(client, self.perpetual)  # keeps client.tops current
        watch(client, self.future)
        while self.expiry_us is None or client.now < self.expiry_us:
            yield env.timeout(self.interval_us)
            perp, future = reference(client, self.perpetual), reference(client, self.future)
            if perp is None or future is None:
                continue
            tick = client.instruments[self.future].tick_size / client.instruments[self.perpetual].tick_size
            basis = int((future * tick - perp) * 1_000_000 / perp)  # prices in the perpetual's ticks
            held = client.position(self.perpetual)
            if held == 0 and abs(basis) > self.entry_ppm:
                side = Side.BUY if basis > 0 else Side.SELL  # the perpetual leg: buy the cheap one
                what, lots = "open", self.lots
            elif (held > 0 and basis < self.exit_ppm) or (held < 0 and basis > -self.exit_ppm):
                side = Side.SELL if held > 0 else Side.BUY
                what, lots = "close", abs(held)
            else:
                continue
            hedge = abs(client.position(self.future)) if what == "close" else lots
            slip = self.slippage_ppm
            legs = [
                (self.perpetual, side, lots, shift_ppm(perp, slip * side)),
                (self.future, Side(-side), hedge, shift_ppm(future, -slip * side)),
            ]
            if hedge == 0:
                legs.pop()
            result = yield client.submit_legs(legs)
            self.log.append((client.now, what, basis, result))
