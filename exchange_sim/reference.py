"""Reference prices: the small protocol through which the venue reads "the price now".

Today the venue reads a reference price to bound market orders (the protection band). Two
sources exist: the last trade of each instrument, and an external source whose prices are pushed
in (for tests and scripted scenarios; journaled as inputs, so replay sees the same prices).
Index and mark prices will implement the same protocol.
"""

from __future__ import annotations

from typing import Protocol


class ReferencePrices(Protocol):
    def reference_price(self, instrument: str) -> int | None:
        """The instrument's reference price in ticks, or ``None`` if there is none yet."""
        ...


class LastTradePrices:
    """The price of each instrument's most recent fill."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def record(self, instrument: str, price: int) -> None:
        self.last[instrument] = price

    def reference_price(self, instrument: str) -> int | None:
        return self.last.get(instrument)


class SettablePrices:
    """Prices set from outside (``set``); the venue journals every change as an input."""

    __slots__ = ("prices",)

    def __init__(self) -> None:
        self.prices: dict[str, int] = {}

    def set(self, instrument: str, price: int) -> None:
        self.prices[instrument] = price

    def reference_price(self, instrument: str) -> int | None:
        return self.prices.get(instrument)
