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
    """``STOP_MARKET`` and ``STOP_LIMIT`` wait untriggered until the reference price reaches
    their stop price, then enter the book as a market or limit order."""

    LIMIT = 0
    MARKET = 1
    STOP_MARKET = 2
    STOP_LIMIT = 3


class TimeInForce(IntEnum):
    """What happens to the part of an order that does not fill at once.

    ``GTC`` rests it. ``IOC`` cancels it (``IOC_REMAINDER``). ``FOK`` fills in full at once or
    not at all (``FOK_UNFILLED``), and never rests. ``POST_ONLY`` only ever rests: an order that
    would take liquidity is rejected (``POST_ONLY_WOULD_TAKE``), or repriced one tick inside the
    opposite best price on instruments configured with ``post_only_reprice``.
    """

    GTC = 0
    IOC = 1
    FOK = 2
    POST_ONLY = 3


class SelfTrade(IntEnum):
    """Self-trade prevention: what happens when an order would fill against its own account.

    The *incoming* order's mode decides (set per order, else the account's default, else the
    venue's). No mode lets a self-trade print.
    """

    CANCEL_TAKER = 1
    """The incoming order stops; its rest is cancelled. The resting order stays."""
    CANCEL_MAKER = 2
    """The resting order is cancelled; the incoming order goes on matching."""
    CANCEL_BOTH = 3
    """Both are cancelled."""


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
    POST_ONLY_WOULD_TAKE = 23
    """A post-only order (or amend) would have taken liquidity."""
    INVALID_CLIENT_ID = 24
    """A client order id must be a string of 1 to 36 printable ASCII characters."""
    DUPLICATE_CLIENT_ID = 25
    """The account already has an open order with this client order id."""
    ORDER_CLOSED = 26
    """Cancel or amend of an order that has already filled or been cancelled."""
    INVALID_STOP_PRICE = 27
    """A stop order needs a positive stop price on the tick grid; other orders take none."""
    STOP_WOULD_TRIGGER = 28
    """A stop order whose stop the reference price has already reached."""
    REDUCE_ONLY_WOULD_INCREASE = 29
    """A reduce-only order with no position to reduce, or on the side that would increase it."""
    REDUCE_ONLY_NOT_ALLOWED = 30
    """Reduce-only on an instrument without positions (a spot pair)."""
    NOTHING_TO_AMEND = 31
    """An amend with neither a new size nor a new price."""
    CANNOT_AMEND = 32
    """Only resting limit orders can be amended (not untriggered stops)."""
    INVALID_SELF_TRADE_MODE = 33
    ORDER_ID_AND_CLIENT_ID = 34
    """Name an order by its id or by its client order id, not both (nor neither)."""
    INVALID_TRIGGER = 35
    INVALID_REDUCE_ONLY = 36
    """``reduce_only`` must be True or False."""
    MARGIN_NOT_CONFIGURED = 37
    """An index price for collateral on a venue without margin rules."""
    WITHDRAWAL_BREACHES_MARGIN = 38
    """The withdrawal would leave the account below initial margin (see ``docs/margin.md``)."""
    INSUFFICIENT_MARGIN = 39
    """The placement policy (``MarginConfig.placement``, ``docs/margin.md``) refused the order:
    ``"check"``: filled in full at its limit price it would leave the account below initial
    margin without reducing its risk; ``"reserve"``: the margin it would reserve is not free. A
    margin transfer the main account cannot afford is refused with it too."""
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
    FOK_UNFILLED = 45
    """Fill-or-kill: the book could not fill the whole order at once, so none of it filled."""
    SELF_TRADE = 46
    """Self-trade prevention cancelled this order (or its rest)."""
    REDUCE_ONLY = 47
    """Reduce-only: the part that would have opened or flipped a position was cancelled."""
    LIQUIDATION = 48
    """Cancelled by the liquidation engine (its account fell below maintenance), or the part of
    a liquidation order the book did not fill."""
    # --- more rejections (codes are stable, so new ones continue here) -------------------------
    INVALID_MARGIN_MODE = 60
    """A margin mode must be ``"cross"``, ``"isolated"`` or (with portfolio rules) ``"portfolio"``,
    on a venue with margin rules."""
    NOT_ISOLATED = 61
    """A margin transfer for an account in cross mode, or for an instrument without isolated
    positions (a spot pair, or a contract not settled in the margin asset)."""
    INVALID_LEGS = 62
    """A multi-leg order needs 1 to ``MAX_LEGS`` legs, each ``(instrument, side, size, price)``."""
    DUPLICATE_LEG = 63
    """A multi-leg order names the same instrument in two legs."""
    LEGS_UNFILLED = 64
    """A multi-leg order whose legs could not all fill in full at once: nothing filled."""
    NOT_A_FUTURE = 65
    """Expiry settlement of an instrument that is not a dated future."""
    NOT_EXPIRED = 66
    """Expiry settlement before the future's expiry time."""
    ALREADY_SETTLED = 67
    """The future has been settled already."""
    NOT_A_PERPETUAL = 68
    """Funding applies to perpetuals only."""
    INVALID_RATE = 69
    """A funding rate must be an integer number of ppm strictly between -1000000 and 1000000."""
    NO_MARK_PRICE = 70
    """The instrument has no mark price (nor a last trade) to value positions at."""
    PRICE_BAND_EXCEEDED = 71
    """The limit price lies beyond the instrument's price band around the mark (circuit breaker)."""
    INSTRUMENT_HALTED = 72
    """The instrument is halted after a fast mark move (volatility halt): no orders or amends."""
    WITHDRAWALS_GATED = 73
    """Withdrawals are paused while an account has negative equity (liquidation rule
    ``gate_withdrawals``, as dYdX does)."""
    NOT_A_SYSTEM_ACCOUNT = 74
    """Only the insurance fund (``@insurance``) and the backstop vault (``@backstop``) of a venue
    with liquidation rules take system deposits."""
    INVALID_MARGIN_RATES = 75
    """A ``MARGIN_RATES`` input must give integer scales from 1 to 100,000,000 ppm for underlyings
    of margined contracts, and a covariance only for portfolio rules that use VaR (a finite
    symmetric matrix, one row per underlying of the rules)."""


REDUCE_ONLY_FLAG = 1
"""``Order.flags`` bit: the order may only reduce its account's position."""


@dataclass(slots=True, eq=False)
class Order:
    """A live order. Resting orders are linked into their price level (``prev``/``next``).

    ``remaining`` is the size still open in lots; ``size`` the size originally accepted.
    ``seq`` orders time priority within a price level: it is assigned when the order (re)enters
    the book, so an amend that loses priority gets a new one. ``stp`` is the resolved
    :class:`SelfTrade` mode; ``flags`` holds :data:`REDUCE_ONLY_FLAG`.
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
    seq: int = 0
    stp: SelfTrade = SelfTrade.CANCEL_TAKER
    flags: int = 0
    client_id: str | None = None
    prev: Order | None = field(default=None, repr=False)
    next: Order | None = field(default=None, repr=False)

    @property
    def reduce_only(self) -> bool:
        return bool(self.flags & REDUCE_ONLY_FLAG)
