"""Perpetual funding: impact prices, premium index, funding rate and payments (exchange_sim.funding).

Behaviours verified:
- the published BitMEX ONDOUSDT example: P = -0.00184, I = 0.01%, clamp 0.05% -> F = -0.134%;
- the published BitMEX funding amount: mark value 20 XBT x 0.25% = 0.05 XBT, the long pays;
- the worked example of docs/funding.md, end to end (book -> impact prices -> premium -> rate ->
  payments -> ledger), every number hand-checked;
- impact prices on a small book as exact fractions; a book too thin (by one atom) gives None;
- the premium index: premium, discount, index inside the impact spread, crossed impact prices;
- the clamp and the cap, at and beyond their edges; rounding toward zero to ppm;
- sign: perpetual above index -> positive rate -> longs pay, shorts receive; and the reverse;
- properties: payments plus residue net to exactly zero, 0 <= residue < accounts with positions,
  payers never pay less than exact, receivers never get more (each within one atom); the rate is
  within the cap, mirror-symmetric, and never larger in magnitude than the exact rate;
- input validation.
"""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.funding import (
    FUNDING_RESIDUE_ACCOUNT,
    FundingSettlement,
    ImpactPrices,
    average_premium,
    exact_payment,
    funding_payments,
    funding_rate,
    funding_rate_exact,
    impact_notional,
    impact_prices,
    linear_weights,
    premium_index,
)
from exchange_sim.ledger import Ledger
from exchange_sim.units import PPM, UnitError
from tests.conftest import btc_perp

PPM_F = Fraction(1, PPM)


def ppm(n: int | Fraction) -> Fraction:
    """A rate given in ppm, as the exact ratio the premium functions take."""
    return Fraction(n) * PPM_F


def amounts(settlement: FundingSettlement) -> dict[str, int]:
    return {t.account: t.amount for t in settlement.transfers}


# published examples ----------------------------------------------------------------------------


def test_bitmex_ondousdt_published_rate() -> None:
    """support.bitmex.com, "Why is the Funding Rate for a contract higher or lower than I expect?".

    P = .ONDOUSDTPI8H = -0.00184, I = 0.01% = 0.0001 (fixed for the symbol), clamp +-0.05%:
        I - P = 0.0001 + 0.00184 = 0.00194   (the page prints 0.00185; either way it clamps)
        clamp(0.00194, -0.0005, 0.0005) = 0.0005
        F = -0.00184 + 0.0005 = -0.00134     (the page: "This matches the value shown in the GUI")
    """
    p = Fraction(-184, 100_000)
    assert funding_rate_exact([p], 100, 500, 7500) == Fraction(-134, 100_000)
    assert funding_rate([p], 100, 500, 7500) == -1340  # -0.134% in ppm, exact: no rounding
    # the page's misprinted difference clamps to the same +0.0005
    assert funding_rate([p], 100, 500, 7500) == -1840 + 500


def test_bitmex_published_funding_amount_long_pays() -> None:
    """bitmex.com/app/perpetualContractsGuideExamples, "Long XBTUSD Perpetual Contract Example".

    Funding Rate = (1.00% - 0.25%) / 3 = 0.25%; Funding Amount = 20 XBT x 0.25% = 0.05 XBT;
    "since he is long the trader pays and his counterparty who is short receives 0.05 XBT".
    Here as a linear contract whose mark value is 20 XBT (8 decimals): 10 lots x 2,000 ticks x
    100,000 atoms per tick per lot = 2,000,000,000 atoms; 0.05 XBT = 5,000,000 atoms.
    """
    rate = (Fraction(1, 100) - Fraction(1, 400)) / 3
    assert rate == Fraction(2500, PPM)
    s = funding_payments({"trader": 10, "counterparty": -10}, 2_000, 2_500, 100_000)
    assert 10 * 2_000 * 100_000 == 20 * 10**8
    assert amounts(s) == {"trader": -5_000_000, "counterparty": 5_000_000}
    assert s.residue == 0


# the worked example of docs/funding.md ------------------------------------------------------


BIDS = [(60_040, 100), (60_030, 200), (60_000, 500)]
ASKS = [(60_050, 100), (60_060, 100), (60_080, 500)]
INDEX = 60_000  # 30,000 USDC in 0.5 USDC ticks
POSITIONS = {"alice": 3, "bob": 2, "carol": -4, "dave": -1}


def test_worked_example_impact_prices_and_premium() -> None:
    """BTC-PERP: tick 0.5 USDC, lot 0.001 BTC, 500 atoms per tick per lot; IMN = 200 USDC / 5%."""
    apl = btc_perp().atoms_per_tick_per_lot
    assert apl == 500
    imn = impact_notional(200_000_000, 50_000)
    assert imn == 4_000_000_000  # 4,000 USDC
    ip = impact_prices(BIDS, ASKS, imn, apl)
    # bid side: 60,040 x 100 x 500 = 3,002,000,000 atoms in full; 998,000,000 left at 60,030
    #   = 998,000,000 / (60,030 x 500) = 199,600/6,003 lots; lots = 100 + 199,600/6,003 = 799,900/6,003
    #   impact bid = 4,000,000,000 / (500 x 799,900/6,003) = 480,240,000/7,999 ticks (~60,037.505)
    assert ip.bid == 4_000_000_000 / (500 * Fraction(799_900, 6_003)) == Fraction(480_240_000, 7_999)
    # ask side: 60,050 x 100 x 500 = 3,002,500,000 in full; 997,500,000 left at 60,060
    #   = 33,250/1,001 lots; lots = 133,350/1,001; impact ask = 22,880,000/381 ticks (~60,052.493)
    assert ip.ask == Fraction(22_880_000, 381)
    # P = [max(0, bid - index) - max(0, index - ask)] / index = (bid - 60,000) / 60,000
    #   = (480,240,000 - 479,940,000) / 7,999 / 60,000 = 5/7,999 (~625.08 ppm)
    p = premium_index(ip.bid, ip.ask, INDEX)
    assert p == Fraction(5, 7_999)


def test_worked_example_rate() -> None:
    samples = [Fraction(5, 7_999), ppm(400), ppm(1_100)]
    # mean = (5/7,999 + 0.0004 + 0.0011) / 3 = 33,997/47,994,000 (~708.36 ppm)
    assert average_premium(samples) == Fraction(33_997, 47_994_000)
    # I - mean = 100 - 708.36 ppm < -500 ppm: clamped to -500 ppm
    # F = 33,997/47,994,000 - 1/2,000 = 10,000/47,994,000 = 5/23,997 (~208.359 ppm) -> 208 ppm
    assert funding_rate_exact(samples, 100, 500, 3_000) == Fraction(5, 23_997)
    assert funding_rate(samples, 100, 500, 3_000) == 208
    # Binance-style weights 1, 2, 3: mean ~787.51 ppm, F ~287.51 ppm -> 287
    assert funding_rate(samples, 100, 500, 3_000, weights=linear_weights(3)) == 287


def test_worked_example_payments() -> None:
    # per lot: 60,020 ticks x 500 atoms = 30,010,000 atoms; x 208 ppm = 6,242.08 atoms
    assert exact_payment(1, 60_020, 208, 500) == Fraction(624_208, 100)
    s = funding_payments(POSITIONS, 60_020, 208, 500)
    # alice owes 18,726.24 -> pays 18,727; bob 12,484.16 -> 12,485   (rounded up)
    # carol is owed 24,968.32 -> gets 24,968; dave 6,242.08 -> 6,242  (rounded down)
    assert amounts(s) == {"alice": -18_727, "bob": -12_485, "carol": 24_968, "dave": 6_242}
    assert (s.paid, s.received, s.residue) == (31_212, 31_210, 2)
    assert s.residue_account == FUNDING_RESIDUE_ACCOUNT == "@funding"
    assert [t.account for t in s.transfers] == list(POSITIONS)  # input order
    s._check()
    # the mirror: a negative rate, shorts pay
    m = funding_payments(POSITIONS, 60_020, -208, 500)
    assert amounts(m) == {"alice": 18_726, "bob": 12_484, "carol": -24_969, "dave": -6_243}
    assert m.residue == 2
    m._check()


def test_worked_example_books_on_a_ledger() -> None:
    """Booked as double entry through the residue account, money is conserved exactly."""
    ledger = Ledger(["USDC"])
    accounts = {name: ledger.open(name) for name in POSITIONS}
    for account in accounts.values():
        ledger.deposit(account, "USDC", 1_000_000_000)
    residue_account = ledger.open(FUNDING_RESIDUE_ACCOUNT)
    s = funding_payments(POSITIONS, 60_020, 208, 500)
    for t in s.transfers:
        if t.amount < 0:
            ledger.transfer(accounts[t.account], residue_account, "USDC", -t.amount)
        else:
            ledger.transfer(residue_account, accounts[t.account], "USDC", t.amount)
    ledger._check()
    assert residue_account.balance("USDC") == s.residue == 2
    assert accounts["alice"].balance("USDC") == 1_000_000_000 - 18_727
    assert accounts["carol"].balance("USDC") == 1_000_000_000 + 24_968


# impact prices ---------------------------------------------------------------------------------


def test_impact_prices_small_book() -> None:
    # bid: 2 lots @ 100 (200 atoms) + 99 atoms @ 99 = 1 lot: 299 atoms for 3 lots -> 299/3
    # ask: 1 lot @ 101 (101 atoms) + 198 atoms @ 103 = 198/103 lots: 299 / (301/103) = 30,797/301
    ip = impact_prices([(100, 2), (99, 5)], [(101, 1), (103, 4)], 299, 1)
    assert ip == ImpactPrices(Fraction(299, 3), Fraction(30_797, 301))
    assert ip.bid < 100 and ip.ask > 101  # an average worse than the best price
    # within the best level the impact price is that level's price
    assert impact_prices([(100, 2)], [(101, 1)], 50, 1) == (100, 101)


def test_impact_prices_with_atoms_per_tick_per_lot() -> None:
    # 500 atoms per tick per lot: 1 lot @ 60,000 = 30,000,000 atoms
    ip = impact_prices([(60_000, 1), (59_000, 2)], [(60_002, 2)], 60_000_000, 500)
    # bid: 30,000,000 at 60,000 (1 lot) + 30,000,000 at 59,000 (60/59 lots)
    assert ip.bid == Fraction(60_000_000, 500 * (1 + Fraction(60, 59)))
    assert ip.ask == 60_002  # filled within the best level: that level's price


def test_impact_prices_thin_book() -> None:
    bids, asks = [(100, 2), (99, 1)], [(101, 3)]
    # the whole bid side is 200 + 99 = 299 atoms, the ask side 303
    assert impact_prices(bids, asks, 299, 1) == (Fraction(299, 3), 101)
    assert impact_prices(bids, asks, 300, 1) == (None, 101)  # one atom too many
    assert impact_prices(bids, asks, 304, 1) == (None, None)
    assert impact_prices([], [], 1, 1) == (None, None)


# premium index --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "index", "expected"),
    [
        (10_010, 10_020, 10_000, Fraction(1, 1000)),  # premium: (10,010 - 10,000) / 10,000
        (9_980, 9_990, 10_000, Fraction(-1, 1000)),  # discount: -(10,000 - 9,990) / 10,000
        (9_990, 10_010, 10_000, Fraction(0)),  # index inside the impact spread
        (10_000, 10_000, 10_000, Fraction(0)),  # at the edge
        (Fraction(480_240_000, 7_999), Fraction(22_880_000, 381), 60_000, Fraction(5, 7_999)),
        (Fraction(201, 2), 101, Fraction(100), Fraction(1, 200)),
    ],
)
def test_premium_index(bid: Fraction, ask: Fraction, index: Fraction, expected: Fraction) -> None:
    assert premium_index(bid, ask, index) == expected


# the clamp and the cap ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p_ppm", "expected"),
    [
        (0, 100),  # I - P = 100: inside the clamp, F = I
        (600, 100),  # I - P = -500: at the lower edge, F = I
        (601, 101),  # I - P = -501: clamped to -500, F = 601 - 500
        (-400, 100),  # I - P = +500: at the upper edge, F = I
        (-401, 99),  # I - P = +501: clamped to +500, F = -401 + 500
        (Fraction(12_001, 20), 100),  # 600.05: F = 100.05 -> 100 (toward zero)
        (Fraction(-8_001, 20), 99),  # -400.05: F = 99.95 -> 99 (toward zero)
        (Fraction(-40_001, 20), -1_500),  # -2,000.05: F = -1,500.05 -> -1,500 (toward zero)
        (3_500, 3_000),  # F = 3,000: at the cap
        (3_501, 3_000),  # F = 3,001: capped
        (-3_500, -3_000),  # F = -3,000: at the floor
        (-3_501, -3_000),  # F = -3,001: floored
        (50_000, 3_000),  # far beyond
        (-50_000, -3_000),
    ],
)
def test_clamp_and_cap(p_ppm: int | Fraction, expected: int) -> None:
    assert funding_rate([ppm(p_ppm)], 100, 500, 3_000) == expected


def test_clamp_zero_and_cap_zero() -> None:
    # no clamp: F = P exactly (then capped); a zero cap pins the rate to zero
    assert funding_rate([ppm(250)], 100, 0, 3_000) == 250
    assert funding_rate([ppm(250)], 100, 500, 0) == 0
    assert funding_rate([ppm(-250)], -100, 500, 3_000) == -100


# sign: who pays whom -----------------------------------------------------------------------


def test_perpetual_above_index_longs_pay_shorts() -> None:
    ip = impact_prices([(60_100, 1_000)], [(60_110, 1_000)], 1_000_000, 500)
    p = premium_index(ip.bid, ip.ask, 60_000)  # the perpetual bids 60,100 against an index of 60,000
    assert p > 0
    rate = funding_rate([p], 0, 500, 3_000)
    assert rate > 0
    s = funding_payments({"long": 5, "short": -5}, 60_100, rate, 500)
    assert amounts(s)["long"] < 0  # pays
    assert amounts(s)["short"] > 0  # receives


def test_perpetual_below_index_shorts_pay_longs() -> None:
    ip = impact_prices([(59_890, 1_000)], [(59_900, 1_000)], 1_000_000, 500)
    p = premium_index(ip.bid, ip.ask, 60_000)
    assert p < 0
    rate = funding_rate([p], 0, 500, 3_000)
    assert rate < 0
    s = funding_payments({"long": 5, "short": -5}, 59_900, rate, 500)
    assert amounts(s)["long"] > 0  # receives
    assert amounts(s)["short"] < 0  # pays


def test_nothing_moves() -> None:
    # zero rate
    s = funding_payments(POSITIONS, 60_020, 0, 500)
    assert (s.transfers, s.residue) == ((), 0)
    # no longs and no shorts (positions net to zero, so one side missing means all flat)
    s = funding_payments({"alice": 0, "bob": 0}, 60_020, 208, 500)
    assert (s.transfers, s.residue) == ((), 0)
    assert funding_payments({}, 60_020, 208, 500).transfers == ()


def test_residue_bound_is_per_account_not_per_receiver() -> None:
    """Two payers each round up to 1 atom; the one receiver's 0.000002 atoms round down to 0.

    The residue (2) is not below the number of receivers (1), but it is below the number of
    accounts with a position (3): the bound the rounding gives, and it is reached.
    """
    s = funding_payments({"a": 1, "b": 1, "c": -2}, 1, 1, 1)
    assert amounts(s) == {"a": -1, "b": -1}  # c's credit rounds to 0: no transfer listed
    assert s.residue == 2 == 3 - 1


# properties -----------------------------------------------------------------------------------


@st.composite
def netting_positions(draw: st.DrawFn) -> dict[str, int]:
    """Signed sizes for up to 12 accounts; the last account takes the opposite of the others' sum."""
    sizes = draw(st.lists(st.integers(-(10**6), 10**6), max_size=11))
    sizes.append(-sum(sizes))
    return {f"acct{i:02d}": size for i, size in enumerate(sizes)}


@given(
    positions=netting_positions(),
    mark=st.integers(1, 10**8),
    rate=st.integers(-PPM + 1, PPM - 1),
    apl=st.integers(1, 10**6),
)
def test_payments_net_to_zero(positions: dict[str, int], mark: int, rate: int, apl: int) -> None:
    s = funding_payments(positions, mark, rate, apl)
    s._check()
    got = amounts(s)
    assert sum(got.values()) + s.residue == 0
    holders = sum(1 for size in positions.values() if size != 0)
    assert s.residue >= 0
    assert s.residue < holders or s.residue == 0 == holders
    for account, size in positions.items():
        owed = exact_payment(size, mark, rate, apl)  # > 0: owes; < 0: is owed
        amount = got.get(account, 0)
        if owed > 0:  # a payer pays at least the exact amount, less than one atom more
            assert owed <= -amount < owed + 1
        else:  # a receiver gets at most the exact amount, less than one atom less
            assert -owed - 1 < amount <= -owed
        if size and rate:  # the sign: with a positive rate longs pay, shorts receive
            assert amount <= 0 if (size > 0) == (rate > 0) else amount >= 0


samples_st = st.lists(
    st.fractions(min_value=Fraction(-1, 20), max_value=Fraction(1, 20), max_denominator=10**9),
    min_size=1,
    max_size=20,
)


@given(
    samples=samples_st,
    interest=st.integers(-5_000, 5_000),
    clamp=st.integers(0, 5_000),
    cap=st.integers(0, 100_000),
    weighted=st.booleans(),
)
def test_rate_properties(
    samples: list[Fraction], interest: int, clamp: int, cap: int, weighted: bool
) -> None:
    weights = linear_weights(len(samples)) if weighted else None
    exact = funding_rate_exact(samples, interest, clamp, cap, weights=weights)
    rate = funding_rate(samples, interest, clamp, cap, weights=weights)
    assert -cap <= rate <= cap
    assert abs(rate) <= abs(exact) * PPM < abs(rate) + 1  # toward zero, within one ppm
    mirrored = funding_rate([-p for p in samples], -interest, clamp, cap, weights=weights)
    assert mirrored == -rate
    # inside the clamp the rate is the interest rate (when the cap allows it)
    mean = average_premium(samples, weights)
    if abs(ppm(interest) - mean) <= ppm(clamp) and abs(interest) <= cap:
        assert rate == interest


# validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mark_price": -1}, "mark_price"),
        ({"mark_price": 0}, "mark_price"),
        ({"mark_price": 60_020.0}, "mark_price"),
        ({"rate_ppm": 0.0002}, "rate_ppm"),
        ({"rate_ppm": PPM}, "rate_ppm"),
        ({"rate_ppm": True}, "rate_ppm"),
        ({"atoms_per_tick_per_lot": 0}, "atoms_per_tick_per_lot"),
        ({"positions": {"alice": 1.0, "bob": -1}}, "positions"),
        ({"positions": {"alice": True, "bob": -1}}, "positions"),
        ({"positions": {"alice": Fraction(1), "bob": -1}}, "positions"),
        ({"positions": {"alice": 2, "bob": -1}}, "positions"),  # does not net to zero
        ({"positions": {"": 1, "bob": -1}}, "positions"),
        ({"positions": [("alice", 1), ("bob", -1)]}, "positions"),
    ],
)
def test_payment_validation(kwargs: dict, field: str) -> None:
    args = {"positions": POSITIONS, "mark_price": 60_020, "rate_ppm": 208, "atoms_per_tick_per_lot": 500}
    args.update(kwargs)
    with pytest.raises(UnitError) as err:
        funding_payments(**args)
    assert err.value.field == field


def test_payment_validation_names_the_net() -> None:
    with pytest.raises(UnitError, match="sum to 1 lots"):
        funding_payments({"alice": 2, "bob": -1}, 60_020, 208, 500)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (([Fraction(0)], 100.0, 500, 3_000), "interest_rate_ppm"),
        (([Fraction(0)], 100, -1, 3_000), "clamp_ppm"),
        (([Fraction(0)], 100, 500, -1), "cap_ppm"),
        (([], 100, 500, 3_000), "premium_samples"),
        (([100], 100, 500, 3_000), "premium_samples"),  # a bare int: ppm or ratio? refused
        (([0.0001], 100, 500, 3_000), "premium_samples"),
        ((Fraction(0), 100, 500, 3_000), "premium_samples"),
    ],
)
def test_rate_validation(args: tuple, field: str) -> None:
    with pytest.raises(UnitError) as err:
        funding_rate(*args)
    assert err.value.field == field


def test_weights_validation() -> None:
    with pytest.raises(UnitError, match="2 weights for 3"):
        funding_rate([Fraction(0)] * 3, 100, 500, 3_000, weights=(1, 2))
    with pytest.raises(UnitError) as err:
        funding_rate([Fraction(0)] * 2, 100, 500, 3_000, weights=(1, 0))
    assert err.value.field == "weights"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((100, 101, 0), "index"),
        ((100, 101, -5), "index"),
        ((100, 101, 100.0), "index"),
        ((None, 101, 100), "impact_bid"),  # a thin book's None is the caller's to handle
        ((100, None, 100), "impact_ask"),
        ((102, 101, 100), "impact_bid"),  # crossed
    ],
)
def test_premium_validation(args: tuple, field: str) -> None:
    with pytest.raises(UnitError) as err:
        premium_index(*args)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("bids", "asks", "notional", "field"),
    [
        ([(99, 1), (100, 1)], [(101, 1)], 10, "bids"),  # not best first
        ([(100, 1)], [(102, 1), (101, 1)], 10, "asks"),
        ([(100, 1), (100, 1)], [(101, 1)], 10, "bids"),  # repeated level
        ([(100, 0)], [(101, 1)], 10, "bids"),
        ([(100, -1)], [(101, 1)], 10, "bids"),
        ([(0, 1)], [(101, 1)], 10, "bids"),
        ([(100.5, 1)], [(101, 1)], 10, "bids"),
        ([(100, 1, 1)], [(101, 1)], 10, "bids"),
        ([(101, 1)], [(101, 1)], 10, "bids"),  # crossed
        ([(100, 1)], [(101, 1)], 0, "notional"),
        ([(100, 1)], [(101, 1)], 10.0, "notional"),
    ],
)
def test_impact_validation(bids: list, asks: list, notional: int, field: str) -> None:
    with pytest.raises(UnitError) as err:
        impact_prices(bids, asks, notional, 1)
    assert err.value.field == field


def test_impact_notional_validation() -> None:
    assert impact_notional(200_000_000, 1_000_000) == 200_000_000  # 1x: the margin itself
    assert impact_notional(1, 3) == 333_334  # rounded up
    for args in [(0, 50_000), (200, 0), (200, PPM + 1), (200.0, 50_000)]:
        with pytest.raises(UnitError):
            impact_notional(*args)
