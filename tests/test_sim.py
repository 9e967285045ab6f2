"""The simulation kernel and the client API, with small agents written in the test.

Behaviours verified:
- an order reaches the venue after the agent's order latency, and its event succeeds then with
  the venue's result (a rejection with its reason);
- market data (trades, tops, own fills, liquidation notices) arrives after the data latency,
  only to subscribers;
- the market feed runs as a process: marks and fundings happen at their times;
- starting positions open at time 0 against their counterparty;
- the same scenario and seed give the same journal, another seed another; ``until_us`` stops
  early; money is conserved and the journal replays.
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange_sim.client import LiquidationNotice, OwnFill, Top, Trade
from exchange_sim.latency import Fixed
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.scenario import default_scenario_path, load_scenario
from exchange_sim.sim import Simulation
from exchange_sim.sim_spec import PositionSpec, SimulationSpec

MARKETS = default_scenario_path().parent / "markets.toml"
S = 1_000_000


class Recorder:
    """Sends one order at ``at`` and records what comes back, when."""

    def __init__(self, name: str, at: int, order: tuple[Any, ...], kinds: tuple[str, ...] = ()) -> None:
        self.name = name
        self.at = at
        self.order = order
        self.kinds = kinds
        self.seen: list[tuple[int, Any]] = []

    def run(self, client: Any, rng: Any) -> Any:
        stores = [client.subscribe(kind, *args) for kind, *args in self.kinds]
        for store in stores:
            client.env.process(self._drain(client, store))
        yield client.env.timeout(self.at)
        result = yield client.submit(*self.order)
        self.seen.append((client.now, result))

    def _drain(self, client: Any, store: Any) -> Any:
        while True:
            message = yield store.get()
            self.seen.append((client.now, message))


def test_orders_and_market_data_travel_with_their_latencies() -> None:
    """The maker posts at 10 s with 2 ms order latency (it rests at 10.002 s); the taker sends at
    11 s with 5 ms (fills at 11.005 s). The taker sees its own fill and the trade 300 us later
    (its data latency); the maker's fill reaches it after its own 1 ms."""
    scenario = load_scenario(MARKETS)
    maker = Recorder("m", 10 * S, ("BTC-PERP", Side.SELL, "0.01", "30500"), (("fills",),))
    taker = Recorder(
        "t",
        11 * S,
        ("BTC-PERP", Side.BUY, "0.01", "30500", OrderType.LIMIT, TimeInForce.IOC),
        (("trades", "BTC-PERP"), ("fills",)),
    )
    sim = Simulation(
        scenario,
        until_us=12 * S,
        agents=[(maker, "maker", Fixed(2_000), Fixed(1_000)), (taker, "bob", Fixed(5_000), Fixed(300))],
    )
    sim.run()
    [(t, rested)] = [(t, m) for t, m in maker.seen if not isinstance(m, OwnFill)]
    assert t == 10 * S + 2_000 and rested.resting
    taker_result = [(t, m) for t, m in taker.seen if not isinstance(m, Trade | OwnFill)]
    assert taker_result[0][0] == 11 * S + 5_000 and taker_result[0][1].fills
    arrival = 11 * S + 5_000
    trades = [(t, m) for t, m in taker.seen if isinstance(m, Trade)]
    assert trades == [(arrival + 300, Trade(arrival, "BTC-PERP", 61_000, 10, Side.BUY))]
    fills = [(t, m) for t, m in taker.seen if isinstance(m, OwnFill)]
    assert fills[0][0] == arrival + 300 and not fills[0][1].maker
    maker_fills = [(t, m) for t, m in maker.seen if isinstance(m, OwnFill)]
    assert maker_fills[0][0] == arrival + 1_000 and maker_fills[0][1].maker
    sim.venue._check()


def test_a_rejection_comes_back_with_its_reason() -> None:
    agent = Recorder("r", S, ("BTC-PERP", Side.BUY, "0.0001", "30000"))  # below the lot size
    sim = Simulation(load_scenario(MARKETS), until_us=2 * S, agents=[(agent, "alice", Fixed(10), Fixed(0))])
    sim.run()
    [(t, result)] = agent.seen
    assert t == S + 10 and result.reason is Reason.SIZE_OFF_LOT


def test_tops_follow_the_market_feed() -> None:
    """A top subscriber gets the current top at once (after its latency) and then every change:
    here the marks the feed sets each minute."""
    agent = Recorder("w", 10**12, ("BTC-PERP", Side.BUY, 1, 1), (("top", "BTC-PERP"),))
    sim = Simulation(
        load_scenario(MARKETS), until_us=180 * S + 7, agents=[(agent, "alice", Fixed(0), Fixed(7))]
    )
    sim.run()
    tops = [(t, m) for t, m in agent.seen if isinstance(m, Top)]
    assert tops[0] == (7, Top(0, "BTC-PERP", None, 0, None, 0, None, 60_000))  # 30,000 in ticks of 0.5
    # the feed moves the mark once a minute: delivered 7 us later, at 60, 120 and 180 s
    assert [t for t, _ in tops] == [7, 60 * S + 7, 120 * S + 7, 180 * S + 7]
    assert [m.ts for _, m in tops] == [0, 60 * S, 120 * S, 180 * S]
    assert tops[-1][1].mark == sim.venue.marks["BTC-PERP"]


def test_starting_positions_open_against_their_counterparty() -> None:
    spec = SimulationSpec(60 * S, positions=(PositionSpec("alice", "BTC-PERP", -200, 60_000, "maker"),))
    sim = Simulation(load_scenario(MARKETS), spec=spec)
    result = sim.run()
    assert result.venue.position_of("alice", "BTC-PERP").size == -200  # type: ignore[union-attr]
    assert result.venue.position_of("maker", "BTC-PERP").size == 200  # type: ignore[union-attr]
    result.venue._check()


def test_same_seed_same_journal() -> None:
    def digest(seed: int) -> str:
        agent = Recorder("n", 30 * S, ("BTC-PERP", Side.BUY, "0.001", None, OrderType.MARKET))
        sim = Simulation(
            load_scenario(MARKETS),
            seed=seed,
            until_us=3_600 * S,
            agents=[(agent, "alice", Fixed(1), Fixed(1))],
        )
        return sim.run().digest

    assert digest(11) == digest(11)
    assert digest(11) != digest(12)  # the index paths differ


def test_liquidation_notices_reach_the_owner(tmp_path: Any) -> None:
    """carol (isolated, 2,500.75 USDC) starts long 0.5 BTC at 30,000 with 1% of margin in the
    position; the scenario's seeded BTC index falls below 28,900 within the day, so her position
    is liquidated (maintenance 0.5%): she hears of it."""
    spec = SimulationSpec(86_400 * S, positions=(PositionSpec("carol", "BTC-PERP", 500, 60_000, "maker"),))
    agent = Recorder("c", 10**12, ("BTC-PERP", Side.BUY, 1, 1), (("liquidations",),))
    path = tmp_path / "journal.msgpack"
    sim = Simulation(
        load_scenario(MARKETS),
        spec=spec,
        journal_path=path,
        agents=[(agent, "carol", Fixed(0), Fixed(100))],
    )
    result = sim.run()
    notices = [m for _, m in agent.seen if isinstance(m, LiquidationNotice)]
    assert notices and notices[0].unit == "carol/BTC-PERP"
    result.venue._check()
    assert replay(path).ok


def test_a_run_needs_an_end() -> None:
    with pytest.raises(ValueError, match="until_us"):
        Simulation(load_scenario(MARKETS))


class Watcher:
    name = "w"

    def __init__(self) -> None:
        self.seen: list[tuple[int, Any]] = []

    def run(self, client: Any, rng: Any) -> Any:
        yield client.watch("BTC-PERP")
        self.seen.append((client.now, client.tops["BTC-PERP"].mark))
        yield client.env.timeout(125 * S)
        self.seen.append((client.now, client.tops["BTC-PERP"].mark))


def test_watching_keeps_the_newest_top_without_a_store() -> None:
    """``watch`` succeeds when the first top arrives (after the 7 us data latency) and then keeps
    ``client.tops`` at the newest delivered top: at 125 s, the mark set at 120 s."""
    agent = Watcher()
    sim = Simulation(load_scenario(MARKETS), until_us=130 * S, agents=[(agent, "alice", Fixed(0), Fixed(7))])
    sim.run()
    assert agent.seen[0] == (7, 60_000)
    at, mark = agent.seen[1]
    assert at == 125 * S + 7 and mark == sim.venue.marks["BTC-PERP"]


class Looker:
    name = "l"

    def __init__(self) -> None:
        self.seen: list[tuple[int, Any]] = []

    def run(self, client: Any, rng: Any) -> Any:
        yield client.env.timeout(61 * S)
        top = yield client.query_top("BTC-PERP")
        self.seen.append((client.now, top))


def test_query_top_is_a_round_trip() -> None:
    """The request reaches the venue after the 3 us order latency, the answer comes back 5 us later
    with the top as it was on arrival (the mark set at 60 s), and counts as two messages."""
    agent = Looker()
    sim = Simulation(load_scenario(MARKETS), until_us=62 * S, agents=[(agent, "alice", Fixed(3), Fixed(5))])
    result = sim.run()
    [(at, top)] = agent.seen
    assert at == 61 * S + 8 and top.ts == 61 * S + 3 and top.mark == sim.venue.marks["BTC-PERP"]
    assert result.messages == 2
