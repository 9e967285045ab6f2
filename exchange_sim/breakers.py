"""Circuit breakers: a price band around the mark, and a volatility halt.

Two mechanisms venues use to contain cascades, configured per instrument
(:class:`Breaker`, in ``VenueConfig.breakers``):

* **Price band.** An order whose limit price lies more than ``band_ppm`` beyond the mark on the
  side that would take (a buy above ``mark x (1 + band)``, a sell below ``mark x (1 - band)``)
  is refused with ``PRICE_BAND_EXCEEDED``. Binance's USDⓈ-M futures apply such a limit ("the
  price of a buy limit order cannot be higher than mark price x (1 + X%)", the "price protection"
  or percent-price filter of its exchange information); CME's dynamic price fluctuation limits
  play the same part. Without a mark the band does not apply.
* **Volatility halt.** When a new mark differs from any mark set within the last ``window_us``
  by more than ``halt_move_ppm`` of that earlier mark, the instrument halts for ``halt_us``:
  new orders and amends are refused with ``INSTRUMENT_HALTED`` (cancels are allowed), and the
  halt is journaled (``HALTED``). This is the shape of CME's velocity logic and of equity
  venues' limit-up-limit-down pauses: a move too fast within a window stops matching for a
  fixed time.

The bounds are exact: ``mark x (PPM + band_ppm) / PPM`` compared with the price in integer
arithmetic (no rounding: a price exactly at the bound is inside).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from exchange_sim.orders import Side
from exchange_sim.units import PPM, UnitError


@dataclass(frozen=True, slots=True)
class Breaker:
    """One instrument's breakers; a zero parameter switches its mechanism off.

    Attributes:
        instrument: the instrument's symbol.
        band_ppm: how far beyond the mark (ppm of the mark) a limit price may be; 0: no band.
        halt_move_ppm: mark move (ppm of the earlier mark) within ``window_us`` that halts
            trading; 0: no halt.
        window_us: how far back the halt compares marks (microseconds).
        halt_us: how long a halt lasts (microseconds).
    """

    instrument: str
    band_ppm: int = 0
    halt_move_ppm: int = 0
    window_us: int = 0
    halt_us: int = 0

    def __post_init__(self) -> None:
        for name in ("band_ppm", "halt_move_ppm", "window_us", "halt_us"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UnitError(
                    f"{self.instrument}: {name} must be a non-negative integer, got {value!r}",
                    field=name,
                    expected="a non-negative integer",
                )
        if self.band_ppm >= PPM:
            raise UnitError(
                f"{self.instrument}: band_ppm must be below 1000000, got {self.band_ppm}",
                field="band_ppm",
                expected="an integer from 0 to 999999 (ppm of the mark)",
            )
        if self.halt_move_ppm and not (self.window_us and self.halt_us):
            raise UnitError(
                f"{self.instrument}: a volatility halt needs a positive window_us and halt_us",
                field="window_us" if not self.window_us else "halt_us",
                expected="a positive number of microseconds when halt_move_ppm is set",
            )

    def to_config(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "band_ppm": self.band_ppm,
            "halt_move_ppm": self.halt_move_ppm,
            "window_us": self.window_us,
            "halt_us": self.halt_us,
        }

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> Breaker:
        try:
            return cls(**data)
        except TypeError as exc:
            raise UnitError(f"breaker configuration is malformed: {exc}", field="breakers") from None


def outside_band(price: int, side: Side, mark: int, band_ppm: int) -> bool:
    """Whether a limit ``price`` lies beyond the band around ``mark`` on the taking side.

    >>> outside_band(10_500, Side.BUY, 10_000, 50_000), outside_band(10_501, Side.BUY, 10_000, 50_000)
    (False, True)
    >>> outside_band(9_500, Side.SELL, 10_000, 50_000), outside_band(9_499, Side.SELL, 10_000, 50_000)
    (False, True)
    """
    if side is Side.BUY:
        return price * PPM > mark * (PPM + band_ppm)
    return price * PPM < mark * (PPM - band_ppm)


class MarkWindow:
    """The marks of one instrument over the last ``window_us``, to detect fast moves.

    The mark is a step function of time: the mark *in force* at the start of the window (the
    last one set at or before ``ts - window_us``) counts, as do all marks set since. So a feed
    that sets a mark only when it changes is judged exactly as one that repeats it every second.

    A move is too far when ``|mark - earlier| x 1000000 > earlier x move_ppm`` for some earlier
    mark of the window. Upward, that holds for some earlier mark exactly when it holds for the
    lowest one (``mark x 1000000 > earlier x (1000000 + move_ppm)`` is easiest to meet for the
    smallest ``earlier``); downward, exactly when it holds for the highest one
    (``earlier x (1000000 - move_ppm) > mark x 1000000``). So besides the marks in time order
    (for eviction), the window keeps only the candidates for its minimum and maximum in two
    monotonic deques (the sliding-window minimum), and each mark costs O(1) amortised instead
    of a scan of the window.
    """

    __slots__ = ("highs", "lows", "marks", "window_us")

    def __init__(self, window_us: int) -> None:
        self.window_us = window_us
        self.marks: deque[tuple[int, int]] = deque()  # in time order; marks[0] is in force at the start
        self.lows: deque[tuple[int, int]] = deque()  # marks increasing: lows[0] is the minimum
        self.highs: deque[tuple[int, int]] = deque()  # marks decreasing: highs[0] is the maximum

    def moved_too_far(self, ts: int, mark: int, move_ppm: int) -> bool:
        """Record ``mark`` at ``ts``; whether it differs by more than ``move_ppm`` from a mark in
        force at some time within the last ``window_us``.

        >>> w = MarkWindow(1_000)
        >>> w.moved_too_far(0, 10_000, 50_000), w.moved_too_far(500, 10_400, 50_000)
        (False, False)
        >>> w.moved_too_far(900, 10_501, 50_000)   # 5.01% above the mark at 0
        True
        >>> w.moved_too_far(2_000, 11_000, 50_000)  # in force at 1,000: 10,501 (+4.75%)
        False
        >>> w.moved_too_far(9_000, 11_551, 50_000)  # 11,000 set at 2,000 is still in force
        True
        """
        oldest = ts - self.window_us
        marks, lows, highs = self.marks, self.lows, self.highs
        while len(marks) > 1 and marks[1][0] <= oldest:  # marks[0] was replaced before the window
            marks.popleft()
        if marks:
            first = marks[0][0]
            while lows[0][0] < first:
                lows.popleft()
            while highs[0][0] < first:
                highs.popleft()
        moved = bool(marks) and (
            (mark - lows[0][1]) * PPM > lows[0][1] * move_ppm
            or (highs[0][1] - mark) * PPM > highs[0][1] * move_ppm
        )
        marks.append((ts, mark))
        while lows and lows[-1][1] >= mark:
            lows.pop()
        lows.append((ts, mark))
        while highs and highs[-1][1] <= mark:
            highs.pop()
        highs.append((ts, mark))
        return moved
