"""The venue's resolved configuration: assets, instruments and venue-wide options.

A :class:`VenueConfig` is what the journal header records (``to_dict``) and what replay rebuilds
the venue from (``from_dict``). Scenario files are read into it by :mod:`exchange_sim.scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exchange_sim.breakers import Breaker
from exchange_sim.instruments import Instrument
from exchange_sim.liquidation.rules import RuleSet
from exchange_sim.margin.config import MarginConfig
from exchange_sim.orders import SelfTrade
from exchange_sim.units import Asset, UnitError, require_key


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
    self_trade_prevention: SelfTrade = SelfTrade.CANCEL_TAKER
    """The venue's default self-trade prevention mode (accounts and orders may override it)."""
    margin: MarginConfig | None = None
    """Cross-margin rules; ``None``: no margin (every fill is accepted)."""
    breakers: tuple[Breaker, ...] = ()
    liquidation: RuleSet | None = None
    """Circuit breakers per instrument (``exchange_sim/breakers.py``); none by default."""

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
            if inst.is_spot and inst.underlying not in by_symbol:
                raise UnitError(
                    f"{inst.symbol}: spot base asset {inst.underlying!r} is not listed",
                    field="underlying",
                    expected="a listed asset",
                )
        try:
            stp = SelfTrade(self.self_trade_prevention)
        except (ValueError, TypeError):
            raise UnitError(
                f"self_trade_prevention must be one of {SELF_TRADE_EXPECTED},"
                f" got {self.self_trade_prevention!r}",
                field="self_trade_prevention",
                expected=SELF_TRADE_EXPECTED,
            ) from None
        object.__setattr__(self, "self_trade_prevention", stp)
        if self.margin is not None:
            _check_margin(self.margin, by_symbol, self.instruments)
        if self.liquidation is not None and self.margin is None:
            raise UnitError(
                "liquidation rules need margin rules (an account is liquidated below maintenance margin)",
                field="liquidation",
                expected="margin rules with the liquidation rules",
            )
        guarded: set[str] = set()
        for breaker in self.breakers:
            if breaker.instrument not in names:
                raise UnitError(
                    f"a breaker for {breaker.instrument!r}, which is not listed",
                    field="breakers",
                    expected="breakers for listed instruments",
                )
            if breaker.instrument in guarded:
                raise UnitError(
                    f"two breakers for {breaker.instrument!r}",
                    field="breakers",
                    expected="at most one breaker per instrument",
                )
            guarded.add(breaker.instrument)
        try:
            reference = ReferenceSource(self.reference_price)
        except (ValueError, TypeError):
            raise UnitError(
                f"reference_price must be {REFERENCE_PRICE_EXPECTED}, got {self.reference_price!r}",
                field="reference_price",
                expected=REFERENCE_PRICE_EXPECTED,
            ) from None
        object.__setattr__(self, "reference_price", reference)

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
            "self_trade_prevention": self.self_trade_prevention.name.lower(),
            "margin": self.margin.to_dict() if self.margin is not None else None,
            "breakers": [b.to_config() for b in self.breakers],
            "liquidation": self.liquidation.to_config() if self.liquidation is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VenueConfig:
        """Rebuild a configuration from :meth:`to_dict` output (e.g. a journal header).

        Raises :class:`~exchange_sim.units.UnitError` (never ``KeyError`` or ``ValueError``) for a
        missing key, an unknown settlement asset, a bad ``reference_price`` or any invalid value.
        """
        what = "venue configuration"
        assets = tuple(
            Asset(
                require_key(a, "symbol", "asset configuration"),
                require_key(a, "decimals", "asset configuration"),
            )
            for a in _sequence(require_key(data, "assets", what), "assets")
        )
        by_symbol = {a.symbol: a for a in assets}
        instruments = tuple(
            Instrument.from_config(i, by_symbol)
            for i in _sequence(require_key(data, "instruments", what), "instruments")
        )
        return cls(
            assets,
            instruments,
            require_key(data, "reference_price", what),
            self_trade_from_name(require_key(data, "self_trade_prevention", what)),
            MarginConfig.from_dict(data["margin"]) if data.get("margin") is not None else None,
            tuple(Breaker.from_config(b) for b in _sequence(data.get("breakers", []), "breakers")),
            RuleSet.from_config(data["liquidation"]) if data.get("liquidation") is not None else None,
        )


SELF_TRADE_EXPECTED = ", ".join(repr(m.name.lower()) for m in SelfTrade)
"""Valid self-trade prevention modes, in words (as scenario files and the journal header write them)."""


def self_trade_from_name(name: object) -> SelfTrade:
    """``"cancel_taker"`` -> :attr:`SelfTrade.CANCEL_TAKER` (UnitError for anything else)."""
    if isinstance(name, str) and name.upper() in SelfTrade.__members__:
        return SelfTrade[name.upper()]
    raise UnitError(
        f"self_trade_prevention must be one of {SELF_TRADE_EXPECTED}, got {name!r}",
        field="self_trade_prevention",
        expected=SELF_TRADE_EXPECTED,
    )


REFERENCE_PRICE_EXPECTED = " or ".join(repr(s.value) for s in ReferenceSource)
"""A valid ``reference_price``, in words."""


def _sequence(value: object, key: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise UnitError(
            f"venue configuration {key} must be a list, got {type(value).__name__} {value!r}",
            field=key,
            expected="a list",
        )
    return value


def _check_margin(
    margin: MarginConfig, assets: dict[str, Asset], instruments: tuple[Instrument, ...]
) -> None:
    """Margin rules must name listed things and give every margined contract its brackets."""
    if margin.settlement not in assets:
        raise UnitError(
            f"margin settlement asset {margin.settlement!r} is not listed",
            field="settlement",
            expected="a listed asset",
        )
    listed = {i.symbol: i for i in instruments}
    schedules = margin.schedule_map()
    for symbol in schedules:
        inst = listed.get(symbol)
        if inst is None or inst.is_spot or inst.settlement_asset != margin.settlement:
            raise UnitError(
                f"margin brackets for {symbol!r}, which is not a contract settled in {margin.settlement}",
                field="schedules",
                expected=f"brackets only for contracts settled in {margin.settlement}",
            )
    for inst in instruments:
        if not inst.is_spot and inst.settlement_asset == margin.settlement and inst.symbol not in schedules:
            raise UnitError(
                f"{inst.symbol} has no margin brackets",
                field="schedules",
                expected="brackets for every contract",
            )
    for rule in margin.collateral:
        if rule.asset not in assets or rule.asset == margin.settlement:
            raise UnitError(
                f"collateral rule for {rule.asset!r}: not a listed asset other than {margin.settlement}",
                field="collateral",
                expected=f"a listed asset other than {margin.settlement}",
            )
    underlyings = {
        inst.underlying
        for inst in instruments
        if not inst.is_spot and inst.settlement_asset == margin.settlement
    }
    if margin.portfolio is not None:
        missing = sorted(underlyings - set(margin.portfolio.underlyings))
        if missing:
            raise UnitError(
                f"portfolio margin rules do not cover the underlying {missing[0]!r} of a margined contract",
                field="portfolio.underlyings",
                expected=f"every underlying of a margined contract ({', '.join(sorted(underlyings))})",
            )
    if margin.dynamic is not None:
        unknown = [u for u in margin.dynamic.underlyings if u not in underlyings]
        if unknown:
            raise UnitError(
                f"dynamic margin names {unknown[0]!r}, which no margined contract has as underlying",
                field="dynamic.reference_vol_ppm",
                expected=f"underlyings of margined contracts ({', '.join(sorted(underlyings))})",
            )
