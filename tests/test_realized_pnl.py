"""Realised and unrealised PnL on reduce, flip and close, checked by hand (docs/margin.md,
"Realised and unrealised PnL").

Setup of every example: BTC-PERP, tick 1 USDC, lot 0.001 BTC, so one tick on one lot is
``APT = 1,000`` USDC atoms (USDC has 6 decimals, ``U = 1,000,000`` atoms) and a price in ticks
reads as a price in USDC. One margin bracket (maintenance 5%, initial 10%), which no example comes
near. alice and bob each deposit 100,000 USDC. In every trade bob's order rests (maker) and
alice's takes it (taker). Fees: either none, or maker 200 ppm (0.02%) and taker 500 ppm (0.05%),
charged on the notional and rounded up (every fee below is exact, so nothing rounds).

The rules checked (exchange_sim/accounts.py, ``position_after``; exchange_sim/ledger.py,
``settle_trade``):

- cash-flow accounting: a fill moves its whole quote amount ``lots x price x APT`` between the
  balances, and each fee from the payer's balance to ``@fees``; nothing else moves money;
- a position keeps ``size`` (lots), ``cost`` (signed atoms paid for the open size) and
  ``realized`` (a view: no money moves when it changes); entry price = cost / (size x APT);
- reducing by ``k`` of ``|size|`` lots removes ``cost x k / |size|`` (truncated toward zero)
  from the cost basis and realises (quote received - cost removed); the entry price of what is
  left does not change (average cost); a fill through zero closes at the fill price and opens
  the rest at the fill price;
- fees are not part of realised PnL: they are separate balance movements to ``@fees``, so a flat
  account's balance - deposits = realised - fees paid;
- equity at mark m = balance + size x m x APT = deposits + realised + unrealised - fees, where
  unrealised = size x m x APT - cost;
- the counterparty mirrors: bob's size, cost and realised are exactly alice's negated (truncation
  toward zero is symmetric), positions net to zero, and alice + bob + @fees = 200,000 USDC.

Behaviours verified, one test each: (1) a long reduced at a profit, with fees, and
``explain()``'s entry price and unrealised PnL; (2) a long reduced at a loss, no fees, with
``explain()``; (3) a flip from long to short in one fill, with fees and ``explain()``; (4) a
position's whole life (two entries, two exits, fees), realised = received - paid exactly;
(5) two entries at different prices and a partial close whose cost share truncates, with
``explain()``; Bybit's published average-entry-price example; and, as a property over random
fills, the identities behind all of this.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.accounts import position_after
from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.explain import explain
from exchange_sim.orders import Side
from exchange_sim.results import Fill
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
P = "BTC-PERP"
U = 1_000_000
"""Atoms per USDC."""
APT = 1_000
"""Atoms per tick per lot: 1 USDC x 0.001 BTC = 0.001 USDC."""
DEPOSIT = 100_000 * U
BUY, SELL = Side.BUY, Side.SELL


def venue(maker_ppm: int = 0, taker_ppm: int = 0) -> Venue:
    """BTC-PERP with the given fee rates, on a cross-margin venue; alice and bob hold 100,000 USDC."""
    perp = Instrument.create(
        P,
        kind="perpetual",
        underlying="BTC",
        settlement=USDC,
        tick_size="1",
        lot_size="0.001",
        maker_fee_ppm=maker_ppm,
        taker_fee_ppm=taker_ppm,
    )
    assert perp.atoms_per_tick_per_lot == APT
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    v = Venue(VenueConfig((USDC,), (perp,), margin=margin))
    for name in ("alice", "bob"):
        assert v.open_account(0, name).ok
        assert v.deposit(0, name, "USDC", "100000").ok
    return v


def trade(v: Venue, ts: int, alice_side: Side, lots: int, price: int) -> Fill:
    """bob rests the opposite order, alice takes it: one fill of ``lots`` at ``price``."""
    bob_side = SELL if alice_side is BUY else BUY
    v.set_mark_price(ts, P, price)
    assert v.submit(ts, "bob", P, bob_side, lots, price).resting
    result = v.submit(ts, "alice", P, alice_side, lots, price)
    (fill,) = result.fills
    assert (fill.taker_account, fill.maker_account, fill.lots, fill.price) == ("alice", "bob", lots, price)
    return fill


def state(v: Venue, account: str) -> tuple[int, int, int, int]:
    """(balance, size, cost, realized) of ``account``: USDC atoms, lots, atoms, atoms."""
    a = v.account(account)
    p = a.position(P)
    return a.balance("USDC"), p.size, p.cost, p.realized


def equity(v: Venue, account: str, mark: int) -> int:
    """balance + size x mark x APT (cash-flow accounting: the position's cost is already paid)."""
    balance, size, _, _ = state(v, account)
    return balance + size * mark * APT


def check_mirror(v: Venue) -> None:
    """bob's position is alice's negated; positions net to zero; money is conserved."""
    _, a_size, a_cost, a_realized = state(v, "alice")
    _, b_size, b_cost, b_realized = state(v, "bob")
    assert (b_size, b_cost, b_realized) == (-a_size, -a_cost, -a_realized)
    fees = v.ledger.fees.balance("USDC")
    assert v.account("alice").balance("USDC") + v.account("bob").balance("USDC") + fees == 2 * DEPOSIT
    v._check()  # ledger: balances sum to deposits; positions net to zero


def test_reduce_long_at_a_profit_with_fees() -> None:
    """alice buys 0.3 BTC at 30,000, sells 0.1 at 31,000; mark 32,000.

    Open: quote 300 x 30,000 x 1,000 = 9,000,000,000 atoms (9,000 USDC); taker fee 9,000 x 0.05%
    = 4.5 USDC, bob's maker fee 9,000 x 0.02% = 1.8 USDC.
      alice: balance 100,000 - 9,000 - 4.5 = 90,995.5; size 300; cost 9,000; entry 30,000.
    Reduce: quote 100 x 31,000 x 1,000 = 3,100 USDC; fees 1.55 (alice) and 0.62 (bob).
      cost removed = 9,000 x 100 / 300 = 3,000; realised = 3,100 - 3,000 = +100
      alice: balance 90,995.5 + 3,100 - 1.55 = 94,093.95; size 200; cost 6,000; entry still 30,000
    At mark 32,000: value 200 x 32,000 x 1,000 = 6,400; unrealised 6,400 - 6,000 = +400;
      equity 94,093.95 + 6,400 = 100,493.95 = 100,000 + 100 + 400 - (4.5 + 1.55).
    bob (short 0.3, bought 0.1 back): balance 100,000 + 9,000 - 1.8 - 3,100 - 0.62 = 105,897.58;
      realised -100; equity 105,897.58 - 6,400 = 99,497.58 = 100,000 - 100 - 400 - 2.42.
    @fees: 4.5 + 1.8 + 1.55 + 0.62 = 8.47; 94,093.95 + 105,897.58 + 8.47 = 200,000.
    """
    v = venue(maker_ppm=200, taker_ppm=500)
    fill = trade(v, 1, BUY, 300, 30_000)
    assert (fill.taker_fee, fill.maker_fee) == (4_500_000, 1_800_000)
    assert state(v, "alice") == (90_995_500_000, 300, 9_000 * U, 0)
    assert equity(v, "alice", 32_000) == 100_595_500_000  # 90,995.5 + 9,600: unrealised +600
    check_mirror(v)

    fill = trade(v, 2, SELL, 100, 31_000)
    assert (fill.taker_fee, fill.maker_fee) == (1_550_000, 620_000)
    assert state(v, "alice") == (94_093_950_000, 200, 6_000 * U, 100 * U)
    assert state(v, "bob") == (105_897_580_000, -200, -6_000 * U, -100 * U)
    assert v.ledger.fees.balance("USDC") == 8_470_000
    check_mirror(v)

    assert equity(v, "alice", 32_000) == 100_493_950_000
    assert equity(v, "alice", 32_000) == DEPOSIT + 100 * U + 400 * U - (4_500_000 + 1_550_000)
    assert equity(v, "bob", 32_000) == 99_497_580_000

    v.set_mark_price(3, P, 32_000)
    (a,) = explain(v, "alice").positions
    (b,) = explain(v, "bob").positions
    assert (a.size, a.entry_price, a.value, a.unrealized_pnl) == (200, Fraction(30_000), 6_400 * U, 400 * U)
    assert (b.size, b.entry_price, b.value) == (-200, Fraction(30_000), -6_400 * U)
    assert b.unrealized_pnl == -400 * U
    assert explain(v, "alice").equity == 100_493_950_000
    assert explain(v, "bob").equity == 99_497_580_000


def test_reduce_long_at_a_loss_without_fees() -> None:
    """alice buys 0.3 BTC at 30,000, sells 0.1 at 29,000; mark 29,000; no fees.

    cost removed = 9,000 x 100 / 300 = 3,000; received 100 x 29,000 x 1,000 = 2,900;
      realised = 2,900 - 3,000 = -100; cost left 6,000 for 200 lots: entry still 30,000.
    alice: balance 100,000 - 9,000 + 2,900 = 93,900.
    At mark 29,000: value 200 x 29,000 x 1,000 = 5,800; unrealised 5,800 - 6,000 = -200;
      equity 93,900 + 5,800 = 99,700 = 100,000 - 100 - 200.
    bob (a short bought back at a profit): balance 100,000 + 9,000 - 2,900 = 106,100; realised +100;
      unrealised +200; equity 106,100 - 5,800 = 100,300.
    """
    v = venue()
    trade(v, 1, BUY, 300, 30_000)
    fill = trade(v, 2, SELL, 100, 29_000)
    assert (fill.taker_fee, fill.maker_fee) == (0, 0)
    assert state(v, "alice") == (93_900 * U, 200, 6_000 * U, -100 * U)
    assert state(v, "bob") == (106_100 * U, -200, -6_000 * U, 100 * U)
    assert v.ledger.fees.balance("USDC") == 0
    check_mirror(v)
    assert equity(v, "alice", 29_000) == 99_700 * U == DEPOSIT - 100 * U - 200 * U
    assert equity(v, "bob", 29_000) == 100_300 * U

    e = explain(v, "alice")  # the mark was set to 29,000 by the last trade
    (a,) = e.positions
    assert (a.mark, a.entry_price, a.unrealized_pnl) == (29_000, Fraction(30_000), -200 * U)
    assert e.equity == 99_700 * U
    (b,) = explain(v, "bob").positions
    assert (b.entry_price, b.unrealized_pnl) == (Fraction(30_000), 200 * U)


def test_flip_long_to_short_in_one_fill() -> None:
    """alice buys 0.3 BTC at 30,000, then sells 0.5 at 31,000 in one fill; mark 30,000.

    Open as in the first example: balance 90,995.5; size 300; cost 9,000.
    Flip: quote 500 x 31,000 x 1,000 = 15,500 USDC; fees 15,500 x 0.05% = 7.75 (alice),
      x 0.02% = 3.1 (bob).
      closing part: 300 of the 500 lots, worth 15,500 x 300 / 500 = 9,300; realised
        = 9,300 - 9,000 = +300 (the whole old cost is released);
      opening part: the other 200 lots, short, cost -(15,500 - 9,300) = -6,200: entry
        6,200 / 0.2 = 31,000, the fill price.
      alice: balance 90,995.5 + 15,500 - 7.75 = 106,487.75; size -200; cost -6,200.
    At mark 30,000: value -200 x 30,000 x 1,000 = -6,000; unrealised -6,000 - (-6,200) = +200;
      equity 106,487.75 - 6,000 = 100,487.75 = 100,000 + 300 + 200 - (4.5 + 7.75).
    bob flips from short 0.3 to long 0.2 at 31,000: balance 100,000 + 9,000 - 1.8 - 15,500 - 3.1
      = 93,495.1; realised -300; unrealised -200; equity 93,495.1 + 6,000 = 99,495.1.
    @fees: 4.5 + 1.8 + 7.75 + 3.1 = 17.15; 106,487.75 + 93,495.1 + 17.15 = 200,000.
    """
    v = venue(maker_ppm=200, taker_ppm=500)
    trade(v, 1, BUY, 300, 30_000)
    assert equity(v, "alice", 30_000) == 99_995_500_000  # 90,995.5 + 9,000: unrealised 0
    fill = trade(v, 2, SELL, 500, 31_000)
    assert (fill.taker_fee, fill.maker_fee) == (7_750_000, 3_100_000)
    assert state(v, "alice") == (106_487_750_000, -200, -6_200 * U, 300 * U)
    assert state(v, "bob") == (93_495_100_000, 200, 6_200 * U, -300 * U)
    assert v.ledger.fees.balance("USDC") == 17_150_000
    check_mirror(v)
    assert equity(v, "alice", 30_000) == 100_487_750_000
    assert equity(v, "alice", 30_000) == DEPOSIT + 300 * U + 200 * U - (4_500_000 + 7_750_000)
    assert equity(v, "bob", 30_000) == 99_495_100_000

    v.set_mark_price(3, P, 30_000)
    (a,) = explain(v, "alice").positions
    (b,) = explain(v, "bob").positions
    assert (a.size, a.entry_price, a.unrealized_pnl) == (-200, Fraction(31_000), 200 * U)
    assert (b.size, b.entry_price, b.unrealized_pnl) == (200, Fraction(31_000), -200 * U)
    assert explain(v, "alice").equity == 100_487_750_000


def test_close_fully_realised_is_received_minus_paid_and_fees_are_separate() -> None:
    """A whole life: buy 0.3 at 30,000, buy 0.2 at 30,500, sell 0.2 at 31,000, sell 0.3 at 29,900.

    | fill              | quote (USDC) | alice fee 0.05% | bob fee 0.02% | size | cost   | realised |
    |-------------------|--------------|-----------------|---------------|------|--------|----------|
    | buy 300 @ 30,000  | 9,000        | 4.5             | 1.8           | 300  | 9,000  | 0        |
    | buy 200 @ 30,500  | 6,100        | 3.05            | 1.22          | 500  | 15,100 | 0        |
    | sell 200 @ 31,000 | 6,200        | 3.1             | 1.24          | 300  | 9,060  | 160      |
    | sell 300 @ 29,900 | 8,970        | 4.485           | 1.794         | 0    | 0      | 70       |

    After the second buy the entry price is 15,100 / 0.5 = 30,200 (average cost). The first sell
    removes 15,100 x 200 / 500 = 6,040 and realises 6,200 - 6,040 = 160; the last closes the rest,
    9,060, for 8,970: -90. Realised over the life: 160 - 90 = 70 = received (6,200 + 8,970 =
    15,170) - paid (9,000 + 6,100 = 15,100), exactly.

    Fees are not in realised PnL: they were paid to ``@fees`` as separate balance movements.
    alice paid 4.5 + 3.05 + 3.1 + 4.485 = 15.135, so her balance is 100,000 + 70 - 15.135 =
    100,054.865 (balance - deposit = realised - fees). bob: realised -70, fees 1.8 + 1.22 + 1.24 +
    1.794 = 6.054, balance 100,000 - 70 - 6.054 = 99,923.946. @fees: 15.135 + 6.054 = 21.189.
    """
    v = venue(maker_ppm=200, taker_ppm=500)
    fills = [
        trade(v, 1, BUY, 300, 30_000),
        trade(v, 2, BUY, 200, 30_500),
    ]
    assert state(v, "alice")[1:] == (500, 15_100 * U, 0)
    assert explain(v, "alice").positions[0].entry_price == Fraction(30_200)
    fills.append(trade(v, 3, SELL, 200, 31_000))
    assert state(v, "alice")[1:] == (300, 9_060 * U, 160 * U)
    assert explain(v, "alice").positions[0].entry_price == Fraction(30_200)  # unchanged by reducing
    check_mirror(v)
    fills.append(trade(v, 4, SELL, 300, 29_900))

    paid = sum(f.lots * f.price * APT for f in fills if f.taker_side is BUY)
    received = sum(f.lots * f.price * APT for f in fills if f.taker_side is SELL)
    assert (paid, received) == (15_100 * U, 15_170 * U)
    alice_fees = sum(f.taker_fee for f in fills)
    bob_fees = sum(f.maker_fee for f in fills)
    assert (alice_fees, bob_fees) == (15_135_000, 6_054_000)

    balance, size, cost, realized = state(v, "alice")
    assert (size, cost) == (0, 0)
    assert realized == received - paid == 70 * U  # no rounding residue, no fee in it
    assert balance == 100_054_865_000 == DEPOSIT + realized - alice_fees
    assert state(v, "bob") == (99_923_946_000, 0, 0, -70 * U)
    assert v.ledger.fees.balance("USDC") == alice_fees + bob_fees == 21_189_000
    check_mirror(v)


def test_average_cost_partial_close_truncates_the_cost_share() -> None:
    """Two entries at different prices, a partial close whose cost share is not whole; no fees.

    alice buys 100 lots at 30,000 (3,000,000,000 atoms) and 200 at 30,001 (6,000,200,000):
      size 300, cost 9,000,200,000, entry 9,000,200,000 / 300,000 = 90,002/3 = 30,000.666...
    She sells 100 at 31,000 for 3,100,000,000. The closed third of the cost basis is
      9,000,200,000 x 100 / 300 = 3,000,066,666 2/3, truncated toward zero to 3,000,066,666:
      cost left 6,000,133,334 (exact share 6,000,133,333 1/3),
      realised 3,100,000,000 - 3,000,066,666 = 99,933,334 (exact 99,933,333 1/3).
    The truncation moved 2/3 of an atom from the unrealised view to the realised one (less than
    one atom); the entry price of the rest is 6,000,133,334 / 200,000 = 30,000.66667, up by
    1/300,000 of a tick. balance 100,000,000,000 - 9,000,200,000 + 3,100,000,000 = 94,099,800,000.
    At mark 30,500: value 200 x 30,500 x 1,000 = 6,100,000,000;
      unrealised 6,100,000,000 - 6,000,133,334 = 99,866,666 (exact 99,866,666 2/3);
      realised + unrealised = 199,800,000 exactly = received + value - paid
      (3,100,000,000 + 6,100,000,000 - 9,000,200,000) = equity - deposit.
    Closing the rest at 30,500 realises the unrealised 99,866,666: over the life 199,800,000 =
      received (9,200,000,000) - paid (9,000,200,000): the 2/3 atom is gone.
    bob mirrors exactly because the share truncates toward zero: his removed cost is
    -3,000,066,666, where flooring would give -3,000,066,667 and a realised of -99,933,333.
    """
    v = venue()
    trade(v, 1, BUY, 100, 30_000)
    trade(v, 2, BUY, 200, 30_001)
    assert state(v, "alice")[1:] == (300, 9_000_200_000, 0)
    assert explain(v, "alice").positions[0].entry_price == Fraction(90_002, 3)

    trade(v, 3, SELL, 100, 31_000)
    balance, size, cost, realized = state(v, "alice")
    assert (balance, size, cost, realized) == (94_099_800_000, 200, 6_000_133_334, 99_933_334)
    exact_removed = Fraction(9_000_200_000 * 100, 300)
    assert exact_removed == 3_000_066_666 + Fraction(2, 3)
    assert 0 < realized - (3_100_000_000 - exact_removed) == Fraction(2, 3) < 1
    check_mirror(v)  # bob: (-200, -6,000,133,334, -99,933,334)

    mark = 30_500
    v.set_mark_price(4, P, mark)
    value = size * mark * APT
    unrealized = value - cost
    assert (value, unrealized) == (6_100_000_000, 99_866_666)
    assert realized + unrealized == 199_800_000 == 3_100_000_000 + value - 9_000_200_000
    assert equity(v, "alice", mark) - DEPOSIT == realized + unrealized
    (a,) = explain(v, "alice").positions
    assert a.entry_price == Fraction(6_000_133_334, 200_000) == Fraction(3_000_066_667, 100_000)
    assert a.entry_price - Fraction(90_002, 3) == Fraction(1, 300_000)
    assert a.unrealized_pnl == 99_866_666
    (b,) = explain(v, "bob").positions
    assert (b.entry_price, b.unrealized_pnl) == (a.entry_price, -99_866_666)

    trade(v, 5, SELL, 200, mark)
    received, paid = 3_100_000_000 + 6_100_000_000, 3_000_000_000 + 6_000_200_000
    assert state(v, "alice") == (DEPOSIT + 199_800_000, 0, 0, 199_800_000)
    assert state(v, "alice")[3] == received - paid
    check_mirror(v)


def test_average_entry_price_matches_bybit_example() -> None:
    """Bybit's USDT-contract example (cited in docs/margin.md, "Realised and unrealised PnL"):
    0.5 BTC at 5,000, then 0.3 BTC at 6,000: total value 2,500 + 1,800 = 4,300 USDT for 0.8 BTC,
    average entry 4,300 / 0.8 = 5,375."""
    v = venue()
    trade(v, 1, BUY, 500, 5_000)
    trade(v, 2, BUY, 300, 6_000)
    assert state(v, "alice")[1:] == (800, 4_300 * U, 0)
    assert explain(v, "alice").positions[0].entry_price == Fraction(5_375)
    check_mirror(v)


@given(
    apt=st.integers(1, 1_000),
    fills=st.lists(st.tuples(st.integers(-50, 50).filter(bool), st.integers(1, 10_000)), max_size=30),
    mark=st.integers(1, 10_000),
)
def test_identities_over_random_fills(apt: int, fills: list[tuple[int, int]], mark: int) -> None:
    """For any sequence of fills (signed lots, price) through ``position_after``:

    - realised - cost = net quote received (so realised + unrealised at any mark = net quote
      received + value at the mark, exactly; and a flat position's realised is received - paid);
    - each reduction realises the closed share of the cost basis to within one atom
      (``0 <= |truncation| < 1``, the sign that of the cost: toward zero);
    - a fill through zero leaves the new position's entry price at the fill price;
    - the counterparty's view (every argument negated) is exactly the negation.
    """
    size = cost = realized = 0
    net_received = 0
    for delta, price in fills:
        value = delta * price * apt
        new = position_after(size, cost, realized, delta, value)
        assert position_after(-size, -cost, -realized, -delta, -value) == tuple(-x for x in new)
        new_size, new_cost, new_realized = new
        reducing = size != 0 and (size > 0) != (delta > 0)
        if reducing and abs(delta) < abs(size):
            exact = -value - Fraction(cost * abs(delta), abs(size))
            truncation = new_realized - realized - exact
            assert abs(truncation) < 1 and truncation * cost >= 0
        if reducing and abs(delta) > abs(size):
            assert new_cost == new_size * price * apt
        size, cost, realized = new
        net_received -= value
        assert realized - cost == net_received
        unrealized = size * mark * apt - cost
        assert realized + unrealized == net_received + size * mark * apt
        if size == 0:
            assert cost == 0
