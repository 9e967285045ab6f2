"""Portfolio-margined accounts at the venue: the per-fill gate, liquidation, dynamic margin.

Market used throughout: BTC-PERP and BTC-FUT (a dated future), tick 1 USDC, lot 0.001 BTC, so
one tick on one lot is 1,000 USDC atoms; no trading fees. Cross brackets: one band, maintenance
5%, initial 10%. Portfolio rules: a stress grid on BTC with a 10% scan range in 3 steps, extreme
moves of 2 x 10% counted at 35% (0.7 x 10% = 7% < 10%, so the scan range decides), a floor of
1% of gross notional, maintenance 50% of initial. Liquidation: the teaching preset (the fund,
10,000 USDC, takes over).

Hand-checked numbers:

- Hedged pair: long 1 BTC perpetual and short 1 BTC future at 30,000. Cross: 10% of 30,000 per
  leg, 6,000 USDC initial. Portfolio: the BTC exposure is 30,000 - 30,000 = 0, so every stress
  scenario loses 0 and the floor decides: 1% x 60,000 gross = 600 USDC initial, 300 maintenance.
- One long of 0.1 BTC (100 lots) at 30,000: exposure 3,000 USDC; the worst loss is 10% of it,
  300 USDC (the floor, 30, is lower): initial 300, maintenance 150. At a mark m the account
  with 300 USDC has equity 300 + 0.1 (m - 30,000) and maintenance 0.005 m: it falls below when
  0.095 m < 2,700, i.e. m < 28,421.05...: 28,422 leaves it (142.2 >= 142.11), 28,421 does not
  (142.1 < 142.105).
- Dynamic margin at 2.5x: scan range 25%, so the long above needs 750 initial and 375
  maintenance, and a cross account with the same position (maintenance 5% -> 12.5%: 375) too.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.liquidation.engine import INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.dynamic import DynamicMargin
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.orders import Reason, Side, TimeInForce
from exchange_sim.replay import replay
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
U = 1_000_000
S = 1_000_000
P, F = "BTC-PERP", "BTC-FUT"
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
GRID = StressGrid(("BTC",), (100_000,))
RULES = PortfolioRules(("BTC",), "stress", grid=GRID, floor_ppm_of_gross=10_000)


def make_venue(
    journal: JournalWriter | None = None,
    *,
    rules: PortfolioRules | None = RULES,
    dynamic: DynamicMargin | None = None,
    liquidation: bool = True,
) -> Venue:
    common = {"underlying": "BTC", "settlement": USDC, "tick_size": "1", "lot_size": "0.001"}
    perp = Instrument.create(P, kind="perpetual", **common)  # type: ignore[arg-type]
    fut = Instrument.create(F, kind="future", expiry_us=10**15, **common)  # type: ignore[arg-type]
    margin = MarginConfig("USDC", ((P, SCHEDULE), (F, SCHEDULE)), portfolio=rules, dynamic=dynamic)
    config = VenueConfig(
        (USDC,), (perp, fut), margin=margin, liquidation=preset("teaching") if liquidation else None
    )
    v = Venue(config, journal=journal)
    if liquidation:
        v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    v.open_account(0, "mm")
    v.deposit(0, "mm", "USDC", "1000000")
    v.set_mark_price(0, P, 30_000)
    v.set_mark_price(0, F, 30_000)
    return v


def open_with(v: Venue, name: str, mode: str, usdc: str) -> None:
    assert v.open_account(0, name, mode).ok
    assert v.deposit(0, name, "USDC", usdc).ok


def size(v: Venue, name: str, symbol: str = P) -> int:
    position = v.ledger.accounts[name].positions.get(symbol)
    return position.size if position else 0


def buy_long(v: Venue, name: str, lots: int = 100, ts: int = 1) -> bool:
    """``name`` buys ``lots`` of the perpetual at 30,000 from the market maker."""
    assert v.submit(ts, "mm", P, Side.SELL, lots, 30_000).resting
    result = v.submit(ts, name, P, Side.BUY, lots, 30_000, tif=TimeInForce.IOC)
    v.cancel(ts, "mm", result.order_id - 1)
    return bool(result.fills)


def codes(journal: JournalWriter, code: Ev) -> list[list[object]]:
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    return [r for r in records if r[0] == code]


def check(v: Venue, journal: JournalWriter | None = None) -> None:
    v._check()  # conservation, the gate's caches, the scan against the ledger
    if journal is not None:
        journal.flush()
        assert replay(bytes(journal._memory or b"")).ok


# opening positions ----------------------------------------------------------------------------


def test_a_hedged_pair_needs_the_floor_under_portfolio_margin_and_both_legs_under_cross() -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "hedger", "portfolio", "700")
    open_with(v, "crosser", "cross", "700")
    assert v.margin_mode("hedger") == "portfolio" and v.margin_mode("crosser") == "cross"
    assert v.submit(1, "mm", P, Side.SELL, 2_000, 30_000).resting
    assert v.submit(1, "mm", F, Side.BUY, 2_000, 30_000).resting
    legs = [(P, Side.BUY, 1_000, 30_000), (F, Side.SELL, 1_000, 30_000)]
    assert v.submit_legs(2, "crosser", legs).reason is Reason.TAKER_RISK_REFUSED  # needs 6,000
    assert v.submit_legs(2, "hedger", legs).accepted  # needs 600
    assert (size(v, "hedger", P), size(v, "hedger", F)) == (1_000, -1_000)
    gate = v.gate
    assert gate.model("hedger").totals(  # type: ignore[attr-defined]
        v.ledger.accounts["hedger"].balances, {P: 1_000, F: -1_000}, {P: 30_000, F: 30_000}, {}
    ) == (700 * U, 600 * U, 300 * U)
    assert gate.available("hedger") == 100 * U  # type: ignore[attr-defined]
    # one more BTC, unhedged, would need 10% of 30,000 = 3,000: refused
    assert not v.submit(3, "hedger", P, Side.BUY, 1_000, 30_000, tif=TimeInForce.IOC).fills
    check(v, journal)


def test_the_gate_accepts_equity_equal_to_the_requirement_and_refuses_one_atom_less() -> None:
    v = make_venue()
    open_with(v, "exact", "portfolio", "300")
    open_with(v, "short_by_one", "portfolio", "299.999999")
    assert buy_long(v, "exact")  # initial 300 USDC, equity 300
    assert not buy_long(v, "short_by_one", ts=2)
    assert size(v, "exact") == 100 and size(v, "short_by_one") == 0
    check(v)


def test_a_portfolio_account_may_reduce_risk_below_initial_margin() -> None:
    v = make_venue()
    open_with(v, "long", "portfolio", "300")
    assert buy_long(v, "long")
    v.set_mark_price(2, P, 28_500)  # equity 150, initial 285, maintenance 142.5: healthy, below initial
    assert v.submit(3, "mm", P, Side.BUY, 50, 28_500).resting
    assert v.submit(3, "long", P, Side.SELL, 50, 28_500, tif=TimeInForce.IOC).fills  # halves the risk
    assert size(v, "long") == 50
    assert v.submit(4, "mm", P, Side.SELL, 10, 28_500).resting
    assert not v.submit(4, "long", P, Side.BUY, 10, 28_500, tif=TimeInForce.IOC).fills  # adds risk
    check(v)


def test_portfolio_mode_needs_portfolio_rules() -> None:
    v = make_venue(rules=None)
    assert v.open_account(0, "p", "portfolio").reason is Reason.INVALID_MARGIN_MODE
    assert "p" not in v.ledger.accounts


def test_withdrawals_leave_a_portfolio_account_at_its_initial_requirement() -> None:
    v = make_venue()
    open_with(v, "long", "portfolio", "400")
    assert buy_long(v, "long")  # initial 300
    assert v.withdraw(2, "long", "USDC", "100.000001").reason is Reason.WITHDRAWAL_BREACHES_MARGIN
    assert v.withdraw(2, "long", "USDC", "100").ok
    check(v)


def test_value_at_risk_rules_charge_the_closed_form() -> None:
    rules = PortfolioRules(("BTC",), "var", covariance=[[0.64]])  # 80% a year, 99%, one day
    v = make_venue(rules=rules)
    open_with(v, "p", "portfolio", "3000")
    assert buy_long(v, "p", lots=1_000)  # 1 BTC: 30,000 USDC; VaR 2,922.398711 USDC (docs)
    assert v.gate.available("p") == 3_000 * U - 2_922_398_711  # type: ignore[attr-defined]
    check(v)


# liquidation ----------------------------------------------------------------------------------


def test_a_portfolio_account_is_liquidated_below_its_portfolio_maintenance() -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "long", "portfolio", "300")
    assert buy_long(v, "long")
    v.set_mark_price(2, P, 28_422)  # equity 142.2 >= maintenance 142.11
    assert codes(journal, Ev.LIQUIDATION) == []
    v.set_mark_price(3, P, 28_421)  # equity 142.1 < maintenance 142.105
    index = v.ledger.accounts["long"].index
    assert codes(journal, Ev.LIQUIDATION) == [[Ev.LIQUIDATION, index, 142_100_000, 142_105_000]]
    assert size(v, "long") == 0  # the fund took the position
    assert size(v, INSURANCE_ACCOUNT) == 100
    check(v, journal)


def test_a_basis_move_beyond_the_floor_liquidates_a_hedged_pair() -> None:
    """Portfolio margin prices no basis risk beyond the floor: the future's mark 400 above the
    perpetual's costs the short future 400 USDC, leaving 200 against a maintenance of 50% x
    max(stress of the -400 exposure = 40, floor 1% x 60,400 = 604) = 302."""
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "hedger", "portfolio", "600")
    assert v.submit(1, "mm", P, Side.SELL, 1_000, 30_000).resting
    assert v.submit(1, "mm", F, Side.BUY, 1_000, 30_000).resting
    assert v.submit_legs(2, "hedger", [(P, Side.BUY, 1_000, 30_000), (F, Side.SELL, 1_000, 30_000)]).accepted
    for mark in range(29_900, 26_999, -100):  # a 10% crash of both legs, 100 at a time: no loss
        v.set_mark_price(3, P, mark)
        v.set_mark_price(3, F, mark)
    assert codes(journal, Ev.LIQUIDATION) == []
    v.set_mark_price(4, P, 30_000)
    v.set_mark_price(4, F, 30_400)
    index = v.ledger.accounts["hedger"].index
    assert codes(journal, Ev.LIQUIDATION) == [[Ev.LIQUIDATION, index, 200 * U, 302 * U]]
    check(v, journal)


def test_the_restore_rule_closes_the_fewest_lots_of_a_portfolio_account() -> None:
    """binance rules with the partial rule "restore". pair deposits 150 USDC and opens long 100
    lots of the perpetual and short 50 of the future at 30,000: exposure 1,500 USDC, gross 4,500,
    initial max(10% x 1,500, 1% x 4,500) = 150. Both marks at 28,400: equity 150 - 0.05 x 1,600
    = 70; exposure 28.4 x 50 = 1,420, so maintenance 0.5 x 142 = 71: liquidated. The perpetual
    goes first (largest bracket maintenance). Without it, the short future alone needs the same
    71, so closing the perpetual frees nothing at its end and its worst price is the mark.
    Closing k lots at 28,400 keeps equity at 70 and leaves exposure 28.4 x (50 - k), so
    maintenance 0.5 x max(2.84 x |50 - k|, 0.284 x (100 - k) + 14.2): 69.58 for k = 1."""
    rules = replace(preset("binance"), partial="restore")
    journal = JournalWriter()
    common = {"underlying": "BTC", "settlement": USDC, "tick_size": "1", "lot_size": "0.001"}
    perp = Instrument.create(P, kind="perpetual", **common)  # type: ignore[arg-type]
    fut = Instrument.create(F, kind="future", expiry_us=10**15, **common)  # type: ignore[arg-type]
    margin = MarginConfig("USDC", ((P, SCHEDULE), (F, SCHEDULE)), portfolio=RULES)
    v = Venue(VenueConfig((USDC,), (perp, fut), margin=margin, liquidation=rules), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    v.open_account(0, "mm")
    v.deposit(0, "mm", "USDC", "1000000")
    v.set_mark_price(0, P, 30_000)
    v.set_mark_price(0, F, 30_000)
    open_with(v, "pair", "portfolio", "150")
    assert v.submit(1, "mm", P, Side.SELL, 100, 30_000).resting
    assert v.submit(1, "mm", F, Side.BUY, 50, 30_000).resting
    assert v.submit_legs(1, "pair", [(P, Side.BUY, 100, 30_000), (F, Side.SELL, 50, 30_000)]).accepted
    assert v.submit(2, "mm", P, Side.BUY, 1_000, 28_400).resting
    v.set_mark_price(3, F, 28_400)
    v.set_mark_price(3, P, 28_400)
    index = v.ledger.accounts["pair"].index
    assert codes(journal, Ev.LIQUIDATION) == [[Ev.LIQUIDATION, index, 70 * U, 71 * U]]
    assert [r[4:] for r in codes(journal, Ev.LIQ_ORDER)] == [[Side.SELL, 1, 28_400]]
    assert codes(journal, Ev.LIQUIDATION_END) == [[Ev.LIQUIDATION_END, index, 0, 70 * U, 69_580_000]]
    assert (size(v, "pair", P), size(v, "pair", F)) == (99, -50)
    check(v, journal)


# dynamic margin -------------------------------------------------------------------------------


def test_a_rate_change_liquidates_portfolio_and_cross_accounts_and_conserves_money() -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "p", "portfolio", "300")
    open_with(v, "c", "cross", "300")
    assert buy_long(v, "p") and buy_long(v, "c", ts=2)
    assert v.set_margin_rates(3, {"BTC": 1_200_000}).ok  # 1.2x: maintenance 180 <= 300, initial 360
    assert codes(journal, Ev.LIQUIDATION) == []
    assert v.gate.available("p") == -60 * U and v.gate.available("c") == -60 * U  # type: ignore[attr-defined]
    assert v.set_margin_rates(4, {"BTC": 2_500_000}).ok  # 2.5x: maintenance 375 > 300
    liquidated = {r[1] for r in codes(journal, Ev.LIQUIDATION)}
    assert liquidated == {v.ledger.accounts["p"].index, v.ledger.accounts["c"].index}
    for record in codes(journal, Ev.LIQUIDATION):
        assert record[2:] == [300 * U, 375 * U]
    assert size(v, "p") == 0 and size(v, "c") == 0
    assert v.margin_scales == {"BTC": 2_500_000}
    check(v, journal)


def test_a_rate_change_liquidates_an_isolated_position_and_keeps_reservations_consistent() -> None:
    """Isolated: the position's sub-account holds the 300 USDC its opening fill topped up
    (initial 10% of 3,000); at 2.5x its maintenance is 375: liquidated alone. A resting order's
    reservation (the reserve placement policy) is priced at the new rates too (and
    ``Venue._check`` recomputes every cached one)."""
    journal = JournalWriter()
    common = {"underlying": "BTC", "settlement": USDC, "tick_size": "1", "lot_size": "0.001"}
    perp = Instrument.create(P, kind="perpetual", **common)  # type: ignore[arg-type]
    margin = MarginConfig("USDC", ((P, SCHEDULE),), placement="reserve")
    v = Venue(VenueConfig((USDC,), (perp,), margin=margin, liquidation=preset("teaching")), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    v.open_account(0, "mm")
    v.deposit(0, "mm", "USDC", "1000000")
    v.set_mark_price(0, P, 30_000)
    open_with(v, "iso", "isolated", "400")
    open_with(v, "rich", "cross", "10000")
    assert buy_long(v, "iso")
    assert v.submit(2, "rich", P, Side.BUY, 10, 25_000).resting  # reserves 10% of 250 = 25
    assert v.gate.reserved("rich") == 25 * U  # type: ignore[attr-defined]
    assert v.set_margin_rates(3, {"BTC": 2_500_000}).ok
    assert [r[1] for r in codes(journal, Ev.LIQUIDATION)] == [v.ledger.accounts["iso/BTC-PERP"].index]
    assert v.gate.reserved("rich") == 62_500_000  # type: ignore[attr-defined]  # 25% of 250
    check(v, journal)


def test_a_grace_period_delays_the_liquidation_a_rate_change_causes() -> None:
    dynamic = DynamicMargin(3_600 * S, (("BTC", 800_000),), grace_us=60 * S)
    journal = JournalWriter()
    v = make_venue(journal, dynamic=dynamic)
    open_with(v, "p", "portfolio", "300")
    assert buy_long(v, "p")
    assert v.set_margin_rates(10 * S, {"BTC": 2_500_000}).ok
    v.set_mark_price(69 * S, P, 30_001)
    assert codes(journal, Ev.LIQUIDATION) == []  # within the grace
    v.set_mark_price(70 * S, P, 30_000)
    assert [r[1] for r in codes(journal, Ev.LIQUIDATION)] == [v.ledger.accounts["p"].index]
    check(v, journal)


@pytest.mark.parametrize(
    ("scales", "covariance"),
    [
        ({"DOGE": 2_000_000}, None),  # not an underlying of a margined contract
        ({"BTC": 0}, None),
        ({"BTC": 100_000_001}, None),
        ({"BTC": 1.5}, None),
        ([["BTC"]], None),
        ([[["BTC"], 2_000_000]], None),  # an unhashable name
        ({"BTC": Decimal("2")}, None),  # not an integer (journaled as its text)
        ({"BTC": 2_000_000}, [[0.5]]),  # a covariance for stress rules
    ],
)
def test_invalid_margin_rates_are_refused_and_change_nothing(scales: object, covariance: object) -> None:
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "p", "portfolio", "300")
    assert buy_long(v, "p")
    before = v.gate.available("p")  # type: ignore[attr-defined]
    result = v.set_margin_rates(2, scales, covariance)  # type: ignore[arg-type]
    assert result.reason is Reason.INVALID_MARGIN_RATES
    assert v.margin_scales == {} and v.gate.available("p") == before  # type: ignore[attr-defined]
    assert codes(journal, Ev.MARGIN_RATES)[-1][0] == Ev.MARGIN_RATES  # journaled as it arrived
    check(v, journal)


def test_a_covariance_must_be_positive_semidefinite_for_var_rules() -> None:
    rules = PortfolioRules(("BTC",), "var", covariance=[[0.64]])
    v = make_venue(rules=rules)
    assert v.set_margin_rates(1, {}, [[-0.1]]).reason is Reason.INVALID_MARGIN_RATES
    assert v.set_margin_rates(1, {}, [[0.25]]).ok
    assert v.margin_covariance == ((0.25,),)
    assert v.gate.portfolio.rules.covariance == ((0.25,),)  # type: ignore[attr-defined]


def test_margin_rates_need_margin_rules() -> None:
    perp = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    v = Venue(VenueConfig((USDC,), (perp,)))
    assert v.set_margin_rates(1, {"BTC": 2_000_000}).reason is Reason.MARGIN_NOT_CONFIGURED


def _scripted_run() -> bytes:
    journal = JournalWriter()
    v = make_venue(journal)
    open_with(v, "p", "portfolio", "400")
    open_with(v, "c", "cross", "400")
    assert buy_long(v, "p") and buy_long(v, "c", ts=2)
    for ts, (mark, scale) in enumerate([(29_500, 1_500_000), (29_000, 1_000_000), (28_800, 2_000_000)], 3):
        v.set_mark_price(ts, P, mark)
        v.set_margin_rates(ts, {"BTC": scale})
        v._check()
    journal.flush()
    return bytes(journal._memory or b"")


def test_the_same_inputs_give_the_same_journal_and_replay_rebuilds_it() -> None:
    first, second = _scripted_run(), _scripted_run()
    assert first == second
    assert replay(first).ok


def test_explain_gives_a_portfolio_account_its_portfolio_requirements_and_liquidation_price() -> None:
    """A 20% scan range: 0.1 BTC at 30,000 needs 600 initial and 300 maintenance (its brackets
    alone: 300 and 150). With 600 USDC, equity 600 + 0.1 (m - 30,000) falls below 0.01 m when
    0.09 m < 2,400: from 26,666 (cross would say 25,263, where 0.095 m < 2,400)."""
    from exchange_sim.margin.explain import explain

    v = make_venue(rules=PortfolioRules(("BTC",), "stress", grid=StressGrid(("BTC",), (200_000,))))
    open_with(v, "long", "portfolio", "600")
    assert buy_long(v, "long")
    e = explain(v, "long")
    assert e.mode == "portfolio"
    assert (e.equity, e.initial, e.maintenance) == (600 * U, 600 * U, 300 * U)
    (position,) = e.positions
    assert (position.initial, position.maintenance) == (300 * U, 150 * U)  # its brackets, alone
    assert position.liquidation_price == 26_666


# historical VaR -------------------------------------------------------------------------------


def test_historical_var_rules_charge_the_windows_loss_once_a_window_arrives() -> None:
    """Historical VaR at a confidence of 500,001 ppm over three moves allows k = floor(3 x
    499,999 / 1,000,000) = 1 loss above it: the 2nd worst. Long 1 BTC (30,000 USDC) over moves
    -12.5%, -25% and +6.25% loses 3,750, 7,500 and -1,875: VaR 3,750 USDC. Before a window the
    rules charge the parametric VaR of their covariance (80%, one day at 50.0001%: about 0)."""
    rules = PortfolioRules(
        ("BTC",), "var", covariance=[[0.64]], confidence_ppm=500_001, var_model="historical"
    )
    journal = JournalWriter()
    v = make_venue(journal, rules=rules)
    open_with(v, "p", "portfolio", "5000")
    assert buy_long(v, "p", lots=1_000)
    parametric = rules.initial([30_000 * U])
    assert v.gate.available("p") == 5_000 * U - parametric  # type: ignore[attr-defined]
    assert v.set_margin_rates(2, {}, None, [[-0.125], [-0.25], [0.0625]]).ok
    assert v.margin_returns == ((-0.125,), (-0.25,), (0.0625,))
    assert v.gate.available("p") == 5_000 * U - 3_750 * U  # type: ignore[attr-defined]
    assert v.set_margin_rates(3, {}, None, [[-1.0]]).reason is Reason.INVALID_MARGIN_RATES  # a 100% fall
    assert v.set_margin_rates(3, {}, None, [[-0.1, 0.1]]).reason is Reason.INVALID_MARGIN_RATES  # 2 columns
    check(v, journal)


def test_a_returns_window_needs_historical_var_rules() -> None:
    v = make_venue()
    assert v.set_margin_rates(1, {}, None, [[0.1]]).reason is Reason.INVALID_MARGIN_RATES
