"""Dated futures at expiry: the settlement price, and what settling does.

A dated future stops trading at its expiry time (orders are refused with
``INSTRUMENT_EXPIRED``) and is then settled by :meth:`exchange_sim.venue.Venue.settle_expiry`
at a settlement price: every resting order ends, and every position is closed at that price,
each holder receiving ``size x price x atoms_per_tick_per_lot`` (a short pays). Because
positions net to zero, the amounts net to zero as well, so no money is created or lost; no fee
is charged.

The settlement price is, as venues publish it, an average of the underlying's index over a
window before expiry (Binance delivery contracts: the arithmetic mean of the index price over
the last 30 minutes before delivery; CME Bitcoin futures: the CME CF Bitcoin Reference Rate
at 4 p.m. London time on the last trading day). :func:`settlement_price` computes the
arithmetic mean of index samples exactly and rounds it to a tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from exchange_sim.units import UnitError


def settlement_price(samples: Sequence[int | Fraction]) -> int:
    """The arithmetic mean of index samples (ticks), rounded to the nearest tick, ties to even.

    A sample may be an exact :class:`~fractions.Fraction` of a tick: an index whose own tick is
    finer than the future's, converted exactly, so the mean is rounded once.

    Round half to even (Python's ``round`` on an exact :class:`~fractions.Fraction`) favours
    neither longs nor shorts over many settlements.

    >>> settlement_price([30_000, 30_001])                  # 30,000.5: the even neighbour
    30000
    >>> settlement_price([30_001, 30_002])                  # 30,001.5
    30002
    >>> settlement_price([29_990, 30_010, 30_020])          # 30,006.67
    30007
    >>> settlement_price([Fraction(60_001, 2), 30_000])     # 30,000.25
    30000
    """
    if not samples:
        raise UnitError(
            "a settlement price needs at least one index sample",
            field="samples",
            expected="one or more positive prices in ticks",
        )
    for sample in samples:
        if type(sample) not in (int, Fraction) or sample <= 0:
            raise UnitError(
                f"index samples must be positive ticks (int or Fraction), got {sample!r}",
                field="samples",
                expected="one or more positive prices in ticks",
            )
    return round(sum(samples, Fraction(0)) / len(samples))
