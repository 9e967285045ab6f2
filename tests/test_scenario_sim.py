"""Tests for the simulation-run scenario tables (exchange_sim.scenario_sim).

Behaviours verified:

* A file with ``[simulation]``, ``[[agents]]`` and ``[[positions]]`` loads to the expected
  :class:`SimulationSpec`, in exact units: ``"0.002"`` seconds is 2_000 us, a ``{ low, high }``
  latency table is uniform, ``"-0.5"`` BTC-PERP with lot 0.001 is -500 lots, entry ``"30000"``
  with tick 0.5 is 60_000 ticks; an agent's raw TOML parameters are kept as written.
* Defaults: latencies fixed at 0; no agents and no positions; ``Scenario.simulation`` is None
  without these tables.
* Every mistake is a ScenarioError with the exact field path and the expectation: a missing or
  float duration, agents without ``[simulation]``, an unknown kind (the error lists the registered
  kinds), an unknown account, a duplicate name, a bad latency (table or value), an agent's
  ParamError mapped onto ``agents[i].<field>`` (also a nested path and an unknown parameter); a
  position on a spot pair or an unlisted instrument, off the lot size or the tick grid, a zero
  size, a counterparty that is the account itself or unknown. An agent raising anything else than
  ParamError propagates (a bug, not a user error).
* ``describe_simulation`` summarises the run for ``exchange-sim validate``.
* The example in docs/scenario-format.md loads to the spec the page states and is described by
  the lines it shows (its ``market_maker`` replaced by a parameterless test agent).
* End to end: a scenario string with a test agent and a starting position runs to its end with
  :class:`~exchange_sim.sim.Simulation`, the position open and the venue's invariants holding.

The real agent kinds are written elsewhere: a small test agent is registered with monkeypatch.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import agents
from agents.base import ParamError, Params
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.scenario import ScenarioError, loads_scenario
from exchange_sim.scenario_sim import describe_simulation
from exchange_sim.sim import Simulation
from exchange_sim.sim_spec import AgentSpec, LatencySpec, PositionSpec, SimulationSpec

S = 1_000_000


class Probe:
    """The test agent: one ``size`` (contracts), an optional ``timeline`` of ``{ at = seconds }``
    entries; at each time it buys ``size`` BTC-PERP at 30000 (IOC) and records the result."""

    def __init__(self, name: str, size: Fraction, times: list[int]) -> None:
        self.name = name
        self.size = size
        self.times = times
        self.results: list[tuple[int, Any]] = []

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any], config: Any) -> Probe:
        p = Params(params, config)
        size = p.decimal("size", positive=True)
        if p.raw("boom", False):
            raise RuntimeError("a bug in the agent")
        times = []
        for i, entry in enumerate(p.raw("timeline", [])):
            at = entry.get("at") if isinstance(entry, dict) else None
            if not isinstance(at, str) or not at.isdigit():
                raise ParamError(f"timeline[{i}].at", 'whole seconds such as "10"', at)
            times.append(int(at) * S)
        p.done()
        return cls(name, size, times)

    def run(self, client: Any, rng: Any) -> Generator[Any, Any, None]:
        for at in self.times:
            yield client.env.timeout(at - client.now)
            result = yield client.submit("BTC-PERP", Side.BUY, str(self.size), "30000", tif=TimeInForce.IOC)
            self.results.append((client.now, result))


@pytest.fixture(autouse=True)
def probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(agents.REGISTRY, "test_agent", Probe)


BASE = """
[scenario]
name = "run"
seed = 3

[[assets]]
symbol = "USDC"
decimals = 6

[[assets]]
symbol = "BTC"
decimals = 8

[margin]
settlement_asset = "USDC"

[[instruments]]
symbol = "BTC-PERP"
kind = "perpetual"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.5"
lot_size = "0.001"
brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 10000 }]

[[instruments]]
symbol = "BTC-USDC"
kind = "spot"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.5"
lot_size = "0.0001"

[[accounts]]
id = "alice"
balances = { USDC = "100000" }

[[accounts]]
id = "maker"
balances = { USDC = "1000000" }
"""

SIMULATION = """
[simulation]
duration = "86400"
"""


def table(header: str, **fields: str | None) -> str:
    """A TOML table; each value is raw TOML text (quote strings yourself), None drops the key."""
    lines = ["", header] + [f"{key} = {value}" for key, value in fields.items() if value is not None]
    return "\n".join(lines) + "\n"


def agent(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {
        "name": '"mm"',
        "kind": '"test_agent"',
        "account": '"maker"',
        "size": '"0.01"',
    }
    fields.update(overrides)
    return table("[[agents]]", **fields)


def position(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {
        "account": '"alice"',
        "instrument": '"BTC-PERP"',
        "size": '"-0.5"',
        "entry": '"30000"',
        "counterparty": '"maker"',
    }
    fields.update(overrides)
    return table("[[positions]]", **fields)


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text)
    return info.value


# loading ----------------------------------------------------------------------------------------


def test_full_example_loads_in_exact_units() -> None:
    text = (
        BASE
        + SIMULATION
        + agent(order_latency='"0.002"', data_latency='{ low = "0.001", high = "0.005" }')
        + agent(name='"n1"', account='"alice"', size='"0.5"', timeline='[{ at = "10" }, { at = "20" }]')
        + position()
    )
    spec = loads_scenario(text).simulation
    assert spec == SimulationSpec(
        86_400 * S,
        (
            AgentSpec(
                "mm",
                "test_agent",
                "maker",
                {"size": "0.01"},
                LatencySpec("fixed", 2_000, 2_000),
                LatencySpec("uniform", 1_000, 5_000),
            ),
            AgentSpec("n1", "test_agent", "alice", {"size": "0.5", "timeline": [{"at": "10"}, {"at": "20"}]}),
        ),
        (PositionSpec("alice", "BTC-PERP", -500, 60_000, "maker"),),
    )
    assert dict(spec.agents[1].params) == {"size": "0.5", "timeline": [{"at": "10"}, {"at": "20"}]}
    with pytest.raises(TypeError):
        spec.agents[0].params["size"] = "1"  # type: ignore[index]


def test_defaults() -> None:
    spec = loads_scenario(BASE + SIMULATION + agent()).simulation
    assert spec is not None
    [mm] = spec.agents
    assert mm.order_latency == LatencySpec() == mm.data_latency
    assert spec.positions == ()
    assert loads_scenario(BASE + SIMULATION).simulation == SimulationSpec(86_400 * S)


def test_a_scenario_without_these_tables_has_no_simulation() -> None:
    assert loads_scenario(BASE).simulation is None


def test_integer_and_fractional_seconds() -> None:
    text = BASE + table("[simulation]", duration='"0.5"') + agent(order_latency="1", data_latency='"0"')
    spec = loads_scenario(text).simulation
    assert spec is not None
    assert spec.duration_us == 500_000
    assert spec.agents[0].order_latency == LatencySpec("fixed", S, S)


# errors -----------------------------------------------------------------------------------------

ERRORS = [
    # (id, file text, field, a piece of the expectation, got)
    ("missing-duration", BASE + "[simulation]\n", "simulation.duration", "(required, missing)", None),
    (
        "float-duration",
        BASE + table("[simulation]", duration="60.0"),
        "simulation.duration",
        'write "60.0" in quotes',
        "60.0",
    ),
    ("zero-duration", BASE + table("[simulation]", duration='"0"'), "simulation.duration", "positive", "'0'"),
    (
        "duration-below-a-microsecond",
        BASE + table("[simulation]", duration='"0.0000001"'),
        "simulation.duration",
        "at most 6 decimals",
        "'0.0000001'",
    ),
    (
        "unknown-simulation-key",
        BASE + table("[simulation]", duration='"1"', seed="1"),
        "simulation.seed",
        "one of the keys duration",
        "'seed'",
    ),
    ("agents-without-simulation", BASE + agent(), "simulation", "required with [[agents]]", None),
    (
        "positions-without-simulation",
        BASE + position(),
        "simulation",
        "required with [[positions]]",
        None,
    ),
    ("missing-name", BASE + SIMULATION + agent(name=None), "agents[0].name", "(required, missing)", None),
    ("bad-name", BASE + SIMULATION + agent(name='"m m"'), "agents[0].name", "a symbol", "'m m'"),
    (
        "duplicate-name",
        BASE + SIMULATION + agent() + agent(account='"alice"'),
        "agents[1].name",
        "a unique agent name (agents[0] already declares it)",
        "'mm'",
    ),
    ("missing-kind", BASE + SIMULATION + agent(kind=None), "agents[0].kind", "(required, missing)", None),
    (
        "unknown-kind",
        BASE + SIMULATION + agent(kind='"test_agnet"'),
        "agents[0].kind",
        "\"test_agent\" (docs/agents.md) (did you mean 'test_agent'?)",
        "'test_agnet'",
    ),
    (
        "unknown-account",
        BASE + SIMULATION + agent(account='"carol"'),
        "agents[0].account",
        "an account declared in [[accounts]] (one of alice, maker)",
        "'carol'",
    ),
    (
        "missing-account",
        BASE + SIMULATION + agent(account=None),
        "agents[0].account",
        "(required, missing)",
        None,
    ),
    (
        "float-latency",
        BASE + SIMULATION + agent(order_latency="0.002"),
        "agents[0].order_latency",
        'write "0.002" in quotes',
        "0.002",
    ),
    (
        "negative-latency",
        BASE + SIMULATION + agent(data_latency='"-1"'),
        "agents[0].data_latency",
        "a latency in seconds >= 0",
        "'-1'",
    ),
    (
        "latency-below-a-microsecond",
        BASE + SIMULATION + agent(order_latency='"0.0000005"'),
        "agents[0].order_latency",
        "at most 6 decimals",
        "'0.0000005'",
    ),
    (
        "latency-table-high-below-low",
        BASE + SIMULATION + agent(order_latency='{ low = "0.005", high = "0.001" }'),
        "agents[0].order_latency.high",
        'a latency >= low ("0.005" s)',
        "'0.001'",
    ),
    (
        "latency-table-missing-high",
        BASE + SIMULATION + agent(order_latency='{ low = "0.005" }'),
        "agents[0].order_latency.high",
        "(required, missing)",
        None,
    ),
    (
        "latency-table-unknown-key",
        BASE + SIMULATION + agent(data_latency='{ low = "0", hi = "1" }'),
        "agents[0].data_latency.hi",
        "one of the keys low, high (did you mean 'high'?)",
        "'hi'",
    ),
    (
        "latency-table-float-bound",
        BASE + SIMULATION + agent(data_latency='{ low = 0.001, high = "1" }'),
        "agents[0].data_latency.low",
        'write "0.001" in quotes',
        "0.001",
    ),
    (
        "latency-wrong-type",
        BASE + SIMULATION + agent(data_latency="true"),
        "agents[0].data_latency",
        "(uniform)",
        "True",
    ),
    (
        "param-error",
        BASE + SIMULATION + agent(size='"-1"'),
        "agents[0].size",
        "a positive number",
        "'-1'",
    ),
    (
        "param-missing",
        BASE + SIMULATION + agent(size=None),
        "agents[0].size",
        "a value (it is required)",
        None,
    ),
    (
        "param-float",
        BASE + SIMULATION + agent(size="0.5"),
        "agents[0].size",
        'a decimal written as a quoted string such as "0.5"',
        "0.5",
    ),
    (
        "param-nested-path",
        BASE + SIMULATION + agent(timeline='[{ at = "10" }, { at = "x" }]'),
        "agents[0].timeline[1].at",
        'whole seconds such as "10"',
        "'x'",
    ),
    (
        "unknown-param",
        BASE + SIMULATION + agent(sise='"1"'),
        "agents[0].sise",
        "no such parameter for this agent",
        "'1'",
    ),
    (
        "unknown-param-quoted-key",
        BASE + SIMULATION + agent(**{'"a b"': '"1"'}),
        'agents[0]."a b"',
        "no such parameter for this agent",
        "'1'",
    ),
    (
        "position-on-spot",
        BASE + SIMULATION + position(instrument='"BTC-USDC"'),
        "positions[0].instrument",
        "a perpetual or future declared in [[instruments]] (BTC-PERP) (a spot pair has no positions)",
        "'BTC-USDC'",
    ),
    (
        "position-unlisted",
        BASE + SIMULATION + position(instrument='"ETH-PERP"'),
        "positions[0].instrument",
        "a perpetual or future declared in [[instruments]] (BTC-PERP)",
        "'ETH-PERP'",
    ),
    (
        "size-off-lot",
        BASE + SIMULATION + position(size='"-0.0005"'),
        "positions[0].size",
        "a multiple of the lot size 0.001",
        "'-0.0005'",
    ),
    ("zero-size", BASE + SIMULATION + position(size='"0"'), "positions[0].size", "a non-zero size", "'0'"),
    (
        "float-size",
        BASE + SIMULATION + position(size="-0.5"),
        "positions[0].size",
        'write "-0.5" in quotes',
        "-0.5",
    ),
    (
        "entry-off-tick",
        BASE + SIMULATION + position(entry='"30000.25"'),
        "positions[0].entry",
        "on the tick grid (0.5)",
        "'30000.25'",
    ),
    (
        "entry-not-positive",
        BASE + SIMULATION + position(entry='"0"'),
        "positions[0].entry",
        "a positive price in USDC per BTC",
        "'0'",
    ),
    (
        "counterparty-is-account",
        BASE + SIMULATION + position(counterparty='"alice"'),
        "positions[0].counterparty",
        "another account than alice",
        "'alice'",
    ),
    (
        "unknown-counterparty",
        BASE + SIMULATION + position(counterparty='"carol"'),
        "positions[0].counterparty",
        "an account declared in [[accounts]]",
        "'carol'",
    ),
    (
        "position-unknown-account",
        BASE + SIMULATION + position(account='"carol"'),
        "positions[0].account",
        "an account declared in [[accounts]]",
        "'carol'",
    ),
    (
        "position-unknown-key",
        BASE + SIMULATION + position(price='"1"'),
        "positions[0].price",
        "one of the keys account, instrument, size, entry, counterparty",
        "'price'",
    ),
    (
        "position-missing-entry",
        BASE + SIMULATION + position(entry=None),
        "positions[0].entry",
        "(required, missing)",
        None,
    ),
    ("agents-not-an-array", 'agents = "mm"\n' + BASE + SIMULATION, "agents", "[[agents]]", "'mm'"),
]


@pytest.mark.parametrize(
    ("text", "field", "expected", "got"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_the_field(text: str, field: str, expected: str, got: str | None) -> None:
    err = error(text)
    assert err.field == field, str(err)
    assert expected in err.expected, str(err)
    assert err.got == got, str(err)


def test_unknown_kind_lists_the_registered_kinds() -> None:
    err = error(BASE + SIMULATION + agent(kind='"nope"'))
    assert err.expected.startswith("an agent kind: one of ")
    for kind in agents.REGISTRY:
        assert f'"{kind}"' in err.expected
    assert str(err).startswith("<string>: agents[0].kind: expected an agent kind: one of ")


def test_an_agent_bug_is_not_a_scenario_error() -> None:
    with pytest.raises(RuntimeError, match="a bug in the agent"):
        loads_scenario(BASE + SIMULATION + agent(boom="true"))


def test_an_agent_cannot_change_the_stored_params() -> None:
    class Mutator(Probe):
        @classmethod
        def from_params(cls, name: str, params: Mapping[str, Any], config: Any) -> Probe:
            params["timeline"][0]["at"] = "99"  # type: ignore[index]
            return super().from_params(name, params, config)

    agents.REGISTRY["test_agent"] = Mutator  # restored by the fixture's monkeypatch
    spec = loads_scenario(BASE + SIMULATION + agent(timeline='[{ at = "1" }]')).simulation
    assert spec is not None
    assert spec.agents[0].params["timeline"] == [{"at": "1"}]


# describing -------------------------------------------------------------------------------------


def test_describe_simulation() -> None:
    text = (
        BASE
        + SIMULATION
        + agent(order_latency='"0.002"', data_latency='{ low = "0.001", high = "0.005" }')
        + agent(name='"n1"', account='"alice"')
        + position()
    )
    scenario = loads_scenario(text)
    assert scenario.simulation is not None
    assert describe_simulation(scenario.simulation, scenario.venue) == [
        "simulation: 86400 s, 2 agents (mm: test_agent on maker, n1: test_agent on alice),"
        " 1 starting position",
        "agent mm: order latency 0.002 s, data latency 0.001 to 0.005 s (uniform)",
        "agent n1: order latency 0 s, data latency 0 s",
        "position alice: -0.5 BTC-PERP at 30000 USDC, counterparty maker",
    ]
    assert describe_simulation(SimulationSpec(1_500_000)) == [
        "simulation: 1.5 s, no agents, no starting positions"
    ]


class Bare(Probe):
    """A test agent without parameters, standing in for a real kind in the docs example."""

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any], config: Any) -> Probe:
        Params(params, config).done()
        return cls(name, Fraction(1), [])


def test_the_docs_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(agents.REGISTRY, "market_maker", Bare)
    page = (Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md").read_text()
    section = page.split("#### Example: a run", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    shown = re.search(r"```\n(.*?)```", section[example.end() :], re.S)
    assert shown is not None
    scenario = loads_scenario(BASE + example.group(1), "docs/scenario-format.md")
    assert scenario.simulation == SimulationSpec(
        86_400_000_000,
        (
            AgentSpec(
                "mm",
                "market_maker",
                "maker",
                {},
                LatencySpec("fixed", 2_000, 2_000),
                LatencySpec("uniform", 1_000, 5_000),
            ),
        ),
        (PositionSpec("alice", "BTC-PERP", -500, 60_000, "maker"),),
    )
    assert describe_simulation(scenario.simulation, scenario.venue) == shown.group(1).splitlines()


# running ----------------------------------------------------------------------------------------


def test_a_loaded_scenario_runs_to_its_end() -> None:
    """mm quotes nothing; the probe on alice buys 0.01 at 10 s (nobody sells: IOC, no fill). The
    starting position opens at time 0 against maker; the run ends at 60 s."""
    text = (
        BASE
        + table("[simulation]", duration='"60"')
        + agent(name='"probe"', account='"alice"', order_latency='"0.002"', timeline='[{ at = "10" }]')
        + position()
    )
    scenario = loads_scenario(text)
    sim = Simulation(scenario)
    result = sim.run()
    assert result.end_us == 60 * S
    assert result.venue.position_of("alice", "BTC-PERP").size == -500  # type: ignore[union-attr]
    assert result.venue.position_of("maker", "BTC-PERP").size == 500  # type: ignore[union-attr]
    [probe] = result.agents
    assert isinstance(probe, Probe) and probe.name == "probe"
    [(at, order)] = probe.results
    assert at == 10 * S + 2_000 and not order.fills
    result.venue._check()
