"""Atomic multi-leg orders (``Venue.submit_legs``), with hand-checked numbers.

BTC-PERP and BTC-FUT, settled in USDC: tick 1 USDC, lot 0.001 BTC (one tick on one lot is 1,000
USDC atoms, a price in ticks is a price in USDC). One bracket: maintenance 5%, initial 10%. No
fees. Marks 30,000. The market maker "mm" has 10,000,000 USDC.

Behaviours verified:
- a roll from the future into the perpetual (sell 0.3 BTC-FUT, buy 0.3 BTC-PERP) goes through as
  one order for an account with 1,000 USDC, although the perpetual leg alone is refused (initial
  1,800 > equity 1,000): the taker is checked once, on the combined result (initial 900);
- all or none: a leg that cannot fill in full, a combined check that fails, a self-trade, or a
  maker whose fills across both legs do not fit (its checks count the fills planned before them)
  leaves book, balances, positions and order ids untouched, and says which leg;
- a maker the gate refuses is removed and the leg fills from the next maker, as in matching;
- isolated accounts: each leg's position is margined on its own and the main account must
  afford the sum of the top-ups;
- every bad input is refused with a reason (and the leg's index); journals replay.
"""

from __future__ import annotations

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import MAX_LEGS, Venue

USDC = Asset("USDC", 6)
M = 1_000_000
P, F = "BTC-PERP", "BTC-FUT"
BUY, SELL = Side.BUY, Side.SELL
IOC = TimeInForce.IOC
ROLL = [(P, BUY, 300, 30_000), (F, SELL, 300, 30_000)]


def venue(journal: JournalWriter | None = None, margined: bool = True) -> Venue:
    def contract(symbol: str) -> Instrument:
        return Instrument.create(
            symbol, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
        )

    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    margin = MarginConfig("USDC", ((P, schedule), (F, schedule))) if margined else None
    v = Venue(VenueConfig((USDC,), (contract(P), contract(F)), margin=margin), journal=journal)
    v.open_account(0, "mm")
    v.deposit(0, "mm", "USDC", "10000000")
    if margined:
        v.set_mark_price(0, P, 30_000)
        v.set_mark_price(0, F, 30_000)
    return v


def holder(v: Venue, name: str, cash: str, mode: str | None = None) -> None:
    v.open_account(1, name, mode)
    v.deposit(1, name, "USDC", cash)


def snapshot(v: Venue) -> tuple:
    return (
        {
            a.id: (dict(a.balances), {s: (p.size, p.cost) for s, p in a.positions.items()})
            for a in v.ledger.by_index
        },
        {s: (b.depth(50), sorted(b.orders)) for s, b in v.books.items()},
        v.next_order_id,
    )


def roll_setup(v: Venue) -> None:
    """alice: 1,000 USDC and long 0.3 BTC-FUT at 30,000 (initial 900); mm quotes both legs."""
    holder(v, "alice", "1000")
    v.submit(2, "mm", F, SELL, 300, 30_000)
    assert v.submit(3, "alice", F, BUY, 300, 30_000, tif=IOC).filled == 300
    v.submit(4, "mm", P, SELL, 300, 30_000)
    v.submit(4, "mm", F, BUY, 300, 30_000)


def test_a_roll_passes_as_one_order_where_its_opening_leg_alone_is_refused() -> None:
    v = venue()
    roll_setup(v)
    # the perpetual leg alone: long 0.3 PERP + long 0.3 FUT, initial 1,800 > equity 1,000
    alone = v.submit(5, "alice", P, BUY, 300, 30_000, tif=IOC)
    assert alone.filled == 0 and alone.reason is Reason.TAKER_RISK_REFUSED
    result = v.submit_legs(6, "alice", ROLL)
    assert result.accepted and [leg.filled for leg in result.legs] == [300, 300]
    alice = v.account("alice")
    assert alice.positions[P].size == 300 and alice.positions[F].size == 0
    # paid 9,000 for the future, received it back, paid 9,000 for the perpetual
    assert alice.balance("USDC") == (1_000 - 9_000) * M
    v._check()


def test_a_leg_that_cannot_fill_in_full_changes_nothing() -> None:
    v = venue()
    roll_setup(v)
    v.cancel(5, "mm", v.open_orders("mm")[-1].order_id)  # the future's bid
    v.submit(5, "mm", F, BUY, 200, 30_000)  # only 0.2 bid now
    before = snapshot(v)
    result = v.submit_legs(6, "alice", ROLL)
    assert (result.accepted, result.reason, result.leg) == (False, Reason.LEGS_UNFILLED, 1)
    assert snapshot(v) == before


def test_a_failing_combined_check_changes_nothing() -> None:
    v = venue()
    holder(v, "bob", "1000")
    v.submit(2, "mm", P, SELL, 300, 30_000)
    v.submit(2, "mm", F, BUY, 300, 30_000)
    before = snapshot(v)
    # a fresh hedge: each leg 900 of initial, 1,800 together > 1,000 (cross margin charges both)
    result = v.submit_legs(3, "bob", ROLL)
    assert (result.accepted, result.reason, result.leg) == (False, Reason.TAKER_RISK_REFUSED, None)
    assert snapshot(v) == before


def test_a_makers_checks_count_its_fills_in_earlier_legs() -> None:
    v = venue()
    holder(v, "alice", "100000")
    holder(v, "thin", "1000")
    # thin quotes both legs: each fill alone needs 900 of its 1,000; both need 1,800
    v.submit(2, "thin", P, SELL, 300, 30_000)
    v.submit(2, "thin", F, BUY, 300, 30_000)
    before = snapshot(v)
    result = v.submit_legs(3, "alice", ROLL)
    assert (result.accepted, result.reason, result.leg) == (False, Reason.LEGS_UNFILLED, 1)
    assert snapshot(v) == before  # the refused maker is not removed when nothing happens
    # with a second maker behind thin on the future, the order goes through and thin's bid is
    # removed, as matching would
    v.submit(4, "mm", F, BUY, 300, 30_000)
    result = v.submit_legs(5, "alice", ROLL)
    assert result.accepted
    assert result.legs[1].removed_makers == ((before[2] - 2 + 1, Reason.MAKER_RISK_REFUSED),)
    assert [f.maker_account for f in result.fills] == ["thin", "mm"]
    v._check()


def test_isolated_legs_are_margined_each_on_its_own() -> None:
    v = venue()
    holder(v, "iso", "1799.999999", "isolated")
    v.submit(2, "mm", P, SELL, 300, 30_000)
    v.submit(2, "mm", F, BUY, 300, 30_000)
    before = snapshot(v)
    # each position needs its own 900: one atom short of 1,800
    assert v.submit_legs(3, "iso", ROLL).reason is Reason.TAKER_RISK_REFUSED
    assert snapshot(v) == before
    v.deposit(4, "iso", "USDC", 1)
    assert v.submit_legs(5, "iso", ROLL).accepted
    assert v.account("iso").balance("USDC") == 0
    assert v.ledger.accounts["iso/BTC-PERP"].balance("USDC") == (900 - 9_000) * M
    assert v.ledger.accounts["iso/BTC-FUT"].balance("USDC") == (900 + 9_000) * M
    v._check()


def test_a_self_trade_refuses_the_whole_order() -> None:
    v = venue()
    roll_setup(v)
    v.submit(5, "alice", F, BUY, 100, 30_001)  # alice's own bid sits first on the future
    before = snapshot(v)
    result = v.submit_legs(6, "alice", ROLL)
    assert (result.reason, result.leg) == (Reason.SELF_TRADE, 1)
    assert snapshot(v) == before


def test_market_legs_and_a_venue_without_margin() -> None:
    v = venue(margined=False)
    holder(v, "alice", "1")
    v.submit(2, "mm", P, SELL, 300, 30_000)
    v.submit(2, "mm", F, BUY, 300, 30_000)
    # no trade yet: a market leg has no reference price
    assert v.submit_legs(3, "alice", [(P, BUY, 300, None)]).reason is Reason.NO_REFERENCE_PRICE
    v.submit(3, "mm", P, SELL, 1, 30_000)
    v.submit(3, "alice", P, BUY, 1, 30_000, tif=IOC)  # a trade: the reference price is 30,000
    result = v.submit_legs(4, "alice", [(P, BUY, "0.299", None), (F, SELL, 300, "30000")])
    assert result.accepted and [f.price for f in result.fills] == [30_000, 30_000]


@pytest.mark.parametrize(
    ("legs", "reason", "leg"),
    [
        ([], Reason.INVALID_LEGS, None),
        ("BTC-PERP", Reason.INVALID_LEGS, None),
        ([(P, BUY, 1, 30_000)] * (MAX_LEGS + 1), Reason.INVALID_LEGS, None),
        ([(P, BUY, 1)], Reason.INVALID_LEGS, 0),
        ([(P, BUY, 1, 30_000), ("ETH-PERP", BUY, 1, 2_000)], Reason.UNKNOWN_INSTRUMENT, 1),
        ([(P, BUY, 1, 30_000), (P, SELL, 1, 30_000)], Reason.DUPLICATE_LEG, 1),
        ([(P, 3, 1, 30_000)], Reason.INVALID_SIDE, 0),
        ([(P, BUY, 0, 30_000)], Reason.INVALID_SIZE, 0),
        ([(P, BUY, -5, 30_000)], Reason.INVALID_SIZE, 0),
        ([(P, BUY, "0.0001", 30_000)], Reason.SIZE_OFF_LOT, 0),
        ([(P, BUY, 1, "30000.5")], Reason.PRICE_OFF_TICK, 0),
        ([(P, BUY, 1, 0)], Reason.INVALID_PRICE, 0),
    ],
)
def test_bad_legs_are_refused_with_the_leg_and_change_nothing(
    legs: object, reason: Reason, leg: int | None
) -> None:
    journal = JournalWriter()
    v = venue(journal)
    roll_setup(v)
    before = snapshot(v)
    result = v.submit_legs(6, "alice", legs)
    assert (result.accepted, result.reason, result.leg) == (False, reason, leg)
    assert snapshot(v) == before
    _, events = read_journal(journal.getvalue())
    assert events[-1] == ([Ev.REJECTED, reason] if leg is None else [Ev.REJECTED, reason, leg])
    assert replay(journal.getvalue()).ok


def test_unknown_account_and_stale_time() -> None:
    v = venue()
    assert v.submit_legs(1, "nobody", ROLL).reason is Reason.UNKNOWN_ACCOUNT
    assert v.submit_legs(0, "mm", ROLL).reason is Reason.STALE_TIMESTAMP


def test_multi_leg_journals_replay() -> None:
    journal = JournalWriter()
    v = venue(journal)
    roll_setup(v)
    v.submit_legs(5, "alice", ROLL)
    v.submit_legs(6, "alice", [(P, SELL, 300, 30_000), (F, "x", 1, 1)])
    report = replay(journal.getvalue())
    assert report.ok, report.mismatch
    assert report.venue.account("alice").positions[P].size == 300
