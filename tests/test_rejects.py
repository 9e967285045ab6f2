"""Bad input: every refusal carries a reason code and changes nothing but the journal.

Behaviours verified: unknown account/instrument/asset/order, price off tick, size off lot,
non-positive or non-integer sizes and prices, floats, below minimum size, market order with a
price, invalid side/type/tif, expired future, stale timestamp, cancel by a non-owner, duplicate
and invalid account ids, negative or sub-atom amounts, withdrawal beyond the balance, and a
reference price pushed to a last-trade venue. For each, the venue's full state is unchanged.
"""

from decimal import Decimal
from typing import Any

import pytest

from exchange_sim.instruments import Instrument
from exchange_sim.orders import OrderType, Reason, Side
from exchange_sim.venue import Venue
from tests.conftest import USDC, btc_perp, make_venue


def state(venue: Venue) -> Any:
    """Everything a rejection must leave alone."""
    return (
        {
            a.id: (dict(a.balances), {s: (p.size, p.cost) for s, p in a.positions.items()})
            for a in venue.ledger.by_index
        },
        {s: (b.depth(100), sorted(b.orders)) for s, b in venue.books.items()},
        venue.next_order_id,
        dict(venue.ledger.deposited),
        dict(venue.ledger.withdrawn),
    )


def fresh() -> Venue:
    future = Instrument.create(
        "BTC-FUT",
        kind="future",
        underlying="BTC",
        settlement=USDC,
        tick_size="0.5",
        lot_size="0.001",
        min_size="0.005",
        expiry_us=1_000,
    )
    venue = make_venue(btc_perp(), future)
    venue.submit(10, "alice", "BTC-PERP", Side.SELL, 5, 60_000)
    venue.submit(10, "bob", "BTC-FUT", Side.BUY, 5, 50_000)
    return venue


ORDER_CASES = [
    (dict(account="mallory"), Reason.UNKNOWN_ACCOUNT),
    (dict(account="@fees"), Reason.UNKNOWN_ACCOUNT),
    (dict(instrument="DOGE-PERP"), Reason.UNKNOWN_INSTRUMENT),
    (dict(price="30000.25"), Reason.PRICE_OFF_TICK),
    (dict(price="abc"), Reason.INVALID_PRICE),
    (dict(price=0), Reason.INVALID_PRICE),
    (dict(price=-5), Reason.INVALID_PRICE),
    (dict(price=30000.5), Reason.INVALID_PRICE),
    (dict(price=None), Reason.INVALID_PRICE),
    (dict(size="0.0015"), Reason.SIZE_OFF_LOT),
    (dict(size=0), Reason.INVALID_SIZE),
    (dict(size=-1), Reason.INVALID_SIZE),
    (dict(size=1.0), Reason.INVALID_SIZE),
    (dict(size=True), Reason.INVALID_SIZE),
    (dict(side=0), Reason.INVALID_SIDE),
    (dict(side="buy"), Reason.INVALID_SIDE),
    (dict(order_type=7), Reason.INVALID_ORDER_TYPE),
    (dict(tif=9), Reason.INVALID_TIME_IN_FORCE),
    (dict(order_type=OrderType.MARKET), Reason.MARKET_ORDER_HAS_PRICE),
    (dict(instrument="BTC-FUT", size=1), Reason.BELOW_MIN_SIZE),
    (dict(instrument="BTC-FUT", ts=1_000), Reason.INSTRUMENT_EXPIRED),
    (dict(ts=5), Reason.STALE_TIMESTAMP),
]


@pytest.mark.parametrize(("fields", "reason"), ORDER_CASES)
def test_order_rejections_change_nothing(fields: dict, reason: Reason) -> None:
    venue = fresh()
    before = state(venue)
    args: dict = dict(ts=20, account="bob", instrument="BTC-PERP", side=Side.BUY, size=10, price=60_000)
    args.update(fields)
    result = venue.submit(**args)
    assert not result.accepted and result.reason is reason
    assert result.fills == [] and result.order_id is None
    assert state(venue) == before
    venue._check()


def test_decimal_and_numpy_style_inputs_are_accepted() -> None:
    venue = fresh()
    result = venue.submit(20, "bob", "BTC-PERP", Side.BUY, Decimal("0.002"), Decimal("30000"))
    assert result.accepted and result.filled == 2


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda v: v.cancel(20, "bob", 999), Reason.UNKNOWN_ORDER),
        (lambda v: v.cancel(20, "bob", "1"), Reason.UNKNOWN_ORDER),
        (lambda v: v.cancel(20, "bob", 1), Reason.NOT_ORDER_OWNER),
        (lambda v: v.cancel(20, "zed", 1), Reason.UNKNOWN_ACCOUNT),
        (lambda v: v.cancel(5, "alice", 1), Reason.STALE_TIMESTAMP),
        (lambda v: v.open_account(20, "alice"), Reason.DUPLICATE_ACCOUNT),
        (lambda v: v.open_account(20, "@fees"), Reason.INVALID_ACCOUNT_ID),
        (lambda v: v.open_account(20, "a b"), Reason.INVALID_ACCOUNT_ID),
        (lambda v: v.open_account(20, 7), Reason.INVALID_ACCOUNT_ID),
        (lambda v: v.deposit(20, "zed", "USDC", 1), Reason.UNKNOWN_ACCOUNT),
        (lambda v: v.deposit(20, "bob", "EUR", 1), Reason.UNKNOWN_ASSET),
        (lambda v: v.deposit(20, "bob", "USDC", -1), Reason.INVALID_AMOUNT),
        (lambda v: v.deposit(20, "bob", "USDC", 0), Reason.INVALID_AMOUNT),
        (lambda v: v.deposit(20, "bob", "USDC", "0.0000001"), Reason.INVALID_AMOUNT),
        (lambda v: v.deposit(20, "bob", "USDC", 1.5), Reason.INVALID_AMOUNT),
        (lambda v: v.withdraw(20, "bob", "USDC", "1000001"), Reason.INSUFFICIENT_BALANCE),
        (lambda v: v.withdraw(20, "bob", "BTC", 1), Reason.INSUFFICIENT_BALANCE),
        (lambda v: v.set_reference_price(20, "BTC-PERP", 60_000), Reason.REFERENCE_NOT_EXTERNAL),
    ],
)
def test_other_rejections_change_nothing(call: Any, reason: Reason) -> None:
    venue = fresh()
    before = state(venue)
    result = call(venue)
    assert not result.ok and result.reason is reason
    assert state(venue) == before
    venue._check()


@pytest.mark.parametrize("ts", [1.5, "3", None, -1])
def test_non_integer_time_is_a_programming_error(ts: Any) -> None:
    venue = fresh()
    events = venue.journal.events if venue.journal else 0
    with pytest.raises(TypeError, match="integer microseconds"):
        venue.submit(ts, "bob", "BTC-PERP", Side.BUY, 1, 60_000)
    assert (venue.journal.events if venue.journal else 0) == events
