"""What a scenario says about a simulation run: its length, its agents, starting positions.

Frozen records in the venue's units (microseconds, lots, ticks), read from the scenario's
``[simulation]``, ``[[agents]]`` and ``[[positions]]`` tables (``docs/scenario-format.md``) or built
directly in Python; :class:`exchange_sim.sim.Simulation` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["AgentSpec", "LatencySpec", "PositionSpec", "SimulationSpec"]


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """``"fixed"`` (``low`` microseconds every time) or ``"uniform"`` (seeded, ``low..high``)."""

    kind: str = "fixed"
    low: int = 0
    high: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform"):
            raise ValueError(f'latency kind must be "fixed" or "uniform", got {self.kind!r}')
        if type(self.low) is not int or type(self.high) is not int or self.low < 0:
            raise ValueError("latencies are integer microseconds >= 0")
        if self.kind == "uniform" and self.high < self.low:
            raise ValueError(f"uniform latency: high {self.high} < low {self.low}")


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One trader agent.

    Attributes:
        name: unique name (its random stream is keyed by it).
        kind: a key of :data:`agents.REGISTRY` (``"market_maker"``, ``"noise"``, ...).
        account: the venue account it trades (opened by ``[[accounts]]``).
        params: the agent's own parameters as written in the scenario (TOML values); validated at
            load by the agent's ``from_params``, which the simulation calls again to build it.
        order_latency: agent -> venue.
        data_latency: venue -> agent (market data and notices).
    """

    name: str
    kind: str
    account: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    order_latency: LatencySpec = LatencySpec()
    data_latency: LatencySpec = LatencySpec()


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """A starting position: ``account`` holds ``size`` lots (signed) of ``instrument`` bought at
    ``entry`` ticks from ``counterparty``, which holds the opposite, so positions net to zero.
    Opened at time 0 as two orders at ``entry`` (journaled, margin-checked like any trade)."""

    account: str
    instrument: str
    size: int
    entry: int
    counterparty: str


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    """``duration_us`` of simulated time; the agents; the starting positions."""

    duration_us: int
    agents: tuple[AgentSpec, ...] = ()
    positions: tuple[PositionSpec, ...] = ()
