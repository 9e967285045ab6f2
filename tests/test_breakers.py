"""Circuit breakers: the price band around the mark and the volatility halt.

BTC-PERP, tick 1 USDC, lot 0.001 BTC. Breaker: band 5% (50,000 ppm); halt when the mark moves
more than 10% (100,000 ppm) within 60 s, for 300 s. Mark 30,000.

Behaviours verified:
- the band: a buy up to 31,500 (30,000 x 1.05) is accepted, 31,501 refused with
  PRICE_BAND_EXCEEDED; a sell down to 28,500 accepted, 28,499 refused; a buy far below the mark
  (not taking) is fine; amends and multi-leg legs are checked too; market orders keep their own
  band; without a mark the band does not apply;
- the halt: the mark from 30,000 to 33,001 within the window (10.003%) halts the instrument
  until ts + 300 s (journaled HALTED): orders, amends and multi-leg orders are refused with
  INSTRUMENT_HALTED, cancels work, a stop that triggers ends; trading resumes after; a move
  of exactly 10%, or one spread over more than the window, does not halt;
- configuration: round trip through the journal header, and bad breakers refused.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.breakers import Breaker, MarkWindow
from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.orders import OrderType, Reason, Side
from exchange_sim.replay import replay
from exchange_sim.scenario import ScenarioError, loads_scenario
from exchange_sim.stops import Trigger
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
P = "BTC-PERP"
S = 1_000_000  # one second in microseconds
BUY, SELL = Side.BUY, Side.SELL
PERP = Instrument.create(
    P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
)
BREAKER = Breaker(P, band_ppm=50_000, halt_move_ppm=100_000, window_us=60 * S, halt_us=300 * S)


def venue(journal: JournalWriter | None = None, mark: bool = True) -> Venue:
    v = Venue(VenueConfig((USDC,), (PERP,), breakers=(BREAKER,)), journal=journal)
    for name in ("alice", "bob"):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", "1000000")
    if mark:
        v.set_mark_price(0, P, 30_000)
    return v


def test_the_band_around_the_mark() -> None:
    v = venue()
    assert v.submit(1, "alice", P, BUY, 1, 31_500).accepted
    assert v.submit(1, "alice", P, BUY, 1, 31_501).reason is Reason.PRICE_BAND_EXCEEDED
    assert v.submit(1, "bob", P, SELL, 1, 31_600).accepted  # a sell above the mark does not take
    assert v.submit(1, "bob", P, SELL, 1, 28_500).accepted
    assert v.submit(1, "bob", P, SELL, 1, 28_499).reason is Reason.PRICE_BAND_EXCEEDED
    resting = v.submit(1, "alice", P, BUY, 1, 20_000)
    assert resting.resting  # far below the mark: not taking
    assert v.amend(2, "alice", resting.order_id, price=31_501).reason is Reason.PRICE_BAND_EXCEEDED
    assert v.submit_legs(2, "alice", [(P, BUY, 1, 31_501)]).reason is Reason.PRICE_BAND_EXCEEDED
    v._check()


def test_no_band_without_a_mark() -> None:
    v = venue(mark=False)
    assert v.submit(1, "alice", P, BUY, 1, 60_000).accepted


def test_a_fast_move_halts_the_instrument() -> None:
    journal = JournalWriter()
    v = venue(journal)
    resting = v.submit(1, "alice", P, BUY, 1, 29_000)
    stop = v.submit(1, "bob", P, SELL, 1, order_type=OrderType.STOP_MARKET, stop_price=29_000)
    assert resting.resting and stop.stop_pending  # a stop-market order has no limit to band
    v.set_mark_price(30 * S, P, 33_001)  # +10.003% within 60 s of the mark at 0
    assert v.halted_until == {P: 330 * S}
    _, events = read_journal(journal.getvalue())
    assert [Ev.HALTED, 0, 330 * S] in events
    assert v.submit(31 * S, "alice", P, BUY, 1, 33_000).reason is Reason.INSTRUMENT_HALTED
    assert v.amend(31 * S, "alice", resting.order_id, price=29_500).reason is Reason.INSTRUMENT_HALTED
    assert v.submit_legs(31 * S, "alice", [(P, BUY, 1, 33_000)]).reason is Reason.INSTRUMENT_HALTED
    assert v.cancel(31 * S, "alice", resting.order_id).ok
    assert v.submit(330 * S, "alice", P, BUY, 1, 33_000).accepted  # the halt is over
    v._check()
    assert replay(journal.getvalue()).ok


def test_a_stop_that_triggers_during_a_halt_ends() -> None:
    config = VenueConfig((USDC,), (PERP,), reference_price="external", breakers=(BREAKER,))
    journal = JournalWriter()
    v = Venue(config, journal=journal)
    v.open_account(0, "alice")
    v.set_mark_price(0, P, 30_000)
    v.set_reference_price(0, P, 30_000)
    stop = v.submit(
        1, "alice", P, BUY, 1, 31_000, OrderType.STOP_LIMIT, stop_price=30_500, trigger=Trigger.EXTERNAL
    )
    assert stop.stop_pending
    v.set_mark_price(2 * S, P, 33_001)  # halts until 302 s
    v.set_reference_price(3 * S, P, 30_600)  # the stop triggers during the halt
    assert v.stop_orders("alice") == [] and v.open_orders("alice") == []
    _, events = read_journal(journal.getvalue())
    assert events[-2:] == [
        [Ev.TRIGGERED, stop.order_id],
        [Ev.ENDED, stop.order_id, Reason.INSTRUMENT_HALTED, 1],
    ]
    v._check()


def test_moves_at_the_threshold_or_slower_than_the_window_do_not_halt() -> None:
    v = venue()
    v.set_mark_price(10 * S, P, 33_000)  # exactly +10%
    assert v.halted_until == {}
    v.set_mark_price(80 * S, P, 36_000)  # +9.1% on 33,000; 30,000 left the window at 70 s
    assert v.halted_until == {}


def test_breaker_configuration() -> None:
    config = VenueConfig((USDC,), (PERP,), breakers=(BREAKER,))
    assert VenueConfig.from_dict(config.to_dict()) == config
    assert VenueConfig.from_dict({**config.to_dict(), "breakers": []}).breakers == ()
    with pytest.raises(UnitError):
        VenueConfig((USDC,), (PERP,), breakers=(Breaker("ETH-PERP", band_ppm=1),))
    with pytest.raises(UnitError):
        VenueConfig((USDC,), (PERP,), breakers=(BREAKER, BREAKER))
    with pytest.raises(UnitError):
        Breaker(P, band_ppm=-1)
    with pytest.raises(UnitError):
        Breaker(P, band_ppm=1_000_000)
    with pytest.raises(UnitError):
        Breaker(P, halt_move_ppm=1)  # no window, no duration


SCENARIO = (
    '[scenario]\nname = "b"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n[[instruments]]\nsymbol = "P"\n'
    'kind = "perpetual"\nunderlying = "BTC"\nsettlement_asset = "USDC"\ntick_size = "1"\n'
)


def test_breakers_in_scenario_files() -> None:
    text = (
        SCENARIO
        + '[[breakers]]\ninstrument = "P"\nband_ppm = 50000\n'
        + 'halt_move_ppm = 100000\nwindow = "60"\nhalt = "300"\n'
    )
    assert loads_scenario(text).venue.breakers == (Breaker("P", 50_000, 100_000, 60 * S, 300 * S),)


@pytest.mark.parametrize(
    ("table", "field", "expected"),
    [
        ('instrument = "Q"\n', "breakers[0].instrument", "an instrument declared in [[instruments]] (P)"),
        ("band_ppm = 1000000\n", "breakers[0].band_ppm", "an integer from 0 to 999999 (ppm)"),
        ("halt_move_ppm = 5\n", "breakers[0].window", "required with halt_move_ppm"),
        (
            'halt_move_ppm = 5\nwindow = "0"\nhalt = "1"\n',
            "breakers[0].window",
            "a positive number of seconds",
        ),
        ('window = "-1"\n', "breakers[0].window", "a non-negative number of seconds"),
        ("bandppm = 1\n", "breakers[0].bandppm", "did you mean 'band_ppm'"),
    ],
)
def test_bad_breakers_in_scenario_files_name_the_field(table: str, field: str, expected: str) -> None:
    header = "[[breakers]]\n" + ("" if table.startswith("instrument") else 'instrument = "P"\n')
    with pytest.raises(ScenarioError) as info:
        loads_scenario(SCENARIO + header + table)
    assert info.value.field == field
    assert expected in info.value.expected


def test_one_breaker_per_instrument_in_scenario_files() -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(SCENARIO + '[[breakers]]\ninstrument = "P"\n[[breakers]]\ninstrument = "P"\n')
    assert info.value.field == "breakers[1].instrument"


def _scan(history: list[tuple[int, int]], ts: int, window_us: int, mark: int, move_ppm: int) -> bool:
    """The definition, by brute force: some mark in force within the window is too far from
    ``mark`` (the marks set in the window, and the last one set at or before its start)."""
    start = ts - window_us
    in_force = [m for t, m in history if t <= start][-1:]
    window = in_force + [m for t, m in history if t > start]
    return any(abs(mark - earlier) * 1_000_000 > earlier * move_ppm for earlier in window)


@given(
    window_us=st.integers(0, 50),
    move_ppm=st.integers(0, 1_500_000),
    steps=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 200)), max_size=60),
)
def test_mark_window_agrees_with_a_full_scan(
    window_us: int, move_ppm: int, steps: list[tuple[int, int]]
) -> None:
    """The O(1) min/max window answers exactly what scanning every mark in force in the window answers."""
    window = MarkWindow(window_us)
    history: list[tuple[int, int]] = []
    ts = 0
    for gap, mark in steps:
        ts += gap
        assert window.moved_too_far(ts, mark, move_ppm) == _scan(history, ts, window_us, mark, move_ppm)
        history.append((ts, mark))
