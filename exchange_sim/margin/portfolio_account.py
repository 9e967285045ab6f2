"""Portfolio margin for accounts: cross margin's equity, one requirement from the whole portfolio.

A portfolio-margined account pools its collateral exactly as a cross account does (equity is
:meth:`CrossMargin.collateral_equity <exchange_sim.margin.cross.CrossMargin.collateral_equity>`
plus every position's value at its mark), but its initial requirement is the venue's
:class:`~exchange_sim.margin.portfolio.PortfolioRules` applied to its exposures per underlying
(the worst stress loss, VaR, or the larger of both, never below the floor on gross notional),
and its maintenance requirement is a fixed fraction of that. ``docs/portfolio-margin.md`` works
an example through.

:class:`PortfolioMargin` has the same ``totals`` as :class:`~exchange_sim.margin.cross.CrossMargin`
(``(equity, initial, maintenance)`` for balances, sizes, marks and prices), so the risk gate and
the liquidation engine ask either model the same question, and :meth:`PortfolioMargin.meets`,
which decides ``equity >= requirement`` exactly but cheaply through
:class:`~exchange_sim.margin.portfolio_bounds.RequirementBounds`. Dynamic margin replaces the
rules in force with :meth:`PortfolioMargin.set_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio import PortfolioRules
from exchange_sim.margin.portfolio_bounds import RequirementBounds

__all__ = ["PortfolioMargin"]


class PortfolioMargin:
    """Portfolio-margin totals of accounts of one venue (module docstring).

    Args:
        cross: the venue's cross-margin rules (settlement asset, instruments, collateral).
        rules: the portfolio rules as configured (:attr:`base`); :attr:`rules` is what is in
            force (the base, or the base scaled by dynamic margin).
    """

    __slots__ = ("base", "bounds", "columns", "cross", "rules")

    def __init__(self, cross: CrossMargin, rules: PortfolioRules) -> None:
        self.cross = cross
        self.base = rules
        self.rules = rules
        self.bounds = RequirementBounds(rules)
        column = {u: n for n, u in enumerate(rules.underlyings)}
        self.columns: dict[str, tuple[int, int]] = {
            symbol: (column[inst.underlying], inst.atoms_per_tick_per_lot)
            for symbol, inst in cross.instruments.items()
            if not inst.is_spot and inst.settlement_asset == cross.settlement and symbol in cross.schedules
        }
        """Per margined contract: (its underlying's column in exposure vectors, atoms per tick per lot)."""

    def set_rules(self, rules: PortfolioRules) -> None:
        """Put ``rules`` in force (same underlyings as :attr:`base`)."""
        assert rules.underlyings == self.base.underlyings
        self.rules = rules
        self.bounds = RequirementBounds(rules)

    def exposures(self, sizes: Mapping[str, int], marks: Mapping[str, int]) -> tuple[list[int], int, int]:
        """``(exposure per underlying, gross notional, sum of position values)`` in atoms.

        ``exposure[u]`` sums ``size x mark x atoms_per_tick_per_lot`` over the positions on
        underlying ``u``; gross notional sums their absolute values (the floor's base); the
        last is what the positions add to equity."""
        e = [0] * len(self.rules.underlyings)
        gross = total = 0
        columns = self.columns
        for symbol, size in sizes.items():
            if size:
                column = columns.get(symbol)
                if column is None:
                    continue  # not margined in the settlement asset (as cross margin)
                value = size * marks[symbol] * column[1]
                e[column[0]] += value
                total += value
                gross += value if value > 0 else -value
        return e, gross, total

    def requirements(self, sizes: Mapping[str, int], marks: Mapping[str, int]) -> tuple[int, int]:
        """``(initial, maintenance)`` in atoms, exact."""
        e, gross, _ = self.exposures(sizes, marks)
        return self._requirements(e, gross)

    def _requirements(self, e: list[int], gross: int) -> tuple[int, int]:
        initial = self.rules.initial(e, gross_notional=gross) if gross else 0
        return initial, self.rules.maintenance_of(initial)

    def totals(
        self,
        balances: Mapping[str, int],
        sizes: Mapping[str, int],
        marks: Mapping[str, int],
        prices: Mapping[str, int],
    ) -> tuple[int, int, int]:
        """``(equity, initial, maintenance)``: :meth:`CrossMargin.totals` with the portfolio's
        requirements."""
        e, gross, total = self.exposures(sizes, marks)
        return self.cross.collateral_equity(balances, prices) + total, *self._requirements(e, gross)

    def meets(self, e: list[int], gross: int, equity: int) -> bool:
        """Whether ``equity`` is at least the initial requirement of exposures ``e`` and gross
        notional ``gross``, exactly; the exact requirement is computed only when the bounds
        cannot tell (the per-fill check, ``docs/portfolio-margin.md``)."""
        if not gross:
            return equity >= 0
        bounds = self.bounds
        if equity >= bounds.quick_high(e, gross):
            return True  # well above the requirement: the common case, O(U)
        low, high = bounds.initial_bounds(e, gross)
        if equity >= high:
            return True
        if equity < low:
            return False
        return equity >= self.rules.initial(e, gross_notional=gross)
