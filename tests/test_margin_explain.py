"""The explanation API and honest liquidation prices.

Hand-checked (BTC-PERP: tick 1 USDC, lot 0.001 BTC; one bracket, maintenance 5%, initial 10%):
alice has 1,000 USDC and is long 0.3 BTC bought at 30,000, so her USDC balance is -8,000.

- equity at mark m: -8,000 + 0.3 m; maintenance: 0.3 m x 5% = 0.015 m
- liquidation: -8,000 + 0.3 m < 0.015 m  <=>  m < 28,070.18: the first tick below is 28,070
  (at 28,070 equity 421.00 < maintenance 421.05; at 28,071 equity 421.30 >= 421.065)
- bankruptcy: -8,000 + 0.3 m <= 0  <=>  m <= 26,666.67: 26,666
- at mark 30,000: equity 1,000, maintenance 450, initial 900, ratio 450/1,000, free 100

Behaviours verified: the numbers above, for a long and (mirrored) a short; and, as a property,
that stepping the mark one tick at a time from the current mark toward the loss, with another
position's mark held fixed, the account first falls below maintenance exactly at the stated
liquidation price and first reaches zero equity at the stated bankruptcy price.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.explain import explain
from exchange_sim.orders import Side
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
M = 1_000_000
BTC_PERP = Instrument.create(
    "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
)
ETH_PERP = Instrument.create(
    "ETH-PERP", kind="perpetual", underlying="ETH", settlement=USDC, tick_size="1", lot_size="0.01"
)
BRACKETS = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(20_000 * M, 100_000, 200_000)])


def venue(cash: str = "1000") -> Venue:
    margin = MarginConfig("USDC", (("BTC-PERP", BRACKETS), ("ETH-PERP", BRACKETS)))
    v = Venue(VenueConfig((USDC,), (BTC_PERP, ETH_PERP), margin=margin))
    for name, money in (("alice", cash), ("mm", "100000000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", money)
    return v


def test_hand_checked_long() -> None:
    v = venue()
    v.set_mark_price(0, "BTC-PERP", 30_000)
    v.submit(1, "mm", "BTC-PERP", Side.SELL, 300, 30_000)
    v.submit(2, "alice", "BTC-PERP", Side.BUY, 300, 30_000)
    e = explain(v, "alice")
    (p,) = e.positions
    assert (p.size, p.entry_price, p.mark, p.notional, p.bracket) == (
        300,
        Fraction(30_000),
        30_000,
        9_000 * M,
        0,
    )
    assert (p.maintenance, p.initial, p.unrealized_pnl) == (450 * M, 900 * M, 0)
    assert (p.liquidation_price, p.bankruptcy_price) == (28_070, 26_666)
    assert (e.settlement_balance, e.equity, e.maintenance, e.initial) == (
        -8_000 * M,
        1_000 * M,
        450 * M,
        900 * M,
    )
    assert e.margin_ratio == Fraction(450, 1_000) and e.free_collateral == 100 * M


def test_hand_checked_short() -> None:
    # short 0.3 at 30,000: balance 9,000 + 1,000 = 10,000; equity 10,000 - 0.3 m; maintenance 0.015 m
    # liquidation: 10,000 - 0.3 m < 0.015 m <=> m > 31,746.03: 31,747; bankruptcy: m >= 33,333.3: 33,334
    v = venue()
    v.set_mark_price(0, "BTC-PERP", 30_000)
    v.submit(1, "mm", "BTC-PERP", Side.BUY, 300, 30_000)
    v.submit(2, "alice", "BTC-PERP", Side.SELL, 300, 30_000)
    (p,) = explain(v, "alice").positions
    assert (p.liquidation_price, p.bankruptcy_price) == (31_747, 33_334)


@given(
    cash=st.integers(50, 5_000),
    btc_lots=st.integers(-2_000, 2_000).filter(bool),
    eth_lots=st.integers(-300, 300),
    btc_mark=st.integers(900, 1_100),
    eth_mark=st.integers(90, 110),
)
def test_liquidation_and_bankruptcy_prices_are_honest(cash, btc_lots, eth_lots, btc_mark, eth_mark) -> None:
    v = venue(str(cash))
    v.set_mark_price(0, "BTC-PERP", 1_000)
    v.set_mark_price(0, "ETH-PERP", 100)
    buy, sell = (Side.BUY, Side.SELL) if btc_lots > 0 else (Side.SELL, Side.BUY)
    v.submit(1, "mm", "BTC-PERP", sell, abs(btc_lots), 1_000)
    if not v.submit(2, "alice", "BTC-PERP", buy, abs(btc_lots), 1_000).filled:
        return  # the gate refused: too large for the cash
    if eth_lots:
        buy, sell = (Side.BUY, Side.SELL) if eth_lots > 0 else (Side.SELL, Side.BUY)
        v.submit(3, "mm", "ETH-PERP", sell, abs(eth_lots), 100)
        v.submit(4, "alice", "ETH-PERP", buy, abs(eth_lots), 100)
    v.set_mark_price(5, "BTC-PERP", btc_mark)
    v.set_mark_price(5, "ETH-PERP", eth_mark)
    e = explain(v, "alice")
    btc = next(p for p in e.positions if p.instrument == "BTC-PERP")
    toward_loss = -1 if btc.size > 0 else 1
    account = v.account("alice")
    sizes = {symbol: position.size for symbol, position in account.positions.items()}
    cross = v.gate.cross  # type: ignore[attr-defined]

    def at(mark: int) -> tuple[int, int]:
        """(equity, maintenance) with BTC-PERP's mark moved, everything else fixed."""
        equity, _, maintenance = cross.totals(account.balances, sizes, {**v.marks, "BTC-PERP": mark}, {})
        return equity, maintenance

    def first_tick(condition, window: int = 2_000) -> int | str | None:  # type: ignore[no-untyped-def]
        mark = btc_mark
        for _ in range(window):
            if mark < 1:
                return None
            if condition(*at(mark)):
                return mark
            mark += toward_loss
        return "beyond the window"

    def check(stated: int | None, condition) -> None:  # type: ignore[no-untyped-def]
        found = first_tick(condition)
        if found == "beyond the window":  # far away: check the stated tick and its neighbour
            assert stated is not None and condition(*at(stated))
            assert not condition(*at(stated - toward_loss))
            assert (stated - btc_mark) * toward_loss > 0
        else:
            assert found == stated

    check(btc.liquidation_price, lambda equity, maintenance: equity < maintenance)
    check(btc.bankruptcy_price, lambda equity, maintenance: equity <= 0)
