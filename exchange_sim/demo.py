"""The demo job: a few accounts trading on a scenario's venue, then a printed summary.

Until the simulator exists this is what ``exchange-sim demo`` runs. It opens the scenario's
accounts and lets the first one make markets on every instrument with post-only quotes named by
client order ids, moved by amends; the others trade against it with a seeded random order flow
(market, IOC, GTC, stop-market and reduce-only orders, cancels). Everything is journaled, the
journal is replayed to check it, and the summary shows trades per instrument, balances, equity
and positions per account, what happened to the orders, money conservation and the digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.market_feed import MarketFeed
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.scenario import Scenario
from exchange_sim.units import format_atoms, format_fraction
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
    feed: MarketFeed | None = None
    index_start: dict[str, int] | None = None


def _mid_ticks(inst: Instrument) -> int:
    return max(1, int(Fraction(DEFAULT_MIDS.get(inst.underlying, 100)) / inst.tick_size))


def run_demo(
    scenario: Scenario,
    out_dir: Path,
    steps: int = 2_000,
    seed: int | None = None,
    margin_mode: str | None = None,
) -> DemoReport:
    """Run the demo on ``scenario``; write the journal to ``out_dir/journal.msgpack``.

    ``margin_mode`` (``"cross"`` or ``"isolated"``) overrides every account's margin mode, so
    the same scenario can be run both ways."""
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
        venue.open_account(0, spec.id, margin_mode or spec.margin_mode)
        for asset, atoms in spec.balances:
            if atoms > 0:
                venue.deposit(0, spec.id, asset, atoms)
    margin = scenario.venue.margin
    for account, atoms in scenario.liquidation_capital:  # the insurance fund, the backstop vault
        assert margin is not None
        venue.deposit_system(0, account, margin.settlement, atoms)
    market = scenario.market
    feed = MarketFeed(venue, market, seed) if market is not None else None
    step_us = market.step_us if market is not None else STEP_US
    indexed = {i.underlying for i in market.indexes} if market is not None else set()
    if margin is not None:  # collateral is valued at index prices: start them at the demo's mids
        for asset in scenario.venue.assets:
            if (
                asset.symbol != margin.settlement
                and asset.symbol in DEFAULT_MIDS
                and asset.symbol not in indexed
            ):
                venue.set_index_price(0, asset.symbol, str(DEFAULT_MIDS[asset.symbol]))
    if feed is not None:
        feed.advance(0)
    index_start = dict(feed.index) if feed is not None else None
    rng = np.random.default_rng(seed)
    maker, traders = scenario.accounts[0].id, [a.id for a in scenario.accounts[1:]]
    # without a feed nothing settles a future, so only those that outlive the run are traded
    live = [
        i
        for i in scenario.venue.instruments
        if i.expiry_us is None or i.expiry_us > (step_us if feed is not None else steps * step_us)
    ]
    mids = {i.symbol: _anchor(venue, feed, i) or _mid_ticks(i) for i in live}
    for step in range(1, steps + 1):
        ts = step * step_us
        if feed is not None:
            feed.advance(ts)
        inst = live[int(rng.integers(len(live)))]
        symbol = inst.symbol
        if inst.expiry_us is not None and ts >= inst.expiry_us:
            continue  # expired (and settled by the feed)
        gap = max(1, mids[symbol] // 2_000)  # quotes 5 bps apart
        if step % 25 == 1:  # the maker re-centres its post-only quotes on the mark or last trade
            mid = _anchor(venue, feed, inst) or venue.last_trade.reference_price(symbol) or mids[symbol]
            mids[symbol] = mid
            for level in range(1, 6):
                size = inst.min_size * int(rng.integers(5, 20))
                for side, price in ((Side.BUY, mid - level * gap), (Side.SELL, mid + level * gap)):
                    quote_id = f"{symbol}/{'bid' if side is Side.BUY else 'ask'}{level}"
                    moved = venue.amend(ts, maker, client_id=quote_id, size=size, price=price)
                    if moved.reason is Reason.UNKNOWN_ORDER:  # filled meanwhile (or never placed): quote anew
                        venue.submit(
                            ts,
                            maker,
                            symbol,
                            side,
                            size,
                            price,
                            tif=TimeInForce.POST_ONLY,
                            client_id=quote_id,
                        )
            continue
        trader = traders[int(rng.integers(len(traders)))]
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        size = inst.min_size * int(rng.integers(1, 6))
        if inst.is_spot and side is Side.SELL:  # spot: sell only the base asset one has
            size = min(size, venue.account(trader).balance(inst.underlying) // inst.base_atoms_per_lot)
            if size < inst.min_size:
                continue
        roll = rng.random()
        held = venue.position_of(trader, symbol)
        position = held.size if held is not None else 0
        if roll < 0.15:
            venue.submit(ts, trader, symbol, side, size, order_type=OrderType.MARKET)
        elif roll < 0.45:
            price = mids[symbol] + int(side) * gap * int(rng.integers(0, 3))
            venue.submit(ts, trader, symbol, side, size, price, tif=TimeInForce.IOC)
        elif roll < 0.55:  # a stop: buy above the market, sell below it
            stop = (venue.last_trade.reference_price(symbol) or mids[symbol]) + int(side) * gap * 3
            venue.submit(ts, trader, symbol, side, size, order_type=OrderType.STOP_MARKET, stop_price=stop)
        elif roll < 0.65 and position and not inst.is_spot:  # take some profit or loss: reduce-only
            close = Side.SELL if position > 0 else Side.BUY
            price = mids[symbol] + int(close) * gap * 2
            venue.submit(
                ts, trader, symbol, close, abs(position), price, tif=TimeInForce.IOC, reduce_only=True
            )
        else:
            price = mids[symbol] - int(side) * gap * int(rng.integers(1, 4))
            result = venue.submit(ts, trader, symbol, side, size, price)
            if result.resting and rng.random() < 0.5:
                venue.cancel(ts + step_us // 2, trader, result.order_id)
    journal.close()  # appends the trailer
    digest = journal.digest()
    report = replay(path)
    return DemoReport(
        venue, path, digest, journal.events, path.stat().st_size, report.ok, steps, feed, index_start
    )


def _anchor(venue: Venue, feed: MarketFeed | None, inst: Instrument) -> int | None:
    """Where the maker centres its quotes when prices move: a contract's mark, a spot pair's index
    (in the pair's ticks); ``None`` without a feed."""
    if feed is None:
        return None
    if not inst.is_spot:
        return venue.marks.get(inst.symbol)
    index = feed.index.get(inst.underlying)
    if index is None:
        return None
    return max(1, round(index * feed.tick_size(inst.underlying) / inst.tick_size))


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
    lines.append("")
    if report.feed is not None:
        lines.extend(_market_lines(report, scenario))
        lines.append("")
    if venue.liquidation is not None:
        lines.extend(_liquidation_lines(report, scenario))
        lines.append("")
    lines.extend(_order_outcomes(report))
    lines.append("")
    lines.append(
        f"journal: {report.journal_path} ({report.events} events, {report.nbytes} bytes,"
        f" {report.nbytes / max(report.events, 1):.1f} bytes/event)"
    )
    lines.append(f"sha256: {report.digest}")
    lines.append(f"replay: {'ok, same outputs and digest' if report.replay_ok else 'MISMATCH'}")
    return lines


def _market_lines(report: DemoReport, scenario: Scenario) -> list[str]:
    """Indexes from start to end, fundings paid and futures settled by the market feed."""
    feed = report.feed
    assert feed is not None
    start = report.index_start or {}
    end_us = report.steps * feed.spec.step_us
    lines = [f"market (the feed ran to {format_atoms(end_us, 6)} s of simulated time):"]
    for name, ticks in feed.index.items():
        tick = feed.tick_size(name)
        first = start.get(name)
        shown = "-" if first is None else format_fraction(first * tick)
        lines.append(f"  index {name}: {shown} -> {format_fraction(ticks * tick)}")
    for symbol in sorted({f.instrument for f in feed.funding_paid}):
        paid = [f for f in feed.funding_paid if f.instrument == symbol]
        rates = ", ".join(f"{f.rate_ppm}" for f in paid[-5:])
        lines.append(f"  funding {symbol}: {len(paid)} paid, last rates (ppm): {rates}")
    for symbol, ticks in report.venue.settled.items():
        inst = report.venue.instruments[symbol]
        lines.append(f"  settled {symbol} at {inst.format_price(ticks)} {inst.settlement_asset}")
    return lines


def _liquidation_lines(report: DemoReport, scenario: Scenario) -> list[str]:
    """What the liquidation engine did (``docs/liquidation.md``), from its running totals."""
    venue = report.venue
    engine = venue.liquidation
    margin = scenario.venue.margin
    assert engine is not None and margin is not None
    decimals = venue.assets[margin.settlement].decimals
    stats = engine.stats

    def money(atoms: int) -> str:
        return f"{format_atoms(atoms, decimals)} {margin.settlement}"  # type: ignore[union-attr]

    rules = engine.rules
    return [
        f"liquidation (rules {rules.name} v{rules.version}):",
        f"  liquidations {stats.liquidations}, notional through the book {money(stats.liquidated_notional)},"
        f" takeovers {stats.takeovers}, deleveraged {stats.deleveraged}",
        f"  insurance fund {money(engine.fund.balance(margin.settlement))}: fees and surplus in"
        f" {money(stats.fund_fees)}, paid out {money(stats.fund_paid)}",
        f"  socialised {money(stats.socialized)}, bad debt {money(stats.bad_debt)}",
    ]


def _position_value(venue: Venue, account, asset: str) -> int:  # type: ignore[no-untyped-def]
    """Positions settled in ``asset`` valued at their instrument's last trade price, in atoms."""
    total = 0
    for symbol, position in account.positions.items():
        inst = venue.instruments[symbol]
        last = venue.last_trade.reference_price(symbol)
        if inst.settlement_asset == asset and last is not None:
            total += inst.notional(last, position.size)
    return total


def _order_outcomes(report: DemoReport) -> list[str]:
    """What happened to the orders, counted from the journal: a tour of the reason codes."""
    _, events = read_journal(report.journal_path)
    counts: dict[str, int] = {}

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    for event in events:
        code = event[0]
        if code == Ev.SUBMIT:
            count("submitted")
        elif code == Ev.REJECTED:
            count(f"refused: {Reason(event[1]).name}")
        elif code == Ev.ENDED:
            count(f"ended: {Reason(event[2]).name}")
        elif code in (Ev.AMENDED, Ev.TRIGGERED, Ev.TRIMMED, Ev.REPRICED):
            count(Ev(code).name.lower())
    width = max(len(k) for k in counts) if counts else 0
    return ["orders (from the journal):"] + [f"  {k:<{width}} {v:>7}" for k, v in sorted(counts.items())]


def _trade_stats(report: DemoReport) -> dict[str, tuple[int, int]]:
    """Trades and volume (lots) per instrument, read back from the journal.

    A FILL names its maker order; each order's instrument is known from the SUBMIT that the
    order's ACCEPTED follows.
    """
    _, events = read_journal(report.journal_path)
    symbols = [i.symbol for i in report.venue.config.instruments]
    instrument_of: dict[int, str] = {}
    submitted: str | None = None
    stats: dict[str, tuple[int, int]] = {}
    for event in events:
        code = event[0]
        if code == Ev.SUBMIT:
            submitted = symbols[event[3]] if type(event[3]) is int else None
        elif code == Ev.ACCEPTED and submitted is not None:
            instrument_of[event[1]] = submitted
        elif code == Ev.FILL:
            symbol = instrument_of[event[1]]
            count, lots = stats.get(symbol, (0, 0))
            stats[symbol] = (count + 1, lots + event[3])
    return stats
