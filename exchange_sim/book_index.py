"""An index that follows another book of the same venue.

Real oracles read prices from markets, and a thin market feeding an oracle can be pushed: the
2022 Mango Markets exploit moved the thin MNGO spot markets that its oracle read, then borrowed
against the inflated collateral. To study this, an underlying's index can be taken from a book
in the simulation (typically a spot pair agents trade) instead of a generated path.

:class:`BookIndex` names the book and what to read: ``"mid"`` (the midpoint of the best bid and
ask; ``None`` while a side is empty) or ``"last"`` (the last trade; ``None`` before the first).
:func:`book_index` reads it from a venue and converts it to the index's own ticks
(:func:`exchange_sim.prices.round_to_ticks`: half to even, at least one tick), since the book's
tick size may differ. It reads a snapshot; it changes nothing and is O(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from exchange_sim.prices import round_to_ticks
from exchange_sim.units import UnitError

if TYPE_CHECKING:
    from exchange_sim.venue import Venue

SOURCES = ("mid", "last")


@dataclass(frozen=True, slots=True)
class BookIndex:
    """Follow ``instrument``'s book: its ``source`` price (``"mid"`` or ``"last"``)."""

    instrument: str
    source: str = "mid"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise UnitError(
                f"a book index reads the mid or the last trade, got {self.source!r}",
                field="source",
                expected='"mid" or "last"',
            )


def book_index(venue: Venue, follow: BookIndex, tick_size: Fraction) -> int | None:
    """The index in ticks of ``tick_size`` (settlement units per tick), read from the venue now.

    ``None`` when the book has no such price yet. KeyError for an unlisted instrument.
    """
    inst = venue.instruments[follow.instrument]
    if follow.source == "mid":
        bid, _, ask, _ = venue.top(follow.instrument)
        if bid is None or ask is None:
            return None
        price = Fraction(bid + ask, 2) * inst.tick_size
    else:
        last = venue.last_trade.last.get(follow.instrument)
        if last is None:
            return None
        price = last * inst.tick_size
    return round_to_ticks(price, Fraction(tick_size))
