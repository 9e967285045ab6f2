"""An index that follows another book (``exchange_sim.book_index``).

A thin BTC/USDC spot pair with tick 0.5 USDC; the index is kept in ticks of 1 USDC.

Behaviours verified:
- the mid of bid 29,999.5 and ask 30,000.5 is 30,000; the last trade at 30,000.5 USDC rounds
  half to even to 30,000 ticks of 1 USDC, at 30,001.5 to 30,002;
- ``None`` while a side is empty or before the first trade;
- manipulation: one account lifting the thin ask and bidding far above moves the index with it
  (the Mango Markets pattern), which is what the index-following studies need to see;
- a bad source is refused.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from exchange_sim.book_index import BookIndex, book_index
from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
SPOT = Instrument.create(
    "BTC-USDC", kind="spot", underlying="BTC", settlement=USDC, base=BTC, tick_size="0.5", lot_size="0.001"
)
ONE = Fraction(1)


def venue() -> Venue:
    v = Venue(VenueConfig((USDC, BTC), (SPOT,)))
    for name in ("mm", "whale"):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", "10000000")
        v.deposit(0, name, "BTC", "10")
    return v


def test_mid_and_last_in_the_index_ticks() -> None:
    v = venue()
    mid, last = BookIndex("BTC-USDC", "mid"), BookIndex("BTC-USDC", "last")
    assert book_index(v, mid, ONE) is None and book_index(v, last, ONE) is None
    v.submit(1, "mm", "BTC-USDC", Side.BUY, 1, "29999.5")
    assert book_index(v, mid, ONE) is None  # no ask yet
    v.submit(1, "mm", "BTC-USDC", Side.SELL, 1, "30000.5")
    assert book_index(v, mid, ONE) == 30_000
    v.submit(2, "whale", "BTC-USDC", Side.BUY, 1, "30000.5", tif=TimeInForce.IOC)
    assert book_index(v, last, ONE) == 30_000  # 30,000.5: half to even
    v.submit(3, "mm", "BTC-USDC", Side.SELL, 1, "30001.5")
    v.submit(4, "whale", "BTC-USDC", Side.BUY, 1, "30001.5", tif=TimeInForce.IOC)
    assert book_index(v, last, ONE) == 30_002  # 30,001.5: half to even


def test_a_thin_book_moves_the_index_with_it() -> None:
    v = venue()
    follow = BookIndex("BTC-USDC", "mid")
    v.submit(1, "mm", "BTC-USDC", Side.BUY, 1, "29999.5")
    v.submit(1, "mm", "BTC-USDC", Side.SELL, 1, "30000.5")
    v.submit(1, "mm", "BTC-USDC", Side.SELL, 1, "45000")  # the only depth above
    assert book_index(v, follow, ONE) == 30_000
    v.submit(2, "whale", "BTC-USDC", Side.BUY, 1, "30000.5", tif=TimeInForce.IOC)  # lifts the ask
    v.submit(2, "whale", "BTC-USDC", Side.BUY, 1, "44999")  # and bids just below the next one
    assert book_index(v, follow, ONE) == 45_000  # mid 44,999.5: half to even gives 45,000
    assert book_index(v, follow, Fraction(1, 2)) == 89_999  # the same in ticks of 0.5


def test_a_bad_source_is_refused() -> None:
    with pytest.raises(UnitError) as info:
        BookIndex("BTC-USDC", "vwap")
    assert info.value.field == "source"
