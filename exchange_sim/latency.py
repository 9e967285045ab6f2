"""Latency models: how long an agent's orders take to reach the venue, and market data the agent.

A model is anything with ``delay() -> int`` (microseconds, >= 0). Two ship:

* :class:`Fixed`: the same delay every time.
* :class:`Uniform`: a seeded uniform integer delay in ``[low, high]``, drawn from the model's own
  :class:`numpy.random.Generator` (spawned from the scenario seed by the simulator), so a run is
  reproducible and one agent's draws never change another's.

>>> Fixed(250).delay()
250
>>> import numpy as np
>>> model = Uniform(100, 200, np.random.default_rng(1))
>>> [model.delay() for _ in range(3)]
[147, 151, 176]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["Fixed", "Latency", "Uniform"]


class Latency(Protocol):
    def delay(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """A constant delay in microseconds."""

    us: int = 0

    def __post_init__(self) -> None:
        if type(self.us) is not int or self.us < 0:
            raise ValueError(f"a latency is an integer number of microseconds >= 0, got {self.us!r}")

    def delay(self) -> int:
        return self.us


@dataclass(slots=True)
class Uniform:
    """A uniform integer delay in ``[low, high]`` microseconds from a seeded generator."""

    low: int
    high: int
    rng: np.random.Generator = field(repr=False)

    def __post_init__(self) -> None:
        if type(self.low) is not int or type(self.high) is not int or not 0 <= self.low <= self.high:
            raise ValueError(f"need integers 0 <= low <= high, got {self.low!r}, {self.high!r}")

    def delay(self) -> int:
        return int(self.rng.integers(self.low, self.high + 1))
