"""Scripted trader: sends the orders a timeline lists, at the times it lists.

For tests and experiments that need an exact sequence: an order book shaped by hand, a trade at a
known second, a cancel. Each entry is sent at its ``at`` (seconds from the start of the run) and
reaches the venue after the agent's order latency; entries at the same time go in list order
without waiting for each other's replies. ``log`` records, as each reply arrives,
``(arrival time, entry index, action, result)``.

Parameters (``[[agents]]`` table with ``kind = "scripted"``): one, ``timeline``, a list of
tables, each with ``at`` (decimal seconds >= 0, not before the previous entry's) and ``action``:

``submit``
    ``instrument``, ``side`` (``"buy"``/``"sell"``), ``size`` (decimal contracts), ``type``
    (``"limit"`` or ``"market"``; default ``"limit"`` with a ``price``, else ``"market"``),
    ``price`` (decimal, limit orders only), ``tif`` (``"gtc"``, ``"ioc"``, ``"fok"`` or
    ``"post_only"``; default ``"gtc"`` for a limit, ``"ioc"`` for a market order),
    ``client_id`` (string, optional), ``reduce_only`` (boolean, default false).
``cancel``
    ``client_id``: one of its orders by client order id.
``amend``
    ``client_id``, ``instrument`` (the order's, to read the numbers), and ``size`` and/or
    ``price``.
``cancel_all``
    cancels every resting order of the account (``instrument``: only that one's), as its open
    orders stand at ``at`` (the client API has no mass cancel: one cancel per order).

Example::

    [[agents]]
    name = "script"
    kind = "scripted"
    account = "bob"
    timeline = [
      { at = "60", action = "submit", instrument = "BTC-PERP", side = "buy", size = "0.1",
        price = "29900", client_id = "dip" },
      { at = "120", action = "amend", client_id = "dip", instrument = "BTC-PERP", price = "29950" },
      { at = "600", action = "cancel_all" },
    ]
"""

from __future__ import annotations

from collections.abc import Generator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from agents.base import Params
from exchange_sim.orders import OrderType, TimeInForce
from exchange_sim.units import format_fraction

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig

ACTIONS = ("submit", "cancel", "amend", "cancel_all")
TIFS = {
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
    "post_only": TimeInForce.POST_ONLY,
}


class Scripted:
    """See the module docstring. ``timeline`` holds ``(at in us, action, arguments)``."""

    def __init__(self, name: str, timeline: list[tuple[int, str, dict[str, Any]]]) -> None:
        self.name = name
        self.timeline = timeline
        self.log: list[tuple[int, int, str, Any]] = []

    @classmethod
    def from_params(cls, name: str, params: dict[str, Any], config: VenueConfig) -> Scripted:
        p = Params(params, config)
        timeline = []
        previous = 0
        for entry in p.entries("timeline"):
            at = entry.seconds("at", zero=True)
            if at < previous:
                earlier, got = (format_fraction(Fraction(us, 1_000_000)) for us in (previous, at))
                raise entry.error("at", f"a time not before the previous entry's ({earlier})", got)
            previous = at
            action = entry.string("action", options=ACTIONS)
            timeline.append((at, action, _arguments(entry, action)))
            entry.done()
        p.done()
        return cls(name, timeline)

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        env = client.env
        for index, (at, action, args) in enumerate(self.timeline):
            if at > client.now:
                yield env.timeout(at - client.now)
            if action == "submit":
                events = [client.submit(**args)]
            elif action == "cancel":
                events = [client.cancel(**args)]
            elif action == "amend":
                events = [client.amend(**args)]
            else:
                symbol = args.get("instrument")
                events = [
                    client.cancel(o.order_id)
                    for o in client.open_orders()
                    if symbol is None or o.instrument == symbol
                ]
            for event in events:
                event.callbacks.append(self._record(client, index, action))

    def _record(self, client: Client, index: int, action: str) -> Any:
        def record(event: simpy.Event) -> None:
            self.log.append((client.now, index, action, event.value))

        return record


def _client_id(entry: Params) -> str:
    value = entry.string("client_id")
    if not (0 < len(value) <= 36 and value.isascii() and value.isprintable()):
        raise entry.error("client_id", "1 to 36 printable ASCII characters", value)
    return value


def _arguments(entry: Params, action: str) -> dict[str, Any]:
    """The client call's keyword arguments for one validated timeline entry."""
    if action == "cancel":
        return {"client_id": _client_id(entry)}
    if action == "cancel_all":
        return {"instrument": entry.instrument().symbol} if entry.has("instrument") else {}
    if action == "amend":
        client_id = _client_id(entry)
        inst = entry.instrument()
        if not (entry.has("size") or entry.has("price")):
            raise entry.error("size", "a new size or a new price (amend)")
        args: dict[str, Any] = {"client_id": client_id}
        if entry.has("size"):
            args["size"] = entry.lots("size", inst)
        if entry.has("price"):
            args["price"] = entry.price("price", inst)
        return args
    inst = entry.instrument()
    side = entry.side()
    lots = entry.lots("size", inst)
    kind = entry.string("type", "limit" if entry.has("price") else "market", options=("limit", "market"))
    if kind == "limit":
        price = entry.price("price", inst)
    elif entry.has("price"):
        raise entry.error("price", "no price for a market order", entry.raw("price"))
    else:
        price = None
    tif = TIFS[entry.string("tif", "gtc" if kind == "limit" else "ioc", options=tuple(TIFS))]
    if kind == "market" and tif is TimeInForce.POST_ONLY:
        raise entry.error("tif", 'a market order\'s "ioc", "fok" or "gtc" (never rests)', "post_only")
    args = {
        "instrument": inst.symbol,
        "side": side,
        "size": lots,
        "price": price,
        "order_type": OrderType.LIMIT if kind == "limit" else OrderType.MARKET,
        "tif": tif,
    }
    if entry.has("client_id"):
        args["client_id"] = _client_id(entry)
    if entry.boolean("reduce_only", False):
        args["reduce_only"] = True
    return args
