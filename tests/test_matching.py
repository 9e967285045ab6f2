"""Matching through the venue, with hand-checked fills, fees, balances and positions.

Instrument BTC-PERP: tick 0.5 USDC, lot 0.001 BTC, so one tick on one lot = 500 atoms
(0.0005 USDC); maker fee -100 ppm (rebate), taker fee 500 ppm.

Behaviours verified:
- a crossing limit order fills at the maker's price, best price first, oldest first;
- fees in atoms: the taker's rounds up, the maker's rebate rounds down (in magnitude);
- the full quote amount moves from buyer to seller; positions and cost basis follow;
- partial fills leave the maker resting with the rest; a GTC remainder rests;
- IOC cancels its remainder with IOC_REMAINDER; nothing rests;
- a market order fills within the protection band around the reference price and cancels the
  rest with MARKET_BAND; without a reference price it is rejected;
- cancel removes the order and returns its remaining size;
- the risk-gate seam: a refused maker is removed and matching goes on; a refused taker stops and
  the rest is cancelled, and neither refused fill leaves any trace.
"""

from exchange_sim.config import ReferenceSource
from exchange_sim.matching import RefuseAccounts
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.units import PPM
from exchange_sim.venue import Venue
from tests.conftest import btc_perp, make_venue

M = 1_000_000  # atoms per USDC
START = 1_000_000 * M


def usdc(venue: Venue, name: str) -> int:
    return venue.account(name).balance("USDC")


def test_crossing_limit_fills_at_maker_price_with_exact_fees(venue: Venue) -> None:
    ask = venue.submit(1, "alice", "BTC-PERP", Side.SELL, "0.003", "30000.5")
    assert ask.accepted and ask.resting and ask.order_id == 1
    taker = venue.submit(2, "bob", "BTC-PERP", Side.BUY, "0.002", "30010")
    assert taker.accepted and not taker.resting and taker.reason is None
    (fill,) = taker.fills
    assert (fill.price, fill.lots, fill.maker_order_id, fill.taker_order_id) == (60_001, 2, 1, 2)
    # notional: 60,001 ticks x 2 lots x 500 atoms = 60,001,000 atoms = 60.001 USDC
    # taker fee: 60,001,000 x 500 / 1e6 = 30,000.5 -> charged 30,001 atoms
    # maker fee: 60,001,000 x -100 / 1e6 = -6,000.1 -> rebate of 6,000 atoms
    assert (fill.taker_fee, fill.maker_fee) == (30_001, -6_000)
    assert usdc(venue, "bob") == START - 60_001_000 - 30_001
    assert usdc(venue, "alice") == START + 60_001_000 + 6_000
    assert venue.ledger.fees.balance("USDC") == 30_001 - 6_000
    bob, alice = venue.account("bob").positions["BTC-PERP"], venue.account("alice").positions["BTC-PERP"]
    assert (bob.size, bob.cost) == (2, 60_001_000)
    assert (alice.size, alice.cost) == (-2, -60_001_000)
    # the maker keeps 1 lot resting at the same place in the queue
    assert venue.top("BTC-PERP") == (None, 0, 60_001, 1)
    venue._check()


def test_price_then_time_priority_and_walk_the_book(venue: Venue) -> None:
    first = venue.submit(1, "alice", "BTC-PERP", Side.SELL, 2, 100)
    second = venue.submit(2, "carol", "BTC-PERP", Side.SELL, 2, 100)
    better = venue.submit(3, "carol", "BTC-PERP", Side.SELL, 1, 99)
    venue.submit(4, "alice", "BTC-PERP", Side.SELL, 5, 102)
    taker = venue.submit(5, "bob", "BTC-PERP", Side.BUY, 4, 101)
    assert [(f.maker_order_id, f.price, f.lots) for f in taker.fills] == [
        (better.order_id, 99, 1),
        (first.order_id, 100, 2),
        (second.order_id, 100, 1),
    ]
    assert taker.remaining == 0 and not taker.resting
    assert venue.depth("BTC-PERP") == ([], [(100, 1), (102, 5)])
    venue._check()


def test_gtc_remainder_rests(venue: Venue) -> None:
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 1, 100)
    taker = venue.submit(2, "bob", "BTC-PERP", Side.BUY, 3, 100)
    assert taker.filled == 1 and taker.remaining == 2 and taker.resting and taker.reason is None
    assert venue.top("BTC-PERP") == (100, 2, None, 0)
    venue._check()


def test_ioc_remainder_cancelled(venue: Venue) -> None:
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 1, 100)
    taker = venue.submit(2, "bob", "BTC-PERP", Side.BUY, 3, 100, tif=TimeInForce.IOC)
    assert taker.filled == 1 and taker.remaining == 2
    assert not taker.resting and taker.reason is Reason.IOC_REMAINDER
    assert venue.top("BTC-PERP") == (None, 0, None, 0)
    venue._check()


def test_market_order_bounded_by_protection_band() -> None:
    venue = make_venue(btc_perp(market_band_ppm=10_000, maker_fee_ppm=0, taker_fee_ppm=0))
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 1, 10_000)
    venue.submit(2, "bob", "BTC-PERP", Side.BUY, 1, 10_000)  # last trade 10,000 ticks
    venue.submit(3, "alice", "BTC-PERP", Side.SELL, 1, 10_050)
    venue.submit(4, "alice", "BTC-PERP", Side.SELL, 1, 10_100)  # exactly at the 1% band
    venue.submit(5, "alice", "BTC-PERP", Side.SELL, 1, 10_101)  # beyond it
    market = venue.submit(6, "bob", "BTC-PERP", Side.BUY, 5, order_type=OrderType.MARKET)
    # band limit for a buy: floor(10,000 x (1e6 + 10,000) / 1e6) = 10,100
    assert [f.price for f in market.fills] == [10_050, 10_100]
    assert market.remaining == 3 and market.reason is Reason.MARKET_BAND
    assert venue.top("BTC-PERP") == (None, 0, 10_101, 1)
    # a market sell's band rounds up: ceil(10,100 x (1e6 - 10,000) / 1e6) = ceil(9,999) = 9,999
    venue.submit(7, "carol", "BTC-PERP", Side.BUY, 1, 9_998)
    sell = venue.submit(8, "carol", "BTC-PERP", Side.SELL, 1, order_type=OrderType.MARKET)
    assert sell.fills == [] and sell.reason is Reason.MARKET_BAND
    venue._check()


def test_market_order_needs_reference_price(venue: Venue) -> None:
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 1, 100)
    result = venue.submit(2, "bob", "BTC-PERP", Side.BUY, 1, order_type=OrderType.MARKET)
    assert not result.accepted and result.reason is Reason.NO_REFERENCE_PRICE
    assert venue.top("BTC-PERP") == (None, 0, 100, 1)


def test_market_order_with_external_reference() -> None:
    venue = make_venue(btc_perp(market_band_ppm=50_000), reference=ReferenceSource.EXTERNAL)
    assert venue.set_reference_price(1, "BTC-PERP", "30000").value == 60_000
    venue.submit(2, "alice", "BTC-PERP", Side.SELL, 1, 60_000 * (PPM + 50_000) // PPM)
    venue.submit(2, "alice", "BTC-PERP", Side.SELL, 1, 60_000 * (PPM + 50_000) // PPM + 1)
    market = venue.submit(3, "bob", "BTC-PERP", Side.BUY, 2, order_type=OrderType.MARKET)
    assert [f.price for f in market.fills] == [63_000]
    assert market.reason is Reason.MARKET_BAND
    # a market order on an empty side is cancelled as an IOC remainder
    empty = venue.submit(4, "bob", "BTC-PERP", Side.SELL, 1, order_type=OrderType.MARKET)
    assert empty.fills == [] and empty.reason is Reason.IOC_REMAINDER


def test_cancel(venue: Venue) -> None:
    resting = venue.submit(1, "alice", "BTC-PERP", Side.BUY, 4, 100)
    venue.submit(2, "bob", "BTC-PERP", Side.SELL, 1, 100)
    result = venue.cancel(3, "alice", resting.order_id)
    assert result.ok and result.value == 3
    assert venue.top("BTC-PERP") == (None, 0, None, 0)
    again = venue.cancel(4, "alice", resting.order_id)
    assert not again.ok and again.reason is Reason.ORDER_CLOSED
    never = venue.cancel(4, "alice", 99)
    assert not never.ok and never.reason is Reason.UNKNOWN_ORDER
    venue._check()


def test_refused_maker_removed_and_matching_goes_on() -> None:
    venue = make_venue(gate=RefuseAccounts(makers=frozenset({"alice"})))
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 2, 100)
    carol = venue.submit(2, "carol", "BTC-PERP", Side.SELL, 2, 101)
    before = {n: usdc(venue, n) for n in ("alice", "bob", "carol")}
    taker = venue.submit(3, "bob", "BTC-PERP", Side.BUY, 2, 101)
    assert taker.removed_makers == ((1, Reason.MAKER_RISK_REFUSED),)
    assert [(f.maker_order_id, f.price, f.lots) for f in taker.fills] == [(carol.order_id, 101, 2)]
    assert usdc(venue, "alice") == before["alice"] and "BTC-PERP" not in venue.account("alice").positions
    assert venue.find_order(1) is None
    venue._check()


def test_refused_taker_stops_and_rest_cancelled() -> None:
    venue = make_venue(gate=RefuseAccounts(takers=frozenset({"bob"})))
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 2, 100)
    before = {n: usdc(venue, n) for n in ("alice", "bob", "carol")}
    taker = venue.submit(2, "bob", "BTC-PERP", Side.BUY, 3, 100)
    assert taker.accepted and taker.fills == [] and not taker.resting
    assert taker.reason is Reason.TAKER_RISK_REFUSED and taker.remaining == 3
    # the maker is untouched and keeps resting
    assert venue.top("BTC-PERP") == (None, 0, 100, 2)
    assert {n: usdc(venue, n) for n in before} == before
    assert venue.ledger.fees.balance("USDC") == 0
    venue._check()
