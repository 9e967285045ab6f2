"""The simulation kernel: a venue, its market feed and trader agents on one simpy clock.

:class:`Simulation` builds a :class:`~exchange_sim.venue.Venue` from a scenario, opens and funds
its accounts, capitalises the insurance fund, opens the starting positions, and then runs, on
one simpy :class:`~simpy.core.Environment` whose clock counts integer microseconds:

* the **market feed** (:class:`~exchange_sim.market_feed.MarketFeed`) as one process that sleeps
  until the feed's next due time and advances it (index paths, marks, funding, expiry; the
  liquidation engine runs inside the venue after each price input);
* one process per **agent** (``agents/``), each trading through its own
  :class:`~exchange_sim.client.Client` with its latency models;
* optionally a **progress** process that reports every 1% of the run.

After every venue input the kernel publishes market data: the fills on the venue's tape as
trades (to the instrument's ``"trades"`` subscribers) and own fills (to the taker's and maker's
``"fills"`` subscribers), each instrument's top of book when it changed, and liquidation
notices to the owner's ``"liquidations"`` subscribers, each after the receiving client's data
latency.

Determinism: simpy orders simultaneous events by a counter (first scheduled, first run), and
everything here is scheduled in a fixed order: the feed process first, then agents in scenario
order. Every random draw comes from a generator keyed by the scenario seed and a name
(``SeedSequence(seed, spawn_key=(stream, crc32(name)))``): an agent's latency draws and its own
decisions never depend on another agent. Same scenario and seed, same journal, byte for byte.

>>> from exchange_sim.scenario import load_scenario
>>> from exchange_sim.sim import Simulation
>>> sim = Simulation(load_scenario("scenarios/markets.toml"), until_us=600_000_000)  # doctest: +SKIP
>>> result = sim.run()  # doctest: +SKIP
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from exchange_sim.client import Client, LiquidationNotice, OwnFill, Top, Trade
from exchange_sim.journal import JournalWriter
from exchange_sim.latency import Fixed, Latency, Uniform
from exchange_sim.market_feed import MarketFeed
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.sim_spec import AgentSpec, LatencySpec, SimulationSpec
from exchange_sim.venue import Venue

if TYPE_CHECKING:
    from exchange_sim.scenario import Scenario

__all__ = ["AGENT_STREAM", "LATENCY_STREAM", "RunResult", "Simulation", "rng_for"]

AGENT_STREAM = 0xA6E7
"""Spawn-key tag of an agent's own decisions."""
LATENCY_STREAM = 0x1A7E
"""Spawn-key tag of an agent's latency draws."""


def rng_for(seed: int, stream: int, name: str) -> np.random.Generator:
    """The generator of component ``name`` in ``stream``: independent of every other name."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, zlib.crc32(name.encode()))))


@dataclass(slots=True)
class RunResult:
    """What a run leaves: the venue in its final state, the journal and its digest."""

    venue: Venue
    journal_path: Path | None
    digest: str
    events: int
    end_us: int
    seed: int
    feed: MarketFeed | None = None
    agents: list[Any] = field(default_factory=list)
    messages: int = 0


class Simulation:
    """A scenario's venue, market and agents, ready to :meth:`run`.

    Args:
        scenario: a loaded :class:`~exchange_sim.scenario.Scenario`.
        seed: overrides the scenario's seed.
        journal_path: where the msgpack journal goes (``None``: kept in memory).
        until_us: stop earlier than the scenario's duration.
        spec: the run's agents and positions (default: ``scenario.simulation``; a scenario without
            one runs its market alone for ``until_us``).
        agents: agent objects to run instead of building them from ``spec``: ``(agent, account,
            order latency, data latency)`` tuples (for notebooks and tests).
        progress: called with ``(now_us, end_us)`` at every 1% of the run.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        journal_path: str | Path | None = None,
        until_us: int | None = None,
        spec: SimulationSpec | None = None,
        agents: Sequence[tuple[Any, str, Latency, Latency]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        spec = spec if spec is not None else scenario.simulation
        if spec is None:
            if until_us is None:
                raise ValueError("the scenario has no [simulation] table: give until_us")
            spec = SimulationSpec(until_us)
        self.spec = spec
        self.end_us = spec.duration_us if until_us is None else min(until_us, spec.duration_us)
        self.env = simpy.Environment(initial_time=0)
        self.journal_path = Path(journal_path) if journal_path is not None else None
        self.journal = JournalWriter(self.journal_path)
        meta = {"job": "run", "scenario": scenario.name, "seed": self.seed, "end_us": self.end_us}
        self.venue = Venue(scenario.venue, journal=self.journal, meta=meta)
        self.venue.tape = []
        if self.venue.liquidation is not None:
            self.venue.liquidation.notices = []
        self.progress = progress
        self.messages = 0
        """Messages between agents and the venue: each order and its acknowledgement, each
        market-data delivery (ABIDES' unit of work, for comparisons)."""
        self._market: dict[tuple[str, str], list[tuple[Client, simpy.Store]]] = {}
        self._own: dict[tuple[str, str], list[tuple[Client, simpy.Store]]] = {}
        self._tops: dict[str, tuple[Any, ...]] = {}
        self._setup()
        self.feed = (
            MarketFeed(self.venue, scenario.market, self.seed) if scenario.market is not None else None
        )
        if self.feed is not None:
            self.feed.advance(0)
            self.after_input()
        self.agents: list[Any] = []
        self.clients: list[Client] = []
        for agent, account, order_latency, data_latency in agents or list(self._build_agents()):
            client = Client(self, account, order_latency, data_latency)
            self.agents.append(agent)
            self.clients.append(client)

    # ------------------------------------------------------------------ setup at time 0

    def _setup(self) -> None:
        venue, scenario = self.venue, self.scenario
        margin = scenario.venue.margin
        for account in scenario.accounts:
            venue.open_account(0, account.id, account.margin_mode)
            for asset, atoms in account.balances:
                if atoms > 0:
                    venue.deposit(0, account.id, asset, atoms)
        for system, atoms in scenario.liquidation_capital:
            assert margin is not None
            venue.deposit_system(0, system, margin.settlement, atoms)
        for position in self.spec.positions:  # two orders at the entry price: journaled, checked
            buyer, seller = (
                (position.account, position.counterparty)
                if position.size > 0
                else (position.counterparty, position.account)
            )
            lots = abs(position.size)
            if position.instrument not in venue.marks:
                venue.set_mark_price(0, position.instrument, position.entry)
            rest = venue.submit(0, seller, position.instrument, Side.SELL, lots, position.entry)
            take = venue.submit(
                0, buyer, position.instrument, Side.BUY, lots, position.entry, tif=TimeInForce.IOC
            )
            filled = sum(f.lots for f in take.fills)
            if not rest.accepted or filled != lots:
                raise ValueError(
                    f"could not open the starting position of {position.account} in {position.instrument}"
                    f" ({rest.reason or take.reason}): fund both accounts enough for its margin"
                )
        venue.tape.clear()  # type: ignore[union-attr]

    def _build_agents(self) -> Iterator[tuple[Any, str, Latency, Latency]]:
        from agents import REGISTRY  # the simulator wires agents; the venue never imports them

        for spec in self.spec.agents:
            factory = REGISTRY[spec.kind]
            agent = factory.from_params(spec.name, dict(spec.params), self.venue.config)
            yield (
                agent,
                spec.account,
                self._latency(spec, spec.order_latency, "order"),
                self._latency(spec, spec.data_latency, "data"),
            )

    def _latency(self, agent: AgentSpec, latency: LatencySpec, which: str) -> Latency:
        if latency.kind == "fixed":
            return Fixed(latency.low)
        return Uniform(latency.low, latency.high, rng_for(self.seed, LATENCY_STREAM, f"{agent.name}/{which}"))

    # ------------------------------------------------------------------ market data

    def subscribe(self, client: Client, kind: str, instrument: str | None, store: simpy.Store | None) -> None:
        """Register ``store`` (see :meth:`Client.subscribe`; ``None``: :meth:`Client.watch`); a top
        subscriber gets the current top at once (after its latency)."""
        if kind in ("trades", "top"):
            assert instrument is not None
            self._market.setdefault((kind, instrument), []).append((client, store))
            if kind == "top":
                client.deliver(store, self._top(instrument))
        else:
            self._own.setdefault((kind, client.account), []).append((client, store))

    def _top(self, instrument: str) -> Top:
        venue = self.venue
        bid, bid_size, ask, ask_size = venue.top(instrument)
        return Top(
            int(self.env.now),
            instrument,
            bid,
            bid_size,
            ask,
            ask_size,
            venue.last_trade.last.get(instrument),
            venue.marks.get(instrument),
        )

    def after_input(self) -> None:
        """Publish what the last venue input changed: trades, own fills, tops, liquidation notices."""
        venue = self.venue
        tape = venue.tape
        now = int(self.env.now)
        market, own = self._market, self._own
        if tape:
            for fill in tape:
                trade = Trade(now, fill.instrument, fill.price, fill.lots, fill.taker_side)
                for client, store in market.get(("trades", fill.instrument), ()):
                    client.deliver(store, trade)
                if own:
                    taker = OwnFill(
                        now, fill.instrument, fill.taker_order_id, fill.taker_side, fill.price, fill.lots,
                        fill.taker_fee, False,
                    )  # fmt: skip
                    maker = OwnFill(
                        now, fill.instrument, fill.maker_order_id, Side(-fill.taker_side), fill.price,
                        fill.lots, fill.maker_fee, True,
                    )  # fmt: skip
                    for client, store in own.get(("fills", fill.taker_account), ()):
                        client.deliver(store, taker)
                    for client, store in own.get(("fills", fill.maker_account), ()):
                        client.deliver(store, maker)
            tape.clear()
        for kind, instrument in market:
            if kind != "top":
                continue
            top = self._top(instrument)
            key = (top.bid, top.bid_size, top.ask, top.ask_size, top.last, top.mark)
            if self._tops.get(instrument) != key:
                self._tops[instrument] = key
                for client, store in market[(kind, instrument)]:
                    client.deliver(store, top)
        engine = venue.liquidation
        if engine is not None and engine.notices:
            for ts, unit, outcome, equity, maintenance in engine.notices:
                owner = engine._owner(venue.ledger.accounts[unit])
                notice = LiquidationNotice(ts, unit, outcome, equity, maintenance)
                for client, store in own.get(("liquidations", owner), ()):
                    client.deliver(store, notice)
            engine.notices.clear()

    # ------------------------------------------------------------------ running

    def _feed_process(self) -> Iterator[simpy.Event]:
        feed = self.feed
        assert feed is not None
        env = self.env
        while True:
            due = feed.next_time()
            if due > self.end_us:
                return
            if due > env.now:
                yield env.timeout(due - env.now)
            feed.advance(int(env.now))
            self.after_input()

    def _progress_process(self) -> Iterator[simpy.Event]:
        assert self.progress is not None
        step = max(1, self.end_us // 100)
        env = self.env
        while env.now < self.end_us:
            yield env.timeout(min(step, self.end_us - env.now))
            self.progress(int(env.now), self.end_us)

    def run(self) -> RunResult:
        """Run to the end time (inclusive); close the journal; return the :class:`RunResult`."""
        env = self.env
        if self.feed is not None:
            env.process(self._feed_process())
        for agent, client in zip(self.agents, self.clients, strict=True):
            env.process(agent.run(client, rng_for(self.seed, AGENT_STREAM, agent.name)))
        if self.progress is not None:
            env.process(self._progress_process())
        env.run(until=self.end_us + 1)
        self.journal.close()  # appends the trailer
        digest = self.journal.digest()  # of the whole file, trailer included
        events = self.journal.events
        return RunResult(
            self.venue,
            self.journal_path,
            digest,
            events,
            self.end_us,
            self.seed,
            self.feed,
            self.agents,
            self.messages,
        )
