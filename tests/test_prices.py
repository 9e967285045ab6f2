"""Index price processes (exchange_sim.prices).

Behaviours verified:
- scripted paths: hand-checked stepped and linearly interpolated values, including the exact
  round-half-to-even at a midpoint, knots off the tick grid, and flat ends before the first and
  after the last point; ``sample`` emits the fixed time grid, end included when on it;
- the rounding rule: nearest tick, ties to even, never below one tick;
- reproducibility: the same seed gives identical output (GBM, jump diffusion, correlated), a
  different seed (or a second call with the same generator) a different one; the output does not
  depend on the block size of generation, and a shorter run is a prefix of a longer one;
  ``log_increments`` are the draws ``sample`` makes;
- GBM statistics (fixed seed): mean and variance of log returns within 4 standard errors of
  ``(mu - sigma**2/2) dt`` and ``sigma**2 dt``;
- correlation: the sample correlation of 3 correlated GBMs over 20,000 steps is within 4 standard
  errors of the configured matrix; a singular matrix (correlation 1) is accepted;
- jump diffusion: intensity 0 gives GBM's path bit for bit; adding jumps leaves the diffusion
  shocks unchanged; at a high intensity the jump count is within 4 sd of intensity x time, and the
  mean and variance of log returns match Merton's within 4 (estimated) standard errors;
- validation: non-PSD, asymmetric, non-unit-diagonal, misshapen correlation; negative volatility,
  intensity or jump std; non-positive start price or tick; floats; step not positive; end before
  start: each a UnitError with ``field`` and ``expected``; a path beyond 2**53 ticks is refused;
- CSV replay: good files (seconds and microseconds, BOM, CRLF, blank lines, quotes) and bad ones
  (missing header, empty, header only, non-increasing time, bad price, bad time, wrong column
  count, unreadable, not UTF-8), each error naming the file and the line;
- every emitted price is an int >= 1 (also as hypothesis properties);
- the example in docs/prices.md prints what the page says.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import io
import math
import pickle
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim import prices
from exchange_sim.prices import (
    GBM,
    MAX_TICKS,
    US_PER_YEAR,
    Correlated,
    JumpDiffusion,
    PriceFileError,
    ScriptedPath,
    iter_prices,
    load_csv,
    log_increments,
    round_to_ticks,
    sample,
)
from exchange_sim.units import UnitError

HOUR_US = 3_600_000_000
N_STEPS = 20_000
SEED = 20_240_601

# Large starting prices in tiny ticks (10**12 ticks) make the rounding to ticks negligible in the
# statistics (a relative error of 5e-13 against per-step moves of about 3e-3).
BIG = dict(start="1000000", tick_size="0.000001")


def rng(seed: int = SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_ticks(rows: list[tuple[int, tuple[int, ...]]]) -> None:
    """Every emitted price is a Python int of at least one tick."""
    for _, row in rows:
        for price in row:
            assert type(price) is int and price >= 1


def log_returns(rows: list[tuple[int, tuple[int, ...]]]) -> np.ndarray:
    """Log returns of the emitted prices, one column per underlying."""
    ticks = np.array([row for _, row in rows], dtype=float)  # exact: all below 2**53
    return np.diff(np.log(ticks), axis=0)


# ---------------------------------------------------------------- scripted paths and rounding


def test_round_to_ticks_is_nearest_ties_to_even_at_least_one() -> None:
    half = Fraction(1, 2)
    assert round_to_ticks(Fraction("100.2"), half) == 200  # 200.4 ticks
    assert round_to_ticks(Fraction("100.25"), half) == 200  # 200.5 -> even 200
    assert round_to_ticks(Fraction("100.75"), half) == 202  # 201.5 -> even 202
    assert round_to_ticks(Fraction("100.3"), half) == 201  # 200.6
    assert round_to_ticks(Fraction("0.2"), half) == 1  # 0.4 ticks: floored at one tick
    assert round_to_ticks(Fraction(1, 3), Fraction(1, 100)) == 33


def test_scripted_step_values() -> None:
    path = ScriptedPath(((10, "100"), (20, "101.5"), (30, "99")), tick_size="0.5")
    at = {t: path.price_at(t) for t in (0, 10, 19, 20, 29, 30, 10**12)}
    assert at == {0: 200, 10: 200, 19: 200, 20: 203, 29: 203, 30: 198, 10**12: 198}
    assert path.exact_price_at(25) == Fraction("101.5")


def test_scripted_linear_values_and_midpoint_rounding() -> None:
    up = ScriptedPath(((0, "100"), (10, "101")), tick_size="1", interpolation="linear")
    assert up.exact_price_at(5) == Fraction(201, 2)  # exactly on the midpoint
    assert [up.price_at(t) for t in (0, 2, 5, 6, 8, 10)] == [100, 100, 100, 101, 101, 101]  # 100.5 -> 100
    odd = ScriptedPath(((0, "101"), (10, "102")), tick_size="1", interpolation="linear")
    assert odd.price_at(5) == 102  # 101.5 -> 102 (ties to even)
    down = ScriptedPath(((0, "30000"), (3, "29999")), tick_size="0.5", interpolation="linear")
    # 30000 - 1/3 = 29999.666.. = 59999.33 ticks; 30000 - 2/3 = 59998.67 ticks
    assert [down.price_at(t) for t in range(4)] == [60000, 59999, 59999, 59998]
    assert down.exact_price_at(1) == Fraction(89_999, 3)


def test_scripted_knots_off_the_tick_grid_round_like_everything_else() -> None:
    path = ScriptedPath(((0, "100.25"), (1, "100.75")), tick_size="0.5")
    assert path.price_at(0) == 200 and path.price_at(1) == 202


def test_scripted_sample_grid() -> None:
    path = ScriptedPath(((0, "10"), (4, "12")), tick_size="1", interpolation="linear")
    rows = sample(path, None, 0, 4, 1)
    assert rows == [(0, (10,)), (1, (10,)), (2, (11,)), (3, (12,)), (4, (12,))]  # 10.5 -> 10, 11.5 -> 12
    assert [t for t, _ in sample(path, None, 1, 8, 3)] == [1, 4, 7]  # 8 is not on the grid
    assert sample(path, None, 3, 3, 5) == [(3, (12,))]
    assert list(iter_prices(path, None, 0, 4, 2)) == [(0, (10,)), (2, (11,)), (4, (12,))]
    assert_ticks(rows)


def test_configs_are_frozen_and_normalised() -> None:
    path = ScriptedPath([(0, "1.5")], tick_size="0.5")
    assert path.points == ((0, Fraction(3, 2)),) and path.tick_size == Fraction(1, 2)
    gbm = GBM(start="30000", tick_size="0.5", drift="0.05", volatility="0.8")
    assert gbm.volatility == Fraction(4, 5) and gbm.tick_sizes == (Fraction(1, 2),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        gbm.volatility = Fraction(1)  # type: ignore[misc]


# ---------------------------------------------------------------- reproducibility


def processes() -> dict[str, prices.PriceProcess]:
    gbm = GBM(start="30000", tick_size="0.5", drift="0.05", volatility="0.8")
    jumps = JumpDiffusion(
        start="2000", tick_size="0.01", volatility="0.6", intensity="50", jump_mean="-0.05", jump_std="0.1"
    )
    both = Correlated((gbm, jumps), (("1", "0.7"), ("0.7", "1")))
    return {"gbm": gbm, "jumps": jumps, "correlated": both}


@pytest.mark.parametrize("name", ["gbm", "jumps", "correlated"])
def test_same_seed_same_path_different_seed_different_path(name: str) -> None:
    process = processes()[name]
    first = sample(process, rng(1), 0, 2_000 * HOUR_US, HOUR_US)
    assert sample(process, rng(1), 0, 2_000 * HOUR_US, HOUR_US) == first
    assert sample(process, rng(2), 0, 2_000 * HOUR_US, HOUR_US) != first
    reused = rng(1)  # spawning children advances it: a second path from it is a new one
    assert sample(process, reused, 0, 2_000 * HOUR_US, HOUR_US) == first
    assert sample(process, reused, 0, 2_000 * HOUR_US, HOUR_US) != first
    starts = {"gbm": (60_000,), "jumps": (200_000,), "correlated": (60_000, 200_000)}
    assert len(first) == 2_001 and first[0] == (0, starts[name])
    assert_ticks(first)


@pytest.mark.parametrize("name", ["gbm", "jumps", "correlated"])
def test_output_does_not_depend_on_block_size_and_prefixes_agree(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = processes()[name]
    whole = sample(process, rng(), 0, 1_000 * HOUR_US, HOUR_US)
    monkeypatch.setattr(prices, "_BLOCK", 7)
    assert sample(process, rng(), 0, 1_000 * HOUR_US, HOUR_US) == whole
    assert sample(process, rng(), 0, 300 * HOUR_US, HOUR_US) == whole[:301]
    shifted = sample(process, rng(), 5, 5 + 1_000 * HOUR_US, HOUR_US)  # only the labels move
    assert [row for _, row in shifted] == [row for _, row in whole]


def test_log_increments_are_the_draws_sample_makes() -> None:
    gbm = GBM(**BIG, drift="0.1", volatility="0.5")
    rows = sample(gbm, rng(), 0, 500 * HOUR_US, HOUR_US)
    increments = log_increments(gbm, rng(), 500, HOUR_US)
    assert increments.log_returns.shape == (500, 1) and not increments.jumps.any()
    expected = 10**12 * np.exp(np.cumsum(increments.log_returns[:, 0]))
    emitted = np.array([row[0] for _, row in rows[1:]], dtype=float)
    assert np.all(np.abs(emitted - expected) <= 0.5 + 1e-9 * expected)  # the rounding, and float noise


# ---------------------------------------------------------------- statistics


def test_gbm_log_return_mean_and_variance() -> None:
    """Over 20,000 hourly steps the sample mean and variance of the log returns are within 4
    standard errors of the theory: mean ``(mu - sigma**2/2) dt`` with standard error
    ``sigma sqrt(dt / n)``, variance ``sigma**2 dt`` with standard error ``sigma**2 dt sqrt(2/(n-1))``
    (normal increments). With a fixed seed the test is deterministic; 4 standard errors would
    fail a correct generator about once in 16,000 seeds."""
    mu, sigma = 1.5, 0.3
    rows = sample(GBM(**BIG, drift="1.5", volatility="0.3"), rng(), 0, N_STEPS * HOUR_US, HOUR_US)
    assert_ticks(rows)
    returns = log_returns(rows)[:, 0]
    dt = HOUR_US / US_PER_YEAR
    mean, var = (mu - sigma**2 / 2) * dt, sigma**2 * dt
    assert abs(returns.mean() - mean) < 4 * math.sqrt(var / N_STEPS)
    assert abs(returns.var(ddof=1) - var) < 4 * var * math.sqrt(2 / (N_STEPS - 1))
    assert abs(returns.mean()) > 4 * math.sqrt(var / N_STEPS)  # the drift is visible: the test has power


def test_time_unit_is_the_365_day_year() -> None:
    """Without volatility the path is deterministic: drift 0.365 a year is 0.001 a day, so
    100 (10,000 ticks of 0.01) becomes 10000 e**0.001 = 10010.005 -> 10010 ticks after a day and
    10000 e**0.365 = 14405.14 -> 14405 ticks after 365 days."""
    day = 86_400_000_000
    assert 365 * day == US_PER_YEAR
    rows = sample(GBM(start="100", tick_size="0.01", drift="0.365"), rng(), 0, 365 * day, day)
    assert rows[1] == (day, (10_010,)) and rows[-1] == (365 * day, (14_405,)) and len(rows) == 366
    falling = sample(GBM(start="100", tick_size="0.01", drift="-0.365"), rng(), 0, 365 * day, day)
    assert falling[-1] == (365 * day, (6_942,))  # 10000 e**-0.365 = 6941.97


def test_gbm_log_drift_has_the_ito_correction() -> None:
    """The ``- sigma**2/2`` term is too small to see on hourly prices, so look at the log increments
    themselves (no price, no rounding) with a one-year step: with mu = 0.1 and sigma = 1 the mean
    is -0.4 a step, not 0.1 (standard error 1 / sqrt(20,000) = 0.007)."""
    year = log_increments(
        GBM(start="1", tick_size="1", drift="0.1", volatility="1"), rng(), N_STEPS, US_PER_YEAR
    )
    returns = year.log_returns[:, 0]
    assert abs(returns.mean() - (0.1 - 0.5)) < 4 / math.sqrt(N_STEPS)
    assert abs(returns.var(ddof=1) - 1) < 4 * math.sqrt(2 / (N_STEPS - 1))


def test_correlated_returns_match_the_configured_matrix() -> None:
    """3 underlyings, 20,000 steps: each sample correlation is within 4 standard errors of the
    configured one, the standard error of a sample correlation being about ``(1 - rho**2) / sqrt(n)``
    for normal data. Volatilities are those configured, within 4 standard errors too."""
    matrix = (("1", "0.6", "-0.3"), ("0.6", "1", "0.2"), ("-0.3", "0.2", "1"))
    vols = ("0.5", "0.8", "0.3")
    process = Correlated(tuple(GBM(**BIG, volatility=v) for v in vols), matrix)
    rows = sample(process, rng(), 0, N_STEPS * HOUR_US, HOUR_US)
    assert_ticks(rows)
    returns = log_returns(rows)
    observed = np.corrcoef(returns, rowvar=False)
    for i in range(3):
        for j in range(3):
            rho = float(matrix[i][j])
            assert abs(observed[i, j] - rho) <= 4 * (1 - rho**2) / math.sqrt(N_STEPS) + 1e-12, (i, j)
    dt = HOUR_US / US_PER_YEAR
    for i, vol in enumerate(vols):
        var = float(vol) ** 2 * dt
        assert abs(returns[:, i].var(ddof=1) - var) < 4 * var * math.sqrt(2 / (N_STEPS - 1))


def test_perfect_correlation_is_accepted_and_moves_together() -> None:
    process = Correlated((GBM(**BIG, volatility="0.5"),) * 2, ((1, 1), (1, 1)))
    assert process.factor == ((1.0, 0.0), (1.0, 0.0))
    rows = sample(process, rng(), 0, 100 * HOUR_US, HOUR_US)
    assert all(a == b for _, (a, b) in rows)


def test_jump_diffusion_with_intensity_zero_is_gbm_bit_for_bit() -> None:
    gbm = GBM(start="30000", tick_size="0.5", drift="0.05", volatility="0.8")
    quiet = JumpDiffusion(
        start="30000", tick_size="0.5", drift="0.05", volatility="0.8", jump_mean="-0.1", jump_std="0.2"
    )
    assert sample(quiet, rng(), 0, 5_000 * HOUR_US, HOUR_US) == sample(
        gbm, rng(), 0, 5_000 * HOUR_US, HOUR_US
    )
    assert np.array_equal(
        log_increments(quiet, rng(), 100, HOUR_US).log_returns,
        log_increments(gbm, rng(), 100, HOUR_US).log_returns,
    )
    together = Correlated((gbm, quiet), ((1, 0), (0, 1)))  # a jumpy neighbour changes nothing either
    noisy = Correlated((gbm, JumpDiffusion(**BIG, volatility="0.8", intensity="100")), ((1, 0), (0, 1)))
    a, b = (log_increments(p, rng(), 100, HOUR_US).log_returns[:, 0] for p in (together, noisy))
    assert np.array_equal(a, b)


def test_jumps_leave_the_diffusion_shocks_unchanged() -> None:
    """The jump draws come from their own streams: where no jump happened, the log return differs
    from GBM's only by the constant compensator ``- lambda kappa dt``."""
    lam, m, s = 100.0, -0.02, 0.05
    gbm = GBM(**BIG, drift="0.1", volatility="0.3")
    merton = JumpDiffusion(
        **BIG, drift="0.1", volatility="0.3", intensity="100", jump_mean="-0.02", jump_std="0.05"
    )
    plain = log_increments(gbm, rng(), 2_000, HOUR_US).log_returns[:, 0]
    jumpy = log_increments(merton, rng(), 2_000, HOUR_US)
    quiet = jumpy.jumps[:, 0] == 0
    compensator = -lam * math.expm1(m + s * s / 2) * HOUR_US / US_PER_YEAR
    assert quiet.sum() > 1_000 and (~quiet).sum() > 0
    assert np.allclose(jumpy.log_returns[quiet, 0] - plain[quiet], compensator, rtol=0, atol=1e-15)


def test_jump_diffusion_counts_mean_and_variance() -> None:
    """lambda = 100 jumps a year over 20,000 hours (2.28 years): the number of jumps is Poisson with
    mean ``lambda T`` (about 228) and standard deviation ``sqrt(lambda T)``; the per-step log return
    has mean ``(mu - lambda kappa - sigma**2/2) dt + lambda dt m`` and variance
    ``sigma**2 dt + lambda dt (m**2 + s**2)`` (Merton 1976). Tolerances: 4 standard deviations of
    the count; 4 standard errors of the mean and variance, estimated from the sample (the
    increments are not normal, so the variance's standard error uses the sample fourth moment)."""
    mu, sigma, lam, m, s = 1.5, 0.3, 100.0, -0.02, 0.05
    merton = JumpDiffusion(
        **BIG, drift="1.5", volatility="0.3", intensity="100", jump_mean="-0.02", jump_std="0.05"
    )
    dt = HOUR_US / US_PER_YEAR
    increments = log_increments(merton, rng(), N_STEPS, HOUR_US)
    expected_jumps = lam * N_STEPS * dt
    assert abs(int(increments.jumps.sum()) - expected_jumps) < 4 * math.sqrt(expected_jumps)

    rows = sample(merton, rng(), 0, N_STEPS * HOUR_US, HOUR_US)
    assert_ticks(rows)
    returns = log_returns(rows)[:, 0]
    kappa = math.expm1(m + s * s / 2)
    mean = (mu - lam * kappa - sigma**2 / 2) * dt + lam * dt * m
    var = sigma**2 * dt + lam * dt * (m**2 + s**2)
    centred = returns - returns.mean()
    var_se = math.sqrt((np.mean(centred**4) - np.var(returns) ** 2) / N_STEPS)
    assert abs(returns.mean() - mean) < 4 * returns.std(ddof=1) / math.sqrt(N_STEPS)
    assert abs(returns.var(ddof=1) - var) < 4 * var_se
    assert returns.var(ddof=1) > 2 * sigma**2 * dt  # jumps more than double the diffusion's variance


# ---------------------------------------------------------------- validation


def gbm(**overrides: object) -> GBM:
    fields: dict = dict(start="30000", tick_size="0.5", drift="0.05", volatility="0.8")
    fields.update(overrides)
    return GBM(**fields)


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (lambda: gbm(volatility="-0.1"), "volatility", "non-negative"),
        (lambda: gbm(volatility=0.8), "volatility", "float"),
        (lambda: gbm(start="0"), "start", "positive"),
        (lambda: gbm(start="-30000"), "start", "positive"),
        (lambda: gbm(start="0.25"), "start", "at least one tick"),
        (lambda: gbm(tick_size="0"), "tick_size", "positive"),
        (lambda: gbm(drift="abc"), "drift", "decimal"),
        (lambda: JumpDiffusion("1", "1", intensity="-1"), "intensity", "non-negative"),
        (lambda: JumpDiffusion("1", "1", jump_std="-0.1"), "jump_std", "non-negative"),
        (lambda: ScriptedPath((), "1"), "points", "non-empty"),
        (lambda: ScriptedPath(((0, "1"), (0, "2")), "1"), "points", "not after points[0]"),
        (lambda: ScriptedPath(((0, "0"),), "1"), "points", "positive"),
        (lambda: ScriptedPath(((-1, "1"),), "1"), "points", ">= 0"),
        (lambda: ScriptedPath(((0, "1"),), "1", "cubic"), "interpolation", "step"),
        (lambda: Correlated((), ()), "components", "non-empty"),
    ],
)
def test_config_errors_name_the_field(build: Callable[[], object], field: str, words: str) -> None:
    with pytest.raises(UnitError) as info:
        build()
    assert info.value.field == field and info.value.expected
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        ((("1", "0.9", "-0.9"), ("0.9", "1", "0.9"), ("-0.9", "0.9", "1")), "not positive semi-definite"),
        ((("1", "0.5", "0"), ("0.4", "1", "0"), ("0", "0", "1")), "not symmetric"),
        ((("1", "0", "0"), ("0", "0.9", "0"), ("0", "0", "1")), "must be 1 (the diagonal)"),
        ((("1", "1.5", "0"), ("1.5", "1", "0"), ("0", "0", "1")), "from -1 to 1"),
        ((("1", "0"), ("0", "1")), "3 x 3"),
        ((("1", 0.5, "0"), (0.5, "1", "0"), ("0", "0", "1")), "float"),
        # PSD by its 2 x 2 minors, not as a whole: only the full test catches it
        ((("1", "1", "0"), ("1", "1", "1"), ("0", "1", "1")), "not positive semi-definite"),
    ],
)
def test_bad_correlation_matrices(matrix: tuple, words: str) -> None:
    with pytest.raises(UnitError) as info:
        Correlated((gbm(),) * 3, matrix)
    assert info.value.field == "correlation" and "positive semi-definite" in (info.value.expected or "")
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [((0, 10, 0), "step_us"), ((0, 10, -5), "step_us"), ((10, 0, 1), "end_us"), ((0, 10, 1.5), "step_us")],
)
def test_bad_sampling_grid(args: tuple, field: str) -> None:
    for process in (gbm(), ScriptedPath(((0, "1"),), "1")):
        with pytest.raises(UnitError) as info:
            sample(process, rng(), *args)
        assert info.value.field == field and info.value.expected


def test_random_process_needs_a_generator() -> None:
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        sample(gbm(), None, 0, 10, 1)
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        iter_prices(gbm(), 42, 0, 10, 1)  # type: ignore[arg-type]  # checked at the call, not lazily


def test_path_beyond_max_ticks_is_refused() -> None:
    rocket = GBM(start="1000000", tick_size="0.000001", drift="5000")  # e**5000 a year
    with pytest.raises(UnitError, match=str(MAX_TICKS)):
        sample(rocket, rng(), 0, 24 * HOUR_US, HOUR_US)


# ---------------------------------------------------------------- CSV replay


def write(tmp_path: Path, text: str | bytes, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, newline="")
    return path


def test_csv_in_seconds(tmp_path: Path) -> None:
    text = '\ufefftime, price\r\n0,30000\r\n\r\n1.5,"30000.75"\r\n2.000001,29999\r\n'
    path = load_csv(write(tmp_path, text), tick_size="0.5", interpolation="linear")
    assert path.points == ((0, 30_000), (1_500_000, Fraction("30000.75")), (2_000_001, 29_999))
    assert path.price_at(1_500_000) == 60_002  # 60001.5 ticks -> even 60002
    assert path.price_at(750_000) == 60_001  # 30000.375 = 60000.75 ticks
    assert path.price_at(10**9) == 59_998
    rows = sample(path, None, 0, 3_000_000, 500_000)
    # 0.5 s: 30000.25 = 60000.5 ticks -> even 60000; 1 s: 30000.5 = 60001 ticks;
    # 2 s: 30000.75 - 1.75 x 0.5 / 0.500001 = 29999.0000035 -> 59998; then the last point's price
    assert [r for _, (r,) in rows] == [60_000, 60_000, 60_001, 60_002, 59_998, 59_998, 59_998]
    assert_ticks(rows)


def test_csv_in_microseconds_stepped(tmp_path: Path) -> None:
    path = load_csv(write(tmp_path, "time_us,price\n0,100\n250,101.5\n"), tick_size="0.5")
    assert [path.price_at(t) for t in (0, 249, 250, 1_000)] == [200, 200, 203, 203]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("0,100\n1,101\n", 1, 'expected a header row "time,price" (time in seconds) or "time_us,price"'),
        ("", 1, "expected a header row"),
        ("time,price\n", 2, "expected at least one data row after the header, got end of file"),
        (
            "time,price\n0,100\n1,101\n1,102\n",
            4,
            'expected a time after 1 (line 3): times must strictly increase, got "1"',
        ),
        ("time,price\n0,100\n2,101\n1,102\n", 4, "times must strictly increase"),
        (
            "time,price\n0,100\n1,101\n\n2,103\n3,104\n4,105\n5,abc\n",
            8,
            'expected a positive decimal price, got "abc"',
        ),
        ("time,price\n0,100\n1,0\n", 3, 'expected a positive decimal price, got "0"'),
        ("time,price\n0,-5\n", 2, 'expected a positive decimal price, got "-5"'),
        ("time,price\n0,100,7\n", 2, 'expected 2 columns (time,price), got 3 columns: "0,100,7"'),
        ("time,price\n0\n", 2, 'expected 2 columns (time,price), got 1 column: "0"'),
        ("time,price\n0.0000001,100\n", 2, "expected a time in seconds >= 0 with at most 6 decimals"),
        ("time,price\n-1,100\n", 2, "expected a time in seconds >= 0"),
        ("time_us,price\n1.5,100\n", 2, 'expected a time in integer microseconds >= 0, got "1.5"'),
        (b"time,price\n0,100\n1,\xff\n", 3, "expected UTF-8 text"),
        ("time,price\r\n0,100\r\n\r\n1,abc\r\n", 4, 'expected a positive decimal price, got "abc"'),
    ],
)
def test_bad_csv_files_name_the_file_and_line(
    tmp_path: Path, text: str | bytes, line: int, message: str
) -> None:
    file = write(tmp_path, text)
    with pytest.raises(PriceFileError) as info:
        load_csv(file, tick_size="0.5")
    err = info.value
    assert isinstance(err, UnitError) and err.line == line and err.source == str(file)
    assert str(err).startswith(f"{file}: line {line}: ")
    assert message in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.line == err.line and again.field == err.field


def test_csv_error_message_exactly(tmp_path: Path) -> None:
    file = write(tmp_path, "time,price\n0,100\n1,101\n2,102\n3,103\n4,104\n5,abc\n")
    with pytest.raises(PriceFileError) as info:
        load_csv(file, tick_size="0.5")
    assert str(info.value) == f'{file}: line 7: expected a positive decimal price, got "abc"'
    assert info.value.field == "price"


def test_unreadable_csv(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError) as info:
        load_csv(tmp_path / "missing.csv", tick_size="1")
    assert info.value.line is None
    assert str(info.value).startswith(
        f"{tmp_path / 'missing.csv'}: expected a readable CSV file, got FileNotFound"
    )


# ---------------------------------------------------------------- properties

decimals = st.integers(min_value=-500, max_value=500).map(lambda n: Fraction(n, 100))


@given(
    start_ticks=st.integers(min_value=1, max_value=10**6),
    drift=decimals,
    vol=st.integers(min_value=0, max_value=300).map(lambda n: Fraction(n, 100)),
    intensity=st.integers(min_value=0, max_value=1_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_random_price_is_an_int_of_at_least_one_tick(
    start_ticks: int, drift: Fraction, vol: Fraction, intensity: int, seed: int
) -> None:
    process = JumpDiffusion(
        start=Fraction(start_ticks, 4),
        tick_size=Fraction(1, 4),
        drift=drift * 10,
        volatility=vol,
        intensity=intensity,
        jump_mean="-0.5",
        jump_std="0.5",
    )
    rows = sample(process, rng(seed), 0, 50 * 24 * HOUR_US, 24 * HOUR_US)
    assert len(rows) == 51 and rows[0][1] == (start_ticks,)
    assert_ticks(rows)


@given(
    data=st.lists(
        st.tuples(st.integers(min_value=1, max_value=1_000), st.integers(min_value=1, max_value=10**6)),
        min_size=1,
        max_size=8,
    ),
    linear=st.booleans(),
    query=st.integers(min_value=0, max_value=10_000),
)
def test_every_scripted_price_is_an_int_between_its_neighbours(
    data: list[tuple[int, int]], linear: bool, query: int
) -> None:
    times = np.cumsum([gap for gap, _ in data]).tolist()
    points = tuple((t, Fraction(p, 1_000)) for t, (_, p) in zip(times, data, strict=True))
    path = ScriptedPath(points, tick_size="0.01", interpolation="linear" if linear else "step")
    price = path.price_at(query)
    assert type(price) is int and price >= 1
    ticks = [round_to_ticks(p, Fraction(1, 100)) for _, p in points]
    after = bisect.bisect_right(times, query)  # points[after - 1] is at or before the query
    before_tick = ticks[max(after - 1, 0)]
    after_tick = ticks[min(after, len(ticks) - 1)]
    if after == 0 or query in times or not linear:
        assert price == before_tick
    else:
        assert min(before_tick, after_tick) <= price <= max(before_tick, after_tick)


# ---------------------------------------------------------------- documentation


def test_docs_example_prints_what_the_page_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "prices.md").read_text()
    found = re.search(r"## Example\n.*?```python\n(.*?)```.*?```\n(.*?)```", page, re.S)
    assert found is not None
    code, expected = found.groups()
    monkeypatch.chdir(tmp_path)  # the example writes prices.csv
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/prices.md", "exec"), {})
    assert out.getvalue() == expected
