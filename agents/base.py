"""What every trader agent is, the helpers that read its parameters from a scenario file, and a
few helpers for running one (:func:`reference`, :func:`shift_ppm`, :func:`take`, :func:`watch`,
:func:`accepted`).

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

from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.results import Result
from exchange_sim.units import PPM, UnitError, parse_decimal

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from exchange_sim.client import Client
    from exchange_sim.config import VenueConfig
    from exchange_sim.instruments import Instrument
    from exchange_sim.results import OrderResult

__all__ = [
    "Agent",
    "AgentFactory",
    "ParamError",
    "Params",
    "accepted",
    "reference",
    "shift_ppm",
    "take",
    "watch",
]


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

    def __init__(self, params: Mapping[str, Any], config: VenueConfig, *, prefix: str = "") -> None:
        self._params = dict(params)
        self.config = config
        self.prefix = prefix
        """Put before every key in a :class:`ParamError` (``"timeline[3]."`` for a nested table)."""
        self._instruments = {i.symbol: i for i in config.instruments}

    def field(self, key: str) -> str:
        """The name of ``key`` in error messages (with the prefix of a nested table)."""
        return self.prefix + key

    def error(self, key: str, expected: str, got: object = None) -> ParamError:
        """A :class:`ParamError` for ``key`` (prefixed), for checks an agent makes itself."""
        return ParamError(self.field(key), expected, got)

    def has(self, key: str) -> bool:
        """Whether ``key`` is given (for optional parameters without a default)."""
        return key in self._params

    def _take(self, key: str, default: Any) -> Any:
        if key in self._params:
            return self._params.pop(key)
        if default is _REQUIRED:
            raise self.error(key, "a value (it is required)")
        return default

    def decimal(
        self, key: str, default: Any = None, *, minimum: Fraction | int | None = None, positive: bool = False
    ) -> Fraction:
        """An exact decimal (a quoted string such as ``"0.5"``, or an integer)."""
        value = self._take(key, _REQUIRED if default is None else default)
        if isinstance(value, Fraction):
            exact = value
        elif isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(key, 'a decimal written as a quoted string such as "0.5", or an integer', value)
        else:
            try:
                exact = Fraction(parse_decimal(str(value)))
            except (UnitError, ValueError):
                raise self.error(key, 'a decimal such as "0.5"', value) from None
        if positive and exact <= 0:
            raise self.error(key, "a positive number", value)
        if minimum is not None and exact < minimum:
            raise self.error(key, f"a number >= {minimum}", value)
        return exact

    def integer(self, key: str, default: Any = None, *, minimum: int | None = None) -> int:
        value = self._take(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, "an integer", value)
        if minimum is not None and value < minimum:
            raise self.error(key, f"an integer >= {minimum}", value)
        return value

    def string(self, key: str, default: Any = None, *, options: tuple[str, ...] | None = None) -> str:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise self.error(key, "a string", value)
        if options is not None and value not in options:
            raise self.error(key, "one of " + ", ".join(f'"{o}"' for o in options), value)
        return value

    def instrument(
        self, key: str = "instrument", default: Any = None, *, contract: bool = False
    ) -> Instrument:
        """A listed instrument's symbol (``contract``: a perpetual or future, not a spot pair)."""
        symbol = self.string(key, default)
        inst = self._instruments.get(symbol)
        if inst is None:
            raise self.error(key, "a listed instrument: " + ", ".join(self._instruments), symbol)
        if contract and inst.is_spot:
            raise self.error(key, "a perpetual or a future, not a spot pair", symbol)
        return inst

    def lots(self, key: str, inst: Instrument, default: Any = None) -> int:
        """A size in contracts (decimal) -> whole lots of ``inst``, at least its minimum size."""
        size = self.decimal(key, default, positive=True)
        lots = size / inst.lot_size
        if lots.denominator != 1 or lots < inst.min_size:
            least = inst.format_size(inst.min_size)
            raise self.error(
                key, f"a multiple of the lot size {inst.format_size(1)} of at least {least}", size
            )
        return int(lots)

    def seconds(self, key: str, default: Any = None, *, zero: bool = False) -> int:
        """A time in seconds (decimal) -> integer microseconds, > 0 (``zero``: >= 0)."""
        value = self.decimal(key, default, positive=not zero, minimum=0 if zero else None)
        us = value * 1_000_000
        if us.denominator != 1:
            raise self.error(key, "seconds with at most 6 decimals", value)
        return int(us)

    def price(self, key: str, inst: Instrument, default: Any = None) -> int:
        """A price in settlement units (decimal) -> whole ticks of ``inst``, > 0."""
        value = self.decimal(key, default, positive=True)
        ticks = value / inst.tick_size
        if ticks.denominator != 1:
            raise self.error(key, f"a multiple of the tick size {inst.format_price(1)}", value)
        return int(ticks)

    def side(self, key: str = "side", default: Any = None) -> Side:
        """``"buy"`` or ``"sell"``."""
        return Side.BUY if self.string(key, default, options=("buy", "sell")) == "buy" else Side.SELL

    def fraction(self, key: str, default: Any = None) -> Fraction:
        """A probability or share: a decimal from 0 to 1."""
        value = self.decimal(key, default, minimum=0)
        if value > 1:
            raise self.error(key, "a decimal from 0 to 1", value)
        return value

    def boolean(self, key: str, default: Any = None) -> bool:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def entries(self, key: str, default: Any = None) -> list[Params]:
        """A list of tables (TOML ``[{...}, ...]``): one :class:`Params` per entry, whose errors
        name the entry (``"timeline[3].at"``); call :meth:`done` on each."""
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, list | tuple):
            raise self.error(key, "a list of tables", value)
        out = []
        for index, entry in enumerate(value):
            if not isinstance(entry, Mapping):
                raise ParamError(f"{self.field(key)}[{index}]", 'a table such as { at = "60", ... }', entry)
            out.append(Params(entry, self.config, prefix=f"{self.field(key)}[{index}]."))
        return out

    def ppm(self, key: str, default: Any = None, *, maximum: int = 1_000_000) -> int:
        value = self.integer(key, default, minimum=0)
        if value > maximum:
            raise self.error(key, f"parts per million from 0 to {maximum}", value)
        return value

    def raw(self, key: str, default: Any = None) -> Any:
        """A value as written (for structured parameters such as a timeline)."""
        return self._take(key, _REQUIRED if default is None else default)

    def done(self) -> None:
        """Refuse parameters nobody read."""
        if self._params:
            key = sorted(self._params)[0]
            raise self.error(key, "no such parameter for this agent", self._params[key])


_REQUIRED = object()


# ---------------------------------------------------------------- helpers for running agents


def reference(client: Client, instrument: str) -> int | None:
    """The instrument's reference price in ticks from the latest delivered top of book
    (``client.tops``, so subscribe to ``"top"`` first): the mark, else the mid, else the last
    trade; ``None`` when there is none of them yet."""
    top = client.tops.get(instrument)
    if top is None:
        return None
    if top.mark is not None:
        return top.mark
    if top.bid is not None and top.ask is not None:
        return (top.bid + top.ask) // 2
    return top.last


def accepted(result: Any) -> bool:
    """Whether the venue accepted an input: ``OrderResult.accepted``, ``LegsResult.accepted`` or
    ``Result.ok`` (a cancel)."""
    return bool(result.ok if isinstance(result, Result) else result.accepted)


def shift_ppm(price: int, ppm: int | Fraction) -> int:
    """``price x (1 + ppm / 10**6)`` in whole ticks, rounded toward ``price`` (a move of less
    than a tick is no move), and never below 1 tick.

    >>> shift_ppm(60_000, 1_000), shift_ppm(60_000, -1_000), shift_ppm(3, -10)
    (60060, 59940, 3)
    """
    move = Fraction(price) * ppm / PPM
    ticks = price + (int(move) if move >= 0 else -int(-move))
    return max(1, ticks)


def watch(client: Client, instrument: str) -> simpy.Event:
    """Keep ``client.tops[instrument]`` current (:meth:`~exchange_sim.client.Client.watch`: no
    store, no process); ``yield watch(client, symbol)`` waits for the first top."""
    return client.watch(instrument)


def take(
    client: Client, instrument: str, side: Side, lots: int, **options: Any
) -> Generator[simpy.Event, Any, OrderResult]:
    """A market order of ``lots`` (``yield from take(...)`` returns its result).

    A market order is bounded by the protection band around the venue's reference price; when
    there is none yet (a venue referencing the last trade, before the first trade), it is sent
    again as an immediate-or-cancel limit at the band's edge around the mark of the latest
    delivered top (if the agent subscribed to it), so an agent can trade from the first second.
    """
    result = yield client.submit(instrument, side, lots, None, OrderType.MARKET, TimeInForce.IOC, **options)
    if result.reason is Reason.NO_REFERENCE_PRICE:
        top = client.tops.get(instrument)
        mark = top.mark if top is not None else None
        if mark is not None:
            band = client.instruments[instrument].market_band_ppm
            limit = shift_ppm(mark, band if side is Side.BUY else -band)
            result = yield client.submit(
                instrument, side, lots, limit, OrderType.LIMIT, TimeInForce.IOC, **options
            )
    return result
