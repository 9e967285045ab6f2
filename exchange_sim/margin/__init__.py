"""Margin models: what an account must hold for its positions.

Today it holds the tiered bracket schedule of one instrument (:mod:`exchange_sim.margin.brackets`),
collateral valuation with haircuts (:mod:`exchange_sim.margin.collateral`) and one account's
cross-margin state (:mod:`exchange_sim.margin.cross`); the per-fill risk gate builds on them.
See ``docs/margin.md``.
"""

from exchange_sim.margin.brackets import Bracket, BracketBreakdown, BracketSchedule

__all__ = ["Bracket", "BracketBreakdown", "BracketSchedule"]
