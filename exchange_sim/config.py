"""The venue's resolved configuration: assets, instruments and venue-wide options.

A :class:`VenueConfig` is what the journal header records (``to_dict``) and what replay rebuilds
the venue from (``from_dict``). Scenario files are read into it by :mod:`exchange_sim.scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exchange_sim.instruments import Instrument
from exchange_sim.units import Asset, UnitError


class ReferenceSource(StrEnum):
    """Where the venue reads the reference price that bounds market orders.

    ``last_trade``: the instrument's last trade price (none before the first trade).
    ``external``: prices pushed with :meth:`exchange_sim.venue.Venue.set_reference_price`
    (journaled as inputs; index and mark prices arrive with the prices issue).
    """

    LAST_TRADE = "last_trade"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Everything a venue needs before its first event. Validated on construction."""

    assets: tuple[Asset, ...]
    instruments: tuple[Instrument, ...]
    reference_price: ReferenceSource = ReferenceSource.LAST_TRADE

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for asset in self.assets:
            if asset.symbol in seen:
                raise UnitError(f"duplicate asset symbol {asset.symbol!r}")
            seen.add(asset.symbol)
        by_symbol = {a.symbol: a for a in self.assets}
        names: set[str] = set()
        for inst in self.instruments:
            if inst.symbol in names:
                raise UnitError(f"duplicate instrument symbol {inst.symbol!r}")
            names.add(inst.symbol)
            asset = by_symbol.get(inst.settlement_asset)
            if asset is None:
                raise UnitError(f"{inst.symbol}: unknown settlement asset {inst.settlement_asset!r}")
            if asset.decimals != inst.settlement_decimals:
                raise UnitError(f"{inst.symbol}: settlement decimals disagree with asset {asset.symbol}")
        object.__setattr__(self, "reference_price", ReferenceSource(self.reference_price))

    def asset(self, symbol: str) -> Asset:
        for asset in self.assets:
            if asset.symbol == symbol:
                return asset
        raise KeyError(symbol)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assets": [{"symbol": a.symbol, "decimals": a.decimals} for a in self.assets],
            "instruments": [i.to_config() for i in self.instruments],
            "reference_price": self.reference_price.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VenueConfig:
        assets = tuple(Asset(a["symbol"], a["decimals"]) for a in data["assets"])
        by_symbol = {a.symbol: a for a in assets}
        instruments = tuple(Instrument.from_config(i, by_symbol) for i in data["instruments"])
        return cls(assets, instruments, ReferenceSource(data["reference_price"]))
