"""The market feed: index paths, marks, funding and expiry driven on the clock by a plain loop.

Market used throughout: BTC-PERP and BTC-FUT (tick 1 USDC, lot 0.001 BTC: one tick on one lot is
1,000 USDC atoms), no fees, no margin unless a test adds it. Hand-checked numbers:

- funding: index 30,000; the maker quotes 30,030 bid / 30,036 ask, 0.1 BTC each, so with an
  impact notional of 1,000 USDC the impact bid and ask are the best prices; the premium is
  (30,030 - 30,000) / 30,000 = 0.1% (1,000 ppm); with interest 100 ppm and clamp 500 ppm the rate
  is 1,000 + clamp(100 - 1,000, -500, 500) = 500 ppm. alice is long 0.1 BTC (100 lots) at mark
  30,000: she pays 100 x 30,000 x 1,000 x 500 / 1,000,000 = 1,500,000 atoms (1.5 USDC) to bob.
- expiry: the index rises linearly from 30,000 at 0 s to 30,100 at 100 s; the future expires at
  100 s with a 10 s settlement window, so the samples are 30,090 .. 30,100 (11 of them) and the
  settlement price is their mean, 30,095. alice bought 0.1 at 30,000, so she ends 9.5 USDC up
  and bob 9.5 USDC down.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_sim.book_index import BookIndex
from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import CollateralRule, MarginConfig
from exchange_sim.market_feed import STREAM, FundingPaid, MarketFeed
from exchange_sim.market_spec import CorrelationSpec, FundingSpec, IndexSpec, MarketSpec, MarkSpec
from exchange_sim.marks import MarkRule
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.prices import GBM, Correlated, ScriptedPath, sample
from exchange_sim.replay import replay
from exchange_sim.units import Asset

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
S = 1_000_000  # microseconds per second
P, F, SPOT = "BTC-PERP", "BTC-FUT", "BTC-USDC"
ONE = Fraction(1)


def instruments(expiry_us: int = 100 * S) -> tuple[Instrument, ...]:
    common = {"underlying": "BTC", "settlement": USDC, "tick_size": "1", "lot_size": "0.001"}
    return (
        Instrument.create(P, kind="perpetual", **common),  # type: ignore[arg-type]
        Instrument.create(F, kind="future", expiry_us=expiry_us, **common),  # type: ignore[arg-type]
        Instrument.create(SPOT, kind="spot", base=BTC, **common),  # type: ignore[arg-type]
    )


def make_venue(journal: JournalWriter | None = None, margined: bool = False) -> Venue:
    margin = None
    if margined:
        schedule = BracketSchedule.create([Bracket(0, 5_000, 10_000)])
        margin = MarginConfig("USDC", ((P, schedule), (F, schedule)), (CollateralRule("BTC", 100_000),))
    v = Venue(VenueConfig((USDC, BTC), instruments(), margin=margin), journal=journal)
    for name in ("maker", "alice", "bob"):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", "1000000")
        v.deposit(0, name, "BTC", "10")
    return v


def flat(price: str = "30000", tick_size: str = "1") -> ScriptedPath:
    return ScriptedPath(((0, price),), tick_size=tick_size)


def spec(process: object = None, **kwargs: object) -> MarketSpec:
    index = IndexSpec("BTC", process or flat(), ONE)  # type: ignore[arg-type]
    return MarketSpec(indexes=(index,), **kwargs)  # type: ignore[arg-type]


def trade(v: Venue, ts: int, instrument: str, lots: int, price: int) -> None:
    """alice buys ``lots`` from bob at ``price``."""
    assert v.submit(ts, "bob", instrument, Side.SELL, lots, price).resting
    assert v.submit(ts, "alice", instrument, Side.BUY, lots, price, tif=TimeInForce.IOC).fills


def events(journal: JournalWriter, code: Ev) -> list[list[object]]:
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    return [r for r in records if r[0] == code]


from exchange_sim.venue import Venue  # noqa: E402  (after the helpers' annotations)

# marks --------------------------------------------------------------------------------------------


def test_marks_follow_a_scripted_index_and_are_set_only_when_they_change() -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    path = ScriptedPath(((0, "30000"), (3 * S, "29000"), (6 * S, "29500")), tick_size="1")
    feed = MarketFeed(v, spec(path), seed=1)
    feed.advance(2 * S)
    assert v.marks == {P: 30_000, F: 30_000}
    feed.advance(7 * S)
    assert v.marks == {P: 29_500, F: 29_500}
    assert feed.index == {"BTC": 29_500}
    # three distinct marks per contract: 30,000 at 0 s, 29,000 at 3 s, 29,500 at 6 s
    marks = [(r[1], r[3]) for r in events(journal, Ev.SET_MARK)]
    assert [m for m in marks if m[0] in (0, 3 * S, 6 * S)] == marks
    assert len(marks) == 6
    assert feed.next_time() == 8 * S


def test_an_index_tick_finer_than_the_instruments_is_converted_exactly_and_rounded_once() -> None:
    v = make_venue()
    # index in ticks of 0.25: 30,000.75 is 120,003 ticks; in the contracts' whole-dollar ticks it is
    # 30,000.75, marked at 30,001 (nearest)
    feed = MarketFeed(
        v, MarketSpec(indexes=(IndexSpec("BTC", flat("30000.75", "0.25"), Fraction(1, 4)),)), seed=1
    )
    feed.advance(0)
    assert feed.index == {"BTC": 120_003}
    assert v.marks[P] == 30_001


def test_an_index_whose_tick_differs_from_its_process_is_refused() -> None:
    with pytest.raises(ValueError, match="tick size"):
        MarketFeed(make_venue(), MarketSpec(indexes=(IndexSpec("BTC", flat(), Fraction(1, 4)),)), seed=1)


def test_a_mid_rule_marks_at_the_book_and_falls_back_to_the_index_when_a_side_is_empty() -> None:
    v = make_venue()
    feed = MarketFeed(v, spec(marks=(MarkSpec(P, MarkRule("mid"), 300 * S),)), seed=1)
    feed.advance(0)
    assert v.marks[P] == 30_000  # empty book: the index
    v.submit(1, "maker", P, Side.BUY, 100, 30_010)
    v.submit(1, "maker", P, Side.SELL, 100, 30_020)
    feed.advance(S)
    assert v.marks[P] == 30_015
    assert v.marks[F] == 30_000  # no rule: the index


def test_an_index_basis_rule_averages_the_basis_samples_of_its_window() -> None:
    v = make_venue()
    rule = MarkSpec(P, MarkRule("index_basis"), basis_window_us=2 * S)
    feed = MarketFeed(v, spec(marks=(rule,)), seed=1)
    v.submit(0, "maker", P, Side.BUY, 100, 30_010)
    v.submit(0, "maker", P, Side.SELL, 100, 30_020)  # basis +15
    feed.advance(S)
    assert v.marks[P] == 30_015
    v.submit(S + 1, "maker", P, Side.SELL, 100, 30_012)  # mid 30,011: basis +11
    feed.advance(2 * S)  # samples at 1 s (+15) and 2 s (+11), the one at 0 s left the window
    assert v.marks[P] == 30_013
    feed.advance(4 * S)  # samples at 3 s and 4 s are both +11
    assert v.marks[P] == 30_011


# randomness ---------------------------------------------------------------------------------------


def _rng(seed: int, name: str) -> np.random.Generator:
    import zlib

    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM, zlib.crc32(name.encode()))))


def test_a_random_index_is_the_seeded_path_the_prices_module_gives() -> None:
    v = make_venue()
    gbm = GBM(start="30000", tick_size="1", volatility="0.8")
    feed = MarketFeed(v, spec(gbm), seed=42)
    seen = []
    for t in range(0, 50 * S + 1, S):
        feed.advance(t)
        seen.append((t, (feed.index["BTC"],)))
    assert seen == sample(gbm, _rng(42, "BTC"), 0, 50 * S, S)
    assert len({p for _, (p,) in seen}) > 10  # it does move


def test_another_index_in_the_scenario_does_not_change_this_ones_path() -> None:
    gbm = GBM(start="30000", tick_size="1", volatility="0.8")
    alone = MarketFeed(make_venue(), spec(gbm), seed=3)
    eth = IndexSpec("ETH", GBM(start="2000", tick_size="0.01", volatility="1"), Fraction(1, 100))
    both = MarketFeed(make_venue(), MarketSpec(indexes=(eth, IndexSpec("BTC", gbm, ONE))), seed=3)
    for t in range(0, 20 * S + 1, S):
        alone.advance(t)
        both.advance(t)
        assert alone.index["BTC"] == both.index["BTC"]
    assert both.index["ETH"] != 200_000 or both.index["BTC"] != 30_000


def test_a_correlated_group_draws_one_joint_path() -> None:
    btc = GBM(start="30000", tick_size="1", volatility="0.8")
    eth = GBM(start="2000", tick_size="1", volatility="1")
    matrix = ((ONE, Fraction(9, 10)), (Fraction(9, 10), ONE))
    market = MarketSpec(
        indexes=(IndexSpec("BTC", btc, ONE), IndexSpec("ETH", eth, ONE)),
        correlations=(CorrelationSpec(("BTC", "ETH"), matrix),),
    )
    feed = MarketFeed(make_venue(), market, seed=5)
    feed.advance(30 * S)
    expected = sample(Correlated((btc, eth), matrix), _rng(5, "BTC+ETH"), 0, 30 * S, S)[-1][1]
    assert (feed.index["BTC"], feed.index["ETH"]) == expected


def _run(seed: int, stops: list[int]) -> str:
    journal = JournalWriter()
    v = make_venue(journal)
    gbm = GBM(start="30000", tick_size="1", volatility="2")
    funding = FundingSpec(P, 20 * S, 5 * S, 100, 500, 7_500, 1_000_000_000)
    feed = MarketFeed(v, spec(gbm, funding=(funding,)), seed=seed)
    trade(v, 0, P, 100, 30_000)
    v.submit(0, "maker", P, Side.BUY, 100, 29_000)
    v.submit(0, "maker", P, Side.SELL, 100, 31_000)
    for stop in stops:
        feed.advance(stop)
    feed.advance(100 * S)
    return journal.digest()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 100 * S), max_size=8).map(sorted))
def test_how_the_clock_is_stepped_does_not_change_the_journal(stops: list[int]) -> None:
    """Advancing in any increments gives byte for byte the journal of one advance."""
    assert _run(11, stops) == _run(11, [])


def test_same_seed_same_journal_other_seed_other_journal() -> None:
    assert _run(11, [50 * S]) == _run(11, [50 * S])
    assert _run(11, []) != _run(12, [])


# funding ------------------------------------------------------------------------------------------


def funded_venue(journal: JournalWriter | None = None) -> tuple[Venue, MarketFeed]:
    v = make_venue(journal)
    funding = FundingSpec(P, 3_600 * S, 60 * S, 100, 500, 7_500, 1_000_000_000)
    feed = MarketFeed(v, spec(funding=(funding,)), seed=1)
    trade(v, 0, P, 100, 30_000)
    v.submit(0, "maker", P, Side.BUY, 100, 30_030)
    v.submit(0, "maker", P, Side.SELL, 100, 30_036)
    return v, feed


def test_funding_is_paid_each_interval_longs_paying_shorts_when_the_perpetual_is_above_the_index() -> None:
    journal = JournalWriter()
    v, feed = funded_venue(journal)
    before = {n: v.account(n).balance("USDC") for n in ("alice", "bob")}
    feed.advance(3_600 * S - 1)
    assert feed.funding_paid == []
    feed.advance(3_600 * S)
    assert feed.funding_paid == [FundingPaid(3_600 * S, P, 500, 60, True)]
    after = {n: v.account(n).balance("USDC") for n in ("alice", "bob")}
    assert after["alice"] - before["alice"] == -1_500_000  # the long pays 1.5 USDC
    assert after["bob"] - before["bob"] == 1_500_000  # the short receives it
    feed.advance(7_200 * S)
    assert [f.ts for f in feed.funding_paid] == [3_600 * S, 7_200 * S]
    assert v.account("alice").balance("USDC") - before["alice"] == -3_000_000
    assert len(events(journal, Ev.FUNDING)) == 2
    v._check()


def test_funding_without_any_premium_sample_pays_the_interest_rate() -> None:
    v = make_venue()
    funding = FundingSpec(P, 3_600 * S, 60 * S, 100, 500, 7_500, 1_000_000_000)
    feed = MarketFeed(v, spec(funding=(funding,)), seed=1)
    trade(v, 0, P, 100, 30_000)  # the book is empty afterwards: no impact prices
    feed.advance(3_600 * S)
    assert feed.funding_paid == [FundingPaid(3_600 * S, P, 100, 0, True)]  # F = I = 0.01%
    # 100 lots x 30,000 x 1,000 atoms x 100 ppm = 300,000 atoms
    assert v.account("bob").balance("USDC") == 1_000_000_000_000 + 30_000 * 100 * 1_000 + 300_000


def test_a_funding_basis_mark_uses_the_last_funding_rate() -> None:
    """Binance's price 1: index x (1 + last rate x time to funding / interval)."""
    v = make_venue()
    funding = FundingSpec(P, 3_600 * S, 60 * S, 100, 500, 7_500, 1_000_000_000)
    rule = MarkRule("funding_basis", funding_interval_us=3_600 * S)
    feed = MarketFeed(v, spec(marks=(MarkSpec(P, rule, 300 * S),), funding=(funding,)), seed=1)
    trade(v, 0, P, 100, 30_000)
    v.submit(0, "maker", P, Side.BUY, 100, 30_030)
    v.submit(0, "maker", P, Side.SELL, 100, 30_036)
    feed.advance(3_600 * S)
    assert v.marks[P] == 30_000  # marked before the first funding: no rate yet, so the index
    assert feed.last_rate == {P: 500}
    feed.advance(3_600 * S + 1_800 * S)
    # half an interval to the next funding: 30,000 x (1 + 0.0005 x 0.5) = 30,007.5 -> 30,008 (even)
    assert v.marks[P] == 30_008


# expiry -------------------------------------------------------------------------------------------


def test_a_future_settles_at_the_mean_index_of_its_window_and_refuses_orders_after() -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    path = ScriptedPath(((0, "30000"), (100 * S, "30100")), tick_size="1", interpolation="linear")
    feed = MarketFeed(v, spec(path, settlement_window_us=10 * S), seed=1)
    trade(v, 0, F, 100, 30_000)
    before = {n: v.account(n).balance("USDC") for n in ("alice", "bob")}
    feed.advance(99 * S)
    assert F not in v.settled
    feed.advance(100 * S)
    assert v.settled[F] == 30_095
    after = {n: v.account(n).balance("USDC") for n in ("alice", "bob")}
    # alice receives 100 lots x 30,095 x 1,000 atoms; bob pays the same
    assert after["alice"] - before["alice"] == 3_009_500_000
    assert after["bob"] - before["bob"] == -3_009_500_000
    assert v.position_of("alice", F) is None or v.position_of("alice", F).size == 0  # type: ignore[union-attr]
    late = v.submit(101 * S, "bob", F, Side.SELL, 100, 30_000)
    assert late.reason is Reason.INSTRUMENT_EXPIRED
    feed.advance(200 * S)  # no second settlement, no more marks for the future
    assert len(events(journal, Ev.SETTLE_EXPIRY)) == 1
    assert max(r[1] for r in events(journal, Ev.SET_MARK) if r[2] == 1) <= 100 * S
    v._check()


def test_an_expiry_between_two_steps_settles_at_its_own_time() -> None:
    v2 = Venue(VenueConfig((USDC, BTC), instruments(expiry_us=10 * S + 500)))
    feed = MarketFeed(v2, spec(), seed=1)
    feed.advance(10 * S)
    assert F not in v2.settled
    assert feed.next_time() == 10 * S + 500
    feed.advance(10 * S + 500)
    assert v2.settled[F] == 30_000  # the samples at 0 .. 10 s


# collateral and book indexes ----------------------------------------------------------------------


def test_a_collateral_index_is_set_in_settlement_atoms_when_it_changes() -> None:
    journal = JournalWriter()
    v = make_venue(journal, margined=True)
    path = ScriptedPath(((0, "30000"), (5 * S, "30000.5")), tick_size="0.5")
    feed = MarketFeed(v, MarketSpec(indexes=(IndexSpec("BTC", path, Fraction(1, 2)),)), seed=1)
    feed.advance(9 * S)
    assert v.index_prices["BTC"] == 30_000_500_000
    assert [(r[1], r[3]) for r in events(journal, Ev.SET_INDEX)] == [
        (0, 30_000_000_000),
        (5 * S, 30_000_500_000),
    ]
    assert v.marks[P] == 30_000  # 30,000.5 in whole-dollar ticks: half to even


def test_an_index_that_follows_a_spot_book_moves_the_perpetuals_mark() -> None:
    """Oracle manipulation in miniature: lifting the thin spot ask moves the perpetual's mark."""
    v = make_venue()
    follow = IndexSpec("BTC", BookIndex(SPOT, "last"), ONE)
    feed = MarketFeed(v, MarketSpec(indexes=(follow,)), seed=1)
    feed.advance(S)
    assert P not in v.marks  # no trade on the spot book yet: no index, no mark
    v.submit(S + 1, "maker", SPOT, Side.SELL, 1, 45_000)
    v.submit(S + 2, "alice", SPOT, Side.BUY, 1, 45_000, tif=TimeInForce.IOC)
    feed.advance(2 * S)
    assert feed.index["BTC"] == 45_000
    assert v.marks[P] == 45_000


def test_the_journal_of_a_fed_run_replays() -> None:
    journal = JournalWriter()
    _, feed = funded_venue(journal)
    feed.advance(7_200 * S)
    journal.flush()
    report = replay(bytes(journal._memory or b""))
    assert report.ok, report
