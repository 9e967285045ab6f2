"""Tiered margin brackets of one instrument: requirements that grow with the position's notional.

A schedule is an ordered list of notional bands. Band ``i`` starts at ``floor_i`` atoms of the
settlement asset (``floor_0 = 0``, floors strictly increasing) and applies to every notional
``floor_i <= notional < floor_(i+1)``; the last band has no upper end. Each band has a
maintenance rate and an initial rate, in ppm. The requirement of a notional in band ``i`` is::

    requirement = notional x rate_i - deduction_i

where the cumulative deduction (Binance: "maintenance amount", Hyperliquid: "maintenance
deduction") makes the requirement a continuous function of notional::

    deduction_0 = 0
    deduction_i = deduction_(i-1) + floor_i x (rate_i - rate_(i-1))

Equivalently (the "tax bracket" reading), the requirement charges each slice of the notional at
its own band's rate: ``sum over bands j of rate_j x (the part of notional inside band j)``.

Sources of the formula (learned from these pages, no code taken from them):

* Binance, "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts" (Maintenance Margin =
  Position Notional x Maintenance Margin Rate - Maintenance Amount; the Maintenance Amount
  formula, with the worked example "Maintenance Amount on Level 3 = 250,000 x (1% - 0.5%) + 50 =
  1,300 USDT" for BTCUSDT):
  https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-usd%E2%93%A2-m-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93
* Binance, "Leverage and Margin of USDⓈ-M Futures" (maintenance margin computed in a "tax bracket"
  setup): https://www.binance.com/en/support/articles/360033162192
* Binance, "Updates to Leverage and Margin Tiers of Binance Futures Contracts (2021-03-18)" (the
  BTCUSDT tier table, maintenance and initial rates, used in ``tests/test_brackets.py``):
  https://www.binance.com/tr/support/announcement/86cf9aa472574b8cb2e05bb751c2a9a6
* Hyperliquid, "Margin tiers" (the same formula; the deduction is defined so that the total
  maintenance margin is a continuous function of position size):
  https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers

Both venues publish the continuous deduction for the *maintenance* schedule. This module gives the
*initial* schedule its own deduction, built the same way from the initial rates: a project choice
(at both venues the initial margin is notional / chosen leverage, capped by the band's maximum
leverage), so that the initial requirement too is continuous and never jumps at a band floor.

Exact arithmetic (DESIGN.md, "Units and numbers"). Notional is in atoms and rates in ppm, so
``notional x rate`` is in *scaled* units: atoms x ``PPM`` (millionths of an atom). Deductions are
kept in the same scaled units, where they are exact integers (``floor x rate difference``), and
the requirement in atoms is ``ceil((notional x rate - deduction) / PPM)``: one rounding, at the
end, upward, because a requirement is charged to the account. It is never below the exact value
and less than one atom above it. No float enters; Python integers do not overflow (int64 would:
notional in atoms times a ppm rate does not fit).

Notional is the absolute position value in settlement atoms: callers pass
``abs(size_lots) x mark_ticks x atoms_per_tick_per_lot`` (see
:meth:`exchange_sim.instruments.Instrument.notional`).

>>> schedule = BracketSchedule.create([
...     Bracket(0, maintenance_ppm=10_000, initial_ppm=20_000),
...     Bracket(10_000_000_000, maintenance_ppm=25_000, initial_ppm=50_000),
...     Bracket(100_000_000_000, maintenance_ppm=50_000, initial_ppm=100_000),
... ])
>>> schedule.bracket_index(40_000_000_000)
1
>>> schedule.maintenance(40_000_000_000), schedule.initial(40_000_000_000)
(850000000, 1700000000)
>>> schedule.deductions()[1]  # 150 and 300 units of the asset (6 decimals), scaled by PPM
(150000000000000, 300000000000000)
>>> schedule.maintenance(40_000_000_001)  # 850.000000025 units, rounded up to the next atom
850000001
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from operator import attrgetter
from typing import Any

from exchange_sim.units import PPM, UnitError, ceil_div, require_key

FLOOR_EXPECTED = "an integer number of settlement-asset atoms, 0 or more"
"""A valid band ``floor``, in words."""

RATE_EXPECTED = f"an integer rate in ppm from 1 to {PPM - 1}"
"""A valid ``maintenance_ppm`` or ``initial_ppm``, in words."""

NOTIONAL_EXPECTED = (
    "a non-negative integer number of settlement-asset atoms (abs(size) x mark x atoms_per_tick_per_lot)"
)
"""A valid notional, in words."""

_BRACKET_KEYS = ("floor", "maintenance_ppm", "initial_ppm")
"""The keys of one band in :meth:`BracketSchedule.to_config`, in order."""

_floor_of = attrgetter("floor")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Bracket:
    """One band of a schedule: from ``floor`` atoms of notional on, these two rates apply.

    Validated on construction: ``floor`` is an integer >= 0; each rate is an integer in ppm with
    ``0 < rate < PPM``; ``initial_ppm >= maintenance_ppm``. A violation raises
    :class:`~exchange_sim.units.UnitError` with ``field`` set to the attribute's name.
    """

    floor: int
    maintenance_ppm: int
    initial_ppm: int

    def __post_init__(self) -> None:
        if not _is_int(self.floor) or self.floor < 0:
            raise UnitError(
                f"bracket floor must be an integer number of atoms >= 0, got {self.floor!r}",
                field="floor",
                expected=FLOOR_EXPECTED,
            )
        for name in ("maintenance_ppm", "initial_ppm"):
            rate = getattr(self, name)
            if not _is_int(rate) or not 0 < rate < PPM:
                raise UnitError(
                    f"bracket {name} must be an integer in (0, {PPM}), got {rate!r}",
                    field=name,
                    expected=RATE_EXPECTED,
                )
        if self.initial_ppm < self.maintenance_ppm:
            raise UnitError(
                f"bracket initial_ppm {self.initial_ppm} is below maintenance_ppm {self.maintenance_ppm}",
                field="initial_ppm",
                expected=f"initial_ppm >= maintenance_ppm ({self.maintenance_ppm})",
                got=self.initial_ppm,
            )


@dataclass(frozen=True, slots=True)
class BracketBreakdown:
    """Every number of one requirement computation, for a student to follow.

    Returned by :meth:`BracketSchedule.describe`.

    Amounts named ``*_scaled`` are in atoms x ``PPM`` (exact); the others are in atoms.

    Attributes:
        notional: the notional asked about, in atoms.
        index: the band it falls in (0-based); ``floor`` is that band's lower bound in atoms.
        maintenance_ppm, initial_ppm: the band's rates.
        maintenance_deduction_scaled, initial_deduction_scaled: the band's cumulative deductions.
        maintenance_scaled, initial_scaled: the exact requirements,
            ``notional x rate - deduction``.
        maintenance, initial: the requirements in atoms, ``ceil(scaled / PPM)``.
    """

    notional: int
    index: int
    floor: int
    maintenance_ppm: int
    maintenance_deduction_scaled: int
    maintenance_scaled: int
    maintenance: int
    initial_ppm: int
    initial_deduction_scaled: int
    initial_scaled: int
    initial: int


@dataclass(frozen=True, slots=True)
class BracketSchedule:
    """The bracket schedule of one instrument. Build with :meth:`create` (or :meth:`from_config`).

    Validated on construction: at least one band; the first floor is 0; floors strictly increase;
    maintenance rates and initial rates each never decrease from one band to the next (plus each
    :class:`Bracket`'s own rules). A violation raises :class:`~exchange_sim.units.UnitError` with
    ``field`` set (``"brackets"`` for the list itself, else the band attribute at fault) and the
    band's index in the message.

    ``maintenance_deductions`` and ``initial_deductions`` are derived (one per band, scaled by
    ``PPM``, see the module docstring). Lookups are ``O(log bands)``.
    """

    brackets: tuple[Bracket, ...]
    maintenance_deductions: tuple[int, ...] = field(init=False, repr=False, compare=False)
    initial_deductions: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _table: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    """Per band ``(floor, initial_ppm, initial deduction, maintenance_ppm, maintenance deduction)``,
    and the floors alone, for :meth:`requirements` (the risk gate's hot path)."""

    def __post_init__(self) -> None:
        bands = self.brackets
        if not isinstance(bands, tuple) or not bands:
            raise UnitError(
                f"a bracket schedule needs a non-empty tuple of brackets, got {bands!r}",
                field="brackets",
                expected="a non-empty list of brackets, the first with floor 0",
            )
        for i, band in enumerate(bands):
            if not isinstance(band, Bracket):
                raise UnitError(
                    f"bracket {i} must be a Bracket, got {type(band).__name__} {band!r}",
                    field="brackets",
                    expected="a list of brackets (floor, maintenance_ppm, initial_ppm)",
                )
        if bands[0].floor != 0:
            raise UnitError(
                f"bracket 0 floor must be 0, got {bands[0].floor}",
                field="floor",
                expected="0 for the first bracket",
                got=bands[0].floor,
            )
        for i, (lower, upper) in enumerate(pairwise(bands), start=1):
            if upper.floor <= lower.floor:
                raise UnitError(
                    f"bracket {i} floor {upper.floor} must be above bracket {i - 1} floor {lower.floor}",
                    field="floor",
                    expected=f"a floor above {lower.floor} (floors strictly increase)",
                    got=upper.floor,
                )
            for name in ("maintenance_ppm", "initial_ppm"):
                low, high = getattr(lower, name), getattr(upper, name)
                if high < low:
                    raise UnitError(
                        f"bracket {i} {name} {high} is below bracket {i - 1} {name} {low}",
                        field=name,
                        expected=f"{name} >= {low} (rates never decrease from one bracket to the next)",
                        got=high,
                    )
        object.__setattr__(self, "maintenance_deductions", _deductions(bands, "maintenance_ppm"))
        object.__setattr__(self, "initial_deductions", _deductions(bands, "initial_ppm"))
        rows = tuple(
            (b.initial_ppm, i_ded, b.maintenance_ppm, m_ded)
            for b, i_ded, m_ded in zip(
                bands, self.initial_deductions, self.maintenance_deductions, strict=True
            )
        )
        object.__setattr__(self, "_table", (tuple(b.floor for b in bands), rows))

    @classmethod
    def create(cls, brackets: Iterable[Bracket]) -> BracketSchedule:
        """Validate and build a schedule from its bands, lowest floor first."""
        if isinstance(brackets, str | bytes | Mapping) or not isinstance(brackets, Iterable):
            raise UnitError(
                f"a bracket schedule needs a list of brackets, got {type(brackets).__name__}",
                field="brackets",
                expected="a non-empty list of brackets, the first with floor 0",
            )
        return cls(tuple(brackets))

    def scaled(self, scale_ppm: int) -> BracketSchedule:
        """The schedule with every rate multiplied by ``scale_ppm / PPM``, rounded up and kept
        within ``[1, PPM - 1]`` (dynamic margin, :mod:`exchange_sim.margin.dynamic`). Floors are
        unchanged; deductions are derived again, so requirements stay continuous."""
        if scale_ppm == PPM:
            return self

        def rate(value: int) -> int:
            return max(1, min(PPM - 1, ceil_div(value * scale_ppm, PPM)))

        return BracketSchedule(
            tuple(Bracket(b.floor, rate(b.maintenance_ppm), rate(b.initial_ppm)) for b in self.brackets)
        )

    # lookups ------------------------------------------------------------------------------

    def bracket_index(self, notional: int) -> int:
        """The band ``notional`` falls in: the last band whose floor is ``<= notional``."""
        _check_notional(notional)
        return bisect_right(self.brackets, notional, key=_floor_of) - 1

    def maintenance(self, notional: int) -> int:
        """Maintenance requirement of ``notional`` in atoms, rounded up (charged to the account).

        ``ceil((notional x maintenance_ppm - maintenance_deduction) / PPM)`` in the band of
        ``notional`` (Binance and Hyperliquid formula, see the module docstring).
        """
        i = self.bracket_index(notional)
        scaled = notional * self.brackets[i].maintenance_ppm - self.maintenance_deductions[i]
        return ceil_div(scaled, PPM)

    def initial(self, notional: int) -> int:
        """Initial requirement of ``notional`` in atoms, rounded up: as :meth:`maintenance`, with
        the initial rates and their own continuous deductions."""
        i = self.bracket_index(notional)
        scaled = notional * self.brackets[i].initial_ppm - self.initial_deductions[i]
        return ceil_div(scaled, PPM)

    def requirements(self, notional: int) -> tuple[int, int]:
        """``(initial, maintenance)`` of ``notional`` (>= 0): :meth:`initial` and :meth:`maintenance`
        in one band lookup, without validating ``notional`` (the risk gate's hot path)."""
        floors, rows = self._table
        initial_ppm, initial_deduction, maintenance_ppm, maintenance_deduction = rows[
            bisect_right(floors, notional) - 1
        ]
        return (
            -((initial_deduction - notional * initial_ppm) // PPM),
            -((maintenance_deduction - notional * maintenance_ppm) // PPM),
        )

    def initial_requirement(self, notional: int) -> int:
        """:meth:`initial` without validating ``notional`` (>= 0): the risk gate's hot path."""
        floors, rows = self._table
        row = rows[bisect_right(floors, notional) - 1]
        return -((row[1] - notional * row[0]) // PPM)

    def deductions(self) -> tuple[tuple[int, int], ...]:
        """``(maintenance, initial)`` cumulative deduction of each band, in atoms x ``PPM``.

        Divide by ``PPM`` for atoms (the result may have a fractional part, which is why the
        deductions are kept scaled: nothing is rounded before the final requirement).
        """
        return tuple(zip(self.maintenance_deductions, self.initial_deductions, strict=True))

    def describe(self, notional: int) -> BracketBreakdown:
        """Every number of the computation for ``notional``: band, floor, rates, deductions,
        exact (scaled) and rounded requirements."""
        i = self.bracket_index(notional)
        band = self.brackets[i]
        m_ded, i_ded = self.maintenance_deductions[i], self.initial_deductions[i]
        m_scaled = notional * band.maintenance_ppm - m_ded
        i_scaled = notional * band.initial_ppm - i_ded
        return BracketBreakdown(
            notional=notional,
            index=i,
            floor=band.floor,
            maintenance_ppm=band.maintenance_ppm,
            maintenance_deduction_scaled=m_ded,
            maintenance_scaled=m_scaled,
            maintenance=ceil_div(m_scaled, PPM),
            initial_ppm=band.initial_ppm,
            initial_deduction_scaled=i_ded,
            initial_scaled=i_scaled,
            initial=ceil_div(i_scaled, PPM),
        )

    # configuration round trip (journal header) ----------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """A msgpack-friendly description (lists and dicts of ints); :meth:`from_config` inverts it.

        The deductions are not written: they are derived from the bands.
        """
        return {
            "brackets": [
                {"floor": b.floor, "maintenance_ppm": b.maintenance_ppm, "initial_ppm": b.initial_ppm}
                for b in self.brackets
            ]
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> BracketSchedule:
        """Rebuild a schedule from :meth:`to_config` output (a list or tuple of bands is accepted).

        Raises :class:`~exchange_sim.units.UnitError` with ``field`` set, never ``KeyError`` or
        ``TypeError``: for a missing key, a value of the wrong type or a broken rule.
        """
        rows = require_key(data, "brackets", "bracket schedule configuration")
        if not isinstance(rows, list | tuple):
            raise UnitError(
                f"bracket schedule configuration 'brackets' must be a list, got {type(rows).__name__}",
                field="brackets",
                expected="a non-empty list of brackets, the first with floor 0",
            )
        bands = []
        for i, row in enumerate(rows):
            values = [require_key(row, key, f"bracket {i}") for key in _BRACKET_KEYS]
            try:
                bands.append(Bracket(*values))
            except UnitError as exc:
                message = str(exc).removeprefix("bracket ")
                raise UnitError(
                    f"bracket {i} {message}", field=exc.field, expected=exc.expected, got=exc.got
                ) from None
        return cls.create(bands)


def _deductions(bands: tuple[Bracket, ...], rate: str) -> tuple[int, ...]:
    """Cumulative deductions in atoms x PPM: ``d_0 = 0``, ``d_i = d_(i-1) + floor_i x (r_i - r_(i-1))``.

    Binance's "Maintenance Amount formula" and Hyperliquid's ``maintenance_deduction`` (sources in
    the module docstring), kept scaled by ``PPM`` so that it is exact.
    """
    cum = [0]
    for lower, upper in pairwise(bands):
        cum.append(cum[-1] + upper.floor * (getattr(upper, rate) - getattr(lower, rate)))
    return tuple(cum)


def _check_notional(notional: object) -> None:
    if not _is_int(notional) or notional < 0:  # type: ignore[operator]
        raise UnitError(
            f"notional must be a non-negative integer number of atoms, got {notional!r}",
            field="notional",
            expected=NOTIONAL_EXPECTED,
        )
