"""Portfolio margin's stress grid over many accounts: the cost of one mark update.

The portfolio-margin issue's speed target: 10,000 accounts x 3 instruments x 100 grid scenarios in
one mark update, at most 50 ms. Here: 10,000 accounts with seeded exposures on 3 underlyings
(BTC, ETH, SOL: signed delta notionals up to 1,000,000 USDC each, in atoms), a grid of 16 moves
per underlying (+-1/8 .. +-8/8 of a 15% scan range: 48 single-underlying rows) plus SPAN's
extremes (+-2x range at 35%: 6 rows) and 3 joint directions drawn from a correlation matrix,
each on the same 16-step ladder (48 rows): 102 scenarios in all. ``stress_requirements`` screens
every account and scenario with one float64 matrix product, then confirms each account's worst
exactly in integers. Prints the best of ``--repeat`` and the share of the exact confirmation.

    python benchmarks/bench_portfolio.py [--accounts 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from exchange_sim.margin.portfolio import StressGrid, _as_float, _screen, stress_requirements

UNDERLYINGS = ("BTC", "ETH", "SOL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    correlation = (("1", "0.8", "0.7"), ("0.8", "1", "0.75"), ("0.7", "0.75", "1"))
    grid = StressGrid(
        UNDERLYINGS,
        (150_000, 150_000, 150_000),
        steps=8,
        correlation=correlation,
        principal=False,
        joint_draws=3,
        seed=1,
    )
    scenarios = grid.scenarios().shape[0]
    rng = np.random.default_rng(7)
    raw = rng.integers(-(10**12), 10**12, size=(args.accounts, len(UNDERLYINGS)))
    exposures = [[int(v) for v in row] for row in raw]
    best = screen_best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        _screen(_as_float(exposures), grid._moves, grid._weights)
        screen_best = min(screen_best, time.perf_counter() - start)
        start = time.perf_counter()
        requirements = stress_requirements(exposures, grid)
        best = min(best, time.perf_counter() - start)
    assert len(requirements) == args.accounts and min(requirements) >= 0
    print(f"python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}")
    print(
        f"{args.accounts:,} accounts x {len(UNDERLYINGS)} underlyings x {scenarios} scenarios:"
        f" {best * 1e3:.1f} ms per mark update (best of {args.repeat}); the float screen alone"
        f" {screen_best * 1e3:.1f} ms, the exact confirmation {(best - screen_best) * 1e3:.1f} ms"
    )
    print("target: at most 50 ms")


if __name__ == "__main__":
    main()
