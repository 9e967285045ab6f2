"""What the market feed costs per market step, and what one volatility-halt check costs.

* ``feed``: ``scenarios/markets.toml``'s venue and market (a correlated BTC jump diffusion and ETH
  GBM, median, fair-price and index marks on three contracts, two hourly fundings sampled every
  minute, a future settling after a day) driven for ``--steps`` one-minute steps with no traders:
  the cost of paths, marks, premium samples, fundings and the expiry, journal on. A variant
  ``feed+book`` first rests 20 quote levels a side on each contract so that mid, basis and
  impact-price work is real.
* ``halt``: ``breakers.MarkWindow.moved_too_far`` on a random-walk mark with windows of 60 and
  3,600 marks: the cost per mark should not grow with the window (it keeps only the window's
  minimum and maximum candidates).

Prints microseconds per step (best of ``--repeat``) and steps per second.

    python benchmarks/bench_feed.py [--steps 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from exchange_sim.breakers import MarkWindow
from exchange_sim.journal import JournalWriter
from exchange_sim.market_feed import MarketFeed
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.scenario import load_scenario
from exchange_sim.venue import Venue

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "markets.toml"


def run_feed(steps: int, with_book: bool) -> float:
    scenario = load_scenario(SCENARIO)
    assert scenario.market is not None
    venue = Venue(scenario.venue, journal=JournalWriter())
    venue.open_account(0, "maker")
    venue.deposit(0, "maker", "USDC", "100000000")
    venue.deposit(0, "maker", "BTC", "1000")
    feed = MarketFeed(venue, scenario.market, scenario.seed)
    feed.advance(0)
    if with_book:
        for inst in scenario.venue.instruments:
            mid = venue.marks.get(inst.symbol) or int(30_000 / inst.tick_size)
            gap = max(1, mid // 2_000)
            for level in range(1, 21):
                for side, price in ((Side.BUY, mid - level * gap), (Side.SELL, mid + level * gap)):
                    venue.submit(
                        0, "maker", inst.symbol, side, inst.min_size * 10, price, tif=TimeInForce.GTC
                    )
    step = scenario.market.step_us
    start = time.perf_counter()
    for k in range(1, steps + 1):
        feed.advance(k * step)
    return (time.perf_counter() - start) / steps


def run_halt(marks: int, window: int) -> float:
    rng = np.random.default_rng(1)
    path = (30_000 + np.cumsum(rng.integers(-5, 6, size=marks))).tolist()
    w = MarkWindow(window)
    check = w.moved_too_far
    start = time.perf_counter()
    for ts, mark in enumerate(path):
        check(ts, mark, 100_000)
    return (time.perf_counter() - start) / marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, best of {args.repeat}")
    for name, with_book in (("feed", False), ("feed+book", True)):
        best = min(run_feed(args.steps, with_book) for _ in range(args.repeat))
        print(
            f"{name:<10} {args.steps} one-minute steps: {best * 1e6:8.1f} us/step  ({1 / best:,.0f} steps/s)"
        )
    for window in (60, 3_600):
        best = min(run_halt(200_000, window) for _ in range(args.repeat))
        print(f"halt       window {window:>5} marks: {best * 1e9:8.0f} ns/mark")


if __name__ == "__main__":
    main()
