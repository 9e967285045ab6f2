"""Run a scenario's markets on the clock: index paths, marks, funding and expiry, as venue inputs.

:class:`MarketFeed` turns a :class:`~exchange_sim.market_spec.MarketSpec` into calls on a
:class:`~exchange_sim.venue.Venue`, in time order: ``feed.advance(until_us)`` performs every due
action at or before ``until_us``. Anything can drive it: a plain loop over timestamps (tests, the
demo), or the simulator's simpy process, which waits until :meth:`MarketFeed.next_time` and then
advances to it. The venue journals everything the feed does (``SET_INDEX``, ``SET_MARK``,
``FUNDING``, ``SETTLE_EXPIRY``, ``MARGIN_RATES``), so a replay needs no feed.

What happens at one time, in this order (ties are broken by this order, then by the order of the
scenario file, so a run is deterministic):

1. **Index step** (every ``[market] step``): each underlying's index moves to its path's next value
   (a scripted or CSV table, a seeded GBM or jump diffusion, correlated groups together, or a book
   of the venue for an index that follows a market). A collateral asset's index price is set on
   the venue (rounded to settlement atoms, half to even) when it changed. Then each perpetual and
   future takes a ``(mid, index)`` basis sample when its book has both sides, a future within its
   settlement window records an index sample, and each instrument's mark is computed by its rule
   (:func:`exchange_sim.marks.mark_price`) and set on the venue when it changed (the volatility
   halt counts a mark as in force until the next one, so nothing is lost by not repeating it).
   A rule whose inputs are missing (an empty book side for ``"mid"``, no basis sample yet) marks
   at the index. A future stops being marked at its expiry.
2. **Premium sample** (every ``sample_every`` of each ``[[funding]]``): the impact bid and ask for
   the impact notional from the book's depth, and the premium index against the index
   (:mod:`exchange_sim.funding`). A side too thin to fill the impact notional gives no sample.
3. **Funding** (every ``interval``, the first one interval after the start): the rate from the
   interval's samples (premium 0 when there were none: the rate is then the interest rate within
   the clamp and cap), paid by :meth:`~exchange_sim.venue.Venue.apply_funding`.
4. **Expiry** (a future's expiry time): settled at the exact mean of its window's index samples
   (:func:`exchange_sim.settlement.settlement_price`), or at the index when it has none.
5. **Margin rates** (every ``interval`` of the venue's ``[margin.dynamic]``, the first one interval
   after the start): each underlying's volatility from its window of one-step log returns, a
   scale per underlying (:mod:`exchange_sim.margin.dynamic`), for portfolio VaR rules the EWMA
   covariance, and for historical VaR the window of moves over the rules' horizon; one
   ``MARGIN_RATES`` input when any of them changed.

Indexes are kept in their own ticks (``IndexSpec.tick_size``) and converted exactly to each
instrument's ticks (a :class:`~fractions.Fraction` when the instrument's tick is coarser), so a
mark is rounded once, by its rule.

Randomness: each random index (or correlated group) draws from its own generator,
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(STREAM, crc32(name))))`` where ``name``
is the underlying (for a group, the underlyings joined by ``+``). Adding or removing another index
in the scenario does not change this one's path.

>>> from exchange_sim.config import VenueConfig
>>> from exchange_sim.instruments import Instrument
>>> from exchange_sim.market_spec import IndexSpec, MarketSpec
>>> from exchange_sim.prices import ScriptedPath
>>> from exchange_sim.units import Asset
>>> usdc = Asset("USDC", 6)
>>> perp = Instrument.create(
...     "BTC-PERP", kind="perpetual", underlying="BTC", settlement=usdc, tick_size="0.5", lot_size="0.001"
... )
>>> venue = Venue(VenueConfig((usdc,), (perp,)))
>>> path = ScriptedPath(((0, "30000"), (2_000_000, "27000")), tick_size="0.5")
>>> feed = MarketFeed(venue, MarketSpec(indexes=(IndexSpec("BTC", path, Fraction(1, 2)),)), seed=7)
>>> feed.advance(3_000_000)
>>> venue.marks["BTC-PERP"]  # 27,000 USDC in ticks of 0.5
54000
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from exchange_sim.book_index import BookIndex, book_index
from exchange_sim.funding import funding_rate, impact_prices, linear_weights, premium_index
from exchange_sim.instruments import Instrument
from exchange_sim.margin.portfolio import ewma_covariance
from exchange_sim.market_spec import FundingSpec, MarketSpec, MarkSpec
from exchange_sim.marks import MarkInputs, MarkRule, implied_annual_basis_ppm, mark_price, round_mark
from exchange_sim.prices import GBM, Correlated, JumpDiffusion, ScriptedPath, iter_prices
from exchange_sim.settlement import settlement_price
from exchange_sim.venue import Venue

__all__ = ["DEPTH_LEVELS", "STREAM", "FundingPaid", "MarketFeed"]

STREAM = 0x1DE8
"""First element of the spawn key of every index generator (keeps them apart from other streams)."""

DEPTH_LEVELS = 1_000
"""Book levels per side an impact price may walk; beyond them a side counts as too thin."""

_INDEX, _PREMIUM, _FUNDING, _EXPIRY, _RATES = range(5)
_INDEX_MARK_RULE = MarkRule("index")


@dataclass(frozen=True, slots=True)
class FundingPaid:
    """One funding the feed paid: when, which perpetual, the rate, and from how many samples."""

    ts: int
    instrument: str
    rate_ppm: int
    samples: int
    accepted: bool


class _Funding:
    __slots__ = ("samples", "spec")

    def __init__(self, spec: FundingSpec) -> None:
        self.spec = spec
        self.samples: list[Fraction] = []


class MarketFeed:
    """The scenario's index paths, marks, funding and expiries, applied to ``venue`` in time order.

    Args:
        venue: the venue to drive; its instruments are the scenario's.
        spec: what to run (``Scenario.market``).
        seed: the scenario's seed; random indexes spawn their generators from it.
        start_us: the first index step (and the start of the funding schedule).
    """

    def __init__(self, venue: Venue, spec: MarketSpec, seed: int, start_us: int = 0) -> None:
        self.venue = venue
        self.spec = spec
        self.start_us = start_us
        self.index: dict[str, int] = {}
        """Each underlying's current index, in its own ticks (absent before its first value)."""
        self.funding_paid: list[FundingPaid] = []
        self.last_rate: dict[str, int] = {}
        self._ticks = {i.underlying: i.tick_size for i in spec.indexes}
        for i in spec.indexes:
            own = getattr(i.process, "tick_size", None)
            if own is not None and Fraction(own) != i.tick_size:
                raise ValueError(
                    f"index {i.underlying}: tick size {i.tick_size} differs from its process's {own}"
                )
        self._paths = list(self._build_paths(seed, start_us))
        self._books = [(i.underlying, i.process) for i in spec.indexes if isinstance(i.process, BookIndex)]
        self._collateral = self._collateral_assets()
        self._contracts = [
            inst for inst in venue.instruments.values() if not inst.is_spot and inst.underlying in self._ticks
        ]
        rules = {m.instrument: m for m in spec.marks}
        self._marks: dict[str, MarkSpec | None] = {i.symbol: rules.get(i.symbol) for i in self._contracts}
        self._basis: dict[str, deque[tuple[int, Fraction, Fraction]]] = {
            i.symbol: deque() for i in self._contracts
        }
        self._settlement: dict[str, list[Fraction]] = {}
        self._funding = {f.instrument: _Funding(f) for f in spec.funding}
        self._queue: list[tuple[int, int, int, str]] = []
        self._push(start_us, _INDEX, 0, "")
        for n, f in enumerate(spec.funding):
            self._push(start_us + f.sample_us, _PREMIUM, n, f.instrument)
            self._push(start_us + f.interval_us, _FUNDING, n, f.instrument)
        for n, inst in enumerate(self._contracts):
            if inst.expiry_us is not None and inst.expiry_us >= start_us and inst.symbol not in venue.settled:
                self._push(inst.expiry_us, _EXPIRY, n, inst.symbol)
        margin = venue.config.margin
        self._dynamic = margin.dynamic if margin is not None else None
        self._returns: dict[str, deque[float]] = {}
        """Dynamic margin: a window of one-step log returns per underlying it estimates from (its
        own, then the portfolio rules' for VaR)."""
        self._previous: dict[str, int] = {}
        self._var_underlyings: tuple[str, ...] = ()
        self._levels: dict[str, deque[int]] = {}
        """Historical VaR: each underlying's recent index values, for moves over the horizon."""
        self._horizon_steps = 1
        if self._dynamic is not None:
            portfolio = margin.portfolio if margin is not None else None
            if portfolio is not None and portfolio.method in ("var", "max"):
                self._var_underlyings = portfolio.underlyings
                if portfolio.var_model == "historical":
                    self._horizon_steps = max(1, portfolio.horizon_us // spec.step_us)
                    size = self._dynamic.window + self._horizon_steps
                    self._levels = {u: deque(maxlen=size) for u in portfolio.underlyings}
            names = dict.fromkeys((*self._dynamic.underlyings, *self._var_underlyings))
            self._returns = {u: deque(maxlen=self._dynamic.window) for u in names}
            self._push(start_us + self._dynamic.interval_us, _RATES, 0, "")

    def tick_size(self, underlying: str) -> Fraction:
        """The price increment of ``underlying``'s index (what :attr:`index` counts)."""
        return self._ticks[underlying]

    # ------------------------------------------------------------------ driving

    def next_time(self) -> int:
        """The time of the next due action (the feed always has one: index steps never end)."""
        return self._queue[0][0]

    def advance(self, until_us: int) -> None:
        """Perform every action due at or before ``until_us``, in time order."""
        queue = self._queue
        while queue and queue[0][0] <= until_us:
            ts, kind, n, name = heapq.heappop(queue)
            if kind == _INDEX:
                self._index_step(ts)
                self._push(ts + self.spec.step_us, _INDEX, 0, "")
            elif kind == _PREMIUM:
                self._premium_sample(ts, self._funding[name])
                self._push(ts + self._funding[name].spec.sample_us, _PREMIUM, n, name)
            elif kind == _FUNDING:
                self._pay_funding(ts, self._funding[name])
                self._push(ts + self._funding[name].spec.interval_us, _FUNDING, n, name)
            elif kind == _EXPIRY:
                self._expire(ts, self.venue.instruments[name])
            else:
                self._margin_rates(ts)
                assert self._dynamic is not None
                self._push(ts + self._dynamic.interval_us, _RATES, 0, "")

    def _push(self, ts: int, kind: int, n: int, name: str) -> None:
        heapq.heappush(self._queue, (ts, kind, n, name))

    # ------------------------------------------------------------------ index step

    def _build_paths(
        self, seed: int, start_us: int
    ) -> Iterator[tuple[tuple[str, ...], Iterator[tuple[int, tuple[int, ...]]]]]:
        """One lazy ``(time, ticks)`` iterator per random or scripted index (a group for correlated ones)."""
        spec = self.spec
        by_name = {i.underlying: i for i in spec.indexes}
        grouped = {u for c in spec.correlations for u in c.underlyings}
        end = 2**62
        for c in spec.correlations:
            components = tuple(by_name[u].process for u in c.underlyings)
            process = Correlated(components, c.matrix)  # type: ignore[arg-type]
            yield (
                c.underlyings,
                iter_prices(process, _rng(seed, "+".join(c.underlyings)), start_us, end, spec.step_us),
            )
        for i in spec.indexes:
            if i.underlying in grouped or isinstance(i.process, BookIndex):
                continue
            rng = _rng(seed, i.underlying) if isinstance(i.process, GBM | JumpDiffusion) else None
            assert isinstance(i.process, ScriptedPath | GBM | JumpDiffusion)
            yield (i.underlying,), iter_prices(i.process, rng, start_us, end, spec.step_us)

    def _collateral_assets(self) -> list[tuple[str, Fraction]]:
        """``(asset, settlement atoms per index tick)`` for each index that prices collateral."""
        margin = self.venue.config.margin
        if margin is None:
            return []
        unit = 10 ** self.venue.assets[margin.settlement].decimals
        return [
            (u, self._ticks[u] * unit)
            for u in self._ticks
            if u in self.venue.assets and u != margin.settlement
        ]

    def _index_step(self, ts: int) -> None:
        venue = self.venue
        for names, path in self._paths:
            t, ticks = next(path)
            assert t == ts, (t, ts)
            for name, value in zip(names, ticks, strict=True):
                self.index[name] = value
        for name, follow in self._books:
            value = book_index(venue, follow, self._ticks[name])
            if value is not None:
                self.index[name] = value
        for name, levels in self._levels.items():
            now = self.index.get(name)
            if now is not None and now > 0:
                levels.append(now)
        for name, window in self._returns.items():
            now = self.index.get(name)
            if now is not None and now > 0:
                before = self._previous.get(name)
                if before is not None:
                    window.append(math.log(now / before))
                self._previous[name] = now
        for asset, atoms_per_tick in self._collateral:
            if asset in self.index:
                atoms = round(self.index[asset] * atoms_per_tick)
                if venue.index_prices.get(asset) != atoms:
                    venue.set_index_price(ts, asset, atoms)
        for inst in self._contracts:
            if inst.expiry_us is not None and ts > inst.expiry_us:
                continue
            index = self._index_in(inst)
            if index is None:
                continue
            self._sample_basis(ts, inst, index)
            if inst.expiry_us is not None and ts >= inst.expiry_us - self.spec.settlement_window_us:
                self._settlement.setdefault(inst.symbol, []).append(index)
            mark = self._mark(ts, inst, index)
            if venue.marks.get(inst.symbol) != mark:
                venue.set_mark_price(ts, inst.symbol, mark)

    def _index_in(self, inst: Instrument) -> Fraction | None:
        """The underlying's index in the instrument's ticks, exactly."""
        value = self.index.get(inst.underlying)
        return None if value is None else value * self._ticks[inst.underlying] / inst.tick_size

    def _sample_basis(self, ts: int, inst: Instrument, index: Fraction) -> None:
        spec = self._marks[inst.symbol]
        if spec is None or spec.rule.name not in ("index_basis", "median"):
            return
        samples = self._basis[inst.symbol]
        bid, _, ask, _ = self.venue.top(inst.symbol)
        if bid is not None and ask is not None:
            samples.append((ts, Fraction(bid + ask, 2), index))
        while samples and samples[0][0] <= ts - spec.basis_window_us:
            samples.popleft()

    def _mark(self, ts: int, inst: Instrument, index: Fraction) -> int:
        spec = self._marks[inst.symbol]
        if spec is None:
            return round_mark(index)
        rule = spec.rule
        bid, _, ask, _ = self.venue.top(inst.symbol)
        funding = self._funding.get(inst.symbol)
        to_funding = None
        if funding is not None:  # fundings fall at start + k x interval, k >= 1
            interval, elapsed = funding.spec.interval_us, ts - self.start_us
            to_funding = (-elapsed) % interval if elapsed else interval
        to_expiry = None if inst.expiry_us is None else inst.expiry_us - ts
        implied = None  # a fair-price rule without its own rate takes the book's implied basis
        wants_rate = rule.name == "fair_price" and rule.annual_basis_rate_ppm is None
        if wants_rate and to_expiry and bid is not None and ask is not None:
            implied = implied_annual_basis_ppm(Fraction(bid + ask, 2), index, to_expiry)
        inputs = MarkInputs(
            index,
            best_bid=bid,
            best_ask=ask,
            basis_samples=tuple((mid, idx) for _, mid, idx in self._basis[inst.symbol]),
            last_price=self.venue.last_trade.last.get(inst.symbol),
            funding_rate_ppm=self.last_rate.get(inst.symbol),
            time_to_funding_us=to_funding,
            time_to_expiry_us=to_expiry,
            annual_basis_rate_ppm=implied,
        )
        mark = mark_price(rule, inputs)
        return round_mark(index) if mark is None else mark

    # ------------------------------------------------------------------ funding

    def _premium_sample(self, ts: int, funding: _Funding) -> None:
        inst = self.venue.instruments[funding.spec.instrument]
        index = self._index_in(inst)
        if index is None:
            return
        bids, asks = self.venue.depth(inst.symbol, DEPTH_LEVELS)
        impact = impact_prices(bids, asks, funding.spec.impact_notional, inst.atoms_per_tick_per_lot)
        if impact.bid is not None and impact.ask is not None:
            funding.samples.append(premium_index(impact.bid, impact.ask, index))

    def _pay_funding(self, ts: int, funding: _Funding) -> None:
        spec = funding.spec
        samples = funding.samples or [Fraction(0)]
        weights = linear_weights(len(samples)) if spec.weighting == "linear" else None
        rate = funding_rate(samples, spec.interest_ppm, spec.clamp_ppm, spec.cap_ppm, weights=weights)
        result = self.venue.apply_funding(ts, spec.instrument, rate)
        self.funding_paid.append(FundingPaid(ts, spec.instrument, rate, len(funding.samples), result.ok))
        self.last_rate[spec.instrument] = rate
        funding.samples = []

    # ------------------------------------------------------------------ dynamic margin

    def _margin_rates(self, ts: int) -> None:
        """Estimate volatility from the windows of index returns and send ``MARGIN_RATES`` if a
        scale or the VaR covariance changed (:mod:`exchange_sim.margin.dynamic`)."""
        dynamic = self._dynamic
        assert dynamic is not None
        venue = self.venue
        scales = dynamic.scales(self._returns, self.spec.step_us)
        changed = {u: v for u, v in scales.items() if venue.margin_scales.get(u, 1_000_000) != v}
        covariance = None
        names = self._var_underlyings
        if names and all(len(self._returns[u]) >= 2 for u in names):
            length = min(len(self._returns[u]) for u in names)
            returns = np.array([list(self._returns[u])[-length:] for u in names], dtype=np.float64).T
            cov = ewma_covariance(returns, dynamic.lam_ppm / 1_000_000, step_us=self.spec.step_us)
            covariance = tuple(tuple(float(x) for x in row) for row in cov.tolist())
            if covariance == venue.margin_covariance:
                covariance = None
        returns = self._horizon_moves()
        if returns is not None and returns == venue.margin_returns:
            returns = None
        if changed or covariance is not None or returns is not None:
            venue.set_margin_rates(ts, changed, covariance, returns)

    def _horizon_moves(self) -> tuple[tuple[float, ...], ...] | None:
        """Historical VaR's window: the moves ``P_t / P_(t - H) - 1`` over the horizon (``H``
        steps) of each underlying of the rules, for the last ``window`` steps (rows aligned on the
        most recent index value); ``None`` until every underlying has at least one."""
        levels = self._levels
        if not levels:
            return None
        h = self._horizon_steps
        length = min(len(values) for values in levels.values())
        if length <= h:
            return None
        columns = [list(values)[-length:] for values in levels.values()]
        return tuple(tuple(column[t] / column[t - h] - 1.0 for column in columns) for t in range(h, length))

    # ------------------------------------------------------------------ expiry

    def _expire(self, ts: int, inst: Instrument) -> None:
        samples = self._settlement.pop(inst.symbol, None)
        if samples:
            price = settlement_price(samples)
        else:
            index = self._index_in(inst)
            price = round_mark(index) if index is not None else self.venue.marks.get(inst.symbol)
        if price is not None:
            self.venue.settle_expiry(ts, inst.symbol, max(1, price))


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM, zlib.crc32(name.encode()))))
