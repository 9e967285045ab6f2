"""Stateful property test of the whole order vocabulary against a naive reference model.

Random flow of limit orders (GTC, IOC, FOK, post-only), market orders, stop-market and
stop-limit orders, reduce-only orders, client order ids, self-trade prevention modes (per order
and per account), cancels and amends (by id and by client id), on two perpetuals (one rejecting,
one repricing post-only orders) and a spot pair. The model re-implements every rule from
docs/orders.md with plain lists and sorting, sharing no code with the venue.

Behaviours verified after every step:
- the venue's answer (accepted or reason, fills, removed makers, resting, remaining) equals the
  model's;
- the same resting orders, in the same time priority, and the same untriggered stops;
- the same positions; no self-trade; reduce-only never increases or flips a position;
- ``Venue._check``: book, ledger (money conserved per asset, positions net to zero), client ids,
  stop books and the reduce-only limit;
- at the end, the journal replays to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from exchange_sim.events import Ev
from exchange_sim.journal import JournalWriter, iter_records
from exchange_sim.orders import OrderType, Reason, SelfTrade, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import PPM
from tests.conftest import btc_perp, btc_spot, eth_perp, make_venue

ACCOUNTS = ("alice", "bob", "carol")
SYMBOLS = ("BTC-PERP", "ETH-PERP", "BTC-USDC")
SPOT = "BTC-USDC"
REPRICE = "ETH-PERP"
BAND = 30_000
CIDS = st.one_of(st.none(), st.none(), st.sampled_from(["c0", "c1", "c2"]))
STPS = st.one_of(st.none(), st.sampled_from(list(SelfTrade)))
PRICES = st.integers(95, 105)
SIZES = st.integers(1, 6)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
REDUCE_ONLY = st.sampled_from([False, False, False, True])


@dataclass
class MOrder:
    oid: int
    account: str
    symbol: str
    side: int
    price: int
    remaining: int
    tif: TimeInForce
    stp: SelfTrade
    reduce_only: bool
    cid: str | None
    seq: int = 0


@dataclass
class MStop:
    order: MOrder
    kind: OrderType
    stop: int
    seq: int


@dataclass
class Outcome:
    accepted: bool
    reason: Reason | None = None
    fills: list[tuple[int, int, int]] | None = None
    removed: list[tuple[int, Reason]] | None = None
    resting: bool = False
    remaining: int = 0


def band_limit(ref: int, side: int) -> int:
    return ref * (PPM + BAND) // PPM if side > 0 else max(1, -(-(ref * (PPM - BAND)) // PPM))


class Model:
    """The rules of docs/orders.md, written as simply as possible."""

    def __init__(self) -> None:
        self.resting: dict[str, list[MOrder]] = {s: [] for s in SYMBOLS}
        self.stops: dict[str, list[MStop]] = {s: [] for s in SYMBOLS}
        self.pos: dict[tuple[str, str], int] = {}
        self.last: dict[str, int] = {}
        self.next_id = 1
        self.book_seq = dict.fromkeys(SYMBOLS, 0)
        self.stop_seq = dict.fromkeys(SYMBOLS, 0)
        self.stp_default: dict[str, SelfTrade] = {}
        self.cids: dict[tuple[str, str], MOrder] = {}
        self.tape: list[list[int]] = []
        """Every fill in order, as the journal records it: maker id, price, lots."""

    # ---- helpers
    def position(self, account: str, symbol: str) -> int:
        return self.pos.get((account, symbol), 0)

    def capacity(self, account: str, symbol: str, side: int) -> int:
        p = self.position(account, symbol)
        return abs(p) if p * side < 0 else 0

    def rest(self, order: MOrder) -> None:
        self.book_seq[order.symbol] += 1
        order.seq = self.book_seq[order.symbol]
        self.resting[order.symbol].append(order)

    def forget(self, order: MOrder) -> None:
        if order.cid is not None and self.cids.get((order.account, order.cid)) is order:
            del self.cids[(order.account, order.cid)]

    def drop(self, order: MOrder) -> None:
        self.resting[order.symbol].remove(order)
        self.forget(order)

    def crossing(self, order: MOrder) -> list[MOrder]:
        side = [o for o in self.resting[order.symbol] if o.side != order.side]
        cross = [o for o in side if (o.price <= order.price if order.side > 0 else o.price >= order.price)]
        return sorted(cross, key=lambda o: (o.price * order.side, o.seq))

    def enforce_reduce_only(self, account: str, symbol: str) -> None:
        p = self.position(account, symbol)
        capacity = abs(p)
        for o in sorted(
            (o for o in self.resting[symbol] if o.account == account and o.reduce_only), key=lambda o: o.seq
        ):
            keep = min(o.remaining, capacity) if p * o.side < 0 else 0
            capacity -= keep
            if keep == 0:
                self.drop(o)
            else:
                o.remaining = keep

    def fillable(self, order: MOrder) -> int:
        total = 0
        for m in self.crossing(order):
            if m.account == order.account:
                if order.stp is not SelfTrade.CANCEL_MAKER:
                    return total
                continue
            total += min(m.remaining, order.remaining - total)
            if total >= order.remaining:
                break
        return total

    # ---- execution of an accepted order as taker
    def execute(self, order: MOrder, is_market: bool, out: Outcome) -> None:
        spot = order.symbol == SPOT
        if order.reduce_only:
            cap = self.capacity(order.account, order.symbol, order.side)
            if cap == 0:
                return self.end(order, Reason.REDUCE_ONLY, out)
            order.remaining = min(order.remaining, cap)
        if order.tif is TimeInForce.FOK and self.fillable(order) < order.remaining:
            return self.end(order, Reason.FOK_UNFILLED, out)
        stopped = None
        while order.remaining:
            makers = self.crossing(order)
            if not makers:
                break
            m = makers[0]
            if m.account == order.account:
                if order.stp is not SelfTrade.CANCEL_TAKER:
                    self.drop(m)
                    out.removed.append((m.oid, Reason.SELF_TRADE))
                if order.stp is not SelfTrade.CANCEL_MAKER:
                    stopped = Reason.SELF_TRADE
                    break
                continue
            lots = min(m.remaining, order.remaining)
            out.fills.append((m.oid, m.price, lots))
            self.tape.append([m.oid, m.price, lots])
            m.remaining -= lots
            order.remaining -= lots
            self.last[order.symbol] = m.price
            if not spot:
                for account, sign in ((order.account, order.side), (m.account, -order.side)):
                    self.pos[(account, order.symbol)] = self.position(account, order.symbol) + sign * lots
            if not m.remaining:
                self.drop(m)
            if not spot:
                self.enforce_reduce_only(m.account, order.symbol)
                self.enforce_reduce_only(order.account, order.symbol)
        out.remaining = order.remaining
        if not order.remaining:
            self.forget(order)
            return None
        if stopped is not None:
            return self.end(order, stopped, out)
        if order.tif in (TimeInForce.GTC, TimeInForce.POST_ONLY) and not is_market:
            self.rest(order)
            out.resting = True
            if order.reduce_only:
                self.enforce_reduce_only(order.account, order.symbol)
            return None
        opposite = [o for o in self.resting[order.symbol] if o.side != order.side]
        return self.end(order, Reason.MARKET_BAND if is_market and opposite else Reason.IOC_REMAINDER, out)

    def end(self, order: MOrder, reason: Reason, out: Outcome) -> None:
        out.reason = reason
        out.remaining = order.remaining
        self.forget(order)

    def post_only(self, symbol: str, side: int, price: int) -> int | None:
        opposite = [o.price for o in self.resting[symbol] if o.side != side]
        if not opposite:
            return price
        best = min(opposite) if side > 0 else max(opposite)
        if (price < best) if side > 0 else (price > best):
            return price
        if symbol != REPRICE:
            return None
        return best - 1 if side > 0 else best + 1

    def release_stops(self) -> None:
        while True:
            found = None
            for symbol in SYMBOLS:
                last = self.last.get(symbol)
                if last is None:
                    continue
                buys = [s for s in self.stops[symbol] if s.order.side > 0 and last >= s.stop]
                sells = [s for s in self.stops[symbol] if s.order.side < 0 and last <= s.stop]
                if buys:
                    found = min(buys, key=lambda s: (s.stop, s.seq))
                elif sells:
                    found = min(sells, key=lambda s: (-s.stop, s.seq))
                if found is not None:
                    break
            if found is None:
                return
            self.stops[found.order.symbol].remove(found)
            order = found.order
            out = Outcome(True, fills=[], removed=[])
            if found.kind is OrderType.STOP_MARKET:
                order.price = band_limit(self.last[order.symbol], order.side)
                self.execute(order, True, out)
                continue
            if order.tif is TimeInForce.POST_ONLY:
                posted = self.post_only(order.symbol, order.side, order.price)
                if posted is None:
                    self.end(order, Reason.POST_ONLY_WOULD_TAKE, out)
                    continue
                order.price = posted
            self.execute(order, False, out)

    # ---- inputs
    def submit(self, account, symbol, side, size, price, otype, tif, stop, reduce_only, cid, stp) -> Outcome:
        is_market = otype in (OrderType.MARKET, OrderType.STOP_MARKET)
        if is_market and tif is TimeInForce.POST_ONLY:
            return Outcome(False, Reason.INVALID_TIME_IN_FORCE)
        if otype in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            last = self.last.get(symbol)
            if last is not None and (last >= stop if side > 0 else last <= stop):
                return Outcome(False, Reason.STOP_WOULD_TRIGGER)
        if reduce_only:
            if symbol == SPOT:
                return Outcome(False, Reason.REDUCE_ONLY_NOT_ALLOWED)
            if otype not in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and not self.capacity(
                account, symbol, side
            ):
                return Outcome(False, Reason.REDUCE_ONLY_WOULD_INCREASE)
        if cid is not None and (account, cid) in self.cids:
            return Outcome(False, Reason.DUPLICATE_CLIENT_ID)
        mode = stp if stp is not None else self.stp_default.get(account, SelfTrade.CANCEL_TAKER)
        if otype is OrderType.MARKET:
            if symbol not in self.last:
                return Outcome(False, Reason.NO_REFERENCE_PRICE)
            price = band_limit(self.last[symbol], side)
        if tif is TimeInForce.POST_ONLY and otype is OrderType.LIMIT:
            posted = self.post_only(symbol, side, price)
            if posted is None:
                return Outcome(False, Reason.POST_ONLY_WOULD_TAKE)
            price = posted
        order = MOrder(self.next_id, account, symbol, side, price or 0, size, tif, mode, reduce_only, cid)
        self.next_id += 1
        if cid is not None:
            self.cids[(account, cid)] = order
        out = Outcome(True, fills=[], removed=[], remaining=size)
        if otype in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            self.stop_seq[symbol] += 1
            self.stops[symbol].append(MStop(order, otype, stop, self.stop_seq[symbol]))
            return out
        self.execute(order, is_market, out)
        self.release_stops()
        return out

    def find(
        self, account: str, oid: int | None, cid: str | None
    ) -> tuple[MOrder | None, bool, Reason | None]:
        if cid is not None:
            order = self.cids.get((account, cid))
            if order is None:
                return None, False, Reason.UNKNOWN_ORDER
        else:
            order = next((o for s in SYMBOLS for o in self.resting[s] if o.oid == oid), None)
            if order is None:
                order = next((t.order for s in SYMBOLS for t in self.stops[s] if t.order.oid == oid), None)
            if order is None:
                return None, False, Reason.ORDER_CLOSED if 0 < oid < self.next_id else Reason.UNKNOWN_ORDER
            if order.account != account:
                return None, False, Reason.NOT_ORDER_OWNER
        is_stop = any(t.order is order for t in self.stops[order.symbol])
        return order, is_stop, None

    def cancel(self, account: str, oid: int | None, cid: str | None) -> Outcome:
        order, is_stop, reason = self.find(account, oid, cid)
        if reason is not None:
            return Outcome(False, reason)
        if is_stop:
            self.stops[order.symbol] = [t for t in self.stops[order.symbol] if t.order is not order]
            self.forget(order)
        else:
            self.drop(order)
        return Outcome(True, remaining=order.remaining)

    def amend(
        self, account: str, oid: int | None, cid: str | None, size: int | None, price: int | None
    ) -> Outcome:
        order, is_stop, reason = self.find(account, oid, cid)
        if reason is not None:
            return Outcome(False, reason)
        if is_stop:
            return Outcome(False, Reason.CANNOT_AMEND)
        if size is None and price is None:
            return Outcome(False, Reason.NOTHING_TO_AMEND)
        new_size = order.remaining if size is None else size
        new_price = order.price if price is None else price
        out = Outcome(True, fills=[], removed=[])
        if new_price == order.price and new_size <= order.remaining:
            order.remaining = new_size
            out.remaining, out.resting = new_size, True
            return out
        if order.tif is TimeInForce.POST_ONLY:
            posted = self.post_only(order.symbol, order.side, new_price)
            if posted is None:
                return Outcome(False, Reason.POST_ONLY_WOULD_TAKE)
            new_price = posted
        self.resting[order.symbol].remove(order)
        order.price, order.remaining = new_price, new_size
        self.execute(order, False, out)
        self.release_stops()
        return out


class VocabularyMachine(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.journal = JournalWriter()
        self.venue = make_venue(
            btc_perp(market_band_ppm=BAND),
            eth_perp(market_band_ppm=BAND, post_only_reprice=True, maker_fee_ppm=-200, taker_fee_ppm=700),
            btc_spot(market_band_ppm=BAND),
            accounts=ACCOUNTS,
            journal=self.journal,
        )
        for name in ACCOUNTS:
            self.venue.deposit(0, name, "BTC", "10")
        self.model = Model()
        self.ts = 1
        self.tape: list[list[int]] = []
        self.read_to = 0  # journal bytes already read into self.tape

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    @initialize(target=ids)
    def market_with_positions(self):
        """Quotes on every instrument, and trades that leave positions and a last price."""
        oid = 0
        for symbol in SYMBOLS:
            for price in (97, 98, 99):
                self.limit("alice", symbol, Side.BUY, 3, price, TimeInForce.GTC, False, None, None)
            for price in (101, 102, 103):
                oid = self.limit("alice", symbol, Side.SELL, 3, price, TimeInForce.GTC, False, None, None)
            self.limit("bob", symbol, Side.BUY, 4, 101, TimeInForce.GTC, False, None, None)
            self.limit("carol", symbol, Side.SELL, 2, 99, TimeInForce.GTC, False, None, None)
            if symbol != SPOT:  # bob (long 4) protects his position with two reduce-only sells
                self.limit("bob", symbol, Side.SELL, 2, 104, TimeInForce.GTC, True, None, None)
                self.limit("bob", symbol, Side.SELL, 2, 105, TimeInForce.GTC, True, None, None)
            # stops on both sides, so that one trade can trigger a burst
            for account, side, stop in (
                ("bob", Side.SELL, 97),
                ("carol", Side.SELL, 96),
                ("alice", Side.BUY, 104),
            ):
                self.stop(
                    account, symbol, side, 2, OrderType.STOP_MARKET, stop, 100, TimeInForce.GTC, False, None
                )
        return oid

    def compare(self, result, expected: Outcome) -> None:
        event(f"outcome: {expected.reason.name if expected.reason else 'ok'}")
        if expected.fills:
            event("filled")
        if expected.removed:
            event("removed makers")
        assert result.accepted == expected.accepted, (result, expected)
        assert result.reason == expected.reason, (result, expected)
        if not expected.accepted:
            return
        if expected.fills is not None:
            assert [(f.maker_order_id, f.price, f.lots) for f in result.fills] == expected.fills
            assert [(oid, r) for oid, r in result.removed_makers] == expected.removed
            assert result.resting == expected.resting
            for f in result.fills:
                assert f.maker_account != f.taker_account, "a self-trade printed"
        assert result.remaining == expected.remaining

    @rule(
        target=ids,
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        side=SIDES,
        size=SIZES,
        price=PRICES,
        tif=st.sampled_from(list(TimeInForce)),
        reduce_only=REDUCE_ONLY,
        cid=CIDS,
        stp=STPS,
    )
    def limit(self, account, symbol, side, size, price, tif, reduce_only, cid, stp):
        result = self.venue.submit(
            self.tick(),
            account,
            symbol,
            side,
            size,
            price,
            tif=tif,
            reduce_only=reduce_only,
            client_id=cid,
            stp=stp,
        )
        expected = self.model.submit(
            account, symbol, int(side), size, price, OrderType.LIMIT, tif, None, reduce_only, cid, stp
        )
        self.compare(result, expected)
        return result.order_id or 0

    @rule(
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        side=SIDES,
        size=SIZES,
        tif=st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
        stp=STPS,
    )
    def market(self, account, symbol, side, size, tif, stp):
        result = self.venue.submit(
            self.tick(), account, symbol, side, size, None, OrderType.MARKET, tif, stp=stp
        )
        expected = self.model.submit(
            account, symbol, int(side), size, None, OrderType.MARKET, tif, None, False, None, stp
        )
        self.compare(result, expected)

    @rule(
        target=ids,
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        side=SIDES,
        size=SIZES,
        kind=st.sampled_from([OrderType.STOP_MARKET, OrderType.STOP_LIMIT]),
        stop=PRICES,
        price=PRICES,
        tif=st.sampled_from(list(TimeInForce)),
        reduce_only=REDUCE_ONLY,
        cid=CIDS,
    )
    def stop(self, account, symbol, side, size, kind, stop, price, tif, reduce_only, cid):
        limit = price if kind is OrderType.STOP_LIMIT else None
        result = self.venue.submit(
            self.tick(),
            account,
            symbol,
            side,
            size,
            limit,
            kind,
            tif,
            stop_price=stop,
            reduce_only=reduce_only,
            client_id=cid,
        )
        expected = self.model.submit(
            account, symbol, int(side), size, limit, kind, tif, stop, reduce_only, cid, None
        )
        self.compare(result, expected)
        return result.order_id or 0

    @rule(oid=ids, account=st.sampled_from(ACCOUNTS))
    def cancel_by_id(self, oid, account):
        result = self.venue.cancel(self.tick(), account, oid)
        expected = self.model.cancel(account, oid, None)
        assert (result.ok, result.reason) == (expected.accepted, expected.reason)
        if result.ok:
            assert result.value == expected.remaining

    @rule(account=st.sampled_from(ACCOUNTS), cid=st.sampled_from(["c0", "c1", "c2"]))
    def cancel_by_client_id(self, account, cid):
        result = self.venue.cancel(self.tick(), account, client_id=cid)
        expected = self.model.cancel(account, None, cid)
        assert (result.ok, result.reason) == (expected.accepted, expected.reason)

    @rule(
        oid=ids,
        account=st.sampled_from(ACCOUNTS),
        size=st.one_of(st.none(), SIZES),
        price=st.one_of(st.none(), PRICES),
    )
    def amend_by_id(self, oid, account, size, price):
        result = self.venue.amend(self.tick(), account, oid, size=size, price=price)
        self.compare(result, self.model.amend(account, oid, None, size, price))

    @rule(
        account=st.sampled_from(ACCOUNTS),
        cid=st.sampled_from(["c0", "c1", "c2"]),
        size=st.one_of(st.none(), SIZES),
        price=st.one_of(st.none(), PRICES),
    )
    def amend_by_client_id(self, account, cid, size, price):
        result = self.venue.amend(self.tick(), account, client_id=cid, size=size, price=price)
        self.compare(result, self.model.amend(account, None, cid, size, price))

    @rule(account=st.sampled_from(ACCOUNTS), mode=st.sampled_from(list(SelfTrade)))
    def account_stp(self, account, mode):
        assert self.venue.set_self_trade_prevention(self.tick(), account, mode).ok
        self.model.stp_default[account] = mode

    @invariant()
    def same_state(self):
        self.venue._check()
        data = self.journal.getvalue()
        for _, record in iter_records(data[self.read_to :]):  # only what was written since last time
            if isinstance(record, list) and record[0] == Ev.FILL:
                self.tape.append(record[1:4])
        self.read_to = len(data)
        assert self.tape == self.model.tape, "fill tapes differ"
        if any(len(self.model.stops[s]) for s in SYMBOLS):
            event("stops waiting")
        if any(o.reduce_only for s in SYMBOLS for o in self.model.resting[s]):
            event("reduce-only resting")
        for symbol in SYMBOLS:
            book = self.venue.books[symbol]
            got = sorted(
                (int(o.side), o.price, o.seq, o.order_id, o.account, o.remaining)
                for o in book.orders.values()
            )
            want = sorted(
                (o.side, o.price, o.seq, o.oid, o.account, o.remaining) for o in self.model.resting[symbol]
            )
            assert got == want, symbol
            assert sorted(self.venue.stops[symbol].orders) == sorted(
                t.order.oid for t in self.model.stops[symbol]
            )
            for account in ACCOUNTS:
                assert self.venue.account(account).position(symbol).size == self.model.position(
                    account, symbol
                )

    def teardown(self):
        report = replay(self.journal.getvalue())
        assert report.ok, report.mismatch


TestVocabularyStateful = VocabularyMachine.TestCase
TestVocabularyStateful.settings = settings(
    settings.default, max_examples=max(settings.default.max_examples, 150)
)
