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
    to_units,
    validate_symbol,
)

Number = str | int | Decimal | Fraction


class InstrumentKind(StrEnum):
    """What an instrument is; later issues add funding (perpetual) and expiry (future) behaviour."""

    PERPETUAL = "perpetual"
    FUTURE = "future"


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
    ) -> Instrument:
        """Validate and build an instrument. ``min_size`` is in contracts (default: one lot).

        Raises :class:`~exchange_sim.units.UnitError` naming the field that is wrong.
        """
        validate_symbol(symbol, "instrument symbol")
        validate_symbol(underlying, f"{symbol} underlying")
        try:
            kind = InstrumentKind(kind)
        except ValueError:
            raise UnitError(f"{symbol} kind must be 'perpetual' or 'future', got {kind!r}") from None
        tick = _positive(parse_decimal(tick_size), symbol, "tick_size")
        contract = _positive(parse_decimal(contract_size), symbol, "contract_size")
        lot = _positive(parse_decimal(lot_size), symbol, "lot_size")
        apl = tick * contract * lot * 10**settlement.decimals
        if apl.denominator != 1:
            raise UnitError(
                f"{symbol}: tick_size x contract_size x lot_size = {format_fraction(tick * contract * lot)}"
                f" {settlement.symbol} is smaller than one atom ({settlement.decimals} decimals);"
                " use a larger tick or lot"
            )
        min_lots = 1 if min_size is None else to_units(min_size, lot, f"{symbol} min_size")
        if min_lots < 1:
            raise UnitError(f"{symbol} min_size must be at least one lot, got {min_size}")
        for name, rate in (("maker_fee_ppm", maker_fee_ppm), ("taker_fee_ppm", taker_fee_ppm)):
            if isinstance(rate, bool) or not isinstance(rate, int) or not -PPM < rate < PPM:
                raise UnitError(f"{symbol} {name} must be an integer in (-1000000, 1000000), got {rate!r}")
        if maker_fee_ppm + taker_fee_ppm < 0:
            raise UnitError(
                f"{symbol}: maker_fee_ppm + taker_fee_ppm must be >= 0 (the rebate may not exceed the"
                f" taker fee), got {maker_fee_ppm} + {taker_fee_ppm}"
            )
        if (
            isinstance(market_band_ppm, bool)
            or not isinstance(market_band_ppm, int)
            or not 0 < market_band_ppm < PPM
        ):
            raise UnitError(
                f"{symbol} market_band_ppm must be an integer in (0, 1000000), got {market_band_ppm!r}"
            )
        if kind is InstrumentKind.FUTURE:
            if isinstance(expiry_us, bool) or not isinstance(expiry_us, int) or expiry_us <= 0:
                raise UnitError(f"{symbol}: a future needs expiry_us, a positive integer, got {expiry_us!r}")
        elif expiry_us is not None:
            raise UnitError(f"{symbol}: a perpetual has no expiry, got expiry_us={expiry_us!r}")
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
        }

    @classmethod
    def from_config(cls, data: dict[str, Any], assets: dict[str, Asset]) -> Instrument:
        settlement = assets[data["settlement_asset"]]
        inst = cls.create(
            data["symbol"],
            kind=data["kind"],
            underlying=data["underlying"],
            settlement=settlement,
            tick_size=data["tick_size"],
            contract_size=data["contract_size"],
            lot_size=data["lot_size"],
            min_size=data["min_size"],
            maker_fee_ppm=data["maker_fee_ppm"],
            taker_fee_ppm=data["taker_fee_ppm"],
            market_band_ppm=data["market_band_ppm"],
            expiry_us=data["expiry_us"],
        )
        if inst.atoms_per_tick_per_lot != data.get("atoms_per_tick_per_lot", inst.atoms_per_tick_per_lot):
            raise UnitError(f"{inst.symbol}: atoms_per_tick_per_lot in the configuration disagrees")
        return inst


def _positive(value: Fraction, symbol: str, name: str) -> Fraction:
    if value <= 0:
        raise UnitError(f"{symbol} {name} must be positive, got {format_fraction(value)}")
    return value
