"""Open-interest-dependent initial margin (as dYdX v4 does), with hand-checked numbers.

The rule (``exchange_sim/margin/open_interest.py``): with ``f = clamp((oi_notional - lower) /
(upper - lower), 0, 1)``, a position's initial requirement is ``initial + ceil((notional -
initial) x f)``; its rate ``r`` becomes ``r + (1 - r) f``.

Worked example (also in ``docs/margin.md``; USDC, 1 USDC = 1,000,000 atoms): caps 100,000 /
200,000 USDC, a 10% initial rate, a position of 0.3 BTC at 30,000 (notional 9,000, initial 900):

- open interest 3 BTC (90,000 USDC): below the lower cap, initial 900;
- open interest 5 BTC (150,000 USDC): f = 1/2, initial 900 + (9,000 - 900) / 2 = 4,950 (55%);
- open interest 7 BTC (210,000 USDC): above the upper cap, initial 9,000 (100%).

Behaviours verified:
- ``scaled_initial`` below, at and above the caps, midway, and rounding up (one atom, once);
  it equals the rate form ``notional x (r + (1 - r) f)`` rounded up, and never decreases with
  open interest;
- ``OpenInterestCaps`` validates its fields (ints, not bools; ``0 <= lower < upper``);
- ``MarginConfig`` round-trips its caps through ``to_dict``/``from_dict``, reads a configuration
  without them, and refuses caps on an instrument without brackets;
- ``CrossMargin.state`` and ``totals`` agree with caps, and maintenance does not change;
- ``Ledger.open_interest`` is the sum of long sizes after any fills (self-trades included) and a
  fill that fails midway leaves it untouched;
- on a venue, the same order is accepted while open interest is low and refused by the risk gate
  once open interest has grown past the lower cap; the journal replays with the same refusal;
- scenario files: ``open_interest_caps = ["lower", "upper"]`` on a bracketed contract; malformed
  values and caps on a spot pair name the field path.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim import ledger as ledger_module
from exchange_sim.accounts import Account, Position
from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.ledger import Ledger
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.open_interest import OpenInterestCaps, scaled_initial
from exchange_sim.orders import Reason, Side
from exchange_sim.replay import replay
from exchange_sim.scenario import ScenarioError, loads_scenario
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC, BTC = Asset("USDC", 6), Asset("BTC", 8)
M = 1_000_000  # atoms per USDC
P = "BTC-PERP"
BUY, SELL = Side.BUY, Side.SELL
CAPS = OpenInterestCaps(100_000 * M, 200_000 * M)
PERP = Instrument.create(
    P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
)  # 1,000 atoms per tick per lot: a price in ticks is a price in USDC
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000)])  # maintenance 5%, initial 10%


# scaled_initial -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oi_usdc", "expected_usdc"),
    [
        (0, 900),  # no open interest
        (90_000, 900),  # 3 BTC at 30,000: below the lower cap
        (100_000, 900),  # at the lower cap: f = 0
        (125_000, 2_925),  # f = 1/4: 900 + 8,100 / 4
        (150_000, 4_950),  # 5 BTC: f = 1/2, the worked example (55%)
        (200_000, 9_000),  # at the upper cap: 100%
        (210_000, 9_000),  # 7 BTC: above it, still 100%
    ],
)
def test_worked_example(oi_usdc: int, expected_usdc: int) -> None:
    assert scaled_initial(900 * M, 9_000 * M, oi_usdc * M, CAPS) == expected_usdc * M


def test_rounds_up_once() -> None:
    caps = OpenInterestCaps(100_000, 200_000)
    # f = 25,001 / 100,000: 8,100 x f = 2,025.081 atoms, charged as 2,026
    assert scaled_initial(900, 9_000, 125_001, caps) == 900 + 2_026
    # f = 1/3 of 10 atoms: 3.33.. -> 4; an exact add-on is not rounded
    assert scaled_initial(0, 10, 1, OpenInterestCaps(0, 3)) == 4
    assert scaled_initial(1, 10, 1, OpenInterestCaps(0, 3)) == 1 + 3


AMOUNTS = st.integers(0, 10**15)


@given(
    notional=AMOUNTS,
    rate=st.integers(1, 999_999),
    lower=AMOUNTS,
    width=st.integers(1, 10**15),
    oi=st.integers(0, 3 * 10**15),
)
def test_equals_the_rate_form_rounded_up(notional: int, rate: int, lower: int, width: int, oi: int) -> None:
    """``initial + ceil((notional - initial) f)`` is dYdX's ``r + (1 - r) f`` on the notional."""
    initial = ceil(Fraction(notional * rate, 1_000_000))
    caps = OpenInterestCaps(lower, lower + width)
    f = min(max(Fraction(oi - lower, width), Fraction(0)), Fraction(1))
    r = Fraction(initial, notional) if notional else Fraction(0)
    got = scaled_initial(initial, notional, oi, caps)
    assert got == ceil(notional * (r + (1 - r) * f))
    assert initial <= got <= notional
    assert got <= scaled_initial(initial, notional, oi + 1, caps)  # never decreases with OI


@pytest.mark.parametrize(
    ("lower", "upper", "field"),
    [
        (-1, 10, "lower"),
        (True, 10, "lower"),
        (1.0, 10, "lower"),
        (0, 0, "upper"),
        (10, 5, "upper"),
        (0, False, "upper"),
        (0, "10", "upper"),
    ],
)
def test_caps_are_validated(lower: Any, upper: Any, field: str) -> None:
    with pytest.raises(UnitError) as info:
        OpenInterestCaps(lower, upper)
    assert info.value.field == field and info.value.expected


# configuration --------------------------------------------------------------------------------


def margin_config(caps: OpenInterestCaps | None = CAPS) -> MarginConfig:
    return MarginConfig("USDC", ((P, SCHEDULE),), open_interest_caps=((P, caps),) if caps is not None else ())


def test_margin_config_round_trip() -> None:
    config = margin_config()
    data = config.to_dict()
    assert data["open_interest_caps"] == [[P, {"lower": 100_000 * M, "upper": 200_000 * M}]]
    assert MarginConfig.from_dict(data) == config
    plain = margin_config(None).to_dict()
    del plain["open_interest_caps"]  # a header written before the field existed
    assert MarginConfig.from_dict(plain) == margin_config(None)


@pytest.mark.parametrize(
    "caps",
    [
        [[P, {"lower": 1}]],
        [[P, {"lower": 2, "upper": 1}]],
        [[P]],
        {"BTC-PERP": {"lower": 1, "upper": 2}},
    ],
)
def test_margin_config_from_dict_refuses_malformed_caps(caps: object) -> None:
    data = {**margin_config(None).to_dict(), "open_interest_caps": caps}
    with pytest.raises(UnitError):
        MarginConfig.from_dict(data)


def test_caps_need_brackets_and_appear_once() -> None:
    with pytest.raises(UnitError, match="without brackets") as info:
        MarginConfig("USDC", ((P, SCHEDULE),), open_interest_caps=(("ETH-PERP", CAPS),))
    assert info.value.field == "open_interest_caps"
    with pytest.raises(UnitError, match="twice"):
        MarginConfig("USDC", ((P, SCHEDULE),), open_interest_caps=((P, CAPS), (P, CAPS)))
    with pytest.raises(UnitError):
        MarginConfig("USDC", ((P, SCHEDULE),), open_interest_caps=((P, (1, 2)),))  # type: ignore[arg-type]


# cross margin ---------------------------------------------------------------------------------


def test_cross_margin_uses_open_interest_for_initial_only() -> None:
    oi = {P: 3_000}  # lots: 3 BTC
    cross = CrossMargin("USDC", {P: PERP}, {P: SCHEDULE}, {"USDC": USDC}, {}, oi, {P: CAPS})
    account = Account("alice", 1, {"USDC": -8_000 * M}, {P: Position(300, 9_000 * M)})
    marks = {P: 30_000}
    low = cross.of(account, marks, {})
    assert (low.equity, low.initial, low.maintenance) == (1_000 * M, 900 * M, 450 * M)
    oi[P] = 5_000  # the live dict grows: 150,000 USDC of open interest, f = 1/2
    high = cross.of(account, marks, {})
    assert (high.equity, high.initial, high.maintenance) == (1_000 * M, 4_950 * M, 450 * M)
    assert cross.totals(account.balances, {P: 300}, marks, {}) == (1_000 * M, 4_950 * M, 450 * M)


@given(
    size=st.integers(-20_000, 20_000),
    mark=st.integers(1, 60_000),
    oi=st.integers(0, 20_000),
    balance=st.integers(-(10**12), 10**12),
)
def test_state_and_totals_agree_with_caps(size: int, mark: int, oi: int, balance: int) -> None:
    eth = Instrument.create(
        "ETH-PERP", kind="perpetual", underlying="ETH", settlement=USDC, tick_size="0.01", lot_size="0.01"
    )
    instruments = {P: PERP, "ETH-PERP": eth}
    schedules = {
        P: BracketSchedule.create([Bracket(0, 40_000, 80_000), Bracket(50_000 * M, 50_000, 100_000)]),
        "ETH-PERP": SCHEDULE,
    }
    cross = CrossMargin(
        "USDC", instruments, schedules, {"USDC": USDC}, {}, {P: oi, "ETH-PERP": oi}, {P: CAPS}
    )
    sizes = {P: size, "ETH-PERP": -size}
    marks = {P: mark, "ETH-PERP": mark}
    state = cross.state({"USDC": balance}, sizes, marks, {})
    assert cross.totals({"USDC": balance}, sizes, marks, {}) == (
        state.equity,
        state.initial,
        state.maintenance,
    )
    plain = CrossMargin("USDC", instruments, schedules, {"USDC": USDC}, {})
    base = plain.state({"USDC": balance}, sizes, marks, {})
    assert base.maintenance == state.maintenance and base.initial <= state.initial
    btc, eth_margin = state.positions if size else ((), ())
    if size:
        assert eth_margin.initial == base.positions[1].initial  # no caps: the brackets alone
        assert btc.initial == scaled_initial(base.positions[0].initial, btc.notional, oi * mark * 1_000, CAPS)


# the ledger's open interest -------------------------------------------------------------------


def long_sizes(accounts: list[Account]) -> int:
    return sum(max(a.position(P).size, 0) for a in accounts)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 50), st.integers(1, 60_000)),
        max_size=60,
    )
)
def test_open_interest_is_the_sum_of_long_sizes(fills: list[tuple[int, int, int, int]]) -> None:
    ledger = Ledger(["USDC"])
    accounts = [ledger.open(name) for name in "abcd"]
    for buyer, seller, lots, price in fills:  # buyer == seller: a self-trade
        ledger.settle_trade(PERP, accounts[buyer], accounts[seller], price, lots, 5, -1)
        assert ledger.open_interest[P] == long_sizes(accounts)
        ledger._check([P])


def test_open_interest_by_hand_and_check_catches_drift() -> None:
    ledger = Ledger(["USDC"])
    a, b, c = (ledger.open(name) for name in "abc")
    ledger.settle_trade(PERP, a, b, 30_000, 300, 0, 0)  # a long 300, b short 300
    assert ledger.open_interest[P] == 300
    ledger.settle_trade(PERP, c, a, 30_000, 500, 0, 0)  # a flips to short 200, c long 500
    assert ledger.open_interest[P] == 500
    ledger.settle_trade(PERP, b, c, 30_000, 100, 0, 0)  # b reduces its short, c reduces its long
    assert ledger.open_interest[P] == 400
    ledger.settle_trade(PERP, c, c, 30_000, 100, 0, 0)  # a self-trade changes nothing
    assert ledger.open_interest[P] == 400
    ledger._check([P])
    ledger.open_interest[P] += 1
    with pytest.raises(AssertionError, match="open interest"):
        ledger._check([P])


def test_a_fill_failing_midway_leaves_open_interest_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(["USDC"])
    a, b = ledger.open("a"), ledger.open("b")
    ledger.settle_trade(PERP, a, b, 30_000, 300, 0, 0)
    original = ledger_module.position_after
    calls = {"n": 0}

    def failing(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the seller's side, after the buyer's was computed
            raise RuntimeError("injected")
        return original(*args)

    monkeypatch.setattr(ledger_module, "position_after", failing)
    with pytest.raises(RuntimeError):
        ledger.settle_trade(PERP, a, b, 30_000, 100, 0, 0)
    assert ledger.open_interest == {P: 300}
    assert (a.positions[P].size, b.positions[P].size) == (300, -300)


# the risk gate on a venue ---------------------------------------------------------------------


def venue(caps: OpenInterestCaps | None = CAPS, journal: JournalWriter | None = None) -> Venue:
    """As ``tests/test_margin_gate.py``: alice 1,000 USDC, mm 10,000,000, whale 1,000,000; mark 30,000."""
    config = VenueConfig((USDC, BTC), (PERP,), margin=margin_config(caps))
    v = Venue(config, journal=journal)
    for name, cash in (("alice", "1000"), ("mm", "10000000"), ("whale", "1000000")):
        assert v.open_account(0, name).ok
        assert v.deposit(0, name, "USDC", cash).ok
    v.set_mark_price(0, P, 30_000)
    return v


def test_same_order_accepted_at_low_open_interest() -> None:
    v = venue()
    v.submit(1, "mm", P, SELL, 1_000, 30_000)
    result = v.submit(2, "alice", P, BUY, 300, 30_000)  # initial 900 <= equity 1,000
    assert result.filled == 300 and result.reason is None
    assert v.ledger.open_interest[P] == 300
    v._check()


def test_same_order_refused_once_open_interest_is_past_the_lower_cap() -> None:
    journal = JournalWriter()
    v = venue(journal=journal)
    v.submit(1, "mm", P, SELL, 6_000, 30_000)
    assert v.submit(2, "whale", P, BUY, 5_000, 30_000).filled == 5_000  # OI 5 BTC = 150,000 USDC
    assert v.ledger.open_interest[P] == 5_000
    result = v.submit(3, "alice", P, BUY, 300, 30_000)  # initial 4,950 (f = 1/2) > 1,000
    assert result.accepted and result.fills == [] and result.reason is Reason.TAKER_RISK_REFUSED
    assert P not in v.account("alice").positions
    # 0.061 BTC: 183 + (1,830 - 183) / 2 = 1,006.5 > 1,000; 0.06 BTC: 180 + 810 = 990 fits
    assert scaled_initial(183 * M, 1_830 * M, 150_000 * M, CAPS) == 1_006_500_000
    assert scaled_initial(180 * M, 1_800 * M, 150_000 * M, CAPS) == 990 * M
    assert v.submit(4, "alice", P, BUY, 61, 30_000).reason is Reason.TAKER_RISK_REFUSED
    assert v.submit(5, "alice", P, BUY, 60, 30_000).filled == 60
    assert v.ledger.open_interest[P] == 5_060
    # the whale's requirement grew too: 15,000 + (150,000 - 15,000) x 0.518 = 84,930 USDC
    whale = v.gate.cross.of(v.account("whale"), v.marks, {})  # type: ignore[attr-defined]
    assert (whale.initial, whale.maintenance) == (84_930 * M, 7_500 * M)
    v._check()
    report = replay(journal.getvalue())
    assert report.ok and report.venue.ledger.open_interest == {P: 5_060}


def test_without_caps_the_same_order_is_accepted_at_high_open_interest() -> None:
    v = venue(caps=None)
    v.submit(1, "mm", P, SELL, 6_000, 30_000)
    v.submit(2, "whale", P, BUY, 5_000, 30_000)
    assert v.submit(3, "alice", P, BUY, 300, 30_000).filled == 300
    v._check()


# scenario files -------------------------------------------------------------------------------


def scenario(
    caps: str | None = '["100000", "200000"]', *, spot_caps: str | None = None, margin: bool = True
) -> str:
    perp_caps = "" if caps is None else f"open_interest_caps = {caps}\n"
    spot_line = "" if spot_caps is None else f"open_interest_caps = {spot_caps}\n"
    brackets = (
        'brackets = [{ floor = "0", maintenance_ppm = 50000, initial_ppm = 100000 }]\n' if margin else ""
    )
    margin_table = '[margin]\nsettlement_asset = "USDC"\n\n' if margin else ""
    return f"""
[scenario]
name = "oi"

[[assets]]
symbol = "USDC"
decimals = 6

[[assets]]
symbol = "BTC"
decimals = 8

{margin_table}[[instruments]]
symbol = "BTC-PERP"
kind = "perpetual"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "1"
lot_size = "0.001"
{brackets}{perp_caps}
[[instruments]]
symbol = "BTC-USDC"
kind = "spot"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "1"
lot_size = "0.001"
{spot_line}"""


def test_scenario_reads_caps_in_settlement_units() -> None:
    config = loads_scenario(scenario()).venue
    assert config.margin is not None
    assert config.margin.open_interest_caps == ((P, CAPS),)
    assert VenueConfig.from_dict(config.to_dict()) == config
    decimals = loads_scenario(scenario('["0.5", 1]')).venue.margin
    assert decimals is not None and decimals.open_interest_caps == ((P, OpenInterestCaps(500_000, M)),)
    plain = loads_scenario(scenario(None)).venue.margin
    assert plain is not None and plain.open_interest_caps == ()


@pytest.mark.parametrize(
    ("caps", "field", "expected"),
    [
        ('"100000"', "instruments[0].open_interest_caps", "an array of two open notionals"),
        ('["100000"]', "instruments[0].open_interest_caps", "an array of two open notionals"),
        ('["1", "2", "3"]', "instruments[0].open_interest_caps", "an array of two open notionals"),
        ('["ten", "200000"]', "instruments[0].open_interest_caps[0]", "a non-negative amount of USDC"),
        ('[0.5, "200000"]', "instruments[0].open_interest_caps[0]", "a TOML float"),
        ('["-1", "200000"]', "instruments[0].open_interest_caps[0]", "a non-negative amount of USDC"),
        ('["0", "0.0000001"]', "instruments[0].open_interest_caps[1]", "at most 6 decimals"),
        ('["100000", true]', "instruments[0].open_interest_caps[1]", "a non-negative amount of USDC"),
        ('["200000", "100000"]', "instruments[0].open_interest_caps[1]", 'above the lower cap "200000"'),
        ('["5", "5"]', "instruments[0].open_interest_caps[1]", "an upper cap above the lower cap"),
    ],
)
def test_scenario_malformed_caps_name_the_field(caps: str, field: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(scenario(caps))
    assert info.value.field == field
    assert expected in info.value.expected or expected in str(info.value)


def test_scenario_caps_only_on_bracketed_contracts() -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(scenario(spot_caps='["1", "2"]'))
    assert info.value.field == "instruments[1].open_interest_caps"
    assert "spot pair" in info.value.expected
    with pytest.raises(ScenarioError) as info:
        loads_scenario(scenario(margin=False))
    assert info.value.field == "instruments[0].open_interest_caps"
    assert "[margin]" in info.value.expected
