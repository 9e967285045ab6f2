"""Core venue benchmark: book alone, whole venue with journal, memory, journal size.

Replays a seeded synthetic stream (default 200,000 operations: ~50% resting limit orders within
50 ticks of mid, ~20% marketable orders, ~30% cancels of earlier orders) through

1. the book alone (``OrderBook`` + ``matching.match`` with the accept-all gate), and
2. the whole venue (validation, ledger, fees, journal written to a file),

and prints operations per second for each, the journal's average bytes per event, and the peak
RSS and bytes per order of a venue holding one million resting orders.

    python benchmarks/bench_core.py                 # everything, default sizes
    python benchmarks/bench_core.py --ops 50000 --resting 100000   # quicker

Figures go to docs/performance.md with the command that produced them. Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from exchange_sim.book import OrderBook
from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.matching import AcceptAll, match
from exchange_sim.orders import Order, Side, TimeInForce
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

MID = 100_000
ACCOUNTS = 100
SUBMIT, CANCEL = 0, 1

USDC = Asset("USDC", 6)
INSTRUMENT = Instrument.create(
    "BTC-PERP",
    kind="perpetual",
    underlying="BTC",
    settlement=USDC,
    tick_size="0.5",
    lot_size="0.001",
    maker_fee_ppm=-100,
    taker_fee_ppm=500,
)


def make_stream(n: int, seed: int) -> list[tuple[int, ...]]:
    """``(SUBMIT, account, side, price, size)`` or ``(CANCEL, account, order_id)`` tuples.

    Every submit is valid, so the venue gives it the next order id; a cancel names an order
    submitted recently (by its owner), which may meanwhile have filled (then it is refused).
    """
    rng = np.random.default_rng(seed)
    kind = rng.random(n)
    sides = rng.integers(0, 2, n)
    offsets = rng.integers(1, 51, n)
    cross = rng.integers(0, 6, n)
    sizes = rng.integers(1, 11, n)
    accounts = rng.integers(0, ACCOUNTS, n)
    back = rng.integers(1, 400, n)
    owners: list[int] = []
    ops: list[tuple[int, ...]] = []
    for i in range(n):
        side = 1 if sides[i] else -1
        if kind[i] < 0.30 and owners:
            order_id = max(1, len(owners) - int(back[i]))
            ops.append((CANCEL, owners[order_id - 1], order_id))
            continue
        # marketable: reaches 1..6 ticks past mid into the other side; resting: 1..50 ticks on its own
        price = MID + side * (1 + int(cross[i])) if kind[i] < 0.50 else MID - side * int(offsets[i])
        account = int(accounts[i])
        owners.append(account)
        ops.append((SUBMIT, account, side, price, int(sizes[i])))
    return ops


def _noop_refused(maker: Order, reason: object) -> None:
    return None


def run_book(ops: list[tuple[int, ...]], check: bool = True) -> float:
    """Seconds to push ``ops`` through the book and matching alone."""
    book = OrderBook("BTC-PERP")
    gate = AcceptAll()

    def fill(taker: Order, maker: Order, price: int, lots: int) -> None:
        # the order side of a fill, as the venue's fill callback applies it
        book.reduce(maker, lots)
        taker.remaining -= lots

    names = [f"acct{i}" for i in range(ACCOUNTS)]
    sides = {1: Side.BUY, -1: Side.SELL}
    gtc = TimeInForce.GTC
    next_id = 1
    orders = book.orders
    start = time.perf_counter()
    for op in ops:
        if op[0] == SUBMIT:
            _, account, side, price, size = op
            order = Order(next_id, names[account], "BTC-PERP", sides[side], price, size, size, gtc, 0)
            next_id += 1
            match(book, order, gate, fill, _noop_refused)
            if order.remaining:
                book.add(order)
        else:
            order = orders.get(op[2])
            if order is not None:
                book.remove(order)
    elapsed = time.perf_counter() - start
    if check:
        book._check()
    return elapsed


def _venue(journal: JournalWriter | None) -> tuple[Venue, list[str]]:
    venue = Venue(VenueConfig((USDC,), (INSTRUMENT,)), journal=journal)
    names = [f"acct{i}" for i in range(ACCOUNTS)]
    for name in names:
        venue.open_account(0, name)
        venue.deposit(0, name, "USDC", 10**15)
    return venue, names


def run_venue(
    ops: list[tuple[int, ...]], journal_path: Path, check: bool = True
) -> tuple[float, int, int, Venue]:
    """Seconds for the whole venue with a file journal; also (events, bytes) of the journal."""
    journal = JournalWriter(journal_path)
    venue, names = _venue(journal)
    sides = {1: Side.BUY, -1: Side.SELL}
    submit, cancel = venue.submit, venue.cancel
    events_before = journal.events
    bytes_before = journal.nbytes
    ts = 1
    start = time.perf_counter()
    for op in ops:
        ts += 1
        if op[0] == SUBMIT:
            submit(ts, names[op[1]], "BTC-PERP", sides[op[2]], op[4], op[3])
        else:
            cancel(ts, names[op[1]], op[2])
    journal.flush()
    elapsed = time.perf_counter() - start
    journal.close()
    if check:
        venue._check()
    return elapsed, journal.events - events_before, journal_path.stat().st_size - bytes_before, venue


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_memory(resting: int) -> tuple[int, float, int]:
    """Rest ``resting`` orders in a venue (no journal): (RSS growth, bytes per order, peak RSS)."""
    gc.collect()
    before = _rss_bytes()
    venue, names = _venue(None)
    submit = venue.submit
    buy, sell = Side.BUY, Side.SELL
    for i in range(resting):
        # 2,000 price levels a side, never crossing
        if i & 1:
            submit(1, names[i % ACCOUNTS], "BTC-PERP", buy, 1 + i % 7, MID - 1 - (i >> 1) % 2_000)
        else:
            submit(1, names[i % ACCOUNTS], "BTC-PERP", sell, 1 + i % 7, MID + 1 + (i >> 1) % 2_000)
    gc.collect()
    grown = _rss_bytes() - before
    assert len(venue.books["BTC-PERP"]) == resting
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return grown, grown / resting, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--resting", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument(
        "--only",
        choices=["stream", "book", "venue"],
        help="run one part once and print nothing else (for instruction counts under callgrind)",
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.ops} ops, seed {args.seed}")
    ops = make_stream(args.ops, args.seed)
    if args.only == "stream":
        return
    if args.only == "book":
        run_book(ops, check=False)
        return
    if args.only == "venue":
        with tempfile.TemporaryDirectory() as tmp:
            run_venue(ops, Path(tmp) / "j.msgpack", check=False)
        return
    counts = {SUBMIT: 0, CANCEL: 0}
    for op in ops:
        counts[op[0]] += 1
    print(f"stream: {counts[SUBMIT]} submits, {counts[CANCEL]} cancels")
    book_s = min(run_book(ops) for _ in range(args.repeat))
    print(f"book alone:          {args.ops / book_s:>10,.0f} ops/s  ({book_s:.3f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_venue(ops, Path(tmp) / f"j{i}.msgpack") for i in range(args.repeat)]
        _, last_events = read_journal(Path(tmp) / f"j{args.repeat - 1}.msgpack")
    venue_s, events, nbytes, venue = min(runs, key=lambda r: r[0])
    fills = sum(1 for e in last_events if e[0] == Ev.FILL)
    print(f"venue with journal:  {args.ops / venue_s:>10,.0f} ops/s  ({venue_s:.3f} s)")
    print(f"                     {fills:,} fills, {len(venue.books['BTC-PERP']):,} orders resting at the end")
    print(f"journal:             {events:>10,} events, {nbytes / events:.1f} bytes/event")
    if args.resting:
        grown, per_order, peak = run_memory(args.resting)
        print(
            f"memory:              {args.resting:,} resting orders: RSS +{grown / 2**20:.0f} MiB,"
            f" {per_order:.0f} bytes/order, peak RSS {peak / 2**20:.0f} MiB"
        )


if __name__ == "__main__":
    main()
