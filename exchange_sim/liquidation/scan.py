"""Health scan: which accounts *may* be below maintenance, over every account at once, in numpy.

After every mark update the liquidation engine must find the accounts whose equity is below their
maintenance requirement (the rule of :meth:`exchange_sim.margin.cross.CrossMargin.totals`)::

    equity      = settlement balance
                + sum over other assets of collateral_value(balance, decimals, price, haircut)
                + sum over positions of size x mark x atoms_per_tick_per_lot
    maintenance = sum over positions of ceil((notional x rate_i - deduction_i) / PPM)

A Python loop of ``totals`` over 100,000 accounts costs about a quarter of a second;
:class:`HealthScan` keeps what the rule needs in column arrays, updated one account at a time,
and evaluates the rule in float64 for all rows at once: the band of every notional is
``searchsorted(floors, notional, side="right") - 1`` (computed, for schedules of up to six bands,
as the number of floors above the first that the notional reaches: the same index, several times
faster than numpy's binary search on a tiny table), then ``notional x rates[band] -
deductions[band]``. ``benchmarks/bench_liquidation_scan.py``: about 5 ms for 100,000 accounts
with positions in three instruments.
The float result is a **prefilter**: :meth:`HealthScan.candidates` returns every account that may
be below maintenance (never missing one: see "Slack" below) plus the few that are so close to it
that float64 cannot tell; the caller confirms each candidate exactly with
:meth:`~exchange_sim.margin.cross.CrossMargin.totals` (:func:`exact_below` does that).

Columns
-------

* one int64 column of sizes (lots) per *margined instrument*: every perpetual or future of
  ``cross.instruments`` that settles in ``cross.settlement`` and has a bracket schedule, in the
  order of ``cross.instruments``. Positions in instruments settled in another asset are ignored
  (as ``totals`` ignores them);
* one float64 column of balances for the settlement asset, then one per other asset of
  ``cross.assets`` (in that order): an asset with a collateral rule counts at its haircut, an
  asset without one counts for nothing when held and in full when owed, as in ``totals``;
* one int64 column of insertion stamps (the order :meth:`~HealthScan.candidates` reports in).

Balances are kept as float64 copies (an 18-decimal asset's atoms do not fit in int64); sizes are
int64 lots (a size outside int64 is refused with :class:`OverflowError`); the exact check uses
the caller's Python integers, never these arrays.

Memory: ``8 x assets + 8 x instruments + 9`` bytes per row (assets including the settlement
asset; one byte flags portfolio rows), e.g. 57 bytes with USDC, BTC, ETH and three perpetuals;
capacity grows by doubling, so at most twice that is allocated.
Each key also costs a dict entry and a list slot (about 100 bytes; the key strings themselves are
the ledger's). A scan allocates about ten temporary arrays of one value per row (under 80 bytes
per row, freed when it returns).

Slack
-----

Let ``u = 2**-53`` (float64 unit roundoff). Every number the scan starts from (a balance, a size,
``mark x apl``, the collateral factor ``price x (PPM - haircut) / (10**decimals x PPM)`` or
``price / 10**decimals``, a floor, ``rate / PPM``, ``deduction / PPM``) is one correctly rounded
float: within ``u`` of its exact value, relatively. Then, with ``S`` the sum of absolute terms
(``|settlement balance| + sum |collateral value| + sum |position value|``):

* each term (a product of two such numbers) is within ``3u`` of its exact value, relatively;
* a requirement ``notional x rate / PPM - deduction / PPM`` in the right band is within
  ``8u x notional``: the product within ``5u x notional x rate / PPM``, the deduction within
  ``u``, the difference within ``u``, and ``deduction / PPM <= notional x rate / PPM <= notional``;
* a float notional near a floor may fall in the neighbouring band; only when notional and floor
  are within ``4u x notional`` of each other, and the two bands' lines meet at the floor
  (continuity), so they differ there by at most ``4u x notional``;
* adding ``T`` terms one by one errs by at most ``(T - 1) u`` times the sum of their absolute
  values (equity: ``S``; maintenance: at most ``2 x sum notional <= 2S``), and the final
  ``equity - maintenance`` by ``u x 3S``.

Altogether ``|D_float - D_real| <= (20 + 3T) u S``, where ``D_real`` is equity minus maintenance
computed without the integer rounding of ``totals`` and ``T = assets + instruments`` (the
number of balance and size columns). The rounding itself: each collateral value is a floor (or,
owed, a ceiling) of its real value, so it is at most one atom below it; each requirement is a
ceiling, at most one atom above. So an account exactly below maintenance (``equity <=
maintenance - 1`` in integers) has ``D_real <= k - 1``, where ``k`` counts its non-zero
collateral balances and non-zero positions, and ``D_float <= k - 1 + (20 + 3T) u S``. The scan
flags a row when::

    D_float < k + REL_SLACK x S_float,        REL_SLACK = 2**-40  (about 9.1e-13, 8192 u)

which holds for every account exactly below maintenance while ``20 + 3T < 4096`` (checked when
the scan is built; ``S_float`` itself is within ``T u`` of ``S``). The margin of one atom and a
factor two is deliberate. In practice the slack is one atom per rounded term plus about one atom
per 10**12 atoms held: only accounts within a few atoms of the boundary are flagged without being
below it, and an account at maintenance exactly is flagged (not below: the exact check says so).

An account with no position has maintenance 0: it is flagged only when its equity may be
negative (bad debt). A row with nothing in it (a removed account) is never flagged.

Portfolio rows
--------------

A row inserted with ``portfolio=True`` is a portfolio-margined account
(:mod:`exchange_sim.margin.portfolio_account`): its equity is computed as above, but its
maintenance is not a sum over positions. The scan adds its position values per underlying into
``(P, U)`` exposures and a gross notional, and takes
:meth:`RequirementBounds.maintenance_upper
<exchange_sim.margin.portfolio_bounds.RequirementBounds.maintenance_upper>`, a float *upper*
bound of the exact maintenance (its own slack covers the float sums it is given). With the slack
above on equity, no portfolio row below maintenance is missed; each candidate is confirmed
exactly by the engine. Dynamic margin replaces the rules in force; the scan reads them at every
call, and :meth:`HealthScan.schedules_changed` re-reads scaled bracket schedules.

Order: :meth:`HealthScan.candidates` reports keys in the order they were inserted (the order of a
dict of the live keys: overwriting a key keeps its place; a key removed and inserted again goes
last), whatever rows they occupy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from exchange_sim.margin.cross import CrossMargin
from exchange_sim.margin.portfolio_account import PortfolioMargin
from exchange_sim.units import PPM

REL_SLACK = 2.0**-40
"""Relative part of the slack, times the sum of absolute terms (see the module docstring)."""

_UNIT_ROUNDOFF = 2.0**-53
_SHORT_SCHEDULE = 6
"""Schedules with at most this many bands find bands by comparisons, longer ones by searchsorted."""
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def exact_below(
    cross: CrossMargin,
    balances: Mapping[str, int],
    sizes: Mapping[str, int],
    marks: Mapping[str, int],
    prices: Mapping[str, int],
) -> bool:
    """Whether the account is below maintenance exactly: ``equity < maintenance`` by
    :meth:`CrossMargin.totals <exchange_sim.margin.cross.CrossMargin.totals>`."""
    equity, _, maintenance = cross.totals(balances, sizes, marks, prices)
    return equity < maintenance


class _Schedule:
    """One margined instrument's brackets as float64 arrays (maintenance side only)."""

    __slots__ = ("apl", "deductions", "floors", "rates", "symbol")

    def __init__(self, symbol: str, apl: int, cross: CrossMargin) -> None:
        schedule = cross.schedules[symbol]
        self.symbol = symbol
        self.apl = apl
        self.floors = np.array([float(b.floor) for b in schedule.brackets])
        self.rates = np.array([b.maintenance_ppm / PPM for b in schedule.brackets])
        self.deductions = np.array([d / PPM for d in schedule.maintenance_deductions])

    def band(self, notional: np.ndarray) -> np.ndarray:
        """The band of each notional: the last whose floor is ``<= notional``, as
        ``searchsorted(floors, notional, side="right") - 1`` (which is what a long schedule
        uses; a short one counts the floors passed, several times faster)."""
        floors = self.floors
        if floors.shape[0] == 1:
            return np.zeros(notional.shape, dtype=np.intp)
        if floors.shape[0] > _SHORT_SCHEDULE:
            return np.searchsorted(floors, notional, side="right") - 1
        band = (notional >= floors[1]).view(np.int8).astype(np.intp)
        for floor in floors[2:]:
            band += notional >= floor
        return band


class HealthScan:
    """The accounts of one cross-margin venue as column arrays, for :meth:`candidates`.

    Built from the venue's :class:`~exchange_sim.margin.cross.CrossMargin` (same instruments,
    schedules, assets and collateral rules); ``capacity`` is the initial number of rows. Keep it
    in step with the ledger by calling :meth:`update` whenever an account's balances or positions
    change and :meth:`remove` when it goes away; both are amortised O(columns).
    """

    __slots__ = (
        "_asset_col",
        "_balances",
        "_collateral",
        "_cross",
        "_free",
        "_keys",
        "_next_stamp",
        "_portfolio",
        "_portfolio_rows",
        "_rows",
        "_schedules",
        "_size_col",
        "_sizes",
        "_stamps",
        "_used",
        "assets",
        "instruments",
        "portfolio",
        "settlement",
    )

    def __init__(
        self, cross: CrossMargin, capacity: int = 1024, portfolio: PortfolioMargin | None = None
    ) -> None:
        settlement = cross.settlement
        self._cross = cross
        self.portfolio = portfolio
        """Portfolio margin, for rows inserted with ``portfolio=True`` (docstring, "Portfolio rows")."""
        self.settlement = settlement
        self.instruments: tuple[str, ...] = tuple(
            symbol
            for symbol, inst in cross.instruments.items()
            if not inst.is_spot and inst.settlement_asset == settlement and symbol in cross.schedules
        )
        """The margined instruments, one size column each, in this order."""
        self.assets: tuple[str, ...] = (settlement, *(a for a in cross.assets if a != settlement))
        """The balance columns: the settlement asset, then every other asset."""
        self._schedules: tuple[_Schedule, ...] = ()
        self.schedules_changed()
        self._collateral = tuple(
            (
                asset,
                cross.assets[asset].decimals,
                cross.rules[asset].haircut_ppm if asset in cross.rules else PPM,
            )
            for asset in self.assets[1:]
        )
        """Per non-settlement balance column: (asset, decimals, haircut in ppm)."""
        columns = len(self.assets) + len(self.instruments)
        if (20 + 3 * columns) * _UNIT_ROUNDOFF * 2 > REL_SLACK:  # pragma: no cover (thousands)
            raise ValueError(f"too many columns ({columns}) for the scan's float error bound")
        self._asset_col = {a: i for i, a in enumerate(self.assets)}
        self._size_col = {s: j for j, s in enumerate(self.instruments)}
        capacity = max(1, capacity)
        self._balances = np.zeros((len(self.assets), capacity), dtype=np.float64)
        self._sizes = np.zeros((len(self.instruments), capacity), dtype=np.int64)
        self._stamps = np.zeros(capacity, dtype=np.int64)
        self._portfolio = np.zeros(capacity, dtype=np.bool_)
        self._portfolio_rows = 0
        """How many rows held are portfolio rows."""
        self._keys: list[str | None] = []
        """Row -> key (``None``: a free row); its length is the number of rows ever used."""
        self._rows: dict[str, int] = {}
        self._free: list[int] = []
        self._used = 0
        self._next_stamp = 0

    def schedules_changed(self) -> None:
        """Read the bracket schedules again (dynamic margin replaced some in ``cross.schedules``)."""
        cross = self._cross
        self._schedules = tuple(
            _Schedule(s, cross.instruments[s].atoms_per_tick_per_lot, cross) for s in self.instruments
        )

    # rows ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of accounts held."""
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (at their current capacity)."""
        return self._balances.nbytes + self._sizes.nbytes + self._stamps.nbytes + self._portfolio.nbytes

    def update(
        self, key: str, balances: Mapping[str, int], sizes: Mapping[str, int], portfolio: bool = False
    ) -> None:
        """Insert account ``key`` or overwrite its row: ``balances`` atoms per asset, ``sizes``
        signed lots per instrument (what ``totals`` is given). A key not held takes a free row or
        a new one (doubling the arrays when full). ``portfolio``: the account is portfolio
        margined (the scan must have been built with ``portfolio`` rules).

        Raises, leaving the scan unchanged: :class:`KeyError` for a non-zero balance of an asset
        the venue does not list, or a non-zero size of an instrument that is not listed, or that
        settles in the settlement asset without being margined (``totals`` would fail on it too);
        :class:`OverflowError` for a size outside int64. Zero amounts and instruments settled in
        another asset are ignored.
        """
        row_balances = [0.0] * len(self.assets)
        for asset, amount in balances.items():
            if not amount:
                continue
            col = self._asset_col.get(asset)
            if col is None:
                raise KeyError(f"{key}: asset {asset!r} is not listed by the venue")
            row_balances[col] = float(amount)
        row_sizes = [0] * len(self.instruments)
        for symbol, size in sizes.items():
            if not size:
                continue
            col = self._size_col.get(symbol)
            if col is None:
                inst = self._cross.instruments.get(symbol)
                if inst is None:
                    raise KeyError(f"{key}: instrument {symbol!r} is not listed by the venue")
                if inst.settlement_asset != self.settlement:
                    continue
                raise KeyError(f"{key}: instrument {symbol!r} is not margined (spot, or no bracket schedule)")
            if not _INT64_MIN <= size <= _INT64_MAX:
                raise OverflowError(f"{key}: {symbol} size {size} does not fit in int64")
            row_sizes[col] = size
        row = self._rows.get(key)
        if row is None:
            row = self._new_row()
            self._keys[row] = key
            self._rows[key] = row
            self._stamps[row] = self._next_stamp
            self._next_stamp += 1
        if portfolio and self.portfolio is None:
            raise ValueError(f"{key}: a portfolio row needs a scan built with portfolio rules")
        if bool(self._portfolio[row]) != portfolio:
            self._portfolio_rows += 1 if portfolio else -1
            self._portfolio[row] = portfolio
        balance_columns, size_columns = self._balances, self._sizes
        for col, value in enumerate(row_balances):
            balance_columns[col, row] = value
        for col, value in enumerate(row_sizes):
            size_columns[col, row] = value

    def remove(self, key: str) -> None:
        """Forget account ``key`` (:class:`KeyError` if not held); its row is zeroed and reused."""
        row = self._rows.pop(key)
        self._keys[row] = None
        self._balances[:, row] = 0.0
        self._sizes[:, row] = 0
        if self._portfolio[row]:
            self._portfolio[row] = False
            self._portfolio_rows -= 1
        self._free.append(row)

    def _new_row(self) -> int:
        if self._free:
            return self._free.pop()
        row = self._used
        if row == self._stamps.shape[0]:
            self._grow(2 * row)
        self._used = row + 1
        self._keys.append(None)
        return row

    def _grow(self, capacity: int) -> None:
        used = self._used
        balances = np.zeros((self._balances.shape[0], capacity), dtype=np.float64)
        balances[:, :used] = self._balances[:, :used]
        sizes = np.zeros((self._sizes.shape[0], capacity), dtype=np.int64)
        sizes[:, :used] = self._sizes[:, :used]
        stamps = np.zeros(capacity, dtype=np.int64)
        stamps[:used] = self._stamps[:used]
        portfolio = np.zeros(capacity, dtype=np.bool_)
        portfolio[:used] = self._portfolio[:used]
        self._balances, self._sizes, self._stamps, self._portfolio = balances, sizes, stamps, portfolio

    # the scan -----------------------------------------------------------------------------

    def candidates(self, marks: Mapping[str, int], prices: Mapping[str, int]) -> list[str]:
        """Keys of the accounts that may be below maintenance at ``marks`` (ticks per instrument)
        and ``prices`` (index prices, settlement atoms per whole unit, per asset), in insertion
        order. Every account that is below it exactly is among them (module docstring, "Slack").

        A mark is needed for every margined instrument some account holds, a price for every
        asset some account holds a non-zero balance of (:class:`KeyError` otherwise, as
        ``totals`` would raise); others are not read. O(rows x columns), all in numpy.
        """
        used = self._used
        if used == 0:
            return []
        balances, sizes = self._balances[:, :used], self._sizes[:, :used]
        equity = balances[0].copy()
        total = np.abs(equity)
        rounded = np.zeros(used, dtype=np.float64)  # the number of rounded terms, then the slack
        value = np.empty(used, dtype=np.float64)
        for col, (asset, decimals, haircut) in enumerate(self._collateral, start=1):
            held = balances[col]
            if not held.any():
                continue
            price = prices[asset]
            if price < 0:
                raise ValueError(f"an index price cannot be negative, got {asset} {price}")
            scale = 10**decimals
            np.multiply(held, price * (PPM - haircut) / (scale * PPM), out=value)
            if haircut:
                owed = held < 0
                if owed.any():
                    np.multiply(held, price / scale, out=value, where=owed)
            equity += value
            total += np.abs(value, out=value)
            rounded += held != 0
        maintenance = np.zeros(used, dtype=np.float64)
        requirement = np.empty(used, dtype=np.float64)
        portfolio = self.portfolio if self._portfolio_rows else None
        if portfolio is not None:
            prows = np.flatnonzero(self._portfolio[:used])
            exposures = np.zeros((prows.shape[0], len(portfolio.rules.underlyings)), dtype=np.float64)
            gross = np.zeros(prows.shape[0], dtype=np.float64)
        for col, schedule in enumerate(self._schedules):
            lots = sizes[col]
            if not lots.any():
                continue
            np.multiply(lots, float(marks[schedule.symbol] * schedule.apl), out=value)
            if portfolio is not None:
                held = value[prows]
                exposures[:, portfolio.columns[schedule.symbol][0]] += held
                gross += np.abs(held)
            equity += value
            notional = np.abs(value, out=value)
            total += notional
            rounded += lots != 0
            if schedule.floors.shape[0] == 1:
                maintenance += np.multiply(notional, schedule.rates[0], out=requirement)
                continue
            band = schedule.band(notional)
            np.multiply(notional, schedule.rates.take(band), out=requirement)
            requirement -= schedule.deductions.take(band)
            maintenance += requirement
        if portfolio is not None:
            maintenance[prows] = portfolio.bounds.maintenance_upper(exposures, gross)
        equity -= maintenance
        total *= REL_SLACK
        rounded += total
        flagged = np.flatnonzero(equity < rounded)
        if flagged.shape[0] > 1:
            flagged = flagged[np.argsort(self._stamps[flagged], kind="stable")]
        keys = self._keys
        return [keys[row] for row in flagged.tolist()]  # type: ignore[misc]
