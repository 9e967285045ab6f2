"""Tests for the scenario tables of portfolio and dynamic margin (exchange_sim.scenario_portfolio).

Behaviours verified:

* A complete ``[margin.portfolio]`` / ``[margin.dynamic]`` loads into exactly the
  ``PortfolioRules`` and ``DynamicMargin`` built by hand, the VaR covariance included (each entry
  the float nearest ``sigma_i x sigma_j x rho_ij``: 0.8 x 0.9 x 0.8 is the float 0.576), and
  survives the journal round trip (``VenueConfig.from_dict``).
* Defaults: method ``"stress"``, the underlyings of the margined contracts in listing order, the
  validators' defaults for every key not set, the identity correlation for VaR, a one-day horizon.
* Every mistake is a ScenarioError with the exact field path and an expectation phrase: unknown
  keys, keys the method does not take, wrong types, floats, out-of-range values (the validators'
  rules, pointed at the key or the per-underlying entry they are about), a default that breaks a
  rule with a set value, missing required tables and entries, underlyings not covered or not of
  a margined contract, a dynamic underlying no margined contract has, placement ``"reserve"``
  with portfolio rules, ``mode`` / ``margin_mode = "portfolio"`` without ``[margin.portfolio]``.
* A scenario with portfolio rules builds a Simulation whose venue opens portfolio accounts.
* ``exchange-sim validate`` lists the rules; the example of docs/scenario-format.md loads.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from exchange_sim.cli import main
from exchange_sim.config import VenueConfig
from exchange_sim.margin.dynamic import DynamicMargin
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.scenario import Scenario, ScenarioError, loads_scenario
from exchange_sim.scenario_portfolio import covariance_of
from exchange_sim.sim import Simulation

HEAD = """\
[scenario]
name = "pm"

[[assets]]
symbol = "USDC"
decimals = 6

[[instruments]]
symbol = "BTC-PERP"
kind = "perpetual"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.5"
lot_size = "0.001"
brackets = [{ floor = "0", maintenance_ppm = 4000, initial_ppm = 10000 }]

[[instruments]]
symbol = "ETH-PERP"
kind = "perpetual"
underlying = "ETH"
settlement_asset = "USDC"
tick_size = "0.05"
lot_size = "0.01"
brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 12000 }]
"""

MARGIN = '[margin]\nsettlement_asset = "USDC"\n'

PORTFOLIO = {
    "method": '"max"',
    "underlyings": '["BTC", "ETH"]',
    "scan_ppm": "{ BTC = 100000, ETH = 150000 }",
    "steps": "4",
    "extreme_multiple": "3",
    "extreme_weight_ppm": "300000",
    "correlation": '[["1", "0.8"], ["0.8", "1"]]',
    "principal": "false",
    "joint_draws": "16",
    "draw_seed": "7",
    "volatility_ppm": "{ BTC = 800000, ETH = 900000 }",
    "confidence_ppm": "975000",
    "horizon": '"3600"',
    "floor_ppm_of_gross": "10000",
    "maintenance_ppm_of_initial": "800000",
}

DYNAMIC = {
    "interval": '"60"',
    "reference_vol_ppm": "{ BTC = 800000, ETH = 900000 }",
    "window": "50",
    "lam_ppm": "970000",
    "floor_ppm": "900000",
    "cap_ppm": "2000000",
    "quantum_ppm": "50000",
    "grace": '"30.5"',
}


def toml_table(header: str, fields: dict[str, str | None]) -> str:
    """A TOML table from raw TOML values; a None value drops the key."""
    return header + "\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


def scenario(
    portfolio: dict[str, str | None] | None = None,
    dynamic: dict[str, str | None] | None = None,
    *,
    margin: str = "",
    extra: str = "",
    head: str = HEAD,
) -> str:
    """HEAD, ``[margin]`` (plus ``margin`` lines), the two sub-tables when given, then ``extra``."""
    text = head + "\n" + MARGIN + margin
    if portfolio is not None:
        text += toml_table("[margin.portfolio]", portfolio)
    if dynamic is not None:
        text += toml_table("[margin.dynamic]", dynamic)
    return text + extra


def with_(base: dict[str, str | None], **changes: str | None) -> dict[str, str | None]:
    out = dict(base)
    out.update(changes)
    return out


def load(text: str) -> Scenario:
    return loads_scenario(text, "pm.toml")


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(text)
    assert str(info.value).startswith("pm.toml: ")
    return info.value


# round trip ------------------------------------------------------------------------------------


def test_full_tables_load_into_the_rules_built_by_hand() -> None:
    loaded = load(scenario(PORTFOLIO, DYNAMIC, margin='mode = "portfolio"\nplacement = "check"\n'))
    margin = loaded.venue.margin
    assert margin is not None
    assert (margin.mode, margin.placement) == ("portfolio", "check")
    rho = ((Fraction(1), Fraction(4, 5)), (Fraction(4, 5), Fraction(1)))
    grid = StressGrid(
        ("BTC", "ETH"),
        (100_000, 150_000),
        steps=4,
        extreme_multiple=3,
        extreme_weight_ppm=300_000,
        correlation=rho,
        principal=False,
        joint_draws=16,
        seed=7,
    )
    assert margin.portfolio == PortfolioRules(
        ("BTC", "ETH"),
        "max",
        grid=grid,
        covariance=((0.64, 0.576), (0.576, 0.81)),  # 0.8², 0.8 x 0.9 x 0.8, 0.9²: the nearest floats
        confidence_ppm=975_000,
        horizon_us=3_600_000_000,
        floor_ppm_of_gross=10_000,
        maintenance_ppm_of_initial=800_000,
    )
    assert margin.portfolio.covariance[0][1] == 0.576  # not 0.8 * 0.9 * 0.8 in float arithmetic
    assert margin.portfolio.grid is not None and margin.portfolio.grid.correlation == rho
    assert margin.dynamic == DynamicMargin(
        60_000_000,
        (("BTC", 800_000), ("ETH", 900_000)),
        window=50,
        lam_ppm=970_000,
        floor_ppm=900_000,
        cap_ppm=2_000_000,
        quantum_ppm=50_000,
        grace_us=30_500_000,
    )
    assert VenueConfig.from_dict(loaded.venue.to_dict()) == loaded.venue


def test_covariance_is_the_nearest_float_of_the_exact_product() -> None:
    rho = ((Fraction(1), Fraction(-1, 2)), (Fraction(-1, 2), Fraction(1)))
    assert covariance_of((800_000, 900_000), rho) == ((0.64, -0.36), (-0.36, 0.81))
    assert covariance_of((100_000, 300_000), None) == ((0.01, 0.0), (0.0, 0.09))
    assert covariance_of((800_000,), None) == ((0.64,),)


def test_defaults() -> None:
    # ETH listed first: the default underlyings follow the instruments' listing order
    eth_first = HEAD.replace('"BTC-PERP"', '"X"').replace('"ETH-PERP"', '"BTC-PERP"')
    eth_first = eth_first.replace('underlying = "BTC"', 'underlying = "TMP"')
    eth_first = eth_first.replace('underlying = "ETH"', 'underlying = "BTC"').replace('"TMP"', '"ETH"')
    margin = load(scenario({"scan_ppm": "{ BTC = 100000, ETH = 150000 }"}, head=eth_first)).venue.margin
    assert margin is not None
    assert margin.mode == "cross"
    assert margin.portfolio == PortfolioRules(
        ("ETH", "BTC"), "stress", grid=StressGrid(("ETH", "BTC"), (150_000, 100_000))
    )
    assert margin.dynamic is None

    margin = load(
        scenario({"method": '"var"', "volatility_ppm": "{ BTC = 800000, ETH = 900000 }"})
    ).venue.margin
    assert margin is not None
    assert margin.portfolio == PortfolioRules(("BTC", "ETH"), "var", covariance=((0.64, 0.0), (0.0, 0.81)))
    assert (margin.portfolio.confidence_ppm, margin.portfolio.horizon_us) == (990_000, 86_400_000_000)
    assert margin.portfolio.grid is None

    dynamic = load(scenario(None, {"interval": "60", "reference_vol_ppm": "{ ETH = 900000 }"})).venue.margin
    assert dynamic is not None
    assert dynamic.portfolio is None
    assert dynamic.dynamic == DynamicMargin(60_000_000, (("ETH", 900_000),))


def test_spot_and_other_settlement_contracts_are_not_margined_underlyings() -> None:
    head = HEAD + (
        '[[assets]]\nsymbol = "SOL"\ndecimals = 9\n[[assets]]\nsymbol = "USDT"\ndecimals = 6\n'
        '[[instruments]]\nsymbol = "SOL-USDC"\nkind = "spot"\nunderlying = "SOL"\n'
        'settlement_asset = "USDC"\ntick_size = "0.01"\nlot_size = "0.1"\n'
        '[[instruments]]\nsymbol = "DOGE-PERP"\nkind = "perpetual"\nunderlying = "DOGE"\n'
        'settlement_asset = "USDT"\ntick_size = "0.0001"\nlot_size = "1"\n'
    )
    margin = load(scenario({"scan_ppm": "{ BTC = 100000, ETH = 150000 }"}, head=head)).venue.margin
    assert margin is not None and margin.portfolio is not None
    assert margin.portfolio.underlyings == ("BTC", "ETH")
    err = error(
        scenario({"underlyings": '["BTC", "ETH", "SOL"]', "scan_ppm": "{ BTC = 1, ETH = 1 }"}, head=head)
    )
    assert err.field == "margin.portfolio.underlyings[2]"
    assert "an underlying of a contract settled in USDC (BTC, ETH)" in err.expected


# errors ----------------------------------------------------------------------------------------


def _p(**changes: str | None) -> str:
    return scenario(with_(PORTFOLIO, **changes))


def _d(**changes: str | None) -> str:
    return scenario(None, with_(DYNAMIC, **changes))


ERRORS = [
    # [margin.portfolio]
    (_p(method='"cvar"'), "margin.portfolio.method", '"stress", "var", "max"'),
    (_p(scan="1"), "margin.portfolio.scan", "did you mean 'scan_ppm'?"),
    (_p(scan_ppm="{ BTC = 100000, ETH = 0 }"), "margin.portfolio.scan_ppm.ETH", "from 1 to 999999"),
    (_p(scan_ppm='{ BTC = 100000, ETH = "1" }'), "margin.portfolio.scan_ppm.ETH", "from 1 to 999999"),
    (_p(scan_ppm="{ BTC = 100000, ETH = 1000000 }"), "margin.portfolio.scan_ppm.ETH", "from 1 to 999999"),
    (_p(scan_ppm="{ BTC = 100000 }"), "margin.portfolio.scan_ppm.ETH", "(required, missing)"),
    (
        _p(scan_ppm="{ BTC = 1, ETH = 1, SOL = 1 }"),
        "margin.portfolio.scan_ppm.SOL",
        "underlying of the portfolio",
    ),
    (_p(scan_ppm="5"), "margin.portfolio.scan_ppm", "a table of scan ranges in ppm per underlying"),
    (_p(steps="0"), "margin.portfolio.steps", "from 1 to 1000"),
    (_p(steps='"3"'), "margin.portfolio.steps", "from 1 to 1000"),
    (
        _p(extreme_multiple="10"),
        "margin.portfolio.extreme_multiple",
        "extreme_multiple x scan_ppm <= 1000000",
    ),
    (
        _p(extreme_multiple=None, scan_ppm="{ BTC = 100000, ETH = 600000 }"),
        "margin.portfolio.scan_ppm.ETH",
        "the default 2",
    ),
    (_p(extreme_weight_ppm="2000000"), "margin.portfolio.extreme_weight_ppm", "from 0 to 1000000"),
    (_p(principal="1"), "margin.portfolio.principal", "true or false"),
    (_p(correlation=None), "margin.portfolio.joint_draws", "0 without a correlation"),
    (_p(draw_seed="-1"), "margin.portfolio.draw_seed", "seed >= 0"),
    (_p(correlation="[[1, 0.8], [0.8, 1]]"), "margin.portfolio.correlation[0][1]", 'write "0.8" in quotes'),
    (_p(correlation='[["1", "0.8"]]'), "margin.portfolio.correlation", "a 2 x 2 correlation matrix"),
    (_p(correlation='[["1", "0.8"], "0.8"]'), "margin.portfolio.correlation[1]", "a row of 2"),
    (_p(correlation='[["1", "0.8"], ["0.7", "1"]]'), "margin.portfolio.correlation", "not symmetric"),
    (_p(correlation='[["1", "2"], ["2", "1"]]'), "margin.portfolio.correlation", "from -1 to 1"),
    (_p(correlation='[["1", "x"], ["x", "1"]]'), "margin.portfolio.correlation[0][1]", "decimal correlation"),
    (_p(volatility_ppm="{ BTC = 800000, ETH = -1 }"), "margin.portfolio.volatility_ppm.ETH", "from 0 to"),
    (_p(volatility_ppm="{ ETH = 1 }"), "margin.portfolio.volatility_ppm.BTC", "(required, missing)"),
    (_p(confidence_ppm="400000"), "margin.portfolio.confidence_ppm", "from 500001 to 999999"),
    (_p(horizon='"0"'), "margin.portfolio.horizon", "a positive number of seconds"),
    (_p(horizon="0.5"), "margin.portfolio.horizon", 'write "0.5" in quotes'),
    (_p(horizon='"0.0000001"'), "margin.portfolio.horizon", "at most 6 decimals"),
    (_p(horizon='"4000000000"'), "margin.portfolio.horizon", "at most 100 years"),
    (_p(floor_ppm_of_gross="2000000"), "margin.portfolio.floor_ppm_of_gross", "from 0 to 1000000"),
    (_p(maintenance_ppm_of_initial="0"), "margin.portfolio.maintenance_ppm_of_initial", "from 1 to 1000000"),
    (_p(underlyings="[]"), "margin.portfolio.underlyings", "a non-empty array of unique underlyings"),
    (_p(underlyings='"BTC"'), "margin.portfolio.underlyings", "a non-empty array of unique underlyings"),
    (_p(underlyings='["BTC", "BTC", "ETH"]'), "margin.portfolio.underlyings[1]", "underlyings[0] already"),
    (_p(underlyings='["BTC", 5]'), "margin.portfolio.underlyings[1]", "a symbol"),
    (
        _p(underlyings='["BTC"]', correlation=None, joint_draws=None),
        "margin.portfolio.underlyings",
        "ETH is missing",
    ),
    (_p(underlyings='["BTC", "ETH", "SOL"]'), "margin.portfolio.underlyings[2]", "(BTC, ETH)"),
    (scenario(None, margin="portfolio = 3\n"), "margin.portfolio", "a table, written [margin.portfolio]"),
    (scenario(None, margin='mode = "portfolio"\n'), "margin.mode", "[margin.portfolio]"),
    (scenario(PORTFOLIO, margin='placement = "reserve"\n'), "margin.placement", '"fills" or "check"'),
    # [margin.dynamic]
    (_d(intervall='"1"'), "margin.dynamic.intervall", "did you mean 'interval'?"),
    (_d(interval=None), "margin.dynamic.interval", "(required, missing)"),
    (_d(interval='"0"'), "margin.dynamic.interval", "a positive number of seconds"),
    (_d(interval="60.0"), "margin.dynamic.interval", 'write "60.0" in quotes'),
    (_d(reference_vol_ppm=None), "margin.dynamic.reference_vol_ppm", "(required, missing)"),
    (_d(reference_vol_ppm="{}"), "margin.dynamic.reference_vol_ppm", "a non-empty table"),
    (_d(reference_vol_ppm="800000"), "margin.dynamic.reference_vol_ppm", "a non-empty table"),
    (_d(reference_vol_ppm="{ SOL = 800000 }"), "margin.dynamic.reference_vol_ppm.SOL", "(BTC, ETH)"),
    (_d(reference_vol_ppm="{ BTC = 1, ETH = 0 }"), "margin.dynamic.reference_vol_ppm.ETH", "from 1 to"),
    (_d(reference_vol_ppm='{ BTC = "1" }'), "margin.dynamic.reference_vol_ppm.BTC", "from 1 to"),
    (_d(window="1"), "margin.dynamic.window", "returns >= 2"),
    (_d(lam_ppm="1000000"), "margin.dynamic.lam_ppm", "from 1 to 999999"),
    (_d(floor_ppm="0"), "margin.dynamic.floor_ppm", "a scale in ppm from 1"),
    (_d(cap_ppm="800000"), "margin.dynamic.cap_ppm", "from floor_ppm"),
    (
        _d(cap_ppm=None, floor_ppm="4000000"),
        "margin.dynamic.floor_ppm",
        "at most cap_ppm (the default 3000000)",
    ),
    (_d(quantum_ppm="0"), "margin.dynamic.quantum_ppm", "from 1 to 1000000"),
    (_d(grace='"-1"'), "margin.dynamic.grace", "a number of seconds >= 0"),
    (_d(grace='"0.0000001"'), "margin.dynamic.grace", "at most 6 decimals"),
]


@pytest.mark.parametrize(("text", "field", "phrase"), ERRORS)
def test_errors_name_the_field_and_the_expectation(text: str, field: str, phrase: str) -> None:
    err = error(text)
    assert (err.field, phrase in err.expected) == (field, True), err.expected
    assert str(err).startswith(f"pm.toml: {field}: expected ")


@pytest.mark.parametrize("key", ["volatility_ppm", "confidence_ppm", "horizon"])
def test_var_keys_are_refused_with_method_stress(key: str) -> None:
    err = error(scenario({"scan_ppm": "{ BTC = 1, ETH = 1 }", key: PORTFOLIO[key]}))
    assert err.field == f"margin.portfolio.{key}"
    assert err.expected == f'no {key} with method "stress" (only methods "var" and "max" take it)'


@pytest.mark.parametrize(
    "key",
    ["scan_ppm", "steps", "extreme_multiple", "extreme_weight_ppm", "principal", "joint_draws", "draw_seed"],
)
def test_stress_keys_are_refused_with_method_var(key: str) -> None:
    err = error(
        scenario({"method": '"var"', "volatility_ppm": PORTFOLIO["volatility_ppm"], key: PORTFOLIO[key]})
    )
    assert err.field == f"margin.portfolio.{key}"
    assert err.expected == f'no {key} with method "var" (only methods "stress" and "max" take it)'


def test_the_first_key_the_method_does_not_take_is_named() -> None:
    err = error(_p(method='"stress"'))
    assert err.field == "margin.portfolio.volatility_ppm"  # the first VaR key in key order
    err = error(_p(method='"var"'))
    assert err.field == "margin.portfolio.scan_ppm"


def test_var_without_volatility() -> None:
    err = error(scenario({"method": '"var"'}))
    assert err.field == "margin.portfolio.volatility_ppm"
    assert err.expected == (
        "a table of annual volatilities in ppm per underlying, such as { BTC = 800000 }"
        ' (required with method "var", missing)'
    )
    err = error(_p(volatility_ppm=None))  # "max" needs both
    assert err.field == "margin.portfolio.volatility_ppm"
    assert 'required with method "max"' in err.expected


def test_stress_without_scan_ppm() -> None:
    err = error(scenario({"method": '"stress"'}))
    assert err.field == "margin.portfolio.scan_ppm"
    assert err.expected == (
        "a table of scan ranges in ppm per underlying, such as { BTC = 100000 }"
        ' (required with method "stress", missing)'
    )
    assert error(scenario({})).field == "margin.portfolio.scan_ppm"  # stress is the default
    err = error(_p(scan_ppm=None))
    assert (err.field, 'required with method "max"' in err.expected) == ("margin.portfolio.scan_ppm", True)


def test_a_covariance_that_rounding_makes_indefinite_is_reported_on_the_correlation() -> None:
    # exactly singular (correlation 1): sigma = 1e-6 and 3e-6 round to an indefinite float matrix
    text = scenario(
        {
            "method": '"var"',
            "volatility_ppm": "{ BTC = 1, ETH = 3 }",
            "correlation": '[["1", "1"], ["1", "1"]]',
        }
    )
    err = error(text)
    assert err.field == "margin.portfolio.correlation"
    assert "positive semi-definite once rounded to floats" in err.expected
    assert 'write "0.9999"' in err.expected
    assert load(text.replace('"1"], ["1"', '"0.9999"], ["0.9999"')).venue.margin.portfolio is not None


def test_an_underlying_not_covered() -> None:
    err = error(scenario({"underlyings": '["ETH"]', "scan_ppm": "{ ETH = 100000 }"}))
    assert err.field == "margin.portfolio.underlyings"
    assert err.expected == "every underlying of a contract settled in USDC (BTC, ETH): BTC is missing"
    assert err.got == "['ETH']"


def test_no_margined_contract_to_take_underlyings_from() -> None:
    head = '[scenario]\nname = "pm"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'
    err = error(scenario({"scan_ppm": "{ BTC = 100000 }"}, head=head))
    assert err.field == "margin.portfolio.underlyings"
    assert "no contract is settled in the margin asset USDC" in err.expected
    err = error(scenario({"underlyings": '["BTC"]', "scan_ppm": "{ BTC = 100000 }"}, head=head))
    assert (err.field, err.expected) == (
        "margin.portfolio.underlyings[0]",
        "an underlying of a contract settled in USDC (none)",
    )


def test_dynamic_naming_an_unknown_underlying() -> None:
    err = error(_d(reference_vol_ppm="{ BTC = 800000, SOL = 700000 }"))
    assert (err.field, err.expected, err.got) == (
        "margin.dynamic.reference_vol_ppm.SOL",
        "an underlying of a margined contract (BTC, ETH)",
        "'SOL'",
    )


def test_reserve_placement_with_portfolio_rules() -> None:
    err = error(scenario({"scan_ppm": "{ BTC = 1, ETH = 1 }"}, margin='placement = "reserve"\n'))
    assert err.field == "margin.placement"
    assert err.expected.startswith('"fills" or "check" with [margin.portfolio]')
    # reserve without portfolio rules, and with dynamic margin alone, is fine
    assert load(scenario(None, DYNAMIC, margin='placement = "reserve"\n')).venue.margin.placement == "reserve"


def test_mode_portfolio_needs_the_rules() -> None:
    err = error(scenario(None, margin='mode = "portfolio"\n'))
    assert err.field == "margin.mode"
    assert "[margin.portfolio]" in err.expected
    assert err.got == "'portfolio'"


ACCOUNT = '[[accounts]]\nid = "alice"\nbalances = { USDC = "10000" }\nmargin_mode = "portfolio"\n'


def test_account_margin_mode_portfolio_with_rules() -> None:
    loaded = load(scenario({"scan_ppm": "{ BTC = 1, ETH = 1 }"}, extra=ACCOUNT))
    assert loaded.accounts[0].margin_mode == "portfolio"


def test_account_margin_mode_portfolio_without_rules() -> None:
    err = error(scenario(None, extra=ACCOUNT))
    assert err.field == "accounts[0].margin_mode"
    assert "portfolio margin needs" in err.expected and "[margin.portfolio]" in err.expected
    err = error(scenario(None, DYNAMIC, extra=ACCOUNT))  # dynamic margin is not portfolio margin
    assert err.field == "accounts[0].margin_mode"
    err = error(scenario(None, extra=ACCOUNT.replace('"portfolio"', '"both"')))
    assert (err.field, err.expected) == ("accounts[0].margin_mode", 'one of "cross", "isolated", "portfolio"')


# the venue and the command line ---------------------------------------------------------------


def test_a_scenario_with_portfolio_rules_builds_a_venue_with_portfolio_accounts() -> None:
    accounts = (
        ACCOUNT
        + '[[accounts]]\nid = "bob"\nbalances = { USDC = "10000" }\n'
        + '[[accounts]]\nid = "carol"\nbalances = { USDC = "10000" }\nmargin_mode = "isolated"\n'
    )
    loaded = load(scenario(PORTFOLIO, DYNAMIC, extra=accounts, margin='mode = "portfolio"\n'))
    sim = Simulation(loaded, until_us=1_000_000)
    venue = sim.venue
    assert [venue.margin_mode(a) for a in ("alice", "bob", "carol")] == ["portfolio", "portfolio", "isolated"]
    assert venue.config.margin is not None and venue.config.margin.portfolio == loaded.venue.margin.portfolio
    sim.run()


def test_validate_lists_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pm.toml"
    path.write_text(scenario(PORTFOLIO, DYNAMIC), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "  portfolio margin (default mode cross): method max; underlyings BTC, ETH; scan BTC 100000 /"
        " ETH 150000 ppm in 4 steps, extremes 3x at 300000 ppm, correlated (no principal axes, 16 draws,"
        " seed 7); VaR at 975000 ppm over 3600 s, volatility BTC 800000 / ETH 900000 ppm; floor 10000 ppm"
        " of gross; maintenance 800000 ppm of initial"
    ) in lines
    assert (
        "  dynamic margin: every 60 s, reference volatility BTC 800000 / ETH 900000 ppm, window 50,"
        " decay 970000 ppm, scale 900000 to 2000000 ppm in steps of 50000, grace 30.5 s"
    ) in lines
    path.write_text(scenario(None), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()  # nothing about rules that are not there
    assert not [line for line in lines if line.startswith(("  portfolio margin", "  dynamic margin"))]


def test_validate_reports_a_bad_table_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pm.toml"
    path.write_text(_p(scan_ppm="{ BTC = 100000, ETH = 0 }"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: margin.portfolio.scan_ppm.ETH: expected ")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_documented_example_loads() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scenario-format.md").read_text(encoding="utf-8")
    section = doc.split("### Portfolio and dynamic margin", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    loaded = loads_scenario(example, "docs/scenario-format.md")
    margin = loaded.venue.margin
    assert margin is not None and margin.portfolio is not None and margin.dynamic is not None
    assert margin.portfolio.method == "max"
    assert margin.portfolio.underlyings == ("BTC", "ETH")
    assert margin.portfolio.covariance == ((0.64, 0.576), (0.576, 0.81))
    assert margin.portfolio.grid is not None and margin.portfolio.grid.scan_ppm == (100_000, 150_000)
    assert margin.dynamic.interval_us == 3_600_000_000
    assert [a.margin_mode for a in loaded.accounts] == ["portfolio", None]
    rho = ((Fraction(1), Fraction(4, 5)), (Fraction(4, 5), Fraction(1)))
    assert margin.portfolio == PortfolioRules(
        ("BTC", "ETH"),
        "max",
        grid=StressGrid(("BTC", "ETH"), (100_000, 150_000), correlation=rho),
        covariance=((0.64, 0.576), (0.576, 0.81)),
    )
    assert margin.dynamic == DynamicMargin(3_600_000_000, (("BTC", 800_000),))
    assert "(portfolio-margin.md)" in section.split("\n### ", 1)[0]


def test_documented_validate_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scenario-format.md").read_text(encoding="utf-8")
    section = doc.split("### Portfolio and dynamic margin", 1)[1].split("\n### ", 1)[0]
    path = tmp_path / "pm.toml"
    path.write_text(section.split("```toml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    printed = [line for line in out if line.startswith(("  portfolio margin", "  dynamic margin"))]
    documented = section.split("```\n  portfolio margin", 1)[1].split("```", 1)[0]
    assert printed == ("  portfolio margin" + documented).splitlines()


def test_var_model_historical_and_a_bad_var_model() -> None:
    rules = load(_p(var_model='"historical"', horizon='"60"')).venue.margin.portfolio  # type: ignore[union-attr]
    assert (rules.var_model, rules.horizon_us, rules.returns_window) == ("historical", 60_000_000, None)
    assert load(_p()).venue.margin.portfolio.var_model == "parametric"  # type: ignore[union-attr]
    err = error(_p(var_model='"monte_carlo"'))
    assert err.field == "margin.portfolio.var_model"
    assert '"parametric", "historical"' in err.expected
    err = error(scenario({"scan_ppm": "{ BTC = 1, ETH = 1 }", "var_model": '"historical"'}))
    assert err.field == "margin.portfolio.var_model"  # a VaR key, refused with method "stress"
