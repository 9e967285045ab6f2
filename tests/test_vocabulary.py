"""The order vocabulary, with hand-checked outcomes.

Behaviours verified:
- FOK fills in full across levels, or is killed with FOK_UNFILLED leaving everything unchanged;
- post-only rests, is rejected when it would take, or slides one tick inside the spread on an
  instrument configured to reprice (REPRICED journaled);
- amend: size down keeps time priority; size up and price change lose it; a crossing amend
  fills; amending a filled/cancelled order is ORDER_CLOSED, an unknown one UNKNOWN_ORDER, an
  empty amend NOTHING_TO_AMEND, a stop CANNOT_AMEND; post-only amends never take;
- client order ids: unique per account among live orders, reusable once the order ends, usable
  for cancel and amend; invalid or doubly-named references refused;
- self-trade prevention: cancel-taker, cancel-maker, cancel-both, per order and per account;
  no self-trade ever prints;
- stops: stop-market and stop-limit trigger when the reference crosses the stop, journaled;
  already-triggered stops are refused; a burst triggers in the documented order; a cascade
  runs to the end; stops can be cancelled; external-price triggers;
- reduce-only: refused with no position or on the increasing side, capped to the position,
  trimmed or cancelled when the position changes while resting, and never flips a position
  even when the account's own fills change it mid-walk;
- spot pairs: base against quote between balances, fees in quote, no positions, conservation.
"""

from __future__ import annotations

from typing import Any

from exchange_sim.events import Ev
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.orders import OrderType, Reason, SelfTrade, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.stops import Trigger
from exchange_sim.venue import Venue
from tests.conftest import btc_perp, btc_spot, make_venue

BUY, SELL = Side.BUY, Side.SELL
P = "BTC-PERP"


def snapshot(venue: Venue) -> Any:
    return (
        {
            a.id: (dict(a.balances), {s: (p.size, p.cost) for s, p in a.positions.items()})
            for a in venue.ledger.by_index
        },
        {s: (b.depth(100), sorted(b.orders)) for s, b in venue.books.items()},
        {s: sorted(b.orders) for s, b in venue.stops.items()},
        dict(venue._client_ids),
    )


def events_of(journal: JournalWriter, *codes: Ev) -> list[list[Any]]:
    _, events = read_journal(journal.getvalue())
    return [e for e in events if e[0] in codes]


# ---------------------------------------------------------------- fill-or-kill


def test_fok_fills_in_full_across_levels(venue: Venue) -> None:
    venue.submit(1, "alice", P, SELL, 2, 100)
    venue.submit(1, "carol", P, SELL, 3, 101)
    result = venue.submit(2, "bob", P, BUY, 4, 101, tif=TimeInForce.FOK)
    assert [(f.price, f.lots) for f in result.fills] == [(100, 2), (101, 2)]
    assert result.remaining == 0 and result.reason is None and not result.resting
    venue._check()


def test_fok_killed_leaves_everything_unchanged(venue: Venue) -> None:
    venue.submit(1, "alice", P, SELL, 2, 100)
    venue.submit(1, "carol", P, SELL, 3, 102)  # beyond the limit
    before = snapshot(venue)
    result = venue.submit(2, "bob", P, BUY, 4, 101, tif=TimeInForce.FOK)
    assert result.accepted and result.fills == [] and result.reason is Reason.FOK_UNFILLED
    assert result.remaining == 4 and not result.resting
    assert snapshot(venue) == before
    venue._check()


def test_fok_counts_only_what_self_trade_prevention_lets_fill(venue: Venue) -> None:
    venue.submit(1, "bob", P, SELL, 2, 100)  # bob's own ask comes first
    venue.submit(1, "alice", P, SELL, 5, 100)
    before = snapshot(venue)
    # cancel-taker: matching would stop at bob's own order, so nothing can fill -> killed
    killed = venue.submit(2, "bob", P, BUY, 3, 100, tif=TimeInForce.FOK)
    assert killed.reason is Reason.FOK_UNFILLED and snapshot(venue) == before
    # cancel-maker: bob's ask would be cancelled and alice's 5 lots fill the 3
    filled = venue.submit(3, "bob", P, BUY, 3, 100, tif=TimeInForce.FOK, stp=SelfTrade.CANCEL_MAKER)
    assert [(f.maker_account, f.lots) for f in filled.fills] == [("alice", 3)]
    assert filled.removed_makers == ((1, Reason.SELF_TRADE),)
    venue._check()


def test_fok_counts_the_trims_its_own_fills_would_make_to_reduce_only_makers(venue: Venue) -> None:
    """alice is long 10 and rests a plain sell of 5 and a reduce-only sell of 10 behind it. A
    buy of 15 would first fill the plain 5, leaving alice long 5, which trims the reduce-only
    order to 5: only 10 can fill, so a fill-or-kill of 15 is killed (it used to fill 10 and
    cancel the rest, breaking all-or-none)."""
    venue.submit(1, "carol", P, SELL, 10, 100)
    venue.submit(1, "alice", P, BUY, 10, 100)  # alice long 10
    venue.submit(2, "alice", P, SELL, 5, 100)
    venue.submit(2, "alice", P, SELL, 10, 101, reduce_only=True)
    before = snapshot(venue)
    killed = venue.submit(3, "bob", P, BUY, 15, 101, tif=TimeInForce.FOK)
    assert killed.fills == [] and killed.reason is Reason.FOK_UNFILLED
    assert snapshot(venue) == before
    filled = venue.submit(4, "bob", P, BUY, 10, 101, tif=TimeInForce.FOK)
    assert [(f.price, f.lots) for f in filled.fills] == [(100, 5), (101, 5)]
    assert venue.account("alice").positions[P].size == 0
    venue._check()


# ---------------------------------------------------------------- post-only


def test_post_only_rests_or_is_rejected(venue: Venue) -> None:
    venue.submit(1, "alice", P, SELL, 2, 100)
    rests = venue.submit(2, "bob", P, BUY, 1, 99, tif=TimeInForce.POST_ONLY)
    assert rests.resting and rests.fills == []
    before = snapshot(venue)
    taking = venue.submit(3, "bob", P, BUY, 1, 100, tif=TimeInForce.POST_ONLY)
    assert not taking.accepted and taking.reason is Reason.POST_ONLY_WOULD_TAKE
    assert snapshot(venue) == before


def test_post_only_reprices_one_tick_inside_when_configured() -> None:
    journal = JournalWriter()
    venue = make_venue(btc_perp(post_only_reprice=True), journal=journal)
    venue.submit(1, "alice", P, SELL, 2, 100)
    venue.submit(1, "carol", P, BUY, 2, 90)
    buy = venue.submit(2, "bob", P, BUY, 1, 105, tif=TimeInForce.POST_ONLY)
    sell = venue.submit(3, "bob", P, SELL, 1, 80, tif=TimeInForce.POST_ONLY)
    assert buy.resting and sell.resting and buy.fills == sell.fills == []
    assert venue.find_order(buy.order_id).price == 99  # best ask 100 - 1 tick
    assert venue.find_order(sell.order_id).price == 100  # best bid (bob's own 99) + 1 tick
    assert events_of(journal, Ev.REPRICED) == [
        [Ev.REPRICED, buy.order_id, 99],
        [Ev.REPRICED, sell.order_id, 100],
    ]
    venue._check()


# ---------------------------------------------------------------- amend


def test_amend_size_down_keeps_priority_size_up_loses_it(venue: Venue) -> None:
    first = venue.submit(1, "alice", P, SELL, 5, 100)
    second = venue.submit(1, "carol", P, SELL, 5, 100)
    down = venue.amend(2, "alice", first.order_id, size=3)
    assert down.accepted and down.remaining == 3
    taker = venue.submit(3, "bob", P, BUY, 1, 100)
    assert taker.fills[0].maker_order_id == first.order_id  # still first in the queue
    up = venue.amend(4, "alice", first.order_id, size=4)
    assert up.accepted and up.resting and up.remaining == 4
    taker = venue.submit(5, "bob", P, BUY, 1, 100)
    assert taker.fills[0].maker_order_id == second.order_id  # alice went to the back
    assert venue.depth(P) == ([], [(100, 8)])
    venue._check()


def test_amend_price_loses_priority_and_may_fill(venue: Venue) -> None:
    a = venue.submit(1, "alice", P, SELL, 2, 101)
    venue.submit(1, "carol", P, SELL, 2, 100)
    bid = venue.submit(2, "bob", P, BUY, 3, 95)
    moved = venue.amend(3, "alice", a.order_id, price=100)
    assert moved.fills == [] and moved.resting  # behind carol at 100 now
    crossing = venue.amend(4, "bob", bid.order_id, price=100)
    assert [(f.maker_account, f.lots) for f in crossing.fills] == [("carol", 2), ("alice", 1)]
    assert crossing.remaining == 0 and not crossing.resting
    assert venue.depth(P) == ([], [(100, 1)])
    venue._check()


def test_amend_refusals_change_nothing(venue: Venue) -> None:
    filled = venue.submit(1, "alice", P, SELL, 1, 100)
    venue.submit(2, "bob", P, BUY, 1, 100)
    cancelled = venue.submit(3, "alice", P, SELL, 1, 105)
    venue.cancel(4, "alice", cancelled.order_id)
    live = venue.submit(5, "alice", P, SELL, 2, 110, tif=TimeInForce.POST_ONLY)
    venue.submit(5, "carol", P, BUY, 1, 90)
    stop = venue.submit(5, "alice", P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=80)
    before = snapshot(venue)
    cases = [
        (dict(order_id=filled.order_id, size=1), Reason.ORDER_CLOSED),
        (dict(order_id=cancelled.order_id, size=1), Reason.ORDER_CLOSED),
        (dict(order_id=999, size=1), Reason.UNKNOWN_ORDER),
        (dict(order_id=live.order_id), Reason.NOTHING_TO_AMEND),
        (dict(order_id=live.order_id, size=0), Reason.INVALID_SIZE),
        (dict(order_id=live.order_id, price="55.25"), Reason.PRICE_OFF_TICK),
        (dict(order_id=live.order_id, price=90), Reason.POST_ONLY_WOULD_TAKE),
        (dict(order_id=stop.order_id, size=2), Reason.CANNOT_AMEND),
        (dict(client_id="nope", size=1), Reason.UNKNOWN_ORDER),
        (dict(order_id=live.order_id, client_id="x", size=1), Reason.ORDER_ID_AND_CLIENT_ID),
    ]
    for fields, reason in cases:
        result = venue.amend(6, "alice", **fields)
        assert not result.accepted and result.reason is reason, fields
    other = venue.amend(6, "bob", live.order_id, size=1)
    assert other.reason is Reason.NOT_ORDER_OWNER
    assert snapshot(venue) == before
    venue._check()


# ---------------------------------------------------------------- client order ids


def test_client_ids_unique_per_account_reusable_and_usable(venue: Venue) -> None:
    first = venue.submit(1, "alice", P, SELL, 2, 100, client_id="quote-1")
    assert venue.submit(2, "alice", P, SELL, 1, 101, client_id="quote-1").reason is Reason.DUPLICATE_CLIENT_ID
    assert venue.submit(2, "bob", P, BUY, 1, 90, client_id="quote-1").accepted  # other account: fine
    assert venue.amend(3, "alice", client_id="quote-1", size=1).remaining == 1
    assert venue.cancel(4, "alice", client_id="quote-1").value == 1
    assert venue.find_order(first.order_id) is None
    again = venue.submit(5, "alice", P, SELL, 1, 100, client_id="quote-1")  # reusable once ended
    assert again.accepted
    venue.submit(6, "carol", P, BUY, 1, 100)  # fills it: the id is free again
    assert venue.submit(7, "alice", P, SELL, 1, 100, client_id="quote-1").accepted
    for bad in ("", "x" * 37, "é", 5, "tab\t"):
        assert venue.submit(8, "alice", P, SELL, 1, 100, client_id=bad).reason is Reason.INVALID_CLIENT_ID
    assert venue.cancel(9, "alice").reason is Reason.ORDER_ID_AND_CLIENT_ID
    venue._check()


# ---------------------------------------------------------------- self-trade prevention


def test_stp_cancel_taker_default(venue: Venue) -> None:
    own = venue.submit(1, "alice", P, SELL, 2, 100)
    result = venue.submit(2, "alice", P, BUY, 3, 100)
    assert result.fills == [] and result.reason is Reason.SELF_TRADE and result.remaining == 3
    assert venue.find_order(own.order_id) is not None
    venue._check()


def test_stp_cancel_maker_goes_on_matching(venue: Venue) -> None:
    own = venue.submit(1, "alice", P, SELL, 2, 100)
    venue.submit(1, "bob", P, SELL, 2, 100)
    result = venue.submit(2, "alice", P, BUY, 3, 100, stp=SelfTrade.CANCEL_MAKER)
    assert result.removed_makers == ((own.order_id, Reason.SELF_TRADE),)
    assert [(f.maker_account, f.lots) for f in result.fills] == [("bob", 2)]
    assert result.resting and result.remaining == 1
    venue._check()


def test_stp_cancel_both_and_account_default(venue: Venue) -> None:
    own = venue.submit(1, "alice", P, SELL, 2, 100)
    venue.submit(1, "bob", P, SELL, 2, 100)
    assert venue.set_self_trade_prevention(2, "alice", SelfTrade.CANCEL_BOTH).ok
    result = venue.submit(3, "alice", P, BUY, 3, 100)
    assert result.removed_makers == ((own.order_id, Reason.SELF_TRADE),)
    assert result.fills == [] and result.reason is Reason.SELF_TRADE
    assert venue.depth(P) == ([], [(100, 2)])
    assert venue.set_self_trade_prevention(4, "alice", 9).reason is Reason.INVALID_SELF_TRADE_MODE
    venue._check()


def test_no_self_trade_ever_prints() -> None:
    journal = JournalWriter()
    venue = make_venue(journal=journal)
    for mode in SelfTrade:
        venue.submit(1, "alice", P, SELL, 2, 100)
        venue.submit(1, "alice", P, BUY, 2, 100, stp=mode)
        venue.submit(1, "alice", P, BUY, 2, order_type=OrderType.MARKET, stp=mode)
    assert replay(journal.getvalue()).ok
    assert events_of(journal, Ev.FILL) == []
    assert "BTC-PERP" not in venue.account("alice").positions


# ---------------------------------------------------------------- stops


def test_stop_market_and_stop_limit_trigger_on_last_trade() -> None:
    journal = JournalWriter()
    venue = make_venue(journal=journal)
    venue.submit(1, "alice", P, SELL, 10, 105)
    buy_stop = venue.submit(2, "bob", P, BUY, 2, order_type=OrderType.STOP_MARKET, stop_price=104)
    limit_stop = venue.submit(2, "bob", P, BUY, 1, 106, order_type=OrderType.STOP_LIMIT, stop_price=105)
    assert buy_stop.stop_pending and not buy_stop.resting and limit_stop.stop_pending
    venue.submit(3, "carol", P, BUY, 1, 103)  # no trade: nothing triggers
    assert len(venue.stops[P]) == 2
    venue.submit(4, "carol", P, BUY, 1, 105)  # trades at 105: both stops trigger
    assert len(venue.stops[P]) == 0
    # lowest buy stop first: 104 (market, band limit 105 x 1.05 = 110.25 -> 110), then 105 (limit 106)
    assert [e[1] for e in events_of(journal, Ev.TRIGGERED)] == [buy_stop.order_id, limit_stop.order_id]
    assert [e[1:] for e in events_of(journal, Ev.REPRICED)] == [[buy_stop.order_id, 110]]
    assert venue.account("bob").positions[P].size == 3
    assert replay(journal.getvalue()).ok
    venue._check()


def test_stop_refusals(venue: Venue) -> None:
    venue.submit(1, "alice", P, SELL, 1, 100)
    venue.submit(1, "bob", P, BUY, 1, 100)  # last trade 100
    before = snapshot(venue)
    cases = [
        (dict(side=BUY, order_type=OrderType.STOP_MARKET, stop_price=100), Reason.STOP_WOULD_TRIGGER),
        (dict(side=SELL, order_type=OrderType.STOP_MARKET, stop_price=101), Reason.STOP_WOULD_TRIGGER),
        (dict(side=BUY, order_type=OrderType.STOP_MARKET), Reason.INVALID_STOP_PRICE),
        (dict(side=BUY, order_type=OrderType.STOP_MARKET, stop_price=0), Reason.INVALID_STOP_PRICE),
        (dict(side=BUY, price=100, stop_price=120), Reason.INVALID_STOP_PRICE),
        (dict(side=BUY, order_type=OrderType.STOP_MARKET, stop_price=120, trigger=7), Reason.INVALID_TRIGGER),
        (dict(side=BUY, order_type=OrderType.STOP_LIMIT, stop_price=120), Reason.INVALID_PRICE),
    ]
    for fields, reason in cases:
        result = venue.submit(2, "carol", P, size=1, **fields)
        assert not result.accepted and result.reason is reason, fields
    assert snapshot(venue) == before


def test_burst_of_sell_stops_in_documented_order() -> None:
    journal = JournalWriter()
    venue = make_venue(journal=journal, accounts=("alice", "bob", "carol", "dave"))
    venue.submit(1, "alice", P, SELL, 1, 100)
    venue.submit(1, "bob", P, BUY, 1, 100)  # last trade 100
    venue.submit(2, "alice", P, BUY, 50, 80)  # deep bid: the stops fill against it
    ids = {}
    for name, stop in (("s95a", 95), ("s97", 97), ("s95b", 95), ("s90", 90)):
        account = "carol" if name != "s95b" else "dave"
        ids[name] = venue.submit(
            3, account, P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=stop
        ).order_id
    venue.submit(4, "dave", P, BUY, 1, 89)  # the best bid
    venue.submit(5, "bob", P, SELL, 2, 89)  # one lot trades at 89: every stop (97, 95, 95, 90) triggers
    triggered = [e[1] for e in events_of(journal, Ev.TRIGGERED)]
    # highest sell stop first (97), then 95 by placement (a before b), then 90
    assert triggered == [ids["s97"], ids["s95a"], ids["s95b"], ids["s90"]]
    venue._check()


def test_stop_cascade_runs_to_the_end() -> None:
    venue = make_venue(btc_perp(maker_fee_ppm=0, taker_fee_ppm=0), accounts=("a", "b", "c", "d", "e"))
    venue.submit(1, "a", P, SELL, 1, 100)
    venue.submit(1, "b", P, BUY, 1, 100)  # last 100
    venue.submit(2, "a", P, BUY, 1, 98)
    venue.submit(2, "a", P, BUY, 1, 96)
    venue.submit(2, "a", P, BUY, 1, 94)
    # each stop's fill trades at the next bid down, which triggers the next stop
    venue.submit(3, "c", P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=98)
    venue.submit(3, "d", P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=96)
    venue.submit(3, "e", P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=94)
    venue.submit(4, "b", P, SELL, 1, 98)  # trades 98 -> c sells at 96 -> d at 94 -> e finds no bid
    assert venue.last_trade.reference_price(P) == 94
    assert {n: venue.account(n).position(P).size for n in "cde"} == {"c": -1, "d": -1, "e": 0}
    assert len(venue.stops[P]) == 0
    venue._check()


def test_cancel_stop_and_external_trigger() -> None:
    from exchange_sim.config import ReferenceSource

    venue = make_venue(reference=ReferenceSource.EXTERNAL)
    venue.set_reference_price(1, P, 100)
    venue.submit(1, "alice", P, SELL, 5, 100)
    kept = venue.submit(
        2, "bob", P, BUY, 1, order_type=OrderType.STOP_MARKET, stop_price=102, trigger=Trigger.EXTERNAL
    )
    gone = venue.submit(
        2, "bob", P, BUY, 1, order_type=OrderType.STOP_MARKET, stop_price=103, trigger=Trigger.EXTERNAL
    )
    assert venue.cancel(3, "bob", gone.order_id).value == 1
    venue.set_reference_price(4, P, 102)
    assert venue.account("bob").positions[P].size == 1
    assert venue.cancel(5, "bob", kept.order_id).reason is Reason.ORDER_CLOSED
    venue._check()


# ---------------------------------------------------------------- reduce-only


def test_reduce_only_refused_capped_trimmed_and_cancelled() -> None:
    journal = JournalWriter()
    venue = make_venue(btc_perp(maker_fee_ppm=0, taker_fee_ppm=0), journal=journal)
    assert (
        venue.submit(1, "bob", P, SELL, 1, 100, reduce_only=True).reason is Reason.REDUCE_ONLY_WOULD_INCREASE
    )
    venue.submit(1, "alice", P, SELL, 5, 100)
    venue.submit(2, "bob", P, BUY, 5, 100)  # bob long 5
    assert venue.submit(3, "bob", P, BUY, 1, 90, reduce_only=True).reason is Reason.REDUCE_ONLY_WOULD_INCREASE
    capped = venue.submit(3, "bob", P, SELL, 8, 110, reduce_only=True)  # capped to 5, rests
    assert capped.resting and capped.remaining == 5
    assert [e[1:] for e in events_of(journal, Ev.TRIMMED)] == [[capped.order_id, Reason.REDUCE_ONLY, 5]]
    newer = venue.submit(4, "bob", P, SELL, 2, 111, reduce_only=True)  # 5 + 2 > 5: newest trimmed to 0
    assert newer.accepted and venue.find_order(newer.order_id) is None
    # bob sells 3 elsewhere: his position is 2, so the resting reduce-only order shrinks to 2
    venue.submit(5, "carol", P, BUY, 3, 100)
    venue.submit(5, "bob", P, SELL, 3, 100)
    assert venue.find_order(capped.order_id).remaining == 2
    # bob sells the last 2: flat, so the reduce-only order is cancelled
    venue.submit(6, "carol", P, BUY, 2, 100)
    venue.submit(6, "bob", P, SELL, 2, 100)
    assert venue.find_order(capped.order_id) is None
    ended = [e for e in events_of(journal, Ev.ENDED) if e[2] == Reason.REDUCE_ONLY]
    assert [e[1] for e in ended] == [newer.order_id, capped.order_id]
    assert replay(journal.getvalue()).ok
    venue._check()


def test_reduce_only_never_flips_when_own_fill_changes_position_mid_walk() -> None:
    venue = make_venue(btc_perp(maker_fee_ppm=0, taker_fee_ppm=0))
    venue.submit(1, "carol", P, BUY, 5, 100)
    venue.submit(1, "alice", P, SELL, 5, 100)  # alice short 5
    venue.submit(2, "alice", P, BUY, 3, 90, reduce_only=True)  # reduce-only bid (older)
    venue.submit(3, "alice", P, BUY, 4, 95)  # ordinary bid at a better price
    taker = venue.submit(4, "bob", P, SELL, 7, 90, tif=TimeInForce.IOC)
    # 4 fill at 95 (alice now short 1), so only 1 of the reduce-only 3 may fill
    assert [(f.price, f.lots) for f in taker.fills] == [(95, 4), (90, 1)]
    assert venue.account("alice").positions[P].size == 0
    assert taker.remaining == 2 and taker.reason is Reason.IOC_REMAINDER
    venue._check()


def test_reduce_only_not_on_spot() -> None:
    venue = make_venue(btc_spot())
    result = venue.submit(1, "alice", "BTC-USDC", SELL, 1, 100, reduce_only=True)
    assert result.reason is Reason.REDUCE_ONLY_NOT_ALLOWED


# ---------------------------------------------------------------- spot


def test_spot_fill_exchanges_base_for_quote() -> None:
    journal = JournalWriter()
    venue = make_venue(btc_spot(), journal=journal)
    assert venue.deposit(0, "alice", "BTC", "1").ok
    venue.submit(1, "alice", "BTC-USDC", SELL, "0.25", "30000")
    result = venue.submit(2, "bob", "BTC-USDC", BUY, "0.1", "30000.5")
    (fill,) = result.fills
    # 100 lots at 60,000 ticks: quote 60,000 x 100 x 500 = 3,000,000,000 atoms (3,000 USDC);
    # base 100 lots x 100,000 sat = 10,000,000 sat (0.1 BTC); taker fee 0.05% = 1,500,000 atoms;
    # maker rebate 0.01% = 300,000 atoms
    assert (fill.lots, fill.price, fill.taker_fee, fill.maker_fee) == (100, 60_000, 1_500_000, -300_000)
    start = 1_000_000 * 1_000_000
    alice, bob = venue.account("alice"), venue.account("bob")
    assert alice.balance("USDC") == start + 3_000_000_000 + 300_000
    assert alice.balance("BTC") == 100_000_000 - 10_000_000
    assert bob.balance("USDC") == start - 3_000_000_000 - 1_500_000
    assert bob.balance("BTC") == 10_000_000
    assert alice.positions == {} and bob.positions == {}
    for asset in ("USDC", "BTC"):
        assert venue.ledger.totals(asset) == venue.ledger.deposited[asset]
    assert replay(journal.getvalue()).ok
    venue._check()


def test_bad_vocabulary_input_changes_nothing(venue: Venue) -> None:
    """Duplicate client id, reduce-only with no position, and other refusals leave no trace."""
    venue.submit(1, "alice", P, SELL, 2, 100, client_id="a1")
    venue.submit(1, "bob", P, BUY, 1, 90, tif=TimeInForce.POST_ONLY)
    before = snapshot(venue)
    cases = [
        (dict(account="alice", client_id="a1"), Reason.DUPLICATE_CLIENT_ID),
        (dict(account="carol", reduce_only=True), Reason.REDUCE_ONLY_WOULD_INCREASE),
        (dict(account="carol", reduce_only="yes"), Reason.INVALID_REDUCE_ONLY),
        (dict(account="carol", stp=7), Reason.INVALID_SELF_TRADE_MODE),
        (dict(account="carol", price=100, tif=TimeInForce.POST_ONLY), Reason.POST_ONLY_WOULD_TAKE),
        (
            dict(account="carol", order_type=OrderType.MARKET, price=None, tif=TimeInForce.POST_ONLY),
            Reason.INVALID_TIME_IN_FORCE,
        ),
    ]
    for fields, reason in cases:
        args: dict = dict(side=BUY, size=1, price=95)
        args.update(fields)
        account = args.pop("account")
        result = venue.submit(2, account, P, **args)
        assert not result.accepted and result.reason is reason, fields
        assert snapshot(venue) == before, fields
    assert venue.cancel(3, "alice", client_id="zz").reason is Reason.UNKNOWN_ORDER
    assert venue.cancel(3, "bob", client_id="a1").reason is Reason.UNKNOWN_ORDER  # client ids are per account
    assert snapshot(venue) == before
    venue._check()
