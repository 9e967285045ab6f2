"""What detection and liquidation cost on a venue of 100,000 accounts with positions in 3 instruments.

Builds, through the venue's public API, ``--accounts`` accounts that each go long in three
perpetuals (BTC, ETH, SOL; maintenance 5%, initial 10%) against one counterparty: all but
``--flagged`` of them at 2x leverage, the others at 9x. Then, with the journal on:

* ``scan``: a mark update that flags nobody (detection only: refreshing the health scan's rows
  and one numpy pass, ``exchange_sim/liquidation/scan.py``), best of ``--repeat``;
* ``liquidate``: a mark update of -8% on all three perpetuals at once (BTC's last): the 9x
  accounts fall below maintenance and are liquidated, under the ``teaching`` rules (the insurance
  fund takes every position) and the ``binance`` rules (liquidation orders through a book of
  bids, the rest to the fund); the time of the one ``set_mark_price`` call that does it all.

Prints build time, the figures, and peak RSS (``resource.getrusage``).

    python benchmarks/bench_liquidation.py [--accounts 100000] [--flagged 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter
from exchange_sim.liquidation.engine import INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
MARKS = {"BTC-PERP": 30_000, "ETH-PERP": 2_000, "SOL-PERP": 100}
LOTS = {"BTC-PERP": "0.001", "ETH-PERP": "0.01", "SOL-PERP": "0.1"}


def build(accounts: int, flagged: int, rules: str) -> tuple[Venue, float]:
    instruments = tuple(
        Instrument.create(
            s, kind="perpetual", underlying=s[:3], settlement=USDC, tick_size="1", lot_size=LOTS[s]
        )
        for s in MARKS
    )
    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    margin = MarginConfig("USDC", tuple((s, schedule) for s in MARKS))
    config = VenueConfig((USDC,), instruments, margin=margin, liquidation=preset(rules))
    venue = Venue(config, journal=JournalWriter())
    start = time.perf_counter()
    venue.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "1000000000")
    venue.open_account(0, "street")
    venue.deposit(0, "street", "USDC", "100000000000")
    venue.open_account(0, "bids")
    venue.deposit(0, "bids", "USDC", "100000000000")
    for symbol, mark in MARKS.items():
        venue.set_mark_price(0, symbol, mark)
        venue.submit(1, "street", symbol, Side.SELL, 10**9, mark)
    every = accounts // flagged
    for n in range(accounts):
        name = f"a{n}"
        venue.open_account(2, name)
        venue.deposit(2, name, "USDC", "3000")
        leverage = 9 if n % every == 0 else 2
        for symbol, mark in MARKS.items():  # 1,000 USDC of margin per instrument
            inst = venue.instruments[symbol]
            lots = 1_000 * leverage * 10**6 // (mark * inst.atoms_per_tick_per_lot)
            result = venue.submit(2, name, symbol, Side.BUY, lots, mark, tif=TimeInForce.IOC)
            assert result.fills, (name, symbol, result.reason)
    for symbol, mark in MARKS.items():  # a deep book of bids for liquidation orders
        for k in range(1, 201):
            venue.submit(3, "bids", symbol, Side.BUY, 10**4, mark * (1_000 - 5 * k) // 1_000)
    venue.liquidation.refresh()  # type: ignore[union-attr]
    return venue, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--flagged", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    machine = f"python {platform.python_version()} on {platform.machine()}"
    print(f"{machine}, {args.accounts:,} accounts, 3 instruments")
    for rules in ("teaching", "binance"):
        venue, built = build(args.accounts, args.flagged, rules)
        engine = venue.liquidation
        assert engine is not None
        print(f"{rules}: built in {built:.1f} s")
        best = float("inf")
        for k in range(args.repeat):  # a tiny mark move that flags nobody: detection alone
            start = time.perf_counter()
            venue.set_mark_price(10 + k, "BTC-PERP", MARKS["BTC-PERP"] - 1 - k % 2)
            best = min(best, time.perf_counter() - start)
        assert engine.stats.liquidations == 0
        print(f"  scan       one mark update, nobody flagged: {best * 1e3:7.2f} ms (best of {args.repeat})")
        ts = 100
        for symbol in ("ETH-PERP", "SOL-PERP"):  # -8%: below maintenance only with BTC's move too
            venue.set_mark_price(ts, symbol, MARKS[symbol] * 92 // 100)
            ts += 1
        assert engine.stats.liquidations == 0, engine.stats.liquidations
        start = time.perf_counter()
        venue.set_mark_price(ts, "BTC-PERP", MARKS["BTC-PERP"] * 92 // 100)
        elapsed = time.perf_counter() - start
        stats = engine.stats
        print(
            f"  liquidate  {stats.liquidations:,} accounts in one mark update: {elapsed * 1e3:8.1f} ms"
            f" ({elapsed / max(stats.liquidations, 1) * 1e6:,.0f} us each); takeovers {stats.takeovers:,},"
            f" notional through the book {stats.liquidated_notional // 10**6:,} USDC"
        )
        venue._check()
        del venue
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB (targets: scan <= 20 ms, peak RSS <= 1 GB)")


if __name__ == "__main__":
    main()
