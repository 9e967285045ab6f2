"""Market maker: quotes both sides of one instrument around its reference price, with inventory skew.

Every ``interval`` it reads the latest delivered top of book (its mark, else the mid, else the
last trade: :func:`agents.base.reference`) and its own position, and keeps ``levels`` post-only
orders on each side: level ``k`` (1 = best) sits ``k x spread / 2`` ppm of the reference from the
centre, at least ``k`` ticks away and behind other traders' best prices (post-only quotes never
take), and the centre moves ``skew_ppm`` ppm of the reference per lot of inventory *against* the
position (long: quotes lower, so it sells more easily). A side stops quoting the levels that,
filled, would take the position beyond ``max_position``. Its orders carry client order ids
``"<name>/bid<k>"`` and ``"<name>/ask<k>"``: a level that is live is amended (price, or size back
to ``size`` after partial fills), a missing one is submitted again, an unwanted one cancelled.

Parameters (``[[agents]]`` table with ``kind = "market_maker"``):

================  ===================  ===========  ===============================================
key               type (unit)          default      meaning
================  ===================  ===========  ===============================================
``instrument``    symbol               required     the instrument quoted
``size``          decimal (contracts)  required     size of each level
``levels``        integer              ``1``        levels quoted per side
``spread``        integer (ppm)        ``2000``     best ask minus best bid, ppm of the reference
``interval``      decimal (seconds)    ``"1"``      time between re-quotes
``skew_ppm``      integer (ppm/lot)    ``0``        centre shift per lot of position, against it
``max_position``  decimal (contracts)  unlimited    largest position (long or short) it quotes into
================  ===================  ===========  ===============================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from agents.base import ParamError, Params, accepted, reference, shift_ppm, watch
from exchange_sim.orders import Side, TimeInForce

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig

MAX_SKEW_PPM = 500_000
"""The centre never moves more than half the reference, however large the position."""


class MarketMaker:
    """See the module docstring. ``stats`` counts submits, amends, cancels and rejections."""

    def __init__(
        self,
        name: str,
        instrument: str,
        lots: int,
        levels: int = 1,
        spread_ppm: int = 2_000,
        interval_us: int = 1_000_000,
        skew_ppm: int = 0,
        max_lots: int | None = None,
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.lots = lots
        self.levels = levels
        self.spread_ppm = spread_ppm
        self.interval_us = interval_us
        self.skew_ppm = skew_ppm
        self.max_lots = max_lots
        self.stats: Counter[str] = Counter()

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> MarketMaker:
        p = Params(params, config)
        inst = p.instrument()
        lots = p.lots("size", inst)
        levels = p.integer("levels", 1, minimum=1)
        spread = p.ppm("spread", 2_000, maximum=999_999)
        interval = p.seconds("interval", "1")
        skew = p.ppm("skew_ppm", 0)
        max_lots = p.lots("max_position", inst) if p.has("max_position") else None
        p.done()
        longest = f"{name}/ask{levels}"
        if not (longest.isascii() and longest.isprintable() and len(longest) <= 36):
            raise ParamError("name", "a printable ASCII name short enough for client ids like " + longest)
        return cls(name, inst.symbol, lots, levels, spread, interval, skew, max_lots)

    def quotes(
        self, ref: int, position: int, others: tuple[int | None, int | None] = (None, None)
    ) -> list[tuple[str, Side, int, int]]:
        """The wanted orders ``(client id, side, price in ticks, lots)`` around ``ref`` ticks for
        a position of ``position`` lots; ``others``: the best bid and ask of other traders, if
        known, which its post-only quotes stay behind (level ``k`` at least ``k`` ticks)."""
        skew = max(-MAX_SKEW_PPM, min(MAX_SKEW_PPM, -position * self.skew_ppm))
        centre = shift_ppm(ref, skew)
        other_bid, other_ask = others
        out = []
        for k in range(1, self.levels + 1):
            away = max(k, ref * k * self.spread_ppm // 2_000_000)  # ticks from the centre
            if self.max_lots is None or position + k * self.lots <= self.max_lots:
                bid = centre - away if other_ask is None else min(centre - away, other_ask - k)
                if bid >= 1:
                    out.append((f"{self.name}/bid{k}", Side.BUY, bid, self.lots))
            if self.max_lots is None or position - k * self.lots >= -self.max_lots:
                ask = centre + away if other_bid is None else max(centre + away, other_bid + k)
                out.append((f"{self.name}/ask{k}", Side.SELL, ask, self.lots))
        return out

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env = client.env
        yield watch(client, self.instrument)  # client.tops is current from the first top on
        while True:
            started = client.now
            sent = self._requote(client)
            if sent:
                yield env.all_of([event for _, event in sent])
            for what, event in sent:
                self.stats[what if accepted(event.value) else "rejected"] += 1
            yield env.timeout(max(0, started + self.interval_us - client.now))

    def _requote(self, client: Client) -> list[tuple[str, simpy.Event]]:
        """Send the submits, amends and cancels that turn its live orders into :meth:`quotes`."""
        symbol = self.instrument
        ref = reference(client, symbol)
        if ref is None:
            return []
        prefix = self.name + "/"
        live = {
            o.client_id: o
            for o in client.open_orders()
            if o.client_id is not None and o.client_id.startswith(prefix)
        }
        top = client.tops[symbol]
        own = {o.price for o in live.values()}
        others = (top.bid if top.bid not in own else None, top.ask if top.ask not in own else None)
        wanted = self.quotes(ref, client.position(symbol), others)
        # the side moving away from the other goes first, so no post-only amend meets our own order
        falling = any(
            cid in live and side is Side.BUY and price < live[cid].price for cid, side, price, _ in wanted
        )
        wanted.sort(key=lambda quote: -quote[1] if falling else quote[1])  # BUY is 1, SELL -1
        sent = []
        for cid, side, price, lots in wanted:
            order = live.pop(cid, None)
            if order is None:
                event = client.submit(symbol, side, lots, price, tif=TimeInForce.POST_ONLY, client_id=cid)
                sent.append(("submit", event))
            elif order.price != price or order.remaining != lots:
                sent.append(("amend", client.amend(client_id=cid, price=price, size=lots)))
        sent.extend(("cancel", client.cancel(client_id=cid)) for cid in live)
        return sent
