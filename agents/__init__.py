"""Trader agents: clients of the venue's public client API (``exchange_sim.client``).

:data:`REGISTRY` maps a scenario's ``[[agents]]`` ``kind`` to the agent class; each class has
``from_params(name, params, config)`` (see :mod:`agents.base`) and ``run(client, rng)``.
``docs/agents.md`` explains how to write a new one.
"""

from __future__ import annotations

from typing import Any

REGISTRY: dict[str, Any] = {}
"""Agent classes by kind; filled in as agent modules are added."""
