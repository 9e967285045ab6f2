"""Liquidation math (exchange_sim.liquidation.formulas): published examples, hand checks, properties.

Behaviours verified:
- Binance's *How to avoid liquidation* example: wallet 500 USDT, long 1,000 USDT of BTCUSDT at
  50,000, tier 1 (0.4%) -> liquidation price 25,100.40 (exact 25,100.4016; our trigger tick, rounded
  toward the mark, is 25,100.41);
- Binance's USDⓈ-M FAQ example (BTCUSDT and ETHUSDT held together, wallet 1,535,443.01) as
  transcribed in freqtrade's tests: isolated 1,114.78 and 18,778.73, cross 1,153.26 and 26,316.89;
  and its maintenance margins (3,500,032.458 x 2.5% - 16,300 = 71,200.81; 4,918,775.081 x 10% -
  135,365 = 356,512.51);
- dYdX's docs: isolated liquidation price 3,174.60 and cross 3,380.95; Hyperliquid's
  ``liq_price = price - side x margin_available / position_size / (1 - l x side)`` gives the same
  number; the help centre's bankruptcy price 1.2 and maximum liquidation spread 1.5 x 5% = 7.5%;
- dYdX v4's own tests (protocol/x/clob/keeper/liquidations_test.go): bankruptcy quotes 4,501,
  -5,499, 5,000, 2,500, 294, -306, the rounding 2,775.11 -> 2,776 and -2,775.11 -> -2,775; fillable
  prices 49,999 / 49,998 / 50,001 / 50,002 / 49,500 / 50,500 / 2,976 / 49,990 / 49,999.99999; the
  liquidation fee $62.50 (0.5% of $12,500, below the $124.75 left), $0.25 (all that is left) and
  the insurance fund paying $0.75 on a fill beyond bankruptcy;
- BitMEX's ADL example: six longs ranked, their quintiles (20/40/60/80/80/100%), a 20-lot short
  liquidated deleverages account 2 for 10 and account 5 for 10;
- Satis's insurance fund example (long, bankruptcy $99: a fill at $99.25 gives the fund $0.25, one
  at $98.75 costs it $0.25), under the rule in which the fund keeps all of the surplus;
- Hyperliquid's rules: backstop below 2/3 of maintenance (strictly); 20% partial liquidation above
  the threshold, the whole position during the cooldown;
- hand-checked: bankruptcy prices and their rounding, restore sizes (flat and bracketed, with slippage
  and fee), the BitMEX step-down, ADL scores, pro-rata (and the Alabama paradox of largest remainder);
- properties (hypothesis): pro_rata sums exactly, every part is its exact share rounded down or up,
  and a larger weight never gets less; restore_size equals a brute-force search (one lot fewer is
  never enough), with a flat rate and with a bracket schedule; the liquidation fee never exceeds
  what is left and is never negative; the rounded bankruptcy price leaves equity in (-1 tick, 0];
  at the exact liquidation price equity equals maintenance (also through a schedule); a close at
  the bankruptcy quote keeps the account's collateral ratio; the fillable price lies between the
  oracle and the maximum spread; the ADL queue does not depend on the input order;
- validation: UnitError with ``field`` set; the module's docstring examples run.
"""

from __future__ import annotations

import doctest
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.liquidation import formulas
from exchange_sim.liquidation.formulas import (
    FillSettlement,
    adjusted_bankruptcy_rating,
    adl_fills,
    adl_percentiles,
    adl_queue,
    adl_score,
    backstop_due,
    bankruptcy_price,
    bankruptcy_price_exact,
    bankruptcy_quote,
    bankruptcy_quote_exact,
    book_liquidation_lots,
    fillable_price,
    fillable_price_exact,
    liquidation_fee,
    liquidation_price,
    liquidation_price_exact,
    liquidation_price_in_schedule,
    pro_rata,
    restore_size,
    restore_size_in_schedule,
    settle_liquidation_fill,
    step_down_size,
)
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.units import PPM, UnitError, ceil_div, charge_ppm, to_atoms, to_units


def usd(amount: str) -> int:
    """Dollars (USDC/USDT with 6 decimals) -> atoms."""
    return to_atoms(amount, 6)


def cents(price: str) -> int:
    """A price in dollars -> ticks of $0.01."""
    return to_units(price, Fraction(1, 100), "price")


# Binance ----------------------------------------------------------------------------------------
#
# Instrument for the Binance examples: USDT with 6 decimals, tick 0.01 USDT, lot 0.001 BTC, so one
# tick on one lot is 0.00001 USDT = 10 atoms.
BINANCE_APL = 10


def test_binance_how_to_avoid_liquidation_example() -> None:
    """Binance FAQ, https://binance.com/en/support/faq/25edcd7fe0e544839d0847b8cbb2e400 :
    wallet balance 500 USDT, long BTCUSDT worth 1,000 USDT with 20x at $50,000 -> liquidation price
    $25,100.40. BTCUSDT's first bracket (below 50,000 USDT): 0.4%, maintenance amount 0.

    By hand: 0.02 BTC; LP = (500 - 0.02 x 50,000) / (0.02 x 0.004 - 0.02) = -500 / -0.01992
    = 25,100.4016...; Binance shows it to the cent.

    (The same page's second number, 35,857.67 after adding 1,000 USDT at 45,000, does not follow
    from the formula with the stated inputs, 35,669.3, and is not tested.)
    """
    exact = liquidation_price_exact(20, cents("50000"), usd("500"), BINANCE_APL, 4_000)
    assert exact == Fraction(625_000_000, 249)  # 2,510,040.16 ticks
    assert round(exact) == cents("25100.40")  # what Binance displays: the nearest cent
    # our trigger tick rounds toward the mark (a long: up), never later than the exact price
    assert liquidation_price(20, cents("50000"), usd("500"), BINANCE_APL, 4_000) == cents("25100.41")


# Binance's USDⓈ-M FAQ example, as transcribed in freqtrade's tests ("From calc example"):
# https://github.com/freqtrade/freqtrade/blob/develop/tests/exchange/test_binance.py
# Formula: https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-usd%E2%93%A2-m-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93
# Units: USDT with 8 decimals (the example has 5-decimal amounts), tick 0.01, lot 0.001 -> 1,000
# atoms per tick per lot for both BTCUSDT and ETHUSDT.
USDT8_APL = 1_000


def usdt8(amount: str) -> int:
    return to_atoms(amount, 8)


BTC = {"size": 109_488, "entry": cents("32481.98"), "mark": cents("31967.27"), "mmr": 25_000, "cum": "16300"}
ETH = {
    "size": 3_683_979,
    "entry": cents("1456.84"),
    "mark": cents("1335.18"),
    "mmr": 100_000,
    "cum": "135365",
}


def test_binance_faq_example_maintenance_margins() -> None:
    """The example's maintenance margins: notional at the mark x rate - maintenance amount.

    BTCUSDT: 109.488 x 31,967.27 = 3,500,032.45776 -> x 2.5% - 16,300 = 71,200.81144 (the
    example's 71,200.81144, from a notional it rounded to 3,500,032.458);
    ETHUSDT: 3,683.979 x 1,335.18 = 4,918,775.0812... -> x 10% - 135,365 = 356,512.508.
    """
    btc_notional = BTC["size"] * BTC["mark"] * USDT8_APL
    assert btc_notional == usdt8("3500032.45776")
    btc_mm = Fraction(btc_notional * 25_000, PPM) - usdt8("16300")
    assert abs(btc_mm - usdt8("71200.81144")) < usdt8("0.00001")
    eth_notional = ETH["size"] * ETH["mark"] * USDT8_APL
    eth_mm = Fraction(eth_notional * 100_000, PPM) - usdt8("135365")
    assert abs(eth_mm - usdt8("356512.508")) < usdt8("0.001")
    # unrealised PnL of each at its mark: (mark - entry) x size
    assert (BTC["mark"] - BTC["entry"]) * BTC["size"] * USDT8_APL == usdt8("-56354.56848")
    assert (ETH["mark"] - ETH["entry"]) * ETH["size"] * USDT8_APL == usdt8("-448192.88514")


@pytest.mark.parametrize(
    ("position", "other_mm", "other_upnl", "published"),
    [
        (ETH, "0", "0", "1114.78"),  # isolated: TMM = UPNL = 0
        (BTC, "0", "0", "18778.73"),
        (ETH, "71200.81144", "-56354.57", "1153.26"),  # cross: the other contract is BTCUSDT
        (BTC, "356512.508", "-448192.89", "26316.89"),  # cross: the other contract is ETHUSDT
    ],
)
def test_binance_faq_example(position: dict, other_mm: str, other_upnl: str, published: str) -> None:
    """Wallet balance 1,535,443.01 USDT. By hand, e.g. ETHUSDT cross:
    (1,535,443.01 - 71,200.81144 - 56,354.57 + 135,365 - 3,683.979 x 1,456.84)
    / (3,683.979 x 0.10 - 3,683.979) = -3,823,715.33 / -3,315.5811 = 1,153.2565 -> 1,153.26."""
    exact = liquidation_price_exact(
        position["size"],
        position["entry"],
        usdt8("1535443.01"),
        USDT8_APL,
        position["mmr"],
        usdt8(position["cum"]),
        other_maintenance=usdt8(other_mm),
        other_unrealized_pnl=usdt8(other_upnl),
    )
    assert abs(exact - cents(published)) <= Fraction(1, 2)  # published to the nearest cent


# dYdX docs and Hyperliquid's form ------------------------------------------------------------------
#
# ETH: USDC with 6 decimals, tick $0.01, lot 0.001 ETH -> 10 atoms per tick per lot.
ETH_APL = 10


def test_dydx_isolated_liquidation_price() -> None:
    """dYdX docs, Liquidations,
    https://github.com/dydxprotocol/v4-documentation/blob/main/docs/pages/concepts/trading/liquidations.mdx
    e = 1000, short 3 ETH at 3000, MMF 5%: p' = (1000 + 9000) / (0.15 + 3) = 10000 / 3.15 = 3174.60;
    "the trader's remaining equity would be ... 476.2" (3 x 3174.6 x 0.05)."""
    exact = liquidation_price_exact(-3_000, cents("3000"), usd("1000"), ETH_APL, 50_000)
    assert exact == Fraction(20_000_000, 63)  # 317,460.317... ticks
    assert liquidation_price(-3_000, cents("3000"), usd("1000"), ETH_APL, 50_000) == cents("3174.60")
    equity = usd("1000") - 3_000 * ETH_APL * (exact - cents("3000"))
    assert equity == 3_000 * ETH_APL * exact * Fraction(5, 100)  # equity = maintenance there
    assert round(equity) == usd("476.190476")  # 476.19: the docs' 476.2


def test_dydx_cross_liquidation_price() -> None:
    """dYdX docs: e = 1000, short 1.5 ETH at 3000 (MMF 5%), long 1,000 STRK at 1.75 (MMF 10%):
    MMR_o = 175; p' = (1000 + 4500 - 175) / 1.575 = 3380.95."""
    other = 1_000 * 175 * 10_000 * 100_000 // PPM  # 1,000 STRK x $1.75 x 10%, STRK ticks of $0.01
    assert other == usd("175")
    exact = liquidation_price_exact(
        -1_500, cents("3000"), usd("1000"), ETH_APL, 50_000, other_maintenance=other
    )
    assert exact == Fraction(7_100_000, 21)
    assert liquidation_price(
        -1_500, cents("3000"), usd("1000"), ETH_APL, 50_000, other_maintenance=other
    ) == (cents("3380.95"))


def test_hyperliquid_formula_is_the_same_line() -> None:
    """Hyperliquid docs: liq_price = price - side x margin_available / position_size / (1 - l x side),
    l = 1 / maintenance leverage, margin_available = account value - maintenance required (at the
    current price). On dYdX's isolated example: 3000 + (1000 - 450) / 3 / 1.05 = 3174.603..."""
    size, price, account_value, l_rate = 3_000, cents("3000"), usd("1000"), Fraction(5, 100)
    maintenance = size * ETH_APL * price * l_rate
    margin_available = account_value - maintenance
    side = -1
    hyperliquid = price - side * margin_available / (size * ETH_APL) / (1 - l_rate * side)
    assert hyperliquid == liquidation_price_exact(-size, price, account_value, ETH_APL, 50_000)


def test_dydx_help_centre_bankruptcy_price() -> None:
    """dYdX, Contract loss mechanisms: B deposits $100 and shorts 500 ABC at $1; "B's bankruptcy price
    is $1.2", where A's long is closed: A gains $100 and B ends at $0.
    https://dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism
    ABC: tick $0.01, lot 1 ABC, USDC: 10,000 atoms per tick per lot."""
    assert bankruptcy_price_exact(-500, cents("1"), usd("100"), 10_000) == cents("1.2")
    assert bankruptcy_price(-500, cents("1"), usd("100"), 10_000) == cents("1.2")
    # closing at 1.2: B's equity 100 - 500 x (1.2 - 1) = 0; A's gain 500 x 0.2 = 100
    assert usd("100") - 500 * 10_000 * (cents("1.2") - cents("1")) == 0


def test_dydx_help_centre_maximum_spread() -> None:
    """dYdX help centre: "The maximum liquidation spread is determined by 1.5 (default genesis
    parameters) x a given market's Maintenance Margin Requirement. So in this example, 1.5 x 5% =
    7.5%." https://help.dydx.trade/en/articles/166973-contract-loss-mechanisms-on-dydx-chain
    With no collateral left (ABR = 1) the fillable price of a long is the oracle less 7.5%: 1 ETH
    (1,000 lots) at $2,000, maintenance 5% = $100."""
    price = fillable_price_exact(1_000, cents("2000"), usd("100"), 0, usd("100"), ETH_APL)
    assert price == cents("2000") * Fraction(925, 1000) == cents("1850")
    short = fillable_price_exact(-1_000, cents("2000"), usd("100"), -1, usd("100"), ETH_APL)
    assert short == cents("2150")


# dYdX v4 chain tests ---------------------------------------------------------------------------
#
# dydxprotocol/v4-chain, protocol/x/clob/keeper/liquidations_test.go:
# https://github.com/dydxprotocol/v4-chain/blob/main/protocol/x/clob/keeper/liquidations_test.go
# BTC at $50,000 with a 10% maintenance fraction; USDC atoms are dYdX's quote quantums (1e-6).
# Units here: BTC lot 1e-8 (dYdX's base quantum), tick $100 -> 1 atom per tick per lot, so BTC is
# 500 ticks; ETH lot 1e-9, tick $1,000 -> 1 atom per tick per lot, $3,000 is 3 ticks (the units of
# dYdX's "subticks" in these tests).
BTC_PRICE = 500
ETH_PRICE = 3
TENTH_BTC = 10_000_000
TENTH_ETH = 100_000_000


def dydx_mm(lots: int, price: int) -> int:
    """10% maintenance of |lots| at price, in atoms (exact for these numbers)."""
    value = abs(lots) * price
    assert value % 10 == 0
    return value // 10


@pytest.mark.parametrize(
    ("size", "close", "balance", "expected"),
    [
        (TENTH_BTC, -TENTH_BTC, "-4501", "4501"),  # long slightly below maintenance
        (-TENTH_BTC, TENTH_BTC, "5499", "-5499"),  # short slightly below maintenance
        (TENTH_BTC, -TENTH_BTC, "-5000", "5000"),  # long at the bankruptcy price
        (TENTH_BTC, -TENTH_BTC // 2, "-5000", "2500"),  # half of it
        (-TENTH_BTC, TENTH_BTC // 2, "5000", "-2500"),
        (-TENTH_BTC, TENTH_BTC, "5000", "-5000"),
        (TENTH_BTC, -TENTH_BTC, "-5100", "5100"),  # below the bankruptcy price
        (-TENTH_BTC, TENTH_BTC, "4900", "-4900"),
        (10 * TENTH_BTC, -10 * TENTH_BTC, "1", "-1"),  # a long that cannot lose: negative
    ],
)
def test_dydx_bankruptcy_quote_one_position(size: int, close: int, balance: str, expected: str) -> None:
    """E.g. 0.1 BTC long with -$4,501: TNC = 5,000 - 4,501 = 499, TMMR = 500; closing all:
    -(-5,000) - 499 x 500 / 500 = 4,501: "if 0.1 BTC can't be sold for at least $4,501 then the
    subaccount will be bankrupt"."""
    tnc = usd(balance) + size * BTC_PRICE
    tmmr = dydx_mm(size, BTC_PRICE)
    delta_value = close * BTC_PRICE
    delta_mm = dydx_mm(size + close, BTC_PRICE) - tmmr
    assert bankruptcy_quote(delta_value, delta_mm, tnc, tmmr) == usd(expected)


def test_dydx_bankruptcy_quote_several_positions() -> None:
    """0.004 BTC ($200, mm $20) and 0.1 ETH ($300, mm $30) long, -$490: TNC 10, TMMR 50. Closing
    the ETH: 300 - 10 x 30 / 50 = $294. Both short with +$510 (TNC 10): -$306; a BTC long and an
    ETH short with +$110 (TNC = 110 + 200 - 300 = 10): -$306."""
    btc, eth = 400_000, TENTH_ETH
    tmmr = dydx_mm(btc, BTC_PRICE) + dydx_mm(eth, ETH_PRICE)
    assert tmmr == usd("50")
    eth_mm = -dydx_mm(eth, ETH_PRICE)
    assert bankruptcy_quote(-eth * ETH_PRICE, eth_mm, usd("10"), tmmr) == usd("294")
    assert bankruptcy_quote(eth * ETH_PRICE, eth_mm, usd("10"), tmmr) == usd("-306")
    tnc = usd("110") + btc * BTC_PRICE - eth * ETH_PRICE
    assert tnc == usd("10")
    assert bankruptcy_quote(eth * ETH_PRICE, eth_mm, tnc, tmmr) == usd("-306")


def test_dydx_bankruptcy_quote_rounds_up() -> None:
    """Closing 0.00021347 of 1 BTC long with -$13 (TNC 49,987, TMMR 5,000): exact 2,775.11 quote
    quantums, "rounded up from 2,775.11" to 2,776; the short mirror (+$13, TNC -49,987) gives
    -2,775 ("rounded down from 2,775.11" in magnitude: toward +infinity)."""
    one_btc, close = 100_000_000, 21_347
    tmmr = dydx_mm(one_btc, BTC_PRICE)
    delta_mm = dydx_mm(one_btc - close, BTC_PRICE) - tmmr
    assert delta_mm == -1_067_350
    tnc_long = usd("-13") + one_btc * BTC_PRICE
    exact = bankruptcy_quote_exact(-close * BTC_PRICE, delta_mm, tnc_long, tmmr)
    assert 2_775 < exact < 2_776  # 10,673,500 - 10,670,724.89
    assert bankruptcy_quote(-close * BTC_PRICE, delta_mm, tnc_long, tmmr) == 2_776
    tnc_short = usd("13") - one_btc * BTC_PRICE
    assert bankruptcy_quote(close * BTC_PRICE, delta_mm, tnc_short, tmmr) == -2_775


@pytest.mark.parametrize(
    ("size", "balance", "ba", "smmr", "expected"),
    [
        (TENTH_BTC, "-4501", PPM, 100_000, Fraction(49_999, 100)),  # $49,999
        (TENTH_BTC, "-4501", 2 * PPM, 100_000, Fraction(49_998, 100)),
        (TENTH_BTC, "-4501", PPM, 200_000, Fraction(49_998, 100)),
        (-TENTH_BTC, "5499", PPM, 100_000, Fraction(50_001, 100)),
        (-TENTH_BTC, "5499", 2 * PPM, 100_000, Fraction(50_002, 100)),
        (-TENTH_BTC, "5499", PPM, 200_000, Fraction(50_002, 100)),
        (TENTH_BTC, "-5000", PPM, 100_000, Fraction(495)),  # at bankruptcy: ABR = 1
        (-TENTH_BTC, "5000", PPM, 100_000, Fraction(505)),
        (TENTH_BTC, "-5500", PPM, 100_000, Fraction(495)),  # below bankruptcy: ABR clamped to 1
        (-TENTH_BTC, "4500", PPM, 100_000, Fraction(505)),
        (TENTH_BTC, "-4501", 2**32 - 1, 100_000, Fraction(495)),  # BA max uint32: ABR 1
        (TENTH_BTC, "-4501", PPM, 1, Fraction(4_999_999_999, 10_000_000)),
        (TENTH_BTC, "-4501", PPM, PPM, Fraction(49_990, 100)),
    ],
)
def test_dydx_fillable_price(size: int, balance: str, ba: int, smmr: int, expected: Fraction) -> None:
    """TestGetFillablePrice (its default configuration: BA 1,000,000 ppm, SMMR 100,000 ppm).
    By hand, the first: TNC 499, TMMR 500 -> ABR = 1 - 499/500 = 1/500; spread ABR x SMMR x PMMR
    = 1/500 x 0.1 x $500 = $0.10 on $5,000 of 0.1 BTC -> (5,000 - 0.1) / 0.1 = $49,999."""
    tnc = usd(balance) + size * BTC_PRICE
    pmmr = dydx_mm(size, BTC_PRICE)
    price = fillable_price_exact(
        size, BTC_PRICE, pmmr, tnc, pmmr, 1, bankruptcy_adjustment_ppm=ba, spread_to_maintenance_ppm=smmr
    )
    assert price == expected


def test_dydx_fillable_price_several_positions() -> None:
    """0.004 BTC and 0.1 ETH long, -$490: TNC 10, TMMR 50 -> ABR 0.8; ETH: (300 - 0.8 x 0.1 x 30)
    / 0.1 ETH = $2,976 = 372/125 of a $1,000 tick."""
    price = fillable_price_exact(
        TENTH_ETH, ETH_PRICE, usd("30"), usd("10"), usd("50"), 1, spread_to_maintenance_ppm=100_000
    )
    assert price == Fraction(372, 125)
    assert adjusted_bankruptcy_rating(usd("10"), usd("50")) == Fraction(4, 5)


def test_dydx_fillable_price_rounds_toward_the_oracle() -> None:
    # 49,999.99999 (SMMR 1 ppm) -> a sell closing a long rounds up, to the oracle tick 500
    args = (TENTH_BTC, BTC_PRICE, usd("500"), usd("499"), usd("500"), 1)
    assert fillable_price(*args, spread_to_maintenance_ppm=1) == 500
    # 49,500 exactly stays 495 ticks
    assert fillable_price(
        TENTH_BTC, BTC_PRICE, usd("500"), 0, usd("500"), 1, spread_to_maintenance_ppm=100_000
    ) == (495)
    # a short at the default SMMR 1.5: $50,015 = 500.15 ticks of $100: a buy rounds down, to 500
    assert fillable_price(-TENTH_BTC, BTC_PRICE, usd("500"), usd("499"), usd("500"), 1) == 500


def test_dydx_liquidation_fee_and_insurance_fund() -> None:
    """PlacePerpetualLiquidation cases: Carl is short 1 BTC at $50,000 with $50,499 (TNC 499, TMMR
    5,000), maximum liquidation fee 5,000 ppm.

    * 0.25 BTC filled at $50,000: bankruptcy quote -12,500 - 499 x 1,250 / 5,000 = -$12,624.75; the
      fill pays $12,500, $124.75 better; fee $12,500 x 0.5% = $62.50 (Carl's balance: 50,499 -
      12,500 - 62.5);
    * 0.25 BTC filled at $50,498: pays $12,624.50, $0.25 better: "Carl pays $0.25 to the insurance
      fund" (the whole surplus, below the $63.12 maximum);
    * after that, the remaining 0.75 BTC (balance $37,874.25, TNC 374.25, TMMR 3,750) has bankruptcy
      quote -$37,874.25 ($50,499 a BTC): "closing at $50,500 would require $0.75 from the insurance
      fund".
    """
    quarter = 25_000_000
    tmmr = dydx_mm(100_000_000, BTC_PRICE)
    delta_mm = dydx_mm(75_000_000, BTC_PRICE) - tmmr
    bankrupt = bankruptcy_quote(quarter * BTC_PRICE, delta_mm, usd("499"), tmmr)
    assert bankrupt == usd("-12624.75")
    at_50000 = settle_liquidation_fill(-quarter * BTC_PRICE, bankrupt, 5_000)
    assert at_50000 == FillSettlement(usd("124.75"), usd("62.5"), usd("62.5"), usd("62.25"))
    assert usd("50499") - usd("12500") - at_50000.fee == usd("37936.5")
    at_50498 = settle_liquidation_fill(usd("-12624.5"), bankrupt, 5_000)  # 0.25 x $50,498
    assert at_50498 == FillSettlement(usd("0.25"), usd("0.25"), usd("0.25"), 0)
    # the rest: balance 50,499 - 12,624.50 - 0.25 = 37,874.25
    balance = usd("50499") - usd("12624.5") - usd("0.25")
    rest = -75_000_000
    tnc = balance + rest * BTC_PRICE
    assert tnc == usd("374.25")
    bankrupt_rest = bankruptcy_quote(
        -rest * BTC_PRICE, -dydx_mm(rest, BTC_PRICE), tnc, dydx_mm(rest, BTC_PRICE)
    )
    assert bankrupt_rest == usd("-37874.25")
    beyond = settle_liquidation_fill(usd("-37875"), bankrupt_rest, 5_000)  # 0.75 BTC at $50,500
    assert beyond == FillSettlement(usd("-0.75"), 0, usd("-0.75"), 0)


def test_satis_insurance_fund_example() -> None:
    """Satis docs, System gain and losses,
    https://doc.sat.is/product-docs/trading/liquidation/system-gain-and-losses :
    a long at $100, bankruptcy price $99; filled at $99.25 "the extra $0.25 goes into the
    Insurance Fund"; filled at $98.75, the fund's $0.25 "is utilized to compensate for the loss".
    The rule in which the fund keeps all of the surplus is fee_ppm = 1,000,000 (one contract of 1
    unit; dollars as 6-decimal atoms)."""
    gain = settle_liquidation_fill(usd("99.25"), usd("99"), PPM)
    assert gain == FillSettlement(usd("0.25"), usd("0.25"), usd("0.25"), 0)
    loss = settle_liquidation_fill(usd("98.75"), usd("99"), PPM)
    assert loss.fund_delta == usd("-0.25")
    assert gain.fund_delta + loss.fund_delta == 0  # "the Insurance Fund is left with $0"


# BitMEX: ADL -------------------------------------------------------------------------------------


def test_bitmex_adl_example() -> None:
    """BitMEX, Auto-Deleveraging examples, https://testnet.bitmex.com/app/autoDeleveragingExamples :
    six longs (account: quantity, PNL ranking) 1: 10, 3; 2: 10, 6; 3: 20, 1; 4: 30, 4; 5: 20, 5;
    6: 10, 2. Ranked: 2, 5, 4, 1, 6, 3 with percentiles 20%, 40%, 60%, 80%, 80%, 100%. "A short
    position that has been liquidated with size 20 and bankruptcy price of USD 650": "Account 2 will
    have their entire position of 10 contracts closed, while the remaining 10 contracts ... will be
    assigned to account 5"."""
    quantity = {1: 10, 2: 10, 3: 20, 4: 30, 5: 20, 6: 10}
    ranking = {1: 3, 2: 6, 3: 1, 4: 4, 5: 5, 6: 2}
    queue = adl_queue(ranking)
    assert queue == (2, 5, 4, 1, 6, 3)
    assert adl_percentiles([quantity[a] for a in queue]) == (20, 40, 60, 80, 80, 100)
    assert adl_fills([(a, quantity[a]) for a in queue], 20) == ((2, 10), (5, 10))


def test_adl_score_by_hand() -> None:
    """Long 10 lots, apl 1: entry 100 (value 1,000), mark 120 (1,200), bankruptcy 80 (800):
    PNL% = 200 / 1,000 = 20%, leverage 1,200 / 400 = 3 -> 0.6. The same loss-side at mark 90 (900)
    with bankruptcy 80: PNL% -10%, leverage 900 / 100 = 9 -> -1/90. A short mirrors: values
    negative, -10 lots entry 100 mark 80 bankruptcy 120: PNL% = (-800 + 1,000) / 1,000 = 20%,
    leverage 800 / (-800 + 1,200) = 2 -> 0.4."""
    assert adl_score(1_200, 1_000, 800) == Fraction(3, 5)
    assert adl_score(900, 1_000, 800) == Fraction(-1, 90)
    assert adl_score(-800, -1_000, -1_200) == Fraction(2, 5)
    assert adl_score(1_000, 1_000, 500) == 0
    # more leverage, same profit: deleveraged first
    assert adl_score(1_200, 1_000, 1_000) > adl_score(1_200, 1_000, 800)


def test_adl_queue_ties_and_custom_key() -> None:
    scores = [("bob", Fraction(1, 3)), ("alice", Fraction(1, 3)), ("carol", Fraction(1, 2))]
    assert adl_queue(scores) == ("carol", "alice", "bob")
    assert adl_queue(scores, tie_key=lambda name: -len(name)) == ("carol", "alice", "bob")
    assert adl_queue(scores, tie_key={"bob": 0, "alice": 1, "carol": 2}.__getitem__) == (
        "carol",
        "bob",
        "alice",
    )
    # a short queue: fills stop at what it holds
    assert adl_fills([("a", 3), ("b", 0), ("c", 2)], 10) == (("a", 3), ("c", 2))
    assert adl_fills([("a", 3)], 0) == ()


# pro rata --------------------------------------------------------------------------------------


def test_pro_rata_by_hand() -> None:
    # 10 over three equal weights: 3.33 each -> 3, 3, 3 and one left, to the first (ties by order)
    assert pro_rata(10, [1, 1, 1]) == (4, 3, 3)
    # 7 over 1, 2, 4: exact 1, 2, 4
    assert pro_rata(7, [1, 2, 4]) == (1, 2, 4)
    # 5 over 3, 3, 1: 15/7, 15/7, 5/7 = 2.14, 2.14, 0.71 -> floors 2, 2, 0, the left-over 1 to 0.71
    assert pro_rata(5, [3, 3, 1]) == (2, 2, 1)
    assert pro_rata(0, [0, 0]) == (0, 0)
    assert pro_rata(4, [0, 5, 0]) == (0, 4, 0)


def test_pro_rata_alabama_paradox() -> None:
    """Largest remainder is not monotone in the amount: 3 over 1, 3, 3 is 3/7, 9/7, 9/7 -> 1, 1, 1
    (the 3/7 remainder is largest); 4 is 4/7, 12/7, 12/7 -> 0, 2, 2 (remainders 4/7 < 5/7)."""
    assert pro_rata(3, [1, 3, 3]) == (1, 1, 1)
    assert pro_rata(4, [1, 3, 3]) == (0, 2, 2)


@given(amount=st.integers(0, 10**12), weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=12))
def test_pro_rata_properties(amount: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        if amount:
            with pytest.raises(UnitError):
                pro_rata(amount, weights)
        return
    parts = pro_rata(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount * weight, total)
        assert exact - 1 < part < exact + 1
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            if wi > wj:
                assert parts[i] >= parts[j]
            if wi == wj and i < j:
                assert parts[i] - parts[j] in (0, 1)


# Hyperliquid -----------------------------------------------------------------------------------


def test_hyperliquid_backstop_rule() -> None:
    """https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations : "If the account equity
    drops below 2/3 of the maintenance margin ... a backstop liquidation happens"."""
    assert not backstop_due(200, 300)  # exactly 2/3: not below
    assert backstop_due(199, 300)
    assert not backstop_due(250, 300)  # below maintenance, book liquidation only
    assert backstop_due(-1, 0)
    assert backstop_due(49, 100, Fraction(1, 2))


def test_hyperliquid_partial_liquidation() -> None:
    """Same page: "For liquidatable positions larger than 100k USDC ..., only 20% of the position
    will be sent as a market liquidation order to the book", and during the 30-second cooldown "all
    market liquidation orders for that user will be for the entire position"."""
    threshold = usd("100000")
    assert book_liquidation_lots(1_000, usd("150000"), threshold) == 200
    assert book_liquidation_lots(-1_000, usd("150000"), threshold) == 200
    assert book_liquidation_lots(1_000, usd("100000"), threshold) == 1_000  # not larger: all
    assert book_liquidation_lots(1_000, usd("150000"), threshold, cooldown=True) == 1_000
    assert book_liquidation_lots(3, usd("150000"), threshold) == 1  # 0.6 rounds up
    assert book_liquidation_lots(1_003, usd("150000"), threshold) == 201


# bankruptcy price by hand -------------------------------------------------------------------------


def test_bankruptcy_price_by_hand() -> None:
    # long 3 lots from 100 with 1,000 atoms, 10 atoms a tick a lot: 100 - 1000/30 = 66.67 -> 66
    assert bankruptcy_price_exact(3, 100, 1_000, 10) == Fraction(200, 3)
    assert bankruptcy_price(3, 100, 1_000, 10) == 66
    assert bankruptcy_price(-3, 100, 1_000, 10) == 134
    # an entry that is a fraction of a tick: 100.5 - 11/2 = 95 exactly stays there; 95.5 -> 95
    assert bankruptcy_price(2, Fraction(201, 2), 11, 1) == 95
    assert bankruptcy_price(2, Fraction(201, 2), 10, 1) == 95
    # a long backed by its whole value: no positive price bankrupts it
    assert bankruptcy_price(3, 100, 3_000, 10) is None
    # a short already past bankruptcy: bankrupt at any price
    assert bankruptcy_price(-3, 100, -3_000, 10) == 1


# restore size by hand ---------------------------------------------------------------------------


def test_restore_size_by_hand() -> None:
    """Long 10 lots at mark 100, 10 atoms a tick a lot: notional 10,000, maintenance 10% = 1,000.

    * equity 900, closing at the mark, no fee: each lot frees 100 -> 1 lot;
    * equity 500: 5 lots (maintenance 500 = equity);
    * closing 2 ticks below the mark costs 20 a lot: a lot frees only 80 -> 900 needs 2 lots
      (1 lot: 880 < 900; 2 lots: 860 >= 800);
    * with a 1% fee at 100: 10 a lot: 90 a lot -> equity 500 needs ceil(500/90) = 6 lots;
    * equity 1,000: healthy, 0;
    * equity 100 closing 1 tick below the mark (-10 a lot): only all 10 lots do (0 >= 0); with
      equity 40 closing everything leaves -60 < 0: None (a full liquidation, and a loss).
    """
    assert restore_size(10, 100, 100, 900, 10, 100_000, 0) == 1
    assert restore_size(10, 100, 100, 500, 10, 100_000, 0) == 5
    assert restore_size(10, 100, 98, 900, 10, 100_000, 0) == 2
    assert restore_size(10, 100, 100, 500, 10, 100_000, 10_000) == 6
    assert restore_size(10, 100, 100, 1_000, 10, 100_000, 0) == 0
    assert restore_size(10, 100, 99, 100, 10, 100_000, 0) == 10  # -10 a lot: 0 >= 0 at 10 lots
    assert restore_size(10, 100, 99, 40, 10, 100_000, 0) is None
    # a short mirrors: buying back above the mark costs
    assert restore_size(-10, 100, 102, 900, 10, 100_000, 0) == 2
    # other positions' maintenance counts in full
    assert restore_size(10, 100, 100, 900, 10, 100_000, 0, other_maintenance=300) == 4


def test_restore_size_in_schedule_steps_down() -> None:
    """Bands: 1% below 5,000 atoms, 5% from 5,000 (deduction 5,000 x 4% = 200). Long 10 lots at 100,
    10 atoms a tick a lot: notional 10,000 -> 500 - 200 = 300 maintenance.

    Equity 100: 9 lots kept -> 9,000 x 5% - 200 = 250; ... 5 lots -> 5,000 x 5% - 200 = 50 <= 100
    but 6 lots -> 100 <= 100 already: closing 4 lots. The flat 5% rate would need 8 (2 lots -> 100).
    """
    schedule = BracketSchedule.create([Bracket(0, 10_000, 20_000), Bracket(5_000, 50_000, 100_000)])
    assert schedule.maintenance(10_000) == 300
    assert restore_size_in_schedule(schedule, 10, 100, 100, 100, 10, 0) == 4
    assert restore_size(10, 100, 100, 100, 10, 50_000, 0) == 8
    assert restore_size_in_schedule(schedule, 10, 100, 100, 300, 10, 0) == 0
    # into the lowest band: equity 30 -> 3 lots kept = 3,000 x 1% = 30: closing 7
    assert restore_size_in_schedule(schedule, 10, 100, 100, 30, 10, 0) == 7


def test_step_down_size_by_hand() -> None:
    """BitMEX: bring the position down to the next lower risk limit. Floors 0 / 1,000,000 /
    2,000,000 atoms; 500 atoms per tick per lot at mark 100: 50,000 a lot."""
    schedule = BracketSchedule.create(
        [Bracket(0, 5_000, 10_000), Bracket(1_000_000, 10_000, 20_000), Bracket(2_000_000, 20_000, 40_000)]
    )
    assert step_down_size(schedule, 30, 100, 500) == 11  # 1,500,000 -> 19 lots = 950,000
    assert step_down_size(schedule, -50, 100, 500) == 11  # 2,500,000 -> 39 lots = 1,950,000
    assert step_down_size(schedule, 40, 100, 500) == 1  # exactly at a floor: one lot takes it below
    assert step_down_size(schedule, 19, 100, 500) is None  # lowest band: full liquidation


# properties -------------------------------------------------------------------------------------


def _ok_after(
    size: int, mark: int, close: int, equity: int, apl: int, fee: int, other: int, mm, n: int
) -> bool:
    """The restore condition computed independently: equity after >= maintenance after."""
    side = 1 if size > 0 else -1
    after = equity + n * apl * (close - mark) * side - charge_ppm(n * close * apl, fee)
    return after >= other + mm((abs(size) - n) * mark * apl)


def _brute_restore(size, mark, close, equity, apl, fee, other, mm) -> int | None:
    for n in range(abs(size) + 1):
        if _ok_after(size, mark, close, equity, apl, fee, other, mm, n):
            return n
    return None


restore_inputs = st.fixed_dictionaries(
    {
        "size": st.integers(-80, 80).filter(bool),
        "mark": st.integers(1, 300),
        "offset": st.integers(-5, 5),
        "apl": st.integers(1, 40),
        "equity": st.integers(-500, 20_000),
        "fee": st.integers(0, 30_000),
        "other": st.integers(0, 2_000),
    }
)


@given(inputs=restore_inputs, rate=st.integers(0, 300_000))
def test_restore_size_is_minimal_flat(inputs: dict, rate: int) -> None:
    close = max(1, inputs["mark"] + inputs["offset"])
    args = (inputs["size"], inputs["mark"], close, inputs["equity"], inputs["apl"])

    def mm(notional: int) -> int:
        return ceil_div(notional * rate, PPM)

    expected = _brute_restore(*args, inputs["fee"], inputs["other"], mm)
    got = restore_size(*args, rate, inputs["fee"], other_maintenance=inputs["other"])
    assert got == expected
    if got:  # minimal: one lot fewer is not enough
        assert not _ok_after(*args, inputs["fee"], inputs["other"], mm, got - 1)


@st.composite
def schedules(draw: st.DrawFn) -> BracketSchedule:
    floors = sorted(set(draw(st.lists(st.integers(1, 400_000), max_size=3))))
    rates = sorted(
        draw(st.lists(st.integers(1, 300_000), min_size=len(floors) + 1, max_size=len(floors) + 1))
    )
    bands = [Bracket(floor, rate, rate) for floor, rate in zip([0, *floors], rates, strict=True)]
    return BracketSchedule.create(bands)


@given(inputs=restore_inputs, schedule=schedules())
def test_restore_size_is_minimal_in_schedule(inputs: dict, schedule: BracketSchedule) -> None:
    close = max(1, inputs["mark"] + inputs["offset"])
    args = (inputs["size"], inputs["mark"], close, inputs["equity"], inputs["apl"])
    expected = _brute_restore(*args, inputs["fee"], inputs["other"], schedule.maintenance)
    assert (
        restore_size_in_schedule(schedule, *args, inputs["fee"], other_maintenance=inputs["other"])
        == expected
    )


@given(rate=st.integers(0, PPM), notional=st.integers(0, 10**15), left=st.integers(-(10**12), 10**12))
def test_liquidation_fee_never_exceeds_what_is_left(rate: int, notional: int, left: int) -> None:
    fee = liquidation_fee(rate, notional, left)
    assert 0 <= fee <= max(0, left)
    assert fee <= charge_ppm(notional, rate)
    assert fee == max(0, left) or fee == charge_ppm(notional, rate)


@given(fill=st.integers(-(10**12), 10**12), bankrupt=st.integers(-(10**12), 10**12), rate=st.integers(0, PPM))
def test_settlement_adds_up(fill: int, bankrupt: int, rate: int) -> None:
    s = settle_liquidation_fill(fill, bankrupt, rate)
    assert s.surplus == fill - bankrupt
    assert 0 <= s.fee <= max(0, s.surplus)
    assert s.account_keeps >= 0
    if s.surplus > 0:
        assert s.fund_delta == s.fee and s.fee + s.account_keeps == s.surplus
    else:
        assert s.fund_delta == s.surplus and s.fee == s.account_keeps == 0


@given(
    size=st.integers(-(10**6), 10**6).filter(bool),
    entry=st.integers(1, 10**7),
    margin=st.integers(-(10**9), 10**12),
    apl=st.integers(1, 1_000),
)
def test_bankruptcy_price_leaves_equity_within_one_tick(size: int, entry: int, margin: int, apl: int) -> None:
    tick = bankruptcy_price(size, entry, margin, apl)
    exact = bankruptcy_price_exact(size, entry, margin, apl)

    def equity(price: int) -> int:
        return margin + size * apl * (price - entry)

    if tick is None:
        assert size > 0 and exact < 1
        return
    if exact >= 1:
        assert -abs(size) * apl < equity(tick) <= 0
        better = tick + 1 if size > 0 else tick - 1
        if better >= 1:
            assert equity(better) > 0
    else:  # a short bankrupt at every price
        assert size < 0 and tick == 1 and equity(1) <= 0


@given(
    size=st.integers(-(10**5), 10**5).filter(bool),
    entry=st.integers(1, 10**6),
    wallet=st.integers(-(10**9), 10**12),
    apl=st.integers(1, 500),
    rate=st.integers(0, PPM - 1),
    amount=st.integers(0, 10**9),
    other_mm=st.integers(0, 10**9),
    other_upnl=st.integers(-(10**9), 10**9),
)
def test_equity_equals_maintenance_at_the_liquidation_price(
    size: int, entry: int, wallet: int, apl: int, rate: int, amount: int, other_mm: int, other_upnl: int
) -> None:
    cum = Fraction(amount, 7)  # a maintenance amount need not be whole atoms
    price = liquidation_price_exact(
        size, entry, wallet, apl, rate, cum, other_maintenance=other_mm, other_unrealized_pnl=other_upnl
    )
    equity = wallet + other_upnl + size * apl * (price - entry)
    maintenance = other_mm + abs(size) * apl * price * Fraction(rate, PPM) - cum
    assert equity == maintenance
    tick = liquidation_price(
        size, entry, wallet, apl, rate, cum, other_maintenance=other_mm, other_unrealized_pnl=other_upnl
    )
    if size > 0:
        assert tick is None if price <= 0 else tick == -((-price.numerator) // price.denominator)
    else:
        assert tick == max(1, price.numerator // price.denominator)


@given(
    schedule=schedules(),
    size=st.integers(-300, 300).filter(bool),
    entry=st.integers(1, 2_000),
    wallet=st.integers(-(10**6), 10**6),
    apl=st.integers(1, 20),
)
def test_liquidation_price_in_schedule_meets_the_schedule(
    schedule: BracketSchedule, size: int, entry: int, wallet: int, apl: int
) -> None:
    price = liquidation_price_in_schedule(schedule, size, entry, wallet, apl)
    if price is None:
        # no positive root: at price 0 (maintenance 0) a long is not below maintenance, a short not above
        equity_at_zero = wallet - size * apl * entry
        assert equity_at_zero >= 0 if size > 0 else equity_at_zero <= 0
        return
    notional = abs(size) * apl * price
    index = max(i for i, band in enumerate(schedule.brackets) if band.floor <= notional)
    band = schedule.brackets[index]
    maintenance = (notional * band.maintenance_ppm - schedule.maintenance_deductions[index]) / PPM
    assert wallet + size * apl * (price - entry) == maintenance


def test_liquidation_price_in_schedule_uses_the_band_at_the_price() -> None:
    """Bands 1% below 1,000,000 atoms, 5% from there (deduction 40,000). Long 100 lots from 1,000
    ticks, 10 atoms a tick a lot (notional 1,000,000), wallet 200,000: with the 5% band the closed
    form gives (200,000 + 40,000 - 1,000,000) / (10 x (5 - 100)) = 800 (notional 800,000: not in
    that band); with the 1% band (200,000 - 1,000,000) / (10 x (1 - 100)) = 808.08 (in band 0)."""
    schedule = BracketSchedule.create([Bracket(0, 10_000, 20_000), Bracket(1_000_000, 50_000, 100_000)])
    five = liquidation_price_exact(100, 1_000, 200_000, 10, 50_000, Fraction(40_000))
    assert five == 800
    one = liquidation_price_exact(100, 1_000, 200_000, 10, 10_000)
    assert one == Fraction(80_000, 99)
    assert liquidation_price_in_schedule(schedule, 100, 1_000, 200_000, 10) == one
    # a long backed by its whole value never reaches maintenance at a positive price
    assert liquidation_price_in_schedule(schedule, 100, 1_000, 2_000_000, 10) is None


@given(
    size=st.integers(-(10**6), 10**6).filter(bool),
    close_part=st.integers(1, 10**6),
    oracle=st.integers(1, 10**5),
    balance=st.integers(-(10**12), 10**12),
    rate=st.integers(1, 500_000),
)
def test_bankruptcy_quote_keeps_the_collateral_ratio(
    size: int, close_part: int, oracle: int, balance: int, rate: int
) -> None:
    """One position, maintenance = |value| x rate exactly (values scaled by PPM to stay whole):
    closing all of it at the bankruptcy quote is size x bankruptcy price; closing part of it leaves
    TNC / TMMR unchanged."""
    value = size * oracle * PPM
    tnc = balance * PPM + value
    tmmr = abs(size) * oracle * rate
    assert (
        bankruptcy_quote_exact(-value, -tmmr, tnc, tmmr)
        == size * bankruptcy_price_exact(size, oracle, tnc, PPM) * PPM
    )
    closed = -min(close_part, abs(size)) * (1 if size > 0 else -1)
    delta_value = closed * oracle * PPM
    delta_mm = -abs(closed) * oracle * rate
    quote = bankruptcy_quote_exact(delta_value, delta_mm, tnc, tmmr)
    tnc_after = tnc + delta_value + quote
    assert tnc_after * tmmr == tnc * (tmmr + delta_mm)
    assert (
        bankruptcy_quote(delta_value, delta_mm, tnc, tmmr) - 1
        < quote
        <= bankruptcy_quote(delta_value, delta_mm, tnc, tmmr)
    )


@given(
    size=st.integers(-(10**6), 10**6).filter(bool),
    oracle=st.integers(1, 10**6),
    mmf=st.integers(1, 200_000),
    tnc=st.integers(-(10**9), 10**9),
    others=st.integers(0, 10**9),
    ba=st.integers(PPM, 5 * PPM),
    smmr=st.integers(0, 3 * PPM),
)
def test_fillable_price_between_oracle_and_maximum_spread(
    size: int, oracle: int, mmf: int, tnc: int, others: int, ba: int, smmr: int
) -> None:
    pmmr = abs(size) * oracle * mmf  # apl = PPM: the position's maintenance is an exact fraction mmf
    apl = PPM
    kwargs = {"bankruptcy_adjustment_ppm": ba, "spread_to_maintenance_ppm": smmr}
    if Fraction(smmr * mmf, PPM * PPM) >= 1:
        return  # no positive price: refused (tested below)
    price = fillable_price_exact(size, oracle, pmmr, tnc, pmmr + others, apl, **kwargs)
    widest = oracle * Fraction(smmr * mmf, PPM * PPM)
    abr = adjusted_bankruptcy_rating(tnc, pmmr + others, ba)
    assert 0 <= abr <= 1
    if size > 0:
        assert oracle - widest <= price <= oracle
        tick = fillable_price(size, oracle, pmmr, tnc, pmmr + others, apl, **kwargs)
        assert price <= tick <= oracle
    else:
        assert oracle <= price <= oracle + widest
        tick = fillable_price(size, oracle, pmmr, tnc, pmmr + others, apl, **kwargs)
        assert oracle <= tick <= price
    assert price == oracle - (1 if size > 0 else -1) * abr * widest


@given(scores=st.dictionaries(st.text(min_size=1, max_size=3), st.fractions(), max_size=8), seed=st.randoms())
def test_adl_queue_ignores_input_order(scores: dict, seed) -> None:
    items = list(scores.items())
    seed.shuffle(items)
    queue = adl_queue(items)
    assert queue == adl_queue(scores)
    assert sorted(queue) == sorted(scores)
    ranked = [scores[k] for k in queue]
    assert ranked == sorted(ranked, reverse=True)


# validation and doctests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: bankruptcy_price(0, 100, 1, 1), "size"),
        (lambda: bankruptcy_price(1, 0, 1, 1), "entry_price"),
        (lambda: bankruptcy_price(1, 1.5, 1, 1), "entry_price"),
        (lambda: bankruptcy_price(1, 100, 1, 0), "atoms_per_tick_per_lot"),
        (lambda: liquidation_price(1, 100, 1, 1, PPM), "maintenance_ppm"),
        (lambda: liquidation_price(1, 100, 1, 1, 10, 0.5), "maintenance_amount"),
        (lambda: liquidation_price(1, 100, 1, 1, 10, other_maintenance=-1), "other_maintenance"),
        (lambda: bankruptcy_quote(1, 1, 1, 1), "delta_maintenance"),
        (lambda: bankruptcy_quote(1, -1, 1, 0), "total_maintenance"),
        (lambda: adjusted_bankruptcy_rating(1, 1, PPM - 1), "bankruptcy_adjustment_ppm"),
        (
            lambda: fillable_price(1, 100, 100, 0, 100, 1, spread_to_maintenance_ppm=PPM),
            "spread_to_maintenance_ppm",
        ),
        (lambda: liquidation_fee(PPM + 1, 1, 1), "rate_ppm"),
        (lambda: liquidation_fee(1, -1, 1), "notional"),
        (lambda: settle_liquidation_fill(1, 0, -1), "fee_ppm"),
        (lambda: adl_score(10, 10, 10), "bankrupt_value"),
        (lambda: adl_score(10, 0, 5), "entry_value"),
        (lambda: adl_queue([("a", 1.5)]), "scores"),
        (lambda: adl_queue([("a", 1), ("a", 2)]), "scores"),
        (lambda: adl_fills([("a", -1)], 1), "queue lots"),
        (lambda: adl_percentiles([0]), "sizes"),
        (lambda: pro_rata(-1, [1]), "amount"),
        (lambda: pro_rata(1, [1, -1]), "weights"),
        (lambda: pro_rata(1, [0]), "weights"),
        (lambda: pro_rata(1, "12"), "weights"),
        (lambda: backstop_due(1, 1, Fraction(3, 2)), "fraction"),
        (lambda: backstop_due(1, -1), "maintenance"),
        (lambda: book_liquidation_lots(1, 1, 1, fraction=Fraction(0)), "fraction"),
        (lambda: restore_size(1, 0, 1, 1, 1, 1, 1), "mark"),
        (lambda: restore_size(1, 1, 1, 1, 1, 1, PPM + 1), "fee_ppm"),
        (lambda: restore_size(True, 1, 1, 1, 1, 1, 1), "size"),
    ],
)
def test_validation(call, field: str) -> None:
    with pytest.raises(UnitError) as info:
        call()
    assert info.value.field == field


def test_module_docstring_examples_run() -> None:
    result = doctest.testmod(formulas)
    assert result.failed == 0
    assert result.attempted >= 25
