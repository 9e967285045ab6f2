"""The demo job: a few accounts trading on a scenario's venue, then a printed summary.

Until the simulator exists this is what ``exchange-sim demo`` runs. It opens the scenario's
accounts, lets the first one make markets on every instrument and the others trade against it
with a seeded random order flow (limit, IOC and market orders, cancels), journals everything,
replays the journal to check it, and summarises: trades per instrument, balances and positions
per account, fee income, money conservation and the journal digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.orders import OrderType, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.scenario import Scenario
from exchange_sim.units import format_atoms
from exchange_sim.venue import Venue

DEFAULT_MIDS = {"BTC": 30_000, "ETH": 2_000}
"""Starting mid price per underlying, in settlement units; others start at 100."""

STEP_US = 1_000
"""Simulated time between two demo actions: one millisecond."""


@dataclass(slots=True)
class DemoReport:
    venue: Venue
    journal_path: Path
    digest: str
    events: int
    nbytes: int
    replay_ok: bool
    steps: int


def _mid_ticks(inst: Instrument) -> int:
    return max(1, int(Fraction(DEFAULT_MIDS.get(inst.underlying, 100)) / inst.tick_size))


def run_demo(scenario: Scenario, out_dir: Path, steps: int = 2_000, seed: int | None = None) -> DemoReport:
    """Run the demo on ``scenario``; write the journal to ``out_dir/journal.msgpack``."""
    if len(scenario.accounts) < 2:
        raise ValueError("the demo needs a scenario with at least two accounts (a maker and a trader)")
    seed = scenario.seed if seed is None else seed
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "journal.msgpack"
    journal = JournalWriter(path)
    venue = Venue(
        scenario.venue, journal=journal, meta={"job": "demo", "scenario": scenario.name, "seed": seed}
    )
    for spec in scenario.accounts:
        venue.open_account(0, spec.id)
        for asset, atoms in spec.balances:
            if atoms > 0:
                venue.deposit(0, spec.id, asset, atoms)
    rng = np.random.default_rng(seed)
    maker, traders = scenario.accounts[0].id, [a.id for a in scenario.accounts[1:]]
    live = [i for i in scenario.venue.instruments if i.expiry_us is None or i.expiry_us > steps * STEP_US]
    mids = {i.symbol: _mid_ticks(i) for i in live}
    quotes: dict[str, list[int]] = {i.symbol: [] for i in live}
    for step in range(1, steps + 1):
        ts = step * STEP_US
        inst = live[int(rng.integers(len(live)))]
        symbol = inst.symbol
        gap = max(1, mids[symbol] // 2_000)  # quotes 5 bps apart
        if step % 25 == 1:  # the maker re-centres its quotes on the last trade
            for order_id in quotes[symbol]:
                venue.cancel(ts, maker, order_id)
            quotes[symbol] = []
            mid = venue.last_trade.reference_price(symbol) or mids[symbol]
            mids[symbol] = mid
            for level in range(1, 6):
                size = inst.min_size * int(rng.integers(5, 20))
                for side, price in ((Side.BUY, mid - level * gap), (Side.SELL, mid + level * gap)):
                    result = venue.submit(ts, maker, symbol, side, size, price)
                    if result.resting:
                        quotes[symbol].append(result.order_id)
            continue
        trader = traders[int(rng.integers(len(traders)))]
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        size = inst.min_size * int(rng.integers(1, 6))
        roll = rng.random()
        if roll < 0.2:
            venue.submit(ts, trader, symbol, side, size, order_type=OrderType.MARKET)
        elif roll < 0.6:
            price = mids[symbol] + int(side) * gap * int(rng.integers(0, 3))
            venue.submit(ts, trader, symbol, side, size, price, tif=TimeInForce.IOC)
        else:
            price = mids[symbol] - int(side) * gap * int(rng.integers(1, 4))
            result = venue.submit(ts, trader, symbol, side, size, price)
            if result.resting and rng.random() < 0.5:
                venue.cancel(ts + STEP_US // 2, trader, result.order_id)
    digest = journal.digest()
    journal.close()
    report = replay(path)
    return DemoReport(venue, path, digest, journal.events, path.stat().st_size, report.ok, steps)


def summary_lines(report: DemoReport, scenario: Scenario) -> list[str]:
    """The human summary printed at the end of the demo."""
    venue = report.venue
    lines = [f"exchange-sim demo: scenario {scenario.name!r} ({scenario.source}), {report.steps} steps", ""]
    lines.append(f"{'instrument':<12}{'trades':>8}{'volume':>14}{'last':>12}{'best bid':>12}{'best ask':>12}")
    stats = _trade_stats(report)
    for inst in scenario.venue.instruments:
        count, lots = stats.get(inst.symbol, (0, 0))
        last = venue.last_trade.reference_price(inst.symbol)
        bid, _, ask, _ = venue.top(inst.symbol)
        show = inst.format_price
        lines.append(
            f"{inst.symbol:<12}{count:>8}{inst.format_size(lots):>14}"
            f"{show(last) if last else '-':>12}{show(bid) if bid else '-':>12}{show(ask) if ask else '-':>12}"
        )
    lines.append("")
    assets = [a for a in scenario.venue.assets if venue.ledger.deposited[a.symbol]]
    lines.append(
        f"{'account':<10}"
        + "".join(f"{a.symbol + ' balance':>18}{a.symbol + ' equity':>18}" for a in assets)
        + "   positions"
    )
    for account in venue.ledger.by_index:
        cells = ""
        for asset in assets:
            balance = account.balance(asset.symbol)
            cells += f"{format_atoms(balance, asset.decimals):>18}"
            cells += (
                f"{format_atoms(balance + _position_value(venue, account, asset.symbol), asset.decimals):>18}"
            )
        positions = ", ".join(
            f"{venue.instruments[s].format_size(p.size)} {s}" for s, p in account.positions.items() if p.size
        )
        lines.append(f"{account.id:<10}{cells}   {positions or '-'}")
    lines.append("(equity = balance + positions valued at the last trade price; cash-flow accounting)")
    lines.append("")
    conserved = all(
        venue.ledger.totals(a.symbol) == venue.ledger.deposited[a.symbol] - venue.ledger.withdrawn[a.symbol]
        for a in assets
    )
    net_zero = all(venue.ledger.net_position(s) == 0 for s in venue.instruments)
    verdict = "yes" if conserved else "NO"
    lines.append(f"money conserved (deposits - withdrawals = sum of balances, every asset): {verdict}")
    lines.append(f"positions net to zero in every instrument: {'yes' if net_zero else 'NO'}")
    lines.append(
        f"journal: {report.journal_path} ({report.events} events, {report.nbytes} bytes,"
        f" {report.nbytes / max(report.events, 1):.1f} bytes/event)"
    )
    lines.append(f"sha256: {report.digest}")
    lines.append(f"replay: {'ok, same outputs and digest' if report.replay_ok else 'MISMATCH'}")
    return lines


def _position_value(venue: Venue, account, asset: str) -> int:  # type: ignore[no-untyped-def]
    """Positions settled in ``asset`` valued at their instrument's last trade price, in atoms."""
    total = 0
    for symbol, position in account.positions.items():
        inst = venue.instruments[symbol]
        last = venue.last_trade.reference_price(symbol)
        if inst.settlement_asset == asset and last is not None:
            total += inst.notional(last, position.size)
    return total


def _trade_stats(report: DemoReport) -> dict[str, tuple[int, int]]:
    """Trades and volume (lots) per instrument, read back from the journal."""
    _, events = read_journal(report.journal_path)
    symbols = [i.symbol for i in report.venue.config.instruments]
    stats: dict[str, tuple[int, int]] = {}
    current = None
    for event in events:
        if event[0] == Ev.SUBMIT:
            current = symbols[event[3]] if type(event[3]) is int else None
        elif event[0] == Ev.FILL and current is not None:
            count, lots = stats.get(current, (0, 0))
            stats[current] = (count + 1, lots + event[3])
    return stats
