"""The shipped trader agents (``agents/``), each run in a short simulation of scenarios/markets.toml.

Behaviours verified:
- market_maker keeps post-only quotes on both sides around the mark and amends them as the mark
  moves; its skew moves the quotes against its position and ``max_position`` stops a side;
- noise sends random market and limit orders that trade, and cancels its stale resting orders;
- momentum enters in the direction of a move larger than its threshold and exits after ``hold``;
- leveraged opens at its leverage of equity, is liquidated (a high leverage), and opens again
  after its cooldown;
- arbitrage opens a perpetual/future pair with one multi-leg order when the basis is wide (a
  scripted agent prices the future 1.2% above the index) and unwinds it when the basis closes;
- liquidation_hunter sells only when the mark is within its trigger above its estimated level,
  and buys back ``hold`` later;
- scripted sends its timeline's orders at the exact times (plus the order latency);
- money is conserved and positions net to zero after every run (``Venue._check``); one mix of
  agents gives the same journal twice;
- ``from_params`` names the offending field (``ParamError.field``) for bad values and unknown keys;
- docs/agents.md's examples run: a market maker from Python, and the example agent.
"""

from __future__ import annotations

import re
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from agents import REGISTRY
from agents.base import ParamError, accepted, shift_ppm
from agents.market_maker import MarketMaker
from agents.momentum import Momentum
from exchange_sim.latency import Fixed
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.scenario import default_scenario_path, load_scenario
from exchange_sim.sim import Simulation

ROOT = Path(__file__).resolve().parent.parent
S = 1_000_000
LATENCY = 1_000  # us, both ways, for every agent here
SCENARIO = load_scenario(default_scenario_path().parent / "markets.toml")
CONFIG = SCENARIO.venue


def make(kind: str, name: str, **params: Any) -> Any:
    return REGISTRY[kind].from_params(name, params, CONFIG)


def maker(**params: Any) -> Any:
    """The liquidity every other agent trades against: 5 levels of 1 BTC each side of BTC-PERP."""
    return make(
        "market_maker", "mm", **{"instrument": "BTC-PERP", "size": "1", "levels": 5, "spread": 500, **params}
    )


def run(seconds: int, *agents: tuple[Any, str], seed: int | None = None) -> Simulation:
    sim = Simulation(
        SCENARIO,
        seed=seed,
        until_us=seconds * S,
        agents=[(agent, account, Fixed(LATENCY), Fixed(LATENCY)) for agent, account in agents],
    )
    sim.run()
    sim.venue._check()
    return sim


# ---------------------------------------------------------------- market maker


def test_market_maker_quotes_both_sides_and_follows_the_mark() -> None:
    mm = maker(levels=3, size="0.5", spread=1000, interval="5")
    sim = run(1_800, (mm, "maker"))
    orders = {o.client_id: o for o in sim.venue.open_orders("maker")}
    assert set(orders) == {f"mm/{side}{k}" for side in ("bid", "ask") for k in (1, 2, 3)}
    assert all(o.tif is TimeInForce.POST_ONLY and o.remaining == 500 for o in orders.values())
    # the mark moved every minute: the quotes followed it by amending, never re-submitting
    assert mm.stats["submit"] == 6 and mm.stats["amend"] > 100 and mm.stats["rejected"] == 0
    # quoted around the mark as the maker last saw it (1,000 ppm wide: 30 ticks each side at ~60,000)
    mark = sim.clients[0].tops["BTC-PERP"].mark
    assert mark is not None
    bids = [orders[f"mm/bid{k}"].price for k in (1, 2, 3)]
    asks = [orders[f"mm/ask{k}"].price for k in (1, 2, 3)]
    assert bids[0] < mark < asks[0] and bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert abs((bids[0] + asks[0]) / 2 - mark) <= 1 and asks[0] - bids[0] == pytest.approx(mark / 1000, abs=2)


def test_market_maker_skews_against_its_inventory_and_respects_max_position() -> None:
    mm = MarketMaker("mm", "BTC-PERP", lots=100, levels=2, spread_ppm=1_000, skew_ppm=10, max_lots=250)
    flat = {cid: price for cid, _, price, _ in mm.quotes(60_000, 0)}
    assert flat == {"mm/bid1": 59_970, "mm/ask1": 60_030, "mm/bid2": 59_940, "mm/ask2": 60_060}
    long = {cid: price for cid, _, price, _ in mm.quotes(60_000, 100)}  # 100 lots x 10 ppm = 0.1% lower
    assert long["mm/ask1"] == 60_030 - 60 and long["mm/bid1"] == 59_970 - 60
    assert "mm/bid2" not in long  # 100 + 2 x 100 lots would exceed the 250 lots allowed
    short = {cid: price for cid, _, price, _ in mm.quotes(60_000, -200)}
    assert set(short) == {"mm/bid1", "mm/bid2"}  # -200 - 100 is beyond -250: no asks
    # quotes stay behind other traders' best prices
    behind = {cid: price for cid, _, price, _ in mm.quotes(60_000, 0, others=(60_040, 59_980))}
    assert behind["mm/bid1"] == 59_970 and behind["mm/ask1"] == 60_041 and behind["mm/ask2"] == 60_060


# ---------------------------------------------------------------- noise


def test_noise_trades_against_the_maker_and_cancels_stale_orders() -> None:
    noise = make("noise", "noise", instrument="BTC-PERP", max_size="0.05", interval="5", stale="30")
    sim = run(1_800, (maker(), "maker"), (noise, "alice"))
    assert noise.stats["orders"] > 250 and noise.stats["filled_lots"] > 0 and noise.stats["cancelled"] > 0
    assert sim.venue.last_trade.last.get("BTC-PERP") is not None
    # whatever alice bought or sold, the maker holds the other side
    alice = sim.venue.position_of("alice", "BTC-PERP")
    maker_position = sim.venue.position_of("maker", "BTC-PERP")
    assert alice is not None and maker_position is not None and alice.size == -maker_position.size
    # no resting order of alice's is older than stale + the mean interval's worth of waiting
    assert all(sim.venue.now - o.ts < 120 * S for o in sim.venue.open_orders("alice"))


# ---------------------------------------------------------------- momentum


def test_momentum_measures_the_move_over_its_lookback() -> None:
    agent = Momentum("m", "BTC-PERP", lots=1, threshold_ppm=1_000, lookback_us=300 * S)
    history: deque[tuple[int, int]] = deque()
    assert agent.move_ppm(history, 0, 60_000) is None
    assert agent.move_ppm(history, 200 * S, 60_030) is None  # not 300 s of history yet
    assert agent.move_ppm(history, 300 * S, 60_120) == 2_000  # against the price at 0 s
    assert agent.move_ppm(history, 550 * S, 59_940) == -1_500  # against 60,030 at 200 s


def test_momentum_trades_in_the_direction_of_the_move() -> None:
    momentum = make("momentum", "mom", instrument="BTC-PERP", size="0.1", threshold_ppm=1500, hold="300")
    sim = run(3_600, (maker(), "maker"), (momentum, "bob"))
    entries = [e for e in momentum.log if e[1] == "enter"]
    exits = [e for e in momentum.log if e[1] == "exit"]
    assert len(entries) >= 3 and {e[2] for e in entries} == {Side.BUY, Side.SELL}  # seed 11 goes both ways
    for _, _, side, move, filled in entries:
        assert abs(move) > 1500 and side == (Side.BUY if move > 0 else Side.SELL) and filled == 100
    for entry, out in zip(entries, exits, strict=False):  # each exit: hold later, the other side, all of it
        assert out[0] - entry[0] == 300 * S + LATENCY and out[2] == -entry[2] and out[4] == entry[4]
    held = len(entries) - len(exits)
    assert held in (0, 1)
    position = sim.venue.position_of("bob", "BTC-PERP")
    assert (position.size if position else 0) == (entries[-1][2] * 100 if held else 0)


# ---------------------------------------------------------------- leveraged


def test_leveraged_opens_at_its_leverage_and_again_after_a_liquidation() -> None:
    """carol (isolated, 2,500.75 USDC) goes 45x long: 112,534 USDC of BTC-PERP, liquidated after a
    1.2% fall (maintenance 1% of the notional in that bracket); the seeded index falls that far
    within the hour. After the 60 s cooldown she opens again with what is left."""
    leveraged = make("leveraged", "lev", instrument="BTC-PERP", leverage="45", cooldown="60")
    sim = run(4_000, (maker(), "maker"), (leveraged, "carol"))
    log = leveraged.log
    assert log[0][1] == "open" and log[0][2] is Side.BUY
    # equity 2,500.75 USDC x 45 over the notional of a lot at the mark of 30,000 (15 USDC)
    assert log[0][3] == int(Fraction(2_500_750_000 * 45, 60_000 * 500)) == 3_751 and log[0][4] == 3_751
    liquidated = next(i for i, e in enumerate(log) if e[1] == "liquidated")
    assert log[liquidated][2] == "carol/BTC-PERP"
    reopen = log[liquidated + 1]
    assert reopen[1] == "open" and reopen[4] > 0 and reopen[0] - log[liquidated][0] == 60 * S + LATENCY
    position = sim.venue.position_of("carol", "BTC-PERP")
    assert position is not None and position.size > 0


# ---------------------------------------------------------------- arbitrage


def test_arbitrage_trades_the_basis_with_multi_leg_orders() -> None:
    """A scripted trader quotes BTC-FUT at 30,340 / 30,360 (the index is at 30,000): at the next
    index step the future's fair-price mark follows the book, 1.2% over the perpetual's. The
    arbitrageur buys the perpetual and sells the future in one multi-leg order. At 600 s the
    script re-quotes the future at 29,990 / 30,010: the basis closes and it unwinds both legs."""

    def quote(at: str, side: str, price: str) -> dict[str, str]:
        return {
            "at": at,
            "action": "submit",
            "instrument": "BTC-FUT",
            "side": side,
            "size": "0.2",
            "price": price,
        }

    timeline = [
        quote("1", "buy", "30340"),
        quote("1", "sell", "30360"),
        {"at": "600", "action": "cancel_all"},
    ]
    timeline += [quote("600", "buy", "29990"), quote("600", "sell", "30010")]
    script = make("scripted", "fut", timeline=timeline)
    arb = make(
        "arbitrage", "arb", perpetual="BTC-PERP", future="BTC-FUT", size="0.1", entry_ppm=3000, exit_ppm=1500
    )
    sim = run(1_200, (maker(), "maker"), (script, "alice"), (arb, "bob"))
    [(t_open, what, basis, opened), (t_close, closing, closed_basis, closed)] = arb.log
    assert what == "open" and basis > 3_000 and opened.accepted and t_open < 120 * S
    assert [(f.instrument, f.taker_side, f.lots) for f in opened.fills] == [
        ("BTC-PERP", Side.BUY, 100),
        ("BTC-FUT", Side.SELL, 100),
    ]
    assert opened.fills[1].price == 60_680  # alice's bid, 30,340
    assert closing == "close" and closed_basis < 1_500 and closed.accepted and t_close > 600 * S
    assert [(f.instrument, f.taker_side) for f in closed.fills] == [
        ("BTC-PERP", Side.SELL),
        ("BTC-FUT", Side.BUY),
    ]
    for symbol in ("BTC-PERP", "BTC-FUT"):
        assert sim.venue.position_of("bob", symbol).size == 0  # type: ignore[union-attr]


# ---------------------------------------------------------------- liquidation hunter


def test_liquidation_hunter_sells_near_its_estimated_level() -> None:
    """It assumes longs at 100x (liquidations 1% below the median price of the last 30 minutes)
    and sells when the mark is within 0.8% above that level, buying back 5 minutes later."""
    hunter = make(
        "liquidation_hunter",
        "hunt",
        instrument="BTC-PERP",
        size="0.2",
        assumed_leverage="100",
        trigger_ppm=8000,
        window="1800",
        hold="300",
    )
    sim = run(3_600, (maker(), "maker"), (hunter, "bob"))
    sells = [e for e in hunter.log if e[1] == "sell"]
    buys = [e for e in hunter.log if e[1] == "buy"]
    assert sells and len(buys) >= len(sells) - 1
    for _, _, mark, level, filled in sells:
        assert level <= mark <= level * Fraction(1_008_000, 1_000_000) and filled == 200
    for sale, back in zip(sells, buys, strict=False):
        assert back[0] - sale[0] == 300 * S + LATENCY and back[4] == sale[4]
    position = sim.venue.position_of("bob", "BTC-PERP")
    assert (position.size if position else 0) == -200 * (len(sells) - len(buys))


# ---------------------------------------------------------------- scripted


def test_scripted_follows_its_timeline_at_the_exact_times() -> None:
    timeline = [
        {
            "at": "0",
            "action": "submit",
            "instrument": "BTC-PERP",
            "side": "sell",
            "size": "0.01",
            "price": "30100",
            "client_id": "offer",
        },
        {
            "at": "30.5",
            "action": "submit",
            "instrument": "BTC-PERP",
            "side": "buy",
            "size": "0.02",
            "price": "29900",
            "tif": "post_only",
            "client_id": "bid",
        },
        {"at": "60", "action": "amend", "client_id": "bid", "instrument": "BTC-PERP", "price": "29950"},
        {
            "at": "90",
            "action": "submit",
            "instrument": "ETH-PERP",
            "side": "buy",
            "size": "0.1",
            "price": "1900",
        },
        {"at": "120", "action": "cancel", "client_id": "offer"},
        {
            "at": "150",
            "action": "submit",
            "instrument": "BTC-PERP",
            "side": "buy",
            "size": "0.01",
            "price": "30100",
            "tif": "ioc",
        },
        {"at": "180", "action": "cancel_all", "instrument": "ETH-PERP"},
    ]
    script = make("scripted", "s", timeline=timeline)
    sim = run(
        200, (script, "alice"), (make("scripted", "t", timeline=[timeline[0] | {"client_id": "x"}]), "bob")
    )
    arrivals = [(t, index, action) for t, index, action, _ in script.log]
    assert arrivals == [
        (0 * S + LATENCY, 0, "submit"),
        (30_500_000 + LATENCY, 1, "submit"),
        (60 * S + LATENCY, 2, "amend"),
        (90 * S + LATENCY, 3, "submit"),
        (120 * S + LATENCY, 4, "cancel"),
        (150 * S + LATENCY, 5, "submit"),
        (180 * S + LATENCY, 6, "cancel_all"),
    ]
    results = [result for *_, result in script.log]
    assert [accepted(r) for r in results] == [True] * 7, results
    assert results[5].filled == 10 and results[5].fills[0].price == 60_200  # bob's offer
    [bid] = sim.venue.open_orders("alice")
    # accepted at 30.5 s (plus the latency), moved to 29,950 at 60 s
    assert (bid.client_id, bid.price, bid.remaining, bid.ts) == ("bid", 59_900, 20, 30_500_000 + LATENCY)


# ---------------------------------------------------------------- all together


def mix() -> list[tuple[Any, str]]:
    return [
        (maker(interval="5"), "maker"),
        (make("noise", "noise", instrument="BTC-PERP", max_size="0.05", interval="5"), "alice"),
        (make("momentum", "mom", instrument="BTC-PERP", size="0.1", threshold_ppm=1500, hold="300"), "bob"),
        (
            make("leveraged", "lev", instrument="BTC-PERP", leverage="20", side="random", cooldown="60"),
            "carol",
        ),
    ]


def test_a_mix_of_agents_is_deterministic() -> None:
    def digest(seed: int) -> str:
        sim = Simulation(
            SCENARIO,
            seed=seed,
            until_us=900 * S,
            agents=[(agent, account, Fixed(LATENCY), Fixed(LATENCY)) for agent, account in mix()],
        )
        result = sim.run()
        sim.venue._check()
        return result.digest

    assert digest(5) == digest(5)
    assert digest(5) != digest(6)


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("market_maker", {"instrument": "BTC-PERP", "size": "0.0005"}, "size"),  # below the lot
        ("market_maker", {"instrument": "DOGE-PERP", "size": "1"}, "instrument"),
        ("market_maker", {"instrument": "BTC-PERP", "size": "1", "sprad": 100}, "sprad"),
        ("market_maker", {"instrument": "BTC-PERP", "size": "1", "spread": 1.5}, "spread"),  # a float
        ("market_maker", {"instrument": "BTC-PERP", "size": "1", "interval": "0"}, "interval"),
        ("noise", {"instrument": "BTC-PERP", "max_size": "1", "market_share": "1.5"}, "market_share"),
        ("noise", {"instrument": "BTC-PERP"}, "max_size"),  # required
        ("momentum", {"instrument": "BTC-USDC", "size": "1"}, "instrument"),  # a spot pair
        ("momentum", {"instrument": "BTC-PERP", "size": "1", "lookback": "0.0000001"}, "lookback"),
        ("leveraged", {"instrument": "BTC-PERP", "side": "up"}, "side"),
        ("leveraged", {"instrument": "BTC-PERP", "leverage": "-2"}, "leverage"),
        ("arbitrage", {"perpetual": "BTC-PERP", "future": "BTC-PERP", "size": "1"}, "future"),
        (
            "arbitrage",
            {"perpetual": "BTC-PERP", "future": "BTC-FUT", "size": "1", "exit_ppm": 3000},
            "exit_ppm",
        ),
        (
            "liquidation_hunter",
            {"instrument": "BTC-PERP", "size": "1", "assumed_leverage": "1"},
            "assumed_leverage",
        ),
        ("scripted", {}, "timeline"),
        ("scripted", {"timeline": ["60"]}, "timeline[0]"),
        (
            "scripted",
            {"timeline": [{"at": "60", "action": "cancel_all"}, {"at": "30", "action": "cancel_all"}]},
            "timeline[1].at",
        ),
        (
            "scripted",
            {
                "timeline": [
                    {
                        "at": "1",
                        "action": "submit",
                        "instrument": "BTC-PERP",
                        "side": "buy",
                        "size": "0.1",
                        "price": "30000.25",
                    }
                ]
            },
            "timeline[0].price",
        ),  # off tick
        (
            "scripted",
            {
                "timeline": [
                    {
                        "at": "1",
                        "action": "submit",
                        "instrument": "BTC-PERP",
                        "side": "buy",
                        "size": "0.1",
                        "type": "market",
                        "price": "30000",
                    }
                ]
            },
            "timeline[0].price",
        ),
        (
            "scripted",
            {
                "timeline": [
                    {"at": "1", "action": "submit", "instrument": "BTC-PERP", "side": "long", "size": "0.1"}
                ]
            },
            "timeline[0].side",
        ),
        (
            "scripted",
            {"timeline": [{"at": "1", "action": "cancel_all", "colour": "red"}]},
            "timeline[0].colour",
        ),
        ("scripted", {"timeline": [{"at": "1", "action": "withdraw"}]}, "timeline[0].action"),
        (
            "scripted",
            {"timeline": [{"at": "1", "action": "amend", "client_id": "x", "instrument": "BTC-PERP"}]},
            "timeline[0].size",
        ),
    ],
)
def test_from_params_names_the_bad_field(kind: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamError) as caught:
        REGISTRY[kind].from_params("agent", params, CONFIG)
    assert caught.value.field == field


def test_every_kind_is_registered_and_builds_from_its_defaults() -> None:
    required: dict[str, dict[str, Any]] = {
        "market_maker": {"instrument": "BTC-PERP", "size": "1"},
        "noise": {"instrument": "BTC-PERP", "max_size": "0.1"},
        "momentum": {"instrument": "BTC-PERP", "size": "0.1"},
        "leveraged": {"instrument": "BTC-PERP"},
        "arbitrage": {"perpetual": "BTC-PERP", "future": "BTC-FUT", "size": "0.1"},
        "liquidation_hunter": {"instrument": "BTC-PERP", "size": "0.1"},
        "scripted": {"timeline": []},
    }
    assert set(REGISTRY) == set(required)
    for kind, params in required.items():
        agent = REGISTRY[kind].from_params(kind, params, CONFIG)
        assert agent.name == kind and callable(agent.run)


# ---------------------------------------------------------------- the documentation's example


def test_the_example_agent_in_the_docs_runs() -> None:
    text = (ROOT / "docs" / "agents.md").read_text()
    section = text[text.index("## Writing a new agent") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "docs_agents_example"}
    exec(compile(code.group(1), "docs/agents.md", "exec"), namespace)
    agent = namespace["BidBelowMark"].from_params(
        "patient", {"instrument": "BTC-PERP", "size": "0.1", "offset_ppm": 2000, "interval": "30"}, CONFIG
    )
    sim = run(600, (agent, "alice"))
    [bid] = sim.venue.open_orders("alice")
    seen = sim.clients[0].tops["BTC-PERP"].mark  # the newest mark it was told of
    assert seen is not None and 59_000 < seen < 61_000 and agent.rejected == 0
    assert bid.side is Side.BUY and bid.remaining == 100 and bid.client_id == "patient/bid"
    assert bid.price == shift_ppm(seen, -2_000)  # 0.2% below it
    with pytest.raises(ParamError) as caught:
        namespace["BidBelowMark"].from_params(
            "p", {"instrument": "BTC-PERP", "size": "1", "offsett": 1}, CONFIG
        )
    assert caught.value.field == "offsett"


def test_the_python_example_in_the_docs_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # it loads scenarios/markets.toml by a relative path
    text = (ROOT / "docs" / "agents.md").read_text()
    first = re.search(r"```python\n(.*?)```", text, re.S)
    assert first is not None and first.start() < text.index("## Writing a new agent")
    namespace: dict[str, Any] = {"__name__": "docs_agents_run"}
    exec(compile(first.group(1), "docs/agents.md", "exec"), namespace)
    assert namespace["mm"].stats["amend"] > 0 and namespace["result"].end_us == 3_600 * S
