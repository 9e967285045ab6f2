"""Ledger and positions: double entry, cash-flow accounting, cost basis and realised PnL views.

Behaviours verified:
- deposits and withdrawals move the totals; transfers are one debit and one credit;
- position_after: open, add, partial reduce, full close and flip, long and short, hand-checked;
- a sequence of trades leaves balances = deposits - notional paid + notional received - fees;
- equity at a common mark sums to the sum of balances (positions net to zero);
- _check() fails when money is created out of thin air.
"""

import pytest

from exchange_sim.accounts import position_after
from exchange_sim.ledger import Ledger
from exchange_sim.orders import Side
from tests.conftest import btc_perp, make_venue


@pytest.mark.parametrize(
    ("before", "delta", "value", "after"),
    [
        ((0, 0, 0), 3, 300, (3, 300, 0)),  # open long 3 @ 100
        ((3, 300, 0), 1, 120, (4, 420, 0)),  # add 1 @ 120: entry 105
        ((4, 420, 0), -2, -220, (2, 210, 10)),  # sell 2 @ 110: cost out 210, realised 220 - 210
        ((2, 210, 10), -2, -190, (0, 0, -10)),  # close 2 @ 95 (entry 105): realised 10 - 2 x 10
        ((2, 210, 0), -5, -500, (-3, -300, -10)),  # flip: close 2 @ 100 (loss 10), short 3 @ 100
        ((-3, -300, 0), 1, 90, (-2, -200, 10)),  # short reduce @ 90: profit 10
        ((-3, -300, 0), 4, 440, (1, 110, -30)),  # short flip @ 110: loss 30, long 1 @ 110
        ((3, 100, 0), -1, -40, (2, 67, 7)),  # cost 100/3 per lot: 33 out (truncated), realised 7
        ((-3, -100, 0), 1, 30, (-2, -67, 3)),  # truncation toward zero for shorts too
    ],
)
def test_position_after(before: tuple, delta: int, value: int, after: tuple) -> None:
    assert position_after(*before, delta, value) == after


def test_position_life_realises_exactly() -> None:
    state = (0, 0, 0)
    for delta, value in [(3, 100), (-1, -40), (-1, -35), (-1, -50)]:
        state = position_after(*state, delta, value)
    # bought 3 for 100, sold for 40 + 35 + 50 = 125: realised exactly 25 despite truncation
    assert state == (0, 0, 25)


def test_transfers_and_totals() -> None:
    ledger = Ledger(["USDC"])
    a, b = ledger.open("a"), ledger.open("b")
    ledger.deposit(a, "USDC", 100)
    ledger.transfer(a, b, "USDC", 30)
    ledger.withdraw(b, "USDC", 10)
    assert (a.balance("USDC"), b.balance("USDC")) == (70, 20)
    assert ledger.totals("USDC") == 90 == ledger.deposited["USDC"] - ledger.withdrawn["USDC"]
    ledger._check()
    b.balances["USDC"] += 1  # money from nowhere
    with pytest.raises(AssertionError, match="balances sum"):
        ledger._check()


def test_trades_cash_flow_and_equity_at_a_mark() -> None:
    venue = make_venue(btc_perp(maker_fee_ppm=0, taker_fee_ppm=1_000))
    apl = 500
    venue.submit(1, "alice", "BTC-PERP", Side.SELL, 10, 60_000)
    venue.submit(2, "bob", "BTC-PERP", Side.BUY, 4, 60_000)  # bob long 4 @ 60,000
    venue.submit(3, "carol", "BTC-PERP", Side.BUY, 6, 60_100)  # carol long 6 @ 60,000
    venue.submit(4, "bob", "BTC-PERP", Side.BUY, 3, 59_000)  # resting bid
    venue.submit(5, "carol", "BTC-PERP", Side.SELL, 6, 58_000)  # carol sells 3 @ 59,000 to bob, 3 rest
    start = 1_000_000 * 1_000_000
    n1, n2, n3 = 60_000 * 4 * apl, 60_000 * 6 * apl, 59_000 * 3 * apl
    fee = lambda n: -(-n * 1_000 // 1_000_000)  # noqa: E731  taker 0.1%, rounded up
    assert venue.account("alice").balance("USDC") == start + n1 + n2
    assert venue.account("bob").balance("USDC") == start - n1 - fee(n1) - n3
    assert venue.account("carol").balance("USDC") == start - n2 - fee(n2) + n3 - fee(n3)
    carol = venue.account("carol").positions["BTC-PERP"]
    # carol sold half her 6 lots: cost 60,000 x 3 x 500 remains; realised (59,000 - 60,000) x 3 x 500
    assert (carol.size, carol.cost, carol.realized) == (3, 60_000 * 3 * apl, -1_000 * 3 * apl)
    assert venue.ledger.fees.balance("USDC") == fee(n1) + fee(n2) + fee(n3)
    # equity at any common mark sums to the balances: positions net to zero
    mark = 61_234
    equities = [
        a.balance("USDC") + sum(p.size * mark * apl for p in a.positions.values())
        for a in venue.ledger.by_index
    ]
    assert sum(equities) == venue.ledger.totals("USDC") == 3 * start
    venue._check()
