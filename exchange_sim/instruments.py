"""Instruments: linear perpetuals and dated futures, with their tick, lot and fee schedule.

An instrument trades in integer **ticks** (price) and integer **lots** (size). Contracts are
linear: settled in ``settlement_asset``, and one tick on one lot is worth

    atoms_per_tick_per_lot = tick_size x contract_size x lot_size x 10**decimals(settlement)

atoms of the settlement asset, which must be an integer (validated when the instrument is
created, so no trade ever needs rounding). The notional of ``lots`` at ``ticks`` is
``ticks x lots x atoms_per_tick_per_lot`` atoms, exactly.

Example: BTC-PERP settled in USDC (6 decimals), tick 0.5 USDC, contract 1 BTC, lot 0.001
contract: one tick on one lot is 0.5 x 0.001 = 0.0005 USDC = 500 atoms.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from exchange_sim.units import (
    PPM,
    Asset,
    UnitError,
    format_fraction,
    parse_decimal,
    require_key,
    to_units,
    validate_symbol,
)

Number = str | int | Decimal | Fraction

FEE_RATE_EXPECTED = "an integer rate in ppm strictly between -1000000 and 1000000"
"""A valid fee rate (maker or taker), in words: see :func:`validate_fee_rates`."""

MARKET_BAND_EXPECTED = "an integer rate in ppm from 1 to 999999"
"""A valid ``market_band_ppm``, in words."""

KIND_EXPECTED = 'one of "perpetual", "future"'
"""A valid instrument ``kind``, in words."""


class InstrumentKind(StrEnum):
    """What an instrument is.

    ``perpetual`` and ``future`` are linear contracts: a fill changes both accounts' positions and
    moves the quote amount. ``spot`` is a pair: a fill exchanges the base asset (the
    ``underlying``, which must be a listed asset) for the quote (settlement) asset between the two
    accounts' balances, and creates no position. Later issues add funding (perpetual) and expiry
    settlement (future).
    """

    PERPETUAL = "perpetual"
    FUTURE = "future"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A listed contract. Build with :meth:`create`, which validates every field.

    Attributes:
        symbol: unique name, e.g. ``"BTC-PERP"``.
        kind: perpetual or dated future.
        underlying: the underlying's name, e.g. ``"BTC"`` (index prices are keyed by it later).
        settlement_asset: symbol of the asset trades settle in (e.g. ``"USDC"``).
        tick_size: price increment, in settlement units per one underlying unit.
        contract_size: underlying units per contract.
        lot_size: size increment, in contracts.
        min_size: smallest order size, in lots.
        atoms_per_tick_per_lot: settlement atoms one tick is worth on one lot (an integer).
        maker_fee_ppm, taker_fee_ppm: fee rates in ppm of notional; a negative maker fee is a
            rebate. ``maker + taker >= 0`` so that no trade costs the venue money.
        market_band_ppm: market orders fill no further than this from the reference price.
        expiry_us: expiry time of a dated future (microseconds), ``None`` for a perpetual.
        settlement_decimals: decimals of the settlement asset (for formatting).
        base_atoms_per_lot: for a spot pair, atoms of the base asset one lot delivers
            (``contract_size x lot_size x 10**decimals(base)``, an integer); 0 otherwise.
        post_only_reprice: a post-only order that would take is repriced one tick inside the
            opposite best price instead of being rejected.
    """

    symbol: str
    kind: InstrumentKind
    underlying: str
    settlement_asset: str
    tick_size: Fraction
    contract_size: Fraction
    lot_size: Fraction
    min_size: int
    atoms_per_tick_per_lot: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    market_band_ppm: int
    expiry_us: int | None
    settlement_decimals: int
    base_atoms_per_lot: int = 0
    post_only_reprice: bool = False

    @property
    def is_spot(self) -> bool:
        return self.kind is InstrumentKind.SPOT

    @classmethod
    def create(
        cls,
        symbol: str,
        *,
        kind: InstrumentKind | str,
        underlying: str,
        settlement: Asset,
        tick_size: Number,
        contract_size: Number = 1,
        lot_size: Number = 1,
        min_size: Number | None = None,
        maker_fee_ppm: int = 0,
        taker_fee_ppm: int = 0,
        market_band_ppm: int = 50_000,
        expiry_us: int | None = None,
        base: Asset | None = None,
        post_only_reprice: bool = False,
    ) -> Instrument:
        """Validate and build an instrument. ``min_size`` is in contracts (default: one lot).

        Raises :class:`~exchange_sim.units.UnitError` naming the field that is wrong, in the message
        and as ``field`` (the parameter's name; ``"atoms_per_tick_per_lot"`` for the rule over
        tick, contract and lot size), with ``expected`` where the rule needs more words than
        the message's.
        """
        validate_symbol(symbol, "instrument symbol", field="symbol")
        validate_symbol(underlying, f"{symbol} underlying", field="underlying")
        try:
            kind = InstrumentKind(kind)
        except ValueError:
            raise UnitError(
                f"{symbol} kind must be 'perpetual' or 'future', got {kind!r}",
                field="kind",
                expected=KIND_EXPECTED,
            ) from None
        tick = _positive(tick_size, symbol, "tick_size")
        contract = _positive(contract_size, symbol, "contract_size")
        lot = _positive(lot_size, symbol, "lot_size")
        per_tick_lot = tick * contract * lot
        atom = Fraction(1, 10**settlement.decimals)
        apl = per_tick_lot / atom
        if apl.denominator != 1:
            raise UnitError(
                f"{symbol}: tick_size x contract_size x lot_size = {format_fraction(per_tick_lot)}"
                f" {settlement.symbol} is smaller than one atom ({settlement.decimals} decimals);"
                " use a larger tick or lot",
                field="atoms_per_tick_per_lot",
                expected=f"tick_size x contract_size x lot_size to be a whole number of {settlement.symbol}"
                f" atoms (a multiple of {format_fraction(atom)}); use a larger tick or lot",
                got=format_fraction(per_tick_lot),
            )
        min_expected = (
            "a positive decimal number of contracts that is a whole number of lots"
            f" (a multiple of lot_size {format_fraction(lot)})"
        )
        if min_size is None:
            min_lots = 1
        else:
            with _field("min_size", min_expected):
                min_lots = to_units(min_size, lot, f"{symbol} min_size")
            if min_lots < 1:
                raise UnitError(
                    f"{symbol} min_size must be at least one lot, got {min_size}",
                    field="min_size",
                    expected=min_expected,
                )
        validate_fee_rates(maker_fee_ppm, taker_fee_ppm, where=symbol)
        if (
            isinstance(market_band_ppm, bool)
            or not isinstance(market_band_ppm, int)
            or not 0 < market_band_ppm < PPM
        ):
            raise UnitError(
                f"{symbol} market_band_ppm must be an integer in (0, 1000000), got {market_band_ppm!r}",
                field="market_band_ppm",
                expected=MARKET_BAND_EXPECTED,
            )
        if kind is InstrumentKind.FUTURE:
            if isinstance(expiry_us, bool) or not isinstance(expiry_us, int) or expiry_us <= 0:
                raise UnitError(
                    f"{symbol}: a future needs expiry_us, a positive integer, got {expiry_us!r}",
                    field="expiry_us",
                )
        elif expiry_us is not None:
            raise UnitError(
                f"{symbol}: a perpetual has no expiry, got expiry_us={expiry_us!r}",
                field="expiry_us",
                expected='no expiry on a perpetual (remove it, or set kind = "future")',
            )
        base_atoms = 0
        if kind is InstrumentKind.SPOT:
            if base is None or base.symbol != underlying:
                raise UnitError(
                    f"{symbol}: a spot pair's underlying must be a listed asset (its base),"
                    f" got {underlying!r}",
                    field="underlying",
                    expected="the symbol of a listed asset (the pair's base asset)",
                )
            if base.symbol == settlement.symbol:
                raise UnitError(
                    f"{symbol}: a spot pair needs two different assets,"
                    f" got {base.symbol}/{settlement.symbol}",
                    field="underlying",
                    expected="a base asset other than the quote (settlement) asset",
                )
            per_lot = contract * lot * 10**base.decimals
            if per_lot.denominator != 1:
                raise UnitError(
                    f"{symbol}: contract_size x lot_size = {format_fraction(contract * lot)} {base.symbol}"
                    f" is smaller than one atom ({base.decimals} decimals); use a larger lot",
                    field="lot_size",
                    expected=f"contract_size x lot_size to be a whole number of {base.symbol} atoms",
                    got=format_fraction(contract * lot),
                )
            base_atoms = per_lot.numerator
        if not isinstance(post_only_reprice, bool):
            raise UnitError(
                f"{symbol} post_only_reprice must be true or false, got {post_only_reprice!r}",
                field="post_only_reprice",
                expected="true or false",
            )
        return cls(
            symbol=symbol,
            kind=kind,
            underlying=underlying,
            settlement_asset=settlement.symbol,
            tick_size=tick,
            contract_size=contract,
            lot_size=lot,
            min_size=min_lots,
            atoms_per_tick_per_lot=apl.numerator,
            maker_fee_ppm=maker_fee_ppm,
            taker_fee_ppm=taker_fee_ppm,
            market_band_ppm=market_band_ppm,
            expiry_us=expiry_us,
            settlement_decimals=settlement.decimals,
            base_atoms_per_lot=base_atoms,
            post_only_reprice=post_only_reprice,
        )

    # conversions ---------------------------------------------------------------------------

    def ticks(self, price: Number) -> int:
        """Price in settlement units per underlying unit -> ticks (exact, else UnitError)."""
        return to_units(price, self.tick_size, f"{self.symbol} price")

    def lots(self, size: Number) -> int:
        """Size in contracts -> lots (exact, else UnitError)."""
        return to_units(size, self.lot_size, f"{self.symbol} size")

    def format_price(self, ticks: int) -> str:
        return format_fraction(ticks * self.tick_size)

    def format_size(self, lots: int) -> str:
        return format_fraction(lots * self.lot_size)

    def notional(self, ticks: int, lots: int) -> int:
        """Settlement atoms of ``lots`` at ``ticks`` (signed like ``lots``)."""
        return ticks * lots * self.atoms_per_tick_per_lot

    # configuration round trip (journal header) ----------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """A msgpack-friendly description (decimal strings, ints); :meth:`from_config` inverts it."""
        return {
            "symbol": self.symbol,
            "kind": self.kind.value,
            "underlying": self.underlying,
            "settlement_asset": self.settlement_asset,
            "tick_size": format_fraction(self.tick_size),
            "contract_size": format_fraction(self.contract_size),
            "lot_size": format_fraction(self.lot_size),
            "min_size": format_fraction(self.min_size * self.lot_size),
            "atoms_per_tick_per_lot": self.atoms_per_tick_per_lot,
            "maker_fee_ppm": self.maker_fee_ppm,
            "taker_fee_ppm": self.taker_fee_ppm,
            "market_band_ppm": self.market_band_ppm,
            "expiry_us": self.expiry_us,
            "post_only_reprice": self.post_only_reprice,
        }

    @classmethod
    def from_config(cls, data: dict[str, Any], assets: dict[str, Asset]) -> Instrument:
        """Rebuild an instrument from :meth:`to_config` output; ``assets`` by symbol.

        Every key :meth:`to_config` writes is required (``atoms_per_tick_per_lot`` is checked when
        present). Raises :class:`~exchange_sim.units.UnitError` with ``field`` set, never
        ``KeyError``: for a missing key, an unknown settlement asset or an invalid value.
        """
        symbol = require_key(data, "symbol", "instrument configuration")
        what = f"instrument configuration {symbol!r}"
        values = {key: require_key(data, key, what) for key in _CONFIG_KEYS}
        settlement_symbol = values.pop("settlement_asset")
        settlement = assets.get(settlement_symbol) if isinstance(settlement_symbol, str) else None
        if settlement is None:
            known = ", ".join(assets) or "none"
            raise UnitError(
                f"{what}: unknown settlement asset {settlement_symbol!r} (known: {known})",
                field="settlement_asset",
                expected=f"a known asset ({known})",
            )
        underlying = values["underlying"]
        is_spot = values["kind"] == InstrumentKind.SPOT.value and isinstance(underlying, str)
        base = assets.get(underlying) if is_spot else None
        inst = cls.create(symbol, settlement=settlement, base=base, **values)
        if inst.atoms_per_tick_per_lot != data.get("atoms_per_tick_per_lot", inst.atoms_per_tick_per_lot):
            raise UnitError(
                f"{inst.symbol}: atoms_per_tick_per_lot in the configuration disagrees:"
                f" {data['atoms_per_tick_per_lot']!r} given, {inst.atoms_per_tick_per_lot} computed",
                field="atoms_per_tick_per_lot",
                expected=f"{inst.atoms_per_tick_per_lot} (tick_size x contract_size x lot_size in atoms)",
                got=data["atoms_per_tick_per_lot"],
            )
        return inst


_CONFIG_KEYS = (
    "kind",
    "underlying",
    "settlement_asset",
    "tick_size",
    "contract_size",
    "lot_size",
    "min_size",
    "maker_fee_ppm",
    "taker_fee_ppm",
    "market_band_ppm",
    "expiry_us",
    "post_only_reprice",
)
"""The keys :meth:`Instrument.from_config` requires besides ``symbol``."""


def validate_fee_rates(
    maker: int, taker: int, *, where: str, names: tuple[str, str] = ("maker_fee_ppm", "taker_fee_ppm")
) -> None:
    """Check a maker/taker fee pair: the one rule for fee schedules, wherever they are written.

    Each rate is an integer in ppm strictly between -1000000 and 1000000, and
    ``maker + taker >= 0`` (a maker rebate may not exceed the taker fee, so that no trade costs the
    venue money). ``where`` prefixes the message; ``names`` are the two fields' names, used in the
    message and as :attr:`UnitError.field` (the maker's for the sum rule).
    """
    for name, rate in zip(names, (maker, taker), strict=True):
        if isinstance(rate, bool) or not isinstance(rate, int) or not -PPM < rate < PPM:
            raise UnitError(
                f"{where} {name} must be an integer in (-1000000, 1000000), got {rate!r}",
                field=name,
                expected=FEE_RATE_EXPECTED,
            )
    if maker + taker < 0:
        m, t = names
        raise UnitError(
            f"{where}: {m} + {t} must be >= 0 (the rebate may not exceed the taker fee),"
            f" got {maker} + {taker}",
            field=m,
            expected=f"{m} + {t} >= 0 (a maker rebate no larger than the taker fee), here {maker} + {taker}",
        )


def _positive(value: Number, symbol: str, name: str) -> Fraction:
    with _field(name):
        exact = parse_decimal(value)
    if exact <= 0:
        raise UnitError(f"{symbol} {name} must be positive, got {format_fraction(exact)}", field=name)
    return exact


@contextmanager
def _field(name: str, expected: str | None = None) -> Iterator[None]:
    """Set ``field`` (and ``expected``) on a UnitError from a units helper that does not know them."""
    try:
        yield
    except UnitError as exc:
        if exc.field is None:
            exc.field = name
            exc.expected = exc.expected or expected
        raise
