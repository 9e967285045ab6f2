"""Stateful property test: random order flow through the venue against a simple reference model.

The reference model is a plain list of resting orders, searched by sorting on price then arrival
(deliberately naive: nothing in it is shared with the venue's book or matching code).

Behaviours verified after every step (DESIGN.md invariants 1-3):
- the venue reports the same fills (maker, price, size), the same removals by the risk gate and
  the same resting orders as the model, so price-time priority holds;
- no fill is beyond the taker's limit price; the book is never crossed; every resting order is
  indexed and every level's size is the sum of its orders (``Venue._check``);
- money is conserved per asset and positions sum to zero per instrument (``Venue._check``), and
  each account's position equals the model's sum of its fills.

The gate refuses fills where "dave" rests or "erin" takes, so refusal paths are exercised too;
an order meeting its own account's resting order stops there (self-trade prevention's default).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from exchange_sim.matching import RefuseAccounts
from exchange_sim.orders import OrderType, Reason, Side, TimeInForce
from exchange_sim.units import PPM
from tests.conftest import btc_perp, eth_perp, make_venue

ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")
INSTRUMENTS = ("BTC-PERP", "ETH-PERP")
BAND = 20_000


@dataclass
class RefOrder:
    order_id: int
    account: str
    side: int
    price: int
    remaining: int


class ReferenceVenue:
    """Matching by brute force over a list, with the same refusal rules as the test gate."""

    def __init__(self) -> None:
        self.resting: dict[str, list[RefOrder]] = {s: [] for s in INSTRUMENTS}
        self.positions: dict[tuple[str, str], int] = {}
        self.last: dict[str, int] = {}

    def submit(
        self, symbol: str, order: RefOrder, tif: TimeInForce
    ) -> tuple[list[tuple[int, int, int]], list[int], bool]:
        fills: list[tuple[int, int, int]] = []
        removed: list[int] = []
        book = self.resting[symbol]
        while order.remaining:
            crossing = [
                o
                for o in book
                if o.side != order.side
                and (o.price <= order.price if order.side > 0 else o.price >= order.price)
            ]
            if not crossing:
                break
            maker = min(crossing, key=lambda o: (o.price * order.side, o.order_id))
            if maker.account == order.account:  # self-trade prevention (default: cancel the taker)
                return fills, removed, False
            if order.account == "erin":
                return fills, removed, False
            if maker.account == "dave":
                book.remove(maker)
                removed.append(maker.order_id)
                continue
            lots = min(maker.remaining, order.remaining)
            fills.append((maker.order_id, maker.price, lots))
            maker.remaining -= lots
            order.remaining -= lots
            for account, sign in ((order.account, order.side), (maker.account, -order.side)):
                self.positions[(account, symbol)] = self.positions.get((account, symbol), 0) + sign * lots
            self.last[symbol] = maker.price
            if not maker.remaining:
                book.remove(maker)
        if order.remaining and tif is TimeInForce.GTC:
            book.append(order)
            return fills, removed, True
        return fills, removed, False


class VenueMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.venue = make_venue(
            btc_perp(market_band_ppm=BAND),
            eth_perp(maker_fee_ppm=-200, taker_fee_ppm=700, market_band_ppm=BAND),
            accounts=ACCOUNTS,
            gate=RefuseAccounts(makers=frozenset({"dave"}), takers=frozenset({"erin"})),
        )
        self.model = ReferenceVenue()
        self.ts = 1

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    def compare(self, symbol: str, result, model_order: RefOrder | None, tif: TimeInForce, limit: int):
        fills, removed, rests = self.model.submit(symbol, model_order, tif)
        assert [(f.maker_order_id, f.price, f.lots) for f in result.fills] == fills
        assert [oid for oid, _ in result.removed_makers] == removed
        assert result.resting == rests
        for f in result.fills:
            assert (f.price <= limit) if model_order.side > 0 else (f.price >= limit)

    @rule(
        target=orders,
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        price=st.integers(95, 105),
        size=st.integers(1, 6),
        tif=st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC]),
    )
    def limit_order(self, account, symbol, side, price, size, tif):
        result = self.venue.submit(self.tick(), account, symbol, side, size, price, tif=tif)
        assert result.accepted
        model_order = RefOrder(result.order_id, account, int(side), price, size)
        self.compare(symbol, result, model_order, tif, price)
        return result.order_id

    @rule(
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        size=st.integers(1, 8),
    )
    def market_order(self, account, symbol, side, size):
        result = self.venue.submit(self.tick(), account, symbol, side, size, order_type=OrderType.MARKET)
        ref = self.model.last.get(symbol)
        if ref is None:
            assert not result.accepted and result.reason is Reason.NO_REFERENCE_PRICE
            return
        limit = ref * (PPM + BAND) // PPM if side is Side.BUY else -(-ref * (PPM - BAND) // PPM)
        model_order = RefOrder(result.order_id, account, int(side), limit, size)
        self.compare(symbol, result, model_order, TimeInForce.IOC, limit)
        assert not result.resting

    @rule(order_id=consumes(orders), owner_guess=st.sampled_from(ACCOUNTS))
    def cancel(self, order_id, owner_guess):
        resting = {o.order_id: (s, o) for s in INSTRUMENTS for o in self.model.resting[s]}
        result = self.venue.cancel(self.tick(), owner_guess, order_id)
        if order_id not in resting:
            assert not result.ok and result.reason is Reason.ORDER_CLOSED  # every id came from an order
            return
        symbol, order = resting[order_id]
        if order.account != owner_guess:
            assert not result.ok and result.reason is Reason.NOT_ORDER_OWNER
            return
        assert result.ok and result.value == order.remaining
        self.model.resting[symbol].remove(order)

    @invariant()
    def same_resting_orders_and_invariants(self):
        self.venue._check()
        for symbol in INSTRUMENTS:
            book = self.venue.books[symbol]
            got = sorted(
                (o.order_id, o.account, int(o.side), o.price, o.remaining) for o in book.orders.values()
            )
            want = sorted(
                (o.order_id, o.account, o.side, o.price, o.remaining) for o in self.model.resting[symbol]
            )
            assert got == want
            for account in ACCOUNTS:
                position = self.venue.account(account).positions.get(symbol)
                assert (position.size if position else 0) == self.model.positions.get((account, symbol), 0)


TestVenueStateful = VenueMachine.TestCase
