"""Funding applied by the venue (``Venue.apply_funding``), with hand-checked numbers.

BTC-PERP as in the default scenario: tick 0.5 USDC, lot 0.001 BTC, so one tick on one lot is 500
USDC atoms. alice buys 3 lots from bob at 60,020 ticks (30,010 USDC); the mark is 60,020.

Behaviours verified:
- a positive rate makes longs pay shorts: at 208 ppm alice owes 3 x 60,020 x 500 x 208 / 10^6 =
  18,726.24 atoms, charged 18,727 (rounded up); bob is owed the same, credited 18,726 (rounded
  down); the 1-atom residue goes to ``@funding``; the reverse rate reverses the direction;
- money stays conserved, positions are untouched, an isolated position pays from its own
  sub-account, and the journal replays;
- refusals: not a perpetual, a bad rate, no mark price, unknown instrument.
"""

from __future__ import annotations

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.funding import FUNDING_RESIDUE_ACCOUNT
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
P, F = "BTC-PERP", "BTC-FUT"


def venue(journal: JournalWriter | None = None, alice_mode: str | None = None) -> Venue:
    def contract(symbol: str, **extra: object) -> Instrument:
        kind = "future" if extra else "perpetual"
        return Instrument.create(
            symbol, kind=kind, underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001", **extra
        )

    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    margin = MarginConfig("USDC", ((P, schedule), (F, schedule)))
    v = Venue(
        VenueConfig((USDC,), (contract(P), contract(F, expiry_us=10**12)), margin=margin), journal=journal
    )
    v.open_account(0, "alice", alice_mode)
    v.open_account(0, "bob")
    for name in ("alice", "bob"):
        v.deposit(0, name, "USDC", "10000")
    v.set_mark_price(0, P, 60_020)
    v.submit(1, "bob", P, Side.SELL, 3, 60_020)
    assert v.submit(2, "alice", P, Side.BUY, 3, 60_020, tif=TimeInForce.IOC).filled == 3
    return v


def balances(v: Venue, *ids: str) -> list[int]:
    return [v.ledger.accounts[i].balance("USDC") for i in ids]


def test_longs_pay_shorts_when_the_rate_is_positive() -> None:
    journal = JournalWriter()
    v = venue(journal)
    before = balances(v, "alice", "bob")
    result = v.apply_funding(3, P, 208)
    assert result.ok and result.value == 1  # the residue
    after = balances(v, "alice", "bob", FUNDING_RESIDUE_ACCOUNT)
    assert [after[0] - before[0], after[1] - before[1], after[2]] == [-18_727, 18_726, 1]
    assert v.account("alice").positions[P].size == 3  # positions are untouched
    _, events = read_journal(journal.getvalue())
    funded = [e for e in events if e[0] == Ev.FUNDED]
    assert funded == [
        [Ev.FUNDED, v.account("alice").index, -18_727],
        [Ev.FUNDED, v.account("bob").index, 18_726],
    ]
    v._check()
    assert replay(journal.getvalue()).ok


def test_shorts_pay_longs_when_the_rate_is_negative() -> None:
    v = venue()
    before = balances(v, "alice", "bob")
    assert v.apply_funding(3, P, -208).value == 1
    after = balances(v, "alice", "bob")
    assert [after[0] - before[0], after[1] - before[1]] == [18_726, -18_727]
    v._check()


def test_an_isolated_position_pays_from_its_sub_account() -> None:
    v = venue(alice_mode="isolated")
    main, sub = balances(v, "alice", "alice/BTC-PERP")
    v.apply_funding(3, P, 208)
    assert balances(v, "alice", "alice/BTC-PERP") == [main, sub - 18_727]
    v._check()


def test_nothing_moves_without_positions_or_at_a_zero_rate() -> None:
    v = venue()
    assert v.apply_funding(3, P, 0).value == 0
    assert FUNDING_RESIDUE_ACCOUNT not in v.ledger.accounts


@pytest.mark.parametrize(
    ("instrument", "rate", "reason"),
    [
        (F, 100, Reason.NOT_A_PERPETUAL),
        ("ETH-PERP", 100, Reason.UNKNOWN_INSTRUMENT),
        (P, 1_000_000, Reason.INVALID_RATE),
        (P, "100", Reason.INVALID_RATE),
        (P, 1.5, Reason.INVALID_RATE),
    ],
)
def test_bad_funding_is_refused_and_changes_nothing(instrument: str, rate: object, reason: Reason) -> None:
    v = venue()
    before = {a.id: dict(a.balances) for a in v.ledger.by_index}
    assert v.apply_funding(3, instrument, rate).reason is reason  # type: ignore[arg-type]
    assert {a.id: dict(a.balances) for a in v.ledger.by_index} == before


def test_no_mark_price() -> None:
    inst = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
    )
    v = Venue(VenueConfig((USDC,), (inst,)))
    assert v.apply_funding(1, P, 100).reason is Reason.NO_MARK_PRICE
