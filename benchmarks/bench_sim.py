"""What a simulated run costs: venue inputs and market-data deliveries per wall second.

``scenarios/markets.toml``'s venue and market (index paths, marks each minute, hourly funding,
liquidation rules) with one market maker per perpetual (3 levels, re-quoting every second) and
``--noise`` noise traders (an order every 5 s on average each), fixed latencies (1 ms orders,
0.5 ms data), run for ``--hours`` simulated hours with the journal in memory. Prints the wall
time, the journal's events, venue inputs per second and simulated seconds per wall second.

    python benchmarks/bench_sim.py [--hours 2] [--noise 20]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from agents import REGISTRY
from exchange_sim.events import INPUTS
from exchange_sim.journal import read_journal
from exchange_sim.latency import Fixed
from exchange_sim.scenario import load_scenario
from exchange_sim.sim import Simulation

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "markets.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--noise", type=int, default=20)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    config = scenario.venue
    agents = []
    for symbol, size in (("BTC-PERP", "0.01"), ("ETH-PERP", "0.1")):
        maker = REGISTRY["market_maker"].from_params(
            f"mm-{symbol}", {"instrument": symbol, "size": size, "levels": 3, "interval": "1"}, config
        )
        agents.append((maker, "maker", Fixed(1_000), Fixed(500)))
    accounts = ["alice", "bob"]
    for n in range(args.noise):
        noise = REGISTRY["noise"].from_params(
            f"noise-{n}", {"instrument": "BTC-PERP", "max_size": "0.005", "interval": "5"}, config
        )
        agents.append((noise, accounts[n % 2], Fixed(1_000), Fixed(500)))
    sim = Simulation(scenario, until_us=args.hours * 3_600_000_000, agents=agents)
    start = time.perf_counter()
    result = sim.run()
    wall = time.perf_counter() - start
    _, events = read_journal(bytes(sim.journal._memory or b""))
    inputs = sum(1 for e in events if e[0] in INPUTS)
    print(f"python {platform.python_version()} on {platform.machine()}, {len(agents)} agents, {args.hours} h")
    print(
        f"wall {wall:.2f} s: {result.events:,} journal events, {inputs:,} venue inputs"
        f" ({inputs / wall:,.0f} inputs/s), {result.end_us / 1e6 / wall:,.0f} simulated s per wall s"
    )
    result.venue._check()


if __name__ == "__main__":
    main()
