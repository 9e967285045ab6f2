"""Portfolio margin's stress grid over many accounts: the cost of one mark update.

The portfolio-margin issue's speed target: 10,000 accounts x 3 instruments x 100 grid scenarios in
one mark update, at most 50 ms. Here: 10,000 accounts with seeded exposures on 3 underlyings
(BTC, ETH, SOL: signed delta notionals up to 1,000,000 USDC each, in atoms), a grid of 16 moves
per underlying (+-1/8 .. +-8/8 of a 15% scan range: 48 single-underlying rows) plus SPAN's
extremes (+-2x range at 35%: 6 rows) and 3 joint directions drawn from a correlation matrix,
each on the same 16-step ladder (48 rows): 102 scenarios in all. ``stress_requirements`` screens
every account and scenario with one float64 matrix product, then confirms each account's worst
exactly in integers. Prints the best of ``--repeat`` and the share of the exact confirmation.

That is the exact requirement of every account. A mark update needs less: which accounts are
below maintenance. The second part measures that through the venue: ``--accounts`` portfolio
accounts built through the public API, each long BTC, short ETH and long SOL perpetuals (sizes
seeded, 1 in 100 thinly funded), the same grid as their portfolio rules (floor 1% of gross),
the ``teaching`` liquidation rules, the journal on. Timed: one mark update that flags nobody
(the health scan's float upper bound of every portfolio requirement, then the exact check of
the few it cannot clear), best of ``--repeat``; then one -8% move of all three marks (BTC's
last) that liquidates the thin accounts.

    python benchmarks/bench_portfolio.py [--accounts 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.liquidation.engine import INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid, _as_float, _screen, stress_requirements
from exchange_sim.orders import Side
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

UNDERLYINGS = ("BTC", "ETH", "SOL")
USDC = Asset("USDC", 6)
MARKS = {"BTC-PERP": 30_000, "ETH-PERP": 2_000, "SOL-PERP": 100}
LOTS = {"BTC-PERP": "0.001", "ETH-PERP": "0.01", "SOL-PERP": "0.1"}


def build_venue(accounts: int, grid: StressGrid, seed: int) -> tuple[Venue, float]:
    """``accounts`` portfolio accounts with positions in three perpetuals (module docstring)."""
    instruments = tuple(
        Instrument.create(
            s, kind="perpetual", underlying=s[:3], settlement=USDC, tick_size="1", lot_size=LOTS[s]
        )
        for s in MARKS
    )
    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    rules = PortfolioRules(UNDERLYINGS, "stress", grid=grid, floor_ppm_of_gross=10_000)
    margin = MarginConfig("USDC", tuple((s, schedule) for s in MARKS), mode="portfolio", portfolio=rules)
    venue = Venue(
        VenueConfig((USDC,), instruments, margin=margin, liquidation=preset("teaching")),
        journal=JournalWriter(),
    )
    start = time.perf_counter()
    venue.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "1000000000")
    for street in ("asks", "bids"):
        venue.open_account(0, street, "cross")
        venue.deposit(0, street, "USDC", "100000000000")
    for symbol, mark in MARKS.items():
        venue.set_mark_price(0, symbol, mark)
        venue.submit(1, "asks", symbol, Side.SELL, 10**9, mark)
        venue.submit(1, "bids", symbol, Side.BUY, 10**9, mark - 1)
    rng = np.random.default_rng(seed)
    notionals = rng.integers(500, 5_000, size=(accounts, 3))  # USDC per position
    for n in range(accounts):
        name = f"a{n}"
        venue.open_account(2, name)
        sizes = {}
        for (symbol, mark), usdc, sign in zip(MARKS.items(), notionals[n], (1, -1, 1), strict=True):
            lots = int(usdc) * 10**6 // (mark * venue.instruments[symbol].atoms_per_tick_per_lot)
            sizes[symbol] = sign * lots
        exposures = [sizes[s] * MARKS[s] * venue.instruments[s].atoms_per_tick_per_lot for s in MARKS]
        gross = sum(abs(x) for x in exposures)
        initial = rules.initial(exposures, gross_notional=gross)
        # thin accounts hold just their initial requirement; the others three times the gross
        venue.deposit(2, name, "USDC", initial + 10**7 if n % 100 == 0 else 3 * gross)  # +10 USDC: the spread
        legs = [
            (s, Side.BUY, lots, MARKS[s]) if lots > 0 else (s, Side.SELL, -lots, MARKS[s] - 1)
            for s, lots in sizes.items()
        ]
        result = venue.submit_legs(2, name, legs)
        assert result.accepted, (name, result.reason)
    venue.liquidation.refresh()  # type: ignore[union-attr]
    return venue, time.perf_counter() - start


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
        f"exact requirement of every one of {args.accounts:,} accounts x {len(UNDERLYINGS)} underlyings x"
        f" {scenarios} scenarios (stress_requirements): {best * 1e3:.1f} ms (best of {args.repeat});"
        f" the float screen alone {screen_best * 1e3:.1f} ms, the exact confirmation"
        f" {(best - screen_best) * 1e3:.1f} ms"
    )
    venue, built = build_venue(args.accounts, grid, seed=3)
    engine = venue.liquidation
    assert engine is not None
    print(f"through the venue: {args.accounts:,} portfolio accounts built in {built:.1f} s")
    best = float("inf")
    for k in range(args.repeat):  # a tiny mark move that flags nobody: detection alone
        start = time.perf_counter()
        venue.set_mark_price(10 + k, "BTC-PERP", MARKS["BTC-PERP"] - 1 - k % 2)
        best = min(best, time.perf_counter() - start)
    assert engine.stats.liquidations == 0
    print(f"  one mark update, nobody below maintenance: {best * 1e3:.2f} ms (best of {args.repeat})")
    ts = 100
    for symbol in ("ETH-PERP", "SOL-PERP"):
        venue.set_mark_price(ts, symbol, MARKS[symbol] * 92 // 100)
        ts += 1
    before = engine.stats.liquidations
    start = time.perf_counter()
    venue.set_mark_price(ts, "BTC-PERP", MARKS["BTC-PERP"] * 92 // 100)
    elapsed = time.perf_counter() - start
    print(
        f"  -8% on BTC (after ETH and SOL): {engine.stats.liquidations - before:,} liquidated in"
        f" {elapsed * 1e3:.1f} ms ({engine.stats.liquidations:,} in all)"
    )
    venue._check()
    print("target: one mark update (10,000 accounts x 3 instruments x 100 scenarios) at most 50 ms")


if __name__ == "__main__":
    main()
