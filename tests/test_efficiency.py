"""Capital efficiency (``exchange_sim/margin/efficiency.py``): the same positions under isolated,
cross and portfolio margin, every number checked by hand.

Market: USDC (6 decimals); BTC-PERP (perpetual) and BTC-FUT (dated future) on BTC, tick 1 USDC,
lot 0.001 BTC: 1 USDC x 0.001 = 0.001 USDC = 1,000 atoms per tick per lot; 1 BTC = 1,000 lots.
Both have the same two brackets:

    band 0 from 0:          maintenance 5%,  initial 10%
    band 1 from 20,000 USDC: maintenance 10%, initial 20%
    deductions of band 1 (docs/margin.md): maintenance 20,000 x (10% - 5%) = 1,000 USDC,
                                            initial     20,000 x (20% - 10%) = 2,000 USDC

Portfolio rules: a stress grid on BTC of +-10% in 3 steps, extremes of 2 scans (20%) at 35%, a
floor of 1% of gross notional, maintenance 50% of initial (``docs/portfolio-margin.md``).

Behaviours verified:
- a hedged pair (long 1 BTC-PERP at 30,000, short 1 BTC-FUT at 30,300): cross = isolated = the
  sum of two bracket requirements, the portfolio charges the floor, the saving in atoms and percent;
- a single long: isolated == cross, the stress grid's -10% sets the portfolio requirement; with
  3-scan extremes the extreme move sets it instead;
- open-interest caps raise a position's initial requirement, in isolated and cross alike;
- a venue without portfolio rules: portfolio ``None``, no saving;
- :func:`compare_account` on a venue: a portfolio account, an isolated account (positions in its
  sub-accounts) and a flat account.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.efficiency import (
    PositionRequirement,
    Requirement,
    StressMove,
    compare_account,
    compare_modes,
)
from exchange_sim.margin.open_interest import OpenInterestCaps
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
U = 1_000_000  # atoms per USDC
P, F = "BTC-PERP", "BTC-FUT"
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(20_000 * U, 100_000, 200_000)])
RULES = PortfolioRules(("BTC",), "stress", grid=StressGrid(("BTC",), (100_000,)), floor_ppm_of_gross=10_000)


def contract(symbol: str, kind: str) -> Instrument:
    extra = {"expiry_us": 86_400_000_000} if kind == "future" else {}
    return Instrument.create(
        symbol, kind=kind, underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001", **extra
    )


INSTRUMENTS = {P: contract(P, "perpetual"), F: contract(F, "future")}


def cross_margin(**extra: object) -> CrossMargin:
    return CrossMargin("USDC", INSTRUMENTS, {P: SCHEDULE, F: SCHEDULE}, {"USDC": USDC}, {}, **extra)  # type: ignore[arg-type]


def test_a_hedged_pair_pays_twice_in_cross_and_the_floor_in_portfolio() -> None:
    cross = cross_margin()
    c = compare_modes(cross, PortfolioMargin(cross, RULES), {P: 1_000, F: -1_000}, {P: 30_000, F: 30_300})
    # PERP: 1,000 lots x 30,000 ticks x 1,000 atoms = 30,000 USDC, band 1:
    #   maintenance 10% x 30,000 - 1,000 = 2,000; initial 20% x 30,000 - 2,000 = 4,000
    # FUT: 30,300 USDC, band 1: maintenance 3,030 - 1,000 = 2,030; initial 6,060 - 2,000 = 4,060
    assert c.positions == (
        PositionRequirement(P, 1_000, 30_000, 30_000 * U, 4_000 * U, 2_000 * U),
        PositionRequirement(F, -1_000, 30_300, 30_300 * U, 4_060 * U, 2_030 * U),
    )
    # isolated: each position funded on its own, 4,000 + 4,060 = 8,060 and 2,000 + 2,030 = 4,030;
    # cross pools the collateral but sums the same bracket requirements
    assert c.isolated == Requirement(8_060 * U, 4_030 * U)
    assert c.cross == Requirement(8_060 * U, 4_030 * U)
    # portfolio: exposure to BTC 30,000 - 30,300 = -300 USDC (net short), gross 60,300 USDC.
    # worst loss: +10% loses 30; the extreme +20% counts 35% x 60 = 21: the stress part is 30.
    # floor: 1% x 60,300 = 603 > 30: initial 603, maintenance 50% = 301.5
    p = c.portfolio
    assert p is not None
    assert (p.initial, p.maintenance) == (603 * U, 301_500_000)
    assert p.exposures == (("BTC", -300 * U),)
    assert (p.gross_notional, p.floor, p.stress, p.var) == (60_300 * U, 603 * U, 30 * U, None)
    assert p.driver == "floor"
    assert p.worst == (StressMove("BTC", -300 * U, 100_000, 1_000_000, Fraction(30 * U)),)
    # saving: 8,060 - 603 = 7,457 USDC of initial, 745,700 / 8,060 = 92.5186...%;
    # 4,030 - 301.5 = 3,728.5 of maintenance, the same fraction (maintenance is half of each)
    assert c.saving_initial == 7_457 * U
    assert c.saving_initial_percent == Fraction(745_700, 8_060) == Fraction(37_285, 403)
    assert c.saving_maintenance == 3_728_500_000
    assert c.saving_maintenance_percent == Fraction(37_285, 403)
    data = c.as_dict()
    assert data["isolated"] == data["cross"] == {"initial": 8_060 * U, "maintenance": 4_030 * U}
    assert data["portfolio"]["initial"] == 603 * U and data["portfolio"]["driver"] == "floor"
    assert data["saving"]["initial_percent"] == [37_285, 403]


def test_a_single_position_costs_the_same_isolated_and_cross() -> None:
    cross = cross_margin()
    c = compare_modes(cross, PortfolioMargin(cross, RULES), {P: 1_000, F: 0}, {P: 30_000})
    # only the PERP counts (a zero size is no position): 4,000 initial, 2,000 maintenance
    assert [q.instrument for q in c.positions] == [P]
    assert c.isolated == c.cross == Requirement(4_000 * U, 2_000 * U)
    # portfolio: exposure +30,000: -10% loses 3,000 (the extreme -20% at 35%: 2,100);
    # floor 1% x 30,000 = 300: the stress grid sets 3,000, maintenance 1,500
    p = c.portfolio
    assert p is not None and (p.initial, p.maintenance) == (3_000 * U, 1_500 * U)
    assert (p.stress, p.floor, p.driver) == (3_000 * U, 300 * U, "stress")
    assert p.worst == (StressMove("BTC", 30_000 * U, -100_000, 1_000_000, Fraction(3_000 * U)),)
    # saving 1,000 of 4,000 (25%) and 500 of 2,000 (25%)
    assert (c.saving_initial, c.saving_initial_percent) == (1_000 * U, 25)
    assert (c.saving_maintenance, c.saving_maintenance_percent) == (500 * U, 25)


def test_an_extreme_move_can_set_the_portfolio_requirement() -> None:
    grid = StressGrid(("BTC",), (100_000,), extreme_multiple=3)
    rules = PortfolioRules(("BTC",), "stress", grid=grid)
    cross = cross_margin()
    c = compare_modes(cross, PortfolioMargin(cross, rules), {P: -1_000}, {P: 30_000})
    # short 30,000: +10% loses 3,000; the extreme +30% loses 9,000, of which 35% counts: 3,150
    p = c.portfolio
    assert p is not None and (p.initial, p.maintenance) == (3_150 * U, 1_575 * U)
    assert p.worst == (StressMove("BTC", -30_000 * U, 300_000, 350_000, Fraction(3_150 * U)),)
    assert (p.driver, p.floor) == ("stress", 0)


def test_open_interest_caps_raise_initial_in_isolated_and_cross_alike() -> None:
    caps = OpenInterestCaps(lower=40_000 * U, upper=80_000 * U)
    cross = cross_margin(open_interest={P: 2_000}, oi_caps={P: caps})
    c = compare_modes(cross, None, {P: 1_000}, {P: 30_000})
    # open interest 2 BTC x 30,000 = 60,000 USDC, halfway between the caps: f = 1/2;
    # initial 4,000 + ceil((30,000 - 4,000) x 1/2) = 17,000; maintenance unchanged, 2,000
    assert c.positions[0].initial == 17_000 * U and c.positions[0].maintenance == 2_000 * U
    assert c.isolated == c.cross == Requirement(17_000 * U, 2_000 * U)


def test_without_portfolio_rules_there_is_no_portfolio_column() -> None:
    c = compare_modes(cross_margin(), None, {P: 1_000, F: -1_000}, {P: 30_000, F: 30_300})
    assert c.portfolio is None
    assert c.cross == Requirement(8_060 * U, 4_030 * U)
    assert c.saving_initial is None and c.saving_initial_percent is None
    assert c.as_dict()["portfolio"] is None and c.as_dict()["saving"] is None


def test_flat_positions_need_nothing() -> None:
    cross = cross_margin()
    c = compare_modes(cross, PortfolioMargin(cross, RULES), {}, {})
    assert c.positions == () and c.isolated == c.cross == Requirement(0, 0)
    assert c.portfolio is not None and (c.portfolio.initial, c.portfolio.driver) == (0, None)
    assert c.saving_initial == 0 and c.saving_initial_percent is None


def portfolio_venue() -> Venue:
    """``pm`` (portfolio), ``iso`` (isolated) and ``mm`` (cross) each take the hedged pair's
    legs at 30,000 from ``mm``; marks 30,000 and 30,300."""
    margin = MarginConfig("USDC", ((P, SCHEDULE), (F, SCHEDULE)), portfolio=RULES)
    v = Venue(VenueConfig((USDC,), tuple(INSTRUMENTS.values()), margin=margin))
    for name, mode, cash in (
        ("mm", "cross", "1000000"),
        ("pm", "portfolio", "10000"),
        ("iso", "isolated", "10000"),
    ):
        assert v.open_account(0, name, mode).ok
        v.deposit(0, name, "USDC", cash)
    v.open_account(0, "idle")
    v.set_mark_price(0, P, 30_000)
    v.set_mark_price(0, F, 30_300)
    for name in ("pm", "iso"):
        assert v.submit(1, "mm", P, Side.SELL, 1_000, 30_000).resting
        assert v.submit(1, name, P, Side.BUY, 1_000, 30_000, tif=TimeInForce.IOC).fills
        assert v.submit(1, "mm", F, Side.BUY, 1_000, 30_000).resting
        assert v.submit(1, name, F, Side.SELL, 1_000, 30_000, tif=TimeInForce.IOC).fills
    return v


def test_compare_account_reads_the_venue() -> None:
    v = portfolio_venue()
    pm, iso = compare_account(v, "pm"), compare_account(v, "iso")
    # the same positions at the same marks: the same numbers as the hand-checked hedged pair
    assert pm == iso
    assert pm.cross == Requirement(8_060 * U, 4_030 * U)
    assert pm.portfolio is not None and pm.portfolio.initial == 603 * U
    # the portfolio account is charged the portfolio requirement by the venue's own model
    assert v.gate.portfolio.totals(v.account("pm").balances, {P: 1_000, F: -1_000}, v.marks, {})[1] == 603 * U  # type: ignore[attr-defined]
    # mm holds the opposite legs twice: short 2 BTC-PERP (60,000 USDC), long 2 BTC-FUT (60,600)
    mm = compare_account(v, "mm")
    assert [(q.instrument, q.size) for q in mm.positions] == [(P, -2_000), (F, 2_000)]
    flat = compare_account(v, "idle")
    assert flat.positions == () and flat.cross == Requirement(0, 0)
    with pytest.raises(KeyError):
        compare_account(v, "nobody")


def test_compare_account_needs_margin_rules() -> None:
    v = Venue(VenueConfig((USDC,), tuple(INSTRUMENTS.values())))
    v.open_account(0, "a")
    with pytest.raises(ValueError, match="no margin rules"):
        compare_account(v, "a")
