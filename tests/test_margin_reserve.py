"""The ``"reserve"`` order-placement policy (Binance/BitMEX-style order margin), hand-checked.

BTC-PERP here: tick 1 USDC, lot 0.001 BTC, so one tick on one lot is 1,000 USDC atoms, a price
in ticks is a price in USDC, and L lots at price P have a notional of P x L / 1,000 USDC. One
bracket unless a test says otherwise: maintenance 5%, initial 10%. No fees. alice starts with
1,000 USDC, bob with 10,000, the market maker "mm" with 10,000,000. Mark 30,000 unless a test
moves it. Each side's reservation (``exchange_sim/margin/reserve.py``) is
``IM(held + opened part at the average limit price) - IM(held) + open loss``, and an account
reserves the worse side, ``max(0, r_buy, r_sell)``; free collateral is
``equity - initial - reserved``.

Behaviours verified:
- a resting buy below the mark reserves initial margin on its notional at its limit price; an
  order that would take the reservation beyond free collateral is refused with
  ``INSUFFICIENT_MARGIN`` and changes nothing but the journal (the exact boundary fits);
- only the worse side is reserved: resting buys and sells reserve max(buy, sell), not the sum;
- open loss: a buy resting above the mark (or a sell below it) also reserves the difference
  to the mark on its size;
- orders that only reduce the position reserve nothing; a larger one reserves its excess,
  valued at the side's average limit price;
- cancelling releases a reservation; a fill converts it into position margin (valued at the
  mark), and what still rests is reserved;
- an order that does not raise the account's reservation is accepted even below the
  free-collateral line (an account whose equity is under its initial margin);
- amend is re-checked with the new order *replacing* the old one's share; a refused amend leaves
  the order exactly as it was (price, size, time priority);
- withdrawals must leave the reservation covered, and succeed once the order is cancelled;
- ``explain(...).reserved`` and ``.free_collateral`` show the same numbers;
- ``ExposureBook._check`` (through ``Venue._check``) holds after add / partial fill / full fill
  / amend / cancel;
- a stop-limit order is checked when it triggers; one the reservation cannot cover ends with
  ``INSUFFICIENT_MARGIN`` (it is never placed on the book);
- an isolated account's reservation is charged to its main account's collateral;
- with two bands, a large resting order is charged at the higher band's rate;
- a margin transfer into an isolated position must leave the main account's reservation covered
  (a regression test: it was once checked against zero, not the reservation);
- property: after random place / amend / cancel / partial fill / mark moves, the gate's
  reservation equals one recomputed here from the open orders and the position, and each
  placement decision matches the rule written out here.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.explain import explain
from exchange_sim.orders import Order, OrderType, Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
M = 1_000_000  # atoms per USDC
P = "BTC-PERP"
APL = 1_000  # atoms per tick per lot
BUY, SELL = Side.BUY, Side.SELL
IOC = TimeInForce.IOC
PERP = Instrument.create(
    P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
)
ONE_BAND = BracketSchedule.create([Bracket(0, 50_000, 100_000)])  # maintenance 5%, initial 10%
FLOOR = 10_000 * M  # second band from 10,000 USDC of notional
TWO_BANDS = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(FLOOR, 100_000, 200_000)])


def venue(
    alice: str = "1000",
    schedule: BracketSchedule = ONE_BAND,
    journal: JournalWriter | None = None,
    alice_mode: str | None = None,
) -> Venue:
    """A reserve-policy venue: alice (``alice`` USDC, optionally ``"isolated"``), bob 10,000 USDC,
    mm 10,000,000 USDC; mark 30,000."""
    margin = MarginConfig("USDC", ((P, schedule),), placement="reserve")
    v = Venue(VenueConfig((USDC,), (PERP,), margin=margin), journal=journal)
    assert v.open_account(0, "alice", alice_mode).ok
    assert v.deposit(0, "alice", "USDC", alice).ok
    for name, cash in (("bob", "10000"), ("mm", "10000000")):
        assert v.open_account(0, name).ok
        assert v.deposit(0, name, "USDC", cash).ok
    assert v.set_mark_price(0, P, 30_000).ok
    return v


def reserved(v: Venue, account: str = "alice") -> int:
    return v.gate.reserved(account)  # type: ignore[attr-defined]


def usdc(v: Venue, account: str = "alice") -> int:
    return v.account(account).balance("USDC")


def _resting(v: Venue, account: str = "alice") -> list[tuple[int, int, int, int]]:
    return [(o.order_id, o.price, o.remaining, o.seq) for o in v.open_orders(account)]


def test_resting_buy_reserves_initial_margin_and_an_order_beyond_free_collateral_is_refused() -> None:
    journal = JournalWriter()
    v = venue(journal=journal)
    first = v.submit(1, "alice", P, BUY, 200, 29_000)
    assert first.resting
    # 0.2 BTC at 29,000 = 5,800 USDC at the limit price; 10% = 580. Below the mark: no open loss.
    assert reserved(v) == 580 * M
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (1_000 * M, 0, 580 * M, 420 * M)
    # 0.151 BTC more at 28,000 = 4,228 USDC: the buy side then holds 5,800 + 4,228 = 10,028,
    # reserving 1,002.8 > 1,000 of equity above initial margin: refused
    depth, orders = v.depth(P), _resting(v)
    balances = {name: usdc(v, name) for name in ("alice", "bob", "mm")}
    events_before = len(read_journal(journal.getvalue())[1])
    refused = v.submit(2, "alice", P, BUY, 151, 28_000)
    assert not refused.accepted and refused.reason is Reason.INSUFFICIENT_MARGIN
    assert v.depth(P) == depth and _resting(v) == orders
    assert {name: usdc(v, name) for name in ("alice", "bob", "mm")} == balances
    assert reserved(v) == 580 * M and v.next_order_id == 2  # no order id was used
    new = read_journal(journal.getvalue())[1][events_before:]
    assert [e[0] for e in new] == [Ev.SUBMIT, Ev.REJECTED]
    assert new[1] == [Ev.REJECTED, Reason.INSUFFICIENT_MARGIN]
    # 0.15 BTC = 4,200: 10,000 in all, reserving exactly 1,000 = free collateral: accepted
    assert v.submit(3, "alice", P, BUY, 150, 28_000).resting
    assert reserved(v) == 1_000 * M and explain(v, "alice").free_collateral == 0
    v._check()
    assert replay(journal.getvalue()).ok  # the policy is in the header: replay refuses the same


def test_only_the_worse_side_is_reserved() -> None:
    v = venue()
    v.submit(1, "alice", P, BUY, 200, 29_000)  # buy side 5,800 -> 580
    assert v.submit(2, "alice", P, SELL, 100, 31_000).resting  # sell side 3,100 -> 310
    assert reserved(v) == 580 * M  # max(580, 310), not 890
    # 0.15 more at 31,000: the sell side is 0.25 x 31,000 = 7,750 -> 775. The sum (1,355) would
    # not fit in 1,000; the worse side does.
    assert v.submit(3, "alice", P, SELL, 150, 31_000).resting
    assert reserved(v) == 775 * M
    e = explain(v, "alice")
    assert (e.reserved, e.free_collateral) == (775 * M, 225 * M)
    # a buy that keeps the buy side under the sell side's 775 costs nothing more: 0.001 at
    # 29,000 makes it 5,829 -> 582.9 < 775
    assert v.submit(4, "alice", P, BUY, 1, 29_000).resting
    assert reserved(v) == 775 * M
    # one that lifts it above: 5,829 + 2,900 = 8,729 -> 872.9 > 775 is charged (fits in 1,000)
    assert v.submit(5, "alice", P, BUY, 100, 29_000).resting
    assert reserved(v) == 872_900_000
    v._check()


def test_open_loss_of_a_buy_above_the_mark_and_a_sell_below_it() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 1_000, 31_000)  # best ask 31,000: a buy at 30,500 rests
    assert v.submit(2, "alice", P, BUY, 100, 30_500).resting
    # initial 10% of 3,050 = 305, plus the open loss (30,500 - 30,000) x 0.1 = 50: 355
    assert reserved(v) == 355 * M
    assert explain(v, "alice").free_collateral == 645 * M
    v.cancel(3, "alice", 2)
    assert reserved(v) == 0
    # 0.282 BTC at 30,500: 860.1 + 282 x 0.5 = 141 -> 1,001.1 > 1,000: refused (without the open
    # loss, 860.1 would fit); 0.281: 857.05 + 140.5 = 997.55 fits
    assert v.submit(4, "alice", P, BUY, 282, 30_500).reason is Reason.INSUFFICIENT_MARGIN
    assert v.submit(5, "alice", P, BUY, 281, 30_500).resting
    assert reserved(v) == 997_550_000
    v._check()
    # the mirror image: a sell at 29,500 resting above mm's bid of 29,000, below the mark
    w = venue()
    w.submit(1, "mm", P, BUY, 1_000, 29_000)
    assert w.submit(2, "alice", P, SELL, 100, 29_500).resting
    assert reserved(w) == (295 + 50) * M  # 10% of 2,950, plus (30,000 - 29,500) x 0.1
    # when the mark moves, so does the open loss: at 29,000 the sell is above it
    w.set_mark_price(3, P, 29_000)
    assert reserved(w) == 295 * M
    w._check()


def _long_200(v: Venue) -> None:
    """alice buys 0.2 BTC at 30,000: balance 1,000 - 6,000 = -5,000 USDC; at mark 30,000 equity
    1,000, initial 600, 400 above it."""
    v.submit(1, "mm", P, SELL, 200, 30_000)
    assert v.submit(2, "alice", P, BUY, 200, 30_000).filled == 200
    assert usdc(v) == -5_000 * M and reserved(v) == 0


def test_orders_that_reduce_the_position_reserve_nothing() -> None:
    v = venue()
    _long_200(v)
    # a sell of the whole long only closes it: nothing reserved
    assert v.submit(3, "alice", P, SELL, 200, 31_000).resting
    assert reserved(v) == 0
    # 0.1 more at 31,000: the sell side holds 0.3 (9,300 USDC), 0.1 of which opens a short,
    # valued at the average sell price: 9,300 x 1/3 = 3,100 -> 310 (fits in 400)
    assert v.submit(4, "alice", P, SELL, 100, 31_000).resting
    assert reserved(v) == 310 * M
    # 0.1 more at 32,000: 0.4 held (12,500), 0.2 opening: 12,500 x 2/4 = 6,250 -> 625 > 400
    assert v.submit(5, "alice", P, SELL, 100, 32_000).reason is Reason.INSUFFICIENT_MARGIN
    # a buy adds to the long held at the mark: IM(6,000 + 2,900) - IM(6,000) = 890 - 600 = 290,
    # under the sell side's 310: the account still reserves 310
    assert v.submit(6, "alice", P, BUY, 100, 29_000).resting
    assert reserved(v) == 310 * M
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (1_000 * M, 600 * M, 310 * M, 90 * M)
    v._check()


def test_cancel_releases_and_a_fill_converts_the_reservation() -> None:
    v = venue()
    v.submit(1, "alice", P, BUY, 200, 29_000)  # id 1
    v.submit(2, "alice", P, BUY, 100, 28_000)  # id 2: buy side 5,800 + 2,800 = 8,600 -> 860
    assert reserved(v) == 860 * M
    assert v.cancel(3, "alice", 2).ok
    assert reserved(v) == 580 * M
    # mm sells 0.1 into order 1: alice is long 0.1 bought at 29,000, balance -1,900. At the mark
    # 30,000: equity -1,900 + 3,000 = 1,100, initial 300 (10% of 3,000). What still rests, 0.1 at
    # 29,000, adds to a long of 3,000: IM(3,000 + 2,900) - IM(3,000) = 590 - 300 = 290.
    assert v.submit(4, "mm", P, SELL, 100, 29_000, tif=IOC).filled == 100
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (1_100 * M, 300 * M, 290 * M, 510 * M)
    # the rest fills: long 0.2, balance -4,800, equity 1,200, initial 600, nothing rests
    assert v.submit(5, "mm", P, SELL, 100, 29_000, tif=IOC).filled == 100
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (1_200 * M, 600 * M, 0, 600 * M)
    assert "alice" not in v.books[P].exposure  # type: ignore[attr-defined]
    v._check()


def test_an_order_that_does_not_raise_the_reservation_is_accepted_below_the_line() -> None:
    v = venue()
    _long_200(v)
    # a resting buy 0.1 at 26,000 adds to the long: IM(6,000 + 2,600) - IM(6,000) = 260 (fits 400)
    assert v.submit(3, "alice", P, BUY, 100, 26_000).resting
    assert reserved(v) == 260 * M
    # the mark falls to 27,000: equity -5,000 + 5,400 = 400 < initial 540. The buy still
    # reserves IM(5,400 + 2,600) - IM(5,400) = 800 - 540 = 260 (no open loss: 26,000 < mark).
    v.set_mark_price(4, P, 27_000)
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (400 * M, 540 * M, 260 * M, -400 * M)
    # selling the long (0.2 at 28,000, no bids) reserves nothing: accepted
    assert v.submit(5, "alice", P, SELL, 200, 28_000).resting
    # 0.05 more: the sell side holds 0.25 (7,000), 0.05 of it opening: 7,000 / 5 = 1,400 -> 140,
    # under the buy side's 260: the reservation does not rise, accepted
    assert v.submit(6, "alice", P, SELL, 50, 28_000).resting
    assert reserved(v) == 260 * M
    # 0.05 more again: 0.3 held (8,400), 0.1 opening: 2,800 -> 280 > 260 raises it: refused
    assert v.submit(7, "alice", P, SELL, 50, 28_000).reason is Reason.INSUFFICIENT_MARGIN
    # one more lot on the buy side: IM(5,400 + 2,626) - 540 = 802.6 - 540 = 262.6 > 260: refused
    assert v.submit(8, "alice", P, BUY, 1, 26_000).reason is Reason.INSUFFICIENT_MARGIN
    assert reserved(v) == 260 * M
    assert [o.order_id for o in v.open_orders("alice")] == [3, 4, 5]  # ids 1, 2: the opening trade
    v._check()


def _state(order: Order) -> tuple[int, int, int, Side]:
    return order.price, order.remaining, order.seq, order.side


def test_amend_is_rechecked_replacing_the_old_order_and_a_refused_amend_changes_nothing() -> None:
    v = venue()
    a1 = v.submit(1, "alice", P, BUY, 200, 29_000).order_id  # 5,800 -> 580
    assert a1 is not None
    v.submit(2, "bob", P, BUY, 100, 29_000)  # behind alice at 29,000
    level = v.books[P].bids[29_000]
    assert [o.account for o in level.orders()] == ["alice", "bob"]
    order = v.find_order(a1)
    assert order is not None
    before = _state(order)
    # 0.4 BTC: 11,600 -> 1,160 > 1,000: refused, and the order is exactly as it was
    assert v.amend(3, "alice", a1, size=400).reason is Reason.INSUFFICIENT_MARGIN
    assert v.find_order(a1) is order and _state(order) == before
    assert [o.account for o in v.books[P].bids[29_000].orders()] == ["alice", "bob"]  # still first
    assert reserved(v) == 580 * M
    # 0.3 BTC: 8,700 -> 870 replaces the 580 (adding them, 1,450, would not fit): accepted
    amended = v.amend(4, "alice", a1, size=300)
    assert amended.accepted and amended.resting and reserved(v) == 870 * M
    # a larger size queues again, behind bob
    assert [o.account for o in v.books[P].bids[29_000].orders()] == ["bob", "alice"]
    before = _state(order)
    # a new price above the mark: at 30,400, 10% of 9,120 = 912 plus the open loss 400 x 0.3 =
    # 120: 1,032 > 1,000, refused; at 30,300: 909 + 90 = 999, accepted
    assert v.amend(5, "alice", a1, price=30_400).reason is Reason.INSUFFICIENT_MARGIN
    assert _state(order) == before and reserved(v) == 870 * M
    assert v.amend(6, "alice", a1, price=30_300).resting
    assert (order.price, order.remaining) == (30_300, 300) and reserved(v) == 999 * M
    # a smaller size at the same price is not re-checked (it cannot raise the reservation)
    assert v.amend(7, "alice", a1, size=100).resting
    assert reserved(v) == (303 + 30) * M  # 10% of 3,030 plus 300 x 0.1
    v._check()


def test_withdrawals_keep_the_reservation_covered() -> None:
    v = venue()
    v.submit(1, "alice", P, BUY, 200, 29_000)  # 580 reserved: 420 may leave
    assert v.withdraw(2, "alice", "USDC", "420.000001").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.withdraw(3, "alice", "USDC", "420").ok
    assert usdc(v) == 580 * M and explain(v, "alice").free_collateral == 0
    assert v.withdraw(4, "alice", "USDC", 1).reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.cancel(5, "alice", 1).ok
    assert v.withdraw(6, "alice", "USDC", "580").ok
    assert usdc(v) == 0
    v._check()


def test_exposure_book_stays_in_step_through_add_fill_amend_cancel() -> None:
    v = venue()
    exposure = v.books[P].exposure  # type: ignore[attr-defined]
    steps = [
        # (action, alice's [buy lots, buy ticks x lots, sell lots, sell ticks x lots], reserved USDC)
        (lambda: v.submit(1, "alice", P, BUY, 200, 29_000), [200, 5_800_000, 0, 0], 580),
        (lambda: v.submit(2, "alice", P, SELL, 100, 31_000), [200, 5_800_000, 100, 3_100_000], 580),
        # partial fill of the buy: long 0.05, balance -1,450. Buy side: IM(1,500 + 4,350) -
        # IM(1,500) = 585 - 150 = 435; sell side: half of it closes the long, half opens:
        # 3,100 / 2 = 1,550 -> 155
        (lambda: v.submit(3, "mm", P, SELL, 50, 29_000, tif=IOC), [150, 4_350_000, 100, 3_100_000], 435),
        # full fill: long 0.2; the sell of 0.1 only reduces it
        (lambda: v.submit(4, "mm", P, SELL, 150, 29_000, tif=IOC), [0, 0, 100, 3_100_000], 0),
        # amend to 0.3: 9,300 at 31,000, 0.1 of it opening: 3,100 -> 310 (fits in 1,200 - 600)
        (lambda: v.amend(5, "alice", 2, size=300), [0, 0, 300, 9_300_000], 310),
        (lambda: v.cancel(6, "alice", 2), None, 0),
    ]
    for action, expected, reserve in steps:
        result = action()
        assert getattr(result, "accepted", getattr(result, "ok", None))
        assert exposure.get("alice") == expected
        assert reserved(v) == reserve * M
        v._check()
    assert v.position_of("alice", P).size == 200  # type: ignore[union-attr]


def test_stop_limit_is_checked_when_it_triggers() -> None:
    journal = JournalWriter()
    v = venue(journal=journal)
    # stops reserve nothing while they wait
    big = v.submit(1, "alice", P, BUY, 300, 30_600, OrderType.STOP_LIMIT, stop_price=30_500).order_id
    assert v.stop_orders("alice") and reserved(v) == 0
    v.submit(2, "mm", P, SELL, 100, 30_500)
    events_before = len(read_journal(journal.getvalue())[1])
    # a trade at 30,500 triggers the stop. It would rest (no asks left) at 30,600 over a mark of
    # 30,000: 10% of 9,180 = 918 plus the open loss 600 x 0.3 = 180: 1,098 > 1,000
    assert v.submit(3, "bob", P, BUY, 100, 30_500).filled == 100
    new = read_journal(journal.getvalue())[1][events_before:]
    assert new[-2:] == [[Ev.TRIGGERED, big], [Ev.ENDED, big, Reason.INSUFFICIENT_MARGIN, 300]]
    assert v.find_order(big) is None and not v.stop_orders("alice") and v.open_orders("alice") == []
    assert reserved(v) == 0 and usdc(v) == 1_000 * M
    # 0.2 BTC: 612 + 120 = 732 fits, and rests after its trigger
    small = v.submit(4, "alice", P, BUY, 200, 30_600, OrderType.STOP_LIMIT, stop_price=30_600).order_id
    v.submit(5, "mm", P, SELL, 100, 30_600)
    v.submit(6, "bob", P, BUY, 100, 30_600)
    assert [o.order_id for o in v.open_orders("alice")] == [small]
    assert reserved(v) == 732 * M
    v._check()


def test_isolated_account_reserves_against_its_main_account() -> None:
    v = venue(alice_mode="isolated")
    assert v.margin_mode("alice") == "isolated"
    v.submit(1, "alice", P, BUY, 200, 29_000)
    e = explain(v, "alice")
    assert (e.mode, e.equity, e.reserved, e.free_collateral) == ("isolated", 1_000 * M, 580 * M, 420 * M)
    # the same boundary as a cross account: 1,002.8 refused, 1,000 accepted
    assert v.submit(2, "alice", P, BUY, 151, 28_000).reason is Reason.INSUFFICIENT_MARGIN
    assert v.submit(3, "alice", P, BUY, 150, 28_000).resting
    assert reserved(v) == 1_000 * M
    assert v.withdraw(4, "alice", "USDC", 1).reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    # mm sells 0.2 into the 29,000 order. The sub-account pays 5,800 for a position worth 6,000:
    # equity 200 against initial 600, so the main account tops it up with 400 (main: 600).
    assert v.submit(5, "mm", P, SELL, 200, 29_000, tif=IOC).filled == 200
    assert usdc(v) == 600 * M and v.account("alice/BTC-PERP").balance("USDC") == (400 - 5_800) * M
    # what rests (0.15 at 28,000) adds to the sub-account's long of 6,000:
    # IM(6,000 + 4,200) - IM(6,000) = 1,020 - 600 = 420, charged to the main account's 600
    e = explain(v, "alice")
    assert (e.equity, e.initial, e.reserved, e.free_collateral) == (600 * M, 0, 420 * M, 180 * M)
    assert v.withdraw(6, "alice", "USDC", "180.000001").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.withdraw(7, "alice", "USDC", "180").ok
    v._check()


def test_margin_transfer_keeps_the_reservation_covered() -> None:
    """Regression: ``transfer_margin`` once checked the main account with ``main_affords(account,
    atoms)`` (collateral equity >= 0) instead of ``keep_reserved=True`` (>= its reservation)."""
    v = venue(alice_mode="isolated")
    v.submit(1, "alice", P, BUY, 200, 29_000)  # 580 of the main account's 1,000 reserved
    # moving 500 into the position would leave 500 < 580: the reservation would be uncovered
    result = v.transfer_margin(2, "alice", P, "500")
    assert result.reason is Reason.INSUFFICIENT_MARGIN
    assert usdc(v) == 1_000 * M and explain(v, "alice").free_collateral == 420 * M


def test_margin_transfer_within_free_collateral_is_accepted() -> None:
    v = venue(alice_mode="isolated")
    v.submit(1, "alice", P, BUY, 200, 29_000)  # 580 reserved, 420 free
    assert v.transfer_margin(2, "alice", P, "420").ok
    assert usdc(v) == 580 * M and explain(v, "alice").free_collateral == 0
    v._check()


def test_a_large_resting_order_is_charged_at_the_higher_band() -> None:
    """Two bands: initial 10% up to 10,000 USDC of notional, 20% above it (so IM(n) = 0.2 n -
    1,000 from 10,000 on). alice has 2,000 USDC."""
    v = venue(alice="2000", schedule=TWO_BANDS)
    # 0.5 BTC at 29,000 = 14,500: 10% of 10,000 + 20% of 4,500 = 1,000 + 900 = 1,900 (flat 10%: 1,450)
    assert v.submit(1, "alice", P, BUY, 500, 29_000).resting
    assert reserved(v) == 1_900 * M and explain(v, "alice").free_collateral == 100 * M
    # every further lot is charged at 20%: 0.018 BTC more (522 notional) costs 104.4 > 100,
    # although 10% (52.2) would fit; 0.017 (493) costs 98.6
    assert v.submit(2, "alice", P, BUY, 18, 29_000).reason is Reason.INSUFFICIENT_MARGIN
    assert v.submit(3, "alice", P, BUY, 17, 29_000).resting
    assert reserved(v) == 1_998_600_000
    # the band is reached by the held position and the order together: bob, long 0.2 at 30,000
    # (6,000), rests a buy of 0.2 at 29,000 (5,800): IM(11,800) - IM(6,000) = 1,360 - 600 = 760
    v.submit(4, "mm", P, SELL, 200, 30_000)
    assert v.submit(5, "bob", P, BUY, 200, 30_000).filled == 200
    assert v.submit(6, "bob", P, BUY, 200, 29_000).resting
    assert reserved(v, "bob") == 760 * M  # flat 10% would be 580
    v._check()


# ---------------------------------------------------------------- property

PPM = 1_000_000


def test_orders_that_never_rest_are_left_to_the_fill_time_check() -> None:
    """Reservations are for resting orders. An immediate-or-cancel buy of 0.3 at 30,500 (as if
    resting: 915 + open loss 150 = 1,065 > 1,000) fills at the 30,000 ask, where the fill-time
    rule needs 900 of initial; so does a market buy (band limit 31,500 would reserve 1,395)."""
    v = venue()
    v.submit(1, "mm", P, Side.SELL, 600, 30_000)
    result = v.submit(2, "alice", P, Side.BUY, 300, 30_500, tif=TimeInForce.IOC)
    assert result.filled == 300 and result.reason is None
    w = venue()
    w.submit(1, "mm", P, Side.SELL, 600, 30_000)
    w.submit(1, "bob", P, Side.BUY, 1, 30_000, tif=TimeInForce.IOC)  # a trade: a reference price
    market = w.submit(2, "alice", P, Side.BUY, 300, order_type=OrderType.MARKET)
    assert market.filled == 300
    # the same order resting (GTC) is refused: it would reserve 1,065
    x = venue()
    x.submit(1, "mm", P, Side.SELL, 600, 31_000)
    assert x.submit(2, "alice", P, Side.BUY, 300, 30_500).reason is Reason.INSUFFICIENT_MARGIN


def _initial(notional: int) -> int:
    """TWO_BANDS' initial requirement, written out: each slice at its band's rate, rounded up."""
    scaled = min(notional, FLOOR) * 100_000 + max(0, notional - FLOOR) * 200_000
    return -(-scaled // PPM)


def _side(lots: int, notional: int, held: int, free: int, loss: int, mark: int) -> int:
    if not lots:
        return 0
    opened = max(0, lots - free)
    opened_notional = -(-notional * opened // lots)
    base = held * mark * APL
    return _initial(base + opened_notional) - _initial(base) + loss


def _expected_reserved(orders: list[tuple[Side, int, int]], position: int, mark: int) -> int:
    """The worse side's reservation of ``orders`` ``(side, price, lots)`` of one account."""
    b = sum(lots for side, _, lots in orders if side is BUY)
    nb = sum(price * lots * APL for side, price, lots in orders if side is BUY)
    s = sum(lots for side, _, lots in orders if side is SELL)
    ns = sum(price * lots * APL for side, price, lots in orders if side is SELL)
    r_buy = _side(b, nb, max(0, position), max(0, -position), max(0, nb - b * mark * APL), mark)
    r_sell = _side(s, ns, max(0, -position), max(0, position), max(0, s * mark * APL - ns), mark)
    return max(0, r_buy, r_sell)


def _orders(v: Venue, account: str) -> list[tuple[Side, int, int]]:
    return [(o.side, o.price, o.remaining) for o in v.open_orders(account)]


def _size(v: Venue, account: str) -> int:
    position = v.position_of(account, P)
    return position.size if position is not None else 0


def _available(v: Venue, account: str) -> int:
    """Equity above initial margin: cross, the balance plus the position at the mark less its
    initial requirement; isolated, the main account's balance (its positions are margined apart)."""
    balance = v.account(account).balance("USDC")
    if v.margin_mode(account) == "isolated":
        return balance
    size, mark = _size(v, account), v.marks[P]
    return balance + size * mark * APL - _initial(abs(size) * mark * APL)


PROPERTY_ACCOUNTS = ("alice", "bob")  # alice cross, bob isolated; 1,500 USDC each
PLACE = st.tuples(
    st.just("place"),
    st.sampled_from(PROPERTY_ACCOUNTS),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 400),
    st.integers(28_500, 31_500),
)
ACTIONS = st.lists(
    st.one_of(
        PLACE,
        PLACE,
        PLACE,  # placing, three times as likely as each other action
        st.tuples(st.just("cancel"), st.sampled_from(PROPERTY_ACCOUNTS), st.integers(0, 7)),
        st.tuples(
            st.just("amend"),
            st.sampled_from(PROPERTY_ACCOUNTS),
            st.integers(0, 7),
            st.integers(1, 400),
            st.one_of(st.none(), st.integers(28_500, 31_500)),
        ),
        st.tuples(st.just("fill"), st.sampled_from([BUY, SELL]), st.integers(1, 300)),
        st.tuples(st.just("mark"), st.integers(28_000, 32_000)),
    ),
    min_size=10,
    max_size=50,
)


def _check_all(v: Venue) -> None:
    v._check()
    for account in (*PROPERTY_ACCOUNTS, "mm"):
        assert reserved(v, account) == _expected_reserved(_orders(v, account), _size(v, account), v.marks[P])


def _refused(v: Venue, account: str, after: list[tuple[Side, int, int]]) -> bool:
    """The placement rule written out: refused if the reservation rises beyond free collateral."""
    mark, size = v.marks[P], _size(v, account)
    before = _expected_reserved(_orders(v, account), size, mark)
    grown = _expected_reserved(after, size, mark)
    return grown > before and grown > _available(v, account)


@given(ACTIONS)
def test_reservation_matches_an_independent_recomputation(actions) -> None:
    margin = MarginConfig("USDC", ((P, TWO_BANDS),), placement="reserve")
    v = Venue(VenueConfig((USDC,), (PERP,), margin=margin))
    v.open_account(0, "alice")
    v.open_account(0, "bob", "isolated")
    v.open_account(0, "mm")
    for name, cash in (("alice", "1500"), ("bob", "1500"), ("mm", "10000000")):
        v.deposit(0, name, "USDC", cash)
    v.set_mark_price(0, P, 30_000)
    _check_all(v)
    for ts, action in enumerate(actions, 1):
        kind = action[0]
        if kind == "place":
            _, account, side, lots, price = action
            expected = _refused(v, account, [*_orders(v, account), (side, price, lots)])
            result = v.submit(ts, account, P, side, lots, price)
            assert (result.reason is Reason.INSUFFICIENT_MARGIN) == expected
            assert result.accepted != expected
        elif kind == "cancel":
            _, account, n = action
            orders = v.open_orders(account)
            if orders:
                assert v.cancel(ts, account, orders[n % len(orders)].order_id).ok
        elif kind == "amend":
            _, account, n, lots, price = action
            orders = v.open_orders(account)
            if not orders:
                continue
            order = orders[n % len(orders)]
            new_price = order.price if price is None else price
            state = _state(order)
            if new_price == order.price and lots <= order.remaining:
                expected = False  # a smaller size at the same price is never re-checked
            else:
                others = [(o.side, o.price, o.remaining) for o in orders if o is not order]
                expected = _refused(v, account, [*others, (order.side, new_price, lots)])
            result = v.amend(ts, account, order.order_id, size=lots, price=price)
            assert (result.reason is Reason.INSUFFICIENT_MARGIN) == expected
            if expected:
                assert _state(order) == state and v.find_order(order.order_id) is order
        elif kind == "fill":
            _, side, lots = action  # mm takes from the best level of the other side only
            best = v.books[P].best_bid() if side is SELL else v.books[P].best_ask()
            if best is not None:
                v.submit(ts, "mm", P, side, lots, best, tif=IOC)
        else:
            v.set_mark_price(ts, P, action[1])
        _check_all(v)
