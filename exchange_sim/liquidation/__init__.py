"""Liquidation: detecting accounts below maintenance and closing them out without bad debt.

Today it holds the exact math the engine will use (:mod:`exchange_sim.liquidation.formulas`):
bankruptcy and liquidation prices, dYdX's fillable price, the liquidation fee and the insurance
fund's share of a fill, auto-deleveraging ranking and allocation, Hyperliquid's backstop rule and
the partial-liquidation size. The engine is being built on them. See ``docs/liquidation.md``.
"""
