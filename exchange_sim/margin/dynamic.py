"""Dynamic margin: requirements that follow realised volatility, within a floor and a cap.

Every ``interval_us`` the market feed (:mod:`exchange_sim.market_feed`) estimates each
underlying's volatility from its recent index returns and sends the venue one ``MARGIN_RATES``
input (journal code 16) with a **scale** per underlying (ppm: ``1_000_000`` is the configured
rates) and, for portfolio rules that use VaR, the estimated covariance. The venue then charges

* cross and isolated accounts: every bracket rate of every contract on the underlying times its
  scale (:meth:`BracketSchedule.scaled <exchange_sim.margin.brackets.BracketSchedule.scaled>`),
  initial and maintenance alike;
* portfolio accounts: the stress grid's scan range of the underlying times its scale, and VaR
  with the estimated covariance (:meth:`PortfolioRules.scaled
  <exchange_sim.margin.portfolio.PortfolioRules.scaled>`).

The estimate is RiskMetrics' exponentially weighted covariance of log returns
(:func:`~exchange_sim.margin.portfolio.ewma_covariance`), annualised from the feed's step; the
scale of underlying ``u`` is::

    scale_u = clamp(ceil_to_quantum(sigma_u / reference_vol_u), floor, cap)

A change is sent only when some scale or the covariance changed. Because the scales are inputs
in the journal, replay does not estimate anything: it applies the same numbers. Accounts pushed
below maintenance by a change are liquidated by the venue's rules like any other, after
``grace_us`` if one is configured.

Sources (learned from, no code taken):

* CME Group, "CME Clearing margin methodology" / SPAN: scan ranges are reset from observed
  volatility, subject to floors (https://www.cmegroup.com/clearing/risk-management/span-overview.html).
* J.P. Morgan/Reuters, *RiskMetrics - Technical Document*, 4th ed., 1996: the exponentially
  weighted volatility estimate, decay 0.94.
* Deribit, "Portfolio Margin" (volatility-dependent risk parameters):
  https://support.deribit.com/hc/en-us/articles/25944756247837-Portfolio-Margin
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange_sim.margin.portfolio import ewma_covariance
from exchange_sim.units import PPM, UnitError, require_key, validate_symbol

__all__ = ["MAX_SCALE_PPM", "DynamicMargin"]

MAX_SCALE_PPM = 100 * PPM
"""The largest scale a ``MARGIN_RATES`` input may carry (100x)."""


def _int(value: object, name: str, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UnitError(f"{name} must be {what}, got {value!r}", field=name, expected=what, got=value)
    return value


@dataclass(frozen=True, slots=True)
class DynamicMargin:
    """How margin rates follow realised volatility (module docstring).

    Attributes:
        interval_us: how often the scales are recomputed (microseconds, >= 1).
        reference_vol_ppm: ``(underlying, annual volatility in ppm)`` pairs: the volatility at
            which the configured rates apply (scale 1x). Underlyings not listed keep 1x.
        window: how many index returns (one per feed step) the estimate uses (>= 2).
        lam_ppm: the EWMA decay per return, ppm (RiskMetrics: 940_000).
        floor_ppm, cap_ppm: the scale is kept within ``[floor, cap]`` (default 1x to 3x: rates
            never fall below the configured ones).
        quantum_ppm: scales are rounded up to a multiple of this (default 1%), so that small
            wobbles of the estimate do not change the rates.
        grace_us: an account pushed below maintenance by a rate change is left alone this long
            (0: liquidated at once).
    """

    interval_us: int
    reference_vol_ppm: tuple[tuple[str, int], ...]
    window: int = 100
    lam_ppm: int = 940_000
    floor_ppm: int = PPM
    cap_ppm: int = 3 * PPM
    quantum_ppm: int = 10_000
    grace_us: int = 0

    def __post_init__(self) -> None:
        _int(self.interval_us, "interval_us", 1, 2**62, "a positive number of microseconds")
        refs = self.reference_vol_ppm
        if not isinstance(refs, tuple) or not refs:
            raise UnitError(
                "reference_vol_ppm must be a non-empty tuple of (underlying, ppm) pairs",
                field="reference_vol_ppm",
                expected="one (underlying, annual volatility in ppm) pair per underlying",
            )
        seen = set()
        for entry in refs:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise UnitError(
                    f"reference_vol_ppm entry must be (underlying, ppm), got {entry!r}",
                    field="reference_vol_ppm",
                )
            name = validate_symbol(entry[0], "underlying", field="reference_vol_ppm")
            if name in seen:
                raise UnitError(f"reference_vol_ppm lists {name} twice", field="reference_vol_ppm")
            seen.add(name)
            _int(
                entry[1], "reference_vol_ppm", 1, 100 * PPM, "an annual volatility in ppm from 1 to 100000000"
            )
        _int(self.window, "window", 2, 10**7, "an integer number of returns >= 2")
        _int(self.lam_ppm, "lam_ppm", 1, PPM - 1, f"a decay in ppm from 1 to {PPM - 1}")
        _int(self.floor_ppm, "floor_ppm", 1, MAX_SCALE_PPM, f"a scale in ppm from 1 to {MAX_SCALE_PPM}")
        _int(
            self.cap_ppm,
            "cap_ppm",
            self.floor_ppm,
            MAX_SCALE_PPM,
            f"a scale in ppm from floor_ppm to {MAX_SCALE_PPM}",
        )
        _int(self.quantum_ppm, "quantum_ppm", 1, PPM, f"a step in ppm from 1 to {PPM}")
        _int(self.grace_us, "grace_us", 0, 2**62, "a number of microseconds >= 0")

    @property
    def underlyings(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.reference_vol_ppm)

    def scale_of(self, vol: float, reference_ppm: int) -> int:
        """``clamp(ceil_to_quantum(vol / reference), floor, cap)`` in ppm, for an annual volatility
        ``vol`` (a fraction: 0.8 is 80%)."""
        raw = vol * PPM * PPM / reference_ppm if math.isfinite(vol) else float(self.cap_ppm)
        q = self.quantum_ppm
        stepped = min(float(self.cap_ppm), math.ceil(raw / q) * q) if raw > 0 else 0.0
        return max(self.floor_ppm, min(self.cap_ppm, int(stepped)))

    def volatility(self, log_returns: Sequence[float], step_us: int) -> float:
        """The annual volatility (a fraction) of one underlying: the square root of RiskMetrics'
        exponentially weighted variance of its log returns (oldest first, one per ``step_us``)."""
        cov = ewma_covariance(
            np.asarray(log_returns, dtype=np.float64)[:, None], self.lam_ppm / PPM, step_us=step_us
        )
        return math.sqrt(max(0.0, float(cov[0, 0])))

    def scales(self, windows: Mapping[str, Sequence[float]], step_us: int) -> dict[str, int]:
        """The scale of every underlying of :attr:`reference_vol_ppm` with at least two returns in
        ``windows`` (log returns per underlying), in ppm."""
        return {
            name: self.scale_of(self.volatility(windows[name], step_us), reference)
            for name, reference in self.reference_vol_ppm
            if len(windows.get(name, ())) >= 2
        }

    def to_config(self) -> dict[str, Any]:
        return {
            "interval_us": self.interval_us,
            "reference_vol_ppm": [[name, ppm] for name, ppm in self.reference_vol_ppm],
            "window": self.window,
            "lam_ppm": self.lam_ppm,
            "floor_ppm": self.floor_ppm,
            "cap_ppm": self.cap_ppm,
            "quantum_ppm": self.quantum_ppm,
            "grace_us": self.grace_us,
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> DynamicMargin:
        what = "dynamic margin"
        refs = require_key(data, "reference_vol_ppm", what)
        if not isinstance(refs, list | tuple):
            raise UnitError(f"{what}: reference_vol_ppm must be a list", field="reference_vol_ppm")
        return cls(
            require_key(data, "interval_us", what),
            tuple(tuple(pair) if isinstance(pair, list | tuple) else pair for pair in refs),  # type: ignore[misc]
            window=data.get("window", 100),
            lam_ppm=data.get("lam_ppm", 940_000),
            floor_ppm=data.get("floor_ppm", PPM),
            cap_ppm=data.get("cap_ppm", 3 * PPM),
            quantum_ppm=data.get("quantum_ppm", 10_000),
            grace_us=data.get("grace_us", 0),
        )
