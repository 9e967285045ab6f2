"""Index (oracle) price paths for several underlyings, on the integer-microsecond clock.

A *price process* is a frozen configuration; :func:`sample` (a list) and :func:`iter_prices` (lazy)
turn it into ``(time_us, prices)`` rows on a fixed step, where ``prices`` holds one integer number
of **ticks** per underlying (the caller gives each underlying's tick size, exactly, as a decimal
string or :class:`~fractions.Fraction`). ``docs/prices.md`` is the guide; this docstring is the
reference.

Processes:

* :class:`ScriptedPath`: a table of ``(time_us, price)`` points, stepped or linearly interpolated,
  exactly (:class:`~fractions.Fraction` arithmetic). :func:`load_csv` reads one from a CSV file of
  real prices. ``path.price_at(time_us)`` asks the price at any time.
* :class:`GBM`: geometric Brownian motion.
* :class:`JumpDiffusion`: Merton's jump diffusion (GBM times lognormal jumps at Poisson times).
* :class:`Correlated`: several GBMs or jump diffusions on a common clock whose Brownian shocks
  have a given correlation matrix.

Formulas (``dt`` is the step in years, ``Z`` independent standard normals):

* Time: ``dt = step_us / US_PER_YEAR`` with ``US_PER_YEAR = 365 x 86_400 x 10**6`` (a 365-day
  year; drift, volatility and intensity are per such year).
* GBM, the exact discretisation (no time-step error; Glasserman 2003, chapter 3)::

      S(t + dt) = S(t) x exp((mu - sigma**2 / 2) dt + sigma sqrt(dt) Z)

  so ``log S`` has i.i.d. normal increments with mean ``(mu - sigma**2/2) dt`` and variance
  ``sigma**2 dt``, and ``E[S(t)] = S(0) exp(mu t)``.
* Merton jump diffusion (Merton 1976; simulated at fixed dates as in Glasserman 2003, chapter
  3): jumps arrive at rate ``lambda`` per year and multiply the price by ``Y = exp(J)`` with
  ``J ~ N(m, s**2)``. With ``N ~ Poisson(lambda dt)`` jumps in a step, the sum of their ``J`` is
  exactly ``N(N m, N s**2)``, so one more normal ``Z'`` per step suffices::

      kappa     = E[Y - 1] = exp(m + s**2 / 2) - 1
      S(t + dt) = S(t) x exp((mu - lambda kappa - sigma**2 / 2) dt + sigma sqrt(dt) Z
                             + N m + s sqrt(N) Z')

  The compensator ``- lambda kappa`` keeps ``mu`` the expected rate of return:
  ``E[S(t)] = S(0) exp(mu t)`` as for GBM. With ``lambda = 0`` the step is GBM's, bit for bit.
* Correlation (Glasserman 2003, chapter 2): the diffusion shocks are ``Z_corr = L Z`` with
  ``L L^T = R``, the correlation matrix. ``R`` is validated exactly (symmetric, unit diagonal,
  positive semi-definite) by a rational ``L D L^T`` elimination, which also gives ``L`` (as
  ``L_ij sqrt(D_j)``) for singular matrices such as a correlation of exactly 1. Jumps stay
  independent across underlyings.

Randomness (DESIGN.md, "Randomness"): every random process takes a :class:`numpy.random.Generator`
that the caller spawned from the scenario seed. :func:`sample` draws nothing from it directly: it
spawns three children (``rng.spawn(3)``, so a second call with the same generator gives a new,
independent path): diffusion normals, jump counts, jump sizes. Each child only ever draws one kind
of number, so the path is the same however it is generated in blocks, a shorter run is a prefix
of a longer one, and adding jumps leaves the diffusion shocks unchanged.
There is no module-level random state and no wall clock. The same generator seed gives the same
path bit for bit on the same platform with the pinned numpy (``constraints.txt``): ``exp`` and
``log`` come from numpy and the C library and may differ in the last bit elsewhere. The
correlation is applied with explicit elementwise sums (no BLAS), in a fixed order.

Rounding (one rule, :func:`round_to_ticks`): a price ``P`` in settlement units becomes
``max(1, round_half_even(P / tick_size))`` ticks. Scripted and CSV prices are rounded exactly
(Python's ``round`` of a Fraction); random paths carry ``log(price in ticks)`` as float64 and emit
``max(1, numpy.rint(exp(log_price)))`` (``rint`` also rounds half to even), converted to Python
``int``. The floor of one tick applies to what is emitted only: the random process itself goes
on below it. A random price above ``MAX_TICKS = 2**53`` (where float64 stops holding every
integer) raises :class:`~exchange_sim.units.UnitError`.

Sources:

* P. Glasserman, *Monte Carlo Methods in Financial Engineering*, Springer, 2003: chapter 2
  (Cholesky factor, semidefinite case) and chapter 3 (exact GBM step, jump diffusion at fixed
  dates); section numbers not checked against the book, so not given.
* R. C. Merton, "Option pricing when underlying stock returns are discontinuous", *Journal of
  Financial Economics* 3 (1976), 125-144.

>>> path = ScriptedPath(((0, "100"), (10, "101")), tick_size="1", interpolation="linear")
>>> [path.price_at(t) for t in (0, 5, 10)]
[100, 100, 101]
>>> import numpy as np
>>> btc = GBM(start="30000", tick_size="0.5", drift="0", volatility="0.8")
>>> sample(btc, np.random.default_rng(42), 0, 3_000_000, 1_000_000)  # 60000 ticks = 30000
[(0, (60000,)), (1000000, (60004,)), (2000000, (60009,)), (3000000, (60009,))]
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from exchange_sim.units import US_PER_SECOND, UnitError, format_fraction, parse_decimal

__all__ = [
    "GBM",
    "MAX_TICKS",
    "US_PER_YEAR",
    "Correlated",
    "Increments",
    "Interpolation",
    "JumpDiffusion",
    "PriceFileError",
    "PriceProcess",
    "ScriptedPath",
    "correlation_factor",
    "correlation_matrix",
    "iter_prices",
    "load_csv",
    "log_increments",
    "round_to_ticks",
    "sample",
]

Number = str | int | Decimal | Fraction

US_PER_YEAR = 365 * 86_400 * US_PER_SECOND
"""Microseconds in a 365-day year: rates per year (drift, volatility, intensity) use this year."""

MAX_TICKS = 2**53
"""The largest price, in ticks, a random path may emit (float64 holds every integer up to it)."""

_BLOCK = 4_096
"""Steps drawn at a time by :func:`iter_prices` (the output does not depend on it)."""

_TICK_EXPECTED = 'a positive decimal tick size such as "0.5"'
_PRICE_EXPECTED = "a positive decimal price"
_VOLATILITY_EXPECTED = 'a non-negative decimal volatility per year such as "0.8" (80%)'
_CORRELATION_EXPECTED = "a symmetric positive semi-definite matrix with 1 on the diagonal"


# rounding -------------------------------------------------------------------------------------


def round_to_ticks(price: Fraction, tick_size: Fraction) -> int:
    """A price in settlement units -> integer ticks: nearest tick, ties to even, at least 1.

    >>> half = Fraction("0.5")
    >>> round_to_ticks(Fraction("100.25"), half), round_to_ticks(Fraction("100.75"), half)
    (200, 202)
    >>> round_to_ticks(Fraction("0.1"), Fraction("0.5"))
    1
    """
    return max(1, round(price / tick_size))


# validation helpers ---------------------------------------------------------------------------


def _exact(value: object, name: str, expected: str, where: str = "") -> Fraction:
    """``value`` read exactly (decimal string, int, Decimal, Fraction), else UnitError on ``name``.

    ``where`` (default ``name``) starts the message, e.g. ``points[2] price``.
    """
    try:
        return parse_decimal(value)  # type: ignore[arg-type]
    except UnitError as exc:
        raise UnitError(f"{where or name}: {exc}", field=name, expected=expected, got=value) from None


def _fmt(value: Fraction) -> str:
    """A Fraction as a decimal string when it has one (``"0.5"``), else as ``"1/3"``."""
    try:
        return format_fraction(value)
    except UnitError:
        return str(value)


def _at_least(value: object, name: str, expected: str, low: Fraction, strict: bool) -> Fraction:
    exact = _exact(value, name, expected)
    if exact < low or (strict and exact == low):
        raise UnitError(
            f"{name} must be {expected}, got {_fmt(exact)}", field=name, expected=expected, got=value
        )
    return exact


def _tick_size(value: object) -> Fraction:
    return _at_least(value, "tick_size", _TICK_EXPECTED, Fraction(0), strict=True)


def _time(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnitError(
            f"{name} must be an integer number of microseconds, got {value!r}",
            field=name,
            expected="an integer number of microseconds",
            got=value,
        )
    return value


# scripted paths -------------------------------------------------------------------------------


class Interpolation(StrEnum):
    """How a :class:`ScriptedPath` fills the time between two points."""

    STEP = "step"
    """The price of the latest point at or before the time (a step function)."""
    LINEAR = "linear"
    """A straight line between the two neighbouring points, exact, then rounded to ticks."""


@dataclass(frozen=True, slots=True)
class ScriptedPath:
    """A price path given as points, for one underlying.

    Attributes:
        points: ``(time_us, price)`` pairs: times are integer microseconds >= 0 and strictly
            increase; prices are positive decimals in settlement units per underlying unit
            (stored as exact Fractions). At least one point.
        tick_size: the price increment (a positive decimal), stored as a Fraction.
        interpolation: ``"step"`` (default) or ``"linear"``, see :class:`Interpolation`.

    Before the first point the price is the first point's, after the last it is the last's.

    >>> path = ScriptedPath(((0, "100"), (1_000_000, "102")), tick_size="0.5")
    >>> path.price_at(999_999), path.price_at(1_000_000)
    (200, 204)
    """

    points: tuple[tuple[int, Number], ...]
    tick_size: Number
    interpolation: Interpolation | str = Interpolation.STEP
    _times: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tick = _tick_size(self.tick_size)
        try:
            mode = Interpolation(self.interpolation)
        except ValueError:
            raise UnitError(
                f"interpolation must be one of step, linear, got {self.interpolation!r}",
                field="interpolation",
                expected='one of "step", "linear"',
                got=self.interpolation,
            ) from None
        expected = (
            "a non-empty sequence of (time_us, price) pairs: integer times >= 0 that strictly"
            " increase, positive decimal prices"
        )

        def bad(message: str, got: object = None) -> UnitError:
            return UnitError(message, field="points", expected=expected, got=got)

        if isinstance(self.points, str | bytes) or not isinstance(self.points, Sequence) or not self.points:
            raise bad(f"points must be {expected}, got {self.points!r}")
        points: list[tuple[int, Fraction]] = []
        for index, point in enumerate(self.points):
            where = f"points[{index}]"
            if isinstance(point, str | bytes) or not isinstance(point, Sequence) or len(point) != 2:
                raise bad(f"{where} must be a (time_us, price) pair, got {point!r}", point)
            time_us, price = point
            if isinstance(time_us, bool) or not isinstance(time_us, int) or time_us < 0:
                raise bad(
                    f"{where} time must be an integer number of microseconds >= 0, got {time_us!r}", time_us
                )
            if points and time_us <= points[-1][0]:
                raise bad(
                    f"{where} time {time_us} is not after points[{index - 1}] time {points[-1][0]}", time_us
                )
            exact = _exact(price, "points", expected, f"{where} price")
            if exact <= 0:
                raise bad(f"{where} price must be positive, got {_fmt(exact)}", price)
            points.append((time_us, exact))
        object.__setattr__(self, "points", tuple(points))
        object.__setattr__(self, "tick_size", tick)
        object.__setattr__(self, "interpolation", mode)
        object.__setattr__(self, "_times", tuple(t for t, _ in points))

    @property
    def tick_sizes(self) -> tuple[Fraction, ...]:
        """One tick size (a scripted path is one underlying)."""
        return (Fraction(self.tick_size),)

    def exact_price_at(self, time_us: int) -> Fraction:
        """The price at ``time_us`` in settlement units, exactly, before rounding to ticks."""
        _time(time_us, "time_us")
        after = bisect.bisect_right(self._times, time_us)  # points[after - 1] is at or before
        if after == 0:
            return Fraction(self.points[0][1])
        t0, p0 = self.points[after - 1]
        if after == len(self.points) or self.interpolation is Interpolation.STEP:
            return Fraction(p0)
        t1, p1 = self.points[after]
        return Fraction(p0) + (Fraction(p1) - Fraction(p0)) * Fraction(time_us - t0, t1 - t0)

    def price_at(self, time_us: int) -> int:
        """The price at ``time_us`` in integer ticks (:func:`round_to_ticks`)."""
        return round_to_ticks(self.exact_price_at(time_us), Fraction(self.tick_size))


# random processes -----------------------------------------------------------------------------


def _random_fields(process: GBM | JumpDiffusion) -> None:
    """Validate the fields GBM and JumpDiffusion share and store them as Fractions."""
    tick = _tick_size(process.tick_size)
    start_expected = f"a positive decimal price of at least one tick ({_fmt(tick)})"
    values = {
        "start": _at_least(process.start, "start", start_expected, tick, strict=False),
        "tick_size": tick,
        "drift": _exact(process.drift, "drift", 'a decimal drift per year such as "0.05" (5%)'),
        "volatility": _at_least(
            process.volatility, "volatility", _VOLATILITY_EXPECTED, Fraction(0), strict=False
        ),
    }
    for name, value in values.items():
        object.__setattr__(process, name, value)


@dataclass(frozen=True, slots=True)
class GBM:
    """Geometric Brownian motion for one underlying (exact step: see the module docstring).

    Attributes (decimal strings, ints, Decimals or Fractions; stored as Fractions):
        start: the price at the start time, in settlement units; at least one tick.
        tick_size: the price increment (positive).
        drift: ``mu``, expected rate of return per 365-day year (``"0.05"`` is 5%); any sign.
        volatility: ``sigma``, per square root of a 365-day year (``"0.8"`` is 80%); >= 0.
    """

    start: Number
    tick_size: Number
    drift: Number = 0
    volatility: Number = 0

    def __post_init__(self) -> None:
        _random_fields(self)

    @property
    def tick_sizes(self) -> tuple[Fraction, ...]:
        return (Fraction(self.tick_size),)


@dataclass(frozen=True, slots=True)
class JumpDiffusion:
    """Merton's jump diffusion for one underlying: :class:`GBM` times lognormal jumps.

    Attributes (decimal strings, ints, Decimals or Fractions; stored as Fractions):
        start, tick_size, drift, volatility: as for :class:`GBM`; ``drift`` stays the expected
            rate of return, jumps included (the drift is compensated by ``- intensity x kappa``).
        intensity: ``lambda``, the expected number of jumps per 365-day year; >= 0.
        jump_mean: ``m``, the mean of the log of a jump's factor (``"-0.05"``: about -5%).
        jump_std: ``s``, the standard deviation of the log of a jump's factor; >= 0.
    """

    start: Number
    tick_size: Number
    drift: Number = 0
    volatility: Number = 0
    intensity: Number = 0
    jump_mean: Number = 0
    jump_std: Number = 0

    def __post_init__(self) -> None:
        _random_fields(self)
        intensity = _at_least(
            self.intensity,
            "intensity",
            'a non-negative decimal number of jumps per year such as "12"',
            Fraction(0),
            False,
        )
        mean = _exact(self.jump_mean, "jump_mean", 'a decimal mean of the log jump such as "-0.05"')
        std = _at_least(
            self.jump_std,
            "jump_std",
            'a non-negative decimal standard deviation of the log jump such as "0.1"',
            Fraction(0),
            False,
        )
        object.__setattr__(self, "intensity", intensity)
        object.__setattr__(self, "jump_mean", mean)
        object.__setattr__(self, "jump_std", std)

    @property
    def tick_sizes(self) -> tuple[Fraction, ...]:
        return (Fraction(self.tick_size),)


@dataclass(frozen=True, slots=True)
class Correlated:
    """Several :class:`GBM` / :class:`JumpDiffusion` underlyings with correlated diffusion shocks.

    Attributes:
        components: one process per underlying, in output order (at least one).
        correlation: ``n x n`` matrix of decimals (rows of strings, ints, Decimals or Fractions;
            stored as Fractions), where ``n = len(components)``. Validated exactly: symmetric,
            1 on the diagonal, positive semi-definite; otherwise :class:`UnitError` with
            ``field="correlation"``.
        factor: derived: the lower-triangular float factor ``F = L sqrt(D)`` of the exact
            ``correlation = L D L^T``, so that ``F F^T = correlation``; the shocks are ``F Z``.
    """

    components: tuple[GBM | JumpDiffusion, ...]
    correlation: tuple[tuple[Number, ...], ...]
    factor: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        components = tuple(self.components) if isinstance(self.components, Sequence) else ()
        if not components or not all(isinstance(c, GBM | JumpDiffusion) for c in components):
            raise UnitError(
                f"components must be a non-empty sequence of GBM or JumpDiffusion, got {self.components!r}",
                field="components",
                expected="a non-empty sequence of GBM or JumpDiffusion processes",
            )
        matrix = correlation_matrix(self.correlation, len(components))
        object.__setattr__(self, "components", components)
        object.__setattr__(self, "correlation", matrix)
        object.__setattr__(self, "factor", correlation_factor(matrix))

    @property
    def tick_sizes(self) -> tuple[Fraction, ...]:
        return tuple(Fraction(c.tick_size) for c in self.components)


def correlation_matrix(rows: object, n: int) -> tuple[tuple[Fraction, ...], ...]:
    """``rows`` as an exact ``n x n`` correlation matrix, validated: symmetric, 1 on the diagonal,
    positive semi-definite (by the exact ``L D L^T`` elimination); otherwise
    :class:`~exchange_sim.units.UnitError` with ``field="correlation"``. Used by :class:`Correlated`
    and by portfolio margin's joint stress moves (:mod:`exchange_sim.margin.portfolio`)."""
    shape = f"a {n} x {n} matrix (one row and one column per component)"
    if (
        isinstance(rows, str | bytes)
        or not isinstance(rows, Sequence)
        or len(rows) != n
        or any(isinstance(r, str | bytes) or not isinstance(r, Sequence) or len(r) != n for r in rows)
    ):
        raise UnitError(
            f"correlation must be {shape}, got {rows!r}",
            field="correlation",
            expected=f"{_CORRELATION_EXPECTED}, {shape}",
        )
    matrix = tuple(
        tuple(
            _exact(x, "correlation", f"{_CORRELATION_EXPECTED}, decimal entries", f"correlation[{i}][{j}]")
            for j, x in enumerate(row)
        )
        for i, row in enumerate(rows)
    )
    for i in range(n):
        for j in range(n):
            entry = matrix[i][j]
            if i == j and entry != 1:
                raise UnitError(
                    f"correlation[{i}][{i}] must be 1 (the diagonal), got {_fmt(entry)}",
                    field="correlation",
                    expected=_CORRELATION_EXPECTED,
                    got=_fmt(entry),
                )
            if not -1 <= entry <= 1:
                raise UnitError(
                    f"correlation[{i}][{j}] must be from -1 to 1, got {_fmt(entry)}",
                    field="correlation",
                    expected=_CORRELATION_EXPECTED,
                    got=_fmt(entry),
                )
            if entry != matrix[j][i]:
                raise UnitError(
                    f"correlation is not symmetric: correlation[{i}][{j}] = {_fmt(entry)}"
                    f" but correlation[{j}][{i}] = {_fmt(matrix[j][i])}",
                    field="correlation",
                    expected=_CORRELATION_EXPECTED,
                    got=_fmt(entry),
                )
    return matrix


def _ldl(matrix: tuple[tuple[Fraction, ...], ...]) -> tuple[list[list[Fraction]], list[Fraction]]:
    """Exact ``R = L D L^T`` (unit lower ``L``, diagonal ``D >= 0``) of a symmetric matrix, or
    UnitError if it is not positive semi-definite.

    Symmetric Gaussian elimination without pivoting: a PSD matrix has every pivot >= 0, and a zero
    pivot only with a zero remainder of its column (then the column of ``L`` is left 0).
    """
    n = len(matrix)
    a = [list(row) for row in matrix]
    lower = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    diag: list[Fraction] = []
    for k in range(n):
        pivot = a[k][k]
        if pivot < 0 or (pivot == 0 and any(a[i][k] != 0 for i in range(k + 1, n))):
            smallest = float(np.linalg.eigvalsh(np.array(matrix, dtype=float))[0])  # for the message only
            about = f" (about {smallest:.3g})" if smallest < 0 else ""
            raise UnitError(
                "correlation is not positive semi-definite (no random variables can have these"
                f" correlations): its smallest eigenvalue is negative{about}",
                field="correlation",
                expected=_CORRELATION_EXPECTED,
            )
        diag.append(pivot)
        if pivot == 0:
            continue
        for i in range(k + 1, n):
            lower[i][k] = a[i][k] / pivot
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                a[i][j] -= lower[i][k] * a[k][j]
    return lower, diag


def positive_semidefinite(matrix: Sequence[Sequence[float | Fraction]]) -> bool:
    """Whether a symmetric matrix (floats are taken as their exact binary fractions) is positive
    semi-definite, decided exactly by the ``L D L^T`` elimination of :func:`correlation_factor`."""
    try:
        _ldl(tuple(tuple(Fraction(x) for x in row) for row in matrix))
    except UnitError:
        return False
    return True


def correlation_factor(matrix: tuple[tuple[Fraction, ...], ...]) -> tuple[tuple[float, ...], ...]:
    """The lower-triangular float factor ``F = L sqrt(D)`` of a validated correlation matrix
    (:func:`correlation_matrix`), so that ``F F^T`` is the matrix (singular ones included)."""
    lower, diag = _ldl(matrix)
    roots = [math.sqrt(float(d)) for d in diag]
    n = len(matrix)
    return tuple(tuple(float(lower[i][j]) * roots[j] if j <= i else 0.0 for j in range(n)) for i in range(n))


PriceProcess = ScriptedPath | GBM | JumpDiffusion | Correlated
"""Anything :func:`sample` and :func:`iter_prices` accept."""


class Increments(NamedTuple):
    """The random part of a path: what :func:`log_increments` returns.

    Attributes:
        log_returns: float64 array ``(steps, n)``: ``log(S(t + dt) / S(t))`` per step and
            underlying, before any rounding.
        jumps: int64 array ``(steps, n)``: the number of jumps in each step (zeros for GBM).
    """

    log_returns: np.ndarray
    jumps: np.ndarray


class _Stepper:
    """Draws the log increments of a random process, block after block, from three child streams."""

    def __init__(self, process: GBM | JumpDiffusion | Correlated, rng: object, step_us: int) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                "a random price process needs a numpy.random.Generator (spawned from the scenario"
                f" seed), got {type(rng).__name__}"
            )
        if isinstance(process, Correlated):
            components: tuple[GBM | JumpDiffusion, ...] = process.components
            factor: tuple[tuple[float, ...], ...] | None = process.factor
        else:
            components, factor = (process,), None
        dt = step_us / US_PER_YEAR
        drift, vol, lam, mean, std = [], [], [], [], []
        for c in components:
            mu, sigma = float(c.drift), float(c.volatility)
            if isinstance(c, JumpDiffusion):
                lam_i, m, s = float(c.intensity), float(c.jump_mean), float(c.jump_std)
            else:
                lam_i = m = s = 0.0
            kappa = math.expm1(m + s * s / 2)
            drift.append((mu - lam_i * kappa - sigma * sigma / 2) * dt)
            vol.append(sigma * math.sqrt(dt))
            lam.append(lam_i * dt)
            mean.append(m)
            std.append(s)
        self.n = len(components)
        self.factor = factor
        self.drift, self.vol = np.array(drift), np.array(vol)
        self.lam, self.mean, self.std = np.array(lam), np.array(mean), np.array(std)
        self.jumpy = bool(np.any(self.lam > 0))
        self.start_ticks = tuple(round_to_ticks(Fraction(c.start), Fraction(c.tick_size)) for c in components)
        self.log_start = np.log(
            np.array([float(Fraction(c.start) / Fraction(c.tick_size)) for c in components])
        )
        self.diffusion, self.counts, self.sizes = rng.spawn(3)

    def draw(self, k: int) -> Increments:
        z = self.diffusion.standard_normal((k, self.n))
        if self.factor is not None:
            z = self._correlate(z)
        increments = self.drift + self.vol * z
        if not self.jumpy:
            return Increments(increments, np.zeros((k, self.n), dtype=np.int64))
        counts = self.counts.poisson(self.lam, size=(k, self.n))
        sizes = self.sizes.standard_normal((k, self.n))
        increments = increments + (counts * self.mean + np.sqrt(counts) * self.std * sizes)
        return Increments(increments, counts.astype(np.int64))

    def _correlate(self, z: np.ndarray) -> np.ndarray:
        """``z @ L^T`` as explicit sums in a fixed order (no BLAS, so no platform-dependent order)."""
        out = np.empty_like(z)
        for i, row in enumerate(self.factor or ()):
            acc = row[0] * z[:, 0]
            for j in range(1, i + 1):
                acc = acc + row[j] * z[:, j]
            out[:, i] = acc
        return out


def _check_grid(start_us: object, end_us: object, step_us: object) -> tuple[int, int, int]:
    start = _time(start_us, "start_us")
    end = _time(end_us, "end_us")
    step = _time(step_us, "step_us")
    if step <= 0:
        raise UnitError(
            f"step_us must be a positive number of microseconds, got {step}",
            field="step_us",
            expected="a positive integer number of microseconds",
            got=step,
        )
    if end < start:
        raise UnitError(
            f"end_us {end} is before start_us {start}",
            field="end_us",
            expected=f"an integer number of microseconds >= start_us ({start})",
            got=end,
        )
    return start, end, step


def iter_prices(
    process: PriceProcess, rng: np.random.Generator | None, start_us: int, end_us: int, step_us: int
) -> Iterator[tuple[int, tuple[int, ...]]]:
    """``(time_us, prices in ticks)`` at ``start_us, start_us + step_us, ...`` up to ``end_us``
    (included when on the grid), lazily.

    ``prices`` has one int >= 1 per underlying. A random process starts at its ``start`` price at
    ``start_us``; ``rng`` is required for it (a scripted path ignores it, and ``None`` is fine).
    Arguments are checked at the call, before the first row.
    """
    start, end, step = _check_grid(start_us, end_us, step_us)
    if isinstance(process, ScriptedPath):
        return ((t, (process.price_at(t),)) for t in range(start, end + 1, step))
    if not isinstance(process, GBM | JumpDiffusion | Correlated):
        raise TypeError(f"not a price process: {type(process).__name__}")
    return _random_rows(_Stepper(process, rng, step), start, (end - start) // step, step)


def _random_rows(
    stepper: _Stepper, start: int, steps: int, step: int
) -> Iterator[tuple[int, tuple[int, ...]]]:
    yield start, stepper.start_ticks
    state = stepper.log_start
    time_us = start
    while steps > 0:
        k = min(_BLOCK, steps)
        # one sequential running sum from the carried state: the same floats for any block size
        path = np.cumsum(np.vstack([state, stepper.draw(k).log_returns]), axis=0)
        state = path[-1]
        ticks = np.rint(np.exp(path[1:]))
        if not np.all(ticks <= MAX_TICKS):  # also catches inf and nan
            row = int(np.argmin(np.all(ticks <= MAX_TICKS, axis=1)))
            raise UnitError(
                f"the price path exceeds {MAX_TICKS} ticks at time {time_us + (row + 1) * step} us;"
                " use a larger tick size, a smaller drift or volatility, or a shorter run",
                expected=f"prices of at most {MAX_TICKS} ticks",
            )
        for row in np.maximum(ticks, 1.0).astype(np.int64).tolist():
            time_us += step
            yield time_us, tuple(row)
        steps -= k


def sample(
    process: PriceProcess, rng: np.random.Generator | None, start_us: int, end_us: int, step_us: int
) -> list[tuple[int, tuple[int, ...]]]:
    """:func:`iter_prices` as a list.

    >>> path = ScriptedPath(((0, "10"), (4, "12")), tick_size="1", interpolation="linear")
    >>> sample(path, None, 0, 4, 1)
    [(0, (10,)), (1, (10,)), (2, (11,)), (3, (12,)), (4, (12,))]
    """
    return list(iter_prices(process, rng, start_us, end_us, step_us))


def log_increments(
    process: GBM | JumpDiffusion | Correlated, rng: np.random.Generator, steps: int, step_us: int
) -> Increments:
    """The first ``steps`` log returns (and jump counts) :func:`sample` would draw from ``rng``.

    For statistics and tests: ``sample(process, rng, 0, steps * step_us, step_us)`` with a
    generator in the same state emits ``round(start_ticks x exp(cumulative sum))`` of these.
    """
    if not isinstance(process, GBM | JumpDiffusion | Correlated):
        raise TypeError(f"not a random price process: {type(process).__name__}")
    _check_grid(0, 0, step_us)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UnitError(
            f"steps must be an integer >= 0, got {steps!r}",
            field="steps",
            expected="an integer >= 0",
            got=steps,
        )
    return _Stepper(process, rng, step_us).draw(steps)


# CSV replay -----------------------------------------------------------------------------------


class PriceFileError(UnitError):
    """A price CSV file is wrong. ``str(err)`` is one line: ``file: line N: expected ..., got ...``.

    Attributes:
        source: the file path as given.
        line: the 1-based line number, or ``None`` for the file as a whole (unreadable).
        field: the column (``"time"``, ``"time_us"``, ``"price"``) or ``None`` for a whole line.
        expected: what was expected, in words.
        got: the offending text, quoted, or ``"end of file"``; ``None`` when there is none.
    """

    def __init__(
        self, source: str, line: int | None, expected: str, got: str | None = None, column: str | None = None
    ) -> None:
        super().__init__("", field=column, expected=expected, got=got)
        self.args = (source, line, expected, got, column)
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}: line {self.line}"
        tail = "" if self.got is None else f", got {self.got}"
        return f"{where}: expected {self.expected}{tail}"


_HEADERS = {("time", "price"): "time", ("time_us", "price"): "time_us"}
_HEADER_EXPECTED = 'a header row "time,price" (time in seconds) or "time_us,price" (integer microseconds)'
_SECONDS_EXPECTED = 'a time in seconds >= 0 with at most 6 decimals, such as "12.5"'
_MICROS_EXPECTED = "a time in integer microseconds >= 0"
_GOT_LIMIT = 80


def _quote(text: str) -> str:
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= _GOT_LIMIT else shown[: _GOT_LIMIT - 4] + '..."'


def load_csv(
    path: str | os.PathLike[str], tick_size: Number, interpolation: Interpolation | str = Interpolation.STEP
) -> ScriptedPath:
    """Read a CSV file of prices into a :class:`ScriptedPath`.

    The file is UTF-8 text: a header row, then one ``time,price`` row per line (blank lines are
    skipped). The header names the time unit: ``time,price`` for seconds as a decimal string
    (``"12.000250"``, at most 6 decimals: exact microseconds) or ``time_us,price`` for integer
    microseconds. Times are >= 0 and strictly increase; prices are positive decimals in settlement
    units, rounded to ticks by :func:`round_to_ticks`. At least one data row.

    Raises :class:`PriceFileError` naming the file, the line and what was expected, e.g.
    ``prices.csv: line 7: expected a positive decimal price, got "abc"``.
    """
    source = os.fsdecode(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PriceFileError(
            source, None, "a readable CSV file", f"{type(exc).__name__} ({exc.strerror or exc})"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PriceFileError(source, line, "UTF-8 text", repr(raw[exc.start : exc.start + 1])) from None
    points = _read_rows(text, source)
    return ScriptedPath(tuple(points), tick_size, interpolation)


def _read_rows(text: str, source: str) -> list[tuple[int, Fraction]]:
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # numbered as editors do
    rows = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        raise PriceFileError(source, 1, _HEADER_EXPECTED, "end of file")
    header_line, header_text = rows[0]
    header = tuple(cell.strip().lower() for cell in next(csv.reader([header_text])))
    unit = _HEADERS.get(header)
    if unit is None:
        raise PriceFileError(source, header_line, _HEADER_EXPECTED, _quote(header_text))
    if len(rows) == 1:
        raise PriceFileError(source, header_line + 1, "at least one data row after the header", "end of file")
    points: list[tuple[int, Fraction]] = []
    previous_line, previous_time = 0, ""
    for number, line in rows[1:]:
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if len(cells) != 2:
            raise PriceFileError(
                source,
                number,
                f"2 columns ({unit},price)",
                f"{len(cells)} column{'s' * (len(cells) != 1)}: {_quote(line)}",
            )
        time_text, price_text = cells
        time_us = _read_time(time_text, unit, source, number)
        if points and time_us <= points[-1][0]:
            raise PriceFileError(
                source,
                number,
                f"a time after {previous_time} (line {previous_line}): times must strictly increase",
                _quote(time_text),
                unit,
            )
        try:
            price = parse_decimal(price_text)
        except UnitError:
            price = Fraction(0)
        if price <= 0:
            raise PriceFileError(source, number, _PRICE_EXPECTED, _quote(price_text), "price")
        points.append((time_us, price))
        previous_line, previous_time = number, time_text
    return points


def _read_time(text: str, unit: str, source: str, line: int) -> int:
    if unit == "time_us":
        if not text.isascii() or not text.isdigit():
            raise PriceFileError(source, line, _MICROS_EXPECTED, _quote(text), unit)
        return int(text)
    try:
        exact = parse_decimal(text) * US_PER_SECOND
    except UnitError:
        exact = Fraction(-1)
    if exact < 0 or exact.denominator != 1:
        raise PriceFileError(source, line, _SECONDS_EXPECTED, _quote(text), unit)
    return exact.numerator
