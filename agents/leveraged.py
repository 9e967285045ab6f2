"""Leveraged trader: holds one directional position at a fixed multiple of its equity, and
opens it again after each liquidation.

Sizing: its equity (:meth:`Client.margin <exchange_sim.client.Client.margin>`; for an isolated
account the main account's plus each position's) times ``leverage``, divided by the notional of
one lot at the reference price (:func:`agents.base.reference`, the mark), rounded down to whole
lots: that is the position it wants, long or short (``side``; ``"random"`` draws it anew at each
opening from flat, and keeps the side of a partly liquidated position). It buys or sells the
difference with immediate-or-cancel limit orders at most ``slippage_ppm`` beyond the reference;
an order the margin rules refuse (``INSUFFICIENT_MARGIN`` at placement, ``TAKER_RISK_REFUSED``
at a fill) is retried at 80% of its size, up to ten times, so it ends as close to ``leverage`` as
the instrument's brackets allow. Then it waits for a liquidation notice
(``subscribe("liquidations")``), waits ``cooldown``, and opens again with what equity is left.
If it could open nothing, it tries again after ``cooldown``.

Parameters (``[[agents]]`` table with ``kind = "leveraged"``):

=================  =================  ==========  ================================================
key                type (unit)        default     meaning
=================  =================  ==========  ================================================
``instrument``     symbol             required    the contract traded
``leverage``       decimal (times)    ``"9"``     position notional over equity it aims for
``side``           string             ``"long"``  ``"long"``, ``"short"`` or ``"random"``
``cooldown``       decimal (seconds)  ``"300"``   wait after a liquidation before opening again
``slippage_ppm``   integer (ppm)      ``5000``    how far beyond the reference its orders may fill
=================  =================  ==========  ================================================

``log`` records ``(time, "open", side, lots wanted, lots filled)`` and
``(time, "liquidated", unit, outcome, equity in atoms)``.
"""

from __future__ import annotations

from collections.abc import Generator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agents.base import Params, reference, shift_ppm, watch
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig

REFUSED = (Reason.INSUFFICIENT_MARGIN, Reason.TAKER_RISK_REFUSED)
"""The margin refusals after which it retries smaller."""


class Leveraged:
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        instrument: str,
        leverage: Fraction,
        side: str = "long",
        cooldown_us: int = 300_000_000,
        slippage_ppm: int = 5_000,
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.leverage = leverage
        self.side = side
        self.cooldown_us = cooldown_us
        self.slippage_ppm = slippage_ppm
        self.log: list[tuple[Any, ...]] = []

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> Leveraged:
        p = Params(params, config)
        inst = p.instrument(contract=True)
        if config.margin is None:
            raise p.error("instrument", "a venue with margin rules (a [margin] table): leverage needs them")
        agent = cls(
            name,
            inst.symbol,
            p.decimal("leverage", "9", positive=True),
            p.string("side", "long", options=("long", "short", "random")),
            p.seconds("cooldown", "300"),
            p.ppm("slippage_ppm", 5_000, maximum=999_999),
        )
        p.done()
        return agent

    def equity(self, client: Client) -> int:
        """The account's equity in settlement atoms, isolated positions' margin included."""
        margin = client.margin()
        assert margin is not None
        return margin.equity + sum(unit.equity for unit in margin.isolated)

    def target(self, client: Client, ref: int) -> int:
        """Lots worth ``leverage`` times the equity at ``ref`` ticks."""
        per_lot = ref * client.instruments[self.instrument].atoms_per_tick_per_lot
        return max(0, int(self.equity(client) * self.leverage / per_lot))

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env, symbol = client.env, self.instrument
        notices = client.subscribe("liquidations")
        yield watch(client, symbol)  # client.tops is current from the first top on
        while True:
            yield from self._open(client, rng)
            if client.position(symbol) != 0:
                notice = yield notices.get()
                self.log.append((client.now, "liquidated", notice.unit, notice.outcome, notice.equity))
            yield env.timeout(self.cooldown_us)
            notices.items.clear()  # the liquidation's other notices

    def _open(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        symbol = self.instrument
        held = client.position(symbol)
        side = {"long": Side.BUY, "short": Side.SELL}.get(self.side)
        if side is None:  # "random": a coin flip, unless part of a position is left to top up
            flip = Side.BUY if rng.random() < 0.5 else Side.SELL
            side = flip if held == 0 else Side(1 if held > 0 else -1)
        ref = reference(client, symbol)
        if ref is None:
            return
        want = self.target(client, ref) - side * held
        filled, lots = 0, want
        limit = shift_ppm(ref, self.slippage_ppm if side is Side.BUY else -self.slippage_ppm)
        for _ in range(10):
            if lots < client.instruments[symbol].min_size:
                break
            result = yield client.submit(symbol, side, lots, limit, OrderType.LIMIT, TimeInForce.IOC)
            filled += result.filled
            if result.reason not in REFUSED:
                break
            lots = (lots - result.filled) * 4 // 5
        self.log.append((client.now, "open", side, want, filled))
