"""Isolated margin, and the same positions under isolated and cross margin, with hand-checked numbers.

Two contracts on BTC, settled in USDC: BTC-PERP and BTC-FUT, tick 1 USDC, lot 0.001 BTC, so one
tick on one lot is 1,000 USDC atoms and a price in ticks is a price in USDC. One bracket:
maintenance 5%, initial 10%. No fees unless a test says so. alice deposits 2,000 USDC; the market
maker "mm" 10,000,000. Both marks 30,000.

The book of positions used throughout: alice long 0.3 BTC-PERP and short 0.3 BTC-FUT, both at
30,000 (a hedge: notional 9,000 USDC each, initial 900 each, maintenance 450 each).

Behaviours verified:
- opening an isolated position moves exactly its initial margin from the main account into the
  position's sub-account (a top-up, journaled as MARGIN_MOVED), and the fill is refused without
  trace when the main account cannot afford it;
- the same hedge under cross margin needs 1,800 of equity in one pool and is healthy after both
  marks fall to 27,000, while under isolated margin the long's sub-account is then at zero
  equity, below its maintenance, and the short's holds the gain;
- liquidation prices: isolated long 28,421 (its own margin only) vs cross 26,140 (the short's
  value and the pool hold it up); isolated bankruptcy price 27,000;
- reducing keeps the margin in the position; closing returns what is left to the main account;
  a loss beyond the position's margin stays in the sub-account (bad debt) and is not taken from
  the main account;
- margin transfers: add (moves the liquidation price), remove down to initial margin but not
  beyond, and each bad input refused with a reason and nothing changed;
- a fault injected in settlement after the top-up leaves no trace; journals with isolated
  accounts replay to the same digest.
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.explain import explain
from exchange_sim.margin.gate import CrossMarginGate
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
M = 1_000_000
P, F = "BTC-PERP", "BTC-FUT"
BUY, SELL = Side.BUY, Side.SELL
IOC = TimeInForce.IOC


def venue(
    mode: str = "isolated", cash: str = "2000", taker_fee: int = 0, journal: JournalWriter | None = None
) -> Venue:
    def contract(symbol: str, kind: str) -> Instrument:
        extra = {"expiry_us": 86_400_000_000} if kind == "future" else {}
        return Instrument.create(
            symbol,
            kind=kind,
            underlying="BTC",
            settlement=USDC,
            tick_size="1",
            lot_size="0.001",
            taker_fee_ppm=taker_fee,
            **extra,
        )

    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    spot = Instrument.create(
        "BTC-USDC", kind="spot", underlying="BTC", settlement=USDC, base=BTC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, schedule), (F, schedule)))
    v = Venue(
        VenueConfig((USDC, BTC), (contract(P, "perpetual"), contract(F, "future"), spot), margin=margin),
        journal=journal,
    )
    v.open_account(0, "mm", "cross")
    v.deposit(0, "mm", "USDC", "10000000")
    v.open_account(0, "alice", mode)
    v.deposit(0, "alice", "USDC", cash)
    v.set_mark_price(0, P, 30_000)
    v.set_mark_price(0, F, 30_000)
    return v


def hedge(v: Venue) -> None:
    """alice: long 0.3 BTC-PERP, short 0.3 BTC-FUT, both at 30,000."""
    v.submit(1, "mm", P, SELL, 300, 30_000)
    assert v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC).filled == 300
    v.submit(3, "mm", F, BUY, 300, 30_000)
    assert v.submit(4, "alice", F, SELL, 300, 30_000, tif=IOC).filled == 300


def usdc(v: Venue, ledger_id: str) -> int:
    return v.ledger.accounts[ledger_id].balance("USDC")


def test_opening_an_isolated_position_moves_its_initial_margin() -> None:
    journal = JournalWriter()
    v = venue(journal=journal)
    v.submit(1, "mm", P, SELL, 300, 30_000)
    assert v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC).filled == 300
    # notional 0.3 x 30,000 = 9,000; initial 10% = 900; equity after the fill without margin = 0
    assert usdc(v, "alice") == (2_000 - 900) * M
    # the sub-account paid the full quote amount (cash-flow) and holds the 900 of margin
    assert usdc(v, "alice/BTC-PERP") == (900 - 9_000) * M
    assert v.position_of("alice", P).size == 300
    assert v.account("alice").positions == {}  # the main account holds no position
    assert {s: p.size for s, p in v.positions("alice").items()} == {P: 300}
    assert v.positions("mm")[P].size == -300  # a cross account's own positions
    _, events = read_journal(journal.getvalue())
    moved = [e for e in events if e[0] == Ev.MARGIN_MOVED]
    assert moved == [[Ev.MARGIN_MOVED, v.account("alice").index, 0, 900 * M]]
    v._check()


def test_a_top_up_the_main_account_cannot_afford_refuses_the_fill_without_trace() -> None:
    v = venue(cash="800")  # the position needs 900
    v.submit(1, "mm", P, SELL, 300, 30_000)
    result = v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC)
    assert result.filled == 0 and result.reason is Reason.TAKER_RISK_REFUSED
    assert usdc(v, "alice") == 800 * M and usdc(v, "alice/BTC-PERP") == 0
    assert v.position_of("alice", P) is None
    assert v.books[P].best_ask() == 30_000  # the maker still rests
    v._check()


def test_the_same_hedge_cross_versus_isolated() -> None:
    cross, isolated = venue("cross"), venue("isolated")
    hedge(cross)
    hedge(isolated)
    # cross: one pool. equity 2,000 (balance 2,000 - 9,000 + 9,000; positions +9,000 - 9,000)
    c = explain(cross, "alice")
    assert (c.mode, c.equity, c.initial, c.maintenance) == ("cross", 2_000 * M, 1_800 * M, 900 * M)
    # isolated: each leg took its own 900 from the main account, which keeps 200
    i = explain(isolated, "alice")
    assert i.mode == "isolated" and i.equity == 200 * M and i.positions == ()
    perp, fut = i.isolated
    assert (perp.account, perp.equity, perp.initial, perp.maintenance) == (
        "alice/BTC-PERP",
        900 * M,
        900 * M,
        450 * M,
    )
    assert (fut.account, fut.equity, fut.initial) == ("alice/BTC-FUT", 900 * M, 900 * M)
    # both marks fall 10% to 27,000
    for v in (cross, isolated):
        v.set_mark_price(5, P, 27_000)
        v.set_mark_price(5, F, 27_000)
    c = explain(cross, "alice")
    # equity unchanged (hedged), maintenance 2 x 0.3 x 27,000 x 5% = 810: healthy
    assert (c.equity, c.maintenance) == (2_000 * M, 810 * M)
    perp, fut = explain(isolated, "alice").isolated
    # the long's margin is gone: equity 900 - 0.3 x 3,000 = 0 < maintenance 405
    assert (perp.equity, perp.maintenance) == (0, 405 * M)
    # the short holds the gain: 900 + 900 = 1,800, not available to the long
    assert fut.equity == 1_800 * M


def test_liquidation_and_bankruptcy_prices_isolated_versus_cross() -> None:
    cross, isolated = venue("cross"), venue("isolated")
    hedge(cross)
    hedge(isolated)
    # isolated long: equity(m) = -8,100 + 0.3 m, maintenance 0.015 m (USDC):
    #   below when 0.285 m < 8,100, i.e. m < 28,421.05: the highest such tick is 28,421
    perp = explain(isolated, "alice").isolated[0].positions[0]
    assert perp.liquidation_price == 28_421
    # bankrupt where equity 900 + 0.3 (m - 30,000) reaches 0: m = 27,000
    assert perp.bankruptcy_price == 27_000
    # cross, BTC-FUT held at 30,000: equity(m) = 2,000 + 0.3 (m - 30,000), maintenance 0.015 m + 450:
    #   below when 0.285 m < 7,450, i.e. m < 26,140.35: 26,140
    assert explain(cross, "alice").positions[0].liquidation_price == 26_140
    # honest: one tick below the stated price the sub-account is below maintenance, at it not yet
    isolated.set_mark_price(5, P, 28_422)
    sub = explain(isolated, "alice").isolated[0]
    assert sub.equity >= sub.maintenance
    isolated.set_mark_price(6, P, 28_421)
    sub = explain(isolated, "alice").isolated[0]
    assert sub.equity < sub.maintenance


def test_reducing_keeps_the_margin_and_closing_returns_it() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC)
    v.submit(3, "mm", P, BUY, 300, 31_000)
    assert v.submit(4, "alice", P, SELL, 100, 31_000, tif=IOC).filled == 100
    # reduce by 0.1 at 31,000: the sub-account receives 3,100; nothing returns to the main account
    assert usdc(v, "alice") == 1_100 * M
    assert usdc(v, "alice/BTC-PERP") == (900 - 9_000 + 3_100) * M
    assert v.submit(5, "alice", P, SELL, 200, 31_000, tif=IOC).filled == 200
    # closed: the sub-account's 900 - 9,000 + 9,300 = 1,200 returns: 1,100 + 1,200 = 2,300
    assert usdc(v, "alice/BTC-PERP") == 0
    assert usdc(v, "alice") == 2_300 * M  # 2,000 deposited + 300 profit
    v._check()


def test_a_loss_beyond_the_position_margin_stays_in_the_sub_account() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC)
    v.set_mark_price(3, P, 26_000)
    v.submit(3, "mm", P, BUY, 300, 26_000)
    # closing everything is accepted even at a loss (the per-fill rule)
    assert v.submit(4, "alice", P, SELL, 300, 26_000, tif=IOC).filled == 300
    # the sub-account: 900 - 9,000 + 7,800 = -300: bad debt of the position, not of the account
    assert usdc(v, "alice/BTC-PERP") == -300 * M
    assert usdc(v, "alice") == 1_100 * M  # the main account lost only the 900 it put in
    v._check()


def test_margin_transfers_move_the_liquidation_price() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC)
    assert v.transfer_margin(3, "alice", P, "285").value == 285 * M
    assert usdc(v, "alice") == (1_100 - 285) * M
    # equity(m) = -7,815 + 0.3 m >= 0.015 m until 0.285 m < 7,815: m < 27,421.05 -> 27,421
    assert explain(v, "alice").isolated[0].positions[0].liquidation_price == 27_421
    # remove: down to initial margin (equity 1,185 - 900 = 285 above it) but not one atom beyond
    assert v.transfer_margin(4, "alice", P, -(285 * M + 1)).reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.transfer_margin(5, "alice", P, "-285").ok
    assert usdc(v, "alice") == 1_100 * M
    v._check()


@pytest.mark.parametrize(
    ("account", "instrument", "amount", "reason"),
    [
        ("nobody", P, "1", Reason.UNKNOWN_ACCOUNT),
        ("alice", "ETH-PERP", "1", Reason.UNKNOWN_INSTRUMENT),
        ("alice", "BTC-USDC", "1", Reason.NOT_ISOLATED),  # a spot pair has no position
        ("mm", P, "1", Reason.NOT_ISOLATED),  # a cross account
        ("alice", P, "0", Reason.INVALID_AMOUNT),
        ("alice", P, "0.0000001", Reason.INVALID_AMOUNT),  # finer than a USDC atom
        ("alice", P, "abc", Reason.INVALID_AMOUNT),
        ("alice", P, "1100.000001", Reason.INSUFFICIENT_MARGIN),  # more than the main account has
        ("alice", P, "-900.000001", Reason.WITHDRAWAL_BREACHES_MARGIN),
    ],
)
def test_bad_margin_transfers_are_refused_and_change_nothing(
    account: str, instrument: str, amount: str, reason: Reason
) -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    v.submit(2, "alice", P, BUY, 300, 30_000, tif=IOC)
    before = {a.id: dict(a.balances) for a in v.ledger.by_index}
    result = v.transfer_margin(3, account, instrument, amount)
    assert not result.ok and result.reason is reason
    assert {a.id: dict(a.balances) for a in v.ledger.by_index} == before


def test_margin_modes_at_opening() -> None:
    v = venue()
    assert v.margin_mode("alice") == "isolated" and v.margin_mode("mm") == "cross"
    assert v.open_account(1, "x", "portfolio").reason is Reason.INVALID_MARGIN_MODE
    assert "x" not in v.ledger.accounts
    plain = Venue(VenueConfig((USDC,), ()))
    assert plain.open_account(0, "y", "isolated").reason is Reason.INVALID_MARGIN_MODE
    # the rules' default mode applies when none is given
    margin = MarginConfig("USDC", (), mode="isolated")
    assert Venue(VenueConfig((USDC,), (), margin=margin)).open_account(0, "z").ok


def test_a_fault_in_settlement_after_the_top_up_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 300, 30_000)
    before = {
        a.id: (dict(a.balances), {s: (p.size, p.cost) for s, p in a.positions.items()})
        for a in v.ledger.by_index
    }

    def fail(*args: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setitem(v._settlers, P, fail)  # settlement fails after the gate planned the top-up
    with pytest.raises(RuntimeError, match="injected"):
        v.submit(2, "alice", P, BUY, 100, 30_000, tif=IOC)
    after = {
        a.id: (dict(a.balances), {s: (p.size, p.cost) for s, p in a.positions.items()})
        for a in v.ledger.by_index
    }
    assert after == before


def test_isolated_journals_replay_to_the_same_digest() -> None:
    journal = JournalWriter()
    v = venue(journal=journal, taker_fee=500)
    hedge(v)
    v.transfer_margin(5, "alice", P, "100")
    v.submit(6, "mm", P, BUY, 300, 30_100)
    v.submit(7, "alice", P, SELL, 300, 30_100, tif=IOC)
    report = replay(journal.getvalue())
    assert report.ok, report.mismatch
    assert (
        report.venue.ledger.accounts["alice/BTC-PERP"].balances
        == v.ledger.accounts["alice/BTC-PERP"].balances
    )


def test_a_fills_isolated_plan_is_computed_once_and_never_reused_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check of a fill on an isolated position plans its top-up; the settlement of the same
    fill reuses that plan instead of computing it again. A plan is keyed by the state it was
    computed from: after a deposit to the main account it is computed afresh."""
    v = venue()
    calls: list[str] = []
    plan = CrossMarginGate._plan_isolated

    def counting(self: CrossMarginGate, sub: Any, *args: Any) -> Any:
        calls.append(sub.id)
        return plan(self, sub, *args)

    monkeypatch.setattr(CrossMarginGate, "_plan_isolated", counting)
    v.submit(1, "mm", P, SELL, 600, 30_000)
    v.submit(2, "alice", P, BUY, 100, 30_000, tif=IOC)
    assert calls == ["alice/BTC-PERP"]  # once for the check, reused by the settlement
    sub, inst = v.ledger.accounts["alice/BTC-PERP"], v.instruments[P]
    gate: CrossMarginGate = v.gate  # type: ignore[assignment]
    calls.clear()
    gate.isolated_plan("alice", sub, inst, 30_000, 100, 3_000 * M, 0, True)
    gate.isolated_plan("alice", sub, inst, 30_000, 100, 3_000 * M, 0, True)
    assert calls == ["alice/BTC-PERP"]  # the same state: remembered
    v._check()  # verifies the remembered plan, still current, against a fresh one
    assert calls == ["alice/BTC-PERP"] * 2
    calls.clear()
    v.deposit(3, "alice", "USDC", "1")
    gate.isolated_plan("alice", sub, inst, 30_000, 100, 3_000 * M, 0, True)
    assert calls == ["alice/BTC-PERP"]  # the main account changed: computed again
