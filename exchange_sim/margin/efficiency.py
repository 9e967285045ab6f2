"""Capital efficiency: what the same positions need under isolated, cross and portfolio margin.

:func:`compare_modes` takes an account's positions (signed lots per instrument) and their marks
and returns a :class:`ModeComparison`, every amount exact integer settlement atoms:

* **per position** (:class:`PositionRequirement`): ``notional = |size| x mark x
  atoms_per_tick_per_lot`` and its bracket requirements, initial and maintenance
  (``ceil((notional x rate - deduction) / PPM)``, :mod:`exchange_sim.margin.brackets`,
  ``docs/margin.md`` "Tiered brackets"). The initial requirement is raised by the instrument's
  open-interest caps when it has some (:mod:`exchange_sim.margin.open_interest`, ``docs/margin.md``
  "Open-interest-dependent initial margin"): the amounts are what the venue charges the position,
  as :meth:`CrossMargin.state <exchange_sim.margin.cross.CrossMargin.state>` computes them.
* **isolated** (:attr:`ModeComparison.isolated`): the sum of the per-position requirements. An
  isolated account margins each position in its own sub-account, as a cross account holding that
  one position (:mod:`exchange_sim.margin.isolated`, ``docs/margin.md`` "Isolated margin"), so
  this is what the positions need funded one by one; a gain on one cannot fund another.
* **cross** (:attr:`ModeComparison.cross`): :meth:`CrossMargin.totals
  <exchange_sim.margin.cross.CrossMargin.totals>` of the positions, the same brackets (and caps)
  summed over the pooled account (:mod:`exchange_sim.margin.cross`). Cross margin pools the
  *collateral*, not the requirements: it has no offsets between positions, so its requirements
  equal the isolated ones; what cross adds is that one pool (and one position's unrealised gain)
  funds them all.
* **portfolio** (:attr:`ModeComparison.portfolio`, ``None`` without portfolio rules):
  :meth:`PortfolioMargin.requirements <exchange_sim.margin.portfolio_account.PortfolioMargin.requirements>`
  of the positions: the exposure per underlying (sum of signed values ``size x mark x
  atoms_per_tick_per_lot``), initial = the largest of the floor on gross notional
  (``ceil(gross x floor_ppm_of_gross / PPM)``), the stress grid's worst weighted loss and the
  value at risk, as the rules' method asks; maintenance = ``ceil(initial x
  maintenance_ppm_of_initial / PPM)`` (:mod:`exchange_sim.margin.portfolio`,
  ``docs/portfolio-margin.md``). :class:`PortfolioRequirement` also gives each part and which one
  set the requirement, and, for a grid without correlation, each underlying's worst move.
* **saving** of portfolio against cross: ``cross - portfolio`` in atoms (negative when portfolio
  margin asks more, e.g. a floor above the brackets) and in percent of cross as an exact
  :class:`~fractions.Fraction` (``None`` when cross asks nothing); format it only to display it.

:func:`compare_account` reads one account of a venue at its current marks with the venue's live
models (``venue.gate.cross`` and ``venue.gate.portfolio``, scaled by dynamic margin when it is on).
Nothing here changes or journals anything.

A hedged pair (the worked example of ``docs/portfolio-margin.md``): long 1 BTC-PERP and short
1 BTC-FUT, both marked at 30,000 USDC, brackets of 5% maintenance and 10% initial: cross (and
isolated) initial 3,000 + 3,000 = 6,000 USDC; a stress grid of +-10% sees a net exposure of 0, and
the 1% floor on the gross 60,000 charges 600 USDC: a saving of 5,400 USDC, 90%.
``tests/test_efficiency.py`` checks such numbers by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio import StressGrid
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.units import PPM, charge_ppm

if TYPE_CHECKING:
    from exchange_sim.venue import Venue

__all__ = [
    "ModeComparison",
    "PortfolioRequirement",
    "PositionRequirement",
    "Requirement",
    "StressMove",
    "compare_account",
    "compare_modes",
    "margined_sizes",
]


@dataclass(frozen=True, slots=True)
class PositionRequirement:
    """One position and its own requirements (settlement atoms)."""

    instrument: str
    size: int
    """Signed lots."""
    mark: int
    """Ticks."""
    notional: int
    """``|size| x mark x atoms_per_tick_per_lot``."""
    initial: int
    """Bracket initial requirement of the notional (raised by open-interest caps, if any)."""
    maintenance: int
    """Bracket maintenance requirement of the notional."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """Initial and maintenance requirements of a set of positions (settlement atoms)."""

    initial: int
    maintenance: int


@dataclass(frozen=True, slots=True)
class StressMove:
    """The move of one underlying that loses most for the account's exposure to it (a stress
    grid without correlation charges the sum of these losses, one per underlying)."""

    underlying: str
    exposure: int
    """Signed atoms: the sum of the values of the positions on this underlying."""
    move_ppm: int
    """The relative price move, signed, in ppm (``-100_000``: a 10% fall)."""
    weight_ppm: int
    """The fraction of the move's loss that counts (``PPM``, or the extreme moves' weight)."""
    loss: Fraction
    """``-exposure x move_ppm x weight_ppm / PPM**2``, exact (the requirement rounds the sum up)."""


@dataclass(frozen=True, slots=True)
class PortfolioRequirement:
    """Portfolio-margin requirements of the positions, and what set them (settlement atoms)."""

    initial: int
    maintenance: int
    exposures: tuple[tuple[str, int], ...]
    """Signed exposure per underlying of the rules, in the rules' order."""
    gross_notional: int
    """Sum of ``|value|`` over the positions: the floor's base."""
    floor: int
    """``ceil(gross_notional x floor_ppm_of_gross / PPM)``."""
    stress: int | None
    """The stress grid's requirement (worst weighted loss, rounded up); ``None`` if the rules'
    method does not use the grid."""
    var: int | None
    """Parametric value at risk; ``None`` if the rules' method does not use it."""
    driver: str | None
    """Which part set ``initial``: ``"stress"``, ``"var"`` or ``"floor"`` (the first of these that
    equals it); ``None`` when nothing is required."""
    worst: tuple[StressMove, ...] | None
    """Per underlying with an exposure, its worst move on the grid, for a grid without
    correlation (``None`` otherwise, or when the method has no grid)."""


@dataclass(frozen=True, slots=True)
class ModeComparison:
    """The same positions under isolated, cross and portfolio margin (module docstring)."""

    positions: tuple[PositionRequirement, ...]
    isolated: Requirement
    cross: Requirement
    portfolio: PortfolioRequirement | None
    """``None`` when the venue has no portfolio rules."""

    @property
    def saving_initial(self) -> int | None:
        """Cross initial less portfolio initial, in atoms (``None`` without portfolio rules)."""
        return None if self.portfolio is None else self.cross.initial - self.portfolio.initial

    @property
    def saving_maintenance(self) -> int | None:
        """Cross maintenance less portfolio maintenance, in atoms (``None`` without portfolio rules)."""
        return None if self.portfolio is None else self.cross.maintenance - self.portfolio.maintenance

    @property
    def saving_initial_percent(self) -> Fraction | None:
        """:attr:`saving_initial` in percent of cross initial, exact (``None`` if cross is 0)."""
        return _percent(self.saving_initial, self.cross.initial)

    @property
    def saving_maintenance_percent(self) -> Fraction | None:
        """:attr:`saving_maintenance` in percent of cross maintenance, exact (``None`` if cross is 0)."""
        return _percent(self.saving_maintenance, self.cross.maintenance)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data: amounts in atoms (ints), fractions as ``[numerator, denominator]``."""

        def pair(r: Requirement | PortfolioRequirement) -> dict[str, int]:
            return {"initial": r.initial, "maintenance": r.maintenance}

        def fraction(x: Fraction | None) -> list[int] | None:
            return None if x is None else [x.numerator, x.denominator]

        p = self.portfolio
        portfolio: dict[str, Any] | None = None
        if p is not None:
            portfolio = pair(p) | {
                "exposures": {u: e for u, e in p.exposures},
                "gross_notional": p.gross_notional,
                "floor": p.floor,
                "stress": p.stress,
                "var": p.var,
                "driver": p.driver,
                "worst": None
                if p.worst is None
                else [
                    {
                        "underlying": w.underlying,
                        "exposure": w.exposure,
                        "move_ppm": w.move_ppm,
                        "weight_ppm": w.weight_ppm,
                        "loss": fraction(w.loss),
                    }
                    for w in p.worst
                ],
            }
        return {
            "positions": [
                {
                    "instrument": q.instrument,
                    "size": q.size,
                    "mark": q.mark,
                    "notional": q.notional,
                    "initial": q.initial,
                    "maintenance": q.maintenance,
                }
                for q in self.positions
            ],
            "isolated": pair(self.isolated),
            "cross": pair(self.cross),
            "portfolio": portfolio,
            "saving": None
            if p is None
            else {
                "initial": self.saving_initial,
                "maintenance": self.saving_maintenance,
                "initial_percent": fraction(self.saving_initial_percent),
                "maintenance_percent": fraction(self.saving_maintenance_percent),
            },
        }


def _percent(saving: int | None, base: int) -> Fraction | None:
    return None if saving is None or base == 0 else Fraction(100 * saving, base)


def margined_sizes(cross: CrossMargin, sizes: Mapping[str, int]) -> dict[str, int]:
    """The non-zero positions that margin counts: contracts with brackets, settled in the
    settlement asset (as :meth:`CrossMargin.totals` and :meth:`PortfolioMargin.exposures` do)."""
    out = {}
    for symbol, size in sizes.items():
        inst = cross.instruments.get(symbol)
        if (
            size
            and inst is not None
            and not inst.is_spot
            and inst.settlement_asset == cross.settlement
            and symbol in cross.schedules
        ):
            out[symbol] = size
    return out


def compare_modes(
    cross: CrossMargin,
    portfolio: PortfolioMargin | None,
    sizes: Mapping[str, int],
    marks: Mapping[str, int],
) -> ModeComparison:
    """The requirements of ``sizes`` (signed lots per instrument) at ``marks`` (ticks, one per
    position) under each margin mode (module docstring). Positions margin does not count (zero,
    spot, another settlement asset) are left out. Pure: reads the models, changes nothing."""
    sizes = margined_sizes(cross, sizes)
    state = cross.state({}, sizes, marks, {})
    positions = tuple(
        PositionRequirement(p.instrument, p.size, p.mark, p.notional, p.initial, p.maintenance)
        for p in state.positions
    )
    isolated = Requirement(sum(p.initial for p in positions), sum(p.maintenance for p in positions))
    _, initial, maintenance = cross.totals({}, sizes, marks, {})
    return ModeComparison(
        positions,
        isolated,
        Requirement(initial, maintenance),
        None if portfolio is None else _portfolio(portfolio, sizes, marks),
    )


def _portfolio(
    model: PortfolioMargin, sizes: Mapping[str, int], marks: Mapping[str, int]
) -> PortfolioRequirement:
    rules = model.rules
    e, gross, _ = model.exposures(sizes, marks)
    initial, maintenance = model.requirements(sizes, marks)
    floor = charge_ppm(gross, rules.floor_ppm_of_gross)
    grid = rules.grid if rules.method in ("stress", "max") else None
    worst: tuple[StressMove, ...] | None = None
    stress, var, _ = rules.parts(e, gross_notional=gross)
    if grid is not None and grid.correlation is None:
        worst = _worst_moves(grid, dict(zip(rules.underlyings, e, strict=True)))
    parts = (("stress", stress), ("var", var), ("floor", floor))
    driver = next((name for name, part in parts if part == initial), None) if initial else None
    return PortfolioRequirement(
        initial,
        maintenance,
        tuple(zip(rules.underlyings, e, strict=True)),
        gross,
        floor,
        stress,
        var,
        driver,
        worst,
    )


def _worst_moves(grid: StressGrid, exposures: Mapping[str, int]) -> tuple[StressMove, ...]:
    """Each exposed underlying's worst move on an uncorrelated grid: the full scan against the
    exposure (weight 100%) or the extreme move (``extreme_multiple`` scans at
    ``extreme_weight_ppm``), whichever loses more (the full scan on a tie). The grid's
    requirement is the ceiling of the sum of their losses
    (:class:`~exchange_sim.margin.portfolio.StressGrid`)."""
    scans = dict(zip(grid.underlyings, grid.scan_ppm, strict=True))
    out = []
    for underlying, exposure in exposures.items():
        if not exposure:
            continue
        against = -1 if exposure > 0 else 1  # a long loses when the price falls
        scan = scans[underlying]
        move, weight = against * scan, PPM
        extreme = grid.extreme_multiple * scan
        if grid.extreme_weight_ppm and extreme * grid.extreme_weight_ppm > scan * PPM:
            move, weight = against * extreme, grid.extreme_weight_ppm
        loss = Fraction(-exposure * move * weight, PPM * PPM)
        out.append(StressMove(underlying, exposure, move, weight, loss))
    return tuple(out)


def compare_account(venue: Venue, account_id: str) -> ModeComparison:
    """:func:`compare_modes` of one account's positions now (held by the account itself, or by its
    isolated sub-accounts) at the venue's marks (else last trade prices, as the risk gate values
    them), with the venue's live cross and portfolio models. ``ValueError`` for a venue without
    margin rules; ``KeyError`` for an unknown account."""
    gate = venue.gate
    cross = getattr(gate, "cross", None)
    if cross is None:
        raise ValueError("the venue has no margin rules: there are no requirements to compare")
    if account_id not in venue.ledger.accounts:
        raise KeyError(account_id)
    sizes = margined_sizes(cross, {s: p.size for s, p in venue.positions(account_id).items()})
    marks = {s: venue.marks.get(s) or venue.last_trade.last.get(s) or 0 for s in sizes}
    return compare_modes(cross, getattr(gate, "portfolio", None), sizes, marks)
