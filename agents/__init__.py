"""Trader agents: clients of the venue's public client API (``exchange_sim.client``).

:data:`REGISTRY` maps a scenario's ``[[agents]]`` ``kind`` to the agent class; each class has
``from_params(name, params, config)`` (see :mod:`agents.base`) and ``run(client, rng)``.
``docs/agents.md`` explains how to write a new one.
"""

from __future__ import annotations

from typing import Any

from agents.arbitrage import Arbitrage
from agents.leveraged import Leveraged
from agents.liquidation_hunter import LiquidationHunter
from agents.market_maker import MarketMaker
from agents.momentum import Momentum
from agents.noise import Noise
from agents.scripted import Scripted

REGISTRY: dict[str, Any] = {
    "market_maker": MarketMaker,
    "noise": Noise,
    "momentum": Momentum,
    "leveraged": Leveraged,
    "arbitrage": Arbitrage,
    "liquidation_hunter": LiquidationHunter,
    "scripted": Scripted,
}
"""Agent classes by the ``kind`` a scenario's ``[[agents]]`` table names."""
