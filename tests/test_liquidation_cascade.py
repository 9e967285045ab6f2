"""A liquidation cascade: liquidation orders push the mark down, which liquidates more accounts.

BTC-PERP's index follows its own last trade (an oracle that reads the venue's own book, as in
oracle-manipulation studies), and it is marked at the index by the market feed once a second.
40 traders are long 0.1 BTC each from 30,000 with leverage 4x to 9.5x (deposits 750 down to 315
USDC, so liquidation prices (3,000 - deposit) / 0.095 from 23,684 up to 28,263), opened against
a counterparty. A maker rests bids every 25 USDC from 29,975 down to 20,000, 0.06 BTC each. A
whale sells 5 BTC into the bids: the last trade falls to 27,900, the most leveraged
traders are liquidated (binance rules: sold on the book no lower than their bankruptcy prices),
their sales take the price lower, the next mark liquidates more, and so on.

By hand: the whale's 5,000 lots take 83 levels of 60 and 20 lots of the 84th, at 27,900: the
last trade, so the mark; a deposit D is liquidated below (3,000 - D) / 0.095, so at 27,900 those
with D < 349.5: t33 .. t39, 7 accounts. Their 700 lots take the price to 27,625: D < 375.6,
t29 .. t32, 4 more; then 3, 1 and 1, and the cascade dies out at 27,250 as the deposits grow.

Checked: the run completes; the cascade is exactly that (7, 4, 3, 1, 1 liquidations at 1 .. 5 s,
marks 27,900, 27,625, 27,450, 27,325, 27,275, 27,250); every liquidation that starts ends;
money is conserved and positions net to zero after every input (``Venue._check``); the final
mark is below where the whale's sale alone left it; the journal replays.
"""

from __future__ import annotations

from exchange_sim.book_index import BookIndex
from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.liquidation.engine import INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.market_feed import MarketFeed
from exchange_sim.market_spec import IndexSpec, MarketSpec
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
P = "BTC-PERP"
S = 1_000_000


def test_a_cascade_runs_to_the_end_and_conserves_money() -> None:
    journal = JournalWriter()
    perp = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    config = VenueConfig((USDC,), (perp,), margin=margin, liquidation=preset("binance"))
    v = Venue(config, journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "100000")
    for name, amount in (("maker", "10000000"), ("whale", "1000000"), ("street", "1000000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    market = MarketSpec(indexes=(IndexSpec("BTC", BookIndex(P, "last"), perp.tick_size),))
    feed = MarketFeed(v, market, seed=1)
    feed.advance(0)
    for n in range(40):
        name = f"t{n}"
        v.open_account(1, name)
        v.deposit(1, name, "USDC", str(3_000 * 78 // (312 + 11 * n)))  # leverage (312 + 11n) / 78
        v.submit(1, "street", P, Side.SELL, 100, 30_000)
        assert v.submit(1, name, P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills, name
    for k in range(1, 401):
        v.submit(2, "maker", P, Side.BUY, 60, 30_000 - 25 * k)
    v._check()
    v.submit(3, "whale", P, Side.SELL, 5_000, 20_000, tif=TimeInForce.IOC)
    after_whale = v.last_trade.last[P]
    for step in range(1, 61):
        feed.advance(step * S)
        v._check()
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    starts = [r for r in records if r[0] == Ev.LIQUIDATION]
    ends = [r for r in records if r[0] == Ev.LIQUIDATION_END]
    assert len(starts) == len(ends) == 16
    per_step: dict[int, int] = {}
    marks = []
    ts = 0
    for r in records:
        if r[0] == Ev.SET_MARK:
            ts = r[1] // S
            marks.append(r[3])
        if r[0] == Ev.LIQUIDATION:
            per_step[ts] = per_step.get(ts, 0) + 1
    assert per_step == {1: 7, 2: 4, 3: 3, 4: 1, 5: 1}
    assert marks == [27_900, 27_625, 27_450, 27_325, 27_275, 27_250]
    assert v.marks[P] < after_whale
    assert replay(bytes(journal._memory or b"")).ok
