"""What finding the accounts below maintenance costs: 100,000 accounts, 3 instruments, numpy prefilter.

``exchange_sim.liquidation.scan.HealthScan`` holds every account's balances and position sizes in
column arrays. The benchmark builds one for ``--accounts`` seeded random accounts (positions in
BTC-, ETH- and SOL-PERP with ``scenarios/margin.toml``-like brackets, USDC balances, BTC collateral
at a 10% haircut, leverage from 1x to a few hundred x), moves every mark down a few percent and
prints:

* ``build``: inserting every account (``update`` per account), and one ``update`` re-writing a row;
* ``scan``: one ``candidates()`` call at the new marks (best of ``--repeat``), the target the
  liquidation engine needs after every mark update;
* ``exact``: the Python loop the scan replaces (``CrossMargin.totals`` on every account), and
  confirming only the candidates exactly;
* the number of candidates against the number of accounts exactly below maintenance (every one
  of which must be a candidate: checked), the arrays' size and the process's peak RSS.

    python benchmarks/bench_liquidation_scan.py [--accounts 100000] [--repeat 5] [--seed 1]

Targets (the liquidation engine's issue): scan <= 20 ms, peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

from exchange_sim.instruments import Instrument
from exchange_sim.liquidation.scan import HealthScan, exact_below
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.margin.cross import CrossMargin
from exchange_sim.units import Asset

M = 1_000_000  # atoms per USDC
USDC, BTC, ETH = Asset("USDC", 6), Asset("BTC", 8), Asset("ETH", 18)
INSTRUMENTS = (
    Instrument.create(  # 500 atoms per tick per lot
        "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
    ),
    Instrument.create(  # 500
        "ETH-PERP", kind="perpetual", underlying="ETH", settlement=USDC, tick_size="0.05", lot_size="0.01"
    ),
    Instrument.create(  # 10,000
        "SOL-PERP", kind="perpetual", underlying="SOL", settlement=USDC, tick_size="0.01", lot_size="1"
    ),
)
BTC_BRACKETS = BracketSchedule.create(  # scenarios/margin.toml: 0.5% / 1% / 2.5% maintenance
    [Bracket(0, 5_000, 10_000), Bracket(50_000 * M, 10_000, 20_000), Bracket(250_000 * M, 25_000, 50_000)]
)
ALT_BRACKETS = BracketSchedule.create([Bracket(0, 10_000, 20_000), Bracket(25_000 * M, 25_000, 50_000)])
CROSS = CrossMargin(
    "USDC",
    {i.symbol: i for i in INSTRUMENTS},
    {"BTC-PERP": BTC_BRACKETS, "ETH-PERP": ALT_BRACKETS, "SOL-PERP": ALT_BRACKETS},
    {a.symbol: a for a in (USDC, BTC, ETH)},
    {"BTC": CollateralRule("BTC", 100_000)},
)
MARKS = {"BTC-PERP": 60_000, "ETH-PERP": 40_000, "SOL-PERP": 10_000}  # 30,000 / 2,000 / 100 USDC
MOVED = {"BTC-PERP": 58_200, "ETH-PERP": 38_400, "SOL-PERP": 9_500}  # down 3%, 4%, 5%
PRICES = {"BTC": 30_000 * M, "ETH": 2_000 * M}
MOVED_PRICES = {"BTC": 29_100 * M, "ETH": 1_920 * M}


def make_accounts(n: int, seed: int) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """``(key, balances, sizes)``: each instrument held by ~60% of accounts, long or short, notional
    log-normal around 20,000 USDC; equity = total notional / leverage (log-normal, median 8x);
    ~30% of accounts hold part of their equity as BTC; every tenth is an isolated sub-account key."""
    rng = np.random.default_rng(seed)
    apl = np.array([i.atoms_per_tick_per_lot for i in INSTRUMENTS])
    marks = np.array([MARKS[i.symbol] for i in INSTRUMENTS])
    target = rng.lognormal(np.log(20_000 * M), 1.2, (n, 3))
    held = rng.random((n, 3)) < 0.6
    sign = rng.choice([-1, 1], (n, 3))
    sizes = np.where(held, sign * np.maximum(1, target // (marks * apl)), 0).astype(np.int64)
    leverage = np.exp(rng.normal(np.log(8), 1.3, n)).clip(1, 1_000)
    btc_share = np.where(rng.random(n) < 0.3, rng.random(n), 0.0)
    accounts = []
    for k in range(n):
        row = [int(s) for s in sizes[k]]
        value = sum(s * int(m) * int(a) for s, m, a in zip(row, marks, apl, strict=True))
        notional = sum(abs(s) * int(m) * int(a) for s, m, a in zip(row, marks, apl, strict=True))
        equity = int(notional / leverage[k]) if notional else int(rng.integers(0, 10_000 * M))
        btc = int(equity * btc_share[k] / 270)  # sats at 30,000 USDC less 10%: 270 atoms each
        balances = {"USDC": equity - value - 270 * btc}
        if btc:
            balances["BTC"] = btc
        key = f"acct{k}" if k % 10 else f"acct{k}/BTC-PERP"
        accounts.append((key, balances, dict(zip(MARKS, row, strict=True))))
    return accounts


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    accounts = make_accounts(args.accounts, args.seed)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {len(accounts):,} accounts,"
        f" {len(INSTRUMENTS)} instruments"
    )

    scan = HealthScan(CROSS)
    t0 = time.perf_counter()
    for key, balances, sizes in accounts:
        scan.update(key, balances, sizes)
    build = time.perf_counter() - t0
    sample = accounts[: min(10_000, len(accounts))]
    rewrite, _ = best_of(
        args.repeat, lambda: [scan.update(key, balances, sizes) for key, balances, sizes in sample]
    )
    print(
        f"build     {build * 1e3:8.1f} ms ({build / len(accounts) * 1e6:.2f} us per update),"
        f" re-update one row {rewrite / len(sample) * 1e6:.2f} us;"
        f" arrays {scan.nbytes / 2**20:.1f} MiB ({scan.nbytes / len(accounts):.0f} bytes per account)"
    )

    for label, marks, prices in (("at marks", MARKS, PRICES), ("marks -3..5%", MOVED, MOVED_PRICES)):
        elapsed, candidates = best_of(args.repeat, lambda m=marks, p=prices: scan.candidates(m, p))
        t0 = time.perf_counter()
        below = [
            key for key, balances, sizes in accounts if exact_below(CROSS, balances, sizes, marks, prices)
        ]
        exact = time.perf_counter() - t0
        index = {key: (balances, sizes) for key, balances, sizes in accounts}
        t0 = time.perf_counter()
        confirmed = [key for key in candidates if exact_below(CROSS, *index[key], marks, prices)]
        confirm = time.perf_counter() - t0
        missed = set(below) - set(candidates)
        assert not missed, f"the prefilter missed {len(missed)} accounts"
        assert confirmed == below, "candidates confirmed exactly differ from the accounts below"
        print(
            f"{label:<13} scan {elapsed * 1e3:6.2f} ms (best of {args.repeat}):"
            f" {len(candidates):,} candidates, {len(below):,} below exactly"
            f" ({len(candidates) - len(below)} false positives);"
            f" confirming them {confirm * 1e3:.2f} ms; exact loop over all {exact * 1e3:.0f} ms"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS  {peak:8.1f} MB")
    print("targets: scan <= 20 ms, peak RSS <= 1 GB")


if __name__ == "__main__":
    main()
