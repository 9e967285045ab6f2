"""The client API: what an agent (or a notebook) uses to trade on a simulated venue.

A :class:`Client` is one account's connection. Orders travel to the venue after the agent's
*order latency*; the call returns a simpy event that succeeds, when the venue has processed the
order, with its result (an :class:`~exchange_sim.results.OrderResult`, a
:class:`~exchange_sim.results.Result` or a :class:`~exchange_sim.results.LegsResult`): a
rejection carries its reason. Market data comes back after the agent's *data latency*, into
simpy stores the agent subscribes to (:meth:`Client.subscribe`): trades and top of book per
instrument, the account's own fills, and liquidation notices. Reading one's own account
(balances, positions, open orders, margin) is an immediate snapshot.

Delivery follows DESIGN.md's measurements: latency is a simpy ``Timeout`` whose callback hands
the message on, no process per message; messages go only to subscribers.

Inside an agent (a simpy process: a generator)::

    def run(self, client):
        trades = client.subscribe("trades", "BTC-PERP")
        while True:
            trade = yield trades.get()
            result = yield client.submit("BTC-PERP", Side.BUY, 1, trade.price - 10)
            if not result.accepted:
                ...  # result.reason says why
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from exchange_sim.orders import Order, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from exchange_sim.latency import Latency
    from exchange_sim.margin.explain import Explanation
    from exchange_sim.sim import Simulation

__all__ = ["KINDS", "Client", "LiquidationNotice", "OwnFill", "Top", "Trade"]

KINDS = ("trades", "top", "fills", "liquidations")
"""What :meth:`Client.subscribe` offers: ``trades`` and ``top`` name an instrument."""


@dataclass(frozen=True, slots=True)
class Trade:
    """A print on the tape: ``taker_side`` is the side of the incoming order."""

    ts: int
    instrument: str
    price: int
    lots: int
    taker_side: Side


@dataclass(frozen=True, slots=True)
class Top:
    """Top of book after an event, with the instrument's last trade and mark (ticks; ``None``: none)."""

    ts: int
    instrument: str
    bid: int | None
    bid_size: int
    ask: int | None
    ask_size: int
    last: int | None
    mark: int | None


@dataclass(frozen=True, slots=True)
class OwnFill:
    """One of the account's fills: as taker or maker, with its fee (atoms)."""

    ts: int
    instrument: str
    order_id: int
    side: Side
    price: int
    lots: int
    fee: int
    maker: bool


@dataclass(frozen=True, slots=True)
class LiquidationNotice:
    """A liquidation of one of the account's units ended (``outcome``: 0 healthy, 1 flat, 2 open)."""

    ts: int
    unit: str
    outcome: int
    equity: int
    maintenance: int


class Client:
    """One account's connection to a simulated venue (see the module docstring)."""

    def __init__(self, sim: Simulation, account: str, order_latency: Latency, data_latency: Latency) -> None:
        self.sim = sim
        self.env: simpy.Environment = sim.env
        self.account = account
        self.order_latency = order_latency
        self.data_latency = data_latency
        self.tops: dict[str, Top] = {}
        """The latest top of book delivered per instrument subscribed to or watched (delayed)."""
        self._first_top: dict[str, list[simpy.Event]] = {}

    # ---------------------------------------------------------------- time and static facts

    @property
    def now(self) -> int:
        """Simulated time in microseconds."""
        return int(self.env.now)

    @property
    def instruments(self) -> dict[str, Any]:
        """The venue's instruments by symbol (static configuration)."""
        return self.sim.venue.instruments

    # ---------------------------------------------------------------- orders (after the order latency)

    def submit(
        self,
        instrument: str,
        side: Side,
        size: int | str,
        price: int | str | None = None,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        **options: Any,
    ) -> simpy.Event:
        """Send an order; the event succeeds with its :class:`~exchange_sim.results.OrderResult`."""
        account = self.account
        return self._send(
            lambda ts: self.sim.venue.submit(
                ts, account, instrument, side, size, price, order_type, tif, **options
            )
        )

    def cancel(self, order_id: int | None = None, *, client_id: str | None = None) -> simpy.Event:
        """Cancel an order by id or client order id; succeeds with a :class:`~exchange_sim.results.Result`."""
        account = self.account
        return self._send(lambda ts: self.sim.venue.cancel(ts, account, order_id, client_id=client_id))

    def amend(
        self,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        size: int | str | None = None,
        price: int | str | None = None,
    ) -> simpy.Event:
        """Amend size and/or price; succeeds with the :class:`~exchange_sim.results.OrderResult`."""
        account = self.account
        return self._send(
            lambda ts: self.sim.venue.amend(
                ts, account, order_id, client_id=client_id, size=size, price=price
            )
        )

    def submit_legs(self, legs: Any) -> simpy.Event:
        """An atomic multi-leg order; succeeds with its :class:`~exchange_sim.results.LegsResult`."""
        account = self.account
        return self._send(lambda ts: self.sim.venue.submit_legs(ts, account, legs))

    def _send(self, call: Callable[[int], Any]) -> simpy.Event:
        reply = self.env.event()
        arrival = self.env.timeout(self.order_latency.delay())
        sim = self.sim
        sim.messages += 2  # the request and its acknowledgement

        def arrive(_: simpy.Event) -> None:
            result = call(int(self.env.now))
            sim.after_input()
            reply.succeed(result)

        arrival.callbacks.append(arrive)  # type: ignore[union-attr]
        return reply

    # ---------------------------------------------------------------- own account (immediate)

    def balance(self, asset: str) -> int:
        """The account's balance of ``asset`` in atoms (isolated margin included: main account only)."""
        return self.sim.venue.account(self.account).balance(asset)

    def position(self, instrument: str) -> int:
        """Signed lots held in ``instrument`` (an isolated position's sub-account included)."""
        position = self.sim.venue.position_of(self.account, instrument)
        return position.size if position is not None else 0

    def open_orders(self) -> list[Order]:
        """The account's resting orders (do not change them: they are the venue's)."""
        return self.sim.venue.open_orders(self.account)

    def margin(self) -> Explanation | None:
        """The account's margin breakdown now (``None`` on a venue without margin rules)."""
        if self.sim.venue.config.margin is None:
            return None
        from exchange_sim.margin.explain import explain

        return explain(self.sim.venue, self.account)

    # ---------------------------------------------------------------- market data (after the data latency)

    def subscribe(self, kind: str, instrument: str | None = None) -> simpy.Store:
        """A store receiving ``kind`` messages: ``"trades"`` (:class:`Trade`) or ``"top"``
        (:class:`Top`) of ``instrument``; the account's ``"fills"`` (:class:`OwnFill`) or
        ``"liquidations"`` (:class:`LiquidationNotice`). Each call makes a new store."""
        if kind not in KINDS:
            raise ValueError(f"subscribe to one of {', '.join(KINDS)}, not {kind!r}")
        if kind in ("trades", "top"):
            if instrument not in self.sim.venue.instruments:
                raise ValueError(f"{kind} of a listed instrument, got {instrument!r}")
        elif instrument is not None:
            raise ValueError(f"{kind} are the account's own: no instrument")
        store = simpy.Store(self.env)
        self.sim.subscribe(self, kind, instrument, store)
        return store

    def query_top(self, instrument: str) -> simpy.Event:
        """Ask the venue for ``instrument``'s top of book: the request travels with the order
        latency, the answer (a :class:`Top`, also kept in :attr:`tops`) with the data latency.
        For agents that look at the market only when they wake: two messages per look instead of
        a delivery at every change (with a thousand such agents, fan-out is the cost)."""
        if instrument not in self.sim.venue.instruments:
            raise ValueError(f"top of a listed instrument, got {instrument!r}")
        reply = self.env.event()
        sim, env, tops = self.sim, self.env, self.tops
        sim.messages += 2

        def arrive(_: simpy.Event) -> None:
            top = sim._top(instrument)

            def answer(_: simpy.Event) -> None:
                tops[instrument] = top
                reply.succeed(top)

            env.timeout(self.data_latency.delay()).callbacks.append(answer)  # type: ignore[union-attr]

        env.timeout(self.order_latency.delay()).callbacks.append(arrive)  # type: ignore[union-attr]
        return reply

    def watch(self, instrument: str) -> simpy.Event:
        """Keep :attr:`tops` ``[instrument]`` current, after the data latency, without a store
        (for an agent that reads the newest top when it wakes rather than reacting to each).
        Returns an event that succeeds when the first top has arrived."""
        if instrument not in self.sim.venue.instruments:
            raise ValueError(f"top of a listed instrument, got {instrument!r}")
        first = self.env.event()
        self._first_top.setdefault(instrument, []).append(first)
        self.sim.subscribe(self, "top", instrument, None)
        return first

    def deliver(self, store: simpy.Store | None, message: Any) -> None:
        """Hand ``message`` to ``store`` after this client's data latency (used by the simulation);
        ``store`` ``None``: a watched top, which only updates :attr:`tops`."""
        delay = self.data_latency.delay()
        self.sim.messages += 1
        if isinstance(message, Top):
            tops = self.tops
            waiting = self._first_top

            def put(_: simpy.Event) -> None:
                tops[message.instrument] = message
                for first in waiting.pop(message.instrument, ()) if store is None else ():
                    first.succeed()
                if store is not None:
                    store.put(message)

        else:

            def put(_: simpy.Event) -> None:
                store.put(message)  # type: ignore[union-attr]

        self.env.timeout(delay).callbacks.append(put)  # type: ignore[union-attr]
