"""Tests for the scenario loader (exchange_sim.scenario).

Behaviours verified:

* The bundled default scenario loads, and its numbers match hand-checked values: atoms per tick
  per lot (0.5 x 1 x 0.001 x 10**6 = 500), fee schedule from ``[fees]``, a per-instrument
  override, the future's expiry in microseconds, and opening balances in atoms, in file order.
* ``VenueConfig.from_dict(scenario.venue.to_dict()) == scenario.venue`` (journal round trip).
* Optional fields take their documented defaults; ``[fees]`` fills instrument fees unless the
  instrument overrides them; integers are accepted where decimal strings are.
* The complete example in docs/scenario-format.md loads to the numbers the page states.
* ``load_scenario`` accepts ``str`` and ``Path`` and records the path as given in ``source``;
  ``loads_scenario`` defaults ``source`` to ``"<string>"``.
* Loaded objects are frozen.
* Every kind of user mistake raises ``ScenarioError`` (never KeyError / TypeError / UnitError)
  with the exact field path, the expected value, the offending value, and a one-line ``str``
  naming the file, the field and the expectation: missing / unreadable / non-UTF-8 file, TOML
  syntax errors, missing required fields and tables, wrong types, bools and floats where numbers
  are expected, unknown keys (with a suggestion), bad and non-positive decimals, off-unit amounts
  and times, duplicate asset / instrument / account ids, unknown assets, a future without an
  expiry and a perpetual with one, fee and band limits, tick x lot smaller than one atom.
* The instrument rules are Instrument.create's (the loader does not repeat them): its errors are
  reported on the key they are about, a fee rule failing on a fee from ``[fees]`` on the fee the
  table sets, and a rule over several keys on the table.
* ``[margin]`` and instrument ``brackets`` load into ``VenueConfig.margin`` with hand-checked atoms
  (floor "50000" USDC = 50_000_000_000), survive the journal round trip, and every kind of margin
  mistake (Bracket, BracketSchedule and CollateralRule rules, references between tables, brackets
  where they do not belong or missing where required) names its exact field path.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest

from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.instruments import InstrumentKind
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.orders import SelfTrade
from exchange_sim.scenario import (
    AccountSpec,
    Scenario,
    ScenarioError,
    default_scenario_path,
    load_scenario,
    loads_scenario,
)

# helpers -----------------------------------------------------------------------------------------

SCENARIO = '[scenario]\nname = "test"\n'
USDC = '[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'


def table(header: str, **fields: str | None) -> str:
    """A TOML table; each value is raw TOML text (quote strings yourself), None drops the key."""
    lines = [header] + [f"{key} = {value}" for key, value in fields.items() if value is not None]
    return "\n".join(lines) + "\n"


def instrument(**overrides: str | None) -> str:
    """A valid BTC-PERP ``[[instruments]]`` table, with fields replaced or dropped (None)."""
    fields: dict[str, str | None] = {
        "symbol": '"BTC-PERP"',
        "kind": '"perpetual"',
        "underlying": '"BTC"',
        "settlement_asset": '"USDC"',
        "tick_size": '"0.5"',
        "lot_size": '"0.001"',
    }
    fields.update(overrides)
    return table("[[instruments]]", **fields)


def future(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"symbol": '"BTC-FUT"', "kind": '"future"', "expiry": '"86400"'}
    fields.update(overrides)
    return instrument(**fields)


def account(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"id": '"alice"', "balances": '{ USDC = "100" }'}
    fields.update(overrides)
    return table("[[accounts]]", **fields)


def valid(*parts: str) -> str:
    """A valid scenario header and USDC asset followed by ``parts``."""
    return SCENARIO + USDC + "".join(parts)


# the default scenario ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> Scenario:
    return load_scenario(default_scenario_path())


def test_default_scenario_path_is_the_bundled_file() -> None:
    path = default_scenario_path()
    assert isinstance(path, Path)
    assert path.name == "default.toml"
    assert path.is_file()


def test_default_scenario_header(default: Scenario) -> None:
    assert default.name == "default"
    assert default.seed == 7
    assert "BTC" in default.description and default.description
    assert default.source == str(default_scenario_path())
    assert default.venue.reference_price is ReferenceSource.LAST_TRADE
    assert [(a.symbol, a.decimals) for a in default.venue.assets] == [("USDC", 6), ("BTC", 8), ("ETH", 18)]


def test_default_scenario_instruments(default: Scenario) -> None:
    btc, eth, fut, spot = default.venue.instruments
    assert (btc.symbol, eth.symbol, fut.symbol, spot.symbol) == (
        "BTC-PERP",
        "ETH-PERP",
        "BTC-FUT",
        "BTC-USDC",
    )

    assert btc.kind is InstrumentKind.PERPETUAL
    assert (btc.underlying, btc.settlement_asset) == ("BTC", "USDC")
    assert (btc.tick_size, btc.contract_size, btc.lot_size) == (Fraction(1, 2), 1, Fraction(1, 1000))
    assert btc.atoms_per_tick_per_lot == 500  # 0.5 * 1 * 0.001 * 10**6
    assert btc.min_size == 1  # default: one lot
    assert (btc.maker_fee_ppm, btc.taker_fee_ppm) == (-100, 500)  # from [fees]
    assert btc.market_band_ppm == 50_000  # default
    assert btc.expiry_us is None

    assert eth.kind is InstrumentKind.PERPETUAL
    assert (eth.tick_size, eth.lot_size) == (Fraction(1, 20), Fraction(1, 100))
    assert eth.atoms_per_tick_per_lot == 500  # 0.05 * 1 * 0.01 * 10**6

    assert fut.kind is InstrumentKind.FUTURE
    assert fut.atoms_per_tick_per_lot == 500
    assert fut.expiry_us == 30 * 86_400 * 1_000_000 == 2_592_000_000_000
    assert fut.market_band_ppm == 100_000  # overridden in the file
    assert (fut.maker_fee_ppm, fut.taker_fee_ppm) == (-100, 500)

    assert spot.kind is InstrumentKind.SPOT and spot.post_only_reprice
    assert (spot.underlying, spot.settlement_asset) == ("BTC", "USDC")
    assert spot.atoms_per_tick_per_lot == 500  # 0.5 * 0.001 * 10**6 USDC atoms
    assert spot.base_atoms_per_lot == 100_000  # 0.001 * 10**8 BTC atoms


def test_default_scenario_accounts(default: Scenario) -> None:
    assert default.accounts == (
        AccountSpec("maker", (("USDC", 1_000_000_000_000), ("BTC", 2_000_000_000))),
        AccountSpec("alice", (("USDC", 10_000_000_000), ("BTC", 50_000_000))),
        AccountSpec("bob", (("USDC", 10_000_000_000), ("BTC", 25_000_000))),
        AccountSpec("carol", (("USDC", 2_500_750_000),)),  # "2500.75"
    )


def test_venue_config_round_trip(default: Scenario) -> None:
    rebuilt = VenueConfig.from_dict(default.venue.to_dict())
    assert rebuilt == default.venue
    assert rebuilt.to_dict() == default.venue.to_dict()


def test_loaded_objects_are_frozen(default: Scenario) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.seed = 8  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.accounts[0].id = "x"  # type: ignore[misc]


# defaults and accepted forms ---------------------------------------------------------------------


def test_defaults_of_optional_fields() -> None:
    text = (
        SCENARIO
        + USDC
        + table(
            "[[instruments]]",
            symbol='"X-PERP"',
            kind='"perpetual"',
            underlying='"X"',
            settlement_asset='"USDC"',
            tick_size='"1"',
        )
        + table("[[accounts]]", id='"a"')
    )
    scenario = loads_scenario(text)
    assert (scenario.description, scenario.seed, scenario.source) == ("", 0, "<string>")
    assert scenario.venue.reference_price is ReferenceSource.LAST_TRADE
    (inst,) = scenario.venue.instruments
    assert (inst.contract_size, inst.lot_size, inst.min_size) == (1, 1, 1)
    assert (inst.maker_fee_ppm, inst.taker_fee_ppm, inst.market_band_ppm) == (0, 0, 50_000)
    assert inst.atoms_per_tick_per_lot == 1_000_000
    assert scenario.accounts == (AccountSpec("a", ()),)


def test_empty_market_is_allowed() -> None:
    scenario = loads_scenario(SCENARIO)
    assert scenario.venue == VenueConfig((), ())
    assert scenario.accounts == ()


def test_fee_defaults_and_overrides() -> None:
    text = valid(
        table("[fees]", maker_ppm="-200", taker_ppm="700"),
        instrument(),
        instrument(symbol='"B"', maker_fee_ppm="0"),
        instrument(symbol='"C"', taker_fee_ppm="300", maker_fee_ppm="-300"),
    )
    fees = [(i.maker_fee_ppm, i.taker_fee_ppm) for i in loads_scenario(text).venue.instruments]
    assert fees == [(-200, 700), (0, 700), (-300, 300)]


def test_integers_accepted_for_decimals_and_balance_order_kept() -> None:
    text = valid(
        table("[[assets]]", symbol='"BTC"', decimals="8"),
        instrument(tick_size="1", lot_size='"0.01"', min_size='"0.05"', contract_size='"0.1"'),
        future(expiry='"0.5"'),
        future(symbol='"BTC-FUT2"', expiry="3600"),
        account(balances='{ BTC = "0.12345678", USDC = 250 }'),
    )
    scenario = loads_scenario(text)
    perp, fut, fut2 = scenario.venue.instruments
    assert perp.atoms_per_tick_per_lot == 1_000  # 1 * 0.1 * 0.01 * 10**6
    assert perp.min_size == 5
    assert fut.expiry_us == 500_000
    assert fut2.expiry_us == 3_600_000_000
    assert scenario.accounts[0].balances == (("BTC", 12_345_678), ("USDC", 250_000_000))


def test_reference_price_external() -> None:
    scenario = loads_scenario(SCENARIO + table("[venue]", reference_price='"external"'))
    assert scenario.venue.reference_price is ReferenceSource.EXTERNAL


def test_load_scenario_records_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "s.toml").write_text(valid(instrument()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_scenario("s.toml").source == "s.toml"
    assert load_scenario(Path("s.toml")).source == "s.toml"
    assert load_scenario(tmp_path / "s.toml").venue.instruments[0].atoms_per_tick_per_lot == 500


# errors ------------------------------------------------------------------------------------------

ERROR_CASES = [
    # (id, toml text, field, fragment of expected, got)
    ("toml-syntax", '[scenario]\nname = "t"\nseed = = 3\n', "line 3, column 8", "valid TOML", None),
    ("toml-duplicate-table", SCENARIO + "[scenario]\n", "line 3, column 10", "valid TOML", None),
    ("missing-scenario-table", USDC, "scenario", "a table", None),
    ("scenario-not-a-table", 'scenario = "x"\n', "scenario", "a table", "'x'"),
    ("missing-name", "[scenario]\nseed = 1\n", "scenario.name", "(required, missing)", None),
    ("name-wrong-type", "[scenario]\nname = 3\n", "scenario.name", "a non-empty scenario name", "3"),
    ("name-empty", '[scenario]\nname = ""\n', "scenario.name", "a non-empty scenario name", "''"),
    ("seed-negative", SCENARIO + "seed = -1\n", "scenario.seed", "an integer >= 0", "-1"),
    ("seed-bool", SCENARIO + "seed = true\n", "scenario.seed", "an integer >= 0", "True"),
    ("seed-float", SCENARIO + "seed = 1.5\n", "scenario.seed", "an integer >= 0", "1.5"),
    ("seed-string", SCENARIO + 'seed = "7"\n', "scenario.seed", "an integer >= 0", "'7'"),
    ("description-wrong-type", SCENARIO + "description = 1\n", "scenario.description", "a string", "1"),
    ("unknown-scenario-key", SCENARIO + "sede = 7\n", "scenario.sede", "did you mean 'seed'?", "'sede'"),
    ("unknown-top-level-table", SCENARIO + "[prices]\n", "prices", "one of the top-level tables", "'prices'"),
    ("unknown-top-level-typo", SCENARIO + "[[asset]]\n", "asset", "did you mean 'assets'?", "'asset'"),
    (
        "reference-price-unknown",
        SCENARIO + table("[venue]", reference_price='"mid"'),
        "venue.reference_price",
        'one of "last_trade", "external"',
        "'mid'",
    ),
    (
        "venue-unknown-key",
        SCENARIO + table("[venue]", reference='"x"'),
        "venue.reference",
        "reference_price",
        "'reference'",
    ),
    (
        "fees-out-of-range",
        SCENARIO + table("[fees]", maker_ppm="1000000"),
        "fees.maker_ppm",
        "strictly between",
        "1000000",
    ),
    (
        "fees-float",
        SCENARIO + table("[fees]", taker_ppm="0.5"),
        "fees.taker_ppm",
        "an integer rate in ppm",
        "0.5",
    ),
    (
        "fees-taker-below-default-maker",
        SCENARIO + table("[fees]", taker_ppm="-5"),
        "fees.taker_ppm",
        "maker_ppm + taker_ppm >= 0 (a maker rebate no larger than the taker fee), here 0 + -5",
        "-5",
    ),
    (
        "fees-rebate-exceeds-taker",
        SCENARIO + table("[fees]", maker_ppm="-600", taker_ppm="500"),
        "fees.maker_ppm",
        "maker_ppm + taker_ppm >= 0 (a maker rebate no larger than the taker fee), here -600 + 500",
        "-600",
    ),
    (
        "assets-not-array",
        SCENARIO + '[assets]\nsymbol = "USDC"\n',
        "assets",
        "an array of tables, written [[assets]]",
        "{'symbol': 'USDC'}",
    ),
    ("asset-not-a-table", 'assets = ["USDC"]\n' + SCENARIO, "assets[0]", "a table", "'USDC'"),
    (
        "asset-missing-decimals",
        SCENARIO + '[[assets]]\nsymbol = "USDC"\n',
        "assets[0].decimals",
        "(required, missing)",
        None,
    ),
    (
        "asset-decimals-too-big",
        SCENARIO + table("[[assets]]", symbol='"X"', decimals="19"),
        "assets[0].decimals",
        "from 0 to 18",
        "19",
    ),
    (
        "asset-decimals-bool",
        SCENARIO + table("[[assets]]", symbol='"X"', decimals="true"),
        "assets[0].decimals",
        "from 0 to 18",
        "True",
    ),
    (
        "asset-bad-symbol",
        SCENARIO + table("[[assets]]", symbol='"US D"', decimals="6"),
        "assets[0].symbol",
        "letters, digits",
        "'US D'",
    ),
    (
        "asset-missing-symbol",
        SCENARIO + table("[[assets]]", decimals="6"),
        "assets[0].symbol",
        "(required, missing)",
        None,
    ),
    ("asset-duplicate", valid(USDC), "assets[1].symbol", "a unique asset symbol (assets[0]", "'USDC'"),
    (
        "asset-unknown-key",
        SCENARIO + table("[[assets]]", symbol='"X"', decimal="6"),
        "assets[0].decimal",
        "did you mean 'decimals'?",
        "'decimal'",
    ),
    ("instruments-not-array", 'instruments = "BTC"\n' + valid(), "instruments", "[[instruments]]", "'BTC'"),
    ("instrument-not-a-table", "instruments = [1]\n" + valid(), "instruments[0]", "a table", "1"),
    (
        "instrument-missing-symbol",
        valid(instrument(symbol=None)),
        "instruments[0].symbol",
        "(required, missing)",
        None,
    ),
    (
        "instrument-duplicate",
        valid(instrument(), instrument()),
        "instruments[1].symbol",
        "instruments[0] already",
        "'BTC-PERP'",
    ),
    (
        "instrument-unknown-key",
        valid(instrument(tick='"1"')),
        "instruments[0].tick",
        "did you mean 'tick_size'?",
        "'tick'",
    ),
    (
        "instrument-missing-kind",
        valid(instrument(kind=None)),
        "instruments[0].kind",
        "(required, missing)",
        None,
    ),
    (
        "instrument-bad-kind",
        valid(instrument(kind='"option"')),
        "instruments[0].kind",
        '"perpetual", "future"',
        "'option'",
    ),
    (
        "instrument-missing-underlying",
        valid(instrument(underlying=None)),
        "instruments[0].underlying",
        "missing",
        None,
    ),
    (
        "instrument-unknown-settlement",
        valid(instrument(settlement_asset='"USD"')),
        "instruments[0].settlement_asset",
        "an asset declared in [[assets]] (one of USDC)",
        "'USD'",
    ),
    (
        "instrument-settlement-no-assets",
        SCENARIO + instrument(),
        "instruments[0].settlement_asset",
        "none are declared",
        "'USDC'",
    ),
    (
        "tick-missing",
        valid(instrument(tick_size=None)),
        "instruments[0].tick_size",
        "(required, missing)",
        None,
    ),
    (
        "tick-negative",
        valid(instrument(tick_size='"-1"')),
        "instruments[0].tick_size",
        'a positive decimal string such as "0.5"',
        "'-1'",
    ),
    (
        "tick-zero-int",
        valid(instrument(tick_size="0")),
        "instruments[0].tick_size",
        "a positive decimal",
        "0",
    ),
    (
        "tick-float",
        valid(instrument(tick_size="0.5")),
        "instruments[0].tick_size",
        'write "0.5" in quotes: a TOML float like 0.1 is not exact',
        "0.5",
    ),
    (
        "tick-float-exponent",
        valid(instrument(tick_size="1e-7")),
        "instruments[0].tick_size",
        'write "0.0000001" in quotes',
        "1e-07",
    ),
    (
        "tick-not-a-number",
        valid(instrument(tick_size='"abc"')),
        "instruments[0].tick_size",
        "a positive decimal",
        "'abc'",
    ),
    (
        "tick-exponent-string",
        valid(instrument(tick_size='"1e-3"')),
        "instruments[0].tick_size",
        "a positive decimal",
        "'1e-3'",
    ),
    (
        "tick-bool",
        valid(instrument(tick_size="true")),
        "instruments[0].tick_size",
        "a positive decimal",
        "True",
    ),
    (
        "contract-size-negative",
        valid(instrument(contract_size='"-2"')),
        "instruments[0].contract_size",
        "a positive decimal",
        "'-2'",
    ),
    (
        "lot-size-zero",
        valid(instrument(lot_size='"0"')),
        "instruments[0].lot_size",
        "a positive decimal",
        "'0'",
    ),
    (
        "tick-times-lot-below-one-atom",
        valid(instrument(lot_size='"0.000001"')),
        "instruments[0]",
        "a whole number of USDC atoms (a multiple of 0.000001)",
        "'0.0000005'",
    ),
    (
        "contract-times-tick-times-lot-below-one-atom",
        valid(instrument(contract_size='"0.0001"')),
        "instruments[0]",
        "tick_size x contract_size x lot_size to be a whole number of USDC atoms",
        "'0.00000005'",
    ),
    (
        "min-size-below-one-lot",
        valid(instrument(min_size='"0.0005"')),
        "instruments[0].min_size",
        "a multiple of lot_size 0.001",
        "'0.0005'",
    ),
    (
        "min-size-off-lot",
        valid(instrument(min_size='"0.0015"')),
        "instruments[0].min_size",
        "a multiple of lot_size 0.001",
        "'0.0015'",
    ),
    (
        "min-size-zero",
        valid(instrument(min_size='"0"')),
        "instruments[0].min_size",
        "a positive decimal",
        "'0'",
    ),
    (
        "maker-fee-float",
        valid(instrument(maker_fee_ppm="1.0")),
        "instruments[0].maker_fee_ppm",
        "an integer rate",
        "1.0",
    ),
    (
        "maker-rebate-exceeds-taker",
        valid(table("[fees]", taker_ppm="500"), instrument(maker_fee_ppm="-600")),
        "instruments[0].maker_fee_ppm",
        "maker_fee_ppm + taker_fee_ppm >= 0",
        "-600",
    ),
    (
        "taker-below-default-rebate",
        valid(table("[fees]", maker_ppm="-100", taker_ppm="500"), instrument(taker_fee_ppm="50")),
        "instruments[0].taker_fee_ppm",
        "here -100 + 50",
        "50",
    ),
    (
        "taker-fee-out-of-range",
        valid(instrument(taker_fee_ppm="-1000000")),
        "instruments[0].taker_fee_ppm",
        "strictly between -1000000 and 1000000",
        "-1000000",
    ),
    (
        "band-too-large",
        valid(instrument(market_band_ppm="1000000")),
        "instruments[0].market_band_ppm",
        "from 1 to 999999",
        "1000000",
    ),
    (
        "band-float",
        valid(instrument(market_band_ppm="0.5")),
        "instruments[0].market_band_ppm",
        "from 1 to 999999",
        "0.5",
    ),
    (
        "band-zero",
        valid(instrument(market_band_ppm="0")),
        "instruments[0].market_band_ppm",
        "from 1 to 999999",
        "0",
    ),
    (
        "future-without-expiry",
        valid(future(expiry=None)),
        "instruments[0].expiry",
        "required for a future, missing",
        None,
    ),
    (
        "perpetual-with-expiry",
        valid(instrument(expiry='"86400"')),
        "instruments[0].expiry",
        "no expiry on a perpetual",
        "'86400'",
    ),
    (
        "expiry-off-unit",
        valid(future(expiry='"0.0000001"')),
        "instruments[0].expiry",
        "with at most 6 decimals",
        "'0.0000001'",
    ),
    (
        "expiry-negative",
        valid(future(expiry="-5")),
        "instruments[0].expiry",
        "a positive number of seconds",
        "-5",
    ),
    (
        "expiry-zero",
        valid(future(expiry='"0"')),
        "instruments[0].expiry",
        "a positive number of seconds",
        "'0'",
    ),
    (
        "expiry-float",
        valid(future(expiry="86400.0")),
        "instruments[0].expiry",
        'write "86400.0" in quotes',
        "86400.0",
    ),
    ("account-missing-id", valid(account(id=None)), "accounts[0].id", "(required, missing)", None),
    ("account-bad-id", valid(account(id='"al ice"')), "accounts[0].id", "letters, digits", "'al ice'"),
    ("account-id-int", valid(account(id="7")), "accounts[0].id", "letters, digits", "7"),
    (
        "account-duplicate",
        valid(account(), account()),
        "accounts[1].id",
        "accounts[0] already uses it",
        "'alice'",
    ),
    (
        "account-unknown-key",
        valid(account(balance='{ USDC = "1" }')),
        "accounts[0].balance",
        "did you mean 'balances'?",
        "'balance'",
    ),
    (
        "balances-not-a-table",
        valid(account(balances='"100"')),
        "accounts[0].balances",
        "a table of amounts",
        "'100'",
    ),
    (
        "balance-unknown-asset",
        valid(account(balances='{ BTC = "1" }')),
        "accounts[0].balances.BTC",
        "one of USDC",
        "'BTC'",
    ),
    (
        "balance-unknown-asset-quoted-key",
        valid(account(balances='{ "USDC.e" = "1" }')),
        'accounts[0].balances."USDC.e"',
        "an asset declared in [[assets]]",
        "'USDC.e'",
    ),
    (
        "balance-off-unit",
        valid(account(balances='{ USDC = "0.0000001" }')),
        "accounts[0].balances.USDC",
        "a non-negative amount of USDC in whole units with at most 6 decimals",
        "'0.0000001'",
    ),
    (
        "balance-negative",
        valid(account(balances='{ USDC = "-1" }')),
        "accounts[0].balances.USDC",
        "non-negative",
        "'-1'",
    ),
    (
        "balance-float",
        valid(account(balances="{ USDC = 100.5 }")),
        "accounts[0].balances.USDC",
        'write "100.5" in quotes',
        "100.5",
    ),
    (
        "balance-bad-string",
        valid(account(balances='{ USDC = "ten" }')),
        "accounts[0].balances.USDC",
        "non-negative",
        "'ten'",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "expected", "got"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_names_file_field_and_expectation(
    text: str, field: str, expected: str, got: str | None
) -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, source="scenarios/bad.toml")
    err = info.value
    assert type(err) is ScenarioError
    assert err.source == "scenarios/bad.toml"
    assert err.field == field
    assert expected in err.expected
    assert err.got == got
    message = str(err)
    assert message.startswith(f"scenarios/bad.toml: {field}: expected ")
    assert err.expected in message
    assert message.endswith("" if got is None else f", got {got}")
    assert "\n" not in message


def test_error_message_format_exactly() -> None:
    text = valid(instrument(), instrument(symbol='"ETH-PERP"', tick_size='"-1"'))
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "scenarios/x.toml")
    assert str(info.value) == (
        "scenarios/x.toml: instruments[1].tick_size:"
        " expected a positive decimal string such as \"0.5\", got '-1'"
    )


def test_long_bad_values_are_shortened() -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(SCENARIO + f'seed = "{"9" * 500}"\n')
    assert info.value.got is not None
    assert len(info.value.got) == 80 and info.value.got.endswith("...")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert (err.source, err.field, err.expected) == (str(path), "", "a readable scenario file")
    assert err.got == "FileNotFoundError (No such file or directory)"
    assert (
        str(err)
        == f"{path}: expected a readable scenario file, got FileNotFoundError (No such file or directory)"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert info.value.field == ""
    assert info.value.got is not None and info.value.got.startswith("IsADirectoryError")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\nname = "caf\xe9"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert (err.field, err.expected, err.got) == ("line 2", "UTF-8 text", r"b'\xe9'")
    assert str(err).startswith(f"{path}: line 2: expected UTF-8 text")


def test_error_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(valid(instrument(lot='"0.001"')), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    assert str(info.value).startswith(f"{path}: instruments[0].lot: expected one of the keys symbol, kind,")


def test_documented_complete_example_loads() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scenario-format.md").read_text(encoding="utf-8")
    example = doc.split("## Complete example", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    scenario = loads_scenario(example, "docs/scenario-format.md")
    perp, fut, spot = scenario.venue.instruments
    assert (perp.tick_size, perp.lot_size, perp.min_size) == (Fraction(1, 2), Fraction(1, 1000), 1)
    assert perp.atoms_per_tick_per_lot == 500
    assert fut.expiry_us == 2_592_000_000_000
    assert spot.is_spot and spot.post_only_reprice
    assert (spot.atoms_per_tick_per_lot, spot.base_atoms_per_lot) == (50, 10_000)
    assert scenario.accounts == (
        AccountSpec("alice", (("USDC", 10_000_000_000), ("BTC", 50_000_000))),
        AccountSpec("bob", (("USDC", 2_500_750_000),)),
    )
    margin = scenario.venue.margin
    assert margin is not None
    assert margin.settlement == "USDC"
    assert margin.collateral == (CollateralRule("BTC", 100_000),)
    schedules = margin.schedule_map()
    assert list(schedules) == ["BTC-PERP", "BTC-FUT"]
    assert schedules["BTC-PERP"].brackets[1] == Bracket(50_000_000_000, 5_000, 20_000)
    assert schedules["BTC-FUT"].brackets == (Bracket(0, 5_000, 10_000),)


SPOT_BASE = """
[scenario]
name = "spot"
[[assets]]
symbol = "USDC"
decimals = 6
[[assets]]
symbol = "BTC"
decimals = 8
"""


@pytest.mark.parametrize(
    ("instrument", "field", "expected"),
    [
        (
            'symbol = "X"\nkind = "spot"\nunderlying = "ETH"\nsettlement_asset = "USDC"\ntick_size = "1"',
            "instruments[0].underlying",
            "for a spot pair, its base asset",
        ),
        (
            'symbol = "X"\nkind = "spot"\nunderlying = "USDC"\nsettlement_asset = "USDC"\ntick_size = "1"',
            "instruments[0].underlying",
            "a base asset other than the quote",
        ),
        (
            'symbol = "X"\nkind = "spot"\nunderlying = "BTC"\nsettlement_asset = "USDC"\ntick_size = "1000"\n'
            'lot_size = "0.000000001"',
            "instruments[0].lot_size",
            "whole number of BTC atoms",
        ),
        (
            'symbol = "X"\nkind = "perpetual"\nunderlying = "BTC"\nsettlement_asset = "USDC"\n'
            'tick_size = "1"\npost_only_reprice = "yes"',
            "instruments[0].post_only_reprice",
            "true or false",
        ),
    ],
)
def test_spot_and_post_only_fields_are_validated(instrument: str, field: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(SPOT_BASE + "[[instruments]]\n" + instrument + "\n", "spot.toml")
    assert info.value.field == field
    assert expected in info.value.expected


def test_venue_self_trade_prevention() -> None:
    text = '[scenario]\nname = "x"\n[venue]\nself_trade_prevention = "cancel_both"\n'
    assert loads_scenario(text).venue.self_trade_prevention is SelfTrade.CANCEL_BOTH
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text.replace("cancel_both", "none"))
    assert info.value.field == "venue.self_trade_prevention"


# margin --------------------------------------------------------------------------------------------

BTC = '[[assets]]\nsymbol = "BTC"\ndecimals = 8\n'
MARGIN = '[margin]\nsettlement_asset = "USDC"\n'
BRACKETS = (
    '[{ floor = "0", maintenance_ppm = 4000, initial_ppm = 10000 },'
    ' { floor = "50000", maintenance_ppm = 5000, initial_ppm = 20000 }]'
)


def collateral(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"asset": '"BTC"', "haircut_ppm": "100000"}
    fields.update(overrides)
    return table("[[margin.collateral]]", **fields)


def bracket(floor: str = '"0"', maintenance: str = "4000", initial: str = "10000") -> str:
    return f"{{ floor = {floor}, maintenance_ppm = {maintenance}, initial_ppm = {initial} }}"


def margined(*parts: str) -> str:
    """A valid scenario with USDC and BTC assets and a USDC ``[margin]`` table, then ``parts``."""
    return valid(BTC, MARGIN, *parts)


def test_margin_loads_with_exact_atoms() -> None:
    text = margined(
        collateral(),
        instrument(brackets=BRACKETS),
        # integer floors are accepted; a floor with decimals is converted exactly
        future(brackets=f"[{bracket()}, {bracket(floor='1000', maintenance='4500')}]"),
        future(
            symbol='"BTC-FUT2"', brackets=f"[{bracket()}, {bracket(floor=chr(34) + '0.000001' + chr(34))}]"
        ),
        instrument(symbol='"BTC-USDC"', kind='"spot"'),
    )
    margin = loads_scenario(text).venue.margin
    assert margin is not None
    assert margin.settlement == "USDC"
    assert margin.collateral == (CollateralRule("BTC", 100_000),)
    assert margin.schedules == (
        (
            "BTC-PERP",
            BracketSchedule.create([Bracket(0, 4_000, 10_000), Bracket(50_000_000_000, 5_000, 20_000)]),
        ),
        (
            "BTC-FUT",
            BracketSchedule.create([Bracket(0, 4_000, 10_000), Bracket(1_000_000_000, 4_500, 10_000)]),
        ),
        ("BTC-FUT2", BracketSchedule.create([Bracket(0, 4_000, 10_000), Bracket(1, 4_000, 10_000)])),
    )
    # 50,000 USDC at 0.4% = 200 USDC; the requirement is continuous at the floor
    assert margin.schedule_map()["BTC-PERP"].maintenance(50_000_000_000) == 200_000_000


def test_margin_without_collateral_and_brackets_as_tables() -> None:
    text = margined(
        instrument(),
        table("[[instruments.brackets]]", floor='"0"', maintenance_ppm="10000", initial_ppm="20000"),
    )
    margin = loads_scenario(text).venue.margin
    assert margin is not None
    assert margin.collateral == ()
    assert margin.schedules == (("BTC-PERP", BracketSchedule.create([Bracket(0, 10_000, 20_000)])),)


def test_no_margin_table_means_no_margin() -> None:
    assert loads_scenario(valid(instrument())).venue.margin is None


def test_venue_config_round_trip_with_margin() -> None:
    venue = loads_scenario(margined(collateral(), instrument(brackets=BRACKETS))).venue
    data = venue.to_dict()
    assert data["margin"] == {
        **data["margin"],
        "settlement": "USDC",
        "collateral": [["BTC", 100_000]],
        "schedules": [
            [
                "BTC-PERP",
                {
                    "brackets": [
                        {"floor": 0, "maintenance_ppm": 4_000, "initial_ppm": 10_000},
                        {"floor": 50_000_000_000, "maintenance_ppm": 5_000, "initial_ppm": 20_000},
                    ]
                },
            ]
        ],
    }
    rebuilt = VenueConfig.from_dict(data)
    assert rebuilt == venue
    assert rebuilt.to_dict() == data


ETH_PERP_IN_BTC = instrument(
    symbol='"ETH-PERP"', underlying='"ETH"', settlement_asset='"BTC"', lot_size='"1"'
)

MARGIN_ERROR_CASES = [
    # (id, toml text, field, fragment of expected, got: None where it is not checked)
    ("margin-not-a-table", 'margin = "USDC"\n' + SCENARIO, "margin", "a table", "'USDC'"),
    ("margin-unknown-key", margined("settlement = 1\n"), "margin.settlement", "did you mean", "'settlement'"),
    (
        "margin-settlement-missing",
        valid("[margin]\n"),
        "margin.settlement_asset",
        "(required, missing)",
        None,
    ),
    (
        "margin-settlement-unknown",
        valid('[margin]\nsettlement_asset = "USDT"\n'),
        "margin.settlement_asset",
        "an asset declared in [[assets]] (one of USDC)",
        "'USDT'",
    ),
    (
        "collateral-unknown-asset",
        margined(collateral(asset='"ETH"')),
        "margin.collateral[0].asset",
        "other than the settlement asset USDC (one of BTC)",
        "'ETH'",
    ),
    (
        "collateral-settlement-asset",
        margined(collateral(asset='"USDC"')),
        "margin.collateral[0].asset",
        "other than the settlement asset USDC",
        "'USDC'",
    ),
    (
        "collateral-duplicate",
        margined(collateral(), collateral(haircut_ppm="0")),
        "margin.collateral[1].asset",
        "a unique collateral asset (margin.collateral[0] already declares it)",
        "'BTC'",
    ),
    (
        "collateral-haircut-missing",
        margined(collateral(haircut_ppm=None)),
        "margin.collateral[0].haircut_ppm",
        "(required, missing)",
        None,
    ),
    (
        "collateral-haircut-above-one",
        margined(collateral(haircut_ppm="1000001")),
        "margin.collateral[0].haircut_ppm",
        "an integer from 0 to 1000000 (ppm of the index value)",
        "1000001",
    ),
    (
        "collateral-haircut-float",
        margined(collateral(haircut_ppm="0.1")),
        "margin.collateral[0].haircut_ppm",
        "an integer from 0 to 1000000",
        "0.1",
    ),
    (
        "collateral-unknown-key",
        margined(collateral(haircut="1")),
        "margin.collateral[0].haircut",
        "did you mean 'haircut_ppm'?",
        "'haircut'",
    ),
    (
        "brackets-required",
        margined(instrument(brackets=BRACKETS), future()),
        "instruments[1].brackets",
        "(required for a future settled in the margin asset USDC, missing)",
        None,
    ),
    (
        "brackets-without-margin",
        valid(instrument(brackets=BRACKETS)),
        "instruments[0].brackets",
        "no brackets without a [margin] table",
        None,
    ),
    (
        "brackets-on-spot",
        margined(instrument(kind='"spot"', brackets=f"[{bracket()}]")),
        "instruments[0].brackets",
        "no brackets on a spot pair",
        None,
    ),
    (
        "brackets-other-settlement",
        margined(ETH_PERP_IN_BTC.replace('lot_size = "1"', f'lot_size = "1"\nbrackets = [{bracket()}]')),
        "instruments[0].brackets",
        "no brackets on a contract not settled in the margin asset USDC",
        None,
    ),
    (
        "brackets-not-array",
        margined(instrument(brackets='"x"')),
        "instruments[0].brackets",
        "non-empty",
        "'x'",
    ),
    ("brackets-empty", margined(instrument(brackets="[]")), "instruments[0].brackets", "non-empty", "[]"),
    (
        "bracket-not-table",
        margined(instrument(brackets="[1]")),
        "instruments[0].brackets[0]",
        "a bracket table",
        "1",
    ),
    (
        "bracket-unknown-key",
        margined(instrument(brackets='[{ floor = "0", maintenance = 1, initial_ppm = 2 }]')),
        "instruments[0].brackets[0].maintenance",
        "did you mean 'maintenance_ppm'?",
        "'maintenance'",
    ),
    (
        "bracket-floor-missing",
        margined(instrument(brackets="[{ maintenance_ppm = 1, initial_ppm = 2 }]")),
        "instruments[0].brackets[0].floor",
        "(required, missing)",
        None,
    ),
    (
        "bracket-floor-float",
        margined(instrument(brackets=f"[{bracket(floor='0.5')}]")),
        "instruments[0].brackets[0].floor",
        'write "0.5" in quotes',
        "0.5",
    ),
    (
        "bracket-floor-off-unit",
        margined(instrument(brackets=f"[{bracket()}, {bracket(floor=chr(34) + '0.0000001' + chr(34))}]")),
        "instruments[0].brackets[1].floor",
        "a non-negative amount of USDC in whole units with at most 6 decimals",
        "'0.0000001'",
    ),
    (
        "bracket-floor-negative",
        margined(instrument(brackets=f"[{bracket(floor=chr(34) + '-1' + chr(34))}]")),
        "instruments[0].brackets[0].floor",
        "non-negative",
        "'-1'",
    ),
    (
        "bracket-first-floor-not-zero",
        margined(instrument(brackets=f"[{bracket(floor=chr(34) + '1' + chr(34))}]")),
        "instruments[0].brackets[0].floor",
        "0 for the first bracket",
        "'1'",
    ),
    (
        "bracket-floors-not-increasing",
        margined(instrument(brackets=f"[{bracket()}, {bracket(floor='50000')}, {bracket(floor='50000')}]")),
        "instruments[0].brackets[2].floor",
        'a floor above "50000" USDC (floors strictly increase)',
        "50000",
    ),
    (
        "bracket-rate-zero",
        margined(instrument(brackets=f"[{bracket(maintenance='0')}]")),
        "instruments[0].brackets[0].maintenance_ppm",
        "an integer rate in ppm from 1 to 999999",
        "0",
    ),
    (
        "bracket-rate-string",
        margined(instrument(brackets=f"[{bracket(initial=chr(34) + '10000' + chr(34))}]")),
        "instruments[0].brackets[0].initial_ppm",
        "an integer rate in ppm from 1 to 999999",
        "'10000'",
    ),
    (
        "bracket-initial-below-maintenance",
        margined(instrument(brackets=f"[{bracket(maintenance='5000', initial='4000')}]")),
        "instruments[0].brackets[0].initial_ppm",
        "initial_ppm >= maintenance_ppm (5000)",
        "4000",
    ),
    (
        "bracket-rate-decreases",
        margined(instrument(brackets=f"[{bracket()}, {bracket(floor='1', maintenance='3000')}]")),
        "instruments[0].brackets[1].maintenance_ppm",
        "maintenance_ppm >= 4000 (rates never decrease from one bracket to the next)",
        "3000",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "expected", "got"),
    [case[1:] for case in MARGIN_ERROR_CASES],
    ids=[case[0] for case in MARGIN_ERROR_CASES],
)
def test_margin_errors_name_the_field(text: str, field: str, expected: str, got: str | None) -> None:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, source="scenarios/bad.toml")
    err = info.value
    assert type(err) is ScenarioError
    assert err.field == field
    assert expected in err.expected
    if got is not None:
        assert err.got == got
    assert str(err).startswith(f"scenarios/bad.toml: {field}: expected ")


def test_margin_unrealized_profit_withdrawable() -> None:
    base = (
        '[scenario]\nname = "m"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'
        '[margin]\nsettlement_asset = "USDC"\n'
    )
    assert loads_scenario(base).venue.margin.unrealized_profit_withdrawable is False
    assert loads_scenario(
        base + "unrealized_profit_withdrawable = true\n"
    ).venue.margin.unrealized_profit_withdrawable
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + 'unrealized_profit_withdrawable = "yes"\n')
    assert info.value.field == "margin.unrealized_profit_withdrawable"


def test_margin_placement_and_mode() -> None:
    base = (
        '[scenario]\nname = "m"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'
        '[margin]\nsettlement_asset = "USDC"\n'
    )
    margin = loads_scenario(base).venue.margin
    assert (margin.placement, margin.mode) == ("fills", "cross")
    assert loads_scenario(base + 'placement = "check"\n').venue.margin.placement == "check"
    assert loads_scenario(base + 'placement = "reserve"\n').venue.margin.placement == "reserve"
    assert loads_scenario(base + 'mode = "isolated"\n').venue.margin.mode == "isolated"
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + "placement = true\n")
    assert info.value.field == "margin.placement"
    assert '"fills", "check", "reserve"' in info.value.expected
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + 'mode = "portfolio"\n')  # portfolio margin needs its rules
    assert info.value.field == "margin.mode"
    assert "[margin.portfolio]" in info.value.expected
    assert info.value.got == "'portfolio'"
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + 'mode = "both"\n')
    assert (info.value.field, info.value.expected) == (
        "margin.mode",
        'one of "cross", "isolated", "portfolio"',
    )


def test_account_margin_mode() -> None:
    base = '[scenario]\nname = "m"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'
    account = '[[accounts]]\nid = "a"\nbalances = { USDC = "1" }\nmargin_mode = "isolated"\n'
    margin = '[margin]\nsettlement_asset = "USDC"\n'
    assert loads_scenario(base + margin + account).accounts[0].margin_mode == "isolated"
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + margin + account.replace('"isolated"', '"both"'))
    assert info.value.field == "accounts[0].margin_mode"
    with pytest.raises(ScenarioError) as info:
        loads_scenario(base + account)
    assert info.value.field == "accounts[0].margin_mode"
    assert "[margin]" in info.value.expected
