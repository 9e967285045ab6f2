"""Dynamic margin: scales from realised volatility, their configuration, and the feed that sends them.

Hand-checked numbers:

- ``scale_of``: an annual volatility of 160% against a reference of 80% is 2x (2,000,000 ppm);
  50% is below the reference, so the floor (1x); 1,000% is capped at 3x; 80.01% is 1.000125x,
  rounded up to the 1% quantum: 1.01x.
- ``volatility``: log returns of +-1% a day have an EWMA variance of exactly their square
  (every weight multiplies the same 0.0001), so the annual volatility is 0.01 x sqrt(365) =
  19.105%; against a 10% reference that is 1.9105x, rounded up to 1.92x.
- The feed: BTC's index is flat at 30,000 for 20 s, then alternates 30,000 / 31,500 every second
  (log returns of +-4.879%) until 60 s, then flat again. With one-second steps that is an annual
  volatility of about 274 (27,400%): the scale hits the 3x cap at the first recompute after the
  swings begin, and falls back to 1x once the window holds only flat returns (at 80 s).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
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
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid, ewma_covariance
from exchange_sim.market_feed import MarketFeed
from exchange_sim.market_spec import IndexSpec, MarketSpec
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.prices import ScriptedPath
from exchange_sim.replay import replay
from exchange_sim.units import Asset, UnitError
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
S = 1_000_000
DAY = 86_400 * S
P = "BTC-PERP"
SCHEDULE = BracketSchedule.create([Bracket(0, 50_000, 100_000)])


def test_scale_of_follows_the_ratio_to_the_reference_within_floor_cap_and_quantum() -> None:
    dynamic = DynamicMargin(3_600 * S, (("BTC", 800_000),))
    assert dynamic.scale_of(1.6, 800_000) == 2_000_000
    assert dynamic.scale_of(0.5, 800_000) == 1_000_000
    assert dynamic.scale_of(10.0, 800_000) == 3_000_000
    assert dynamic.scale_of(0.8001, 800_000) == 1_010_000
    assert dynamic.scale_of(math.inf, 800_000) == 3_000_000
    lower = DynamicMargin(3_600 * S, (("BTC", 800_000),), floor_ppm=500_000)
    assert lower.scale_of(0.5, 800_000) == 630_000  # 0.625x, rounded up to 0.63x


def test_volatility_is_riskmetrics_ewma_annualised() -> None:
    dynamic = DynamicMargin(DAY, (("BTC", 100_000),))
    returns = [0.01, -0.01] * 30
    assert dynamic.volatility(returns, DAY) == pytest.approx(0.01 * math.sqrt(365), rel=1e-12)
    assert dynamic.scales({"BTC": returns}, DAY) == {"BTC": 1_920_000}
    assert dynamic.scales({"BTC": [0.01]}, DAY) == {}  # fewer than two returns: no estimate


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval_us": 0}, "interval_us"),
        ({"reference_vol_ppm": ()}, "reference_vol_ppm"),
        ({"reference_vol_ppm": (("BTC", 1), ("BTC", 2))}, "reference_vol_ppm"),
        ({"reference_vol_ppm": (("BTC", 0),)}, "reference_vol_ppm"),
        ({"window": 1}, "window"),
        ({"lam_ppm": 1_000_000}, "lam_ppm"),
        ({"floor_ppm": 2_000_000, "cap_ppm": 1_000_000}, "cap_ppm"),
        ({"quantum_ppm": 0}, "quantum_ppm"),
        ({"grace_us": -1}, "grace_us"),
    ],
)
def test_invalid_dynamic_margin_names_the_field(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"interval_us": S, "reference_vol_ppm": (("BTC", 800_000),), **kwargs}
    with pytest.raises(UnitError) as info:
        DynamicMargin(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field


def perp() -> Instrument:
    return Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )


def test_margin_rules_round_trip_through_the_journal_header() -> None:
    rules = PortfolioRules(
        ("BTC",),
        "max",
        grid=StressGrid(("BTC",), (100_000,), extreme_weight_ppm=0),
        covariance=[[0.64]],
        floor_ppm_of_gross=10_000,
    )
    dynamic = DynamicMargin(60 * S, (("BTC", 800_000),), window=30, grace_us=5 * S)
    config = VenueConfig(
        (USDC,), (perp(),), margin=MarginConfig("USDC", ((P, SCHEDULE),), portfolio=rules, dynamic=dynamic)
    )
    again = VenueConfig.from_dict(config.to_dict())
    assert again == config
    assert again.margin.portfolio == rules and again.margin.dynamic == dynamic  # type: ignore[union-attr]


def test_dynamic_margin_must_name_an_underlying_of_a_margined_contract() -> None:
    dynamic = DynamicMargin(60 * S, (("ETH", 800_000),))
    with pytest.raises(UnitError) as info:
        VenueConfig((USDC,), (perp(),), margin=MarginConfig("USDC", ((P, SCHEDULE),), dynamic=dynamic))
    assert info.value.field == "dynamic.reference_vol_ppm"


def swinging_index() -> ScriptedPath:
    points = [(0, "30000")]
    points += [(t * S, "31500" if t % 2 else "30000") for t in range(20, 61)]
    return ScriptedPath(tuple(points), tick_size="1")


def run_feed(rules: PortfolioRules | None = None) -> tuple[Venue, JournalWriter]:
    dynamic = DynamicMargin(10 * S, (("BTC", 800_000),), window=20)
    margin = MarginConfig("USDC", ((P, SCHEDULE),), portfolio=rules, dynamic=dynamic)
    journal = JournalWriter()
    v = Venue(VenueConfig((USDC,), (perp(),), margin=margin, liquidation=preset("teaching")), journal=journal)
    v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", "10000")
    for name, amount in (("mm", "1000000"), ("thin", "400")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    feed = MarketFeed(
        v, MarketSpec(step_us=S, indexes=(IndexSpec("BTC", swinging_index(), Fraction(1)),)), seed=1
    )
    feed.advance(0)  # the first mark
    assert v.submit(0, "mm", P, Side.SELL, 100, 30_000).resting
    assert v.submit(0, "thin", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills  # maintenance 150
    feed.advance(100 * S)
    return v, journal


def rates(journal: JournalWriter) -> list[list[object]]:
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    return [r for r in records if r[0] == Ev.MARGIN_RATES]


def test_a_volatility_spike_raises_rates_through_the_feed_and_calm_brings_them_back() -> None:
    v, journal = run_feed()
    sent = rates(journal)
    # flat until 20 s: scale 1x, nothing sent; swings from 21 s: 3x at 30 s; the last swing is
    # at 60 s, so the window of 20 one-second returns holds only zeros at 80 s: back to 1x
    assert [(r[1], r[2]) for r in sent] == [(30 * S, [["BTC", 3_000_000]]), (80 * S, [["BTC", 1_000_000]])]
    assert v.margin_scales == {"BTC": 1_000_000}
    # at 3x thin's maintenance became 15% of about 3,000: 450 > its equity of about 400 + P&L
    journal.flush()
    _, records = read_journal(bytes(journal._memory or b""))
    liquidations = [r for r in records if r[0] == Ev.LIQUIDATION]
    assert [r[1] for r in liquidations] == [v.ledger.accounts["thin"].index]
    v._check()
    assert replay(bytes(journal._memory or b"")).ok


def test_var_rules_get_the_ewma_covariance_of_the_index_returns() -> None:
    rules = PortfolioRules(("BTC",), "var", covariance=[[0.64]])
    v, journal = run_feed(rules)
    sent = rates(journal)
    # sent when the covariance changes: 0 at 10 s, the swings entering the window at 30 and 40 s
    # (from 40 s every window holds 20 returns of the same size), leaving it at 70 and 80 s
    assert [r[1] for r in sent] == [10 * S, 30 * S, 40 * S, 70 * S, 80 * S]
    up, down = math.log(31_500 / 30_000), math.log(30_000 / 31_500)  # as the feed computes them
    window = [0.0] * 10 + [up if t % 2 else down for t in range(21, 31)]  # the returns of 11 .. 30 s
    expected = ewma_covariance(np.array(window)[:, None], 0.94, step_us=S)
    assert sent[1][3] == expected.tolist()
    assert v.margin_covariance == ((0.0,),)  # calm again
    assert v.gate.portfolio.rules.covariance == ((0.0,),)  # type: ignore[attr-defined]
    v._check()
    assert replay(bytes(journal._memory or b"")).ok


def test_historical_var_rules_get_the_moves_over_the_horizon_from_the_feed() -> None:
    """Horizon 5 s with one-second steps: each row is P_t / P_(t-5) - 1. The window keeps the
    last 20 rows (the dynamic margin's window); at 100 s the index has been flat at 30,000
    since 60 s, so every move in it is 0."""
    rules = PortfolioRules(("BTC",), "var", covariance=[[0.64]], var_model="historical", horizon_us=5 * S)
    v, journal = run_feed(rules)
    sent = rates(journal)
    assert all(len(r) == 5 for r in sent)  # scales, covariance and the window, every time
    first = sent[0]
    assert first[1] == 10 * S and first[4] == [[0.0]] * 6  # 11 flat values at 10 s: 6 moves
    at_30 = next(r for r in sent if r[1] == 30 * S)
    index = [30_000] * 21 + [31_500 if t % 2 else 30_000 for t in range(21, 31)]  # values at 0 .. 30 s
    moves = [index[t] / index[t - 5] - 1.0 for t in range(5, 31)][-20:]
    assert at_30[4] == [[m] for m in moves]
    assert v.margin_returns == tuple((0.0,) for _ in range(20))
    v._check()
    assert replay(bytes(journal._memory or b"")).ok


def test_the_summary_lists_the_scale_changes_and_each_underlyings_highest_scale() -> None:
    from exchange_sim.report import summarize

    _, journal = run_feed()
    journal.flush()
    summary = summarize(bytes(journal._memory or b""))
    assert summary["dynamic_margin"] == {
        "changes": [
            {"ts": 30 * S, "scales_ppm": {"BTC": 3_000_000}},
            {"ts": 80 * S, "scales_ppm": {"BTC": 1_000_000}},
        ],
        "highest": {"BTC": {"scale_ppm": 3_000_000, "ts": 30 * S}},
    }
