"""Exact units and every conversion between them, in one place.

The venue never sees a float. Its numbers are:

* **time**: integer microseconds of simulated time (``US_PER_SECOND`` per second);
* **money**: integer *atoms* of an asset; an asset with ``decimals = 6`` has 10**6 atoms per unit;
* **prices**: integer *ticks* of an instrument; **sizes**: integer *lots* of an instrument
  (see :mod:`exchange_sim.instruments` for atoms per tick per lot);
* **rates** (fees, margin rates, haircuts, funding): integers in parts per million (``PPM``).

Human input (scenario files, the demo, a notebook) arrives as decimal strings such as
``"30000.5"``; :func:`parse_decimal` reads them exactly as :class:`fractions.Fraction` and the
``to_*`` helpers refuse anything that is not an exact multiple of the unit.

Rounding (DESIGN.md, "Units and numbers"): amounts *charged* to an account round up
(:func:`charge_ppm`), amounts *received* round down (:func:`receive_ppm`). Every helper here is
exact: the only rounding is the one its name says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

US_PER_SECOND = 1_000_000
"""Simulated time is integer microseconds."""

PPM = 1_000_000
"""Rates are integers in parts per million: 1% is 10_000 ppm."""

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class UnitError(ValueError):
    """A value cannot be expressed exactly in the requested unit."""


def parse_decimal(value: str | int | Decimal | Fraction) -> Fraction:
    """Read a decimal number exactly.

    Accepts a decimal string (``"0.001"``, ``"-2"``, ``"1e-3"`` is refused: plain notation only),
    an ``int``, a :class:`~decimal.Decimal` or a :class:`~fractions.Fraction`. Floats and bools are
    refused, because a float has usually already lost the value the user meant.

    >>> parse_decimal("0.125")
    Fraction(1, 8)
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a decimal number, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnitError(f"expected a finite decimal number, got {value!r}")
        return Fraction(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not _DECIMAL_RE.match(text):
            raise UnitError(f'expected a decimal number such as "12.5", got {value!r}')
        return Fraction(Decimal(text))
    raise UnitError(f"expected a decimal number (string or int), got {type(value).__name__} {value!r}")


def format_fraction(value: Fraction) -> str:
    """Format an exact value as the shortest plain decimal string (``Fraction(1, 8)`` -> ``"0.125"``).

    Raises :class:`UnitError` for values with no finite decimal expansion (e.g. 1/3).
    """
    num, den = value.numerator, value.denominator
    twos = fives = 0
    d = den
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        raise UnitError(f"{value} has no finite decimal expansion")
    places = max(twos, fives)
    return format_atoms(num * (10**places // den), places)


def format_atoms(atoms: int, decimals: int) -> str:
    """Format an integer count of atoms as a decimal string with trailing zeros removed.

    >>> format_atoms(-1_500_000, 6)
    '-1.5'
    """
    sign = "-" if atoms < 0 else ""
    whole, frac = divmod(abs(atoms), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    digits = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


def to_units(value: str | int | Decimal | Fraction, unit: Fraction, what: str = "value") -> int:
    """Express ``value`` as an exact integer multiple of ``unit`` (e.g. a price in ticks).

    >>> to_units("30000.5", Fraction(1, 2), "price")
    60001
    """
    exact = parse_decimal(value) / unit
    if exact.denominator != 1:
        raise UnitError(f"{what} {value!s} is not a multiple of {format_fraction(unit)}")
    return exact.numerator


def to_atoms(value: str | int | Decimal | Fraction, decimals: int) -> int:
    """Convert an amount in whole asset units to atoms, exactly.

    >>> to_atoms("12.5", 6)
    12500000
    """
    return to_units(value, Fraction(1, 10**decimals), "amount")


def ceil_div(a: int, b: int) -> int:
    """Integer division rounding toward +infinity (``b > 0``)."""
    return -(-a // b)


def charge_ppm(amount: int, rate_ppm: int) -> int:
    """``amount x rate / 10**6`` for a sum *charged* to an account: rounds against the account.

    Rounds toward +infinity: a positive charge is at least the exact value, and a negative charge
    (a rebate the account receives) is at most the exact value in magnitude. Either way the
    account never gains from rounding.

    >>> charge_ppm(1_000_001, 500), charge_ppm(1_000_001, -100)
    (501, -100)
    """
    return -(-(amount * rate_ppm) // PPM)


def receive_ppm(amount: int, rate_ppm: int) -> int:
    """``amount x rate / 10**6`` for a sum *received* by an account: rounds down (toward -inf)."""
    return amount * rate_ppm // PPM


def seconds(value: str | int | Decimal | Fraction) -> int:
    """Convert seconds (decimal string or int) to integer microseconds, exactly."""
    return to_units(value, Fraction(1, US_PER_SECOND), "time")


def validate_symbol(symbol: object, what: str) -> str:
    """Check an identifier (asset, instrument or account id): letters, digits, ``_ . -``."""
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise UnitError(
            f"{what} must be a non-empty string of letters, digits, '_', '.' or '-' "
            f"starting with a letter or digit, got {symbol!r}"
        )
    return symbol


@dataclass(frozen=True, slots=True)
class Asset:
    """A unit of money: ``symbol`` (e.g. ``"USDC"``) with ``decimals`` atoms digits.

    >>> Asset("USDC", 6).atoms("1.25")
    1250000
    """

    symbol: str
    decimals: int

    def __post_init__(self) -> None:
        validate_symbol(self.symbol, "asset symbol")
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int):
            raise UnitError(f"asset {self.symbol} decimals must be an integer, got {self.decimals!r}")
        if not 0 <= self.decimals <= 18:
            raise UnitError(f"asset {self.symbol} decimals must be 0..18, got {self.decimals}")

    def atoms(self, amount: str | int | Decimal | Fraction) -> int:
        """Whole units -> atoms, exactly (raises :class:`UnitError` for sub-atom amounts)."""
        return to_atoms(amount, self.decimals)

    def format(self, atoms: int) -> str:
        """Atoms -> decimal string in whole units."""
        return format_atoms(atoms, self.decimals)
