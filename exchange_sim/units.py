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
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

US_PER_SECOND = 1_000_000
"""Simulated time is integer microseconds."""

PPM = 1_000_000
"""Rates are integers in parts per million: 1% is 10_000 ppm."""

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


MAX_DECIMALS = 18
"""An asset has 0 to ``MAX_DECIMALS`` decimals."""

DECIMALS_EXPECTED = f"an integer number of decimals from 0 to {MAX_DECIMALS}"
"""What :class:`Asset` accepts as ``decimals``, in words (for error messages)."""


class UnitError(ValueError):
    """A value cannot be expressed exactly in the requested unit, or breaks a validation rule.

    ``str(err)`` is a complete, human-readable sentence. Validators of named fields
    (:class:`Asset`, :meth:`exchange_sim.instruments.Instrument.create`, the configuration readers)
    also say *where* the problem is, so that a caller such as the scenario loader can point at its
    own input without repeating the rule:

    Attributes:
        field: the key of the offending field (``"tick_size"``, ``"min_size"``,
            ``"maker_fee_ppm"``, ``"expiry_us"``, ...), or ``None`` when no field was named.
            A rule over several fields names the derived quantity (``"atoms_per_tick_per_lot"``).
        expected: what a valid value is, as a phrase that reads after "expected" (``"an integer
            rate in ppm from 1 to 999999"``), or ``None`` when the message says all there is.
        got: the offending value when it is not the field's own input (a rule over several
            fields reports the derived value here), else ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        got: object = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.expected = expected
        self.got = got


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


SYMBOL_EXPECTED = "a symbol of letters, digits, '_', '.' or '-' starting with a letter or digit"
"""What :func:`validate_symbol` accepts, in words (for error messages)."""


def validate_symbol(symbol: object, what: str, *, field: str | None = None) -> str:
    """Check an identifier (asset, instrument or account id): letters, digits, ``_ . -``.

    ``field`` is set on the :class:`UnitError` raised for a bad symbol.
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise UnitError(
            f"{what} must be a non-empty string of letters, digits, '_', '.' or '-' "
            f"starting with a letter or digit, got {symbol!r}",
            field=field,
            expected=SYMBOL_EXPECTED,
        )
    return symbol


def require_key(data: object, key: str, what: str) -> Any:
    """``data[key]`` for a configuration mapping, or :class:`UnitError` (``field=key``) naming ``what``.

    For readers of stored configuration (journal headers): a missing key or a value that is not a
    mapping is a :class:`UnitError`, never a ``KeyError`` or ``TypeError``.
    """
    if not isinstance(data, Mapping):
        raise UnitError(f"{what} must be a mapping, got {type(data).__name__} {data!r}")
    if key not in data:
        raise UnitError(
            f"{what} is missing {key!r}", field=key, expected=f"a value for {key} (required, missing)"
        )
    return data[key]


@dataclass(frozen=True, slots=True)
class Asset:
    """A unit of money: ``symbol`` (e.g. ``"USDC"``) with ``decimals`` atoms digits.

    >>> Asset("USDC", 6).atoms("1.25")
    1250000
    """

    symbol: str
    decimals: int

    def __post_init__(self) -> None:
        validate_symbol(self.symbol, "asset symbol", field="symbol")
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int):
            raise UnitError(
                f"asset {self.symbol} decimals must be an integer, got {self.decimals!r}",
                field="decimals",
                expected=DECIMALS_EXPECTED,
            )
        if not 0 <= self.decimals <= MAX_DECIMALS:
            raise UnitError(
                f"asset {self.symbol} decimals must be 0..{MAX_DECIMALS}, got {self.decimals}",
                field="decimals",
                expected=DECIMALS_EXPECTED,
            )

    def atoms(self, amount: str | int | Decimal | Fraction) -> int:
        """Whole units -> atoms, exactly (raises :class:`UnitError` for sub-atom amounts)."""
        return to_atoms(amount, self.decimals)

    def format(self, atoms: int) -> str:
        """Atoms -> decimal string in whole units."""
        return format_atoms(atoms, self.decimals)
