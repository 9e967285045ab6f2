"""Tiered margin brackets (exchange_sim.margin.brackets): deductions, requirements, validation.

Behaviours verified:
- the 3-band example of docs/margin.md, hand-checked: deductions, a notional in each band (each
  checked again as a sum of slices, one per band), rounding up of a notional that is not whole;
- Binance's published BTCUSDT numbers: level-2 and level-3 maintenance amounts (50 and 1,300 USDT,
  the FAQ's worked example), the rate and amount the FAQ reads off the table for 264,000 and
  500,000 USDT, the further amounts derived from the published tier table, the initial schedule
  built the same way, and the same requirement at a floor whichever side's band is used;
- Pionex's published worked example (200,000 x 1% - 750 = 1,250) and its table's margin amounts;
- Hyperliquid's published BTC tiers (40x, then 20x from 150M USDC): derived deduction and
  continuity at the tier floor;
- deductions that are not whole atoms are kept exact: the result differs from a computation that
  rounds the deduction or the product to atoms first;
- a one-band schedule is a flat rate with no deduction;
- every validation rule raises UnitError with its field set (schedule, band, notional,
  configuration), and a Binance 1x tier (initial rate 100%) is refused;
- to_config/from_config round-trip, also through msgpack; from_config errors name the band;
- properties (hypothesis), for random valid schedules: the requirement equals the sum of slices
  at each band's rate, exactly; at every band floor the lower band's rate and deduction give the
  same scaled requirement as the upper band's; requirements never decrease with notional and
  initial >= maintenance; the rounded requirement is never below the exact value and less than
  one atom above it;
- the module's docstring examples run.
"""

from __future__ import annotations

import doctest
import math
from fractions import Fraction
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.margin import brackets as brackets_module
from exchange_sim.margin.brackets import (
    FLOOR_EXPECTED,
    NOTIONAL_EXPECTED,
    RATE_EXPECTED,
    Bracket,
    BracketSchedule,
)
from exchange_sim.units import PPM, Asset, UnitError

USDC = Asset("USDC", 6)
USDT = Asset("USDT", 6)


def usd(amount: str) -> int:
    """Atoms of a 6-decimal dollar stablecoin (USDC and USDT both have 6 decimals here)."""
    return USDT.atoms(amount)


def scaled(amount: str) -> int:
    """A dollar amount in the schedule's scaled units: atoms x PPM."""
    return usd(amount) * PPM


def schedule_of(rows: list[tuple[str, int, int]]) -> BracketSchedule:
    """A schedule from (floor in dollars, maintenance ppm, initial ppm) rows."""
    return BracketSchedule.create(Bracket(usd(floor), m, i) for floor, m, i in rows)


def slices(schedule: BracketSchedule, notional: int, rate: str) -> int:
    """Reference model, independent of the deductions: each slice of the notional at its own
    band's rate (the "tax bracket" reading), in atoms x PPM."""
    bands = schedule.brackets
    total = 0
    for j, band in enumerate(bands):
        top = bands[j + 1].floor if j + 1 < len(bands) else None
        part = (notional if top is None else min(notional, top)) - band.floor
        total += max(part, 0) * getattr(band, rate)
    return total


# --- the docs/margin.md example ------------------------------------------------------------

DOCS_EXAMPLE = [
    ("0", 10_000, 20_000),  # 1% maintenance, 2% initial
    ("10000", 25_000, 50_000),  # 2.5%, 5%
    ("100000", 50_000, 100_000),  # 5%, 10%
]


def test_docs_example_hand_checked() -> None:
    schedule = schedule_of(DOCS_EXAMPLE)
    # maintenance: d1 = 10,000 x (2.5% - 1%) = 150;  d2 = 150 + 100,000 x (5% - 2.5%) = 2,650
    # initial:     d1 = 10,000 x (5% - 2%)   = 300;  d2 = 300 + 100,000 x (10% - 5%)  = 5,300
    assert schedule.deductions() == (
        (0, 0),
        (scaled("150"), scaled("300")),
        (scaled("2650"), scaled("5300")),
    )
    # 5,000 in band 0: 5,000 x 1% = 50; 5,000 x 2% = 100
    assert schedule.bracket_index(usd("5000")) == 0
    assert schedule.maintenance(usd("5000")) == usd("50")
    assert schedule.initial(usd("5000")) == usd("100")
    # 40,000 in band 1: 40,000 x 2.5% - 150 = 850 (slices: 10,000 x 1% + 30,000 x 2.5% = 100 + 750)
    #                   40,000 x 5% - 300 = 1,700 (slices: 200 + 1,500)
    assert schedule.bracket_index(usd("40000")) == 1
    assert schedule.maintenance(usd("40000")) == usd("850")
    assert schedule.initial(usd("40000")) == usd("1700")
    # 250,000 in band 2: 250,000 x 5% - 2,650 = 9,850 (slices: 100 + 90,000 x 2.5% + 150,000 x 5%
    # = 100 + 2,250 + 7,500); initial 250,000 x 10% - 5,300 = 19,700 (200 + 4,500 + 15,000)
    assert schedule.bracket_index(usd("250000")) == 2
    assert schedule.maintenance(usd("250000")) == usd("9850")
    assert schedule.initial(usd("250000")) == usd("19700")
    # continuity at the floors: 10,000 x 1% = 100 = 10,000 x 2.5% - 150;
    # 100,000 x 2.5% - 150 = 2,350 = 100,000 x 5% - 2,650
    assert schedule.maintenance(usd("10000")) == usd("100")
    assert usd("10000") * 10_000 == schedule.describe(usd("10000")).maintenance_scaled
    assert schedule.maintenance(usd("100000")) == usd("2350")
    assert usd("100000") * 25_000 - scaled("150") == schedule.describe(usd("100000")).maintenance_scaled
    # 40,000.000001: 40,000,000,001 atoms x 25,000 ppm - 150 x 10**12 = 850,000,000,025,000
    # atom-ppm = 850,000,000.025 atoms, rounded up to 850,000,001 atoms (850.000001 USDC)
    b = schedule.describe(usd("40000.000001"))
    assert (b.index, b.floor, b.maintenance_ppm) == (1, usd("10000"), 25_000)
    assert b.maintenance_deduction_scaled == 150_000_000_000_000
    assert b.maintenance_scaled == 850_000_000_025_000
    assert b.maintenance == 850_000_001
    assert USDC.format(b.maintenance) == "850.000001"
    # initial: 40,000,000,001 x 50,000 - 300 x 10**12 = 1,700,000,000,050,000 -> 1,700,000,001
    assert (b.initial_ppm, b.initial_deduction_scaled) == (50_000, 300_000_000_000_000)
    assert b.initial_scaled == 1_700_000_000_050_000
    assert b.initial == 1_700_000_001


# --- published examples ----------------------------------------------------------------------

BINANCE_BTCUSDT = [
    # floor (USDT), maintenance ppm, initial ppm: BTCUSDT 125x tiers of the 2021-03-18 update
    ("0", 4_000, 8_000),  # 125x: 0.40% / 0.80%
    ("50000", 5_000, 10_000),  # 100x: 0.50% / 1.00%
    ("250000", 10_000, 20_000),  # 50x: 1.00% / 2.00%
    ("1000000", 25_000, 50_000),  # 20x: 2.50% / 5.00%
    ("10000000", 50_000, 100_000),  # 10x: 5.00% / 10.00%
    ("20000000", 100_000, 200_000),  # 5x: 10.00% / 20.00%
    ("50000000", 125_000, 250_000),  # 4x: 12.50% / 25.00%
    ("100000000", 150_000, 333_000),  # 3x: 15.00% / 33.30% (as published)
    ("200000000", 250_000, 500_000),  # 2x: 25.00% / 50.00%
    # 300,000,000: 1x, 50.00% / 100.00%: refused (initial rate must be below 100%), see below
]


def test_binance_btcusdt_published_maintenance_amounts() -> None:
    """Binance's worked example and table look-ups for BTCUSDT (USDⓈ-M).

    Published in "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts":
    https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-usd%E2%93%A2-m-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93
    "Maintenance Amount on Level 3 = 250,000 * (1% - 0.5%) + 50 USDT = 1,300 USDT"; a 264,000 USDT
    position has maintenance margin rate 1%; a 500,000 USDT position has maintenance amount 1,300.
    Tier table (floors, rates): "Updates to Leverage and Margin Tiers of Binance Futures Contracts
    (2021-03-18)", https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6 .
    """
    schedule = schedule_of(BINANCE_BTCUSDT)
    maintenance_amounts = [m for m, _ in schedule.deductions()]
    # published: level 2 = 50 (50,000 x (0.5% - 0.4%)), level 3 = 250,000 x (1% - 0.5%) + 50 = 1,300
    assert maintenance_amounts[1] == scaled("50")
    assert maintenance_amounts[2] == scaled("1300")
    # published look-ups: 264,000 USDT -> rate 1%; 500,000 USDT -> maintenance amount 1,300
    at_264k = schedule.describe(usd("264000"))
    assert (at_264k.index, at_264k.maintenance_ppm) == (2, 10_000)
    assert schedule.describe(usd("500000")).maintenance_deduction_scaled == scaled("1300")
    # derived with the published formula: 264,000 x 1% - 1,300 = 2,640 - 1,300 = 1,340 USDT
    assert schedule.maintenance(usd("264000")) == usd("1340")
    # derived with the published formula from the published tier table (not themselves published):
    # 1,300 + 1,000,000 x 1.5% = 16,300; + 10,000,000 x 2.5% = 266,300; + 20,000,000 x 5%
    # = 1,266,300; + 50,000,000 x 2.5% = 2,516,300; + 100,000,000 x 2.5% = 5,016,300;
    # + 200,000,000 x 10% = 25,016,300
    assert maintenance_amounts[3:] == [
        scaled(x) for x in ("16300", "266300", "1266300", "2516300", "5016300", "25016300")
    ]


def test_binance_btcusdt_requirement_at_a_floor_is_the_same_in_either_band() -> None:
    """Binance's bands are "50,000 < Position <= 250,000" (a floor belongs to the band below); ours
    start at their floor (Hyperliquid's lower bounds). Continuity makes the requirement the same.

    Table: https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6 ;
    formula:
    https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-usd%E2%93%A2-m-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93
    """
    schedule = schedule_of(BINANCE_BTCUSDT)
    b = schedule.describe(usd("250000"))
    assert (b.index, b.floor) == (2, usd("250000"))
    # level 3 (ours): 250,000 x 1% - 1,300 = 1,200; level 2 (Binance's): 250,000 x 0.5% - 50 = 1,200
    assert b.maintenance == usd("1200")
    level2 = schedule.brackets[1]
    assert usd("250000") * level2.maintenance_ppm - schedule.deductions()[1][0] == b.maintenance_scaled
    # one atom below the floor is in level 2: 249,999.999999 x 0.5% - 50 = 1,199.999999995 -> up
    assert schedule.bracket_index(usd("249999.999999")) == 1
    assert schedule.maintenance(usd("249999.999999")) == usd("1200")


def test_binance_btcusdt_initial_schedule() -> None:
    """The initial rates of the Binance table with their own continuous deduction (the project's
    choice; Binance publishes a deduction for maintenance only).

    Table: https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6 .
    """
    schedule = schedule_of(BINANCE_BTCUSDT)
    initial_amounts = [i for _, i in schedule.deductions()]
    # 50,000 x (1% - 0.8%) = 100; 100 + 250,000 x (2% - 1%) = 2,600; 2,600 + 1,000,000 x 3% = 32,600
    assert initial_amounts[:4] == [0, scaled("100"), scaled("2600"), scaled("32600")]
    # 264,000 x 2% - 2,600 = 2,680; 40,000 x 0.8% = 320 (band 0, 125x)
    assert schedule.initial(usd("264000")) == usd("2680")
    assert schedule.initial(usd("40000")) == usd("320")
    # band 7 (100,000,000 < P <= 200,000,000, 33.30%): d7 = d6 + 100,000,000 x (33.3% - 25%), where
    # d6 = 32,600 + 10M x 5% + 20M x 10% + 50M x 5% = 32,600 + 500,000 + 2,000,000 + 2,500,000
    # = 5,032,600; d7 = 5,032,600 + 8,300,000 = 13,332,600; 150M x 33.3% - 13,332,600 = 36,617,400
    assert initial_amounts[7] == scaled("13332600")
    assert schedule.initial(usd("150000000")) == usd("36617400")


def test_binance_1x_tier_is_refused() -> None:
    """The last BTCUSDT tier (1x, initial 100.00%,
    https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6) cannot be
    written: rates are below 100% (PPM)."""
    with pytest.raises(UnitError) as err:
        Bracket(usd("300000000"), 500_000, 1_000_000)
    assert err.value.field == "initial_ppm"
    assert err.value.expected == RATE_EXPECTED


def test_pionex_published_worked_example() -> None:
    """Pionex, "Maintenance Margin", https://www.pionex.com/blog/maintenance-margin/ : the BTCUSDT
    risk-level table (margin amounts 0, 750, 8250, 58250, 308250, 1808250, 6808250) and the worked
    example "200,000 * 1.00% - 750 = 1,250".

    Pionex publishes maximum leverage, not initial rates (1/15x is no whole ppm), so the initial
    rates here equal the maintenance rates and are not checked.
    """
    rates = [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000]
    floors = ["0", "150000", "500000", "2000000", "5000000", "10000000", "20000000"]
    schedule = schedule_of([(f, r, r) for f, r in zip(floors, rates, strict=True)])
    assert [m for m, _ in schedule.deductions()] == [
        scaled(x) for x in ("0", "750", "8250", "58250", "308250", "1808250", "6808250")
    ]
    assert schedule.bracket_index(usd("200000")) == 1
    assert schedule.maintenance(usd("200000")) == usd("1250")
    # the same as slices: 150,000 x 0.5% + 50,000 x 1% = 750 + 500
    assert slices(schedule, usd("200000"), "maintenance_ppm") == scaled("1250")


def test_hyperliquid_btc_margin_tiers() -> None:
    """Hyperliquid, "Margin tiers", https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers :
    mainnet BTC, max leverage 40 for 0-150M USDC and 20 above; maintenance rate = initial rate at
    max leverage / 2 ("at 20x max leverage, maintenance_margin_rate = 2.5%"); deduction by the
    published recurrence. The deduction value below is derived, not published.
    """
    schedule = schedule_of([("0", 12_500, 25_000), ("150000000", 25_000, 50_000)])
    assert schedule.brackets[1].maintenance_ppm == 25_000  # published: 2.5% at 20x
    # 150,000,000 x (2.5% - 1.25%) = 1,875,000; initial 150,000,000 x (5% - 2.5%) = 3,750,000
    assert schedule.deductions() == ((0, 0), (scaled("1875000"), scaled("3750000")))
    # at the floor: 150M x 1.25% = 1,875,000 = 150M x 2.5% - 1,875,000
    assert schedule.maintenance(usd("150000000")) == usd("1875000")
    assert usd("150000000") * 12_500 == schedule.describe(usd("150000000")).maintenance_scaled
    # 200M: 200M x 2.5% - 1,875,000 = 3,125,000; initial 200M x 5% - 3,750,000 = 6,250,000
    assert schedule.maintenance(usd("200000000")) == usd("3125000")
    assert schedule.initial(usd("200000000")) == usd("6250000")


# --- exactness --------------------------------------------------------------------------------


def test_fractional_atom_deductions_are_kept_exact() -> None:
    # band 1 from 1,500,000 atoms, maintenance 1 -> 2 ppm: deduction 1,500,000 atom-ppm = 1.5 atoms
    schedule = BracketSchedule.create([Bracket(0, 1, 2), Bracket(1_500_000, 2, 4)])
    assert schedule.deductions() == ((0, 0), (1_500_000, 3_000_000))
    # 2,000,000 atoms: 4,000,000 - 1,500,000 = 2,500,000 atom-ppm = 2.5 atoms -> 3
    # (a deduction rounded up to 2 atoms first would give 4 - 2 = 2, below the exact 2.5)
    assert schedule.maintenance(2_000_000) == 3
    # 2,250,000 atoms: 4,500,000 - 1,500,000 = 3,000,000 = exactly 3 atoms
    # (rounding the product up and the deduction down first would give 5 - 1 = 4)
    assert schedule.maintenance(2_250_000) == 3
    # initial: 2,250,000 x 4 - 3,000,000 = 6,000,000 -> 6 atoms
    assert schedule.initial(2_250_000) == 6


def test_one_band_is_a_flat_rate() -> None:
    schedule = BracketSchedule.create([Bracket(0, 5_000, 20_000)])
    assert schedule.deductions() == ((0, 0),)
    assert schedule.bracket_index(10**30) == 0
    # 1,000,001 atoms x 0.5% = 5,000.005 -> 5,001; x 2% = 20,000.02 -> 20,001
    assert schedule.maintenance(1_000_001) == 5_001
    assert schedule.initial(1_000_001) == 20_001
    assert (schedule.maintenance(0), schedule.initial(0)) == (0, 0)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "expected"),
    [
        (dict(floor=-1, maintenance_ppm=1, initial_ppm=1), "floor", FLOOR_EXPECTED),
        (dict(floor=True, maintenance_ppm=1, initial_ppm=1), "floor", FLOOR_EXPECTED),
        (dict(floor=1.0, maintenance_ppm=1, initial_ppm=1), "floor", FLOOR_EXPECTED),
        (dict(floor="0", maintenance_ppm=1, initial_ppm=1), "floor", FLOOR_EXPECTED),
        (dict(floor=0, maintenance_ppm=0, initial_ppm=1), "maintenance_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=PPM, initial_ppm=PPM), "maintenance_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=-5, initial_ppm=1), "maintenance_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=True, initial_ppm=2), "maintenance_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=5000.0, initial_ppm=10_000), "maintenance_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=1, initial_ppm=0), "initial_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=1, initial_ppm=PPM), "initial_ppm", RATE_EXPECTED),
        (dict(floor=0, maintenance_ppm=1, initial_ppm=0.5), "initial_ppm", RATE_EXPECTED),
        (
            dict(floor=0, maintenance_ppm=5_000, initial_ppm=4_999),
            "initial_ppm",
            "initial_ppm >= maintenance_ppm (5000)",
        ),
    ],
)
def test_bracket_rules(kwargs: dict[str, Any], field: str, expected: str) -> None:
    with pytest.raises(UnitError) as err:
        Bracket(**kwargs)
    assert err.value.field == field
    assert err.value.expected == expected


@pytest.mark.parametrize(
    ("bands", "field", "in_message"),
    [
        ([], "brackets", "non-empty"),
        ([(0, 1, 2)], "brackets", "bracket 0 must be a Bracket"),
        ([Bracket(5, 1, 2)], "floor", "bracket 0 floor must be 0"),
        ([Bracket(0, 1, 2), Bracket(100, 1, 2), Bracket(100, 1, 2)], "floor", "bracket 2 floor 100"),
        ([Bracket(0, 1, 2), Bracket(100, 1, 2), Bracket(50, 1, 2)], "floor", "bracket 2 floor 50"),
        ([Bracket(0, 5_000, 10_000), Bracket(100, 4_999, 10_000)], "maintenance_ppm", "bracket 1"),
        ([Bracket(0, 4_000, 10_000), Bracket(100, 5_000, 9_999)], "initial_ppm", "bracket 1"),
    ],
)
def test_schedule_rules(bands: list[Any], field: str, in_message: str) -> None:
    with pytest.raises(UnitError) as err:
        BracketSchedule.create(bands)
    assert err.value.field == field
    assert in_message in str(err.value)


@pytest.mark.parametrize("bands", ["abc", 5, {"brackets": []}])
def test_create_refuses_what_is_not_a_list(bands: Any) -> None:
    with pytest.raises(UnitError) as err:
        BracketSchedule.create(bands)
    assert err.value.field == "brackets"


def test_equal_rates_across_bands_are_allowed() -> None:
    schedule = BracketSchedule.create([Bracket(0, 5_000, 5_000), Bracket(100, 5_000, 5_000)])
    assert schedule.deductions() == ((0, 0), (0, 0))
    assert schedule.maintenance(1_000) == 5  # 1,000 x 0.5% = 5 atoms


@pytest.mark.parametrize("notional", [-1, True, 1.5, "100", None])
@pytest.mark.parametrize("method", ["bracket_index", "maintenance", "initial", "describe"])
def test_notional_must_be_a_non_negative_integer(method: str, notional: Any) -> None:
    schedule = schedule_of(DOCS_EXAMPLE)
    with pytest.raises(UnitError) as err:
        getattr(schedule, method)(notional)
    assert err.value.field == "notional"
    assert err.value.expected == NOTIONAL_EXPECTED


# --- configuration ----------------------------------------------------------------------------


def test_config_round_trip_through_msgpack() -> None:
    schedule = schedule_of(DOCS_EXAMPLE)
    config = schedule.to_config()
    assert config == {
        "brackets": [
            {"floor": 0, "maintenance_ppm": 10_000, "initial_ppm": 20_000},
            {"floor": 10_000_000_000, "maintenance_ppm": 25_000, "initial_ppm": 50_000},
            {"floor": 100_000_000_000, "maintenance_ppm": 50_000, "initial_ppm": 100_000},
        ]
    }
    rebuilt = BracketSchedule.from_config(msgpack.unpackb(msgpack.packb(config)))
    assert rebuilt == schedule
    assert rebuilt.deductions() == schedule.deductions()


@pytest.mark.parametrize(
    ("data", "field", "in_message"),
    [
        ({}, "brackets", "missing 'brackets'"),
        ([], None, "must be a mapping"),
        ({"brackets": "0,1,2"}, "brackets", "must be a list"),
        ({"brackets": []}, "brackets", "non-empty"),
        ({"brackets": [5]}, None, "bracket 0 must be a mapping"),
        (
            {"brackets": [{"floor": 0, "maintenance_ppm": 1, "initial_ppm": 2}, {"floor": 9}]},
            "maintenance_ppm",
            "bracket 1 is missing 'maintenance_ppm'",
        ),
        (
            {"brackets": [{"floor": 0, "maintenance_ppm": 0.004, "initial_ppm": 8_000}]},
            "maintenance_ppm",
            "bracket 0 maintenance_ppm must be an integer",
        ),
        (
            {"brackets": [{"floor": 1, "maintenance_ppm": 4_000, "initial_ppm": 8_000}]},
            "floor",
            "bracket 0 floor must be 0",
        ),
    ],
)
def test_from_config_errors(data: Any, field: str | None, in_message: str) -> None:
    with pytest.raises(UnitError) as err:
        BracketSchedule.from_config(data)
    assert err.value.field == field
    assert in_message in str(err.value)


def test_from_config_keeps_expected_and_got_of_a_band_error() -> None:
    data = {"brackets": [{"floor": 0, "maintenance_ppm": 5_000, "initial_ppm": 4_000}]}
    with pytest.raises(UnitError) as err:
        BracketSchedule.from_config(data)
    assert (err.value.field, err.value.got) == ("initial_ppm", 4_000)
    assert err.value.expected == "initial_ppm >= maintenance_ppm (5000)"
    assert str(err.value) == "bracket 0 initial_ppm 4000 is below maintenance_ppm 5000"


# --- properties -------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> BracketSchedule:
    """Random valid schedules: 1 to 6 bands, floors from 1 atom to 10**15 atoms (small floors give
    deductions that are not whole atoms), rates anywhere in (0, PPM)."""
    floors = [0, *sorted(draw(st.sets(st.integers(1, 10**15), max_size=5)))]
    n = len(floors)
    maintenance = sorted(draw(st.lists(st.integers(1, PPM - 1), min_size=n, max_size=n)))
    extra = draw(st.lists(st.integers(0, PPM), min_size=n, max_size=n))
    initial: list[int] = []
    for m, e in zip(maintenance, extra, strict=True):
        initial.append(max(min(m + e, PPM - 1), initial[-1] if initial else 0))
    return BracketSchedule.create(
        Bracket(f, m, i) for f, m, i in zip(floors, maintenance, initial, strict=True)
    )


@st.composite
def schedule_and_notionals(draw: st.DrawFn) -> tuple[BracketSchedule, int, int]:
    """A schedule and two notionals, often at or next to a band floor."""
    schedule = draw(schedules())
    floors = [b.floor for b in schedule.brackets]
    near_floor = st.builds(lambda f, d: max(f + d, 0), st.sampled_from(floors), st.integers(-3, 3))
    notional = st.one_of(st.integers(0, 10**18), near_floor)
    return schedule, draw(notional), draw(notional)


@given(schedule_and_notionals())
def test_requirement_is_the_sum_of_slices(case: tuple[BracketSchedule, int, int]) -> None:
    schedule, notional, _ = case
    b = schedule.describe(notional)
    assert b.maintenance_scaled == slices(schedule, notional, "maintenance_ppm")
    assert b.initial_scaled == slices(schedule, notional, "initial_ppm")
    assert schedule.brackets[b.index].floor <= notional
    assert b.index == len(schedule.brackets) - 1 or notional < schedule.brackets[b.index + 1].floor


@given(schedules())
def test_continuous_at_every_floor(schedule: BracketSchedule) -> None:
    deductions = schedule.deductions()
    for i in range(1, len(schedule.brackets)):
        lower, upper = schedule.brackets[i - 1], schedule.brackets[i]
        floor = upper.floor
        for k, rate in enumerate(("maintenance_ppm", "initial_ppm")):
            below = floor * getattr(lower, rate) - deductions[i - 1][k]
            above = floor * getattr(upper, rate) - deductions[i][k]
            assert below == above
        b = schedule.describe(floor)
        assert b.index == i
        assert b.maintenance_scaled == floor * lower.maintenance_ppm - deductions[i - 1][0]
        assert schedule.bracket_index(floor - 1) == i - 1


@given(schedule_and_notionals())
def test_requirements_never_decrease_and_initial_covers_maintenance(
    case: tuple[BracketSchedule, int, int],
) -> None:
    schedule, a, b = case
    low, high = min(a, b), max(a, b)
    assert schedule.maintenance(low) <= schedule.maintenance(high)
    assert schedule.initial(low) <= schedule.initial(high)
    if low < high:  # every rate is positive: the exact requirement strictly increases
        assert schedule.describe(low).maintenance_scaled < schedule.describe(high).maintenance_scaled
    assert schedule.maintenance(low) <= schedule.initial(low)
    assert schedule.maintenance(high) <= schedule.initial(high)


@given(schedule_and_notionals())
def test_rounding_is_up_and_by_less_than_one_atom(case: tuple[BracketSchedule, int, int]) -> None:
    schedule, notional, _ = case
    b = schedule.describe(notional)
    for exact, rounded in ((b.maintenance_scaled, b.maintenance), (b.initial_scaled, b.initial)):
        assert exact >= 0
        assert 0 <= rounded * PPM - exact < PPM
        assert rounded == math.ceil(Fraction(exact, PPM))
    assert (schedule.maintenance(notional), schedule.initial(notional)) == (b.maintenance, b.initial)


def test_module_docstring_examples_run() -> None:
    result = doctest.testmod(brackets_module)
    assert result.failed == 0
    assert result.attempted >= 5


@given(notional=st.integers(0, 10**16))
def test_requirements_fast_path_equals_initial_and_maintenance(notional: int) -> None:
    """The risk gate's one-lookup ``requirements`` agrees with ``initial`` and ``maintenance``."""
    for schedule in (schedule_of(BINANCE_BTCUSDT), schedule_of(DOCS_EXAMPLE)):
        assert schedule.requirements(notional) == (schedule.initial(notional), schedule.maintenance(notional))
