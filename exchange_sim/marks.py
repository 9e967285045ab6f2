"""Mark price rules as pure, exact functions: book mid, basis average, funding basis, fair price, median.

A *mark price* is the price a venue values positions at (unrealised PnL, margin, liquidation), as
opposed to the last trade. Venues build it from the index (an average of spot prices elsewhere)
plus a basis that is hard to push around. Nothing here touches a venue, a book or a clock: each
function takes numbers and returns numbers, so the simulator can sample and call them on its own
schedule and tests can check them by hand. ``docs/marks.md`` has the worked examples.

Rules (every number exact; the only rounding is the final one, to whole ticks)::

    index mark          = index                                              (dYdX: the oracle price)
    book mid            = (best bid + best ask) / 2                           (None if a side is empty)
    average basis       = mean of (mid_i - index_i), optionally clamped to +-band x index
    index_basis mark    = index + average basis                              (Binance "price 2")
    funding_basis mark  = index x (1 + funding rate x time to funding / funding interval)
                                                            (Binance "price 1", BitMEX perpetual fair price)
    implied basis rate  = (mid / index - 1) / (time to expiry / year)        (BitMEX / Gate "% fair basis")
    fair_price mark     = index x (1 + annual basis rate x time to expiry / year)
    median mark         = median of the candidates that are present          (Binance: price 1, price 2,
                                                                               contract price)

Sources read (no code was taken from them):

* BitMEX, *Fair Price Marking*: perpetual ``Fair Price = Index Price x (1 + Funding Basis)`` with
  ``Funding Basis = Funding Rate x (Time Until Funding / Funding Interval)``; futures marked at the
  index plus an annualised "% Fair Basis" from the impact mid price:
  https://www.bitmex.com/app/fairPriceMarking
* Binance, *Mark Price* announcement (coin-margined perpetuals): ``Mark Price = Median(Price 1,
  Price 2, Contract Price)``, ``Price 1 = Price Index x (1 + Last Funding Rate x (Time Until
  Funding / 8))``, ``Price 2 = Price Index + Moving Average(basis)`` with the basis
  ``(Bid1 + Ask1) / 2 - Price Index`` sampled every 5 seconds; "If Price 1 < Price 2 < Contract
  Price, then take Price 2":
  https://binance.com/en/support/announcement/%D0%BC%D0%B0%D1%80%D0%BA%D0%B8%D1%80%D0%B0%D0%BD%D0%B0-%D1%86%D0%B5%D0%BD%D0%B0-%D0%B8-%D1%86%D0%B5%D0%BD%D0%BE%D0%B2%D0%B8-%D0%B8%D0%BD%D0%B4%D0%B5%D0%BA%D1%81-%D0%BD%D0%B0-%D0%B4%D0%BE%D0%B3%D0%BE%D0%B2%D0%BE%D1%80%D0%B8%D1%82%D0%B5-%D1%81-%D0%BA%D1%80%D0%B8%D0%BF%D1%82%D0%BE%D0%B2%D0%B0%D0%BB%D1%83%D1%82%D0%B5%D0%BD-%D0%BC%D0%B0%D1%80%D0%B6%D0%B8%D0%BD-fff6ec1b3f5845d19f1fb924644a0877
  and Binance's USDⓈ-M FAQ (the mark uses "the bid1 and ask1 series from the order book, the
  funding rate" and the index): https://www.binance.com/en/support/faq/what-are-mark-price-and-price-index-in-usd%E2%93%A2-margined-futures-360033525071
* Ebi docs, *Mark price calculation* (the same median rule with a 5-minute basis average of 60
  points, one every 5 seconds): https://docs.ebi.xyz/ebi.xyz-overview/trading/pricing/mark-price/calculation
* Aevo docs, *Perpetual Futures Mark Pricing* (worked example ``2000 x (1 + 0.005 x 0.5) = 2005``):
  https://docs.aevo.xyz/aevo-exchange/perpetuals-specifications/perpetual-futures-mark-pricing
* Gate, *Delivery futures mark price* (``Reasonable Basis Rate = (Mid / Index - 1) / (Time Before
  Expiration / 365)``; worked example: index 10,000, impact bid 10,049, impact ask 10,051, 30 days,
  rate 6.0833%, basis 50, price 10,050): https://www.gate.com/help/futures/delivery/17601
* EQONEX, *Marking* (a perpetual mark "bound to the Exchange Index +/- 0.2%"):
  https://help.eqonex.com/en/articles/4633993-marking
* dYdX, *Oracle Prices* (one validator-agreed oracle price per market is used for collateral checks
  and liquidations): https://docs.dydx.xyz/concepts/trading/oracle

Units and numbers:

* prices (index, bid, ask, mid, last trade, marks) are **ticks**; inputs may be exact
  :class:`~fractions.Fraction` s of a tick (an index, a mid, an impact price), marks are ``int``;
* the funding rate, the clamp band and the annual basis rate are **ppm** (DESIGN.md); an annual
  basis rate may be an exact ``Fraction`` of a ppm, as :func:`implied_annual_basis_ppm` returns;
* times are integer **microseconds**; a year is :data:`~exchange_sim.prices.US_PER_YEAR` (365 days).

Rounding: each rule computes its mark exactly, then :func:`round_mark` rounds it once to the nearest
tick, ties to even, and never below 1 tick. Half-to-even has no bias up or down (a mark is not a
charge: rounding it up would favour shorts, down would favour longs) and matches
:func:`exchange_sim.prices.round_to_ticks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from exchange_sim.prices import US_PER_YEAR
from exchange_sim.units import PPM, UnitError

__all__ = [
    "RULES",
    "MarkInputs",
    "MarkRule",
    "Price",
    "basis_moving_average",
    "book_mid",
    "funding_basis_mark",
    "future_fair_price",
    "implied_annual_basis_ppm",
    "mark_price",
    "median_mark",
    "perpetual_mark",
    "round_mark",
]

Price = int | Fraction
"""A price in ticks: an integer, or an exact fraction of a tick (an index, a mid)."""

BasisSample = tuple[Price, Price]
"""One basis sample: ``(mid, index)`` in ticks, taken at the same instant."""

RULES: Final = ("index", "index_basis", "funding_basis", "fair_price", "mid", "median")
"""The rule names :class:`MarkRule` accepts."""

_PRICE_EXPECTED = "a positive price in ticks (int or fractions.Fraction)"
_TICKS_EXPECTED = "a positive integer number of ticks"
_CLAMP_EXPECTED = f"an integer band in ppm from 0 to {PPM - 1}, or None for no clamp"
_RATE_EXPECTED = f"an integer rate in ppm strictly between -{PPM} and {PPM}"
_ANNUAL_EXPECTED = "an annual basis rate in ppm (int or fractions.Fraction)"
_US_EXPECTED = "an integer number of microseconds >= 0"
_INTERVAL_EXPECTED = "a positive integer number of microseconds"


# rounding and the book ------------------------------------------------------------------------


def round_mark(price: Price) -> int:
    """An exact price in ticks -> the mark in whole ticks: nearest, ties to even, at least 1.

    >>> round_mark(Fraction(120_009, 2)), round_mark(Fraction(120_011, 2)), round_mark(Fraction(1, 3))
    (60004, 60006, 1)
    """
    return max(1, round(Fraction(price)))


def book_mid(best_bid: int | None, best_ask: int | None) -> Fraction | None:
    """The mid of the best bid and best ask in ticks, exact (a half tick when they differ by an odd
    number of ticks), or ``None`` when either side of the book is empty.

    >>> book_mid(60_010, 60_011), book_mid(None, 60_011)
    (Fraction(120021, 2), None)
    """
    if best_bid is None or best_ask is None:
        if best_bid is not None:
            _ticks(best_bid, "best_bid")
        if best_ask is not None:
            _ticks(best_ask, "best_ask")
        return None
    bid = _ticks(best_bid, "best_bid")
    ask = _ticks(best_ask, "best_ask")
    if bid > ask:
        raise UnitError(
            f"best bid {bid} is above best ask {ask}: a matched book is never crossed",
            field="best_bid",
            expected="best_bid <= best_ask",
            got=bid,
        )
    return Fraction(bid + ask, 2)


# index plus basis (Binance "price 2") -----------------------------------------------------------


def basis_moving_average(
    samples: Sequence[BasisSample], clamp_ppm: int | None = None, *, reference_index: Price | None = None
) -> Fraction:
    """The arithmetic mean of the basis ``mid - index`` over ``samples``, in ticks, exact.

    Args:
        samples: ``(mid, index)`` pairs in ticks, one per sampling instant (Binance: every 5
            seconds over the averaging window), oldest first; at least one. Equally spaced samples
            make the mean a time average. No state is kept: the caller keeps the window.
        clamp_ppm: ``None`` for no clamp, else the average is limited to
            ``+-clamp_ppm x reference_index / 1000000`` ticks.
        reference_index: the index the band is a fraction of; by default the index of the last
            (most recent) sample. :func:`perpetual_mark` passes the index it marks at.

    The clamp applies to the *average*, not to each sample, so that it bounds what matters: how
    far the mark can stand from the index (EQONEX bounds its perpetual mark to the index +-0.2%).

    >>> basis_moving_average([(Fraction(120_021, 2), 60_000), (60_020, 60_005)])
    Fraction(51, 4)
    >>> basis_moving_average([(60_100, 60_000)], clamp_ppm=1_000)  # band 60 ticks
    Fraction(60, 1)
    """
    if isinstance(samples, str | bytes) or not isinstance(samples, Sequence):
        raise UnitError(
            f"basis samples must be a sequence of (mid, index) pairs, got {type(samples).__name__}",
            field="basis_samples",
            expected="a sequence of (mid, index) pairs in ticks",
        )
    if not samples:
        raise UnitError(
            "basis samples are empty: at least one (mid, index) sample is needed",
            field="basis_samples",
            expected="at least one (mid, index) pair",
        )
    total = Fraction(0)
    last_index = Fraction(0)
    for sample in samples:
        mid, last_index = _sample(sample)
        total += mid - last_index
    average = total / len(samples)
    if clamp_ppm is None:
        return average
    clamp = _clamp(clamp_ppm)
    ref = last_index if reference_index is None else _price(reference_index, "reference_index")
    band = ref * clamp / PPM
    return min(band, max(-band, average))


def perpetual_mark(index: Price, basis_samples: Sequence[BasisSample], clamp_ppm: int | None = None) -> int:
    """``index + average basis`` in whole ticks (Binance's "price 2"; rule ``"index_basis"``).

    The average basis is :func:`basis_moving_average` of ``basis_samples``, clamped (when
    ``clamp_ppm`` is given) to ``+-clamp_ppm`` of *this* ``index``, so before rounding the mark is
    never further than the band from the index. Rounded by :func:`round_mark`.

    >>> samples = [(Fraction(120_021, 2), 60_000), (60_020, 60_005), (Fraction(119_999, 2), 60_003)]
    >>> perpetual_mark(60_006, samples), perpetual_mark(60_006, samples, clamp_ppm=100)
    (60013, 60012)
    """
    return round_mark(_perpetual_exact(index, basis_samples, clamp_ppm))


# funding basis (Binance "price 1", BitMEX perpetual fair price) ---------------------------------


def funding_basis_mark(index: Price, funding_rate_ppm: int, time_to_funding_us: int, interval_us: int) -> int:
    """``index x (1 + funding rate x time to funding / interval)`` in whole ticks.

    Binance's "price 1" and BitMEX's perpetual fair price (rule ``"funding_basis"``): the index plus
    the share of the last funding rate still to be paid, decaying to the index at the funding time.

    Args:
        index: the index in ticks (> 0).
        funding_rate_ppm: the last funding rate for one interval, ppm, in (-1000000, 1000000).
        time_to_funding_us: microseconds until the next funding, from 0 to ``interval_us``.
        interval_us: the funding interval in microseconds (8 hours: 28_800_000_000).

    >>> funding_basis_mark(60_000, 100, 6 * 3_600_000_000, 8 * 3_600_000_000)  # 60,004.5, to even
    60004
    """
    return round_mark(_funding_exact(index, funding_rate_ppm, time_to_funding_us, interval_us))


# dated futures (BitMEX / Gate fair price) -------------------------------------------------------


def implied_annual_basis_ppm(mid: Price, index: Price, time_to_expiry_us: int) -> Fraction:
    """The annualised basis rate the book implies, in ppm, exact: ``(mid / index - 1) / (T / year)``.

    ``mid`` is the (impact) mid price of the future in ticks, e.g. the mean of
    :func:`exchange_sim.funding.impact_prices` (BitMEX and Gate use the impact mid) or
    :func:`book_mid`; ``time_to_expiry_us`` must be positive. Gate's published example:

    >>> implied_annual_basis_ppm(10_050, 10_000, 30 * 86_400_000_000)  # 6.0833...%
    Fraction(182500, 3)
    """
    m = _price(mid, "mid")
    idx = _price(index, "index")
    t = _micros(time_to_expiry_us, "time_to_expiry_us")
    if t == 0:
        raise UnitError(
            "time_to_expiry_us is 0: no basis rate can be implied at expiry",
            field="time_to_expiry_us",
            expected="a positive integer number of microseconds",
            got=t,
        )
    return (m / idx - 1) * US_PER_YEAR * PPM / t


def future_fair_price(index: Price, annual_basis_rate_ppm: int | Fraction, time_to_expiry_us: int) -> int:
    """``index x (1 + annual basis rate x time to expiry / year)`` in whole ticks (rule ``"fair_price"``).

    The basis is simple (linear) interest on a 365-day year of microseconds, with no compounding,
    day count or calendar: the simplification the BitMEX and Gate pages make. It converges to the
    index at expiry (``time_to_expiry_us = 0``). The rate is ppm per year, an ``int`` or the exact
    ``Fraction`` :func:`implied_annual_basis_ppm` returns; any sign (a basis rate can exceed 100% a
    year on a short-dated future). Rounded by :func:`round_mark`.

    >>> future_fair_price(60_000, 50_000, 73 * 86_400_000_000)  # 5% a year for 0.2 years: +1%
    60600
    """
    return round_mark(_fair_exact(index, annual_basis_rate_ppm, time_to_expiry_us))


# median -------------------------------------------------------------------------------------------


def median_mark(*candidates: Price | None) -> int | None:
    """The median of the candidates that are not ``None``, in whole ticks; ``None`` if all are.

    Binance marks a perpetual at the median of price 1, price 2 and the contract price: with three
    inputs one manipulated value, however far away, cannot move the mark outside the other two.

    An even count (e.g. one of the three missing) takes the **mean of the two middle values**: it
    is symmetric (mirroring every candidate mirrors the mark, so neither longs nor shorts are
    favoured, where the lower median would always side with the lower price), and it still lies
    between the two middle candidates. The exact median is then rounded once by :func:`round_mark`.

    >>> median_mark(60_004, 60_013, 90_000), median_mark(60_004, None, 60_013), median_mark(None)
    (60013, 60008, None)
    """
    exact = _median_exact(candidates)
    return None if exact is None else round_mark(exact)


# configuration and dispatch -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkRule:
    """How one instrument's mark is computed: ``name`` (one of :data:`RULES`) and its parameters.

    ========================  ===============================  ========================================
    ``name``                  mark                             parameters
    ========================  ===============================  ========================================
    ``"index"``               the index, rounded               none (dYdX: the oracle price is the mark)
    ``"index_basis"``         :func:`perpetual_mark`           ``clamp_ppm`` (optional)
    ``"funding_basis"``       :func:`funding_basis_mark`       ``funding_interval_us`` (required)
    ``"fair_price"``          :func:`future_fair_price`        ``annual_basis_rate_ppm`` (optional:
                                                               ``None`` takes it from the inputs)
    ``"mid"``                 :func:`book_mid`, rounded        none
    ``"median"``              median of the funding basis,     ``funding_interval_us`` (required),
                              index basis and last trade       ``clamp_ppm`` (optional)
    ========================  ===============================  ========================================

    A parameter the rule does not use must be ``None``, so that a misplaced setting is an error
    rather than silently ignored. Errors are :class:`~exchange_sim.units.UnitError` with ``field``
    and ``expected`` set.
    """

    name: str
    clamp_ppm: int | None = None
    funding_interval_us: int | None = None
    annual_basis_rate_ppm: int | None = None

    def __post_init__(self) -> None:
        if self.name not in RULES:
            names = ", ".join(repr(r) for r in RULES)
            raise UnitError(
                f"mark rule name must be one of {names}, got {self.name!r}",
                field="name",
                expected=f"one of {names}",
            )
        uses = _PARAMETERS[self.name]
        for param in ("clamp_ppm", "funding_interval_us", "annual_basis_rate_ppm"):
            value = getattr(self, param)
            if value is not None and param not in uses:
                raise UnitError(
                    f"mark rule {self.name!r} takes no {param}, got {value!r}",
                    field=param,
                    expected=f"None (rule {self.name!r} does not use {param})",
                )
        if self.clamp_ppm is not None:
            _clamp(self.clamp_ppm)
        if "funding_interval_us" in uses:
            if self.funding_interval_us is None:
                raise UnitError(
                    f"mark rule {self.name!r} needs funding_interval_us",
                    field="funding_interval_us",
                    expected=f"{_INTERVAL_EXPECTED} (required by rule {self.name!r})",
                )
            _interval(self.funding_interval_us, "funding_interval_us")
        if self.annual_basis_rate_ppm is not None:
            _annual(self.annual_basis_rate_ppm, integer=True)


_PARAMETERS: Final = {
    "index": (),
    "index_basis": ("clamp_ppm",),
    "funding_basis": ("funding_interval_us",),
    "fair_price": ("annual_basis_rate_ppm",),
    "mid": (),
    "median": ("clamp_ppm", "funding_interval_us"),
}


@dataclass(frozen=True, slots=True)
class MarkInputs:
    """What the venue knows at one instant, for :func:`mark_price`. Only ``index`` is required.

    Attributes:
        index: the index (oracle) price in ticks.
        best_bid, best_ask: the top of the book in ticks, ``None`` for an empty side.
        basis_samples: ``(mid, index)`` samples over the averaging window, oldest first.
        last_price: the last trade in ticks (Binance's "contract price"), ``None`` before any trade.
        funding_rate_ppm: the last funding rate of the perpetual, ``None`` before the first funding.
        time_to_funding_us: microseconds until the next funding.
        time_to_expiry_us: microseconds until a dated future expires.
        annual_basis_rate_ppm: the fair basis rate a ``"fair_price"`` rule without its own rate
            uses, e.g. :func:`implied_annual_basis_ppm` sampled by the simulator.
    """

    index: Price
    best_bid: int | None = None
    best_ask: int | None = None
    basis_samples: tuple[BasisSample, ...] = ()
    last_price: int | None = None
    funding_rate_ppm: int | None = None
    time_to_funding_us: int | None = None
    time_to_expiry_us: int | None = None
    annual_basis_rate_ppm: int | Fraction | None = None

    def __post_init__(self) -> None:
        _price(self.index, "index")
        book_mid(self.best_bid, self.best_ask)
        if not isinstance(self.basis_samples, tuple):
            raise UnitError(
                "basis_samples must be a tuple of (mid, index) pairs, "
                f"got {type(self.basis_samples).__name__}",
                field="basis_samples",
                expected="a tuple of (mid, index) pairs in ticks",
            )
        for sample in self.basis_samples:
            _sample(sample)
        if self.last_price is not None:
            _ticks(self.last_price, "last_price")
        if self.funding_rate_ppm is not None:
            _rate(self.funding_rate_ppm)
        if self.time_to_funding_us is not None:
            _micros(self.time_to_funding_us, "time_to_funding_us")
        if self.time_to_expiry_us is not None:
            _micros(self.time_to_expiry_us, "time_to_expiry_us")
        if self.annual_basis_rate_ppm is not None:
            _annual(self.annual_basis_rate_ppm, integer=False)


def mark_price(rule: MarkRule, inputs: MarkInputs) -> int | None:
    """The mark in whole ticks by ``rule``, or ``None`` when the inputs the rule needs are missing.

    Missing means: an empty book side (``"mid"``), no basis samples (``"index_basis"``), no funding
    rate or time to funding (``"funding_basis"``), no basis rate or time to expiry (``"fair_price"``),
    or none of the three candidates (``"median"``, which otherwise ignores the missing ones). What to
    do then (keep the previous mark, fall back to the index) is the venue's choice.

    The median rule takes the exact median of price 1 (funding basis), price 2 (index basis, clamped
    by ``clamp_ppm``) and the last trade, and rounds once.

    >>> rule = MarkRule("median", funding_interval_us=8 * 3_600_000_000)
    >>> inputs = MarkInputs(60_000, basis_samples=((Fraction(120_015, 2), 60_000),), last_price=60_020,
    ...                     funding_rate_ppm=100, time_to_funding_us=6 * 3_600_000_000)
    >>> mark_price(rule, inputs)  # median(60,004.5, 60,007.5, 60,020) = 60,007.5, to even
    60008
    """
    if not isinstance(rule, MarkRule):
        raise UnitError(f"rule must be a MarkRule, got {type(rule).__name__}", field="rule")
    if not isinstance(inputs, MarkInputs):
        raise UnitError(f"inputs must be MarkInputs, got {type(inputs).__name__}", field="inputs")
    exact: Fraction | None
    if rule.name == "index":
        exact = Fraction(inputs.index)
    elif rule.name == "mid":
        exact = book_mid(inputs.best_bid, inputs.best_ask)
    elif rule.name == "index_basis":
        exact = _price_2(rule, inputs)
    elif rule.name == "funding_basis":
        exact = _price_1(rule, inputs)
    elif rule.name == "fair_price":
        rate = rule.annual_basis_rate_ppm
        if rate is None:
            rate = inputs.annual_basis_rate_ppm
        t = inputs.time_to_expiry_us
        exact = None if rate is None or t is None else _fair_exact(inputs.index, rate, t)
    else:  # median
        exact = _median_exact((_price_1(rule, inputs), _price_2(rule, inputs), inputs.last_price))
    return None if exact is None else round_mark(exact)


# exact cores -------------------------------------------------------------------------------------


def _perpetual_exact(index: Price, samples: Sequence[BasisSample], clamp_ppm: int | None) -> Fraction:
    idx = _price(index, "index")
    return idx + basis_moving_average(samples, clamp_ppm, reference_index=idx)


def _funding_exact(index: Price, rate_ppm: int, time_to_funding_us: int, interval_us: int) -> Fraction:
    idx = _price(index, "index")
    rate = _rate(rate_ppm)
    interval = _interval(interval_us, "interval_us")
    t = _micros(time_to_funding_us, "time_to_funding_us")
    if t > interval:
        raise UnitError(
            f"time_to_funding_us {t} is longer than the funding interval {interval}",
            field="time_to_funding_us",
            expected=f"an integer number of microseconds from 0 to the interval ({interval})",
            got=t,
        )
    return idx * (1 + Fraction(rate * t, PPM * interval))


def _fair_exact(index: Price, annual_ppm: int | Fraction, time_to_expiry_us: int) -> Fraction:
    idx = _price(index, "index")
    rate = _annual(annual_ppm, integer=False)
    t = _micros(time_to_expiry_us, "time_to_expiry_us")
    return idx * (1 + rate * t / (PPM * US_PER_YEAR))


def _median_exact(candidates: Sequence[Price | None]) -> Fraction | None:
    present = sorted(_price(c, "candidate") for c in candidates if c is not None)
    n = len(present)
    if n == 0:
        return None
    if n % 2:
        return present[n // 2]
    return (present[n // 2 - 1] + present[n // 2]) / 2


def _price_1(rule: MarkRule, inputs: MarkInputs) -> Fraction | None:
    if inputs.funding_rate_ppm is None or inputs.time_to_funding_us is None:
        return None
    assert rule.funding_interval_us is not None  # MarkRule requires it for the rules that get here
    return _funding_exact(
        inputs.index, inputs.funding_rate_ppm, inputs.time_to_funding_us, rule.funding_interval_us
    )


def _price_2(rule: MarkRule, inputs: MarkInputs) -> Fraction | None:
    if not inputs.basis_samples:
        return None
    return _perpetual_exact(inputs.index, inputs.basis_samples, rule.clamp_ppm)


# validation helpers ------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _price(value: object, field: str) -> Fraction:
    if not (_is_int(value) or isinstance(value, Fraction)):
        raise UnitError(
            f"{field} must be a price in ticks (int or Fraction), got {type(value).__name__} {value!r}",
            field=field,
            expected=_PRICE_EXPECTED,
        )
    if value <= 0:  # type: ignore[operator]
        raise UnitError(f"{field} must be positive, got {value}", field=field, expected=_PRICE_EXPECTED)
    return Fraction(value)  # type: ignore[arg-type]


def _ticks(value: object, field: str) -> int:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise UnitError(
            f"{field} must be {_TICKS_EXPECTED}, got {type(value).__name__} {value!r}",
            field=field,
            expected=_TICKS_EXPECTED,
        )
    return value  # type: ignore[return-value]


def _sample(sample: object) -> tuple[Fraction, Fraction]:
    if not isinstance(sample, tuple) or len(sample) != 2:
        raise UnitError(
            f"each basis sample must be a (mid, index) pair, got {sample!r}",
            field="basis_samples",
            expected="(mid, index) pairs of positive prices in ticks",
        )
    return _price(sample[0], "basis_samples"), _price(sample[1], "basis_samples")


def _clamp(value: object) -> int:
    if not _is_int(value) or not 0 <= value < PPM:  # type: ignore[operator]
        raise UnitError(
            f"clamp_ppm must be {_CLAMP_EXPECTED}, got {value!r}", field="clamp_ppm", expected=_CLAMP_EXPECTED
        )
    return value  # type: ignore[return-value]


def _rate(value: object) -> int:
    if not _is_int(value) or not -PPM < value < PPM:  # type: ignore[operator]
        raise UnitError(
            f"funding_rate_ppm must be {_RATE_EXPECTED}, got {value!r}",
            field="funding_rate_ppm",
            expected=_RATE_EXPECTED,
        )
    return value  # type: ignore[return-value]


def _annual(value: object, *, integer: bool) -> Fraction:
    if not (_is_int(value) or (not integer and isinstance(value, Fraction))):
        expected = "an integer annual basis rate in ppm" if integer else _ANNUAL_EXPECTED
        raise UnitError(
            f"annual_basis_rate_ppm must be {expected}, got {type(value).__name__} {value!r}",
            field="annual_basis_rate_ppm",
            expected=expected,
        )
    return Fraction(value)  # type: ignore[arg-type]


def _micros(value: object, field: str) -> int:
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise UnitError(f"{field} must be {_US_EXPECTED}, got {value!r}", field=field, expected=_US_EXPECTED)
    return value  # type: ignore[return-value]


def _interval(value: object, field: str) -> int:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise UnitError(
            f"{field} must be {_INTERVAL_EXPECTED}, got {value!r}",
            field=field,
            expected=_INTERVAL_EXPECTED,
        )
    return value  # type: ignore[return-value]
