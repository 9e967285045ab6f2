"""Perpetual funding as pure, exact functions: impact prices, premium index, rate, payments.

Nothing here touches a venue, a ledger or a clock: each function takes numbers and returns numbers
(or a frozen record), so the venue can call them at a funding timestamp and tests can check them by
hand. See ``docs/funding.md`` for the worked example and the "who pays whom" table.

Formulas (as the venues publish them; every number is exact, no float is ever used)::

    impact bid / ask   = average fill price of a market sell / buy spending the impact notional
    premium index  P   = [max(0, impact bid - index) - max(0, index - impact ask)] / index
    average premium    = mean of the premium samples over the funding interval
    funding rate   F   = avg P + clamp(I - avg P, -clamp, +clamp), then limited to [-cap, +cap]
    funding amount     = position value at the mark x F        (positive F: longs pay shorts)

Sources read (no code was taken from them):

* Gate.io, *Funding rate history* (the premium index and the clamp formula, "If the funding rate is
  positive, longs pay shorts"): https://gate.io/futures/introduction/funding-rate-history
* BitMEX support, *Why is the Funding Rate for a contract higher or lower than I expect?* (the
  8-hour premium is "the arithmetic mean" of the minutely premium index; worked example ONDOUSDT,
  P = -0.00184, I = 0.01%, F = -0.00134):
  https://support.bitmex.com/hc/en-gb/articles/24430352016157-Why-is-the-Funding-Rate-for-a-contract-higher-or-lower-than-I-expect
* BitMEX, *Perpetual Contracts Guide Examples* (funding amount = mark value x funding rate,
  20 XBT x 0.25% = 0.05 XBT; "since he is long the trader pays and his counterparty who is short
  receives"): https://www.bitmex.com/app/perpetualContractsGuideExamples
* Binance Square, funding rate explainer (interest 0.01% per 8-hour interval; impact margin notional
  is the notional tradable with 200 USDT of margin): https://www.binance.com/en/square/post/588537
* Binance Square, YGGUSDT announcement (rate cap = clamp(rate, -k x maintenance margin rate,
  +k x maintenance margin rate)): https://www.binance.com/en/feed/post/924700
* Binance developer forum, *Re-produce Binance historical funding rate* (a user's reproduction
  weighting the i-th premium sample by i):
  https://dev.binance.vision/t/re-produce-binance-historical-funding-rate-on-minute-basis/22575

Units and numbers:

* prices (impact prices, index, mark) are in **ticks** of the instrument; impact prices and the
  index may be exact :class:`~fractions.Fraction` s of a tick;
* the premium index and the premium samples are exact **ratios** (:class:`~fractions.Fraction`,
  e.g. ``Fraction(5, 7999)``), never ppm: :func:`funding_rate` refuses a bare ``int`` sample so that
  a ppm number cannot be mistaken for a ratio;
* the interest rate, clamp, cap and the funding rate itself are integers in **ppm** (DESIGN.md);
  :func:`funding_rate_exact` gives the unrounded rate as a ratio;
* money is integer **atoms** of the settlement asset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from exchange_sim.units import PPM, UnitError, ceil_div

FUNDING_RESIDUE_ACCOUNT = "@funding"
"""System ledger account that receives the rounding residue of every funding settlement."""

Price = int | Fraction
"""A price in ticks: an integer, or an exact fraction of a tick (an average, an index)."""


class ImpactPrices(NamedTuple):
    """Impact bid and impact ask in ticks (exact), or ``None`` for a side too thin to fill."""

    bid: Fraction | None
    ask: Fraction | None


# impact prices ------------------------------------------------------------------------------


def impact_notional(margin_atoms: int, initial_margin_ppm: int) -> int:
    """The impact notional: what ``margin_atoms`` of margin buys at the initial margin rate (atoms).

    Binance's impact margin notional is the notional tradable with 200 USDT of margin at the
    maximum leverage, i.e. ``200 USDT / initial margin rate``. Rounded up, so the impact order is
    never smaller than the rule says.

    >>> impact_notional(200_000_000, 50_000)  # 200 USDC at 5% initial margin: 4,000 USDC
    4000000000
    """
    _require_int(margin_atoms, "margin_atoms", positive=True)
    _require_int(initial_margin_ppm, "initial_margin_ppm", positive=True)
    if initial_margin_ppm > PPM:
        raise UnitError(
            f"initial_margin_ppm must be at most {PPM}, got {initial_margin_ppm}",
            field="initial_margin_ppm",
            expected=f"an integer rate in ppm from 1 to {PPM}",
        )
    return ceil_div(margin_atoms * PPM, initial_margin_ppm)


def impact_prices(
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    notional: int,
    atoms_per_tick_per_lot: int,
) -> ImpactPrices:
    """Average fill prices (ticks) of a market sell and a market buy that each spend ``notional``.

    ``bids`` and ``asks`` are book depth as ``(price_ticks, lots)`` levels, best first (bids
    strictly descending, asks strictly ascending, the book not crossed). The order walks the levels
    from the best, taking each in full while its notional ``price x lots x atoms_per_tick_per_lot``
    fits, and the last one in part: the part is ``remaining / (price x atoms_per_tick_per_lot)``
    lots, possibly a fraction of a lot (an idealised order that spends exactly ``notional``). The
    impact price is ``notional / (atoms_per_tick_per_lot x lots filled)``, an exact fraction. A side
    whose whole depth is worth less than ``notional`` gives ``None``.

    Cost: O(len(bids) + len(asks)) (every level is validated).

    >>> impact_prices([(100, 2), (99, 5)], [(101, 1), (103, 4)], 299, 1)
    ImpactPrices(bid=Fraction(299, 3), ask=Fraction(30797, 301))
    """
    _require_int(notional, "notional", positive=True)
    _require_int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", positive=True)
    _check_levels(bids, "bids", descending=True)
    _check_levels(asks, "asks", descending=False)
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise UnitError(
            f"the book is crossed: best bid {bids[0][0]} >= best ask {asks[0][0]}",
            field="bids",
            expected="best bid < best ask",
        )
    return ImpactPrices(
        _walk(bids, notional, atoms_per_tick_per_lot), _walk(asks, notional, atoms_per_tick_per_lot)
    )


def _walk(levels: Sequence[tuple[int, int]], notional: int, apl: int) -> Fraction | None:
    remaining = notional
    lots = Fraction(0)
    for price, size in levels:
        value = price * size * apl
        if value >= remaining:
            lots += Fraction(remaining, price * apl)
            return Fraction(notional) / (lots * apl)
        remaining -= value
        lots += size
    return None


def _check_levels(levels: Sequence[tuple[int, int]], side: str, *, descending: bool) -> None:
    previous: int | None = None
    for level in levels:
        if not isinstance(level, tuple | list) or len(level) != 2:
            raise UnitError(
                f"{side}: each level must be a (price_ticks, lots) pair, got {level!r}", field=side
            )
        price, size = level
        _require_int(price, f"{side} price", positive=True, field=side)
        _require_int(size, f"{side} lots", positive=True, field=side)
        if previous is not None and (price >= previous if descending else price <= previous):
            order = "descending" if descending else "ascending"
            raise UnitError(
                f"{side}: prices must be strictly {order}, best first; got {price} after {previous}",
                field=side,
                expected=f"levels best first, prices strictly {order}",
            )
        previous = price


# premium index and funding rate ---------------------------------------------------------------


def premium_index(impact_bid: Price, impact_ask: Price, index: Price) -> Fraction:
    """``[max(0, impact bid - index) - max(0, index - impact ask)] / index``, an exact ratio.

    Positive when buyers would pay above the index (the perpetual trades at a premium), negative
    when sellers would sell below it (a discount), zero when the index lies between the two impact
    prices. All three prices are in the same unit (ticks), as ``int`` or exact ``Fraction``.
    A missing impact price (a book too thin, :func:`impact_prices` gave ``None``) is refused:
    whether to skip that sample or repeat the last one is the caller's rule.

    >>> premium_index(10_010, 10_020, 10_000)   # bid above index: +0.1%
    Fraction(1, 1000)
    >>> premium_index(9_980, 9_990, 10_000)     # ask below index: -0.1%
    Fraction(-1, 1000)
    >>> premium_index(9_990, 10_010, 10_000)    # index inside the spread
    Fraction(0, 1)
    """
    bid = _exact_price(impact_bid, "impact_bid")
    ask = _exact_price(impact_ask, "impact_ask")
    idx = _exact_price(index, "index")
    if bid > ask:
        raise UnitError(
            f"impact bid {bid} is above impact ask {ask}: no uncrossed book gives that",
            field="impact_bid",
            expected="impact_bid <= impact_ask",
        )
    return (max(Fraction(0), bid - idx) - max(Fraction(0), idx - ask)) / idx


def linear_weights(n: int) -> tuple[int, ...]:
    """Weights ``1, 2, ..., n`` for :func:`funding_rate`: later samples count more.

    This is the weighting a Binance user reproduces the published rate with (the forum thread in
    the module docstring); use it for a Binance-style average, or pass ``weights=None`` for the
    arithmetic mean BitMEX documents.

    >>> linear_weights(4)
    (1, 2, 3, 4)
    """
    _require_int(n, "n", positive=True)
    return tuple(range(1, n + 1))


def average_premium(premium_samples: Sequence[Fraction], weights: Sequence[int] | None = None) -> Fraction:
    """The (weighted) mean of premium samples, exact: ``sum(w_i x P_i) / sum(w_i)``.

    ``weights=None`` is the arithmetic mean (BitMEX: "the arithmetic mean of the ... index over the
    previous 8-hour window", sampled every minute, so equally spaced samples make it a time-weighted
    average too). Samples must be :class:`~fractions.Fraction` ratios (see the module docstring).

    >>> average_premium([Fraction(1, 1000), Fraction(3, 1000)])
    Fraction(1, 500)
    >>> average_premium([Fraction(1, 1000), Fraction(4, 1000)], weights=(1, 2))
    Fraction(3, 1000)
    """
    if isinstance(premium_samples, str | bytes) or not isinstance(premium_samples, Sequence):
        raise UnitError(
            f"premium_samples must be a sequence of Fractions, got {type(premium_samples).__name__}",
            field="premium_samples",
        )
    if not premium_samples:
        raise UnitError("premium_samples is empty: at least one sample is needed", field="premium_samples")
    for sample in premium_samples:
        if not isinstance(sample, Fraction):
            raise UnitError(
                f"each premium sample must be an exact ratio (fractions.Fraction), got "
                f"{type(sample).__name__} {sample!r}; a rate in ppm p is Fraction(p, 1000000)",
                field="premium_samples",
                expected="fractions.Fraction ratios, as premium_index returns",
            )
    if weights is None:
        return sum(premium_samples, Fraction(0)) / len(premium_samples)
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise UnitError(f"weights must be a sequence of ints, got {type(weights).__name__}", field="weights")
    if len(weights) != len(premium_samples):
        raise UnitError(
            f"{len(weights)} weights for {len(premium_samples)} premium samples",
            field="weights",
            expected="one positive integer weight per sample",
        )
    for w in weights:
        _require_int(w, "weight", positive=True, field="weights")
    total = sum(w * p for w, p in zip(weights, premium_samples, strict=True))
    return Fraction(total) / sum(weights)


def funding_rate_exact(
    premium_samples: Sequence[Fraction],
    interest_rate_ppm: int,
    clamp_ppm: int,
    cap_ppm: int,
    *,
    weights: Sequence[int] | None = None,
) -> Fraction:
    """The funding rate as an exact ratio, before rounding to ppm.

    ``F = avg P + clamp(I - avg P, -clamp, +clamp)``, then ``F`` is limited to ``[-cap, +cap]``.
    When ``I - avg P`` lies within the clamp, ``F = I`` exactly. Arguments as for
    :func:`funding_rate`.
    """
    interest = _require_rate(interest_rate_ppm, "interest_rate_ppm", signed=True)
    clamp = _require_rate(clamp_ppm, "clamp_ppm", signed=False)
    cap = _require_rate(cap_ppm, "cap_ppm", signed=False)
    p = average_premium(premium_samples, weights)
    i = Fraction(interest, PPM)
    c = Fraction(clamp, PPM)
    k = Fraction(cap, PPM)
    rate = p + min(c, max(-c, i - p))
    return min(k, max(-k, rate))


def funding_rate(
    premium_samples: Sequence[Fraction],
    interest_rate_ppm: int,
    clamp_ppm: int,
    cap_ppm: int,
    *,
    weights: Sequence[int] | None = None,
) -> int:
    """The funding rate for one interval, in ppm (an ``int``), rounded toward zero.

    Args:
        premium_samples: premium index samples over the interval, exact ratios
            (:func:`premium_index` values), oldest first.
        interest_rate_ppm: the interest component ``I`` per interval (Binance and BitMEX: 100 ppm,
            0.01% per 8 hours); any integer in (-1000000, 1000000).
        clamp_ppm: half-width of the clamp on ``I - avg P`` (500 ppm = 0.05% at both venues); >= 0.
        cap_ppm: the cap and floor of the rate (Binance: a multiple of the maintenance margin
            rate); >= 0, and the result is always in ``[-cap_ppm, cap_ppm]``.
        weights: ``None`` for the arithmetic mean of the samples (BitMEX), or one positive integer
            weight per sample (e.g. :func:`linear_weights` for Binance's increasing weights).

    Rounding: the exact rate (:func:`funding_rate_exact`) is truncated **toward zero** to a whole
    ppm, because (1) it is symmetric: mirroring the market (negating every sample and ``I``)
    negates the rate, so neither longs nor shorts are favoured; (2) the rounded rate is never larger
    in magnitude than the formula's, so no payer is charged a rate the formula does not give;
    (3) integer ppm results (``F = I``, ``F = +-cap``) pass through unchanged. The payment itself is
    then rounded against each payer in :func:`funding_payments`.

    >>> funding_rate([Fraction(0)], 100, 500, 3000)                 # calm market: F = I
    100
    >>> funding_rate([Fraction(-184, 100_000)], 100, 500, 7500)    # BitMEX ONDOUSDT: -0.134%
    -1340
    """
    exact = funding_rate_exact(premium_samples, interest_rate_ppm, clamp_ppm, cap_ppm, weights=weights)
    return math.trunc(exact * PPM)


# payments -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundingTransfer:
    """One account's funding: ``amount`` is the change in its settlement balance, in atoms.

    ``amount < 0``: the account pays ``-amount``; ``amount > 0``: it receives ``amount``.
    ``size`` is the signed position (lots) it was computed from.
    """

    account: str
    size: int
    amount: int


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """The outcome of :func:`funding_payments`.

    Attributes:
        rate_ppm, mark_price, atoms_per_tick_per_lot: the inputs the amounts were computed from.
        transfers: one :class:`FundingTransfer` per account whose balance changes (``amount != 0``),
            in the order the accounts were given.
        residue: atoms paid in but not paid out (>= 0); they go to ``residue_account``.
        residue_account: the named ledger account for the residue.

    ``sum(t.amount for t in transfers) + residue == 0`` exactly. One way to book it as double-entry
    transfers: every payer pays ``residue_account`` and ``residue_account`` pays every receiver;
    what stays there is ``residue``.
    """

    rate_ppm: int
    mark_price: int
    atoms_per_tick_per_lot: int
    transfers: tuple[FundingTransfer, ...]
    residue: int
    residue_account: str = FUNDING_RESIDUE_ACCOUNT

    @property
    def paid(self) -> int:
        """Atoms paid in by all payers."""
        return -sum(t.amount for t in self.transfers if t.amount < 0)

    @property
    def received(self) -> int:
        """Atoms paid out to all receivers."""
        return sum(t.amount for t in self.transfers if t.amount > 0)

    def _check(self) -> None:
        """Assert the invariants: money nets to zero, residue non-negative, payers pay by the sign."""
        assert self.paid - self.received == self.residue, "funding does not net to zero"
        assert self.residue >= 0, f"negative residue {self.residue}"
        for t in self.transfers:
            assert t.amount != 0 and t.size != 0, f"{t.account}: empty transfer listed"
            pays = (t.size > 0) == (self.rate_ppm > 0)
            assert (t.amount < 0) == pays, f"{t.account}: wrong direction"


def exact_payment(size: int, mark_price: int, rate_ppm: int, atoms_per_tick_per_lot: int) -> Fraction:
    """What a position of ``size`` lots owes at ``rate_ppm``, exactly, in atoms (negative: is owed).

    ``size x mark x atoms_per_tick_per_lot x rate / 1000000``: a long (size > 0) owes a positive
    amount when the rate is positive, a short is owed; a negative rate reverses both.

    >>> exact_payment(3, 60_020, 208, 500)
    Fraction(468156, 25)
    """
    return Fraction(size * mark_price * atoms_per_tick_per_lot * rate_ppm, PPM)


def funding_payments(
    positions: Mapping[str, int],
    mark_price: int,
    rate_ppm: int,
    atoms_per_tick_per_lot: int,
    *,
    residue_account: str = FUNDING_RESIDUE_ACCOUNT,
) -> FundingSettlement:
    """Each account's funding payment in atoms, netting to exactly zero with the residue.

    Args:
        positions: signed position size (lots) per account id, for **every** account holding the
            instrument (insurance fund and other system accounts included); they must sum to zero
            (DESIGN.md invariant 2), which is what makes the residue non-negative. Flat accounts
            (size 0) may be included and are skipped.
        mark_price: the mark price in ticks (> 0).
        rate_ppm: the funding rate in ppm (:func:`funding_rate`), in (-1000000, 1000000).
        atoms_per_tick_per_lot: the instrument's (> 0).
        residue_account: the ledger account named in the result for the residue.

    Who pays: with a positive rate (the perpetual trades above the index) **longs pay shorts**;
    with a negative rate shorts pay longs; with a zero rate nothing moves.

    Rounding (DESIGN.md): a payer's charge is its exact payment rounded **up**, a receiver's credit
    is rounded **down**, so nobody gains from rounding; each is within one atom of exact. The
    residue ``sum(charges) - sum(credits)`` is a whole number of atoms with
    ``0 <= residue < number of accounts with a non-zero position`` (each account contributes less
    than one atom of rounding); it goes to ``residue_account``, never lost.

    Order: transfers follow the iteration order of ``positions`` (deterministic for a ``dict``;
    pass the ledger's accounts in opening order, or sort first for a canonical order).
    Cost: O(len(positions)).

    >>> s = funding_payments({"alice": 3, "bob": -3}, 60_020, 208, 500)
    >>> [(t.account, t.amount) for t in s.transfers], s.residue
    ([('alice', -18727), ('bob', 18726)], 1)
    """
    _require_int(mark_price, "mark_price", positive=True)
    rate = _require_rate(rate_ppm, "rate_ppm", signed=True)
    _require_int(atoms_per_tick_per_lot, "atoms_per_tick_per_lot", positive=True)
    if not isinstance(residue_account, str) or not residue_account:
        raise UnitError(f"residue_account must be a non-empty string, got {residue_account!r}")
    if not isinstance(positions, Mapping):
        raise UnitError(
            f"positions must be a mapping of account id to signed lots, got {type(positions).__name__}",
            field="positions",
        )
    per_lot = mark_price * atoms_per_tick_per_lot * rate  # atoms x PPM owed by one long lot
    transfers: list[FundingTransfer] = []
    net = 0
    residue = 0
    for account, size in positions.items():
        if not isinstance(account, str) or not account:
            raise UnitError(f"account ids must be non-empty strings, got {account!r}", field="positions")
        _require_int(size, f"position size of {account!r}", field="positions")
        net += size
        owed = size * per_lot  # exact payment x PPM; > 0: pays, < 0: receives
        # a payer's charge rounds up; a receiver's credit rounds down (0 when flat or zero rate)
        amount = -ceil_div(owed, PPM) if owed > 0 else -owed // PPM
        if amount:
            transfers.append(FundingTransfer(account, size, amount))
            residue -= amount
    if net != 0:
        raise UnitError(
            f"positions sum to {net} lots, not 0: pass every account holding the instrument",
            field="positions",
            expected="signed sizes that net to zero across all accounts",
            got=net,
        )
    return FundingSettlement(
        rate_ppm=rate,
        mark_price=mark_price,
        atoms_per_tick_per_lot=atoms_per_tick_per_lot,
        transfers=tuple(transfers),
        residue=residue,
        residue_account=residue_account,
    )


# validation helpers --------------------------------------------------------------------------


def _require_int(value: object, what: str, *, positive: bool = False, field: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnitError(
            f"{what} must be an integer, got {type(value).__name__} {value!r}",
            field=field or what,
            expected="a positive integer" if positive else "an integer",
        )
    if positive and value <= 0:
        raise UnitError(
            f"{what} must be positive, got {value}", field=field or what, expected="a positive integer"
        )
    return value


def _require_rate(value: object, what: str, *, signed: bool) -> int:
    expected = (
        f"an integer rate in ppm strictly between -{PPM} and {PPM}"
        if signed
        else f"an integer rate in ppm from 0 to {PPM - 1}"
    )
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnitError(
            f"{what} must be {expected}, got {type(value).__name__} {value!r}", field=what, expected=expected
        )
    if not (-PPM < value < PPM if signed else 0 <= value < PPM):
        raise UnitError(f"{what} must be {expected}, got {value}", field=what, expected=expected)
    return value


def _exact_price(value: object, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise UnitError(
            f"{what} must be a price in ticks (int or Fraction), got {type(value).__name__} {value!r}",
            field=what,
            expected="a positive price in ticks, int or fractions.Fraction",
        )
    if value <= 0:
        raise UnitError(
            f"{what} must be positive, got {value}", field=what, expected="a positive price in ticks"
        )
    return Fraction(value)
