"""Mark price rules (exchange_sim.marks).

Behaviours verified:
- published examples: Gate's delivery-futures fair price (index 10,000, impact bid 10,049, impact
  ask 10,051, 30 days -> 6.0833% a year, basis 50, price 10,050) and Aevo's funding-basis
  "price 1" (2000 x (1 + 0.005 x 0.5) = 2005); no numeric Binance example was found;
- every worked example of docs/marks.md, the arithmetic shown in each test;
- the basis clamp at its edge (unchanged) and beyond it (held at the band), on both sides;
- the median ignores one input manipulated far away; an even count takes the mean of the middle two;
- missing inputs: an empty book side gives no mid, missing candidates are skipped, a rule without
  its inputs gives None;
- rounding to whole ticks, half to even, never below 1 tick;
- validation errors name the field and what was expected;
- properties: the median mark lies between the smallest and largest candidate; a clamped
  index-basis mark lies within the band of the index (plus the final rounding).
"""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.marks import (
    RULES,
    MarkInputs,
    MarkRule,
    Price,
    basis_moving_average,
    book_mid,
    funding_basis_mark,
    future_fair_price,
    implied_annual_basis_ppm,
    mark_price,
    median_mark,
    perpetual_mark,
    round_mark,
)
from exchange_sim.prices import US_PER_YEAR
from exchange_sim.units import UnitError

HOUR = 3_600_000_000
DAY = 24 * HOUR
EIGHT_HOURS = 8 * HOUR

# docs/marks.md: BTC-PERP, tick 0.5 USDC; the index 60,006 ticks = 30,003 USDC
SAMPLES = (
    (Fraction(120_021, 2), 60_000),  # book 60,010 / 60,011: mid 60,010.5, basis +10.5
    (60_020, 60_005),  # book 60,019 / 60,021: mid 60,020, basis +15
    (Fraction(119_999, 2), 60_003),  # book 59,999 / 60,000: mid 59,999.5, basis -3.5
)


# published examples -----------------------------------------------------------------------------


def test_gate_published_delivery_fair_price() -> None:
    """gate.com/help/futures/delivery/17601: index 10,000 USDT, impact bid 10,049, impact ask
    10,051, 30 days to expiry (1 tick = 1 USDT here):

        mid        = (10,049 + 10,051) / 2 = 10,050
        basis rate = (10,050 / 10,000 - 1) / (30 / 365) = 0.005 x 365 / 30 = 0.0608333... (6.0833%)
        basis      = 10,000 x 0.0608333... x 30 / 365 = 50
        price      = 10,000 + 50 = 10,050
    """
    mid = book_mid(10_049, 10_051)
    assert mid == 10_050
    rate = implied_annual_basis_ppm(mid, 10_000, 30 * DAY)
    assert rate == Fraction(182_500, 3)  # 60,833.33 ppm = 6.0833%
    assert future_fair_price(10_000, rate, 30 * DAY) == 10_050
    # the rate as the page prints it, 6.0833% = 60,833 ppm: 10,000 + 49.9997... -> 10,050
    exact = 10_000 * (1 + Fraction(60_833, 10**6) * Fraction(30, 365))
    assert 10_000 + Fraction(49_999, 1_000) < exact < 10_050
    assert future_fair_price(10_000, 60_833, 30 * DAY) == 10_050


def test_aevo_published_funding_basis_price_1() -> None:
    """docs.aevo.xyz, "Perpetual Futures Mark Pricing": index 2000, last funding rate 0.005, half
    an hour to funding (their formula multiplies by the time in hours, i.e. ours with a one-hour
    interval): 2000 x (1 + 0.005 x 0.5) = 2005.
    """
    assert funding_basis_mark(2_000, 5_000, HOUR // 2, HOUR) == 2_005


# book mid ----------------------------------------------------------------------------------------


def test_book_mid_exact_half_tick_and_missing_sides() -> None:
    assert book_mid(60_010, 60_011) == Fraction(120_021, 2)  # 60,010.5
    assert book_mid(60_010, 60_012) == 60_011
    assert book_mid(60_010, 60_010) == 60_010  # locked, not crossed
    assert book_mid(None, 60_011) is None
    assert book_mid(60_010, None) is None
    assert book_mid(None, None) is None


@pytest.mark.parametrize(
    ("bid", "ask", "field"),
    [
        (60_011, 60_010, "best_bid"),
        (0, 60_010, "best_bid"),
        (None, 60_010.5, "best_ask"),
        (True, 2, "best_bid"),
    ],
)
def test_book_mid_rejects(bid: object, ask: object, field: str) -> None:
    with pytest.raises(UnitError) as err:
        book_mid(bid, ask)  # type: ignore[arg-type]
    assert err.value.field == field
    assert err.value.expected


# basis average and the index-basis mark -------------------------------------------------------


def test_basis_moving_average_hand_checked() -> None:
    # (10.5 + 15 - 3.5) / 3 = 22 / 3
    assert basis_moving_average(SAMPLES) == Fraction(22, 3)
    assert basis_moving_average(list(SAMPLES[:2])) == Fraction(51, 4)  # (10.5 + 15) / 2


def test_perpetual_mark_hand_checked() -> None:
    # 60,006 + 22/3 = 60,013.33 -> 60,013
    assert perpetual_mark(60_006, SAMPLES) == 60_013
    # clamp 100 ppm of 60,006: band 6.0006 < 7.33, so 60,006 + 6.0006 = 60,012.0006 -> 60,012
    assert perpetual_mark(60_006, SAMPLES, clamp_ppm=100) == 60_012
    assert perpetual_mark(60_006, SAMPLES, clamp_ppm=0) == 60_006  # band 0: the index


@pytest.mark.parametrize(
    ("mids", "expected_basis"),
    [
        ((60_006,), 6),  # exactly at the band: unchanged
        ((60_005, 60_007), 6),  # an average exactly at the band
        ((60_013,), 6),  # beyond: held at +6
        ((59_994,), -6),  # exactly at -band
        ((59_000,), -6),  # far beyond: -6
        ((Fraction(120_011, 2),), Fraction(11, 2)),  # inside: 5.5
    ],
)
def test_clamp_at_and_beyond_its_edges(mids: tuple[Price, ...], expected_basis: Price) -> None:
    """Index 60,000, clamp 100 ppm: band = 60,000 x 100 / 1,000,000 = 6 ticks."""
    samples = [(m, 60_000) for m in mids]
    assert basis_moving_average(samples, 100) == expected_basis
    assert perpetual_mark(60_000, samples, clamp_ppm=100) == round_mark(60_000 + Fraction(expected_basis))


def test_clamp_reference_index() -> None:
    # default reference: the last sample's index, 10,000: band 10,000 x 1,000 ppm = 10
    samples = [(20_100, 20_000), (10_050, 10_000)]  # basis 100 and 50: average 75
    assert basis_moving_average(samples, 1_000) == 10
    assert basis_moving_average(samples, 1_000, reference_index=20_000) == 20
    # perpetual_mark clamps to a band of the index it marks at: 30,000 + 30
    assert perpetual_mark(30_000, samples, clamp_ppm=1_000) == 30_030


def test_perpetual_mark_rounds_half_to_even() -> None:
    assert perpetual_mark(60_000, [(Fraction(120_001, 2), 60_000)]) == 60_000  # 60,000.5 -> even
    assert perpetual_mark(60_000, [(Fraction(120_003, 2), 60_000)]) == 60_002  # 60,001.5 -> even
    assert perpetual_mark(60_000, [(Fraction(240_003, 4), 60_000)]) == 60_001  # 60,000.75


@pytest.mark.parametrize(
    ("samples", "clamp", "field"),
    [
        ([], None, "basis_samples"),
        ("60000", None, "basis_samples"),
        ([(60_000,)], None, "basis_samples"),
        ([(60_000, 0)], None, "basis_samples"),
        ([(60_000.5, 60_000)], None, "basis_samples"),
        ([(60_000, 60_000)], -1, "clamp_ppm"),
        ([(60_000, 60_000)], 1_000_000, "clamp_ppm"),
    ],
)
def test_basis_rejects(samples: object, clamp: object, field: str) -> None:
    with pytest.raises(UnitError) as err:
        basis_moving_average(samples, clamp)  # type: ignore[arg-type]
    assert err.value.field == field
    assert err.value.expected


# funding basis ------------------------------------------------------------------------------------


def test_funding_basis_mark_hand_checked() -> None:
    # 60,000 x (1 + 0.0001 x 6/8) = 60,000 x 1.000075 = 60,004.5 -> 60,004 (half to even)
    assert funding_basis_mark(60_000, 100, 6 * HOUR, EIGHT_HOURS) == 60_004
    # 60,000 x 0.000208 x 6/8 = 9.36: 60,009.36 -> 60,009
    assert funding_basis_mark(60_000, 208, 6 * HOUR, EIGHT_HOURS) == 60_009
    # a negative rate: 60,000 x (1 - 0.0005 x 8/8) = 59,970
    assert funding_basis_mark(60_000, -500, EIGHT_HOURS, EIGHT_HOURS) == 59_970
    # at the funding time the basis has decayed to nothing
    assert funding_basis_mark(60_000, 3_000, 0, EIGHT_HOURS) == 60_000


def test_marks_are_at_least_one_tick() -> None:
    # 1 x (1 - 0.999999) = 0.000001 -> 0 -> 1
    assert funding_basis_mark(1, -999_999, EIGHT_HOURS, EIGHT_HOURS) == 1
    assert future_fair_price(1, -2_000_000, US_PER_YEAR) == 1  # 1 x (1 - 2) = -1 -> 1
    assert round_mark(Fraction(1, 2)) == 1  # 0.5 -> 0 (even) -> 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((60_000, 100, EIGHT_HOURS + 1, EIGHT_HOURS), "time_to_funding_us"),
        ((60_000, 100, -1, EIGHT_HOURS), "time_to_funding_us"),
        ((60_000, 100, 0, 0), "interval_us"),
        ((60_000, 1_000_000, 0, EIGHT_HOURS), "funding_rate_ppm"),
        ((60_000, Fraction(1, 10_000), 0, EIGHT_HOURS), "funding_rate_ppm"),
        ((0, 100, 0, EIGHT_HOURS), "index"),
        ((60_000.0, 100, 0, EIGHT_HOURS), "index"),
    ],
)
def test_funding_basis_rejects(args: tuple, field: str) -> None:
    with pytest.raises(UnitError) as err:
        funding_basis_mark(*args)
    assert err.value.field == field
    assert err.value.expected


# dated futures --------------------------------------------------------------------------------------


def test_future_fair_price_hand_checked() -> None:
    # 73 days = 0.2 of a 365-day year; 5% a year: 60,000 x (1 + 0.05 x 0.2) = 60,600
    assert future_fair_price(60_000, 50_000, 73 * DAY) == 60_600
    # backwardation, -3% a year for 0.2 years: 60,000 x 0.994 = 59,640
    assert future_fair_price(60_000, -30_000, 73 * DAY) == 59_640
    # at expiry the fair price is the index
    assert future_fair_price(60_000, 50_000, 0) == 60_000
    # the implied rate round-trips to the mid it came from: (60,600 / 60,000 - 1) / 0.2 = 5%
    assert implied_annual_basis_ppm(60_600, 60_000, 73 * DAY) == 50_000
    assert future_fair_price(60_000, Fraction(1, 3), US_PER_YEAR) == 60_000  # 60,000.02 -> 60,000


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: implied_annual_basis_ppm(60_600, 60_000, 0), "time_to_expiry_us"),
        (lambda: implied_annual_basis_ppm(60_600, -1, DAY), "index"),
        (lambda: implied_annual_basis_ppm(0, 60_000, DAY), "mid"),
        (lambda: future_fair_price(60_000, 0.05, DAY), "annual_basis_rate_ppm"),
        (lambda: future_fair_price(60_000, 50_000, -DAY), "time_to_expiry_us"),
    ],
)
def test_future_rejects(call: object, field: str) -> None:
    with pytest.raises(UnitError) as err:
        call()  # type: ignore[operator]
    assert err.value.field == field


# median ---------------------------------------------------------------------------------------------


def test_median_ignores_one_manipulated_input() -> None:
    honest = (60_004, 60_013)
    assert median_mark(*honest, 60_020) == 60_013
    assert median_mark(*honest, 90_000) == 60_013  # last trade pushed 50% up: the mark does not follow
    assert median_mark(*honest, 10**12) == 60_013
    assert median_mark(*honest, 1) == 60_004  # pushed to 1 tick: the mark stays at an honest price


def test_median_even_count_and_missing() -> None:
    # two candidates: the mean, (60,004 + 60,013) / 2 = 60,008.5 -> 60,008 (even)
    assert median_mark(60_004, None, 60_013) == 60_008
    assert median_mark(60_004, 60_013, 60_010, 60_020) == 60_012  # (60,010 + 60,013) / 2 = 60,011.5 -> even
    assert median_mark(None, 60_013, None) == 60_013
    assert median_mark(None, None) is None
    assert median_mark() is None
    assert median_mark(Fraction(120_009, 2)) == 60_004  # 60,004.5 -> 60,004


def test_median_rejects_bad_candidates() -> None:
    with pytest.raises(UnitError) as err:
        median_mark(60_000, 60_000.5)  # type: ignore[arg-type]
    assert err.value.field == "candidate"
    assert err.value.expected


@given(st.lists(st.one_of(st.none(), st.integers(1, 10**15)), max_size=7))
def test_median_lies_between_min_and_max(candidates: list[int | None]) -> None:
    present = [c for c in candidates if c is not None]
    mark = median_mark(*candidates)
    if not present:
        assert mark is None
    else:
        assert mark is not None and min(present) <= mark <= max(present)


@given(
    st.lists(
        st.fractions(min_value=Fraction(1, 100), max_value=10**9, max_denominator=1_000),
        min_size=1,
        max_size=7,
    )
)
def test_median_of_fractions_within_whole_tick_range(candidates: list[Fraction]) -> None:
    """With fractional candidates only the final rounding can leave [min, max], by under one tick."""
    mark = median_mark(*candidates)
    assert mark is not None
    assert max(1, math.floor(min(candidates))) <= mark <= math.ceil(max(candidates))


@given(
    st.integers(1, 10**12),
    st.lists(st.tuples(st.integers(1, 10**12), st.integers(1, 10**12)), min_size=1, max_size=10),
    st.integers(0, 999_999),
)
def test_clamped_mark_within_band(index: int, samples: list[tuple[int, int]], clamp: int) -> None:
    band = Fraction(index * clamp, 10**6)
    mark = perpetual_mark(index, samples, clamp_ppm=clamp)
    assert max(1, math.floor(index - band)) <= mark <= math.ceil(index + band)


# the rule record and the dispatch ----------------------------------------------------------------


def test_mark_rule_validation() -> None:
    cases: list[tuple[dict, str]] = [
        (dict(name="last"), "name"),
        (dict(name="mid", clamp_ppm=100), "clamp_ppm"),
        (dict(name="index_basis", funding_interval_us=EIGHT_HOURS), "funding_interval_us"),
        (dict(name="funding_basis"), "funding_interval_us"),
        (dict(name="median"), "funding_interval_us"),
        (dict(name="funding_basis", funding_interval_us=0), "funding_interval_us"),
        (dict(name="index_basis", clamp_ppm=-1), "clamp_ppm"),
        (dict(name="index_basis", clamp_ppm=True), "clamp_ppm"),
        (dict(name="fair_price", annual_basis_rate_ppm=Fraction(1, 3)), "annual_basis_rate_ppm"),
        (dict(name="fair_price", clamp_ppm=100), "clamp_ppm"),
    ]
    for kwargs, field in cases:
        with pytest.raises(UnitError) as err:
            MarkRule(**kwargs)
        assert err.value.field == field, kwargs
        assert err.value.expected, kwargs
    with pytest.raises(UnitError) as err:
        MarkRule("last")
    assert err.value.expected == "one of " + ", ".join(repr(r) for r in RULES)


def test_mark_inputs_validation() -> None:
    cases: list[tuple[dict, str]] = [
        (dict(index=0), "index"),
        (dict(index=60_000, best_bid=60_011, best_ask=60_010), "best_bid"),
        (dict(index=60_000, basis_samples=[(60_000, 60_000)]), "basis_samples"),
        (dict(index=60_000, basis_samples=((60_000, -1),)), "basis_samples"),
        (dict(index=60_000, last_price=Fraction(1, 2)), "last_price"),
        (dict(index=60_000, funding_rate_ppm=-1_000_000), "funding_rate_ppm"),
        (dict(index=60_000, time_to_funding_us=-1), "time_to_funding_us"),
        (dict(index=60_000, time_to_expiry_us=1.5), "time_to_expiry_us"),
        (dict(index=60_000, annual_basis_rate_ppm="5%"), "annual_basis_rate_ppm"),
    ]
    for kwargs, field in cases:
        with pytest.raises(UnitError) as err:
            MarkInputs(**kwargs)
        assert err.value.field == field, kwargs


FULL = MarkInputs(
    index=60_006,
    best_bid=60_010,
    best_ask=60_011,
    basis_samples=SAMPLES,
    last_price=60_020,
    funding_rate_ppm=100,
    time_to_funding_us=6 * HOUR,
    time_to_expiry_us=73 * DAY,
    annual_basis_rate_ppm=50_000,
)


def test_mark_price_dispatch_worked_example() -> None:
    """docs/marks.md, "All rules on one snapshot" (index 60,006)."""
    # mid: (60,010 + 60,011) / 2 = 60,010.5 -> 60,010
    assert mark_price(MarkRule("mid"), FULL) == 60_010
    # index basis: 60,006 + 22/3 = 60,013.33 -> 60,013; clamped to 100 ppm: 60,012.0006 -> 60,012
    assert mark_price(MarkRule("index_basis"), FULL) == 60_013
    assert mark_price(MarkRule("index_basis", clamp_ppm=100), FULL) == 60_012
    # funding basis: 60,006 x (1 + 0.0001 x 6/8) = 60,006 + 4.50045 = 60,010.50045 -> 60,011
    assert mark_price(MarkRule("funding_basis", funding_interval_us=EIGHT_HOURS), FULL) == 60_011
    # fair price: 60,006 x (1 + 0.05 x 0.2) = 60,606.06 -> 60,606; the rule's own rate wins
    assert mark_price(MarkRule("fair_price"), FULL) == 60_606
    assert mark_price(MarkRule("fair_price", annual_basis_rate_ppm=-30_000), FULL) == 59_646  # 59,645.964
    # median(60,010.50045, 60,013.33, 60,020) = 60,013.33 -> 60,013
    median = MarkRule("median", funding_interval_us=EIGHT_HOURS)
    assert mark_price(median, FULL) == 60_013
    # median with price 2 clamped to 100 ppm: median(60,010.50045, 60,012.0006, 60,020) -> 60,012
    assert mark_price(MarkRule("median", clamp_ppm=100, funding_interval_us=EIGHT_HOURS), FULL) == 60_012


def test_mark_price_median_rule_resists_a_manipulated_last_trade() -> None:
    median = MarkRule("median", funding_interval_us=EIGHT_HOURS)
    for last in (1, 60_020, 90_000, 10**12):
        manipulated = MarkInputs(**{**_fields(FULL), "last_price": last})
        assert 60_010 <= mark_price(median, manipulated) <= 60_013  # type: ignore[operator]
    assert mark_price(median, MarkInputs(**{**_fields(FULL), "last_price": 90_000})) == 60_013


def test_mark_price_missing_inputs() -> None:
    bare = MarkInputs(index=60_006)
    one_sided = MarkInputs(index=60_006, best_bid=60_010)
    assert mark_price(MarkRule("mid"), one_sided) is None
    assert mark_price(MarkRule("index_basis"), bare) is None
    assert mark_price(MarkRule("funding_basis", funding_interval_us=EIGHT_HOURS), bare) is None
    assert mark_price(MarkRule("fair_price"), bare) is None
    assert mark_price(MarkRule("fair_price", annual_basis_rate_ppm=50_000), bare) is None  # no expiry
    median = MarkRule("median", funding_interval_us=EIGHT_HOURS)
    assert mark_price(median, bare) is None
    # only the last trade: it is the mark
    assert mark_price(median, MarkInputs(index=60_006, last_price=60_020)) == 60_020
    # no basis samples yet: the mean of price 1 and the last trade,
    # (60,010.50045 + 60,020) / 2 = 60,015.250225 -> 60,015
    no_samples = MarkInputs(**{**_fields(FULL), "basis_samples": ()})
    assert mark_price(median, no_samples) == 60_015


def test_mark_price_rejects_wrong_types() -> None:
    with pytest.raises(UnitError) as err:
        mark_price("mid", FULL)  # type: ignore[arg-type]
    assert err.value.field == "rule"
    with pytest.raises(UnitError) as err:
        mark_price(MarkRule("mid"), {"index": 1})  # type: ignore[arg-type]
    assert err.value.field == "inputs"


def _fields(inputs: MarkInputs) -> dict:
    return {name: getattr(inputs, name) for name in MarkInputs.__dataclass_fields__}


def test_index_rule_is_the_index_rounded_half_to_even() -> None:
    """dYdX marks at the oracle price: the rule ``"index"`` returns the index, rounded once."""
    rule = MarkRule("index")
    assert mark_price(rule, MarkInputs(60_000)) == 60_000
    assert mark_price(rule, MarkInputs(Fraction(120_001, 2))) == 60_000  # 60,000.5 -> even
    assert mark_price(rule, MarkInputs(Fraction(120_003, 2))) == 60_002  # 60,001.5 -> even
    with pytest.raises(UnitError, match="takes no clamp_ppm"):
        MarkRule("index", clamp_ppm=100)
