"""Instruments: validation and the integer atoms-per-tick-per-lot.

Behaviours verified:
- atoms per tick per lot is tick x contract x lot x 10**decimals, hand-checked;
- an instrument whose tick on a lot is a fraction of an atom is refused;
- futures need an expiry, perpetuals refuse one; fee and band bounds are enforced;
- prices and sizes convert to ticks and lots exactly; notional is exact;
- the configuration round-trips through to_config/from_config.
"""

import pytest

from exchange_sim.instruments import Instrument, InstrumentKind
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
    with pytest.raises(UnitError, match="smaller than one atom"):
        Instrument.create(
            "X", kind="perpetual", underlying="X", settlement=USDC, tick_size="0.001", lot_size="0.0001"
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "future"}, "needs expiry_us"),
        ({"expiry_us": 5}, "perpetual has no expiry"),
        ({"kind": "option"}, "kind must be"),
        ({"tick_size": "0"}, "tick_size must be positive"),
        ({"lot_size": "-1"}, "lot_size must be positive"),
        ({"maker_fee_ppm": -600, "taker_fee_ppm": 500}, "rebate may not exceed"),
        ({"taker_fee_ppm": 1_000_000}, "taker_fee_ppm must be"),
        ({"market_band_ppm": 0}, "market_band_ppm must be"),
        ({"min_size": "0.0015"}, "not a multiple of 0.001"),
        ({"underlying": ""}, "underlying"),
    ],
)
def test_invalid_instruments(fields: dict, message: str) -> None:
    base: dict = dict(kind="perpetual", underlying="BTC", settlement=USDC, tick_size="0.5", lot_size="0.001")
    base.update(fields)
    with pytest.raises(UnitError, match=message):
        Instrument.create("BTC-PERP", **base)


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
