"""Portfolio margin: one requirement for an account from the loss of its whole portfolio under stress.

Cross margin (:mod:`exchange_sim.margin.cross`) charges every position on its own and adds the
charges up, so a hedge pays twice. Portfolio margin values the whole portfolio under a set of
market moves and charges the worst loss: a long and a short on the same underlying offset, and
positions on correlated underlyings offset in part. ``docs/portfolio-margin.md`` is the guide;
this docstring is the reference.

Exposures. Positions are linear (futures, perpetuals, spot): a position's value is
``size_lots x mark_ticks x atoms_per_tick_per_lot`` settlement atoms (as in cross margin), and
a relative move ``m`` of its underlying's price changes it by ``value x m``. The account's
**exposure** to an underlying is the sum of the values of its positions on that underlying
(signed delta notional, :func:`delta_exposures`), and under a scenario ``m`` (one relative move
per underlying, fractions: ``-0.1`` is a 10% fall) the portfolio loses::

    loss(m) = - sum over underlyings u of exposure_u x m_u          (positive = a loss)

:func:`portfolio_loss` computes it for many scenarios at once (``(S, U)`` moves), and for many
accounts at once as one float64 matrix product (``(A, U) x (U, S) -> (A, S)``).

Methods (each returns integer atoms):

* :func:`stress_requirement`: the worst weighted loss over a :class:`StressGrid` (a SPAN-style
  scan of each underlying, extreme moves counted at a fraction, optional joint moves drawn from a
  correlation matrix), never below a floor of ``floor_ppm_of_gross`` of the gross notional.
* :func:`parametric_var`: delta-normal value at risk ``z x sqrt(e' Sigma e x h)``.
* :func:`historical_var`: the loss at a confidence level over a window of past moves.
* :class:`PortfolioRules`: a venue's configuration: method (``"stress"``, ``"var"`` or the
  ``"max"`` of both), parameters, and maintenance as a fraction of the initial requirement.

Exactness (DESIGN.md, "Units and numbers"). Scenario moves, covariances and returns are float64:
numpy evaluates thousands of scenarios per account with one matrix product. The requirement is
nevertheless an exact integer, rounded up (against the account), and does not depend on the
order in which BLAS sums:

* the exact moves are rational: a single-underlying move is exactly ``k x scan_ppm / (n x PPM)``
  (an extreme one ``+-multiple x scan_ppm / PPM``), a joint move is exactly its float64 value (a
  binary fraction). The exact weighted loss of a scenario is a rational number computed with
  Python integers;
* float64 only *screens*: for a dot product of ``U`` terms the computed loss is within
  ``(U + 2) x 2**-53 x sum |e_u m_u|`` of the exact one, in any summation order (Higham,
  *Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002, section 3.1); with the
  roundings of the exposures, the moves and the weight, the code uses more than twice this bound,
  ``b = (U + 8) x 2**-52 x w x sum |e_u| |m_u|``. Every scenario whose interval
  ``[loss - b, loss + b]`` can hold the worst is then evaluated exactly, and the requirement is
  the ceiling of the exact worst. Float error can only make the set of candidates larger, never
  change the result;
* parametric VaR computes ``e' Sigma e`` exactly (the float covariance as exact binary
  fractions, the exposures as integers) and takes an exact integer square root; ``z`` is the
  float64 normal quantile rounded *up* by 4 units in the last place, so the requirement is never
  below the one with the true ``z`` (:func:`normal_quantile`).

The moves themselves are float64 results (eigenvectors, normalised draws): the same inputs give
the same requirement on the same platform with the pinned numpy (``constraints.txt``), as for the
random price paths of :mod:`exchange_sim.prices`.

Sources (learned from these pages, no code taken from them):

* CME Group, "CME SPAN Methodology Overview" (the worst loss of the portfolio over risk scenarios
  built from a price scan range): https://www.cmegroup.com/clearing/risk-management/span-overview.html
* The 16 standard SPAN risk scenarios (price moves of 0, +-1/3, +-2/3, +-3/3 of the price scan range
  with volatility up and down, and two extreme moves of +-2 ranges of which 35% of the loss is
  counted), e.g. Lovely Professional University, *Financial Derivatives* (DCOM510), table 12.1:
  http://eslm.lpude.in/commerce/mcom/term_4/DCOM510_FINANCIAL_DERIVATIVES/files/basic-html/page193.html
  and CME's SPAN file reference, "Risk Scenarios Report" (scenarios 15 and 16 have no pair; the
  weight is the fraction of the scenario's loss counted).
* Deribit, "Portfolio Margin" (the portfolio is stress tested against scenarios, the worst
  performing one sets the requirement; price moves such as +-16% in evenly spaced buckets;
  extended moves counted at a fraction):
  https://support.deribit.com/hc/en-us/articles/25944756247837-Portfolio-Margin
  and the older https://www.deribit.com/pages/docs/portfoliomargin ("the maximum loss that can
  occur in a portfolio", a contingency of a percentage of the underlying value for offsetting
  futures: the floor on gross notional here).
* OKX, "OKX will further adjust portfolio margin parameters" (2025: MR1 spot shock +-0/4/8/12% for
  BTC and ETH, MR6 extreme move +-24%):
  help-centre article ``okx-will-further-adjust-portfolio-margin-parameters``, read through a copy at
  https://okx-api.aperture.finance/ru/help/okx-will-further-adjust-portfolio-margin-parameters
* Paradex, "Portfolio Margin" (SCAN risk is the maximum weighted loss across scenarios; the
  maintenance requirement is 50% of the initial):
  https://docs.paradex.trade/risk/portfolio-margin
* Parametric (variance-covariance, delta-normal) VaR, ``VaR = z x sigma x |exposure|`` for one
  position and ``z x sqrt(w' Sigma w)`` for several: Investopedia, "What Is the Variance-Covariance
  Matrix or Parametric Method in Value at Risk (VaR)?":
  https://www.investopedia.com/ask/answers/041715/what-variancecovariance-matrix-or-parametric-method-value-risk-var.asp
* J.P. Morgan/Reuters, *RiskMetrics - Technical Document*, 4th ed., 1996: the exponentially
  weighted moving average of squared returns and cross products, decay factor 0.94 for daily
  data (chapter 5; section numbers not checked, so not given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from statistics import NormalDist
from typing import Any

import numpy as np

from exchange_sim.instruments import Instrument
from exchange_sim.prices import US_PER_YEAR, correlation_factor, correlation_matrix, positive_semidefinite
from exchange_sim.units import PPM, UnitError, ceil_div, charge_ppm, require_key, validate_symbol

__all__ = [
    "METHODS",
    "VAR_MODELS",
    "PortfolioRules",
    "StressGrid",
    "delta_exposures",
    "ewma_covariance",
    "historical_var",
    "normal_quantile",
    "parametric_var",
    "portfolio_loss",
    "stress_requirement",
    "stress_requirements",
    "validate_window",
    "worst_loss",
]

METHODS = ("stress", "var", "max")
"""The methods :class:`PortfolioRules` accepts."""
VAR_MODELS = ("parametric", "historical")
"""How :class:`PortfolioRules` computes value at risk."""

_QUANTILE_ULPS = 4
""":func:`normal_quantile` rounds the float64 quantile up by this many units in the last place."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(value: object, name: str, low: int, high: int, what: str) -> int:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise UnitError(f"{name} must be {what}, got {value!r}", field=name, expected=what, got=value)
    return value  # type: ignore[return-value]


def _ints(exposures: Sequence[int]) -> list[int]:
    out = []
    for x in exposures:
        if not (_is_int(x) or isinstance(x, np.integer)):
            raise UnitError(
                f"exposures must be integer atoms, got {x!r}", field="exposures", expected="integer atoms"
            )
        out.append(int(x))
    return out


# exposures and losses --------------------------------------------------------------------------


def delta_exposures(
    sizes: Mapping[str, int], marks: Mapping[str, int], instruments: Mapping[str, Instrument]
) -> dict[str, int]:
    """Signed delta notional per underlying, in settlement atoms (exact integers).

    ``exposure[u] = sum over instruments on u of size x mark x atoms_per_tick_per_lot``: the
    values cross margin counts in equity, summed per underlying. Zero sizes are skipped.
    """
    out: dict[str, int] = {}
    for symbol, size in sizes.items():
        if size:
            inst = instruments[symbol]
            out[inst.underlying] = (
                out.get(inst.underlying, 0) + size * marks[symbol] * inst.atoms_per_tick_per_lot
            )
    return out


def _as_float(exposures: Any) -> np.ndarray:
    """Integer exposures (``(U,)`` or ``(A, U)``, Python ints of any size) as float64."""
    if isinstance(exposures, np.ndarray) and exposures.dtype != object:
        return exposures.astype(np.float64)
    return np.array(exposures, dtype=object).astype(np.float64)  # float() of each: no int64 overflow


def portfolio_loss(exposures: Any, scenarios: np.ndarray) -> np.ndarray:
    """Loss of each scenario (positive = a loss), float64, vectorised.

    ``exposures``: ``(U,)`` atoms per underlying, or ``(A, U)`` for ``A`` accounts. ``scenarios``:
    ``(S, U)`` relative moves. Returns ``(S,)`` or ``(A, S)``: ``-(exposures @ scenarios.T)``.

    >>> portfolio_loss([30_000, -10_000], np.array([[-0.1, 0.0], [0.1, 0.1]]))
    array([ 3000., -2000.])
    """
    moves = np.asarray(scenarios, dtype=np.float64)
    return -(_as_float(exposures) @ moves.T)


def worst_loss(exposures: Any, scenarios: np.ndarray, weights_ppm: Any = None) -> Any:
    """The largest weighted loss over the scenarios (float64; 0 when every scenario gains).

    ``weights_ppm``: ``(S,)`` weight of each scenario in ppm (default: all ``PPM``, i.e. 100%).
    For ``(U,)`` exposures a float, for ``(A, U)`` an ``(A,)`` array. A screen, not a requirement:
    :func:`stress_requirement` is the exact, rounded-up one.
    """
    losses = portfolio_loss(exposures, scenarios)
    if weights_ppm is not None:
        losses = losses * (np.asarray(weights_ppm, dtype=np.float64) / PPM)
    worst = np.maximum(losses.max(axis=-1, initial=0.0), 0.0)
    return float(worst) if worst.ndim == 0 else worst


# the stress grid -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StressGrid:
    """The scenarios of a stress scan: SPAN-style ladders, weighted extremes, optional joint moves.

    Attributes:
        underlyings: names of the underlyings, in column order (unique symbols, at least one).
        scan_ppm: the price scan range of each underlying, in ppm of its price (``100_000``: 10%),
            from 1 to ``PPM - 1``.
        steps: ``n`` >= 1: each underlying moves by ``k / n`` of its scan range for
            ``k = -n, ..., -1, 1, ..., n`` (SPAN: ``n = 3``; OKX's MR1 for BTC: 12% in ``n = 3``).
        extreme_multiple: extreme moves are ``+-extreme_multiple x scan`` (SPAN: 2); the product
            is at most 100% so that no price goes below zero.
        extreme_weight_ppm: the fraction of an extreme move's loss that counts (SPAN: 35%,
            ``350_000``); 0 leaves the extreme moves out.
        correlation: ``None`` (default), or a ``U x U`` correlation matrix of decimals (validated
            exactly as :class:`exchange_sim.prices.Correlated` does). Without it the underlyings
            do not offset: the requirement is the sum over underlyings of each one's worst loss
            (each underlying a separate risk unit, as SPAN's combined commodities before
            inter-commodity credits). With it, joint moves are added on the boundary of the
            correlation ellipsoid ``{m : m' (D R D)^-1 m <= 1}`` (``D = diag(scan)``), and the
            requirement is the worst loss over all scenarios, single and joint, so that
            correlated underlyings offset but never below a single underlying's own full move.
        principal: with a correlation, add the ellipsoid's principal axes ``+-sqrt(lambda_i) v_i``
            (eigenpairs of ``D R D``) as joint directions (default ``True``).
        joint_draws: with a correlation, add this many directions drawn from
            ``numpy.random.default_rng(seed)``: standard normal ``z``, normalised to length 1,
            mapped to ``D F z`` with ``F F' = R`` (the exact factor of :mod:`exchange_sim.prices`).
        seed: the seed of those draws (an integer >= 0).

    Every joint direction ``d`` is laddered like a single move: ``k / n x d`` for ``k = +-1..+-n``.
    Rows are, in order: the single-underlying ladders (underlying by underlying, ``k`` from
    ``-n`` to ``n``), the extreme moves (``-``, ``+`` per underlying), the principal axes, the drawn
    directions. :meth:`scenarios`, :attr:`weights_ppm` and :attr:`units` describe the same rows.

    >>> grid = StressGrid(("BTC",), (100_000,), steps=2)
    >>> grid.scenarios().ravel().tolist()
    [-0.1, -0.05, 0.05, 0.1, -0.2, 0.2]
    >>> grid.weights_ppm.tolist(), grid.units.tolist()
    ([1000000, 1000000, 1000000, 1000000, 350000, 350000], [0, 0, 0, 0, 0, 0])
    """

    underlyings: tuple[str, ...]
    scan_ppm: tuple[int, ...]
    steps: int = 3
    extreme_multiple: int = 2
    extreme_weight_ppm: int = 350_000
    correlation: tuple[tuple[Any, ...], ...] | None = None
    principal: bool = True
    joint_draws: int = 0
    seed: int = 0
    _moves: np.ndarray = field(init=False, repr=False, compare=False)
    _weights: np.ndarray = field(init=False, repr=False, compare=False)
    _units: np.ndarray = field(init=False, repr=False, compare=False)
    _exact: tuple[tuple[tuple[int, ...], int], ...] = field(init=False, repr=False, compare=False)
    _directions: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.underlyings
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise UnitError(
                f"underlyings must be a non-empty sequence of names, got {names!r}",
                field="underlyings",
                expected="a non-empty sequence of unique underlying names",
            )
        names = tuple(validate_symbol(u, "underlying", field="underlyings") for u in names)
        if len(set(names)) != len(names):
            raise UnitError(
                f"underlyings must be unique, got {names!r}",
                field="underlyings",
                expected="a non-empty sequence of unique underlying names",
            )
        n = len(names)
        scans = self.scan_ppm
        if isinstance(scans, str) or not isinstance(scans, Sequence) or len(scans) != n:
            raise UnitError(
                f"scan_ppm must have one range per underlying ({n}), got {scans!r}",
                field="scan_ppm",
                expected=f"{n} integer ranges in ppm from 1 to {PPM - 1}",
            )
        scans = tuple(
            _int_in(s, "scan_ppm", 1, PPM - 1, f"an integer range in ppm from 1 to {PPM - 1}") for s in scans
        )
        steps = _int_in(self.steps, "steps", 1, 1_000, "an integer number of steps from 1 to 1000")
        multiple = _int_in(self.extreme_multiple, "extreme_multiple", 1, PPM, "an integer multiple >= 1")
        weight = _int_in(
            self.extreme_weight_ppm, "extreme_weight_ppm", 0, PPM, f"a weight in ppm from 0 to {PPM}"
        )
        if weight and multiple * max(scans) > PPM:
            raise UnitError(
                f"extreme_multiple x scan_ppm must be at most {PPM} (a 100% fall), got"
                f" {multiple} x {max(scans)}",
                field="extreme_multiple",
                expected=f"a multiple with extreme_multiple x scan_ppm <= {PPM}",
                got=multiple,
            )
        draws = _int_in(self.joint_draws, "joint_draws", 0, 10**7, "an integer number of draws >= 0")
        seed = _int_in(self.seed, "seed", 0, 2**128, "an integer seed >= 0")
        if not isinstance(self.principal, bool):
            raise UnitError(f"principal must be a bool, got {self.principal!r}", field="principal")
        matrix = None if self.correlation is None else correlation_matrix(self.correlation, n)
        if matrix is None and draws:
            raise UnitError(
                "joint_draws needs a correlation matrix",
                field="joint_draws",
                expected="0 without a correlation",
            )
        object.__setattr__(self, "underlyings", names)
        object.__setattr__(self, "scan_ppm", scans)
        object.__setattr__(self, "correlation", matrix)

        scan = np.array(scans, dtype=np.float64) / PPM
        rows: list[np.ndarray] = []
        weights: list[int] = []
        units: list[int] = []
        exact: list[tuple[tuple[int, ...], int]] = []  # single moves: exactly k x scan_ppm / (n x PPM)
        ladder = [k for k in range(-steps, steps + 1) if k]
        for u in range(n):
            for k in ladder:
                row = np.zeros(n)
                row[u] = k * scans[u] / (steps * PPM)
                rows.append(row)
                weights.append(PPM)
                units.append(u)
                exact.append((tuple(k * scans[u] if j == u else 0 for j in range(n)), steps * PPM))
        if weight:
            for u in range(n):
                for sign in (-1, 1):
                    row = np.zeros(n)
                    row[u] = sign * multiple * scans[u] / PPM
                    rows.append(row)
                    weights.append(weight)
                    units.append(u)
                    exact.append((tuple(sign * multiple * scans[u] if j == u else 0 for j in range(n)), PPM))
        directions: list[np.ndarray] = []
        if matrix is not None:
            if self.principal:
                cov = np.array([[float(x) for x in r] for r in matrix]) * np.outer(scan, scan)
                values, vectors = np.linalg.eigh(cov)
                for i in range(n):
                    if values[i] > 0:
                        directions.append(math.sqrt(values[i]) * vectors[:, i])
            if draws:
                factor = correlation_factor(matrix)
                z = np.random.default_rng(seed).standard_normal((draws, n))
                z /= np.sqrt((z * z).sum(axis=1))[:, None]
                mapped = np.empty((draws, n))
                for i, frow in enumerate(factor):  # D F z, explicit sums in a fixed order (no BLAS)
                    acc = frow[0] * z[:, 0]
                    for j in range(1, i + 1):
                        acc = acc + frow[j] * z[:, j]
                    mapped[:, i] = scan[i] * acc
                directions.extend(mapped)
        joint = np.array(directions, dtype=np.float64).reshape(len(directions), n)
        joint.setflags(write=False)
        object.__setattr__(self, "_directions", joint)
        for d in directions:
            for k in ladder:
                row = (k / steps) * d
                rows.append(row)
                weights.append(PPM)
                units.append(-1)
                exact.append(_exact_row(row.tolist()))  # a joint move is its float value, exactly
        moves = np.array(rows, dtype=np.float64).reshape(len(rows), n)
        moves.setflags(write=False)
        w = np.array(weights, dtype=np.int64)
        w.setflags(write=False)
        un = np.array(units, dtype=np.int64)
        un.setflags(write=False)
        object.__setattr__(self, "_moves", moves)
        object.__setattr__(self, "_weights", w)
        object.__setattr__(self, "_units", un)
        object.__setattr__(self, "_exact", tuple(exact))

    def to_config(self) -> dict[str, Any]:
        """The grid as plain data (the journal header); :meth:`from_config` reads it back."""
        return {
            "underlyings": list(self.underlyings),
            "scan_ppm": list(self.scan_ppm),
            "steps": self.steps,
            "extreme_multiple": self.extreme_multiple,
            "extreme_weight_ppm": self.extreme_weight_ppm,
            "correlation": None
            if self.correlation is None
            else [[_decimal_text(x) for x in row] for row in self.correlation],
            "principal": self.principal,
            "joint_draws": self.joint_draws,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> StressGrid:
        what = "stress grid"
        return cls(
            tuple(require_key(data, "underlyings", what)),
            tuple(require_key(data, "scan_ppm", what)),
            steps=require_key(data, "steps", what),
            extreme_multiple=require_key(data, "extreme_multiple", what),
            extreme_weight_ppm=require_key(data, "extreme_weight_ppm", what),
            correlation=data.get("correlation"),
            principal=data.get("principal", True),
            joint_draws=data.get("joint_draws", 0),
            seed=data.get("seed", 0),
        )

    def scaled(self, scales_ppm: Mapping[str, int]) -> StressGrid:
        """The grid with each underlying's scan range multiplied by its scale (ppm; missing: 1x),
        rounded up and capped so that the grid stays valid (below 100%, and extreme moves at most
        a 100% fall). Dynamic margin (:mod:`exchange_sim.margin.dynamic`) uses it."""
        cap = PPM // self.extreme_multiple if self.extreme_weight_ppm else PPM - 1
        cap = min(cap, PPM - 1)
        scans = tuple(
            max(1, min(cap, ceil_div(scan * scales_ppm.get(u, PPM), PPM)))
            for u, scan in zip(self.underlyings, self.scan_ppm, strict=True)
        )
        if scans == self.scan_ppm:
            return self
        return StressGrid(
            self.underlyings,
            scans,
            steps=self.steps,
            extreme_multiple=self.extreme_multiple,
            extreme_weight_ppm=self.extreme_weight_ppm,
            correlation=self.correlation,
            principal=self.principal,
            joint_draws=self.joint_draws,
            seed=self.seed,
        )

    @property
    def weights_ppm(self) -> np.ndarray:
        """``(S,)`` int64: the weight of each row in ppm (``PPM`` but for the extreme moves)."""
        return self._weights

    @property
    def directions(self) -> np.ndarray:
        """``(J, U)`` float64: the joint directions (principal axes, then draws); each is laddered
        into ``2 x steps`` rows, of which ``+d`` itself (``k = steps``) is the farthest."""
        return self._directions

    @property
    def units(self) -> np.ndarray:
        """``(S,)`` int64: the index of the one underlying a row moves, or -1 for a joint move."""
        return self._units

    def scenarios(self, underlyings: Sequence[str] | None = None) -> np.ndarray:
        """``(S, U)`` float64 relative moves (read-only), columns in the order of ``underlyings``.

        ``underlyings``: names of the grid (default: all of them, in the grid's order); a name
        the grid does not have raises :class:`UnitError`. Rows whose moves are all outside the
        selection are kept (as zero moves) so that rows line up with :attr:`weights_ppm`.
        Deterministic: the same grid gives the same array.
        """
        if underlyings is None:
            return self._moves
        return self._moves[:, self._columns(underlyings)]

    def _columns(self, underlyings: Iterable[str]) -> list[int]:
        index = {u: i for i, u in enumerate(self.underlyings)}
        try:
            return [index[u] for u in underlyings]
        except KeyError as exc:
            raise UnitError(
                f"underlying {exc.args[0]!r} is not in the stress grid {self.underlyings!r}",
                field="underlyings",
                expected=f"names among {', '.join(self.underlyings)}",
                got=exc.args[0],
            ) from None

    def vector(self, exposures: Mapping[str, int] | Sequence[int]) -> list[int]:
        """Exposures as a list of ints in the grid's order (a mapping: missing names are 0)."""
        if isinstance(exposures, Mapping):
            self._columns(exposures)  # unknown names raise
            out = [exposures.get(u, 0) for u in self.underlyings]
        else:
            out = list(exposures)
            if len(out) != len(self.underlyings):
                raise UnitError(
                    f"exposures must have one value per underlying ({len(self.underlyings)}), got {len(out)}",
                    field="exposures",
                    expected=f"{len(self.underlyings)} integer exposures in atoms",
                )
        for x in out:
            if not _is_int(x):
                raise UnitError(
                    f"exposures must be integer atoms, got {x!r}", field="exposures", expected="integer atoms"
                )
        return out


def _decimal_text(x: Fraction) -> str:
    """A terminating decimal fraction as its exact decimal text (correlations are read from decimals)."""
    with localcontext() as ctx:
        ctx.prec = 200
        text = format(Decimal(x.numerator) / Decimal(x.denominator), "f")
    assert Fraction(text) == x, x
    return text


def _exact_row(row: list[float]) -> tuple[tuple[int, ...], int]:
    """A row of float moves as exact integers over one power-of-two denominator."""
    ratios = [x.as_integer_ratio() for x in row]
    den = max(q for _, q in ratios)
    return tuple(p * (den // q) for p, q in ratios), den


# exact evaluation from a float screen ----------------------------------------------------------


def _screen(e_float: np.ndarray, moves: np.ndarray, weights_ppm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float losses ``(A, S)`` and bounds ``b`` with ``|float - exact| <= b`` (see module docstring)."""
    w = weights_ppm.astype(np.float64) / PPM
    losses = -(e_float @ moves.T) * w
    n = moves.shape[1]
    bounds = ((n + 8) * 2.0**-52) * ((np.abs(e_float) @ np.abs(moves).T) * w) + 1e-300
    return losses, bounds


def _exact_loss(e: Sequence[int], exact: tuple[tuple[int, ...], int], weight_ppm: int) -> Fraction:
    nums, den = exact
    return Fraction(-weight_ppm * sum(x * p for x, p in zip(e, nums, strict=True)), PPM * den)


def _kth_largest(
    e: Sequence[int], losses: np.ndarray, bounds: np.ndarray, rows: np.ndarray, grid_rows: Any, k: int
) -> Fraction:
    """The exact ``k``-th largest weighted loss (1 = the worst) among ``rows``.

    ``grid_rows(r)`` gives ``(exact row, weight_ppm)``. Only the rows whose float interval can hold
    the ``k``-th value are evaluated exactly; the others are certainly above or below it.
    """
    lo, hi = losses[rows] - bounds[rows], losses[rows] + bounds[rows]
    kth_lo = np.sort(lo)[-k]
    kth_hi = np.sort(hi)[-k]
    above = int(np.count_nonzero(lo > kth_hi))
    candidates = rows[(hi >= kth_lo) & (lo <= kth_hi)]
    values = sorted((_exact_loss(e, *grid_rows(r)) for r in candidates.tolist()), reverse=True)
    return values[k - 1 - above]


def _gross(e: Sequence[int], gross_notional: int | None) -> int:
    if gross_notional is None:
        return sum(abs(x) for x in e)
    if not _is_int(gross_notional) or gross_notional < 0:
        raise UnitError(
            f"gross_notional must be an integer number of atoms >= 0, got {gross_notional!r}",
            field="gross_notional",
            expected="an integer number of atoms >= 0",
        )
    return gross_notional


def _stress_one(e: list[int], grid: StressGrid, losses: np.ndarray, bounds: np.ndarray) -> Fraction:
    """The exact worst (weighted) loss, >= 0, for one account's screened losses."""
    exact, weights, units = grid._exact, grid._weights, grid._units

    def rows_of(r: int) -> tuple[tuple[tuple[int, ...], int], int]:
        return exact[r], int(weights[r])

    if not any(e):
        return Fraction(0)
    if grid.correlation is None:  # separate risk units: the sum of each underlying's worst
        total = Fraction(0)
        for u in range(len(grid.underlyings)):
            if e[u]:
                total += max(
                    Fraction(0), _kth_largest(e, losses, bounds, np.flatnonzero(units == u), rows_of, 1)
                )
        return total
    return max(Fraction(0), _kth_largest(e, losses, bounds, np.arange(len(units)), rows_of, 1))


def stress_requirement(
    exposures: Mapping[str, int] | Sequence[int],
    grid: StressGrid,
    floor_ppm_of_gross: int = 0,
    *,
    gross_notional: int | None = None,
) -> int:
    """The stress requirement of one account, in atoms: exact, rounded up.

    ``max(ceil(worst), ceil(gross x floor_ppm_of_gross / PPM))`` where ``worst`` is the exact
    worst weighted loss over ``grid`` (summed over underlyings when the grid has no correlation,
    see :class:`StressGrid`), at least 0. ``exposures``: atoms per underlying, a mapping by name
    or a sequence in the grid's order. ``gross_notional``: the sum of the absolute values of the
    positions (default: ``sum |exposure_u|``); pass it so that the floor also charges positions
    that offset on one underlying (Deribit's contingency for offsetting futures).

    >>> grid = StressGrid(("BTC",), (100_000,))
    >>> stress_requirement({"BTC": 30_000_000_000}, grid)  # 10% of 30,000 USDC (6 decimals)
    3000000000
    """
    e = grid.vector(exposures)
    floor = _int_in(floor_ppm_of_gross, "floor_ppm_of_gross", 0, PPM, f"a rate in ppm from 0 to {PPM}")
    losses, bounds = _screen(_as_float([e]), grid._moves, grid._weights)
    worst = _stress_one(e, grid, losses[0], bounds[0])
    return max(ceil_div(worst.numerator, worst.denominator), charge_ppm(_gross(e, gross_notional), floor))


def stress_requirements(
    exposures: Sequence[Mapping[str, int] | Sequence[int]],
    grid: StressGrid,
    floor_ppm_of_gross: int = 0,
    *,
    gross_notionals: Sequence[int | None] | None = None,
) -> list[int]:
    """:func:`stress_requirement` of many accounts: one ``(A, U) x (U, S)`` float64 product screens
    every account and scenario, then each account's worst is confirmed exactly. Same results."""
    floor = _int_in(floor_ppm_of_gross, "floor_ppm_of_gross", 0, PPM, f"a rate in ppm from 0 to {PPM}")
    vectors = [grid.vector(x) for x in exposures]
    if not vectors:
        return []
    gross = list(gross_notionals) if gross_notionals is not None else [None] * len(vectors)
    losses, bounds = _screen(_as_float(vectors), grid._moves, grid._weights)
    out = []
    for a, e in enumerate(vectors):
        worst = _stress_one(e, grid, losses[a], bounds[a])
        out.append(max(ceil_div(worst.numerator, worst.denominator), charge_ppm(_gross(e, gross[a]), floor)))
    return out


# value at risk ---------------------------------------------------------------------------------


def normal_quantile(confidence_ppm: int) -> float:
    """``z`` for a one-sided confidence level: the standard normal quantile, rounded up.

    :meth:`statistics.NormalDist.inv_cdf` (Wichura's algorithm AS241, about 16 significant digits)
    of ``confidence_ppm / PPM``, then raised by 4 units in the last place so that it is not below
    the true quantile. ``confidence_ppm`` is from 500_001 to 999_999 (above 50%, below 100%).

    >>> normal_quantile(990_000)  # the true 99% quantile is 2.32634787404084110...
    2.3263478740408425
    """
    c = _int_in(
        confidence_ppm, "confidence_ppm", PPM // 2 + 1, PPM - 1, "a confidence in ppm from 500001 to 999999"
    )
    z = NormalDist().inv_cdf(c / PPM)
    for _ in range(_QUANTILE_ULPS):
        z = math.nextafter(z, math.inf)
    return z


def _ceil_sqrt(x: Fraction) -> int:
    """The smallest integer ``N >= 0`` with ``N**2 >= x``, exactly (``x >= 0``)."""
    p, q = x.numerator, x.denominator
    r = math.isqrt(p // q)  # = floor(sqrt(x))
    return r if r * r * q >= p else r + 1


def _covariance(covariance: Any, n: int) -> np.ndarray:
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (n, n) or not np.all(np.isfinite(cov)) or not np.array_equal(cov, cov.T):
        raise UnitError(
            f"covariance must be a finite symmetric {n} x {n} matrix, got shape {cov.shape}",
            field="covariance",
            expected=f"a finite symmetric {n} x {n} matrix of annual covariances of log returns",
        )
    return cov


def parametric_var(
    exposures: Sequence[int], covariance: Any, confidence_ppm: int = 990_000, horizon_us: int = 86_400_000_000
) -> int:
    """Delta-normal value at risk in atoms, rounded up: ``ceil(z x sqrt(e' Sigma e x h))``.

    Units: ``exposures`` atoms per underlying (ints); ``covariance`` the ``U x U`` covariance of
    log returns **per 365-day year** (``sigma**2`` on the diagonal: ``0.64`` for 80% volatility,
    as the volatilities of :mod:`exchange_sim.prices`); ``horizon_us`` microseconds, ``h =
    horizon_us / US_PER_YEAR`` years (default one day); ``z = normal_quantile(confidence_ppm)``.
    For small moves a position's loss is ``-exposure x log return`` (the delta-normal
    approximation), so the loss is normal with standard deviation ``sqrt(e' Sigma e x h)``.

    Exact: ``z**2 x e' Sigma e x h`` is computed as a rational number (every float is an exact
    binary fraction) and its ceiling square root is exact. A covariance that makes ``e' Sigma e``
    negative (not positive semi-definite) raises :class:`UnitError`.

    >>> parametric_var([30_000_000_000], [[0.64]])  # 30,000 USDC, 80% a year, 1 day, 99%
    2922398711
    """
    e = _ints(exposures)
    cov = _covariance(covariance, len(e))
    h = _int_in(horizon_us, "horizon_us", 0, 100 * US_PER_YEAR, "a horizon in microseconds >= 0")
    z = Fraction(normal_quantile(confidence_ppm))
    quad = Fraction(0)
    for i, ei in enumerate(e):
        if ei:
            quad += ei * sum((Fraction(float(cov[i, j])) * ej for j, ej in enumerate(e) if ej), Fraction(0))
    if quad < 0:
        raise UnitError(
            "covariance is not positive semi-definite: e' Sigma e is negative for these exposures",
            field="covariance",
            expected="a positive semi-definite covariance matrix",
        )
    return _ceil_sqrt(z * z * quad * Fraction(h, US_PER_YEAR))


def ewma_covariance(returns: Any, lam: float = 0.94, *, step_us: int | None = None) -> np.ndarray:
    """RiskMetrics' exponentially weighted covariance of returns (zero mean), float64 ``(U, U)``.

    ``returns``: ``(T, U)`` returns per step, oldest first. The weights decay by ``lam`` per step
    back and are normalised to sum to 1 (the finite-window form)::

        Sigma = (1 - lam) / (1 - lam**T) x sum over t of lam**(T - 1 - t) x r_t r_t'

    which is the recursion ``Sigma_t = lam Sigma_(t-1) + (1 - lam) r_t r_t'`` with the weight of
    the start spread over the window. RiskMetrics uses ``lam = 0.94`` for daily returns.
    ``step_us``: if given, the covariance is per 365-day year (multiplied by
    ``US_PER_YEAR / step_us``), what :func:`parametric_var` takes.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0 or not np.all(np.isfinite(r)):
        raise UnitError("returns must be a finite (T, U) array with T >= 1", field="returns")
    if not 0.0 < float(lam) < 1.0:
        raise UnitError(
            f"lam must be in (0, 1), got {lam!r}", field="lam", expected="a decay factor in (0, 1)"
        )
    t = r.shape[0]
    weights = lam ** np.arange(t - 1, -1, -1, dtype=np.float64)
    weights *= (1.0 - lam) / (1.0 - lam**t)
    cov = (r * weights[:, None]).T @ r
    cov = (cov + cov.T) / 2  # exactly symmetric
    if step_us is not None:
        cov = cov * (US_PER_YEAR / _int_in(step_us, "step_us", 1, US_PER_YEAR, "a step in microseconds >= 1"))
    return cov


def validate_window(rows: Any, n: int) -> tuple[tuple[float, ...], ...]:
    """``rows`` as a validated ``T x n`` window of relative moves (finite floats above -1, T >= 1),
    a tuple of rows of floats; :class:`~exchange_sim.units.UnitError` otherwise."""
    window = np.asarray(rows, dtype=np.float64) if not isinstance(rows, str | bytes) else np.zeros(0)
    if window.ndim != 2 or window.shape[0] == 0 or window.shape[1] != n or not np.all(np.isfinite(window)):
        raise UnitError(
            f"returns_window must be a finite (T, {n}) array with T >= 1",
            field="returns_window",
            expected=f"T >= 1 rows of {n} relative moves (fractions above -1)",
        )
    if np.any(window <= -1.0):
        raise UnitError(
            "returns_window moves must be above -1 (a fall of less than 100%)",
            field="returns_window",
            expected=f"T >= 1 rows of {n} relative moves (fractions above -1)",
        )
    return tuple(tuple(float(x) for x in row) for row in window.tolist())


def historical_var(exposures: Sequence[int], returns_window: Any, confidence_ppm: int = 990_000) -> int:
    """Historical-simulation value at risk in atoms: a past move's exact loss, rounded up.

    ``returns_window``: ``(T, U)`` relative moves (fractions, as scenarios; pass
    ``numpy.expm1(log_returns)`` for log returns). The losses of the ``T`` moves are sorted from
    the worst; with ``k = floor(T x (PPM - confidence_ppm) / PPM)`` losses allowed above the
    value at risk, it is the ``(k + 1)``-th worst (99% over 250 days: ``k = 2``, the third
    worst), at least 0. Exact as :func:`stress_requirement`: floats screen, integers decide.

    >>> historical_var([1_000], [[-0.125], [-0.25], [0.0625]], 500_001)  # k = 1: the 2nd worst
    125
    """
    e = _ints(exposures)
    moves = np.asarray(returns_window, dtype=np.float64)
    if moves.ndim != 2 or moves.shape[1] != len(e) or moves.shape[0] == 0 or not np.all(np.isfinite(moves)):
        raise UnitError(
            f"returns_window must be a finite (T, {len(e)}) array with T >= 1",
            field="returns_window",
            expected=f"a (T, {len(e)}) array of relative moves",
        )
    c = _int_in(
        confidence_ppm, "confidence_ppm", PPM // 2 + 1, PPM - 1, "a confidence in ppm from 500001 to 999999"
    )
    t = moves.shape[0]
    k = min(t * (PPM - c) // PPM, t - 1)
    weights = np.full(t, PPM, dtype=np.int64)
    losses, bounds = _screen(_as_float([e]), moves, weights)
    rows = moves.tolist()

    def row(r: int) -> tuple[tuple[tuple[int, ...], int], int]:
        return _exact_row(rows[r]), PPM

    value = max(Fraction(0), _kth_largest(e, losses[0], bounds[0], np.arange(t), row, k + 1))
    return ceil_div(value.numerator, value.denominator)


# a venue's rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortfolioRules:
    """How a venue sets an account's portfolio-margin requirements.

    Attributes:
        underlyings: the underlyings, in the order of exposure vectors and of ``covariance``.
        method: ``"stress"`` (the :class:`StressGrid`), ``"var"`` (:func:`parametric_var`) or
            ``"max"`` (the larger of the two).
        grid: the stress grid (required by ``"stress"`` and ``"max"``); it must have every name
            of ``underlyings``.
        covariance: ``U x U`` annual covariance of log returns (required by ``"var"`` and ``"max"``),
            kept as a tuple of rows of floats.
        confidence_ppm, horizon_us: of the VaR (default 99%, one day).
        var_model: ``"parametric"`` (default: :func:`parametric_var` of ``covariance``) or
            ``"historical"`` (:func:`historical_var` over ``returns_window``; the parametric VaR
            of ``covariance`` while there is no window yet).
        returns_window: for ``"historical"``: ``T x U`` relative moves of the underlyings over
            the horizon (fractions above -1, oldest first), kept as a tuple of rows of floats;
            dynamic margin's feed replaces it with the simulated run's own (``MARGIN_RATES``).
        floor_ppm_of_gross: the initial requirement is at least this fraction of gross notional.
        maintenance_ppm_of_initial: maintenance is this fraction of initial, rounded up (default
            50%, as Paradex; Deribit's model parameters show ``mm_factor`` 0.8), from 1 to ``PPM``.

    >>> rules = PortfolioRules(("BTC",), "stress", grid=StressGrid(("BTC",), (100_000,)))
    >>> rules.requirements({"BTC": -30_000_000_000})
    (3000000000, 1500000000)
    """

    underlyings: tuple[str, ...]
    method: str = "stress"
    grid: StressGrid | None = None
    covariance: Any = None
    confidence_ppm: int = 990_000
    horizon_us: int = 86_400_000_000
    floor_ppm_of_gross: int = 0
    maintenance_ppm_of_initial: int = 500_000
    var_model: str = "parametric"
    returns_window: Any = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.underlyings, str)
            or not isinstance(self.underlyings, Sequence)
            or not self.underlyings
        ):
            raise UnitError("underlyings must be a non-empty sequence of names", field="underlyings")
        names = tuple(validate_symbol(u, "underlying", field="underlyings") for u in self.underlyings)
        if len(set(names)) != len(names):
            raise UnitError(f"underlyings must be unique, got {names!r}", field="underlyings")
        object.__setattr__(self, "underlyings", names)
        if self.method not in METHODS:
            raise UnitError(
                f"method must be one of {', '.join(METHODS)}, got {self.method!r}",
                field="method",
                expected='one of "stress", "var", "max"',
                got=self.method,
            )
        if self.method in ("stress", "max"):
            if not isinstance(self.grid, StressGrid):
                raise UnitError(f"method {self.method!r} needs a StressGrid", field="grid")
            self.grid._columns(names)
        if self.method in ("var", "max"):
            if self.covariance is None:
                raise UnitError(f"method {self.method!r} needs a covariance", field="covariance")
            cov = _covariance(self.covariance, len(names))
            if not positive_semidefinite(cov.tolist()):
                raise UnitError(
                    "covariance is not positive semi-definite",
                    field="covariance",
                    expected="a positive semi-definite covariance matrix",
                )
            object.__setattr__(
                self, "covariance", tuple(tuple(float(x) for x in row) for row in cov.tolist())
            )
            normal_quantile(self.confidence_ppm)
            _int_in(self.horizon_us, "horizon_us", 0, 100 * US_PER_YEAR, "a horizon in microseconds >= 0")
        if self.var_model not in VAR_MODELS:
            raise UnitError(
                f"var_model must be one of {', '.join(VAR_MODELS)}, got {self.var_model!r}",
                field="var_model",
                expected='"parametric" or "historical"',
                got=self.var_model,
            )
        if self.returns_window is not None:
            if self.var_model != "historical" or self.method == "stress":
                raise UnitError(
                    "returns_window is used only by historical VaR",
                    field="returns_window",
                    expected='var_model "historical" with method "var" or "max"',
                )
            object.__setattr__(self, "returns_window", validate_window(self.returns_window, len(names)))
        _int_in(self.floor_ppm_of_gross, "floor_ppm_of_gross", 0, PPM, f"a rate in ppm from 0 to {PPM}")
        _int_in(
            self.maintenance_ppm_of_initial,
            "maintenance_ppm_of_initial",
            1,
            PPM,
            f"a fraction in ppm from 1 to {PPM}",
        )

    def _vector(self, exposures: Mapping[str, int] | Sequence[int]) -> list[int]:
        if isinstance(exposures, Mapping):
            unknown = [u for u in exposures if u not in self.underlyings]
            if unknown:
                raise UnitError(f"underlying {unknown[0]!r} is not in the rules", field="underlyings")
            return [exposures.get(u, 0) for u in self.underlyings]
        out = list(exposures)
        if len(out) != len(self.underlyings):
            raise UnitError(f"exposures must have {len(self.underlyings)} values", field="exposures")
        return out

    def parts(
        self, exposures: Mapping[str, int] | Sequence[int], *, gross_notional: int | None = None
    ) -> tuple[int | None, int | None, int]:
        """``(stress, var, floor)`` in atoms, exact, rounded up: the worst loss over the grid
        (``None`` unless the method uses it), the value at risk (historical over
        ``returns_window`` when there is one, else parametric; ``None`` unless the method uses
        it) and the floor on gross notional. :meth:`initial` is the largest of them."""
        e = self._vector(exposures)
        floor = charge_ppm(_gross(e, gross_notional), self.floor_ppm_of_gross)
        stress = var = None
        if self.method in ("stress", "max") and self.grid is not None:
            stress = stress_requirement(dict(zip(self.underlyings, e, strict=True)), self.grid, 0)
        if self.method in ("var", "max"):
            if self.returns_window is not None:
                var = historical_var(e, self.returns_window, self.confidence_ppm)
            else:
                var = parametric_var(e, self.covariance, self.confidence_ppm, self.horizon_us)
        return stress, var, floor

    def initial(
        self, exposures: Mapping[str, int] | Sequence[int], *, gross_notional: int | None = None
    ) -> int:
        """The initial requirement in atoms (exact, rounded up), at least the floor."""
        return max(part for part in self.parts(exposures, gross_notional=gross_notional) if part is not None)

    def maintenance_of(self, initial: int) -> int:
        """``ceil(initial x maintenance_ppm_of_initial / PPM)``."""
        return charge_ppm(initial, self.maintenance_ppm_of_initial)

    def requirements(
        self, exposures: Mapping[str, int] | Sequence[int], *, gross_notional: int | None = None
    ) -> tuple[int, int]:
        """``(initial, maintenance)`` in atoms."""
        initial = self.initial(exposures, gross_notional=gross_notional)
        return initial, self.maintenance_of(initial)

    def to_config(self) -> dict[str, Any]:
        """The rules as plain data (the journal header); :meth:`from_config` reads them back."""
        return {
            "underlyings": list(self.underlyings),
            "method": self.method,
            "grid": None if self.grid is None else self.grid.to_config(),
            "covariance": None if self.covariance is None else [list(row) for row in self.covariance],
            "confidence_ppm": self.confidence_ppm,
            "horizon_us": self.horizon_us,
            "floor_ppm_of_gross": self.floor_ppm_of_gross,
            "maintenance_ppm_of_initial": self.maintenance_ppm_of_initial,
            **({"var_model": self.var_model} if self.var_model != "parametric" else {}),
            **({"returns_window": [list(r) for r in self.returns_window]} if self.returns_window else {}),
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> PortfolioRules:
        what = "portfolio margin rules"
        grid = data.get("grid")
        return cls(
            tuple(require_key(data, "underlyings", what)),
            require_key(data, "method", what),
            grid=None if grid is None else StressGrid.from_config(grid),
            covariance=data.get("covariance"),
            confidence_ppm=data.get("confidence_ppm", 990_000),
            horizon_us=data.get("horizon_us", 86_400_000_000),
            floor_ppm_of_gross=data.get("floor_ppm_of_gross", 0),
            maintenance_ppm_of_initial=data.get("maintenance_ppm_of_initial", 500_000),
            var_model=data.get("var_model", "parametric"),
            returns_window=data.get("returns_window"),
        )

    def scaled(
        self, scales_ppm: Mapping[str, int], covariance: Any = None, returns: Any = None
    ) -> PortfolioRules:
        """The rules under dynamic margin: the grid's scan ranges times ``scales_ppm``
        (:meth:`StressGrid.scaled`) and, for VaR, ``covariance`` if given (an estimate of recent
        returns) else the configured one with each underlying's volatility times its scale; for
        historical VaR, ``returns`` (the run's own window) if given."""
        grid = None if self.grid is None else self.grid.scaled(scales_ppm)
        cov = self.covariance
        if self.method in ("var", "max"):
            if covariance is not None:
                cov = covariance
            else:
                factor = np.array([scales_ppm.get(u, PPM) / PPM for u in self.underlyings])
                cov = np.asarray(self.covariance) * np.outer(factor, factor)
        return PortfolioRules(
            self.underlyings,
            self.method,
            grid=grid,
            covariance=cov,
            confidence_ppm=self.confidence_ppm,
            horizon_us=self.horizon_us,
            floor_ppm_of_gross=self.floor_ppm_of_gross,
            maintenance_ppm_of_initial=self.maintenance_ppm_of_initial,
            var_model=self.var_model,
            returns_window=returns if returns is not None else self.returns_window,
        )
