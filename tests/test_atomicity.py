"""Atomic fills: an exception injected at each fallible step inside a fill leaves no trace of it.

A fill is computed first and committed after (plain assignments; the journal buffer is never
flushed to the file while an input is being processed, so no I/O can fail mid-fill). These
tests inject an exception at every step of the compute phase and check that balances,
positions, the book, last-trade prices and the fee account equal their state before the fill.

Injection points: the margin gate (taker and maker), the position arithmetic of the buyer and
of the seller, the ledger's contract and spot settlement, and a journal flush forced to fail
(which may only happen between inputs, so the previous input's effects stand whole).
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange_sim import ledger as ledger_module
from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.gate import CrossMarginGate
from exchange_sim.orders import Side
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
PERP = Instrument.create(
    "BTC-PERP",
    kind="perpetual",
    underlying="BTC",
    settlement=USDC,
    tick_size="1",
    lot_size="0.001",
    taker_fee_ppm=500,
)
SPOT = Instrument.create(
    "BTC-USDC", kind="spot", underlying="BTC", settlement=USDC, base=BTC, tick_size="1", lot_size="0.001"
)


class Injected(Exception):
    pass


def make() -> Venue:
    margin = MarginConfig("USDC", (("BTC-PERP", BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    venue = Venue(VenueConfig((USDC, BTC), (PERP, SPOT), margin=margin), journal=JournalWriter())
    for name in ("a", "b"):
        venue.open_account(0, name)
        venue.deposit(0, name, "USDC", "100000")
        venue.deposit(0, name, "BTC", "1")
    venue.set_mark_price(0, "BTC-PERP", 30_000)
    # both already hold positions, so both sides go through the position arithmetic
    venue.submit(1, "a", "BTC-PERP", Side.SELL, 100, 30_000)
    venue.submit(1, "b", "BTC-PERP", Side.BUY, 100, 30_000)
    venue.submit(2, "a", "BTC-PERP", Side.SELL, 50, 30_000)  # resting maker for the fill under test
    venue.submit(2, "a", "BTC-USDC", Side.SELL, 50, 30_000)
    return venue


def state(venue: Venue) -> Any:
    return (
        {
            a.id: (dict(a.balances), {s: (p.size, p.cost, p.realized) for s, p in a.positions.items()})
            for a in venue.ledger.by_index
        },
        {
            s: (b.depth(100), {o: (b.orders[o].remaining, b.orders[o].seq) for o in b.orders})
            for s, b in venue.books.items()
        },
        dict(venue.last_trade.last),
    )


def fail_on_call(n: int, original: Any) -> Any:
    calls = {"count": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] == n:
            raise Injected(f"injected at call {n}")
        return original(*args, **kwargs)

    return wrapper


# (name, where, attribute, which call fails, instrument, patch before the venue is built?)
# The settlement methods are bound when the venue is built, so they are patched first; the
# setup itself makes one contract fill, hence call 2 for contract settlement.
POINTS = [
    ("gate, taker side", CrossMarginGate, "fits", 1, "BTC-PERP", False),
    ("gate, maker side", CrossMarginGate, "fits", 2, "BTC-PERP", False),
    ("buyer's position arithmetic", ledger_module, "position_after", 1, "BTC-PERP", False),
    ("seller's position arithmetic", ledger_module, "position_after", 2, "BTC-PERP", False),
    ("contract settlement", ledger_module.Ledger, "settle_trade", 2, "BTC-PERP", True),
    ("spot settlement", ledger_module.Ledger, "settle_spot", 1, "BTC-USDC", True),
]


@pytest.mark.parametrize(
    ("name", "owner", "attribute", "call", "symbol", "early"), POINTS, ids=[p[0] for p in POINTS]
)
def test_fault_inside_a_fill_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    owner: Any,
    attribute: str,
    call: int,
    symbol: str,
    early: bool,
) -> None:
    if early:
        monkeypatch.setattr(owner, attribute, fail_on_call(call, getattr(owner, attribute)))
    venue = make()
    before = state(venue)
    if not early:
        monkeypatch.setattr(owner, attribute, fail_on_call(call, getattr(owner, attribute)))
    with pytest.raises(Injected):
        venue.submit(3, "b", symbol, Side.BUY, 50, 30_000)
    assert state(venue) == before, name
    monkeypatch.undo()
    venue._check()  # money conserved, positions net to zero, book consistent
    if not early:  # the venue goes on working: the same order now fills in full
        assert venue.submit(4, "b", symbol, Side.BUY, 50, 30_000).filled == 50
        venue._check()


def test_a_failing_journal_flush_happens_before_the_next_input_changes_anything(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = JournalWriter(tmp_path / "j.msgpack")
    venue = Venue(VenueConfig((USDC,), (PERP,)), journal=journal)
    venue.open_account(0, "a")
    venue.open_account(0, "b")
    for i in range(3_000):  # enough events to need a flush
        venue.submit(1, "a", "BTC-PERP", Side.SELL, 1, 40_000 + i)
    venue.submit(2, "b", "BTC-PERP", Side.BUY, 1, 30_000)
    before = state(venue)

    def broken_flush(self: JournalWriter) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(JournalWriter, "flush", broken_flush)
    with pytest.raises(OSError, match="disk full"):
        for _ in range(20_000):
            venue.submit(3, "b", "BTC-PERP", Side.BUY, 1, 40_000 + 2_999)  # fills: changes state
            before = state(venue)
    assert state(venue) == before  # the input whose flush failed changed nothing
    venue._check()
