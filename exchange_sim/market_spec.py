"""What a scenario says about moving markets: index processes, mark rules, funding, settlement.

These frozen records are the scenario's ``[market]``, ``[[indexes]]``, ``[[correlations]]``,
``[[marks]]`` and ``[[funding]]`` tables once read and checked (``docs/scenario-format.md``);
:class:`exchange_sim.market_feed.MarketFeed` runs them on the clock. They hold already-validated
values in the venue's units (microseconds, ppm, atoms, exact fractions), so the feed does no
parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from exchange_sim.book_index import BookIndex
from exchange_sim.marks import MarkRule
from exchange_sim.prices import GBM, JumpDiffusion, ScriptedPath

__all__ = [
    "DEFAULT_SETTLEMENT_WINDOW_US",
    "DEFAULT_STEP_US",
    "CorrelationSpec",
    "FundingSpec",
    "IndexSpec",
    "MarkSpec",
    "MarketSpec",
]

DEFAULT_STEP_US = 1_000_000
"""Index and mark updates once a simulated second unless ``[market] step`` says otherwise."""

DEFAULT_SETTLEMENT_WINDOW_US = 30 * 60 * 1_000_000
"""A dated future settles at the mean index of its last 30 minutes (Binance delivery contracts)."""

IndexProcess = ScriptedPath | GBM | JumpDiffusion | BookIndex


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One underlying's index: a generated or scripted path, or a book of the venue to follow.

    Attributes:
        underlying: the name instruments' ``underlying`` refers to (``"BTC"``); when it is also a
            collateral asset of the margin rules, the feed sets that asset's index price too.
        process: a :class:`~exchange_sim.prices.ScriptedPath` (scripted table or CSV file),
            :class:`~exchange_sim.prices.GBM`, :class:`~exchange_sim.prices.JumpDiffusion`, or a
            :class:`~exchange_sim.book_index.BookIndex`; its ``tick_size`` is the index's.
        tick_size: the index's price increment in settlement units per underlying unit.
    """

    underlying: str
    process: IndexProcess
    tick_size: Fraction


@dataclass(frozen=True, slots=True)
class CorrelationSpec:
    """Random indexes whose diffusion shocks are correlated (``[[correlations]]``).

    Attributes:
        underlyings: two or more underlyings with GBM or jump-diffusion indexes, each in at most
            one correlation group, in the matrix's order.
        matrix: the correlation matrix, exact (validated by
            :class:`~exchange_sim.prices.Correlated` when the scenario is read).
    """

    underlyings: tuple[str, ...]
    matrix: tuple[tuple[Fraction, ...], ...]


@dataclass(frozen=True, slots=True)
class MarkSpec:
    """How one instrument's mark is set (``[[marks]]``); instruments without one mark at the index.

    Attributes:
        instrument: a perpetual or future of the scenario whose underlying has an index.
        rule: the :class:`~exchange_sim.marks.MarkRule` (rules that need the funding interval get
            the instrument's ``[[funding]]`` interval).
        basis_window_us: how far back the ``(mid, index)`` basis samples of ``"index_basis"`` and
            ``"median"`` reach; one sample is taken at each market step when the book has both sides.
    """

    instrument: str
    rule: MarkRule
    basis_window_us: int


@dataclass(frozen=True, slots=True)
class FundingSpec:
    """A perpetual's funding (``[[funding]]``): :mod:`exchange_sim.funding`'s formula on a schedule.

    Attributes:
        instrument: a perpetual of the scenario.
        interval_us: time between two fundings (8 hours at Binance and BitMEX); the first is paid
            one interval after the start.
        sample_us: time between two premium samples within an interval (one minute at BitMEX);
            divides ``interval_us``.
        interest_ppm: the interest component per interval (100 ppm = 0.01% per 8 hours).
        clamp_ppm: half-width of the clamp on ``interest - average premium`` (500 ppm).
        cap_ppm: the largest rate, either sign.
        impact_notional: the notional the impact bid and ask spend, in settlement atoms.
        weighting: ``"mean"`` (BitMEX: arithmetic mean of the samples) or ``"linear"`` (Binance as
            users reproduce it: the i-th sample weighs i).
    """

    instrument: str
    interval_us: int
    sample_us: int
    interest_ppm: int
    clamp_ppm: int
    cap_ppm: int
    impact_notional: int
    weighting: str = "mean"


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Everything the market feed runs, from the scenario file.

    Attributes:
        step_us: time between two index (and mark) updates.
        settlement_window_us: dated futures settle at the mean of the index samples taken within
            this long before (and at) their expiry.
        indexes, correlations, marks, funding: the tables above, in file order.
    """

    step_us: int = DEFAULT_STEP_US
    settlement_window_us: int = DEFAULT_SETTLEMENT_WINDOW_US
    indexes: tuple[IndexSpec, ...] = ()
    correlations: tuple[CorrelationSpec, ...] = ()
    marks: tuple[MarkSpec, ...] = ()
    funding: tuple[FundingSpec, ...] = field(default=())
