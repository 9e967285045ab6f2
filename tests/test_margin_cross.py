"""Cross margin of one account: collateral with haircuts, equity, tiered requirements.

Hand-checked numbers (USDC has 6 decimals, so 1 USDC = 1,000,000 atoms):

alice deposited 10,000 USDC and 0.5 BTC, bought 2 BTC-PERP at 30,000 and sold 10 ETH-PERP at
2,000, so under cash-flow accounting her USDC balance is 10,000 - 60,000 + 20,000 = -30,000.
At marks BTC 31,000 and ETH 1,900, and a BTC index of 31,000 with a 10% haircut:

- BTC collateral: 0.5 x 31,000 x 0.9                 = 13,950 USDC
- BTC-PERP value: +2 x 31,000                        = 62,000 USDC
- ETH-PERP value: -10 x 1,900                        = -19,000 USDC
- equity: -30,000 + 13,950 + 62,000 - 19,000         = 26,950 USDC
- BTC-PERP brackets: band 1 (notional >= 50,000): maintenance 0.5% - 50 = 260, initial 2% - 500 = 740
  (deductions: 50,000 x (0.5% - 0.4%) = 50 and 50,000 x (2% - 1%) = 500, continuity at 50,000)
- ETH-PERP: one band, 0.5% / 1% of 19,000             = 95 / 190
- maintenance 355, initial 930, free collateral 26,020 USDC.

Behaviours verified: the numbers above; rounding of collateral (down) and of a borrowed asset's
liability (up); an asset with no collateral rule counts for nothing; flat positions count for
nothing; requirements round up; the health flag at the maintenance boundary.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.accounts import Account, Position
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule, collateral_value
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.units import Asset, UnitError

USDC, BTC, ETH = Asset("USDC", 6), Asset("BTC", 8), Asset("ETH", 18)
ASSETS = {a.symbol: a for a in (USDC, BTC, ETH)}
M = 1_000_000  # atoms per USDC

BTC_PERP = Instrument.create(
    "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
)  # 500 atoms per tick per lot
ETH_PERP = Instrument.create(
    "ETH-PERP", kind="perpetual", underlying="ETH", settlement=USDC, tick_size="0.01", lot_size="0.01"
)  # 100 atoms per tick per lot
INSTRUMENTS = {i.symbol: i for i in (BTC_PERP, ETH_PERP)}
SCHEDULES = {
    "BTC-PERP": BracketSchedule.create(
        [Bracket(0, 4_000, 10_000), Bracket(50_000 * M, 5_000, 20_000), Bracket(250_000 * M, 10_000, 40_000)]
    ),
    "ETH-PERP": BracketSchedule.create([Bracket(0, 5_000, 10_000)]),
}
MARKS = {"BTC-PERP": 62_000, "ETH-PERP": 190_000}  # 31,000 and 1,900 USDC
RULES = {"BTC": CollateralRule("BTC", 100_000)}
PRICES = {"BTC": 31_000 * M, "ETH": 1_900 * M}


def alice() -> Account:
    account = Account("alice", 1)
    account.balances = {"USDC": -30_000 * M, "BTC": 50_000_000}
    account.positions = {
        "BTC-PERP": Position(2_000, 60_000 * M),
        "ETH-PERP": Position(-1_000, -20_000 * M),
    }
    return account


CROSS = CrossMargin("USDC", INSTRUMENTS, SCHEDULES, ASSETS, RULES)


def margin(account: Account):
    return CROSS.of(account, MARKS, PRICES)


def test_hand_checked_cross_margin() -> None:
    state = margin(alice())
    (btc_collateral,) = state.collateral
    assert btc_collateral.value == 13_950 * M
    btc, eth = state.positions
    assert (btc.value, btc.notional, btc.bracket) == (62_000 * M, 62_000 * M, 1)
    assert (btc.maintenance, btc.initial) == (260 * M, 740 * M)
    assert (eth.value, eth.notional, eth.bracket) == (-19_000 * M, 19_000 * M, 0)
    assert (eth.maintenance, eth.initial) == (95 * M, 190 * M)
    assert state.equity == 26_950 * M
    assert (state.maintenance, state.initial) == (355 * M, 930 * M)
    assert state.free_collateral == 26_020 * M
    assert state.healthy


def test_requirement_rounds_up() -> None:
    account = Account("x", 1, {"USDC": 0}, {"ETH-PERP": Position(1, 0)})
    marks = {"ETH-PERP": 190_001}  # notional 19,000,100 atoms; 0.5% = 95,000.5 -> 95,001
    state = CROSS.of(account, marks, PRICES)
    assert state.positions[0].maintenance == 95_001
    assert state.positions[0].initial == 190_001


def test_collateral_rounding_and_unruled_assets() -> None:
    # 1 satoshi at 31,000 USDC is 310 atoms; a 10% haircut leaves 279
    assert collateral_value(1, 8, 31_000 * M, 100_000) == 279
    # 1 satoshi owed is a liability of 310 atoms; 3 satoshis at 0.333 USDC round the debt up
    assert collateral_value(-1, 8, 31_000 * M, 100_000) == -310
    assert collateral_value(-3, 8, 333_333, 0) == -1
    assert collateral_value(3, 8, 333_333, 0) == 0
    # ETH has no collateral rule: a holding counts for nothing, a debt counts in full
    account = Account("x", 1, {"USDC": 1_000 * M, "ETH": 10**18}, {})
    assert margin(account).equity == 1_000 * M
    account.balances["ETH"] = -(10**18)
    assert margin(account).equity == (1_000 - 1_900) * M


def test_flat_positions_count_for_nothing_and_health_boundary() -> None:
    account = Account(
        "x", 1, {"USDC": 95 * M - 19_000 * M}, {"ETH-PERP": Position(1_000, 0), "BTC-PERP": Position()}
    )
    state = margin(account)  # equity 95 USDC = maintenance exactly: still healthy
    assert len(state.positions) == 1
    assert state.equity == state.maintenance == 95 * M and state.healthy
    account.balances["USDC"] -= 1
    assert not margin(account).healthy


@pytest.mark.parametrize("haircut", [-1, 1_000_001, 0.1, True])
def test_haircut_validated(haircut: object) -> None:
    with pytest.raises(UnitError) as info:
        CollateralRule("BTC", haircut)  # type: ignore[arg-type]
    assert info.value.field == "haircut_ppm"


@given(
    usdc=st.integers(-(10**12), 10**12),
    btc=st.integers(-(10**9), 10**9),
    eth=st.integers(-(10**19), 10**19),
    btc_size=st.integers(-(10**5), 10**5),
    eth_size=st.integers(-(10**5), 10**5),
    btc_mark=st.integers(1, 10**6),
    eth_mark=st.integers(1, 10**6),
)
def test_totals_fast_path_agrees_with_the_breakdown(
    usdc, btc, eth, btc_size, eth_size, btc_mark, eth_mark
) -> None:
    """The gate's ``totals`` and the explanation's ``state`` are the same numbers."""
    balances = {"USDC": usdc, "BTC": btc, "ETH": eth}
    sizes = {"BTC-PERP": btc_size, "ETH-PERP": eth_size}
    marks = {"BTC-PERP": btc_mark, "ETH-PERP": eth_mark}
    state = CROSS.state(balances, sizes, marks, PRICES)
    assert CROSS.totals(balances, sizes, marks, PRICES) == (state.equity, state.initial, state.maintenance)
