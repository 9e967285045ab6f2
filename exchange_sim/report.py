"""The run's report, read from its journal: ``summary.json``, a short text summary, time series, plots.

One pass over the journal (:func:`analyze`) does everything: it rebuilds an empty venue from the
header, re-applies every input (:func:`exchange_sim.replay.apply_input`) and reads the outputs
that follow each input. Outputs give the counts (trades, liquidations, takeovers, deleveraging,
socialised loss, bad debt); the replayed venue gives the state after each input (insurance fund,
open interest, marks) and, at most :data:`MARGIN_SAMPLES` evenly spaced times, the distribution
of margin ratios. The cost is that of a replay: linear in the journal.

A ``FILL`` belongs to the instrument of its taker, the order most recently ``ACCEPTED``,
``AMENDED``, ``TRIGGERED`` or ``LIQ_ORDER`` (``docs/journal-format.md``); a fill whose taker is a
``LIQ_ORDER`` is a liquidation through the book.

Units in the summary: money is ``{"atoms": int, "units": str}`` (settlement atoms and the exact
decimal in whole units), prices ``{"ticks": int, "units": str}``, sizes ``{"lots": int, "units":
str}`` (contracts), times integer microseconds. The only floats are the derived margin ratios
(keys ``margin_ratio`` and the quantiles of ``margin_ratios``): maintenance / equity, rounded to
six decimals; ``None`` where equity is not positive (the account is under water).

``dynamic_margin`` (only with dynamic margin rules): every change of the scales in force (time,
scale in ppm per underlying) and each underlying's highest scale with when it was first reached.

``capital_efficiency`` (``None`` without margin rules): for each user account holding positions at
the end, in ledger order, its margin ``mode`` and what its positions need under ``isolated``,
``cross`` and ``portfolio`` margin (``initial`` and ``maintenance``; ``portfolio`` is ``None`` when
the venue has no portfolio rules), and ``totals`` over those accounts
(:mod:`exchange_sim.margin.efficiency`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from exchange_sim.config import VenueConfig
from exchange_sim.events import INPUTS, Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import digest_of, read_bytes, read_journal
from exchange_sim.liquidation.engine import BACKSTOP_ACCOUNT, INSURANCE_ACCOUNT, Outcome
from exchange_sim.margin.efficiency import compare_account
from exchange_sim.margin.isolated import SEPARATOR
from exchange_sim.replay import apply_input
from exchange_sim.units import format_atoms, format_fraction
from exchange_sim.venue import Venue

__all__ = [
    "MARGIN_SAMPLES",
    "SUMMARY_FORMAT",
    "analyze",
    "summarize",
    "summary_text",
    "time_series",
    "write_plots",
    "write_summary",
]

SUMMARY_FORMAT = "exchange-sim/summary"
SUMMARY_VERSION = 1
MARGIN_SAMPLES = 200
"""At most this many evenly spaced times at which the margin-ratio distribution is sampled."""
QUANTILES = (10, 25, 50, 75, 90)
"""Percentiles of the margin ratios kept per sample (with the count, the under-water count, the max)."""
PLOT_FILES = ("price_and_mark.png", "insurance_fund.png", "open_interest.png", "margin_ratios.png")

Journal = str | os.PathLike[str] | bytes

_COUNTS = "rejected liquidations healthy flat open liquidation_orders book_fills takeovers deleveraged"
_COUNTS += " socialized_events bad_debt_events"
_AMOUNTS = "liquidated_notional fees_to_fund haircuts closed_profit beyond_need socialized bad_debt"


def summarize(journal: Journal, *, venue: Venue | None = None, meta: dict[str, Any] | None = None) -> dict:
    """The content of ``summary.json`` for a run's journal (path or bytes), JSON-ready.

    ``venue``: the run's final venue; when given, final balances, equities and open interest are
    read from it instead of the replayed one (a faithful journal replays to the same state).
    ``meta``: merged into ``summary["run"]`` (over the journal header's ``meta``)."""
    return analyze(journal, venue=venue, meta=meta)[0]


def time_series(journal: Journal) -> dict:
    """The paths that :func:`write_plots` draws (see :func:`analyze`)."""
    return analyze(journal)[1]


def analyze(
    journal: Journal, *, venue: Venue | None = None, meta: dict[str, Any] | None = None
) -> tuple[dict, dict]:
    """``(summary, time series)`` from one replay of ``journal``.

    The time series: per instrument ``mark``, ``last_trade`` (``[ts, ticks]`` at every change)
    and ``open_interest`` (``[ts, lots]``); ``liquidations`` (``[ts, instrument, price ticks]``
    per liquidation fill, takeover and deleveraging close); ``insurance_fund`` (``[ts, atoms]`` of
    its equity: cash and positions taken over, at the mark; ``backstop_vault`` too when there is
    one) and ``bad_debt`` (cumulative ``[ts, atoms]``);
    ``margin_ratios``: one dict per sample time (``ts``, ``accounts`` with positions,
    ``underwater`` (equity <= 0), percentiles ``p10`` ... ``p90`` and ``max`` of maintenance /
    equity)."""
    replayer = _Replayer(read_bytes(journal))
    replayer.run()
    return replayer.summary(venue or replayer.venue, meta), replayer.series()


def write_summary(summary: dict, path: str | os.PathLike[str]) -> Path:
    """Write ``summary`` as JSON (sorted keys, indent 2, final newline): the same summary gives
    the same bytes."""
    path = Path(path)
    path.write_text(json.dumps(summary, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- the replay


@dataclass(slots=True)
class _Instrument:
    """What the pass collects for one instrument."""

    inst: Instrument
    trades: int = 0
    lots: int = 0
    notional: int = 0
    first: int | None = None
    last: int | None = None
    low: int | None = None
    high: int | None = None
    liquidation_fills: int = 0
    liquidated_lots: int = 0
    marks: list[list[int]] = field(default_factory=list)
    last_trades: list[list[int]] = field(default_factory=list)
    open_interest: list[list[int]] = field(default_factory=list)

    def trade(self, ts: int, price: int, lots: int) -> None:
        self.trades += 1
        self.lots += lots
        self.notional += price * lots * self.inst.atoms_per_tick_per_lot
        if self.first is None:
            self.first = self.low = self.high = price
        else:
            self.low = min(self.low, price)  # type: ignore[type-var]
            self.high = max(self.high, price)  # type: ignore[type-var]
        if price != self.last:
            self.last_trades.append([ts, price])
        self.last = price


@dataclass(slots=True)
class _Fund:
    """A system account whose equity path is kept (the insurance fund, the backstop vault)."""

    account: str
    path: list[list[int]]
    deposited: int = 0
    low: int | None = None
    high: int | None = None


class _Replayer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.header, self.events = read_journal(data)
        self.config = VenueConfig.from_dict(self.header["config"])
        self.venue = Venue(self.config)
        self.symbols = [i.symbol for i in self.config.instruments]
        self.instruments = {i.symbol: _Instrument(i) for i in self.config.instruments}
        margin = self.config.margin
        self.settlement = margin.settlement if margin is not None else None
        self.decimals = self.venue.assets[self.settlement].decimals if self.settlement else 0
        self.cross = getattr(self.venue.gate, "cross", None)
        stamps = [event[1] for event in self.events if event[0] in INPUTS]
        self.start = stamps[0] if stamps else 0
        self.end = max(stamps, default=0)
        self.inputs = len(stamps)
        self.funds = [
            _Fund(account, [[self.start, 0]])
            for account in (INSURANCE_ACCOUNT, BACKSTOP_ACCOUNT)
            if account in self.venue.ledger.accounts
        ]
        for stats in self.instruments.values():
            if not stats.inst.is_spot:
                stats.open_interest.append([self.start, 0])
        self.count = dict.fromkeys(_COUNTS.split(), 0)
        self.money = dict.fromkeys(_AMOUNTS.split(), 0)
        self.markers: list[list[Any]] = []
        self.bad_debt = [[self.start, 0]]
        self.ratios: list[dict[str, Any]] = []
        self.rates: list[list[Any]] = []
        """Dynamic margin: ``[time, {underlying: scale ppm}]`` after each accepted rate change."""
        # taker attribution
        self._pending: list[str | None] = []  # instruments of the orders the current input submits
        self._instrument_of: dict[int, str] = {}
        self._taker: str | None = None
        self._liquidating = False
        self._fund_before: list[int] = []

    def run(self) -> None:
        samples = _sample_times(self.start, self.end) if self.cross is not None else []
        sample = 0
        now = self.start
        for event in self.events:
            code = event[0]
            if code in INPUTS:
                now = max(now, event[1])  # a rejected input may carry a stale time
                while sample < len(samples) and now > samples[sample]:
                    self._sample_ratios(samples[sample])
                    sample += 1
                self._before_input(event)
                apply_input(self.venue, event)
                self._after_input(event, now)
            else:
                self._output(event, now)
        for ts in samples[sample:]:
            self._sample_ratios(ts)

    def _symbol(self, ref: Any) -> str | None:
        return self.symbols[ref] if type(ref) is int and 0 <= ref < len(self.symbols) else None

    def _before_input(self, event: list[Any]) -> None:
        code = event[0]
        if code == Ev.SUBMIT:
            self._pending = [self._symbol(event[3])]
        elif code == Ev.SUBMIT_LEGS:
            legs = event[3] if isinstance(event[3], list) else []
            self._pending = [self._symbol(leg[0]) if isinstance(leg, list) and leg else None for leg in legs]
        else:
            self._pending = []
        self._pending.reverse()  # popped from the end, in order
        self._taker, self._liquidating = None, False
        self._fund_before = [self._fund_equity(fund.account) for fund in self.funds]

    def _fund_equity(self, account: str) -> int:
        """A fund's equity: its cash plus the positions it took over, at the marks (its cash alone
        would show a takeover of a long as a loss of the position's whole value)."""
        assert self.settlement is not None and self.cross is not None
        totals = _totals(self.venue, self.cross, self.venue.ledger.accounts[account], flat_too=True)
        assert totals is not None
        return totals[0]

    def _after_input(self, event: list[Any], now: int) -> None:
        code = event[0]
        for fund, before in zip(self.funds, self._fund_before, strict=True):
            equity = self._fund_equity(fund.account)
            if code == Ev.SYSTEM_DEPOSIT and event[2] == fund.account:
                fund.deposited += equity - before
            if equity != fund.path[-1][1]:
                fund.path.append([now, equity])
                if fund.deposited:  # its range counts from its first capital on
                    fund.low = equity if fund.low is None else min(fund.low, equity)
                    fund.high = equity if fund.high is None else max(fund.high, equity)
        for symbol, lots in self.venue.ledger.open_interest.items():
            path = self.instruments[symbol].open_interest
            if lots != path[-1][1]:
                path.append([now, lots])
        scales = self.venue.margin_scales
        if code == Ev.MARGIN_RATES and scales and (not self.rates or self.rates[-1][1] != scales):
            self.rates.append([now, dict(scales)])
        if code in (Ev.SET_MARK, Ev.SETTLE_EXPIRY):
            symbol = event[2] if type(event[2]) is str else self._symbol(event[2])
            mark = self.venue.marks.get(symbol) if symbol is not None else None
            if mark is not None:
                marks = self.instruments[symbol].marks  # type: ignore[index]
                if not marks or marks[-1][1] != mark:
                    marks.append([now, mark])

    def _output(self, event: list[Any], now: int) -> None:
        code = event[0]
        count, money = self.count, self.money
        if code == Ev.FILL:
            symbol = self._taker or self._instrument_of.get(event[1])
            if symbol is None:
                return
            stats = self.instruments[symbol]
            price, lots = event[2], event[3]
            stats.trade(now, price, lots)
            if self._liquidating:
                count["book_fills"] += 1
                stats.liquidation_fills += 1
                stats.liquidated_lots += lots
                money["liquidated_notional"] += price * lots * stats.inst.atoms_per_tick_per_lot
                self.markers.append([now, symbol, price])
        elif code == Ev.ACCEPTED:
            symbol = self._pending.pop() if self._pending else None
            if symbol is not None:
                self._instrument_of[event[1]] = symbol
            self._taker, self._liquidating = symbol, False
        elif code in (Ev.AMENDED, Ev.TRIGGERED):
            self._taker, self._liquidating = self._instrument_of.get(event[1]), False
        elif code == Ev.LIQ_ORDER:
            symbol = self._symbol(event[3])
            if symbol is not None:
                self._instrument_of[event[1]] = symbol
            self._taker, self._liquidating = symbol, True
            count["liquidation_orders"] += 1
        elif code == Ev.REJECTED:
            count["rejected"] += 1
        elif code == Ev.LIQUIDATION:
            count["liquidations"] += 1
        elif code == Ev.LIQUIDATION_END:
            outcome = {Outcome.HEALTHY: "healthy", Outcome.FLAT: "flat"}.get(event[2], "open")
            count[outcome] += 1
        elif code == Ev.LIQ_SETTLED:
            money["fees_to_fund"] += max(0, event[7])
        elif code == Ev.TAKEOVER:
            count["takeovers"] += 1
            self.markers.append([now, self._symbol(event[3]), event[5]])
        elif code == Ev.DELEVERAGED:
            count["deleveraged"] += 1
            money["haircuts"] += event[6]
            money["closed_profit"] += event[7]
            self.markers.append([now, self._symbol(event[3]), event[5]])
        elif code == Ev.ADL_DONE:
            money["beyond_need"] += event[6]
        elif code == Ev.SOCIALIZED:
            count["socialized_events"] += 1
            money["socialized"] += event[2]
        elif code == Ev.BAD_DEBT:
            count["bad_debt_events"] += 1
            money["bad_debt"] += event[2]
            self.bad_debt.append([now, money["bad_debt"]])

    def _sample_ratios(self, ts: int) -> None:
        """The margin ratios (maintenance / equity) of every account with positions, now."""
        ratios = []
        underwater = 0
        for account in self.venue.ledger.by_index:
            if account.id.startswith("@"):
                continue
            totals = _totals(self.venue, self.cross, account)
            if totals is None:
                continue
            equity, maintenance = totals
            if equity <= 0:
                underwater += 1
                ratios.append(float("inf"))
            else:
                ratios.append(maintenance / equity)
        ratios.sort()
        sample: dict[str, Any] = {"ts": ts, "accounts": len(ratios), "underwater": underwater}
        n = len(ratios)
        for q in QUANTILES:
            sample[f"p{q}"] = _ratio(ratios[(q * (n - 1) + 50) // 100]) if n else None
        sample["max"] = _ratio(ratios[-1]) if n else None
        self.ratios.append(sample)

    # ------------------------------------------------------------------------------ the outputs

    def summary(self, venue: Venue, meta: dict[str, Any] | None) -> dict:
        header_meta = dict(self.header.get("meta") or {})
        run: dict[str, Any] = {
            "scenario": header_meta.get("scenario"),
            "seed": header_meta.get("seed"),
            **header_meta,
            "package_version": self.header.get("package_version"),
            "digest": digest_of(self.data),
            "bytes": len(self.data),
            "events": len(self.events),
            "inputs": self.inputs,
            "rejected": self.count["rejected"],
            "start_us": self.start,
            "end_us": self.end,
        }
        run.update(meta or {})
        summary: dict[str, Any] = {
            "format": SUMMARY_FORMAT,
            "version": SUMMARY_VERSION,
            "run": run,
            "instruments": {
                s: self._instrument_summary(venue, stats) for s, stats in self.instruments.items()
            },
            "liquidations": self._liquidation_summary(),
            "accounts": self._accounts(venue),
            "capital_efficiency": self._capital_efficiency(venue),
        }
        if self.config.margin is not None and self.config.margin.dynamic is not None:
            summary["dynamic_margin"] = self._dynamic_summary()
        for fund in self.funds:
            key = "insurance_fund" if fund.account == INSURANCE_ACCOUNT else "backstop_vault"
            summary[key] = self._fund_summary(fund)
        summary.setdefault("insurance_fund", None)
        return summary

    def _dynamic_summary(self) -> dict[str, Any]:
        """Dynamic margin's scales over the run: each change (time, scale ppm per underlying), and
        each underlying's highest scale and when it was first reached."""
        peaks: dict[str, dict[str, int]] = {}
        for ts, scales in self.rates:
            for underlying, scale in scales.items():
                peak = peaks.get(underlying)
                if peak is None or scale > peak["scale_ppm"]:
                    peaks[underlying] = {"scale_ppm": scale, "ts": ts}
        return {
            "changes": [{"ts": ts, "scales_ppm": scales} for ts, scales in self.rates],
            "highest": peaks,
        }

    def _instrument_summary(self, venue: Venue, stats: _Instrument) -> dict[str, Any]:
        inst = stats.inst
        marks = [m for _, m in stats.marks]

        def price(ticks: int | None) -> dict[str, Any] | None:
            return None if ticks is None else {"ticks": ticks, "units": inst.format_price(ticks)}

        def size(lots: int) -> dict[str, Any]:
            return {"lots": lots, "units": inst.format_size(lots)}

        return {
            "kind": str(inst.kind),
            "settlement_asset": inst.settlement_asset,
            "trades": stats.trades,
            "volume": size(stats.lots),
            "notional": _money(stats.notional, inst.settlement_decimals),
            "first_price": price(stats.first),
            "last_price": price(stats.last),
            "min_price": price(stats.low),
            "max_price": price(stats.high),
            "min_mark": price(min(marks, default=None)),
            "max_mark": price(max(marks, default=None)),
            "last_mark": price(venue.marks.get(inst.symbol)),
            "open_interest": size(venue.ledger.open_interest.get(inst.symbol, 0)),
            "liquidation_fills": stats.liquidation_fills,
            "liquidated": size(stats.liquidated_lots),
            "settlement_price": price(venue.settled.get(inst.symbol)),
        }

    def _liquidation_summary(self) -> dict[str, Any]:
        rules = self.config.liquidation
        count, d = self.count, self.decimals
        money = {key: _money(atoms, d) for key, atoms in self.money.items()}
        return {
            "rules": f"{rules.name} v{rules.version}" if rules is not None else None,
            "asset": self.settlement,
            "count": count["liquidations"],
            "outcomes": {key: count[key] for key in ("healthy", "flat", "open")},
            "liquidation_orders": count["liquidation_orders"],
            "book_fills": count["book_fills"],
            "liquidated_notional": money["liquidated_notional"],
            "fees_to_fund": money["fees_to_fund"],
            "takeovers": count["takeovers"],
            "deleveraging": {
                "events": count["deleveraged"],
                "haircuts": money["haircuts"],
                "closed_profit": money["closed_profit"],
                "beyond_need": money["beyond_need"],
            },
            "socialized": money["socialized"],
            "socialized_events": count["socialized_events"],
            "bad_debt": money["bad_debt"],
            "bad_debt_events": count["bad_debt_events"],
        }

    def _fund_summary(self, fund: _Fund) -> dict[str, Any]:
        """Capital deposited, end balance, range (from its first capital on) and the path."""
        values = [atoms for _, atoms in fund.path]
        d = self.decimals
        low = min(values) if fund.low is None else fund.low
        high = max(values) if fund.high is None else fund.high
        return {
            "account": fund.account,
            "asset": self.settlement,
            "deposited": _money(fund.deposited, d),
            "end": _money(values[-1], d),
            "min": _money(low, d),
            "max": _money(high, d),
            "path": [list(point) for point in fund.path],
        }

    def _accounts(self, venue: Venue) -> dict[str, Any]:
        cross = getattr(venue.gate, "cross", None) or self.cross
        out = {}
        for account in venue.ledger.by_index:
            entry: dict[str, Any] = {
                "balances": {
                    asset: _money(atoms, venue.assets[asset].decimals)
                    for asset, atoms in sorted(account.balances.items())
                },
                "positions": {
                    symbol: {"lots": p.size, "units": venue.instruments[symbol].format_size(p.size)}
                    for symbol, p in sorted(account.positions.items())
                    if p.size
                },
                "equity": None,
                "maintenance": None,
                "margin_ratio": None,
            }
            if cross is not None:
                totals = _totals(venue, cross, account, flat_too=True)
                assert totals is not None
                equity, maintenance = totals
                entry["equity"] = _money(equity, self.decimals)
                entry["maintenance"] = _money(maintenance, self.decimals)
                if maintenance and equity > 0:
                    entry["margin_ratio"] = _ratio(maintenance / equity)
            out[account.id] = entry
        return out

    def _capital_efficiency(self, venue: Venue) -> dict[str, Any] | None:
        """What each user account's positions at the end need under isolated, cross and portfolio
        margin (:func:`exchange_sim.margin.efficiency.compare_account`), in ledger order, and the
        totals over those accounts; ``None`` for a venue without margin rules."""
        if getattr(venue.gate, "cross", None) is None:
            venue = self.venue  # the run's venue was given a gate of its own: read the replayed one
            if getattr(venue.gate, "cross", None) is None:
                return None
        d = self.decimals
        modes = ("isolated", "cross", "portfolio")
        sums = {mode: [0, 0] for mode in modes}
        if getattr(venue.gate, "portfolio", None) is None:
            del sums["portfolio"]

        def pair(initial: int, maintenance: int) -> dict[str, Any]:
            return {"initial": _money(initial, d), "maintenance": _money(maintenance, d)}

        accounts = []
        for account in venue.ledger.by_index:
            if account.id.startswith("@") or SEPARATOR in account.id:
                continue  # system accounts; isolated sub-accounts (counted with their main account)
            comparison = compare_account(venue, account.id)
            if not comparison.positions:
                continue
            entry: dict[str, Any] = {"account": account.id, "mode": venue.margin_mode(account.id)}
            for mode in modes:
                requirement = getattr(comparison, mode)
                entry[mode] = (
                    None if requirement is None else pair(requirement.initial, requirement.maintenance)
                )
                if requirement is not None:
                    sums[mode][0] += requirement.initial
                    sums[mode][1] += requirement.maintenance
            accounts.append(entry)
        totals: dict[str, Any] = {"accounts": len(accounts)}
        totals.update({mode: pair(*sums[mode]) if mode in sums else None for mode in modes})
        return {"asset": self.settlement, "accounts": accounts, "totals": totals}

    def series(self) -> dict:
        funds = {
            ("insurance_fund" if f.account == INSURANCE_ACCOUNT else "backstop_vault"): f.path
            for f in self.funds
        }
        return {
            "start_us": self.start,
            "end_us": self.end,
            "asset": self.settlement,
            "decimals": self.decimals,
            "instruments": {
                symbol: {
                    "tick_size": format_fraction(stats.inst.tick_size),
                    "lot_size": format_fraction(stats.inst.lot_size),
                    "mark": stats.marks,
                    "last_trade": stats.last_trades,
                    "open_interest": stats.open_interest,
                }
                for symbol, stats in self.instruments.items()
            },
            "liquidations": self.markers,
            "insurance_fund": [],
            **funds,
            "bad_debt": self.bad_debt,
            "margin_ratios": self.ratios,
        }


def _sample_times(start: int, end: int, n: int = MARGIN_SAMPLES) -> list[int]:
    """At most ``n`` distinct, evenly spaced times from ``start`` to ``end`` (both included)."""
    span = end - start
    count = min(n, span + 1)
    if count <= 1:
        return [end]
    return [start + span * k // (count - 1) for k in range(count)]


def _totals(venue: Venue, cross: Any, account: Any, flat_too: bool = False) -> tuple[int, int] | None:
    """``(equity, maintenance)`` of a ledger account at the venue's marks (else last trades) and
    index prices; ``None`` for an account without margined positions unless ``flat_too``."""
    schedules = cross.schedules
    sizes = {s: p.size for s, p in account.positions.items() if p.size and s in schedules}
    if not sizes and not flat_too:
        return None
    marks = {s: venue.marks.get(s) or venue.last_trade.last.get(s) or 0 for s in sizes}
    prices = {a: venue.index_prices.get(a, 0) for a in account.balances if a != cross.settlement}
    model = venue.gate.model(account.id) if hasattr(venue.gate, "model") else cross  # portfolio accounts
    equity, _, maintenance = model.totals(account.balances, sizes, marks, prices)
    return equity, maintenance


def _money(atoms: int, decimals: int) -> dict[str, Any]:
    return {"atoms": atoms, "units": format_atoms(atoms, decimals)}


def _ratio(value: float) -> float | None:
    return None if value == float("inf") else round(value, 6)


# ---------------------------------------------------------------------------------- text and plots


def summary_text(summary: dict) -> list[str]:
    """A short human summary of :func:`summarize`'s output (printed at the end of a run)."""
    run = summary["run"]
    seconds = format_atoms(run["end_us"] - run["start_us"], 6)
    lines = [
        f"run: scenario {run.get('scenario')!r}, seed {run.get('seed')}, {run['events']} events"
        f" ({run['inputs']} inputs, {run['rejected']} rejected), {seconds} s simulated"
    ]
    for symbol, inst in summary["instruments"].items():
        text = f"{symbol}: {inst['trades']} trades"
        if inst["trades"]:
            notional = f"{inst['notional']['units']} {inst['settlement_asset']}"
            text += (
                f", volume {inst['volume']['units']} ({notional}),"
                f" price {inst['min_price']['units']} .. {inst['max_price']['units']}"
                f" (last {inst['last_price']['units']})"
            )
        if inst["min_mark"] is not None:
            text += f", mark {inst['min_mark']['units']} .. {inst['max_mark']['units']}"
        lines.append(text)
    liq = summary["liquidations"]
    asset = liq["asset"] or ""
    if liq["rules"] is not None:
        adl = liq["deleveraging"]
        lines.append(
            f"liquidations ({liq['rules']}): {liq['count']}, through the book"
            f" {liq['liquidated_notional']['units']} {asset} in {liq['book_fills']} fills,"
            f" takeovers {liq['takeovers']}"
        )
        lines.append(
            f"deleveraged {adl['events']} (haircuts {adl['haircuts']['units']}, profit closed beyond need"
            f" {adl['beyond_need']['units']} {asset}), socialised {liq['socialized']['units']} {asset}"
        )
    for key, name in (("insurance_fund", "insurance fund"), ("backstop_vault", "backstop vault")):
        fund = summary.get(key)
        if fund is not None:
            lines.append(
                f"{name}: deposited {fund['deposited']['units']} -> end {fund['end']['units']} {asset}"
                f" (min {fund['min']['units']})"
            )
    if liq["rules"] is not None:
        lines.append(f"bad debt: {liq['bad_debt']['units']} {asset} ({liq['bad_debt_events']} events)")
    lines.append(f"journal sha256: {run['digest']}")
    return lines


def write_plots(series: dict, out_dir: Path) -> list[Path]:
    """Draw :func:`time_series` output as four PNGs in ``out_dir`` (``PLOT_FILES``); returns their paths.

    Needs matplotlib (the ``plots`` extra); draws with the Agg backend, without pyplot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install 'exchange-sim[plots]'") from None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    end = series["end_us"]
    scale = 10 ** series["decimals"]
    instruments = series["instruments"]

    def steps(path: list[list[int]], unit: Fraction | int = 1) -> tuple[list[float], list[float]]:
        """Seconds and values of a path, held to the end of the run."""
        if not path:
            return [], []
        points = [*path, [max(end, path[-1][0]), path[-1][1]]]
        return [t / 1e6 for t, _ in points], [float(v * unit) for _, v in points]

    def save(fig: Any, name: str) -> Path:
        FigureCanvasAgg(fig)
        path = out_dir / name
        fig.savefig(path, dpi=100)
        return path

    paths = []
    fig = Figure(figsize=(10, 3 * max(1, len(instruments))), layout="constrained")
    axes = fig.subplots(max(1, len(instruments)), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (symbol, data) in zip(axes, instruments.items(), strict=False):
        tick = Fraction(data["tick_size"])
        for key, label in (("last_trade", "last trade"), ("mark", "mark")):
            if data[key]:
                ax.step(*steps(data[key], tick), where="post", label=label, linewidth=1)
        marks = [m for m in series["liquidations"] if m[1] == symbol]
        if marks:
            ax.scatter(
                [m[0] / 1e6 for m in marks],
                [float(m[2] * tick) for m in marks],
                marker="x",
                color="red",
                label="liquidation",
                zorder=3,
            )
        ax.set_title(symbol)
        ax.set_ylabel("price")
        if ax.get_legend_handles_labels()[0]:  # an instrument that never traded nor was marked: no legend
            ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    paths.append(save(fig, PLOT_FILES[0]))

    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    unit = Fraction(1, scale)
    for key, label in (("insurance_fund", "insurance fund"), ("backstop_vault", "backstop vault")):
        path = series.get(key) or []
        if len(path) > 1 and path[1][0] == path[0][0]:
            path = path[1:]  # capital paid in at the start: not a fall from zero
        if path:
            top.step(*steps(path, unit), where="post", label=label)
    top.set_ylabel(series["asset"] or "amount")
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="best", fontsize="small")
    bottom.step(*steps(series["bad_debt"], unit), where="post", color="red", label="bad debt (cumulative)")
    bottom.set_ylabel(series["asset"] or "amount")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="best", fontsize="small")
    paths.append(save(fig, PLOT_FILES[1]))

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    for symbol, data in instruments.items():
        if data["open_interest"]:
            ax.step(*steps(data["open_interest"], Fraction(data["lot_size"])), where="post", label=symbol)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("open interest (contracts)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    paths.append(save(fig, PLOT_FILES[2]))

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    samples = series["margin_ratios"]
    seconds = [s["ts"] / 1e6 for s in samples]

    def column(key: str) -> list[float]:
        return [float("nan") if s[key] is None else s[key] for s in samples]

    if samples:
        ax.fill_between(seconds, column("p25"), column("p75"), alpha=0.3, label="25-75%")
        for key, style in (("p10", ":"), ("p50", "-"), ("p90", "--"), ("max", "-.")):
            ax.plot(seconds, column(key), style, label=key if key == "max" else f"{key[1:]}%")
    ax.axhline(1.0, color="red", linewidth=0.8, label="maintenance = equity")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("maintenance / equity")
    ax.legend(loc="best", fontsize="small")
    paths.append(save(fig, PLOT_FILES[3]))
    return paths
