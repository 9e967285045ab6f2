"""A trading day at the scale of ABIDES' reference configuration (rmsc04), with margin and liquidation on.

ABIDES' rmsc04 runs one exchange, 2 market makers, 102 value agents, 12 momentum agents and
1,000 noise agents for a trading day (9:30 to 16:00, 23,400 s), about 475,000 messages between
agents and the exchange, in 44 s on the development machine, with no margin, liquidation or
derivatives. Here, on ``scenarios/markets.toml``'s venue (cross margin checked on every fill,
the ``check`` placement policy, binance liquidation rules, index paths and marks every minute,
hourly funding), over 23,400 simulated seconds:

* 2 market makers on BTC-PERP (10 levels a side, re-quoting every 10 s);
* 102 "value" traders: noise agents trading every 90 s on average;
* 12 momentum traders watching trades;
* 1,000 noise traders each trading about twice in the day (mean interval 11,700 s);

each on its own funded account, with fixed latencies (1 ms orders, 0.5 ms data). A *message* is
counted as ABIDES counts them: an order and its acknowledgement, and each market-data delivery
(``Simulation.messages``). Prints wall time, messages, journal events, events per second and
peak RSS.

    python benchmarks/bench_rmsc.py [--hours 6.5]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import time
from fractions import Fraction
from pathlib import Path

from agents import REGISTRY
from exchange_sim.latency import Fixed
from exchange_sim.scenario import AccountSpec, load_scenario
from exchange_sim.sim import Simulation

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "markets.toml"
P = "BTC-PERP"


def build(hours: Fraction) -> Simulation:
    scenario = load_scenario(SCENARIO)
    config = scenario.venue
    specs = []
    agents = []

    def add(kind: str, name: str, params: dict[str, object]) -> None:
        account = f"{name}"
        specs.append(AccountSpec(account, (("USDC", 1_000_000 * 10**6),)))
        agent = REGISTRY[kind].from_params(name, params, config)
        agents.append((agent, account, Fixed(1_000), Fixed(500)))

    for n in range(2):
        add("market_maker", f"mm{n}", {"instrument": P, "size": "0.01", "levels": 10, "interval": "10"})
    for n in range(102):
        add("noise", f"value{n}", {"instrument": P, "max_size": "0.01", "interval": "90"})
    for n in range(12):
        add("momentum", f"mom{n}", {"instrument": P, "size": "0.01"})
    for n in range(1_000):
        add("noise", f"noise{n}", {"instrument": P, "max_size": "0.005", "interval": "11700"})
    scenario = dataclasses.replace(scenario, accounts=tuple(specs))
    return Simulation(scenario, until_us=int(hours * 3_600_000_000), agents=agents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=Fraction, default=Fraction(13, 2))
    args = parser.parse_args()
    start = time.perf_counter()
    sim = build(args.hours)
    built = time.perf_counter() - start
    start = time.perf_counter()
    result = sim.run()
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    machine = f"python {platform.python_version()} on {platform.machine()}"
    print(f"{machine}: {len(sim.agents):,} agents, {float(args.hours)} h")
    rate = f"{result.messages / wall:,.0f}/s"
    print(f"run {wall:.1f} s (setup {built:.1f} s): {result.messages:,} messages ({rate}),", end="")
    print(f" {result.events:,} journal events ({result.events / wall:,.0f}/s)")
    liquidation = result.venue.liquidation
    print(f"liquidations {liquidation.stats.liquidations if liquidation else 0}; peak RSS {peak:,.0f} MB")
    print("targets: at most 22 s for ABIDES' ~475,000 messages (ABIDES: 44 s), at most 1 GB")
    result.venue._check()


if __name__ == "__main__":
    main()
