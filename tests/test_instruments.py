"""Instruments: validation and the integer atoms-per-tick-per-lot.

Behaviours verified:
- atoms per tick per lot is tick x contract x lot x 10**decimals, hand-checked;
- an instrument whose tick on a lot is a fraction of an atom is refused;
- futures need an expiry, perpetuals refuse one; fee and band bounds are enforced;
- every check of Instrument.create names its field in UnitError.field (the parameter's name,
  atoms_per_tick_per_lot for the rule over tick, contract and lot size), with an expected phrase
  where the rule needs one; the fee rule is one helper, also usable with other field names;
- prices and sizes convert to ticks and lots exactly; notional is exact;
- the configuration round-trips through to_config/from_config;
- Instrument.from_config, VenueConfig.from_dict and VenueConfig() raise UnitError (never KeyError,
  TypeError or ValueError) for a missing key, an unknown settlement asset, a bad reference price.
"""

import copy
from typing import Any

import pytest

from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.instruments import (
    FEE_RATE_EXPECTED,
    MARKET_BAND_EXPECTED,
    Instrument,
    InstrumentKind,
    validate_fee_rates,
)
from exchange_sim.units import Asset, UnitError

USDC = Asset("USDC", 6)


def test_atoms_per_tick_per_lot_hand_checked() -> None:
    # 0.5 USDC x 1 BTC/contract x 0.001 contract = 0.0005 USDC = 500 atoms
    inst = Instrument.create(
        "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
    )
    assert inst.atoms_per_tick_per_lot == 500
    assert inst.ticks("30000.5") == 60_001
    assert inst.lots("0.25") == 250
    # 0.25 BTC at 30000.5 = 7500.125 USDC
    assert inst.notional(60_001, 250) == 7_500_125_000
    assert inst.format_price(60_001) == "30000.5"
    assert inst.format_size(250) == "0.25"


def test_contract_size_enters_the_product() -> None:
    # CME-style: contract of 5 BTC, tick 5 USD, lot 1 contract -> 25 USD per tick per lot
    inst = Instrument.create(
        "BTC-FUT",
        kind="future",
        underlying="BTC",
        settlement=USDC,
        tick_size="5",
        contract_size="5",
        expiry_us=10**12,
    )
    assert inst.atoms_per_tick_per_lot == 25_000_000
    assert inst.kind is InstrumentKind.FUTURE


def test_sub_atom_tick_refused() -> None:
    with pytest.raises(UnitError, match="smaller than one atom") as info:
        Instrument.create(
            "X", kind="perpetual", underlying="X", settlement=USDC, tick_size="0.001", lot_size="0.0001"
        )
    err = info.value
    assert err.field == "atoms_per_tick_per_lot"  # a rule over three fields names the derived one
    assert err.expected is not None
    assert "a whole number of USDC atoms (a multiple of 0.000001)" in err.expected
    assert err.got == "0.0000001"  # 0.001 x 1 x 0.0001, the value that is not whole atoms


MIN_SIZE_EXPECTED = (
    "a positive decimal number of contracts that is a whole number of lots (a multiple of lot_size 0.001)"
)


@pytest.mark.parametrize(
    ("fields", "message", "field", "expected"),
    [
        ({"kind": "future"}, "needs expiry_us", "expiry_us", None),
        ({"kind": "future", "expiry_us": 0}, "needs expiry_us", "expiry_us", None),
        ({"kind": "future", "expiry_us": True}, "needs expiry_us", "expiry_us", None),
        ({"expiry_us": 5}, "perpetual has no expiry", "expiry_us", "no expiry on a perpetual"),
        ({"kind": "option"}, "kind must be", "kind", '"perpetual", "future"'),
        ({"tick_size": "0"}, "tick_size must be positive", "tick_size", None),
        ({"tick_size": "abc"}, "expected a decimal number", "tick_size", None),
        ({"contract_size": "-2"}, "contract_size must be positive", "contract_size", None),
        ({"lot_size": "-1"}, "lot_size must be positive", "lot_size", None),
        (
            {"maker_fee_ppm": -600, "taker_fee_ppm": 500},
            "rebate may not exceed",
            "maker_fee_ppm",
            "here -600 + 500",
        ),
        ({"taker_fee_ppm": 1_000_000}, "taker_fee_ppm must be", "taker_fee_ppm", FEE_RATE_EXPECTED),
        ({"maker_fee_ppm": 1.0}, "maker_fee_ppm must be", "maker_fee_ppm", FEE_RATE_EXPECTED),
        ({"market_band_ppm": 0}, "market_band_ppm must be", "market_band_ppm", MARKET_BAND_EXPECTED),
        ({"market_band_ppm": 1_000_000}, "market_band_ppm must be", "market_band_ppm", MARKET_BAND_EXPECTED),
        ({"min_size": "0.0015"}, "not a multiple of 0.001", "min_size", MIN_SIZE_EXPECTED),
        ({"min_size": "0"}, "at least one lot", "min_size", MIN_SIZE_EXPECTED),
        ({"min_size": "abc"}, "expected a decimal number", "min_size", MIN_SIZE_EXPECTED),
        ({"underlying": ""}, "underlying", "underlying", "letters, digits"),
    ],
)
def test_invalid_instruments(fields: dict, message: str, field: str, expected: str | None) -> None:
    base: dict = dict(kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001")
    base.update(fields)
    with pytest.raises(UnitError, match=message) as info:
        Instrument.create("BTC-PERP", **base)
    assert info.value.field == field
    if expected is None:
        assert info.value.expected is None
    else:
        assert info.value.expected is not None and expected in info.value.expected
    assert info.value.got is None


def test_invalid_symbol_names_the_field() -> None:
    with pytest.raises(UnitError, match="instrument symbol") as info:
        Instrument.create("BTC PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1")
    assert info.value.field == "symbol"


def test_fee_rule_is_one_helper_with_configurable_names() -> None:
    validate_fee_rates(-100, 100, where="X")  # a rebate equal to the taker fee is allowed
    with pytest.raises(UnitError, match="rebate may not exceed") as info:
        validate_fee_rates(-600, 500, where="[fees]", names=("maker_ppm", "taker_ppm"))
    assert info.value.field == "maker_ppm"
    assert info.value.expected == (
        "maker_ppm + taker_ppm >= 0 (a maker rebate no larger than the taker fee), here -600 + 500"
    )
    with pytest.raises(UnitError, match="taker_ppm must be") as info:
        validate_fee_rates(0, -1_000_000, where="[fees]", names=("maker_ppm", "taker_ppm"))
    assert (info.value.field, info.value.expected) == ("taker_ppm", FEE_RATE_EXPECTED)


def test_config_round_trip() -> None:
    inst = Instrument.create(
        "ETH-FUT",
        kind="future",
        underlying="ETH",
        settlement=USDC,
        tick_size="0.05",
        lot_size="0.01",
        min_size="0.1",
        maker_fee_ppm=-50,
        taker_fee_ppm=400,
        expiry_us=86_400_000_000,
    )
    assert inst.min_size == 10
    assert Instrument.from_config(inst.to_config(), {"USDC": USDC}) == inst


# reading stored configuration: UnitError, never KeyError / TypeError / ValueError ---------------


def _btc_perp_config() -> dict[str, Any]:
    return Instrument.create(
        "BTC-PERP", kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001"
    ).to_config()


@pytest.mark.parametrize("key", sorted(set(_btc_perp_config()) - {"atoms_per_tick_per_lot"}))
def test_from_config_missing_key(key: str) -> None:
    data = _btc_perp_config()
    del data[key]
    with pytest.raises(UnitError, match=f"is missing '{key}'") as info:
        Instrument.from_config(data, {"USDC": USDC})
    assert info.value.field == key


def test_from_config_unknown_settlement_asset() -> None:
    data = _btc_perp_config()
    data["settlement_asset"] = "USD"
    with pytest.raises(UnitError, match=r"unknown settlement asset 'USD' \(known: USDC\)") as info:
        Instrument.from_config(data, {"USDC": USDC})
    assert info.value.field == "settlement_asset"
    data["settlement_asset"] = ["USDC"]  # unhashable: still a UnitError, not a TypeError
    with pytest.raises(UnitError, match="unknown settlement asset"):
        Instrument.from_config(data, {"USDC": USDC})


def test_from_config_invalid_value_and_disagreeing_atoms() -> None:
    data = _btc_perp_config()
    data["tick_size"] = "-1"
    with pytest.raises(UnitError, match="tick_size must be positive") as info:
        Instrument.from_config(data, {"USDC": USDC})
    assert info.value.field == "tick_size"
    data = _btc_perp_config()
    data["atoms_per_tick_per_lot"] = 7
    with pytest.raises(UnitError, match="disagrees: 7 given, 500 computed") as info:
        Instrument.from_config(data, {"USDC": USDC})
    assert (info.value.field, info.value.got) == ("atoms_per_tick_per_lot", 7)


def test_from_config_not_a_mapping() -> None:
    with pytest.raises(UnitError, match="must be a mapping"):
        Instrument.from_config(["BTC-PERP"], {"USDC": USDC})  # type: ignore[arg-type]


def _venue_dict() -> dict[str, Any]:
    return VenueConfig((USDC,), (Instrument.from_config(_btc_perp_config(), {"USDC": USDC}),)).to_dict()


def test_venue_config_round_trip() -> None:
    data = _venue_dict()
    assert VenueConfig.from_dict(data).to_dict() == data


@pytest.mark.parametrize(
    ("path", "message", "field"),
    [
        (("assets",), "venue configuration is missing 'assets'", "assets"),
        (("instruments",), "venue configuration is missing 'instruments'", "instruments"),
        (("reference_price",), "venue configuration is missing 'reference_price'", "reference_price"),
        (("assets", 0, "decimals"), "asset configuration is missing 'decimals'", "decimals"),
        (("assets", 0, "symbol"), "asset configuration is missing 'symbol'", "symbol"),
        (("instruments", 0, "symbol"), "instrument configuration is missing 'symbol'", "symbol"),
        (("instruments", 0, "lot_size"), "'BTC-PERP' is missing 'lot_size'", "lot_size"),
    ],
)
def test_venue_from_dict_missing_key(path: tuple, message: str, field: str) -> None:
    data = _venue_dict()
    parent: Any = data
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    with pytest.raises(UnitError, match=message) as info:
        VenueConfig.from_dict(data)
    assert info.value.field == field


def test_venue_from_dict_unknown_settlement_asset() -> None:
    data = _venue_dict()
    data["assets"] = [{"symbol": "USDT", "decimals": 6}]
    with pytest.raises(UnitError, match=r"unknown settlement asset 'USDC' \(known: USDT\)") as info:
        VenueConfig.from_dict(data)
    assert info.value.field == "settlement_asset"


@pytest.mark.parametrize("bad", ["mid", None, 3, ["last_trade"]])
def test_venue_from_dict_bad_reference_price(bad: object) -> None:
    data = _venue_dict()
    data["reference_price"] = bad
    with pytest.raises(UnitError, match="reference_price must be 'last_trade' or 'external'") as info:
        VenueConfig.from_dict(data)
    assert info.value.field == "reference_price"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"assets": {"USDC": 6}}, "assets must be a list"),
        ({"instruments": "BTC-PERP"}, "instruments must be a list"),
        ({"assets": ["USDC"]}, "asset configuration must be a mapping"),
        ({"assets": [{"symbol": "USDC", "decimals": 19}]}, "decimals must be 0..18"),
    ],
)
def test_venue_from_dict_malformed(change: dict, message: str) -> None:
    data = copy.deepcopy(_venue_dict())
    data.update(change)
    with pytest.raises(UnitError, match=message):
        VenueConfig.from_dict(data)


def test_venue_config_bad_reference_price() -> None:
    with pytest.raises(
        UnitError, match="reference_price must be 'last_trade' or 'external', got 'mid'"
    ) as info:
        VenueConfig((USDC,), (), "mid")  # type: ignore[arg-type]
    assert (info.value.field, info.value.expected) == ("reference_price", "'last_trade' or 'external'")
    assert VenueConfig((USDC,), (), "external").reference_price is ReferenceSource.EXTERNAL  # type: ignore[arg-type]
