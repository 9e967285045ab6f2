"""What every trader agent is, and the helpers that read its parameters from a scenario file.

An agent is an object with a ``name`` and a ``run(client, rng)`` generator: a simpy process that
trades through its :class:`~exchange_sim.client.Client` (the venue's public client API only) and
draws every random number from ``rng``, its own :class:`numpy.random.Generator` (the simulator
spawns it from the scenario seed and the agent's name). Agent classes are registered by kind in
:data:`agents.REGISTRY` and built from a scenario's ``[[agents]]`` table by
``from_params(name, params, config)``, which validates and converts ``params`` (the TOML values:
decimal strings for prices, sizes and times) and raises :class:`ParamError` naming the parameter.
``docs/agents.md`` shows how to write one.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from exchange_sim.units import UnitError, parse_decimal

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig
    from exchange_sim.instruments import Instrument

__all__ = ["Agent", "AgentFactory", "ParamError", "Params"]


class ParamError(ValueError):
    """A bad agent parameter: ``field`` (the key in the agent's table), ``expected`` (in words)
    and ``got`` (the value), so the scenario loader can name file, field and expectation."""

    def __init__(self, field: str, expected: str, got: object = None) -> None:
        super().__init__(f"{field}: expected {expected}" + ("" if got is None else f", got {got!r}"))
        self.field = field
        self.expected = expected
        self.got = got


class Agent(Protocol):
    name: str

    def run(self, client: Client, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]: ...


class AgentFactory(Protocol):
    def from_params(self, name: str, params: dict[str, Any], config: VenueConfig) -> Agent: ...


class Params:
    """Reads one agent's parameters: each getter pops its key, converts it exactly, and raises
    :class:`ParamError` on a bad value; :meth:`done` refuses keys nobody read (typos).

    >>> from exchange_sim.config import VenueConfig
    >>> p = Params({"spread": "0.5", "levels": 3}, VenueConfig((), ()))
    >>> p.decimal("spread", minimum=0), p.integer("levels", minimum=1), p.integer("depth", default=5)
    (Fraction(1, 2), 3, 5)
    >>> p.done()
    """

    def __init__(self, params: Mapping[str, Any], config: VenueConfig) -> None:
        self._params = dict(params)
        self.config = config
        self._instruments = {i.symbol: i for i in config.instruments}

    def _take(self, key: str, default: Any) -> Any:
        if key in self._params:
            return self._params.pop(key)
        if default is _REQUIRED:
            raise ParamError(key, "a value (it is required)")
        return default

    def decimal(
        self, key: str, default: Any = None, *, minimum: Fraction | int | None = None, positive: bool = False
    ) -> Fraction:
        """An exact decimal (a quoted string such as ``"0.5"``, or an integer)."""
        value = self._take(key, _REQUIRED if default is None else default)
        if isinstance(value, Fraction):
            exact = value
        elif isinstance(value, bool) or not isinstance(value, int | str):
            raise ParamError(key, 'a decimal written as a quoted string such as "0.5", or an integer', value)
        else:
            try:
                exact = Fraction(parse_decimal(str(value)))
            except (UnitError, ValueError):
                raise ParamError(key, 'a decimal such as "0.5"', value) from None
        if positive and exact <= 0:
            raise ParamError(key, "a positive number", value)
        if minimum is not None and exact < minimum:
            raise ParamError(key, f"a number >= {minimum}", value)
        return exact

    def integer(self, key: str, default: Any = None, *, minimum: int | None = None) -> int:
        value = self._take(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(key, "an integer", value)
        if minimum is not None and value < minimum:
            raise ParamError(key, f"an integer >= {minimum}", value)
        return value

    def string(self, key: str, default: Any = None, *, options: tuple[str, ...] | None = None) -> str:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise ParamError(key, "a string", value)
        if options is not None and value not in options:
            raise ParamError(key, "one of " + ", ".join(f'"{o}"' for o in options), value)
        return value

    def instrument(
        self, key: str = "instrument", default: Any = None, *, contract: bool = False
    ) -> Instrument:
        """A listed instrument's symbol (``contract``: a perpetual or future, not a spot pair)."""
        symbol = self.string(key, default)
        inst = self._instruments.get(symbol)
        if inst is None:
            raise ParamError(key, "a listed instrument: " + ", ".join(self._instruments), symbol)
        if contract and inst.is_spot:
            raise ParamError(key, "a perpetual or a future, not a spot pair", symbol)
        return inst

    def lots(self, key: str, inst: Instrument, default: Any = None) -> int:
        """A size in contracts (decimal) -> whole lots of ``inst``, at least its minimum size."""
        size = self.decimal(key, default, positive=True)
        lots = size / inst.lot_size
        if lots.denominator != 1 or lots < inst.min_size:
            least = inst.format_size(inst.min_size)
            raise ParamError(
                key, f"a multiple of the lot size {inst.format_size(1)} of at least {least}", size
            )
        return int(lots)

    def seconds(self, key: str, default: Any = None) -> int:
        """A time in seconds (decimal) -> integer microseconds, > 0."""
        value = self.decimal(key, default, positive=True)
        us = value * 1_000_000
        if us.denominator != 1:
            raise ParamError(key, "seconds with at most 6 decimals", value)
        return int(us)

    def ppm(self, key: str, default: Any = None, *, maximum: int = 1_000_000) -> int:
        value = self.integer(key, default, minimum=0)
        if value > maximum:
            raise ParamError(key, f"parts per million from 0 to {maximum}", value)
        return value

    def raw(self, key: str, default: Any = None) -> Any:
        """A value as written (for structured parameters such as a timeline)."""
        return self._take(key, _REQUIRED if default is None else default)

    def done(self) -> None:
        """Refuse parameters nobody read."""
        if self._params:
            key = sorted(self._params)[0]
            raise ParamError(key, "no such parameter for this agent", self._params[key])


_REQUIRED = object()
