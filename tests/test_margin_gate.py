"""The cross-margin risk gate, with hand-checked numbers.

BTC-PERP here: tick 1 USDC, lot 0.001 BTC, so one tick on one lot is 1,000 USDC atoms and a
price in ticks is a price in USDC. One bracket: maintenance 5%, initial 10% (10x leverage).
alice starts with 1,000 USDC, bob with 10,000, the market maker "mm" with 10,000,000. Mark
30,000 unless a test moves it.

Behaviours verified:
- a fill that leaves the taker at or above initial margin is accepted (0.3 BTC: initial 900 <=
  equity 1,000); one that would not is refused and leaves no trace (0.4 BTC: initial 1,200);
- a maker that would breach initial margin loses its order and matching goes on;
- fees count: 10,000 USDC of notional fits 1,000 USDC exactly, but not with a 5 USDC taker fee;
- collateral counts at index less haircut (0.1 BTC at 30,000, 20% haircut = 2,400 USDC);
- an account below maintenance may reduce (maintenance falls, equity/maintenance does not)
  but not add; closing everything is accepted even with negative equity;
- an account with no positions may not end with negative equity (e.g. buying spot on credit);
- a venue without margin rules accepts everything; marks and index prices are journaled
  inputs and the journal replays with the same refusals;
- withdrawals keep initial margin; whether unrealised profit counts is a rule-set option.
"""

from __future__ import annotations

import dataclasses

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
M = 1_000_000
P = "BTC-PERP"
BUY, SELL = Side.BUY, Side.SELL
IOC = TimeInForce.IOC


def venue(taker_fee: int = 0, haircut: int | None = None, journal: JournalWriter | None = None) -> Venue:
    perp = Instrument.create(
        P,
        kind="perpetual",
        underlying="BTC",
        settlement=USDC,
        tick_size="1",
        lot_size="0.001",
        taker_fee_ppm=taker_fee,
    )
    spot = Instrument.create(
        "BTC-USDC", kind="spot", underlying="BTC", settlement=USDC, base=BTC, tick_size="1", lot_size="0.001"
    )
    rules = (CollateralRule("BTC", haircut),) if haircut is not None else ()
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),), rules)
    v = Venue(VenueConfig((USDC, BTC), (perp, spot), margin=margin), journal=journal)
    for name, cash in (("alice", "1000"), ("mm", "10000000"), ("bob", "10000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", cash)
    v.set_mark_price(0, P, 30_000)
    return v


def test_taker_within_initial_margin_is_accepted() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 1_000, 30_000)
    result = v.submit(2, "alice", P, BUY, 300, 30_000)  # 0.3 BTC: notional 9,000, initial 900
    assert result.filled == 300 and result.reason is None
    alice = v.account("alice")
    assert alice.balance("USDC") == (1_000 - 9_000) * M and alice.positions[P].size == 300
    v._check()


def test_taker_beyond_initial_margin_is_refused_without_trace() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 1_000, 30_000)
    result = v.submit(2, "alice", P, BUY, 400, 30_000)  # initial 1,200 > equity 1,000
    assert result.accepted and result.fills == [] and result.reason is Reason.TAKER_RISK_REFUSED
    assert v.account("alice").balance("USDC") == 1_000 * M and P not in v.account("alice").positions
    assert v.top(P) == (None, 0, 30_000, 1_000)  # the maker is untouched
    v._check()


def test_maker_beyond_initial_margin_loses_its_order() -> None:
    v = venue()
    v.submit(1, "alice", P, BUY, 400, 30_000)  # resting: placement is not margin-checked here
    v.submit(1, "bob", P, BUY, 100, 29_999)
    result = v.submit(2, "mm", P, SELL, 500, 29_999, tif=IOC)
    assert result.removed_makers == ((1, Reason.MAKER_RISK_REFUSED),)
    assert [(f.maker_account, f.lots) for f in result.fills] == [("bob", 100)]  # matching went on
    assert result.reason is Reason.IOC_REMAINDER and result.remaining == 400
    assert v.find_order(1) is None and P not in v.account("alice").positions
    v._check()


def test_fees_count() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 1_000, 30_000)
    # 1,000 USDC at 10x: exactly 10,000 USDC of notional = 333 lots at 30,000 is 9,990; use 10,000 at 25,000
    v.set_mark_price(1, P, 25_000)
    v.submit(1, "mm", P, SELL, 400, 25_000)
    assert v.submit(2, "alice", P, BUY, 400, 25_000).filled == 400  # notional 10,000 = 10 x 1,000
    with_fee = venue(taker_fee=500)  # 0.05% of 10,000 = 5 USDC: equity 995 < initial 1,000
    with_fee.set_mark_price(1, P, 25_000)
    with_fee.submit(1, "mm", P, SELL, 400, 25_000)
    assert with_fee.submit(2, "alice", P, BUY, 400, 25_000).reason is Reason.TAKER_RISK_REFUSED


def test_collateral_counts_at_index_less_haircut() -> None:
    v = venue(haircut=200_000)
    v.deposit(1, "alice", "BTC", "0.1")
    v.set_index_price(1, "BTC", "30000")
    v.submit(1, "mm", P, SELL, 2_000, 30_000)
    # equity 1,000 + 0.1 x 30,000 x 80% = 3,400: 1.1 BTC (initial 3,300) fits, 1.2 (3,600) does not
    assert v.submit(2, "alice", P, BUY, 1_200, 30_000).reason is Reason.TAKER_RISK_REFUSED
    assert v.submit(3, "alice", P, BUY, 1_100, 30_000).filled == 1_100
    v._check()


def test_unhealthy_account_may_reduce_but_not_add() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000)  # long 0.3, USDC balance -8,000
    v.set_mark_price(3, P, 27_000)  # equity -8,000 + 8,100 = 100; maintenance 405: unhealthy
    v.submit(3, "mm", P, BUY, 100, 27_000)  # just enough for the reduction below
    v.submit(3, "mm", P, SELL, 1_000, 27_001)
    add = v.submit(4, "alice", P, BUY, 100, 27_001, tif=IOC)
    assert add.reason is Reason.TAKER_RISK_REFUSED and add.fills == []
    # selling 0.1: equity stays 100, maintenance 405 -> 270, ratio 0.25 -> 0.37: accepted
    reduce = v.submit(5, "alice", P, SELL, 100, 27_000, tif=IOC)
    assert reduce.filled == 100
    assert v.account("alice").balance("USDC") == (-8_000 + 2_700) * M
    # the mark falls to 26,000: equity -5,300 + 5,200 = -100 (bad debt); closing all is accepted
    v.set_mark_price(6, P, 26_000)
    v.submit(6, "mm", P, BUY, 1_000, 26_000)  # the only bid left
    close = v.submit(7, "alice", P, SELL, 200, 26_000, tif=IOC)
    assert close.filled == 200 and v.account("alice").positions[P].size == 0
    assert v.account("alice").balance("USDC") == -100 * M
    v._check()


def test_no_negative_equity_without_positions() -> None:
    v = venue()
    v.submit(1, "mm", "BTC-USDC", SELL, 100, 30_000)  # mm sells 0.1 BTC it does not have (mm is rich)
    # alice would pay 3,000 USDC from 1,000: equity 1,000 - 3,000 + BTC valued at nothing (no rule)
    result = v.submit(2, "alice", "BTC-USDC", BUY, 100, 30_000)
    assert result.reason is Reason.TAKER_RISK_REFUSED
    assert v.submit(3, "alice", "BTC-USDC", BUY, 40, 30_000).reason is Reason.TAKER_RISK_REFUSED  # -200
    assert v.submit(4, "alice", "BTC-USDC", BUY, 30, 30_000).filled == 30  # 900 USDC: equity 100 >= 0
    v._check()


def test_no_margin_rules_accept_everything_and_replay_keeps_refusals() -> None:
    journal = JournalWriter()
    v = venue(journal=journal)
    v.submit(1, "mm", P, SELL, 1_000, 30_000)
    v.submit(2, "alice", P, BUY, 400, 30_000)
    v.set_mark_price(3, P, 31_000)
    assert v.set_index_price(3, "BTC", 31_000 * M).ok
    assert v.set_index_price(3, "DOGE", 1).reason is Reason.UNKNOWN_ASSET
    report = replay(journal.getvalue())
    assert report.ok and report.venue.marks == {P: 31_000}
    plain = Venue(
        VenueConfig(
            (USDC,),
            (
                Instrument.create(
                    P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
                ),
            ),
        )
    )
    plain.open_account(0, "a")
    plain.open_account(0, "b")
    plain.submit(1, "a", P, SELL, 1_000, 30_000)
    assert plain.submit(2, "b", P, BUY, 1_000, 30_000).filled == 1_000  # no money at all: no margin rules
    assert plain.set_index_price(3, "USDC", 1).reason is Reason.MARGIN_NOT_CONFIGURED


def test_unhealthy_account_may_not_add_even_when_its_ratio_improves() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000)  # long 0.3, USDC -8,000
    v.set_mark_price(3, P, 27_000)  # equity 100, maintenance 405
    v.submit(3, "bob", P, SELL, 100, 26_000)  # a cheap offer below the mark
    # buying 0.1 at 26,000: equity -10,600 + 10,800 = 200 and equity/maintenance rises from
    # 100/405 to 200/540, but maintenance rises (405 -> 540): refused
    result = v.submit(4, "alice", P, BUY, 100, 26_000, tif=IOC)
    assert result.reason is Reason.TAKER_RISK_REFUSED and result.fills == []
    v._check()


def test_withdrawals_keep_initial_margin_and_unrealized_profit_is_a_rule_set_option() -> None:
    """alice: 1,000 USDC, long 0.3 BTC bought at 30,000 (initial 10% of 9,000 = 900).

    At mark 30,000 she may withdraw 100 USDC, not 101. At mark 31,000 her equity is 1,300 with
    300 of unrealised profit and initial 930: free collateral counting the profit is 370, without
    it 70. By default unrealised profit is not withdrawable.
    """
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000)
    before = v.account("alice").balance("USDC")
    assert v.withdraw(3, "alice", "USDC", "100.000001").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.withdraw(3, "alice", "USDC", "100").ok
    assert v.account("alice").balance("USDC") == before - 100 * M
    v.deposit(4, "alice", "USDC", "100")
    v.set_mark_price(4, P, 31_000)
    assert v.withdraw(5, "alice", "USDC", "71").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.withdraw(5, "alice", "USDC", "70").ok
    # the same account under a rule set that counts unrealised profit
    generous = venue()
    margin = generous.config.margin
    assert margin is not None and not margin.unrealized_profit_withdrawable
    config = dataclasses.replace(
        generous.config, margin=dataclasses.replace(margin, unrealized_profit_withdrawable=True)
    )
    g = Venue(config)
    for name, cash in (("alice", "1000"), ("mm", "10000000")):
        g.open_account(0, name)
        g.deposit(0, name, "USDC", cash)
    g.set_mark_price(0, P, 30_000)
    g.submit(1, "mm", P, SELL, 300, 30_000)
    g.submit(2, "alice", P, BUY, 300, 30_000)
    g.set_mark_price(3, P, 31_000)
    assert g.withdraw(4, "alice", "USDC", "370.000001").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert g.withdraw(4, "alice", "USDC", "370").ok
    # other assets never go below zero by withdrawal
    assert g.withdraw(5, "alice", "BTC", 1).reason is Reason.INSUFFICIENT_BALANCE
    g._check()
    v._check()


def test_fill_or_kill_checks_its_fills_together() -> None:
    """Two asks of 0.2 BTC at 30,000: each alone needs 600 of alice's 1,000 USDC initial margin,
    both together 1,200. A fill-or-kill for 0.4 must see that before it fills anything."""
    v = venue()
    v.submit(1, "mm", P, SELL, 200, 30_000)
    v.submit(1, "bob", P, SELL, 200, 30_000)
    result = v.submit(2, "alice", P, BUY, 400, 30_000, tif=TimeInForce.FOK)
    assert result.reason is Reason.FOK_UNFILLED and result.fills == []
    assert v.account("alice").balance("USDC") == 1_000 * M and P not in v.account("alice").positions
    assert v.gate.held == {}  # type: ignore[attr-defined]
    assert v.submit(3, "alice", P, BUY, 300, 30_000, tif=TimeInForce.FOK).filled == 300  # 900: fits
    v._check()


def test_placement_check_each_order_alone_without_reserving() -> None:
    """With ``placement = "check"`` (dYdX's policy) an order is refused at placement if, filled in full at
    its limit price, it would fail the fill-time rule; nothing is reserved, so two orders that each
    fit alone are both accepted (their fills are still checked one by one)."""
    v = venue()
    margin = v.config.margin
    assert margin is not None
    checked = Venue(dataclasses.replace(v.config, margin=dataclasses.replace(margin, placement="check")))
    for name, cash in (("alice", "1000"), ("mm", "10000000")):
        checked.open_account(0, name)
        checked.deposit(0, name, "USDC", cash)
    checked.set_mark_price(0, P, 30_000)
    before = checked.depth(P)
    refused = checked.submit(1, "alice", P, BUY, 400, 30_000)  # 12,000 notional: initial 1,200 > 1,000
    assert refused.reason is Reason.INSUFFICIENT_MARGIN and not refused.accepted
    assert checked.depth(P) == before
    assert checked.submit(2, "alice", P, BUY, 300, 30_000).resting  # initial 900: fits alone
    assert checked.submit(3, "alice", P, BUY, 300, 29_999).resting  # fits alone too: nothing reserved
    checked.submit(4, "mm", P, SELL, 600, 29_999)  # both would fill: the second is refused at fill time
    assert checked.account("alice").positions[P].size == 300
    checked._check()
    # without the policy the same 0.4 order rests, and only its fills are checked
    assert v.submit(1, "alice", P, BUY, 400, 30_000).resting


def _checked_venue(mark: bool = True) -> Venue:
    """Two perpetuals, BTC-PERP and BTC-FUT (same specification), placement policy "check"."""
    fut = Instrument.create(
        "BTC-FUT", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    v = venue()
    margin = v.config.margin
    assert margin is not None
    schedule = margin.schedules[0][1]
    margin = dataclasses.replace(
        margin, schedules=(*margin.schedules, ("BTC-FUT", schedule)), placement="check"
    )
    checked = Venue(dataclasses.replace(v.config, instruments=(*v.config.instruments, fut), margin=margin))
    for name, cash in (("alice", "2000"), ("mm", "10000000"), ("bob", "10000")):
        checked.open_account(0, name)
        checked.deposit(0, name, "USDC", cash)
    if mark:
        checked.set_mark_price(0, "BTC-FUT", 30_000)
    return checked


def test_placement_checks_see_a_new_mark() -> None:
    """The gate caches an account's margin totals between its fills; a price change must not be
    missed. alice: 2,000 USDC, long 0.3 BTC-FUT at 30,000 (initial 900). A resting buy of 0.3
    BTC-PERP at 30,000 adds 900 of initial: 1,800 <= 2,000 fits. With the future's mark at
    27,000, equity is 2,000 - 900 = 1,100 < 1,800: the same order is refused."""
    v = _checked_venue()
    v.submit(1, "mm", "BTC-FUT", SELL, 300, 30_000)
    assert v.submit(2, "alice", "BTC-FUT", BUY, 300, 30_000, tif=IOC).filled == 300
    first = v.submit(3, "alice", P, BUY, 300, 30_000)
    assert first.resting
    v.cancel(4, "alice", first.order_id)
    v.set_mark_price(5, "BTC-FUT", 27_000)
    assert v.submit(6, "alice", P, BUY, 300, 30_000).reason is Reason.INSUFFICIENT_MARGIN
    v._check()


def test_placement_checks_see_a_new_last_trade_when_there_is_no_mark() -> None:
    """Without marks, positions are valued at the last trade, which other accounts' fills move:
    the same numbers, the future's last trade moving to 27,000 in a trade between mm and bob."""
    v = _checked_venue(mark=False)
    v.submit(1, "mm", "BTC-FUT", SELL, 300, 30_000)
    assert v.submit(2, "alice", "BTC-FUT", BUY, 300, 30_000, tif=IOC).filled == 300
    first = v.submit(3, "alice", P, BUY, 300, 30_000)
    assert first.resting
    v.cancel(4, "alice", first.order_id)
    v.submit(5, "mm", "BTC-FUT", BUY, 1, 27_000)
    assert v.submit(6, "bob", "BTC-FUT", SELL, 1, 27_000, tif=IOC).filled == 1
    assert v.submit(7, "alice", P, BUY, 300, 30_000).reason is Reason.INSUFFICIENT_MARGIN
    v._check()
