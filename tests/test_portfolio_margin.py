"""Portfolio margin (exchange_sim.margin.portfolio): stress grid, VaR, rules.

Behaviours verified:
- the hand-checked stress grid of docs/portfolio-margin.md: long 1 BTC perpetual at 30,000 USDC
  needs 3,000 USDC (a 10% fall), the short future alone 3,000, the hedged pair only the 1% floor
  on gross notional (600 USDC); the grid's moves and weights; an extreme move (3 ranges at 35%)
  that outweighs the scan; without a correlation two underlyings add up;
- parametric VaR of one position equals the closed form z x sigma x sqrt(h) x |E| with the z the
  code uses (2.3263478740408425, 4 ulps above the float quantile, above the true
  2.3263478740408411...), rounded up; two positions follow sqrt(e' Sigma e);
- correlation: two longs need more as correlation rises (-0.5, 0, 0.9), a long/short pair less,
  in the stress grid and in VaR;
- the floor on gross notional holds; determinism (same grid, same moves and requirements; another
  seed, other moves); the batch form equals the per-account form, also for exposures above 2**63;
- conservative rounding: the int is at least the float64 worst loss and less than one atom above
  the exact value; exact ppm moves (10% is not the float 0.1);
- EWMA covariance equals the RiskMetrics recursion; historical VaR picks the (k + 1)-th worst;
- PortfolioRules: maintenance as a fraction of initial, "max" of both methods, validation;
- every validation rule raises UnitError with its field; the module's docstring examples run.
"""

from __future__ import annotations

import doctest
import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

import exchange_sim.margin.portfolio as portfolio
from exchange_sim.instruments import Instrument
from exchange_sim.margin.portfolio import (
    PortfolioRules,
    StressGrid,
    delta_exposures,
    ewma_covariance,
    historical_var,
    normal_quantile,
    parametric_var,
    portfolio_loss,
    stress_requirement,
    stress_requirements,
    worst_loss,
)
from exchange_sim.prices import US_PER_YEAR
from exchange_sim.units import Asset, UnitError

USDC = Asset("USDC", 6)
M = 1_000_000  # atoms per USDC
BTC_PERP = Instrument.create(
    "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
)  # 500 atoms per tick per lot
BTC_FUT = Instrument.create(
    "BTC-FUT",
    kind="future",
    underlying="BTC",
    settlement=USDC,
    tick_size="0.5",
    lot_size="0.001",
    expiry_us=10**12,
)
INSTRUMENTS = {i.symbol: i for i in (BTC_PERP, BTC_FUT)}
MARKS = {"BTC-PERP": 60_000, "BTC-FUT": 60_000}  # 30,000 USDC
ONE_BTC = 30_000 * M  # 1,000 lots x 60,000 ticks x 500 atoms

# SPAN-like: scan 10% in 3 steps each side, extreme 2 ranges (20%) at 35%
GRID = StressGrid(("BTC",), (100_000,))
DAY = 86_400_000_000
Z99 = Decimal("2.32634787404084110089")  # the true 99% normal quantile (tables)


def _dec(x: float | Fraction) -> Decimal:
    f = Fraction(x)
    return Decimal(f.numerator) / Decimal(f.denominator)


# the hand-checked stress grid -----------------------------------------------------------------


def test_grid_moves_and_weights() -> None:
    # k/3 of 10%: -10%, -6.67%, -3.33%, +3.33%, +6.67%, +10%, then -20% and +20% at 35%
    moves = GRID.scenarios().ravel().tolist()
    assert moves == pytest.approx([-0.1, -0.2 / 3, -0.1 / 3, 0.1 / 3, 0.2 / 3, 0.1, -0.2, 0.2])
    assert GRID.weights_ppm.tolist() == [M] * 6 + [350_000] * 2
    assert GRID.units.tolist() == [0] * 8


def test_hedged_pair_needs_less_than_the_legs() -> None:
    long_perp = delta_exposures({"BTC-PERP": 1_000}, MARKS, INSTRUMENTS)
    short_fut = delta_exposures({"BTC-FUT": -1_000}, MARKS, INSTRUMENTS)
    pair = delta_exposures({"BTC-PERP": 1_000, "BTC-FUT": -1_000}, MARKS, INSTRUMENTS)
    assert long_perp == {"BTC": ONE_BTC} and short_fut == {"BTC": -ONE_BTC} and pair == {"BTC": 0}
    # long alone: losses 3,000 / 2,000 / 1,000 on the falls, 35% x 6,000 = 2,100 on the extreme fall
    assert stress_requirement(long_perp, GRID, 10_000) == 3_000 * M
    # short alone: the same on the rises
    assert stress_requirement(short_fut, GRID, 10_000) == 3_000 * M
    # the pair: no loss in any scenario; the floor, 1% of gross 60,000 = 600 USDC
    gross = 2 * ONE_BTC
    assert stress_requirement(pair, GRID, 10_000, gross_notional=gross) == 600 * M
    assert 600 * M < 3_000 * M + 3_000 * M
    assert stress_requirement(pair, GRID, 0, gross_notional=gross) == 0


def test_extreme_move_at_35_percent_can_dominate() -> None:
    # 3 ranges = 30% fall, 35% of 9,000 = 3,150 > 3,000 (the scan)
    grid = StressGrid(("BTC",), (100_000,), extreme_multiple=3)
    assert stress_requirement({"BTC": ONE_BTC}, grid) == 3_150 * M
    # without extremes: the scan alone
    assert (
        stress_requirement({"BTC": ONE_BTC}, StressGrid(("BTC",), (100_000,), extreme_weight_ppm=0))
        == 3_000 * M
    )


def test_without_correlation_underlyings_add_up() -> None:
    grid = StressGrid(("BTC", "ETH"), (100_000, 150_000))
    # BTC 30,000 long: 3,000; ETH 20,000 short: 15% rise = 3,000; no offset between them
    assert stress_requirement({"BTC": ONE_BTC, "ETH": -20_000 * M}, grid) == 6_000 * M
    assert stress_requirement([ONE_BTC, 20_000 * M], grid) == 6_000 * M


def test_exact_ppm_moves_not_floats() -> None:
    # the float 0.1 is 0.1000000000000000055...: 10% of 30,000 USDC must still be 3,000 exactly
    assert Fraction(0.1) > Fraction(1, 10)
    assert stress_requirement({"BTC": ONE_BTC}, GRID) == 3_000 * M
    # a third of 10% of 30,000,000,001 atoms: 1,000,000,000.0333... -> rounded up
    grid = StressGrid(("BTC",), (100_000,), steps=3, extreme_weight_ppm=0)
    assert stress_requirement({"BTC": -(ONE_BTC + 1)}, grid) == 3_000 * M + 1


# parametric VaR ---------------------------------------------------------------------------------


def test_z_is_rounded_up() -> None:
    z = normal_quantile(990_000)
    assert z == 2.3263478740408425
    assert _dec(z) > Z99  # never below the true quantile
    assert _dec(z) - Z99 < Decimal("1e-14")
    assert normal_quantile(950_000) > 1.6448536269514722  # the float 95% quantile


def test_parametric_var_one_position_is_the_closed_form() -> None:
    # 30,000 USDC long, 80% a year, 1 day, 99%: z x 0.8 x sqrt(1/365) x 30,000 = 2,922.3987... USDC
    var = parametric_var([ONE_BTC], [[0.64]], 990_000, DAY)
    assert var == 2_922_398_711
    getcontext().prec = 60
    z = _dec(normal_quantile(990_000))
    exact = z * (_dec(0.64) * Decimal(ONE_BTC) ** 2 * Decimal(DAY) / Decimal(US_PER_YEAR)).sqrt()
    assert var == math.ceil(exact)
    closed = Z99 * Decimal("0.8") * (Decimal(1) / Decimal(365)).sqrt() * Decimal(ONE_BTC)
    assert Decimal(var) >= closed and Decimal(var) - closed < 1
    # a short position has the same VaR; no exposure, none
    assert parametric_var([-ONE_BTC], [[0.64]], 990_000, DAY) == var
    assert parametric_var([0], [[0.64]]) == 0


def test_parametric_var_two_positions() -> None:
    sig = np.array([0.8, 0.6])
    rho = 0.5
    cov = np.outer(sig, sig) * np.array([[1, rho], [rho, 1]])
    e = [ONE_BTC, -10_000 * M]
    var = parametric_var(e, cov, 990_000, DAY)
    float_var = normal_quantile(990_000) * math.sqrt(np.array(e, float) @ cov @ np.array(e, float) / 365)
    assert float_var <= var < float_var + 2


def test_var_rises_with_correlation_for_two_longs_and_falls_for_a_pair() -> None:
    longs, pair = [ONE_BTC, ONE_BTC], [ONE_BTC, -ONE_BTC]
    results = []
    for rho in (-0.5, 0.0, 0.9):
        cov = 0.64 * np.array([[1, rho], [rho, 1]])
        results.append((parametric_var(longs, cov), parametric_var(pair, cov)))
    assert results[0][0] < results[1][0] < results[2][0]
    assert results[0][1] > results[1][1] > results[2][1]


# correlation in the stress grid -------------------------------------------------------------------


def _corr_grid(rho: str, seed: int = 7) -> StressGrid:
    return StressGrid(
        ("BTC", "ETH"), (100_000, 100_000), correlation=((1, rho), (rho, 1)), joint_draws=2_000, seed=seed
    )


def test_stress_correlation_offsets() -> None:
    longs = {"BTC": ONE_BTC, "ETH": ONE_BTC}
    pair = {"BTC": ONE_BTC, "ETH": -ONE_BTC}
    r_longs = [stress_requirement(longs, _corr_grid(rho)) for rho in ("-0.5", "0", "0.9")]
    r_pair = [stress_requirement(pair, _corr_grid(rho)) for rho in ("-0.5", "0", "0.9")]
    assert r_longs[0] < r_longs[1] < r_longs[2]
    assert r_pair[0] > r_pair[1] > r_pair[2]
    # the ellipsoid's worst is 3,000 x sqrt(2 + 2 rho) for the longs, 3,000 x sqrt(2 - 2 rho) for the
    # pair; the grid samples it (never above by more than the single-move floor and float error)
    for rho, got_longs, got_pair in zip((-0.5, 0.0, 0.9), r_longs, r_pair, strict=True):
        ellipse_longs = 3_000 * M * math.sqrt(2 + 2 * rho)
        ellipse_pair = 3_000 * M * math.sqrt(2 - 2 * rho)
        # never below a single underlying's own full move (3,000)
        assert got_longs >= 3_000 * M and got_pair >= 3_000 * M
        assert got_longs <= max(ellipse_longs, 3_000 * M) + 2
        assert got_longs >= 0.999 * max(ellipse_longs, 3_000 * M)
        assert got_pair <= max(ellipse_pair, 3_000 * M) + 2
        assert got_pair >= 0.999 * max(ellipse_pair, 3_000 * M)
    # with correlation 0.9 the pair's joint losses are below its single moves: exactly 3,000
    assert r_pair[2] == 3_000 * M
    # without a correlation the two legs add up: more than any correlated grid
    assert stress_requirement(longs, StressGrid(("BTC", "ETH"), (100_000, 100_000))) == 6_000 * M


def test_principal_axes_are_on_the_ellipsoid() -> None:
    grid = StressGrid(("BTC", "ETH"), (100_000, 200_000), correlation=(("1", "0.3"), ("0.3", "1")))
    cov = np.array([[0.01, 0.3 * 0.1 * 0.2], [0.3 * 0.1 * 0.2, 0.04]])
    joint = grid.scenarios()[grid.units == -1]
    assert len(joint) == 2 * 6  # two axes, laddered +-1..3 / 3
    for m in joint[::6]:  # k = -3: the full move, reversed
        assert m @ np.linalg.solve(cov, m) == pytest.approx(1.0)


# floor, determinism, batch, rounding ---------------------------------------------------------------


def test_floor_holds() -> None:
    # 1 atom of exposure: the scan loses 0.1 atom -> 1; a 5% floor of gross 1,000,000 atoms wins
    assert stress_requirement({"BTC": 1}, GRID, 50_000) == 1
    assert stress_requirement({"BTC": 1}, GRID, 50_000, gross_notional=1_000_000) == 50_000
    rng = np.random.default_rng(3)
    grid = _corr_grid("0.4")
    for _ in range(50):
        e = [int(x) for x in rng.integers(-(10**12), 10**12, size=2)]
        floor = int(rng.integers(0, 200_000))
        gross = sum(abs(x) for x in e)
        assert stress_requirement(e, grid, floor) >= -(-gross * floor // M)


def test_determinism() -> None:
    a, b = _corr_grid("0.4", seed=11), _corr_grid("0.4", seed=11)
    assert np.array_equal(a.scenarios(), b.scenarios())
    assert a == b
    e = {"BTC": 12_345_678_901, "ETH": -9_876_543_210}
    assert stress_requirement(e, a, 1_000) == stress_requirement(e, b, 1_000)
    assert not np.array_equal(a.scenarios(), _corr_grid("0.4", seed=12).scenarios())


def test_batch_equals_per_account() -> None:
    rng = np.random.default_rng(5)
    grid = _corr_grid("0.3")
    accounts: list[list[int]] = [
        [int(x) for x in row] for row in rng.integers(-(10**13), 10**13, size=(40, 2))
    ]
    accounts += [[0, 0], [2**70, -(2**66)], [-(2**64) - 1, 3]]  # beyond int64: exact Python ints
    batch = stress_requirements(accounts, grid, 5_000)
    assert batch == [stress_requirement(e, grid, 5_000) for e in accounts]
    plain = StressGrid(("BTC", "ETH"), (100_000, 150_000))
    assert stress_requirements(accounts, plain) == [stress_requirement(e, plain) for e in accounts]
    # the float batch of losses is the per-account one, row by row
    losses = portfolio_loss(np.array(accounts[:40], dtype=float), grid.scenarios())
    assert losses.shape == (40, len(grid.scenarios()))
    assert np.allclose(losses[7], portfolio_loss(accounts[7], grid.scenarios()))
    worst = worst_loss(np.array(accounts[:40], dtype=float), grid.scenarios(), grid.weights_ppm)
    assert worst[7] == worst_loss(accounts[7], grid.scenarios(), grid.weights_ppm)


def test_conservative_rounding() -> None:
    rng = np.random.default_rng(9)
    grid = _corr_grid("0.6")
    for _ in range(100):
        e = [int(x) for x in rng.integers(-(10**12), 10**12, size=2)]
        req = stress_requirement(e, grid)
        screen = worst_loss(e, grid.scenarios(), grid.weights_ppm)
        assert req >= screen
        assert req - screen < 1 + 1e-6 * max(screen, 1)
    # the exact worst of a single long: a 10% fall of 123 atoms = 12.3 -> 13
    assert stress_requirement({"BTC": 123}, GRID) == 13


def test_scenarios_select_columns() -> None:
    grid = _corr_grid("0.2")
    both = grid.scenarios()
    assert np.array_equal(grid.scenarios(["ETH", "BTC"]), both[:, ::-1])
    with pytest.raises(UnitError) as err:
        grid.scenarios(["SOL"])
    assert err.value.field == "underlyings"


# EWMA and historical VaR ----------------------------------------------------------------------------


def test_ewma_covariance_is_the_riskmetrics_recursion() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, size=(300, 2))
    lam = 0.94
    # the recursion from the first outer product, then the same with normalised weights
    weights = lam ** np.arange(299, -1, -1) * (1 - lam) / (1 - lam**300)
    expected = sum(w * np.outer(x, x) for w, x in zip(weights, r, strict=True))
    got = ewma_covariance(r, lam)
    assert np.allclose(got, expected, rtol=1e-12)
    assert np.array_equal(got, got.T)
    # for long windows the start's weight vanishes: the plain recursion agrees
    sigma = np.outer(r[0], r[0])
    for x in r[1:]:
        sigma = lam * sigma + (1 - lam) * np.outer(x, x)
    assert np.allclose(got, sigma, rtol=1e-6)
    # per year from daily steps
    assert np.allclose(ewma_covariance(r, lam, step_us=DAY), got * 365)
    # a constant 1% daily move gives 1e-4 daily variance
    assert ewma_covariance(np.full((50, 1), 0.01))[0, 0] == pytest.approx(1e-4)


def test_historical_var() -> None:
    # 100 days of falls of i/1024 (i = 1..100): a long of 1,024,000 atoms loses 1,000 x i
    moves = -np.arange(1, 101, dtype=float) / 1024  # binary fractions: exact floats
    e = [1_024_000]
    # 99% over 100 days: k = 1 loss allowed above: the 2nd worst = 99/1024 x 1,024,000 = 99,000
    assert historical_var(e, moves[:, None], 990_000) == 99_000
    # 95%: k = 5: the 6th worst = 95,000
    assert historical_var(e, moves[:, None], 950_000) == 95_000
    # a short gains on every fall: 0
    assert historical_var([-1_024_000], moves[:, None], 990_000) == 0


# rules and validation ---------------------------------------------------------------------------------


def test_rules_maintenance_and_methods() -> None:
    cov = [[0.64]]
    stress = PortfolioRules(("BTC",), "stress", grid=GRID, maintenance_ppm_of_initial=500_000)
    assert stress.requirements({"BTC": ONE_BTC}) == (3_000 * M, 1_500 * M)
    var = PortfolioRules(("BTC",), "var", covariance=cov)
    assert var.initial([ONE_BTC]) == 2_922_398_711
    assert var.maintenance_of(2_922_398_711) == 1_461_199_356  # half, rounded up
    both = PortfolioRules(("BTC",), "max", grid=GRID, covariance=cov, floor_ppm_of_gross=200_000)
    assert both.initial([ONE_BTC]) == 6_000 * M  # the 20% floor beats 3,000 and 2,922
    assert PortfolioRules(("BTC",), "max", grid=GRID, covariance=cov).initial([ONE_BTC]) == 3_000 * M


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"underlyings": (), "scan_ppm": ()}, "underlyings"),
        ({"underlyings": ("BTC", "BTC"), "scan_ppm": (1, 1)}, "underlyings"),
        ({"underlyings": ("BTC",), "scan_ppm": (0,)}, "scan_ppm"),
        ({"underlyings": ("BTC",), "scan_ppm": (1, 2)}, "scan_ppm"),
        ({"underlyings": ("BTC",), "scan_ppm": (100_000,), "steps": 0}, "steps"),
        ({"underlyings": ("BTC",), "scan_ppm": (600_000,)}, "extreme_multiple"),
        ({"underlyings": ("BTC",), "scan_ppm": (1,), "extreme_weight_ppm": M + 1}, "extreme_weight_ppm"),
        ({"underlyings": ("BTC",), "scan_ppm": (1,), "joint_draws": 5}, "joint_draws"),
        ({"underlyings": ("A", "B"), "scan_ppm": (1, 1), "correlation": ((1, 2), (2, 1))}, "correlation"),
        ({"underlyings": ("A", "B"), "scan_ppm": (1, 1), "correlation": ((1, 0.5), (0.4, 1))}, "correlation"),
    ],
)
def test_grid_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(UnitError) as err:
        StressGrid(**kwargs)
    assert err.value.field == field


def test_other_validation() -> None:
    cases = [
        (lambda: stress_requirement({"SOL": 1}, GRID), "underlyings"),
        (lambda: stress_requirement([1, 2], GRID), "exposures"),
        (lambda: stress_requirement([1.5], GRID), "exposures"),
        (lambda: stress_requirement([1], GRID, -1), "floor_ppm_of_gross"),
        (lambda: stress_requirement([1], GRID, gross_notional=-1), "gross_notional"),
        (lambda: normal_quantile(500_000), "confidence_ppm"),
        (lambda: parametric_var([1, -1], [[1.0, 2.0], [2.0, 1.0]]), "covariance"),  # not PSD
        (lambda: parametric_var([1], [[1.0, 0.0]]), "covariance"),
        (lambda: parametric_var([1.0], [[1.0]]), "exposures"),
        (lambda: ewma_covariance(np.zeros((3, 1)), 1.0), "lam"),
        (lambda: historical_var([1], np.zeros((3, 2))), "returns_window"),
        (lambda: PortfolioRules(("BTC",), "spam"), "method"),
        (lambda: PortfolioRules(("BTC",), "stress"), "grid"),
        (lambda: PortfolioRules(("BTC",), "var"), "covariance"),
        (lambda: PortfolioRules(("SOL",), "stress", grid=GRID), "underlyings"),
        (
            lambda: PortfolioRules(("BTC",), "stress", grid=GRID, maintenance_ppm_of_initial=0),
            "maintenance_ppm_of_initial",
        ),
    ]
    for make, field in cases:
        with pytest.raises(UnitError) as err:
            make()
        assert err.value.field == field, field


def test_docstring_examples() -> None:
    result = doctest.testmod(portfolio, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8
