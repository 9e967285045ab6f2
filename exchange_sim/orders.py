"""Order vocabulary: sides, order types, time in force, reason codes, and the order record.

Enums are :class:`~enum.IntEnum` so the journal stores them as small integers; their names are
what people read. Reason codes are append-only: a code's number never changes once released,
because journals store it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Side(IntEnum):
    """Buy is +1 and sell is -1, so ``side * size`` is the signed position change."""

    BUY = 1
    SELL = -1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1


class TimeInForce(IntEnum):
    """``GTC`` rests what does not fill; ``IOC`` cancels it (reason ``IOC_REMAINDER``)."""

    GTC = 0
    IOC = 1


class Reason(IntEnum):
    """Why an input was refused, or why an order ended without filling in full."""

    # --- rejections of an input: nothing changed -------------------------------------------
    UNKNOWN_ACCOUNT = 1
    UNKNOWN_INSTRUMENT = 2
    UNKNOWN_ASSET = 3
    INVALID_SIDE = 4
    INVALID_ORDER_TYPE = 5
    INVALID_TIME_IN_FORCE = 6
    INVALID_PRICE = 7
    """Price missing, not an integer number of ticks, or not positive."""
    PRICE_OFF_TICK = 8
    """A decimal price that is not a multiple of the tick size."""
    INVALID_SIZE = 9
    """Size not an integer number of lots, or not positive."""
    SIZE_OFF_LOT = 10
    """A decimal size that is not a multiple of the lot size."""
    BELOW_MIN_SIZE = 11
    MARKET_ORDER_HAS_PRICE = 12
    NO_REFERENCE_PRICE = 13
    """A market order needs a reference price for its protection band, and there is none yet."""
    INSTRUMENT_EXPIRED = 14
    UNKNOWN_ORDER = 15
    """Cancel of an order id that is not resting (never existed, filled, or already cancelled)."""
    NOT_ORDER_OWNER = 16
    STALE_TIMESTAMP = 17
    """``ts`` earlier than the venue's clock: simulated time never goes backwards."""
    INVALID_AMOUNT = 18
    INSUFFICIENT_BALANCE = 19
    DUPLICATE_ACCOUNT = 20
    INVALID_ACCOUNT_ID = 21
    REFERENCE_NOT_EXTERNAL = 22
    """A reference price was pushed to a venue that reads last-trade prices."""
    # --- why an accepted order ended with size left over ---------------------------------------
    CANCELLED = 40
    """Cancelled by its owner."""
    IOC_REMAINDER = 41
    """Immediate-or-cancel: the part that did not fill at once."""
    MARKET_BAND = 42
    """Market order: the part that would fill beyond the protection band."""
    MAKER_RISK_REFUSED = 43
    """The risk gate refused a fill against this resting order: the order was removed."""
    TAKER_RISK_REFUSED = 44
    """The risk gate refused a fill of this incoming order: matching stopped, the rest cancelled."""


@dataclass(slots=True, eq=False)
class Order:
    """A live order. Resting orders are linked into their price level (``prev``/``next``).

    ``remaining`` is the size still open in lots; ``size`` the size originally accepted.
    Equality is identity: two orders are never "equal" by value.
    """

    order_id: int
    account: str
    instrument: str
    side: Side
    price: int
    size: int
    remaining: int
    tif: TimeInForce
    ts: int
    prev: Order | None = field(default=None, repr=False)
    next: Order | None = field(default=None, repr=False)
