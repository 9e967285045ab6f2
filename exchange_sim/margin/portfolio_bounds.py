"""Cheap bounds on a portfolio-margin requirement: what the per-fill gate and the scan need.

:meth:`PortfolioRules.initial <exchange_sim.margin.portfolio.PortfolioRules.initial>` is the exact
requirement, but it screens every grid row with numpy and confirms the worst with rational
arithmetic: tens of microseconds, too slow for every fill. Two facts make it cheap:

* **Linear positions.** Futures and perpetuals are linear in their underlying, so the loss of a
  laddered row ``(k / n) x d`` is ``(k / n)`` times the loss of ``d``. Over ``k = -n..-1, 1..n`` the
  worst is ``|loss(d)| = |e . d|``, reached at ``k = +-n``; the inner rows never decide. A single
  underlying's ladder and its extreme moves then give the exact coefficient

      c_u = scan_u x max(PPM, extreme_weight x extreme_multiple) / PPM**2

  so that its worst loss is ``|e_u| x c_u`` (an integer division, no float). Without a
  correlation the stress requirement is ``ceil(sum_u |e_u| x c_u)``: exact and O(U).
* **Deciding, not computing.** With a correlation the joint directions ``d_j`` (float64, see
  :class:`~exchange_sim.margin.portfolio.StressGrid`) add ``max_j |e . d_j|``, and VaR adds
  ``z sqrt(e' Sigma e h)``. Both are computed in float64 with a proven error bound, giving
  integers ``low <= initial <= high``. A fill is accepted at once when equity is at least
  ``high``; only when equity falls between ``low`` and ``high`` (a few atoms apart) does the
  caller ask the exact requirement.

Error bounds (``u = 2**-53``): a dot product of ``U`` terms in float64, with the inputs rounded
once, is within ``(U + 8) x 2u x sum |e_u| |d_u|`` of the exact value (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., 2002, section 3.1, with room for the roundings of
``e``); the code doubles it. For VaR the quadratic form's bound is ``(U**2 + 8) x 2u x sum |e_i|
|Sigma_ij| |e_j|``, and ``z x sqrt(q h)`` adds four roundings, covered by a relative ``2**-40``
and one atom each way. ``tests/test_portfolio_bounds.py`` checks ``low <= exact <= high`` on
random portfolios and the scan's :meth:`RequirementBounds.maintenance_upper` against the exact
maintenance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from exchange_sim.margin.portfolio import PortfolioRules, normal_quantile
from exchange_sim.prices import US_PER_YEAR
from exchange_sim.units import PPM, ceil_div, charge_ppm

__all__ = ["RequirementBounds"]

_DOT = 2.0**-52
_REL = 2.0**-40
_SCAN_REL = 2.0**-36
"""The scan's relative slack: its exposures are themselves float sums (module docstring)."""


class RequirementBounds:
    """Integer bounds on :meth:`PortfolioRules.initial` for linear positions (module docstring).

    Exposure vectors are in the order of ``rules.underlyings``.
    """

    __slots__ = (
        "_coefficients",
        "_column_max",
        "_cov",
        "_cov_abs_max",
        "_direction_abs_max",
        "_directions",
        "_floor_rate",
        "_h",
        "_quick",
        "_sigmas",
        "_window",
        "_z",
        "correlated",
        "rules",
        "stress",
        "var",
    )

    def __init__(self, rules: PortfolioRules) -> None:
        self.rules = rules
        self.stress = rules.method in ("stress", "max")
        self.var = rules.method in ("var", "max")
        names = rules.underlyings
        grid = rules.grid
        self._coefficients: tuple[int, ...] = ()
        """Per underlying, ``scan x max(PPM, weight x multiple)``: ``c_u`` times ``PPM**2``."""
        self._directions: tuple[tuple[float, ...], ...] = ()
        self._column_max: tuple[float, ...] = ()
        """Per underlying, the largest ``|d_ju|`` over the joint directions (the quick bound)."""
        self.correlated = False
        self._direction_abs_max = 0.0
        if self.stress:
            assert grid is not None
            columns = grid._columns(names)
            factor = max(
                PPM, grid.extreme_weight_ppm * grid.extreme_multiple if grid.extreme_weight_ppm else 0
            )
            self._coefficients = tuple(grid.scan_ppm[c] * factor for c in columns)
            self.correlated = grid.correlation is not None
            if self.correlated:
                joint = grid.directions[:, columns]
                self._directions = tuple(tuple(float(x) for x in row) for row in joint.tolist())
                self._direction_abs_max = float(np.abs(joint).max()) if joint.size else 0.0
                self._column_max = tuple(
                    float(x) for x in (np.abs(joint).max(axis=0) if joint.size else np.zeros(len(names)))
                )
        self._cov: tuple[tuple[float, ...], ...] = ()
        self._cov_abs_max = 0.0
        self._z = self._h = 0.0
        self._sigmas: tuple[float, ...] = ()
        self._window: np.ndarray | None = None
        """Historical VaR's window of moves, ``(T, U)`` (``None``: parametric VaR)."""
        if self.var and rules.returns_window is not None:
            self._window = np.array(rules.returns_window, dtype=np.float64)
        if self.var:
            self._cov = rules.covariance
            self._cov_abs_max = max(abs(x) for row in self._cov for x in row)
            self._z = normal_quantile(rules.confidence_ppm)
            self._h = rules.horizon_us / US_PER_YEAR
            self._sigmas = tuple(math.sqrt(max(0.0, row[u])) for u, row in enumerate(self._cov))
        quick = [0.0] * len(names)
        for u in range(len(names)):
            if self.stress:
                quick[u] = max(
                    self._coefficients[u] / (PPM * PPM), self._column_max[u] if self.correlated else 0.0
                )
            if self.var and self._window is not None:  # a past move's loss is at most sum |e_u r_u|
                quick[u] = max(quick[u], float(np.abs(self._window[:, u]).max()))
            elif self.var:
                quick[u] = max(quick[u], self._z * self._sigmas[u] * math.sqrt(self._h))
        self._quick = tuple(quick)
        """Per underlying, ``k_u`` of :meth:`quick_high`."""
        self._floor_rate = rules.floor_ppm_of_gross / PPM

    # one account ------------------------------------------------------------------------

    def stress_bounds(self, e: Sequence[int]) -> tuple[int, int]:
        """``(low, high)`` of the stress requirement before the floor (exact when ``low == high``)."""
        coefficients = self._coefficients
        if not self.correlated:
            total = 0
            for x, c in zip(e, coefficients, strict=True):
                total += (x if x >= 0 else -x) * c
            value = ceil_div(total, PPM * PPM)
            return value, value
        single = 0
        for x, c in zip(e, coefficients, strict=True):
            t = (x if x >= 0 else -x) * c
            if t > single:
                single = t
        single = ceil_div(single, PPM * PPM)
        worst = 0.0
        spread = 0.0
        floats = [float(x) for x in e]
        for d in self._directions:
            dot = 0.0
            size = 0.0
            for x, y in zip(floats, d, strict=True):
                dot += x * y
                size += abs(x * y)
            if dot < 0:
                dot = -dot
            if dot > worst:
                worst = dot
            if size > spread:
                spread = size
        slack = 2 * (len(floats) + 8) * _DOT * spread + 1e-300
        low = max(single, math.floor(worst - slack))
        high = max(single, math.ceil(worst + slack))
        return low, high

    def var_bounds(self, e: Sequence[int]) -> tuple[int, int]:
        """``(low, high)`` of the parametric VaR (:func:`~exchange_sim.margin.portfolio.parametric_var`);
        for historical VaR ``(0, sum |e_u| max_t |r_tu|)``, so that the exact value is computed
        whenever equity is below that."""
        if self._window is not None:
            size = sum(abs(x) * k for x, k in zip(e, self._quick, strict=True))
            return 0, math.ceil(size * (1 + _REL)) + 1
        floats = [float(x) for x in e]
        q = 0.0
        spread = 0.0
        for x, row in zip(floats, self._cov, strict=True):
            if x:
                for y, c in zip(floats, row, strict=True):
                    term = x * c * y
                    q += term
                    spread += abs(term)
        slack = 2 * (len(floats) ** 2 + 8) * _DOT * spread
        zh = self._z
        high = math.ceil(zh * math.sqrt((q + slack) * self._h) * (1 + _REL)) + 1
        low = max(0, math.floor(zh * math.sqrt(max(0.0, q - slack) * self._h) * (1 - _REL)) - 1)
        return low, high

    def quick_high(self, e: Sequence[int], gross: int) -> float:
        """An upper bound of the initial requirement in O(U), coarser than :meth:`initial_bounds`:
        ``sum_u |e_u| k_u`` with ``k_u`` the largest of ``c_u``, ``max_j |d_ju|`` (as
        ``|e . d| <= sum_u |e_u| |d_u|``) and ``z sigma_u sqrt(h)`` (as ``sqrt(e' Sigma e) <=
        sum_u |e_u| sigma_u`` for a positive semi-definite Sigma), or the floor if larger; in
        float, raised by a relative ``2**-40`` and 2 atoms. Equity at least this needs nothing
        more."""
        size = 0.0
        for x, k in zip(e, self._quick, strict=True):
            size += (x if x >= 0 else -x) * k
        floor = gross * self._floor_rate
        return (size if size > floor else floor) * (1 + _REL) + 2.0

    def initial_bounds(self, e: Sequence[int], gross: int) -> tuple[int, int]:
        """``(low, high)`` with ``low <= rules.initial(e, gross_notional=gross) <= high``."""
        floor = charge_ppm(gross, self.rules.floor_ppm_of_gross)
        low = high = floor
        if self.stress:
            lo, hi = self.stress_bounds(e)
            low, high = max(low, lo), max(high, hi)
        if self.var:
            lo, hi = self.var_bounds(e)
            low, high = max(low, lo), max(high, hi)
        return low, high

    # every account at once (the liquidation scan) -------------------------------------------

    def maintenance_upper(self, exposures: np.ndarray, gross: np.ndarray) -> np.ndarray:
        """``(A,)`` float64 upper bounds of the exact maintenance requirement of ``A`` accounts.

        ``exposures``: ``(A, U)`` float64 exposures; ``gross``: ``(A,)`` float64 sums of the
        absolute position values, both computed in float from the exact ones (each within a
        relative ``2**-45`` of the sum of absolute values it adds, which the slack covers)."""
        rules = self.rules
        size = np.abs(exposures).sum(axis=1) + gross
        initial = gross * (rules.floor_ppm_of_gross / PPM)
        if self.stress:
            c = np.array(self._coefficients, dtype=np.float64) / (PPM * PPM)
            single = np.abs(exposures) * c
            stress = single.max(axis=1, initial=0.0) if self.correlated else single.sum(axis=1)
            if self.correlated and self._directions:
                joint = np.abs(exposures @ np.array(self._directions).T).max(axis=1)
                stress = np.maximum(stress, joint)
            initial = np.maximum(initial, stress)
            size *= 1.0 + max(c.max(initial=0.0), self._direction_abs_max)
        if self.var and self._window is not None:  # the (k + 1)-th worst past move, as historical_var
            window = self._window
            t = window.shape[0]
            k = min(t * (PPM - rules.confidence_ppm) // PPM, t - 1)
            losses = -(exposures @ window.T)
            kth = np.partition(losses, t - 1 - k, axis=1)[:, t - 1 - k] if losses.shape[0] else losses[:, 0]
            slack = _SCAN_REL * np.abs(exposures).sum(axis=1) * float(np.abs(window).max()) + 2.0
            initial = np.maximum(initial, np.maximum(kth, 0.0) + slack)
        elif self.var:
            cov = np.array(self._cov, dtype=np.float64)
            q = np.einsum("au,uv,av->a", exposures, cov, exposures)
            q += _SCAN_REL * self._cov_abs_max * size * size
            var = self._z * np.sqrt(np.maximum(q, 0.0) * self._h)
            initial = np.maximum(initial, var)
        initial = initial * (1 + _SCAN_REL) + _SCAN_REL * size + 2.0
        return initial * (rules.maintenance_ppm_of_initial / PPM) * (1 + _SCAN_REL) + 2.0
