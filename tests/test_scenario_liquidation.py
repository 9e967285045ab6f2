"""Tests for the scenario table ``[liquidation]`` (exchange_sim.scenario_liquidation).

Behaviours verified:

* ``rules`` names a preset; alone it gives exactly that preset at ``scenario.venue.liquidation``
  and no opening capital. Each of the four presets loads by name.
* Every override key is read with its file type and unit: booleans, preset strings, integer ppm,
  money in whole settlement units converted exactly to atoms (``"1.5"`` USDC -> 1_500_000),
  ``max_liquidations_per_step`` as an integer, ``backstop_fraction`` as a decimal or ``"2/3"``.
* An override that changes the rules renames the set ``"<preset>+custom"``; one equal to the
  preset's own value changes nothing (the name stays the preset's).
* ``insurance_fund`` and ``backstop_vault`` are read into ``Scenario.liquidation_capital`` as
  ``(("@insurance", atoms), ("@backstop", atoms))``, non-zero amounts only, in that order; a
  vault only with ``takeover = "backstop"`` (a preset's or an override's).
* Every mistake is a ScenarioError naming the file, the field (``liquidation.fee_ppm``) and the
  expectation: no ``[margin]``, a missing or unknown preset (the presets listed), unknown keys,
  floats, wrong types, bad preset strings, ``name`` / ``version``, a vault without a backstop,
  bad fractions, sub-atom and negative amounts, and every RuleSet rule (its UnitError pointed at
  ``liquidation.<field>``).
* ``exchange-sim validate`` prints one liquidation line, with the overrides written as in the file.
* A loaded scenario builds a Venue whose liquidation engine runs the rule set, capitalised by
  depositing ``liquidation_capital``; the configuration round-trips through the journal header.
"""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import pytest

from exchange_sim.cli import main
from exchange_sim.config import VenueConfig
from exchange_sim.liquidation.rules import PRESETS, RuleSet, preset
from exchange_sim.scenario import Scenario, ScenarioError, loads_scenario
from exchange_sim.scenario_liquidation import KEYS, OVERRIDABLE, overrides
from exchange_sim.venue import Venue

HEADER = """
[scenario]
name = "liquidation"

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
brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 10000 }]
"""

MARGIN = """
[margin]
settlement_asset = "USDC"
"""

SOURCE = "liq.toml"


def load(liquidation: str) -> Scenario:
    return loads_scenario(HEADER + MARGIN + "\n[liquidation]\n" + liquidation, SOURCE)


def error(liquidation: str) -> ScenarioError:
    return loads_scenario_error(HEADER + MARGIN + "\n[liquidation]\n" + liquidation)


def loads_scenario_error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, SOURCE)
    assert info.value.source == SOURCE
    return info.value


# reading ----------------------------------------------------------------------------------------


def test_a_preset_alone_is_the_preset_without_capital() -> None:
    scenario = load('rules = "binance"\n')
    assert scenario.venue.liquidation is PRESETS["binance"]
    assert scenario.venue.liquidation.name == "binance"
    assert scenario.liquidation_capital == ()


def test_without_the_table_there_are_no_rules() -> None:
    scenario = loads_scenario(HEADER + MARGIN)
    assert scenario.venue.liquidation is None
    assert scenario.liquidation_capital == ()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_loads_by_name(name: str) -> None:
    assert load(f'rules = "{name}"\n').venue.liquidation == PRESETS[name]


def test_every_key_is_read_with_its_unit() -> None:
    scenario = load(
        """
rules = "binance"
insurance_fund = "100000"
backstop_vault = "50000.5"
cancel_orders = false
through_book = false
surplus_to_fund = false
socialize = true
gate_withdrawals = true
partial = "fraction"
worst_price = "fillable"
takeover = "backstop"
adl = "pro_rata"
position_order = "most_liquid"
partial_ppm = 200000
bankruptcy_adjustment_ppm = 500000
fee_ppm = 15000
partial_min_notional = "1.5"
max_notional_per_step = 2000
max_fund_loss_per_step = "0.000001"
max_liquidations_per_step = 3
backstop_fraction = "0.6667"
"""
    )
    assert scenario.venue.liquidation == RuleSet(
        "binance+custom",
        version=1,
        cancel_orders=False,
        through_book=False,
        partial="fraction",
        partial_ppm=200_000,
        partial_min_notional=1_500_000,
        worst_price="fillable",
        bankruptcy_adjustment_ppm=500_000,
        fee_ppm=15_000,
        surplus_to_fund=False,
        max_notional_per_step=2_000_000_000,
        max_fund_loss_per_step=1,
        takeover="backstop",
        backstop_fraction=Fraction(6667, 10000),
        adl="pro_rata",
        socialize=True,
        position_order="most_liquid",
        max_liquidations_per_step=3,
        gate_withdrawals=True,
    )
    assert scenario.liquidation_capital == (("@insurance", 100_000_000_000), ("@backstop", 50_000_500_000))


def test_every_rule_set_field_but_name_and_version_is_a_key() -> None:
    names = [f.name for f in fields(RuleSet)]
    assert names[:2] == ["name", "version"]
    assert tuple(names[2:]) == OVERRIDABLE
    assert set(KEYS) == {"rules", "insurance_fund", "backstop_vault", *OVERRIDABLE}


@pytest.mark.parametrize(
    ("written", "fraction"), [('"2/3"', Fraction(2, 3)), ('"0.5"', Fraction(1, 2)), ("1", 1)]
)
def test_backstop_fraction_as_a_decimal_or_a_fraction(written: str, fraction: Fraction) -> None:
    rules = load(f'rules = "hyperliquid"\nbackstop_fraction = {written}\n').venue.liquidation
    assert rules.backstop_fraction == fraction
    assert isinstance(rules.backstop_fraction, Fraction)


def test_an_override_renames_the_rule_set() -> None:
    rules = load('rules = "binance"\nfee_ppm = 5000\n').venue.liquidation
    assert rules.name == "binance+custom"
    assert rules == PRESETS["binance"].with_overrides(name="binance+custom", fee_ppm=5000)
    assert overrides(rules) == {"fee_ppm": 5000}


def test_an_override_equal_to_the_preset_changes_nothing() -> None:
    rules = load('rules = "dydx"\nfee_ppm = 15000\ngate_withdrawals = true\n').venue.liquidation
    assert rules is PRESETS["dydx"]
    assert overrides(rules) == {}


def test_capital_holds_the_non_zero_amounts_in_order() -> None:
    assert load('rules = "teaching"\ninsurance_fund = "0.25"\n').liquidation_capital == (
        ("@insurance", 250_000),
    )
    assert load('rules = "hyperliquid"\nbackstop_vault = 50000\n').liquidation_capital == (
        ("@backstop", 50_000_000_000),
    )
    both = 'rules = "hyperliquid"\nbackstop_vault = "2"\ninsurance_fund = "1"\n'
    assert load(both).liquidation_capital == (("@insurance", 1_000_000), ("@backstop", 2_000_000))
    assert (
        load('rules = "hyperliquid"\ninsurance_fund = "0"\nbackstop_vault = "0"\n').liquidation_capital == ()
    )


def test_a_vault_with_rules_overridden_to_a_backstop() -> None:
    scenario = load('rules = "binance"\ntakeover = "backstop"\nbackstop_vault = "10"\n')
    assert scenario.venue.liquidation.takeover == "backstop"
    assert scenario.liquidation_capital == (("@backstop", 10_000_000),)


# errors -----------------------------------------------------------------------------------------


def test_liquidation_requires_margin() -> None:
    no_contracts = HEADER.split("[[instruments]]")[0]
    err = loads_scenario_error(no_contracts + '[liquidation]\nrules = "binance"\n')
    assert err.field == "liquidation"
    assert "[margin]" in err.expected
    assert str(err).startswith("liq.toml: liquidation: expected a [margin] table")


def test_the_table_must_be_a_table() -> None:
    err = loads_scenario_error('liquidation = "binance"\n' + HEADER + MARGIN)
    assert err.field == "liquidation"
    assert err.got == "'binance'"


def test_rules_is_required() -> None:
    err = error("fee_ppm = 5000\n")
    assert err.field == "liquidation.rules"
    assert err.expected.endswith("(required, missing)")
    assert '"teaching", "binance", "dydx", "hyperliquid"' in err.expected


@pytest.mark.parametrize("written", ['"bitmex"', "3", '""'])
def test_unknown_preset_lists_the_presets(written: str) -> None:
    err = error(f"rules = {written}\n")
    assert err.field == "liquidation.rules"
    assert err.expected == 'a rule-set preset: one of "teaching", "binance", "dydx", "hyperliquid"'
    assert str(err) == f"liq.toml: liquidation.rules: expected {err.expected}, got {err.got}"


def test_unknown_key_suggests_the_close_one() -> None:
    err = error('rules = "binance"\nfee_pmm = 5000\n')
    assert err.field == "liquidation.fee_pmm"
    assert "did you mean 'fee_ppm'?" in err.expected
    assert err.got == "'fee_pmm'"


@pytest.mark.parametrize("key", ["name", "version"])
def test_name_and_version_are_not_overridable(key: str) -> None:
    err = error(f'rules = "binance"\n{key} = "x"\n')
    assert err.field == f"liquidation.{key}"
    assert "identify the preset" in err.expected
    assert err.got == "'x'"


@pytest.mark.parametrize(
    ("line", "field", "hint"),
    [
        ("fee_ppm = 0.5", "liquidation.fee_ppm", "an integer from 0 to 999999"),
        ("insurance_fund = 100.5", "liquidation.insurance_fund", 'write "100.5" in quotes'),
        ("max_notional_per_step = 0.1", "liquidation.max_notional_per_step", 'write "0.1" in quotes'),
        ("backstop_fraction = 0.5", "liquidation.backstop_fraction", 'write "0.5" in quotes'),
    ],
)
def test_floats_are_refused(line: str, field: str, hint: str) -> None:
    err = error(f'rules = "hyperliquid"\n{line}\n')
    assert err.field == field
    assert hint in err.expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('through_book = "yes"', "true or false"),
        ("socialize = 1", "true or false"),
        ("partial = 1", 'one of "full", "restore", "fraction", "step_down"'),
        ("partial_ppm = true", "an integer from 1 to 1000000 (ppm of the position closed per step)"),
        ('fee_ppm = "5000"', "an integer from 0 to 999999 (ppm of the notional liquidated)"),
        ('max_liquidations_per_step = "3"', "a positive integer (accounts liquidated per step)"),
        ("partial_min_notional = true", "a non-negative amount of USDC in whole units with at most 6"),
    ],
)
def test_wrong_types(line: str, expected: str) -> None:
    key = line.split(" = ")[0]
    err = error(f'rules = "binance"\n{line}\n')
    assert err.field == f"liquidation.{key}"
    assert err.expected.startswith(expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('partial = "half"', 'one of "full", "restore", "fraction", "step_down"'),
        ('worst_price = "mark"', 'one of "bankruptcy", "fillable"'),
        ('takeover = "vault"', 'one of "fund", "backstop", "none"'),
        ('adl = "lottery"', 'one of "queue", "pro_rata", "random", "none"'),
        ('position_order = "smallest"', 'one of "proportional", "largest_maintenance", "most_liquid"'),
    ],
)
def test_bad_preset_strings_are_rule_set_errors(line: str, expected: str) -> None:
    key, value = line.split(" = ")
    err = error(f'rules = "binance"\n{line}\n')
    assert err.field == f"liquidation.{key}"
    assert err.expected == expected
    assert err.got == repr(value.strip('"'))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("partial_ppm = 0", "an integer from 1 to 1000000"),
        ("partial_ppm = 1000001", "an integer from 1 to 1000000"),
        ("fee_ppm = 1000000", "an integer from 0 to 999999"),
        ("fee_ppm = -1", "an integer from 0 to 999999"),
        ("bankruptcy_adjustment_ppm = -1", "an integer >= 0"),
        ("max_liquidations_per_step = 0", "a positive integer"),
        ('max_notional_per_step = "0"', "a positive amount of USDC"),
        ('max_fund_loss_per_step = "-5"', "a positive amount of USDC"),
        ('partial_min_notional = "-1"', "a non-negative amount of USDC"),
        ('backstop_fraction = "3/2"', "a fraction above 0 and at most 1"),
        ('backstop_fraction = "0"', "a fraction above 0 and at most 1"),
    ],
)
def test_rule_set_rules_point_at_their_key(line: str, expected: str) -> None:
    key, value = line.split(" = ")
    err = error(f'rules = "binance"\n{line}\n')
    assert err.field == f"liquidation.{key}"
    assert err.expected.startswith(expected)
    assert err.got == repr(value.strip('"') if value.startswith('"') else int(value))


@pytest.mark.parametrize("written", ['"2/0"', '"abc"', '"1/3/4"', '"-1/2"', '"1e-1"', '""', "true"])
def test_bad_fractions(written: str) -> None:
    err = error(f'rules = "hyperliquid"\nbackstop_fraction = {written}\n')
    assert err.field == "liquidation.backstop_fraction"
    assert err.expected.startswith(
        'a fraction above 0 and at most 1, written as a decimal string such as "0.6667"'
    )


@pytest.mark.parametrize("preset_name", ["teaching", "binance", "dydx"])
def test_a_vault_needs_a_backstop(preset_name: str) -> None:
    err = error(f'rules = "{preset_name}"\nbackstop_vault = "50000"\n')
    assert err.field == "liquidation.backstop_vault"
    assert f'the rule set "{preset_name}" has takeover' in err.expected
    assert err.got == "'50000'"


def test_an_override_away_from_the_backstop_refuses_the_vault() -> None:
    err = error('rules = "hyperliquid"\ntakeover = "fund"\nbackstop_vault = "1"\n')
    assert err.field == "liquidation.backstop_vault"
    assert 'the rule set "hyperliquid+custom" has takeover "fund"' in err.expected


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('insurance_fund = "0.0000001"', "liquidation.insurance_fund"),
        ('insurance_fund = "-1"', "liquidation.insurance_fund"),
        ('insurance_fund = "lots"', "liquidation.insurance_fund"),
        ('max_notional_per_step = "0.0000001"', "liquidation.max_notional_per_step"),
        ('partial_min_notional = "1e6"', "liquidation.partial_min_notional"),
    ],
)
def test_bad_amounts(line: str, field: str) -> None:
    err = error(f'rules = "binance"\n{line}\n')
    assert err.field == field
    assert "amount of USDC in whole units with at most 6 decimals" in err.expected


# the command line and the venue -----------------------------------------------------------------


def write(tmp_path: Path, liquidation: str) -> str:
    path = tmp_path / "liq.toml"
    path.write_text(HEADER + MARGIN + "\n[liquidation]\n" + liquidation)
    return str(path)


def test_validate_prints_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", write(tmp_path, 'rules = "binance"\ninsurance_fund = "100000"\n')]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  liquidation: rules binance v1, insurance fund 100000 USDC" in out


def test_validate_prints_the_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = (
        'rules = "hyperliquid"\nbackstop_vault = "50000.5"\nfee_ppm = 5000\nbackstop_fraction = "1/2"\n'
        'max_notional_per_step = "1.5"\nthrough_book = false\nadl = "random"\n'
    )
    assert main(["validate", write(tmp_path, table)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "  liquidation: rules hyperliquid+custom v1 (overrides through_book = false, fee_ppm = 5000,"
        ' max_notional_per_step = "1.5", backstop_fraction = "1/2", adl = "random"), insurance fund'
        " 0 USDC, backstop vault 50000.5 USDC"
    ) in out


def test_validate_without_rules_prints_no_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(HEADER + MARGIN)
    assert main(["validate", str(path)]) == 0
    assert "  liquidation:" not in capsys.readouterr().out


def test_validate_reports_a_bad_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", write(tmp_path, 'rules = "bitmex"\n')]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "liquidation.rules: expected a rule-set preset" in err
    assert "Traceback" not in err


def test_a_loaded_scenario_builds_a_venue_with_its_rules() -> None:
    scenario = load(
        'rules = "hyperliquid"\ninsurance_fund = "100000"\nbackstop_vault = "50000"\nfee_ppm = 100\n'
    )
    venue = Venue(scenario.venue)
    assert venue.liquidation is not None
    assert venue.liquidation.rules == scenario.venue.liquidation
    assert venue.liquidation.rules.name == "hyperliquid+custom"
    for account, atoms in scenario.liquidation_capital:
        assert venue.deposit_system(0, account, "USDC", atoms).ok
    assert venue.liquidation.fund.balances.get("USDC") == 100_000_000_000
    assert venue.liquidation.vault is not None
    assert venue.liquidation.vault.balances.get("USDC") == 50_000_000_000


def test_the_rules_round_trip_through_the_journal_header() -> None:
    scenario = load('rules = "hyperliquid"\nbackstop_fraction = "0.6667"\nmax_liquidations_per_step = 2\n')
    again = VenueConfig.from_dict(scenario.venue.to_dict())
    assert again.liquidation == scenario.venue.liquidation
    assert again.liquidation == preset("hyperliquid").with_overrides(
        name="hyperliquid+custom", backstop_fraction=Fraction(6667, 10000), max_liquidations_per_step=2
    )


def test_the_documented_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/scenario-format.md's [liquidation] example loads to what the page says."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md").read_text()
    example = page.split("```toml\n[liquidation]\n", 1)[1].split("```", 1)[0]
    scenario = load(example)
    assert scenario.venue.liquidation == preset("binance").with_overrides(
        name="binance+custom", fee_ppm=5000, max_notional_per_step=250_000_000_000
    )
    assert scenario.liquidation_capital == (("@insurance", 100_000_000_000),)
    line = (
        'liquidation: rules binance+custom v1 (overrides fee_ppm = 5000, max_notional_per_step = "250000"),'
        " insurance fund 100000 USDC"
    )
    assert f"`{line}`" in page
    assert main(["validate", write(tmp_path, example)]) == 0
    assert f"  {line}" in capsys.readouterr().out.splitlines()


def test_the_documented_preset_table_matches_the_presets() -> None:
    """The preset table of docs/scenario-format.md states each preset's values."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md").read_text()
    for name, rules in PRESETS.items():
        row = next(line for line in page.splitlines() if line.startswith(f'| `"{name}"`'))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        columns = ("through_book", "partial", "worst_price", "fee_ppm", "surplus_to_fund", "takeover", "adl")
        shown = dict(zip(columns, cells[1:8], strict=True))
        for key, cell in shown.items():
            value = getattr(rules, key)
            written = f'"{value}"' if isinstance(value, str) else str(value).lower()
            assert cell.startswith(f"`{written}`"), (name, key, cell)
        assert rules.cancel_orders and rules.bankruptcy_adjustment_ppm == 1_000_000
        assert rules.backstop_fraction == Fraction(2, 3)
        assert rules.max_notional_per_step is None and rules.max_fund_loss_per_step is None
        assert rules.max_liquidations_per_step is None
        for key, default in (
            ("position_order", "largest_maintenance"),
            ("socialize", False),
            ("gate_withdrawals", False),
            ("partial_ppm", 1_000_000),
            ("partial_min_notional", 0),
        ):
            if getattr(rules, key) != default:
                assert key in cells[8], (name, key)
