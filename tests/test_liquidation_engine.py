"""The liquidation engine, hand-checked for each preset.

Market: BTC-PERP, tick 1 USDC, lot 0.001 BTC, so one tick on one lot is 1,000 USDC atoms; no
trading fees; one bracket, maintenance 5%, initial 10%. alice deposits 1,000 USDC and buys
0.1 BTC (100 lots) at 30,000 from bob (bob: 100,000 USDC, short 0.1). Her balance is then
1,000 - 3,000 = -2,000 USDC and her position is worth 0.1 x mark.

At a mark of 21,000: equity = -2,000 + 2,100 = 100 USDC; maintenance = 5% x 2,100 = 105 USDC, so
she is liquidatable (the liquidation price is 2,000 / 0.095 = 21,052.6). Her bankruptcy price is
20,000 (equity 0: -2,000 + 0.1 x 20,000). The insurance fund starts with 10,000 USDC.

- teaching: the fund takes her 0.1 BTC at the mark (it pays 2,100) and sweeps her 100 USDC of
  margin: she ends with 0 and flat; the fund has 10,000 - 2,100 + 100 = 8,000 USDC and a long
  0.1 BTC worth 2,100, so its equity is 10,100.
- binance: bids 0.05 at 20,900 and 0.1 at 20,500; the liquidation sell of 100 lots is limited to
  the bankruptcy price 20,000 and fills 50 @ 20,900 and 50 @ 20,500: 2,070 USDC. Everything above
  the bankruptcy value (2,000) goes to the fund: 70 USDC. She ends at 0.
- dydx: the fillable price is 21,000 x (1 - ABR x 1.5 x 5%) with ABR = 1 - 100 / 105 = 1/21:
  21,000 - 7.5 / 0.1 = 20,925. A bid of 0.1 at 20,950 fills (2,095 USDC); the fee is
  min(1.5% x 2,095 = 31.425, 2,095 - 2,000 = 95) = 31.425 USDC to the fund; she keeps 63.575.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.liquidation.engine import BACKSTOP_ACCOUNT, INSURANCE_ACCOUNT, Outcome
from exchange_sim.liquidation.rules import PRESETS, RuleSet, preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
U = 1_000_000  # atoms per USDC
P = "BTC-PERP"
E = "ETH-PERP"


def make_venue(rules: RuleSet, journal: JournalWriter | None = None, *, eth: bool = False) -> Venue:
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    instruments = [btc]
    if eth:
        instruments.append(
            Instrument.create(
                E, kind="perpetual", underlying="ETH", settlement=USDC, tick_size="1", lot_size="0.01"
            )
        )
    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    margin = MarginConfig("USDC", tuple((i.symbol, schedule) for i in instruments))
    v = Venue(VenueConfig((USDC,), tuple(instruments), margin=margin, liquidation=rules), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    if rules.takeover == "backstop":
        v.deposit_system(0, BACKSTOP_ACCOUNT, "USDC", "10000")
    for name, amount in (("alice", "1000"), ("bob", "100000"), ("maker", "1000000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    if eth:
        v.set_mark_price(0, E, 2_000)
    assert v.submit(1, "bob", P, Side.SELL, 100, 30_000).resting
    assert v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills
    return v


def balance(v: Venue, name: str) -> int:
    return v.ledger.accounts[name].balances.get("USDC", 0)


def size(v: Venue, name: str, symbol: str = P) -> int:
    position = v.ledger.accounts[name].positions.get(symbol)
    return position.size if position else 0


def events(journal: JournalWriter, code: Ev) -> list[list[object]]:
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    return [r for r in records if r[0] == code]


def check(v: Venue, journal: JournalWriter | None = None) -> None:
    v._check()
    if journal is not None:
        journal.flush()
        assert replay(bytes(journal._memory or b"")).ok


# detection -----------------------------------------------------------------------------------------


def test_no_one_is_liquidated_above_maintenance() -> None:
    journal = JournalWriter()
    v = make_venue(preset("teaching"), journal)
    v.set_mark_price(2, P, 21_053)  # equity 105.3 >= maintenance 105.265
    assert events(journal, Ev.LIQUIDATION) == []
    assert size(v, "alice") == 100
    check(v, journal)


# teaching: the fund takes over -----------------------------------------------------------------------


def test_teaching_the_fund_takes_the_position_and_the_margin_left() -> None:
    journal = JournalWriter()
    v = make_venue(preset("teaching"), journal)
    v.set_mark_price(2, P, 21_000)
    assert events(journal, Ev.LIQUIDATION) == [
        [Ev.LIQUIDATION, v.ledger.accounts["alice"].index, 100 * U, 105 * U]
    ]
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert size(v, INSURANCE_ACCOUNT) == 100
    assert balance(v, INSURANCE_ACCOUNT) == 8_000 * U  # 10,000 - 2,100 + 100
    fund = v.ledger.accounts[INSURANCE_ACCOUNT].index
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.TAKEOVER) == [[Ev.TAKEOVER, alice, fund, 0, 100, 21_000]]
    assert events(journal, Ev.SWEPT) == [[Ev.SWEPT, alice, fund, 100 * U]]
    assert events(journal, Ev.LIQUIDATION_END)[-1] == [Ev.LIQUIDATION_END, alice, Outcome.FLAT, 0, 0]
    check(v, journal)


def test_teaching_a_gap_below_bankruptcy_is_paid_by_the_fund() -> None:
    """At 19,000 her equity is -100: the fund takes the position and pays the 100 she owes."""
    v = make_venue(preset("teaching"))
    v.set_mark_price(2, P, 19_000)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert balance(v, INSURANCE_ACCOUNT) == (10_000 - 1_900 - 100) * U
    assert v.liquidation is not None and v.liquidation.stats.fund_paid == 100 * U
    check(v)


def test_teaching_an_empty_fund_deleverages_pro_rata_then_socialises_nothing_left() -> None:
    """No fund: at 19,000 (equity -100) the opposite positions (bob, short 0.1) close against her
    at the mark and pay her deficit: bob pays 100 USDC and is flat."""
    journal = JournalWriter()
    rules = preset("teaching")
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    v = Venue(VenueConfig((USDC,), (btc,), margin=margin, liquidation=rules), journal=journal)
    for name, amount in (("alice", "1000"), ("bob", "100000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    v.submit(1, "bob", P, Side.SELL, 100, 30_000)
    v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
    bob_before = balance(v, "bob")
    v.set_mark_price(2, P, 19_000)
    assert size(v, "alice") == 0 and size(v, "bob") == 0
    assert balance(v, "alice") == 0
    # bob buys back 0.1 at the mark (pays 1,900) and pays the 100 deficit: as if he bought at 20,000,
    # alice's bankruptcy price
    assert balance(v, "bob") == bob_before - 1_900 * U - 100 * U
    alice, bob = v.ledger.accounts["alice"].index, v.ledger.accounts["bob"].index
    # bob's closed profit: he sold at 30,000, the mark is 19,000: 1,100 USDC realised
    assert events(journal, Ev.DELEVERAGED) == [
        [Ev.DELEVERAGED, alice, bob, 0, 100, 19_000, 100 * U, 1_100 * U]
    ]
    assert events(journal, Ev.ADL_DONE) == [[Ev.ADL_DONE, alice, 0, 100 * U, 100 * U, 1_100 * U, 1_000 * U]]
    check(v, journal)


# binance: through the book, everything above bankruptcy to the fund ------------------------------


def test_binance_sells_on_the_book_no_worse_than_bankruptcy_and_the_fund_takes_the_surplus() -> None:
    journal = JournalWriter()
    v = make_venue(preset("binance"), journal)
    v.submit(2, "maker", P, Side.BUY, 50, 20_900)
    v.submit(2, "maker", P, Side.BUY, 100, 20_500)
    v.set_mark_price(3, P, 21_000)
    alice = v.ledger.accounts["alice"].index
    [order] = events(journal, Ev.LIQ_ORDER)
    assert order[2:] == [alice, 0, Side.SELL, 100, 20_000]  # limit: the bankruptcy price
    assert events(journal, Ev.LIQ_SETTLED) == [
        [Ev.LIQ_SETTLED, alice, 0, 100, 2_070 * U, 2_000 * U, 70 * U, 70 * U]
    ]
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert balance(v, INSURANCE_ACCOUNT) == 10_070 * U
    assert size(v, "maker") == 100
    check(v, journal)


def test_binance_what_the_book_cannot_absorb_goes_to_the_fund_at_bankruptcy() -> None:
    """Only 0.05 bid at 20,900: it fills (1,045; bankruptcy value of 50 lots 1,000: 45 to the
    fund); the fund takes the other 50 lots at the mark (1,050) and her last 50 of margin."""
    v = make_venue(preset("binance"))
    v.submit(2, "maker", P, Side.BUY, 50, 20_900)
    v.set_mark_price(3, P, 21_000)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert size(v, INSURANCE_ACCOUNT) == 50
    assert balance(v, INSURANCE_ACCOUNT) == (10_000 + 45 - 1_050 + 50) * U
    check(v)


# dydx: fillable price, fee capped, the rest stays with the trader -------------------------------------


def test_dydx_fillable_price_and_fee() -> None:
    journal = JournalWriter()
    v = make_venue(preset("dydx"), journal)
    v.submit(2, "maker", P, Side.BUY, 100, 20_900)  # below the fillable price: not taken
    v.submit(2, "maker", P, Side.BUY, 100, 20_950)
    v.set_mark_price(3, P, 21_000)
    [order] = events(journal, Ev.LIQ_ORDER)
    assert order[-1] == 20_925
    fee = 31_425_000  # 1.5% of 2,095 USDC
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.LIQ_SETTLED) == [
        [Ev.LIQ_SETTLED, alice, 0, 100, 2_095 * U, 2_000 * U, fee, fee]
    ]
    assert balance(v, "alice") == 95 * U - fee  # 63.575 USDC stays hers
    assert balance(v, INSURANCE_ACCOUNT) == 10_000 * U + fee
    check(v, journal)


def test_dydx_deleverages_a_bankrupt_account_the_book_cannot_take() -> None:
    """No bids, equity -100 at 19,000: bob, the only opposite position, closes against her at the
    mark and pays her 100 deficit."""
    v = make_venue(preset("dydx"))
    v.set_mark_price(2, P, 19_000)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert size(v, "bob") == 0
    check(v)


def test_dydx_withdrawals_are_gated_while_an_account_has_negative_equity() -> None:
    """Without deleveraging (an override of the preset), alice stays open with negative equity
    until the book can take her position; meanwhile withdrawals are refused venue-wide.

    Then a bid of 0.1 at 18,990 appears. At equity -100 the fillable price is the widest,
    19,000 x (1 - 1.5 x 5%) = 17,575, so the bid fills: 1,899 USDC against a bankruptcy value of
    2,000 (dYdX: -dNNV - TNC x |dMMR| / TMMR = 1,900 + 100): the fund pays 101, alice ends at 0."""
    journal = JournalWriter()
    v = make_venue(preset("dydx").with_overrides(adl="none"), journal)
    v.set_mark_price(2, P, 19_000)
    assert size(v, "alice") == 100
    assert v.withdraw(3, "maker", "USDC", "1").reason is Reason.WITHDRAWALS_GATED
    v.submit(4, "maker", P, Side.BUY, 100, 18_990)
    v.set_mark_price(5, P, 19_000)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.LIQ_ORDER)[-1][-1] == 17_575
    assert events(journal, Ev.LIQ_SETTLED)[-1] == [
        Ev.LIQ_SETTLED,
        alice,
        0,
        100,
        1_899 * U,
        2_000 * U,
        0,
        -101 * U,
    ]
    assert balance(v, INSURANCE_ACCOUNT) == 9_899 * U
    assert v.withdraw(6, "maker", "USDC", "1").ok
    check(v, journal)


# hyperliquid: the backstop vault ------------------------------------------------------------------------


def test_hyperliquid_backstop_takes_over_below_two_thirds_of_maintenance() -> None:
    """Empty book. At 21,000 (equity 100 >= 2/3 x 105 = 70) nothing happens but the attempt; at
    20,900 (equity 90, maintenance 104.5, 2/3 of it 69.67) still not; at 20,700 (equity 70,
    maintenance 103.5, 2/3 = 69): not; at 20,600 (equity 60 < 68.67) the vault takes the position
    and the 60 USDC of margin."""
    v = make_venue(preset("hyperliquid"))
    for ts, mark in ((2, 21_000), (3, 20_900), (4, 20_700)):
        v.set_mark_price(ts, P, mark)
        assert size(v, "alice") == 100, mark
    v.set_mark_price(5, P, 20_600)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert size(v, BACKSTOP_ACCOUNT) == 100
    assert balance(v, BACKSTOP_ACCOUNT) == (10_000 - 2_060 + 60) * U
    check(v)


# cross-margin contagion ---------------------------------------------------------------------------------


def test_a_loss_in_one_instrument_liquidates_a_position_in_another() -> None:
    """carol: 2,000 USDC, long 0.1 BTC at 30,000 and long 1 ETH at 2,000: her balance is
    2,000 - 3,000 - 2,000 = -3,000. With BTC at 12,000 her equity is -3,000 + 1,200 + 2,000 = 200
    against maintenance 60 + 100 = 160: healthy. At 11,000 it is 100 against 55 + 100 = 155: the
    BTC loss has eaten the collateral that backed ETH, and both positions are liquidated."""
    v = make_venue(preset("teaching"), eth=True)
    v.open_account(2, "carol")
    v.deposit(2, "carol", "USDC", "2000")
    v.submit(3, "bob", P, Side.SELL, 100, 30_000)
    v.submit(3, "carol", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
    v.submit(3, "bob", E, Side.SELL, 100, 2_000)
    v.submit(3, "carol", E, Side.BUY, 100, 2_000, tif=TimeInForce.IOC)
    assert size(v, "carol", E) == 100
    v.set_mark_price(4, P, 12_000)
    assert size(v, "carol", E) == 100
    v.set_mark_price(5, P, 11_000)
    assert size(v, "carol", E) == 0 and size(v, "carol", P) == 0
    assert size(v, INSURANCE_ACCOUNT, E) == 100
    check(v)


# isolated positions are liquidated alone --------------------------------------------------------------


def test_an_isolated_position_is_liquidated_alone() -> None:
    v = make_venue(preset("teaching"), eth=True)
    v.open_account(2, "dave", "isolated")
    v.deposit(2, "dave", "USDC", "5000")
    v.submit(3, "bob", P, Side.SELL, 100, 30_000)
    v.submit(3, "dave", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)  # 300 moved into dave/BTC-PERP
    v.submit(3, "bob", E, Side.SELL, 100, 2_000)
    v.submit(3, "dave", E, Side.BUY, 100, 2_000, tif=TimeInForce.IOC)
    sub = v.ledger.accounts["dave/BTC-PERP"]
    margin = sub.balances["USDC"] + 3_000 * U
    assert margin == 300 * U
    v.set_mark_price(4, P, 27_100)  # dave/BTC-PERP: equity 300 - 290 = 10 < 135.5
    assert size(v, "dave/BTC-PERP") == 0
    assert size(v, "dave/ETH-PERP", E) == 100  # untouched
    assert v.ledger.accounts["dave/BTC-PERP"].balances.get("USDC", 0) == 0
    check(v)


# rule sets as data ------------------------------------------------------------------------------------------


def test_presets_round_trip_through_the_journal_header() -> None:
    for rules in PRESETS.values():
        assert RuleSet.from_config(rules.to_config()) == rules
    with pytest.raises(UnitError, match="unknown rule set"):
        preset("ftx")
    with pytest.raises(UnitError, match="adl must be one of"):
        RuleSet("x", adl="lottery")
    assert preset("hyperliquid").backstop_fraction == Fraction(2, 3)


def test_liquidation_rules_need_margin_rules() -> None:
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    with pytest.raises(UnitError, match="need margin rules"):
        VenueConfig((USDC,), (btc,), liquidation=preset("binance"))


def test_system_deposits_only_to_the_fund_and_the_vault() -> None:
    v = make_venue(preset("binance"))
    assert v.deposit_system(2, "@fees", "USDC", "1").reason is Reason.NOT_A_SYSTEM_ACCOUNT
    assert v.deposit_system(2, BACKSTOP_ACCOUNT, "USDC", "1").reason is Reason.NOT_A_SYSTEM_ACCOUNT
    assert v.deposit_system(2, INSURANCE_ACCOUNT, "USDC", "0").reason is Reason.INVALID_AMOUNT
    assert v.deposit_system(2, INSURANCE_ACCOUNT, "USDC", "5").ok
    assert balance(v, INSURANCE_ACCOUNT) == 10_005 * U


def test_the_engine_example_in_the_docs_runs() -> None:
    """docs/liquidation.md's engine example executes as written (its asserts are the check)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "liquidation.md").read_text()
    engine = text[text.index("## The engine") :]
    block = re.search(r"```python\n(.*?)```", engine, re.S)
    assert block is not None
    exec(compile(block.group(1), "docs/liquidation.md", "exec"), {})


# partial liquidation: only enough to restore health ---------------------------------------------------


def test_a_restore_partial_closes_the_fewest_lots_that_restore_health() -> None:
    """dydx rules with ``partial = "restore"``. At 21,000 (equity 100, maintenance 105) the
    fillable price is 20,925. Closing n lots there with the 1.5% fee changes equity by
    -(0.075 + 0.313875) n and maintenance by -1.05 n: health needs 0.661125 n >= 5, n = 8. The
    8 lots fill at the bid, 20,990 (167.92 USDC); their bankruptcy value is 168 - 100 x 8.4 / 105
    = 160, so the fee is min(2.5188, 7.92) = 2.5188 USDC. She keeps 92 lots with equity
    100 - 0.08 - 2.5188 = 97.4012 against maintenance 96.6: healthy."""
    journal = JournalWriter()
    v = make_venue(preset("dydx").with_overrides(partial="restore"), journal)
    v.submit(2, "maker", P, Side.BUY, 100, 20_990)
    v.set_mark_price(3, P, 21_000)
    alice = v.ledger.accounts["alice"].index
    fee = 2_518_800
    assert events(journal, Ev.LIQ_SETTLED) == [[Ev.LIQ_SETTLED, alice, 0, 8, 167_920_000, 160 * U, fee, fee]]
    assert size(v, "alice") == 92
    end = events(journal, Ev.LIQUIDATION_END)[-1]
    assert end == [Ev.LIQUIDATION_END, alice, Outcome.HEALTHY, 97_401_200, 96_600_000]
    check(v, journal)


# deleveraging: who is chosen ----------------------------------------------------------------------------


def adl_venue(policy: str, journal: JournalWriter) -> Venue:
    """alice (1,000 USDC) buys 0.1 BTC at 30,000 from s1 (0.03; 10,000 USDC), s2 (0.05; 600 USDC)
    and s3 (0.02; 2,000 USDC); s4 (50,000 USDC) sells 0.1 to the maker. No fund, no bids."""
    rules = preset("binance").with_overrides(adl=policy)
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    v = Venue(VenueConfig((USDC,), (btc,), margin=margin, liquidation=rules), journal=journal)
    for name, amount in (
        ("alice", "1000"),
        ("s1", "10000"),
        ("s2", "600"),
        ("s3", "2000"),
        ("s4", "50000"),
        ("maker", "1000000"),
    ):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    for name, lots in (("s1", 30), ("s2", 50), ("s3", 20)):
        v.submit(1, name, P, Side.SELL, lots, 30_000)
    assert v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills
    v.submit(1, "s4", P, Side.SELL, 100, 30_000)
    assert v.submit(1, "maker", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills
    return v


def test_queue_deleveraging_takes_the_highest_ranked_shorts_first() -> None:
    """At 19,000 alice's equity is -100. Every short is up 36.67% (30,000 -> 19,000); BitMEX's
    score is that times effective leverage (position value at the mark / equity): s2 950 / 1,150
    = 0.83, s3 380 / 2,220 = 0.17, s1 570 / 10,330 = 0.055, s4 1,900 / 51,100 = 0.037. So s2
    closes 50 lots, s3 20 and s1 30; s4 keeps its position. The 100 USDC deficit is shared by lots
    closed: 50, 20, 30. The closes realise 1,100 USDC of profit, 1,000 beyond the deficit."""
    journal = JournalWriter()
    v = adl_venue("queue", journal)
    v.set_mark_price(2, P, 19_000)
    ids = {n: v.ledger.accounts[n].index for n in ("alice", "s1", "s2", "s3")}
    rows = [(r[2], r[4], r[6], r[7]) for r in events(journal, Ev.DELEVERAGED)]
    assert rows == [
        (ids["s2"], 50, 50 * U, 550 * U),
        (ids["s3"], 20, 20 * U, 220 * U),
        (ids["s1"], 30, 30 * U, 330 * U),
    ]
    assert events(journal, Ev.ADL_DONE) == [
        [Ev.ADL_DONE, ids["alice"], 0, 100 * U, 100 * U, 1_100 * U, 1_000 * U]
    ]
    assert (size(v, "s1"), size(v, "s2"), size(v, "s3"), size(v, "s4")) == (0, 0, 0, -100)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    check(v, journal)


def test_pro_rata_deleveraging_spreads_over_every_short() -> None:
    """The same, pro rata to size (30, 50, 20, 100 of 200): 15, 25, 10 and 50 lots, and as many
    USDC of the deficit each."""
    journal = JournalWriter()
    v = adl_venue("pro_rata", journal)
    v.set_mark_price(2, P, 19_000)
    ids = {v.ledger.accounts[n].index: n for n in ("s1", "s2", "s3", "s4")}
    rows = [(ids[r[2]], r[4], r[6]) for r in events(journal, Ev.DELEVERAGED)]
    assert rows == [("s1", 15, 15 * U), ("s2", 25, 25 * U), ("s3", 10, 10 * U), ("s4", 50, 50 * U)]
    assert (size(v, "s1"), size(v, "s2"), size(v, "s3"), size(v, "s4")) == (-15, -25, -10, -50)
    check(v, journal)


def test_random_deleveraging_is_seeded_by_the_inputs() -> None:
    """The pseudo-random order is a hash of the time, the account and the instrument: the same
    inputs give the same choice, and every lot is closed."""
    runs = []
    for _ in range(2):
        journal = JournalWriter()
        v = adl_venue("random", journal)
        v.set_mark_price(2, P, 19_000)
        runs.append([(r[2], r[4]) for r in events(journal, Ev.DELEVERAGED)])
        assert size(v, "alice") == 0
        check(v, journal)
    assert runs[0] == runs[1]
    assert sum(lots for _, lots in runs[0]) == 100


def test_step_down_closes_into_the_next_lower_bracket_then_in_full() -> None:
    """Two brackets: 5% maintenance below 2,000 USDC of notional, 10% above (deduction 100). At
    21,000 alice's 0.1 BTC is 2,100 of notional: maintenance 110 against equity 100. BitMEX's
    step-down closes the fewest lots that take the notional below the 2,000 floor: keep
    ceil(2,000 / 21) - 1 = 95 lots, close 5. Still below maintenance (she stays open, outcome 2);
    the next mark finds her position in the lowest bracket and closes it in full."""
    journal = JournalWriter()
    rules = preset("dydx").with_overrides(partial="step_down", adl="none")
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000), Bracket(2_000 * U, 100_000, 200_000)])
    margin = MarginConfig("USDC", ((P, schedule),))
    v = Venue(VenueConfig((USDC,), (btc,), margin=margin, liquidation=rules), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    for name, amount in (("alice", "1000"), ("bob", "100000"), ("maker", "1000000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    v.submit(1, "bob", P, Side.SELL, 100, 30_000)
    assert v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills
    v.submit(2, "maker", P, Side.BUY, 200, 20_990)
    v.set_mark_price(3, P, 21_000)
    assert size(v, "alice") == 95
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.LIQUIDATION_END)[-1][:3] == [Ev.LIQUIDATION_END, alice, Outcome.OPEN]
    v.set_mark_price(4, P, 21_000)
    assert size(v, "alice") == 0
    assert [r[3] for r in events(journal, Ev.LIQ_SETTLED)] == [5, 95]
    check(v, journal)


def test_binance_published_liquidation_price_is_where_the_engine_liquidates() -> None:
    """Binance's example (docs/liquidation.md, "Liquidation price"): wallet 500 USDT, long 1,000
    USDT of BTC at 50,000 (0.02 BTC), maintenance rate 0.4%: liquidation price 25,100.40. With a
    tick of 0.01 the engine leaves the account alone at 25,100.41 (equity 2.0082 >= maintenance
    2.00803) and liquidates it at 25,100.40 (equity 2.008 < 2.008032)."""
    usdt = Asset("USDT", 6)
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=usdt, tick_size="0.01", lot_size="0.001"
    )
    margin = MarginConfig("USDT", ((P, BracketSchedule.create([Bracket(0, 4_000, 10_000)])),))
    journal = JournalWriter()
    v = Venue(VenueConfig((usdt,), (btc,), margin=margin, liquidation=preset("binance")), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDT", "10000")
    for name, amount in (("trader", "500"), ("bob", "100000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDT", amount)
    v.set_mark_price(0, P, "50000")
    v.submit(1, "bob", P, Side.SELL, "0.02", "50000")
    assert v.submit(1, "trader", P, Side.BUY, "0.02", "50000", tif=TimeInForce.IOC).fills
    v.set_mark_price(2, P, "25100.41")
    assert events(journal, Ev.LIQUIDATION) == []
    v.set_mark_price(3, P, "25100.40")
    trader = v.ledger.accounts["trader"].index
    assert events(journal, Ev.LIQUIDATION) == [[Ev.LIQUIDATION, trader, 2_008_000, 2_008_032]]
    check(v, journal)


# all or nothing --------------------------------------------------------------------------------------------


class Injected(Exception):
    pass


def fail_on_call(monkeypatch: pytest.MonkeyPatch, method: str, n: int) -> None:
    """Make ``Ledger.<method>`` raise on its n-th call from now (the earlier calls run)."""
    from exchange_sim.ledger import Ledger

    original = getattr(Ledger, method)
    calls = {"n": 0}

    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == n:
            raise Injected(f"{method} call {n}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, method, wrapper)


def state(v: Venue) -> dict[str, object]:
    return {
        a.id: (dict(a.balances), {s: (p.size, p.cost, p.realized) for s, p in a.positions.items() if p.size})
        for a in v.ledger.by_index
    }


def test_a_deleveraging_close_that_fails_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue of the ranked-deleveraging test closes s2, then s3, then s1, each a position
    transfer and a haircut transfer. Failing s3's haircut transfer: s2's close stands in full (its
    event was written), s3's close is undone (position, balances, open interest) and has no
    event, s1 is untouched."""
    journal = JournalWriter()
    v = adl_venue("queue", journal)
    before = state(v)
    open_interest = dict(v.ledger.open_interest)
    fail_on_call(monkeypatch, "transfer", 2)
    with pytest.raises(Injected):
        v.set_mark_price(2, P, 19_000)
    after = state(v)
    assert after["s3"] == before["s3"] and after["s1"] == before["s1"] and after["s4"] == before["s4"]
    assert size(v, "s2") == 0 and balance(v, "s2") < before["s2"][0]["USDC"]  # type: ignore[index]
    assert len(events(journal, Ev.DELEVERAGED)) == 1
    assert open_interest[P] == 200  # alice's 100 and the maker's 100
    assert v.ledger.open_interest[P] == 150  # s2's close took 50 of alice's; s3's was undone
    assert size(v, "alice") == 50
    monkeypatch.undo()
    v._check()  # money and positions still balance after the failed step


def test_a_takeover_that_fails_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """carol's BTC and ETH positions are taken over one after the other (the contagion test's
    setup). Failing the ETH position transfer: the BTC takeovers stand, the ETH position and
    every balance it would have moved are as they were, and it has no TAKEOVER event. (A takeover
    step is one ledger operation, atomic by itself; the deleveraging test above is the one whose
    two operations need the engine's rollback: without it, that test fails.)"""
    journal = JournalWriter()
    v = make_venue(preset("teaching"), journal, eth=True)
    v.open_account(2, "carol")
    v.deposit(2, "carol", "USDC", "2000")
    v.submit(3, "bob", P, Side.SELL, 100, 30_000)
    v.submit(3, "carol", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
    v.submit(3, "bob", E, Side.SELL, 100, 2_000)
    v.submit(3, "carol", E, Side.BUY, 100, 2_000, tif=TimeInForce.IOC)
    # alice (long BTC from make_venue) is liquidated too at 11,000: her takeover is the first
    # settle_trade call, carol's BTC the second; fail carol's ETH, the third
    fail_on_call(monkeypatch, "settle_trade", 3)
    fund_before = balance(v, INSURANCE_ACCOUNT)
    with pytest.raises(Injected):
        v.set_mark_price(5, P, 11_000)
    assert size(v, "carol") == 0 and size(v, "carol", E) == 100
    assert size(v, INSURANCE_ACCOUNT, E) == 0
    # alice's BTC at 11,000 (1,100) and her -900 of equity covered, then carol's BTC (1,100)
    assert balance(v, INSURANCE_ACCOUNT) == fund_before - 1_100 * U - 900 * U - 1_100 * U
    assert [r[1] for r in events(journal, Ev.TAKEOVER)] == [
        v.ledger.accounts["alice"].index,
        v.ledger.accounts["carol"].index,
    ]
    monkeypatch.undo()
    v._check()


# caps per step -------------------------------------------------------------------------------------------


def test_at_most_max_liquidations_per_step_accounts_per_price_input() -> None:
    """Two accounts below maintenance, a cap of one: alice (earlier in the ledger) now, dave at
    the next price input."""
    v = make_venue(preset("teaching").with_overrides(max_liquidations_per_step=1))
    v.open_account(2, "dave")
    v.deposit(2, "dave", "USDC", "1000")
    v.submit(3, "bob", P, Side.SELL, 100, 30_000)
    v.submit(3, "dave", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
    v.set_mark_price(4, P, 21_000)
    assert size(v, "alice") == 0 and size(v, "dave") == 100
    v.set_mark_price(5, P, 21_000)
    assert size(v, "dave") == 0
    check(v)


def test_the_notional_cap_leaves_the_rest_for_the_next_price_input() -> None:
    """binance with at most 1,050 USDC of notional per step: at 21,000 that is 50 lots, sold on
    the book (20,900); the rest is not taken over at once but liquidated at the next mark."""
    journal = JournalWriter()
    v = make_venue(preset("binance").with_overrides(max_notional_per_step=1_050 * U), journal)
    v.submit(2, "maker", P, Side.BUY, 200, 20_900)
    v.set_mark_price(3, P, 21_000)
    assert size(v, "alice") == 50
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.LIQUIDATION_END)[-1][:3] == [Ev.LIQUIDATION_END, alice, Outcome.OPEN]
    v.set_mark_price(4, P, 21_000)
    assert size(v, "alice") == 0
    assert [r[3] for r in events(journal, Ev.LIQ_SETTLED)] == [50, 50]
    assert events(journal, Ev.TAKEOVER) == []
    check(v, journal)


def test_the_fund_loss_cap_leaves_bad_debt_recorded() -> None:
    """The dydx gating run (the fund should pay a 101 shortfall) with the fund's loss capped at 50
    per liquidation and no deleveraging: the fund pays 50 and 51 is recorded as bad debt."""
    journal = JournalWriter()
    rules = preset("dydx").with_overrides(adl="none", max_fund_loss_per_step=50 * U)
    v = make_venue(rules, journal)
    v.submit(2, "maker", P, Side.BUY, 100, 18_990)
    v.set_mark_price(3, P, 19_000)
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.LIQ_SETTLED)[-1][-1] == -50 * U
    assert events(journal, Ev.BAD_DEBT) == [[Ev.BAD_DEBT, alice, 51 * U]]
    assert balance(v, "alice") == -51 * U and size(v, "alice") == 0
    assert balance(v, INSURANCE_ACCOUNT) == 9_950 * U
    check(v, journal)


def test_position_order_largest_maintenance_or_most_liquid_book_first() -> None:
    """carol: long 0.1 BTC and 1 ETH (the contagion setup), BTC marked at 11,000: maintenance
    BTC 55, ETH 100. Bids: 0.3 BTC at 10,990 (3,297 USDC deep), 1 ETH at 1,990 (1,990 deep).
    ``largest_maintenance`` sells ETH first; ``most_liquid`` sells BTC first."""
    for order, first in (("largest_maintenance", E), ("most_liquid", P)):
        journal = JournalWriter()
        v = make_venue(preset("binance").with_overrides(position_order=order), journal, eth=True)
        v.open_account(2, "carol")
        v.deposit(2, "carol", "USDC", "2000")
        v.submit(3, "bob", P, Side.SELL, 100, 30_000)
        v.submit(3, "carol", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
        v.submit(3, "bob", E, Side.SELL, 100, 2_000)
        v.submit(3, "carol", E, Side.BUY, 100, 2_000, tif=TimeInForce.IOC)
        v.submit(4, "maker", P, Side.BUY, 300, 10_990)
        v.submit(4, "maker", E, Side.BUY, 100, 1_990)
        v.set_mark_price(5, P, 11_000)
        carol = v.ledger.accounts["carol"].index
        orders = [r[3] for r in events(journal, Ev.LIQ_ORDER) if r[2] == carol]
        assert orders[0] == (1 if first == E else 0), (order, orders)
        check(v, journal)


def test_bad_debt_is_recorded_once() -> None:
    """After the capped-fund run records 51 of bad debt, later price inputs find alice flat with
    the same deficit: she is not liquidated again and nothing more is recorded."""
    journal = JournalWriter()
    rules = preset("dydx").with_overrides(adl="none", max_fund_loss_per_step=50 * U)
    v = make_venue(rules, journal)
    v.submit(2, "maker", P, Side.BUY, 100, 18_990)
    v.set_mark_price(3, P, 19_000)
    for ts in range(4, 9):
        v.set_mark_price(ts, P, 19_000 + ts)
    alice = v.ledger.accounts["alice"].index
    assert events(journal, Ev.BAD_DEBT) == [[Ev.BAD_DEBT, alice, 51 * U]]
    assert len(events(journal, Ev.LIQUIDATION)) == 1
    assert v.liquidation is not None and v.liquidation.stats.bad_debt == 51 * U
    check(v, journal)


def test_the_fund_pays_from_its_equity_not_its_cash() -> None:
    """A fund of 1,000 USDC takes over alice's 0.1 BTC at 19,000 (equity -100): it pays 1,900 of
    cash for the position, leaving -900 of cash but 1,000 of equity, and covers her 100 from
    that. Judged on its cash it would have covered nothing and left bad debt."""
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    journal = JournalWriter()
    v = Venue(VenueConfig((USDC,), (btc,), margin=margin, liquidation=preset("teaching")), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "1000")
    for name, amount in (("alice", "1000"), ("bob", "100000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    v.submit(1, "bob", P, Side.SELL, 100, 30_000)
    v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC)
    v.set_mark_price(2, P, 19_000)
    assert size(v, "alice") == 0 and balance(v, "alice") == 0
    assert balance(v, INSURANCE_ACCOUNT) == (1_000 - 1_900 - 100) * U and size(v, INSURANCE_ACCOUNT) == 100
    assert events(journal, Ev.BAD_DEBT) == []
    check(v, journal)
