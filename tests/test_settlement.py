"""Dated futures settled at expiry, with hand-checked numbers.

BTC-FUT: tick 1 USDC, lot 0.001 BTC (one tick on one lot is 1,000 USDC atoms), expiring at
86,400 s. No fees. alice buys 0.3 from bob at 30,000; carol buys 0.1 from bob at 30,100.

Behaviours verified:
- the settlement price is the exact mean of the index samples, rounded half to even;
- settling at 31,000 pays alice 0.3 x 31,000 = 9,300 and carol 3,100, and takes 12,400 from bob
  (short 0.4): realised PnL alice +300, carol +90, bob -390; every position is flat, money is
  conserved, nothing enters or leaves;
- resting orders and untriggered stops of the future end with INSTRUMENT_EXPIRED; new orders are
  refused; an isolated position's margin returns to its main account;
- refusals: before expiry, not a future, settled twice, unknown instrument, bad price; the
  journal replays.
"""

from __future__ import annotations

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.settlement import settlement_price
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
M = 1_000_000
F, P = "BTC-FUT", "BTC-PERP"
EXPIRY = 86_400_000_000
BUY, SELL, IOC = Side.BUY, Side.SELL, TimeInForce.IOC


def venue(journal: JournalWriter | None = None, margined: bool = False) -> Venue:
    fut = Instrument.create(
        F, kind="future", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001", expiry_us=EXPIRY
    )
    perp = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    margin = MarginConfig("USDC", ((F, schedule), (P, schedule))) if margined else None
    v = Venue(VenueConfig((USDC,), (fut, perp), margin=margin), journal=journal)
    for name in ("alice", "bob", "carol"):
        v.open_account(0, name, "isolated" if margined and name == "alice" else None)
        v.deposit(0, name, "USDC", "100000")
    if margined:
        v.set_mark_price(0, F, 30_000)
        v.set_mark_price(0, P, 30_000)
    v.submit(1, "bob", F, SELL, 300, 30_000)
    v.submit(2, "alice", F, BUY, 300, 30_000, tif=IOC)
    v.submit(3, "bob", F, SELL, 100, 30_100)
    v.submit(4, "carol", F, BUY, 100, 30_100, tif=IOC)
    return v


def test_settlement_price_is_the_mean_rounded_half_to_even() -> None:
    assert settlement_price([30_000, 31_000, 32_001]) == 31_000  # 31,000.33
    assert settlement_price([1, 2]) == 2 and settlement_price([2, 3]) == 2  # 1.5 -> 2, 2.5 -> 2
    for bad in ([], [0], [30_000, -1], [30_000.0]):
        with pytest.raises(UnitError):
            settlement_price(bad)  # type: ignore[arg-type]


def test_settling_closes_every_position_at_the_settlement_price() -> None:
    journal = JournalWriter()
    v = venue(journal)
    before = {n: v.account(n).balance("USDC") for n in ("alice", "bob", "carol")}
    assert before == {
        "alice": (100_000 - 9_000) * M,
        "bob": (100_000 + 12_010) * M,
        "carol": (100_000 - 3_010) * M,
    }
    result = v.settle_expiry(EXPIRY, F, "31000")
    assert result.ok and result.value == 31_000
    alice, bob, carol = (v.account(n) for n in ("alice", "bob", "carol"))
    assert alice.balance("USDC") == (100_000 + 300) * M  # paid 9,000, received 9,300
    assert carol.balance("USDC") == (100_000 + 90) * M  # paid 3,010, received 3,100
    assert bob.balance("USDC") == (100_000 - 390) * M  # received 12,010, paid 12,400
    assert [(a.positions[F].size, a.positions[F].realized) for a in (alice, bob, carol)] == [
        (0, 300 * M),
        (0, -390 * M),
        (0, 90 * M),
    ]
    _, events = read_journal(journal.getvalue())
    settled = [e for e in events if e[0] == Ev.SETTLED]
    assert settled == [
        [Ev.SETTLED, alice.index, 300, 9_300 * M],
        [Ev.SETTLED, bob.index, -400, -12_400 * M],
        [Ev.SETTLED, carol.index, 100, 3_100 * M],
    ]
    assert v.ledger.open_interest.get(F, 0) == 0
    v._check()
    assert replay(journal.getvalue()).ok


def test_orders_end_and_new_ones_are_refused() -> None:
    v = venue()
    resting = v.submit(5, "alice", F, BUY, 100, 29_000)
    stop = v.submit(5, "carol", F, SELL, 100, order_type=OrderType.STOP_MARKET, stop_price=29_500)
    assert resting.resting and stop.stop_pending
    assert v.submit(EXPIRY, "alice", F, BUY, 100, 29_000).reason is Reason.INSTRUMENT_EXPIRED
    v.settle_expiry(EXPIRY, F, 31_000)
    assert v.open_orders("alice") == [] and v.stop_orders("carol") == []
    assert v.cancel(EXPIRY + 1, "alice", resting.order_id).reason is Reason.ORDER_CLOSED
    v._check()


def test_an_isolated_positions_margin_returns_to_its_main_account() -> None:
    v = venue(margined=True)
    sub = v.ledger.accounts["alice/BTC-FUT"]
    assert sub.balance("USDC") == (900 - 9_000) * M  # the 900 of initial margin, as a top-up
    v.settle_expiry(EXPIRY, F, 31_000)
    assert sub.balance("USDC") == 0  # -8,100 + 9,300 = 1,200 returned
    assert v.account("alice").balance("USDC") == (100_000 + 300) * M
    v._check()


@pytest.mark.parametrize(
    ("ts", "instrument", "price", "reason"),
    [
        (EXPIRY - 1, F, 31_000, Reason.NOT_EXPIRED),
        (EXPIRY, P, 31_000, Reason.NOT_A_FUTURE),
        (EXPIRY, "ETH-FUT", 31_000, Reason.UNKNOWN_INSTRUMENT),
        (EXPIRY, F, "31000.5", Reason.PRICE_OFF_TICK),
        (EXPIRY, F, 0, Reason.INVALID_PRICE),
    ],
)
def test_bad_settlements_are_refused_and_change_nothing(
    ts: int, instrument: str, price: object, reason: Reason
) -> None:
    v = venue()
    before = {
        a.id: (dict(a.balances), {s: p.size for s, p in a.positions.items()}) for a in v.ledger.by_index
    }
    assert v.settle_expiry(ts, instrument, price).reason is reason  # type: ignore[arg-type]
    assert {
        a.id: (dict(a.balances), {s: p.size for s, p in a.positions.items()}) for a in v.ledger.by_index
    } == before


def test_a_future_is_settled_once() -> None:
    v = venue()
    assert v.settle_expiry(EXPIRY, F, 31_000).ok
    assert v.settle_expiry(EXPIRY + 1, F, 32_000).reason is Reason.ALREADY_SETTLED
    assert v.settled == {F: 31_000}
