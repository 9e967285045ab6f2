"""The cheap bounds of portfolio margin against the exact requirement, and the scan's portfolio rows.

``RequirementBounds.initial_bounds`` must bracket ``PortfolioRules.initial`` (and ``quick_high``
bound it from above) for every portfolio (random exposures from tiny to 10**15 atoms, hedged
and not), and ``maintenance_upper`` must never be below the exact maintenance. The health scan
built with portfolio rules must flag every portfolio account that is below maintenance exactly,
whatever the marks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.instruments import Instrument
from exchange_sim.liquidation.scan import HealthScan
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.margin.portfolio_bounds import RequirementBounds
from exchange_sim.units import Asset

NAMES = ("BTC", "ETH", "SOL")
CORRELATION = [[1, "0.8", "0.5"], ["0.8", 1, "0.6"], ["0.5", "0.6", 1]]
COVARIANCE = [[0.64, 0.4, 0.3], [0.4, 0.81, 0.5], [0.3, 0.5, 1.21]]
RULES = {
    "separate": PortfolioRules(NAMES, "stress", grid=StressGrid(NAMES, (100_000, 150_000, 200_000))),
    "floored": PortfolioRules(
        NAMES, "stress", grid=StressGrid(NAMES, (100_000, 150_000, 200_000)), floor_ppm_of_gross=15_000
    ),
    "correlated": PortfolioRules(
        NAMES,
        "stress",
        grid=StressGrid(NAMES, (100_000, 150_000, 200_000), correlation=CORRELATION, joint_draws=16, seed=7),
    ),
    "var": PortfolioRules(NAMES, "var", covariance=COVARIANCE, maintenance_ppm_of_initial=800_000),
    "max": PortfolioRules(
        NAMES,
        "max",
        grid=StressGrid(
            NAMES, (100_000, 150_000, 200_000), correlation=CORRELATION, extreme_weight_ppm=600_000
        ),
        covariance=COVARIANCE,
        floor_ppm_of_gross=5_000,
    ),
}
WINDOW = tuple(
    tuple(float(x) for x in row) for row in np.random.default_rng(5).normal(0.0, 0.03, size=(60, 3)).tolist()
)
RULES["historical"] = PortfolioRules(
    NAMES,
    "var",
    covariance=COVARIANCE,
    var_model="historical",
    returns_window=WINDOW,
    floor_ppm_of_gross=2_000,
)
RULES["historical_max"] = PortfolioRules(
    NAMES,
    "max",
    grid=StressGrid(NAMES, (50_000, 50_000, 50_000)),
    covariance=COVARIANCE,
    var_model="historical",
    returns_window=WINDOW,
    confidence_ppm=950_000,
)
EXPOSURE = st.one_of(st.just(0), st.integers(-(10**15), 10**15), st.integers(-1_000, 1_000))


@pytest.mark.parametrize("name", sorted(RULES))
@given(e=st.lists(EXPOSURE, min_size=3, max_size=3), extra=st.integers(0, 10**14))
def test_the_bounds_bracket_the_exact_requirement(name: str, e: list[int], extra: int) -> None:
    rules = RULES[name]
    bounds = RequirementBounds(rules)
    gross = sum(abs(x) for x in e) + extra  # offsetting positions on one underlying add gross
    exact = rules.initial(e, gross_notional=gross)
    low, high = bounds.initial_bounds(e, gross)
    assert low <= exact <= high
    assert bounds.quick_high(e, gross) >= exact  # the per-fill shortcut's coarser bound
    if rules.var_model == "parametric":  # a few atoms apart: the exact value is rarely needed
        assert high - low <= 4 + high // 10**9
    # historical VaR has no tight float form here: (0, quick bound), then the exact value
    upper = bounds.maintenance_upper(np.array([e], dtype=np.float64), np.array([float(gross)]))[0]
    assert upper >= rules.maintenance_of(exact)


def test_without_a_correlation_the_stress_bound_is_exact() -> None:
    """10% of 30,000 on BTC plus 15% of 20,000 on ETH (short): 3,000 + 3,000 = 6,000 USDC."""
    bounds = RequirementBounds(RULES["separate"])
    assert bounds.stress_bounds([30_000_000_000, -20_000_000_000, 0]) == (6_000_000_000, 6_000_000_000)


USDC = Asset("USDC", 6)
INSTRUMENTS = {
    f"{u}-PERP": Instrument.create(
        f"{u}-PERP", kind="perpetual", underlying=u, settlement=USDC, tick_size="1", lot_size="0.001"
    )
    for u in NAMES
}
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(10**11, 100_000, 200_000)])
CROSS = CrossMargin("USDC", INSTRUMENTS, {s: SCHEDULE for s in INSTRUMENTS}, {"USDC": USDC}, {})


@pytest.mark.parametrize("name", sorted(RULES))
@given(
    accounts=st.lists(
        st.tuples(
            st.integers(-(10**12), 10**12),
            st.lists(st.integers(-5_000, 5_000), min_size=3, max_size=3),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    marks=st.lists(st.integers(1, 100_000), min_size=3, max_size=3),
)
def test_the_scan_flags_every_portfolio_account_below_maintenance(
    name: str, accounts: list[tuple[int, list[int], bool]], marks: list[int]
) -> None:
    portfolio = PortfolioMargin(CROSS, RULES[name])
    scan = HealthScan(CROSS, portfolio=portfolio)
    mark_of = dict(zip(INSTRUMENTS, marks, strict=True))
    below = set()
    for n, (balance, lots, in_portfolio) in enumerate(accounts):
        sizes = dict(zip(INSTRUMENTS, lots, strict=True))
        scan.update(f"a{n}", {"USDC": balance}, sizes, in_portfolio)
        model = portfolio if in_portfolio else CROSS
        equity, _, maintenance = model.totals({"USDC": balance}, sizes, mark_of, {})
        if equity < maintenance:
            below.add(f"a{n}")
    assert below <= set(scan.candidates(mark_of, {}))


def test_a_portfolio_row_is_flagged_by_its_portfolio_requirement_not_its_brackets() -> None:
    """A hedged pair on one underlying in two instruments is not possible here (one perpetual per
    underlying), so: long BTC and short ETH with 10% and 15% scans, no correlation. 1 BTC at
    30,000 and -10 ETH at 2,000: maintenance 0.5 x (3,000 + 3,000) = 3,000 USDC; brackets would
    charge 5% x 30,000 + 5% x 20,000 = 2,500. A balance of -7,200 USDC makes equity -7,200 +
    30,000 - 20,000 = 2,800: below the first and above the second."""
    portfolio = PortfolioMargin(CROSS, RULES["separate"])
    scan = HealthScan(CROSS, portfolio=portfolio)
    sizes = {"BTC-PERP": 1_000, "ETH-PERP": -10_000}
    marks = {"BTC-PERP": 30_000, "ETH-PERP": 2_000, "SOL-PERP": 100}
    scan.update("cross", {"USDC": -7_200_000_000}, sizes)
    scan.update("portfolio", {"USDC": -7_200_000_000}, sizes, portfolio=True)
    assert scan.candidates(marks, {}) == ["portfolio"]
    assert portfolio.totals({"USDC": -7_200_000_000}, sizes, marks, {}) == (
        2_800_000_000,
        6_000_000_000,
        3_000_000_000,
    )
    scan.update("portfolio", {"USDC": -7_200_000_000}, sizes, portfolio=False)  # back to brackets
    assert scan.candidates(marks, {}) == []
    with pytest.raises(ValueError, match="portfolio rules"):
        HealthScan(CROSS).update("p", {}, {}, portfolio=True)
