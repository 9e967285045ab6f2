"""Units: exact decimal parsing, atoms, rounding direction of charges and receipts, time.

Behaviours verified:
- decimal strings, ints, Decimals parse exactly; floats, bools and junk are refused;
- amounts convert to atoms exactly and sub-atom amounts are refused;
- a charge rounds up (against the account) and a receipt rounds down, for both signs;
- seconds convert to integer microseconds;
- formatting inverts parsing;
- UnitError keeps its message as ``str`` and carries optional field / expected / got (also
  through pickling); Asset and validate_symbol name the field; require_key raises UnitError.
"""

import pickle
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.units import (
    DECIMALS_EXPECTED,
    Asset,
    UnitError,
    charge_ppm,
    format_atoms,
    format_fraction,
    parse_decimal,
    receive_ppm,
    require_key,
    seconds,
    to_atoms,
    to_units,
    validate_symbol,
)


def test_parse_decimal_is_exact() -> None:
    assert parse_decimal("0.1") == Fraction(1, 10)
    assert parse_decimal(" 1_000.25 ") == Fraction(400_100, 400)
    assert parse_decimal(Decimal("2.5")) == Fraction(5, 2)
    assert parse_decimal(-3) == -3


@pytest.mark.parametrize("bad", [0.1, True, "1e-3", "abc", "", "1.2.3", None, Decimal("NaN")])
def test_parse_decimal_refuses(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_decimal(bad)  # type: ignore[arg-type]


def test_atoms() -> None:
    assert to_atoms("12.5", 6) == 12_500_000
    assert Asset("USDC", 6).atoms("0.000001") == 1
    with pytest.raises(UnitError, match=r"not a multiple of 0\.000001"):
        to_atoms("0.0000001", 6)


def test_to_units_price_in_ticks() -> None:
    assert to_units("30000.5", Fraction(1, 2)) == 60_001
    with pytest.raises(UnitError, match=r"not a multiple of 0\.5"):
        to_units("30000.25", Fraction(1, 2), "price")


def test_charge_rounds_up_receive_rounds_down() -> None:
    # 1,000,001 atoms x 500 ppm = 500.0005 -> charged 501, received 500
    assert charge_ppm(1_000_001, 500) == 501
    assert receive_ppm(1_000_001, 500) == 500
    # a rebate (-100 ppm of 1,000,001 = -100.0001): the account is credited 100, not 101
    assert charge_ppm(1_000_001, -100) == -100
    assert receive_ppm(1_000_001, -100) == -101
    # exact values are not rounded at all
    assert charge_ppm(2_000_000, 500) == receive_ppm(2_000_000, 500) == 1_000


@given(st.integers(-(10**30), 10**30), st.integers(-999_999, 999_999))
def test_rounding_brackets_exact_value(amount: int, rate: int) -> None:
    exact = Fraction(amount * rate, 10**6)
    assert exact <= charge_ppm(amount, rate) < exact + 1
    assert exact - 1 < receive_ppm(amount, rate) <= exact


def test_seconds() -> None:
    assert seconds("1.5") == 1_500_000
    assert seconds(86_400) == 86_400_000_000
    with pytest.raises(UnitError):
        seconds("0.0000001")


@given(st.integers(-(10**24), 10**24), st.integers(0, 18))
def test_format_atoms_round_trips(atoms: int, decimals: int) -> None:
    assert to_atoms(format_atoms(atoms, decimals), decimals) == atoms


def test_format_fraction() -> None:
    assert format_fraction(Fraction(1, 8)) == "0.125"
    assert format_fraction(Fraction(-5, 2)) == "-2.5"
    with pytest.raises(UnitError):
        format_fraction(Fraction(1, 3))


@pytest.mark.parametrize("decimals", [-1, 19, 1.5, True])
def test_asset_decimals_validated(decimals: object) -> None:
    with pytest.raises(UnitError):
        Asset("X", decimals)  # type: ignore[arg-type]


def test_unit_error_structure() -> None:
    plain = UnitError("price 1.25 is not a multiple of 0.5")
    assert isinstance(plain, ValueError)
    assert str(plain) == "price 1.25 is not a multiple of 0.5"
    assert (plain.field, plain.expected, plain.got) == (None, None, None)
    err = UnitError("X tick_size must be positive, got 0", field="tick_size", expected="more", got="0")
    assert str(err) == "X tick_size must be positive, got 0"
    assert err.args == ("X tick_size must be positive, got 0",)
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.field, again.expected, again.got) == (str(err), "tick_size", "more", "0")


def test_asset_errors_name_the_field() -> None:
    with pytest.raises(UnitError, match=r"decimals must be 0\.\.18") as info:
        Asset("X", 19)
    assert (info.value.field, info.value.expected) == ("decimals", DECIMALS_EXPECTED)
    with pytest.raises(UnitError, match="must be an integer") as info:
        Asset("X", True)  # type: ignore[arg-type]
    assert info.value.field == "decimals"
    with pytest.raises(UnitError, match="asset symbol") as info:
        Asset("U SD", 6)
    assert info.value.field == "symbol"


def test_validate_symbol_field_is_optional() -> None:
    assert validate_symbol("BTC-PERP", "symbol") == "BTC-PERP"
    with pytest.raises(UnitError) as info:
        validate_symbol("", "account id")
    assert info.value.field is None
    with pytest.raises(UnitError) as info:
        validate_symbol(7, "account id", field="id")
    assert info.value.field == "id"


def test_require_key() -> None:
    assert require_key({"a": 1}, "a", "thing") == 1
    with pytest.raises(UnitError, match="thing is missing 'b'") as info:
        require_key({"a": 1}, "b", "thing")
    assert info.value.field == "b"
    with pytest.raises(UnitError, match="thing must be a mapping, got list"):
        require_key(["a"], "a", "thing")
