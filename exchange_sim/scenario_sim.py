"""The scenario tables of a simulation run: ``[simulation]``, ``[[agents]]`` and ``[[positions]]``
(``docs/scenario-format.md``).

:func:`read_simulation` is called by :mod:`exchange_sim.scenario`'s loader once the venue
configuration and the accounts are read, and returns the
:class:`~exchange_sim.sim_spec.SimulationSpec` found at ``Scenario.simulation`` (``None`` when the
file has none of these tables). It uses the loader's ``_Table`` helpers, so its mistakes are the
loader's :class:`~exchange_sim.scenario.ScenarioError` with a field path (``agents[1].account``,
``positions[0].entry``).

An agent's own parameters (every key of its table but the common ones) are checked by its class:
``agents.REGISTRY[kind].from_params(name, params, venue_config)`` runs at load time, and its
:class:`agents.base.ParamError` becomes a ScenarioError on ``agents[i].<its field>``. The raw
TOML values are kept in :attr:`AgentSpec.params <exchange_sim.sim_spec.AgentSpec.params>`:
:class:`~exchange_sim.sim.Simulation` calls ``from_params`` again to build the agent it runs.

Units: times are read in seconds and stored in integer microseconds, position sizes in contracts
and stored in signed lots, entry prices in settlement units and stored in ticks.
"""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from exchange_sim.instruments import Instrument
from exchange_sim.scenario import _claim, _Invalid, _show, _Table, _unit_errors
from exchange_sim.sim_spec import AgentSpec, LatencySpec, PositionSpec, SimulationSpec
from exchange_sim.units import format_atoms, seconds

if TYPE_CHECKING:
    from exchange_sim.config import VenueConfig
    from exchange_sim.scenario import AccountSpec

__all__ = ["AGENT_KEYS", "SIM_KEYS", "describe_simulation", "read_simulation"]

SIM_KEYS = ("simulation", "agents", "positions")
"""The top-level keys this module reads."""

AGENT_KEYS = ("name", "kind", "account", "order_latency", "data_latency")
"""The keys every ``[[agents]]`` table may have; every other key is the agent's own parameter."""

_SIMULATION_KEYS = ("duration",)
_LATENCY_KEYS = ("low", "high")
_POSITION_KEYS = ("account", "instrument", "size", "entry", "counterparty")

_DURATION_EXPECTED = 'a positive number of seconds of simulated time with at most 6 decimals, such as "86400"'
_LATENCY_EXPECTED = (
    'a latency in seconds >= 0 with at most 6 decimals, such as "0.002" (fixed), or a table such as'
    ' { low = "0.001", high = "0.005" } (uniform)'
)
_LATENCY_BOUND_EXPECTED = 'a latency in seconds >= 0 with at most 6 decimals, such as "0.001"'


def read_simulation(
    top: _Table, config: VenueConfig, accounts: tuple[AccountSpec, ...]
) -> SimulationSpec | None:
    """The ``[simulation]``, ``[[agents]]`` and ``[[positions]]`` tables.

    Args:
        top: the file's top-level table (the loader's ``_Table``).
        config: the venue configuration (instruments; handed to each agent's ``from_params``).
        accounts: the accounts ``[[accounts]]`` opens.

    Returns ``None`` without any of the three tables. ``[[agents]]`` or ``[[positions]]`` without
    ``[simulation]`` is an error (a run needs its duration). Raises the loader's internal
    ``_Invalid`` (turned into :class:`~exchange_sim.scenario.ScenarioError` by the loader).
    """
    if not any(top.has(key) for key in SIM_KEYS):
        return None
    if not top.has("simulation"):
        others = " and ".join(f"[[{key}]]" for key in SIM_KEYS[1:] if top.has(key))
        raise _Invalid(
            "simulation", f"a [simulation] table with its duration (required with {others}, missing)"
        )
    table = top.table("simulation")
    table.reject_unknown(_SIMULATION_KEYS)
    duration = _seconds(table, "duration", _DURATION_EXPECTED)
    if duration <= 0:
        raise _Invalid(table.path_of("duration"), _DURATION_EXPECTED, _show(table.get("duration")))
    account_ids = tuple(account.id for account in accounts)
    agents = _read_agents(top, config, account_ids)
    positions = _read_positions(top, config, account_ids)
    return SimulationSpec(duration, agents, positions)


def describe_simulation(spec: SimulationSpec, config: VenueConfig | None = None) -> list[str]:
    """Lines describing a scenario's run (for ``exchange-sim validate``), without indentation:
    a summary, then one line per agent (its latencies) and one per starting position (in the
    file's units with ``config``, else in lots and ticks).

    >>> agent = AgentSpec("mm", "market_maker", "maker", order_latency=LatencySpec("fixed", 2_000))
    >>> position = PositionSpec("alice", "BTC-PERP", -500, 60_000, "maker")
    >>> for line in describe_simulation(SimulationSpec(86_400_000_000, (agent,), (position,))):
    ...     print(line)
    simulation: 86400 s, 1 agent (mm: market_maker on maker), 1 starting position
    agent mm: order latency 0.002 s, data latency 0 s
    position alice: -500 lots of BTC-PERP at 60000 ticks, counterparty maker
    """
    names = ", ".join(f"{a.name}: {a.kind} on {a.account}" for a in spec.agents)
    agents = _count(len(spec.agents), "agent") + (f" ({names})" if names else "")
    positions = _count(len(spec.positions), "starting position")
    lines = [f"simulation: {_format_seconds(spec.duration_us)} s, {agents}, {positions}"]
    for agent in spec.agents:
        lines.append(
            f"agent {agent.name}: order latency {_format_latency(agent.order_latency)},"
            f" data latency {_format_latency(agent.data_latency)}"
        )
    instruments = {} if config is None else {i.symbol: i for i in config.instruments}
    for position in spec.positions:
        inst = instruments.get(position.instrument)
        if inst is None:
            what = f"{position.size} lots of {position.instrument} at {position.entry} ticks"
        else:
            size, price = inst.format_size(position.size), inst.format_price(position.entry)
            what = f"{size} {position.instrument} at {price} {inst.settlement_asset}"
        lines.append(f"position {position.account}: {what}, counterparty {position.counterparty}")
    return lines


# agents -----------------------------------------------------------------------------------------


def _read_agents(top: _Table, config: VenueConfig, account_ids: tuple[str, ...]) -> tuple[AgentSpec, ...]:
    from agents import REGISTRY  # the venue never imports agents; only the loader and the simulator
    from agents.base import ParamError

    specs: list[AgentSpec] = []
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("agents"):
        name = table.symbol("name")
        _claim(first_index, name, index, table, "name", "agent name", "agents")
        kind = _kind(table, REGISTRY)
        account = _account(table, "account", account_ids)
        order_latency = _latency(table, "order_latency")
        data_latency = _latency(table, "data_latency")
        params = {key: table.data[key] for key in table if key not in AGENT_KEYS}
        try:
            REGISTRY[kind].from_params(name, _copy(params), config)
        except ParamError as exc:
            raise _param_error(table, params, exc) from None
        specs.append(AgentSpec(name, kind, account, MappingProxyType(params), order_latency, data_latency))
    return tuple(specs)


def _kind(table: _Table, registry: dict[str, Any]) -> str:
    kinds = list(registry)
    listing = ", ".join(f'"{k}"' for k in kinds) if kinds else "none are registered"
    expected = f"an agent kind: one of {listing} (docs/agents.md)"
    kind = table.string("kind", expected, required=True)
    if kind not in registry:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Invalid(table.path_of("kind"), expected + hint, _show(kind))
    return kind


def _param_error(table: _Table, params: dict[str, Any], exc: Any) -> _Invalid:
    """A ParamError on ``agents[i].<field>`` (the field may itself be a path, ``timeline[3].at``)."""
    field = str(exc.field)
    path = table.path_of(field) if field in params else f"{table.path}.{field}"
    return _Invalid(path, str(exc.expected), None if exc.got is None else _show(exc.got))


def _copy(value: Any) -> Any:
    """A deep copy of TOML values (dicts, lists, scalars), so that an agent cannot change them."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _latency(table: _Table, key: str) -> LatencySpec:
    """``"0.002"`` (fixed) or ``{ low = "0.001", high = "0.005" }`` (uniform); default fixed 0."""
    if not table.has(key):
        return LatencySpec()
    if isinstance(table.get(key), dict):
        bounds = table.table(key)
        bounds.reject_unknown(_LATENCY_KEYS)
        low = _seconds(bounds, "low", _LATENCY_BOUND_EXPECTED)
        high = _seconds(bounds, "high", _LATENCY_BOUND_EXPECTED)
        for bound, value in (("low", low), ("high", high)):
            if value < 0:
                raise _Invalid(bounds.path_of(bound), _LATENCY_BOUND_EXPECTED, _show(bounds.get(bound)))
        if high < low:
            raise _Invalid(
                bounds.path_of("high"),
                f'a latency >= low ("{_format_seconds(low)}" s)',
                _show(bounds.get("high")),
            )
        return LatencySpec("uniform", low, high)
    value = _seconds(table, key, _LATENCY_EXPECTED)
    if value < 0:
        raise _Invalid(table.path_of(key), _LATENCY_EXPECTED, _show(table.get(key)))
    return LatencySpec("fixed", value, value)


# positions --------------------------------------------------------------------------------------


def _read_positions(
    top: _Table, config: VenueConfig, account_ids: tuple[str, ...]
) -> tuple[PositionSpec, ...]:
    instruments = {i.symbol: i for i in config.instruments}
    contracts = [symbol for symbol, inst in instruments.items() if not inst.is_spot]
    specs: list[PositionSpec] = []
    for _, table in top.array_of_tables("positions"):
        table.reject_unknown(_POSITION_KEYS)
        account = _account(table, "account", account_ids)
        symbol = table.symbol("instrument")
        inst = instruments.get(symbol)
        if inst is None or inst.is_spot:
            listing = ", ".join(contracts) if contracts else "none are listed"
            reason = " (a spot pair has no positions)" if inst is not None else ""
            raise _Invalid(
                table.path_of("instrument"),
                f"a perpetual or future declared in [[instruments]] ({listing}){reason}",
                _show(symbol),
            )
        size = _size(table, inst)
        entry = _entry(table, inst)
        counterparty = _account(table, "counterparty", account_ids)
        if counterparty == account:
            raise _Invalid(
                table.path_of("counterparty"),
                f"another account than {account} (it takes the opposite side)",
                _show(counterparty),
            )
        specs.append(PositionSpec(account, symbol, size, entry, counterparty))
    return tuple(specs)


def _size(table: _Table, inst: Instrument) -> int:
    lot, least = inst.format_size(1), inst.format_size(inst.min_size)
    expected = (
        f"a non-zero size in contracts, signed (negative: short), a multiple of the lot size {lot}"
        f' of at least {least} either way, such as "{least}" or "-{least}"'
    )
    size = table.decimal("size", expected, required=True)
    lots = size / inst.lot_size
    if lots.denominator != 1 or abs(lots) < inst.min_size:
        raise _Invalid(table.path_of("size"), expected, _show(table.get("size")))
    return int(lots)


def _entry(table: _Table, inst: Instrument) -> int:
    tick = inst.format_price(1)
    expected = (
        f"a positive price in {inst.settlement_asset} per {inst.underlying} on the tick grid"
        f' ({tick}), such as "{inst.format_price(max(1, round(30_000 / inst.tick_size)))}"'
    )
    price = table.decimal("entry", expected, required=True)
    ticks = price / inst.tick_size
    if ticks.denominator != 1 or ticks <= 0:
        raise _Invalid(table.path_of("entry"), expected, _show(table.get("entry")))
    return int(ticks)


# helpers ----------------------------------------------------------------------------------------


def _account(table: _Table, key: str, account_ids: tuple[str, ...]) -> str:
    account = table.symbol(key)
    if account not in account_ids:
        listing = "one of " + ", ".join(account_ids) if account_ids else "none are declared"
        raise _Invalid(table.path_of(key), f"an account declared in [[accounts]] ({listing})", _show(account))
    return account


def _seconds(table: _Table, key: str, expected: str) -> int:
    """A required time in seconds (decimal string or integer, never a float) -> microseconds."""
    amount = table.decimal(key, expected, required=True)
    with _unit_errors(table.path_of(key), expected, _show(table.get(key))):
        return seconds(amount)


def _format_seconds(us: int) -> str:
    return format_atoms(us, 6)


def _format_latency(latency: LatencySpec) -> str:
    if latency.kind == "fixed":
        return f"{_format_seconds(latency.low)} s"
    return f"{_format_seconds(latency.low)} to {_format_seconds(latency.high)} s (uniform)"


def _count(n: int, noun: str) -> str:
    if n == 0:
        return f"no {noun}s"
    return f"{n} {noun}" + ("" if n == 1 else "s")
