"""Scenario files: TOML in, validated and frozen configuration out.

A scenario file wires a market together: its assets, instruments (with their fee schedule), the
venue's options, its cross-margin rules and the accounts with their opening balances.
:func:`load_scenario` reads one with the standard library's :mod:`tomllib` into a
:class:`Scenario`, whose ``venue`` is the :class:`~exchange_sim.config.VenueConfig` the venue is
built from (margin rules in its ``margin``). ``docs/scenario-format.md`` documents every field.

Every mistake in a file raises :class:`ScenarioError`, which names the file, the field path
(``instruments[1].tick_size``; array indexes count from 0) and what was expected, for example::

    scenarios/x.toml: instruments[1].tick_size: expected a positive decimal string such as "0.5", got '-1'

Nothing else escapes from the loader: no ``KeyError``, ``TypeError`` or
:class:`~exchange_sim.units.UnitError`. Unknown keys are errors too, so a typo is never silently
ignored.

Money, prices, sizes and times are read exactly: decimal strings (``"0.5"``) or integers, never
TOML floats (``0.1`` as a TOML float is a binary approximation, not one tenth).

Extending the schema (prices, agents, liquidation rule sets): add the new top-level key to
``_TOP_LEVEL_KEYS``, write a ``_read_<table>`` function with the ``_Table`` helpers below (they
check types, reject unknown keys and produce field paths), and add a field with a default to
:class:`Scenario` after the existing ones. The loader checks what reading TOML needs (types,
floats, required and unknown keys, references between tables); the rules of a value belong to its
validator (``Asset``, ``Instrument.create``, ``validate_fee_rates``, ``Bracket``,
``BracketSchedule``, ``CollateralRule``), whose ``UnitError.field``
:func:`_rule_error` turns into the field path, so no rule is written twice.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from pathlib import Path
from typing import Any

from exchange_sim.breakers import Breaker
from exchange_sim.config import ReferenceSource, VenueConfig
from exchange_sim.instruments import (
    FEE_RATE_EXPECTED,
    MARKET_BAND_EXPECTED,
    Instrument,
    InstrumentKind,
    validate_fee_rates,
)
from exchange_sim.margin.brackets import RATE_EXPECTED, Bracket, BracketSchedule
from exchange_sim.margin.collateral import CollateralRule
from exchange_sim.margin.config import (
    MODE_CROSS,
    MODE_ISOLATED,
    MODE_PORTFOLIO,
    PLACEMENT_FILLS,
    PLACEMENTS,
    MarginConfig,
)
from exchange_sim.margin.open_interest import OpenInterestCaps
from exchange_sim.market_spec import MarketSpec
from exchange_sim.orders import SelfTrade
from exchange_sim.sim_spec import SimulationSpec
from exchange_sim.units import (
    DECIMALS_EXPECTED,
    SYMBOL_EXPECTED,
    Asset,
    UnitError,
    parse_decimal,
    seconds,
    validate_symbol,
)

__all__ = [
    "AccountSpec",
    "Scenario",
    "ScenarioError",
    "default_scenario_path",
    "load_scenario",
    "loads_scenario",
]

STRING_SOURCE = "<string>"
"""The ``source`` of a scenario read from a string with :func:`loads_scenario`."""


# public types ---------------------------------------------------------------------------------


class ScenarioError(Exception):
    """A scenario file is wrong. ``str(err)`` is one line: file, field path, expectation.

    Attributes:
        source: the file path as given to :func:`load_scenario`, or ``"<string>"``.
        field: where the problem is: a path such as ``instruments[1].tick_size`` (array indexes
            from 0), ``line 3, column 7`` for a TOML syntax error, or ``""`` for the file itself.
        expected: what was expected there, in words.
        got: ``repr`` of the offending value (shortened if long), or ``None`` when there is no
            value to show (a missing field, a syntax error).
    """

    def __init__(self, source: str, field: str, expected: str, got: str | None = None) -> None:
        super().__init__(source, field, expected, got)
        self.source = source
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}: " if self.field else f"{self.source}: "
        tail = "" if self.got is None else f", got {self.got}"
        return f"{where}expected {self.expected}{tail}"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account the scenario opens, with its opening balances.

    Attributes:
        id: the account id (a symbol: letters, digits, ``_ . -``).
        balances: ``(asset symbol, amount in integer atoms)`` pairs, in the file's order.
        margin_mode: ``"cross"``, ``"isolated"`` or (with ``[margin.portfolio]``) ``"portfolio"``;
            ``None``: the ``[margin]`` default.
    """

    id: str
    balances: tuple[tuple[str, int], ...]
    margin_mode: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded scenario: everything in the file, validated and converted to exact units.

    Attributes:
        name, description: from ``[scenario]``.
        seed: the scenario's one random seed (components spawn their generators from it).
        venue: assets, instruments (fees resolved) and venue options.
        accounts: the accounts to open, in file order.
        source: the file path as given, or ``"<string>"``.
        market: the moving-market tables (``[market]``, ``[[indexes]]``, ``[[correlations]]``,
            ``[[marks]]``, ``[[funding]]``; read by :mod:`exchange_sim.scenario_market`), or
            ``None`` when the file has none of them.
        liquidation_capital: the opening capital of the liquidation system accounts from
            ``[liquidation]`` (read by :mod:`exchange_sim.scenario_liquidation`):
            ``(("@insurance", atoms), ("@backstop", atoms))`` in settlement atoms, non-zero
            amounts only, to deposit with :meth:`~exchange_sim.venue.Venue.deposit_system`. The
            rules are at ``venue.liquidation``.
        simulation: the run (``[simulation]``, ``[[agents]]``, ``[[positions]]``; read by
            :mod:`exchange_sim.scenario_sim`): its duration, agents and starting positions, or
            ``None`` when the file has none of these tables.
    """

    name: str
    description: str
    seed: int
    venue: VenueConfig
    accounts: tuple[AccountSpec, ...]
    source: str
    market: MarketSpec | None = None
    liquidation_capital: tuple[tuple[str, int], ...] = ()
    simulation: SimulationSpec | None = None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate the scenario file at ``path``. Raises :class:`ScenarioError`."""
    source = os.fsdecode(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(
            source, "", "a readable scenario file", f"{type(exc).__name__} ({reason})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(
            source, f"line {line}", "UTF-8 text", repr(raw[exc.start : exc.start + 1])
        ) from None
    return loads_scenario(text, source, base_dir=Path(path).parent)


def loads_scenario(
    text: str, source: str = STRING_SOURCE, *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """Read and validate a scenario from TOML ``text``; ``source`` names it in errors.

    Files the scenario names (CSV price files) are relative to ``base_dir``, by default the
    current directory (:func:`load_scenario` passes the scenario file's directory).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        field, reason = _toml_error_position(exc)
        raise ScenarioError(source, field, f"valid TOML ({reason})") from None
    try:
        return _read_scenario(data, source, Path(base_dir if base_dir is not None else "."))
    except _Invalid as exc:
        raise ScenarioError(source, exc.field, exc.expected, exc.got) from None


def default_scenario_path() -> Path:
    """Path of the bundled default scenario (package data ``exchange_sim.scenarios/default.toml``).

    In a source checkout that shadows a regular (non-editable) install, the package data is not
    importable; the repository's ``scenarios/`` folder is used instead.
    """
    try:
        resource = files("exchange_sim.scenarios") / "default.toml"
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "scenarios" / "default.toml"
    return resource if isinstance(resource, Path) else Path(str(resource))


# the schema -----------------------------------------------------------------------------------

_TOP_LEVEL_KEYS = (
    *("scenario", "venue", "fees", "assets", "margin", "instruments", "accounts", "breakers"),
    *("market", "indexes", "correlations", "marks", "funding"),  # scenario_market.MARKET_KEYS
    "liquidation",  # scenario_liquidation.LIQUIDATION_KEY
    *("simulation", "agents", "positions"),  # scenario_sim.SIM_KEYS
)
_SCENARIO_KEYS = ("name", "description", "seed")
_VENUE_KEYS = ("reference_price", "self_trade_prevention")
_FEES_KEYS = ("maker_ppm", "taker_ppm")
_ASSET_KEYS = ("symbol", "decimals")
_INSTRUMENT_KEYS = (
    "symbol",
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
    "expiry",
    "post_only_reprice",
    "brackets",
    "open_interest_caps",
)
_ACCOUNT_KEYS = ("id", "balances", "margin_mode")
_MARGIN_KEYS = (
    *("settlement_asset", "collateral", "unrealized_profit_withdrawable", "placement", "mode"),
    *("portfolio", "dynamic"),  # scenario_portfolio.PORTFOLIO_KEYS
)
_COLLATERAL_KEYS = ("asset", "haircut_ppm")
_BRACKET_KEYS = ("floor", "maintenance_ppm", "initial_ppm")

_PORTFOLIO_NEEDS_RULES = "portfolio margin needs a [margin.portfolio] table"
_HAIRCUT_EXPECTED = "an integer from 0 to 1000000 (ppm of the index value)"
_BRACKET_EXPECTED = 'a bracket table such as { floor = "0", maintenance_ppm = 4000, initial_ppm = 10000 }'
_BRACKETS_EXPECTED = (
    'a non-empty array of brackets such as [{ floor = "0", maintenance_ppm = 4000, initial_ppm = 10000 }]'
)

_EXPIRY_EXPECTED = 'a positive number of seconds of simulated time with at most 6 decimals, such as "86400"'


def _positive_expected(example: str) -> str:
    return f'a positive decimal string such as "{example}"'


# What a valid value of each [[instruments]] key looks like, in words: for errors the loader finds
# (wrong type, a float) and for rule errors from Instrument.create that come without a phrase.
_INSTRUMENT_EXPECTED = {
    "tick_size": _positive_expected("0.5"),
    "contract_size": _positive_expected("1"),
    "lot_size": _positive_expected("0.001"),
    "min_size": _positive_expected("0.001"),
    "maker_fee_ppm": FEE_RATE_EXPECTED,
    "taker_fee_ppm": FEE_RATE_EXPECTED,
    "market_band_ppm": MARKET_BAND_EXPECTED,
    "expiry": _EXPIRY_EXPECTED,
}
_DECIMAL_KEYS = ("tick_size", "contract_size", "lot_size", "min_size")

# A fee a table does not set comes from [fees] (or its default): a fee rule that fails on it is
# reported on the other fee of the pair, which the table does set.
_FEE_PARTNER = {"maker_fee_ppm": "taker_fee_ppm", "maker_ppm": "taker_ppm"}
_FEE_PARTNER.update({v: k for k, v in _FEE_PARTNER.items()})

# A validator's field -> the key it is read from, where they differ (expiry is read in seconds).
_KEY_OF_FIELD = {"expiry_us": "expiry"}


def _read_scenario(data: dict[str, Any], source: str, base_dir: Path) -> Scenario:
    top = _Table(data, "")
    top.reject_unknown(_TOP_LEVEL_KEYS, what="top-level table")
    meta = top.table("scenario", required=True)
    meta.reject_unknown(_SCENARIO_KEYS)
    name = meta.string("name", "a non-empty scenario name", required=True, non_empty=True)
    description = meta.string("description", "a string", default="")
    seed = meta.integer("seed", "an integer >= 0", low=0, default=0)

    venue_table = top.table("venue")
    venue_table.reject_unknown(_VENUE_KEYS)
    reference = venue_table.choice("reference_price", [s.value for s in ReferenceSource], "last_trade")
    self_trade = venue_table.choice(
        "self_trade_prevention", [m.name.lower() for m in SelfTrade], SelfTrade.CANCEL_TAKER.name.lower()
    )

    fees = _read_fees(top.table("fees"))
    assets = _read_assets(top)
    margin = _read_margin(top, assets)
    margin_asset = None if margin is None else margin[0]
    instruments, schedules, oi_caps = _read_instruments(top, assets, fees, margin_asset)
    has_portfolio = margin is not None and top.table("margin").has("portfolio")
    accounts = _read_accounts(top, assets, margin is not None, has_portfolio)
    breakers = _read_breakers(top, {i.symbol for i in instruments})
    margin_config = None
    if margin is not None:
        from exchange_sim.scenario_portfolio import read_portfolio_margin  # it imports this module

        portfolio, dynamic = read_portfolio_margin(top.table("margin"), instruments, margin[0], margin[3])
        try:
            margin_config = MarginConfig(
                margin[0],
                schedules,
                *margin[1:],
                open_interest_caps=oi_caps,
                portfolio=portfolio,
                dynamic=dynamic,
            )
        except UnitError as exc:  # pragma: no cover - every cause is checked above
            path = f"margin.{exc.field}" if exc.field else "margin"
            raise _Invalid(path, exc.expected or f"consistent margin rules ({exc})") from None
    from exchange_sim.scenario_liquidation import read_liquidation  # it imports this module's helpers

    liquidation, liquidation_capital = read_liquidation(top, assets, margin_asset)

    try:
        venue = VenueConfig(
            tuple(assets.values()),
            instruments,
            ReferenceSource(reference),
            SelfTrade[self_trade.upper()],
            margin_config,
            breakers,
            liquidation,
        )
    except UnitError as exc:  # pragma: no cover - every cause is checked above
        path = _VENUE_FIELD_PATH.get(exc.field or "", "")
        raise _Invalid(path, f"a consistent venue configuration ({exc})") from None
    from exchange_sim.scenario_market import read_market  # it imports this module's helpers

    market = read_market(top, instruments, assets, margin_config, base_dir)
    from exchange_sim.scenario_sim import read_simulation  # it imports this module's helpers

    simulation = read_simulation(top, venue, accounts)
    return Scenario(
        name=name,
        description=description,
        seed=seed,
        venue=venue,
        accounts=accounts,
        source=source,
        market=market,
        liquidation_capital=liquidation_capital,
        simulation=simulation,
    )


@dataclass(frozen=True, slots=True)
class _FeeDefaults:
    maker_ppm: int
    taker_ppm: int


def _read_fees(table: _Table) -> _FeeDefaults:
    table.reject_unknown(_FEES_KEYS)
    maker = table.integer("maker_ppm", FEE_RATE_EXPECTED, default=0)
    taker = table.integer("taker_ppm", FEE_RATE_EXPECTED, default=0)
    try:
        validate_fee_rates(maker, taker, where="[fees]", names=("maker_ppm", "taker_ppm"))
    except UnitError as exc:
        raise _rule_error(table, exc, _FEES_KEYS, "a valid fee schedule") from None
    return _FeeDefaults(maker, taker)


def _read_assets(top: _Table) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("assets"):
        table.reject_unknown(_ASSET_KEYS)
        symbol = table.symbol("symbol")
        _claim(first_index, symbol, index, table, "symbol", "asset symbol", "assets")
        decimals = table.integer("decimals", DECIMALS_EXPECTED, required=True)
        try:
            assets[symbol] = Asset(symbol, decimals)
        except UnitError as exc:
            raise _rule_error(table, exc, _ASSET_KEYS, "a valid asset") from None
    return assets


# Where a VenueConfig rule (its margin check) points in the file, by UnitError field.
_VENUE_FIELD_PATH = {
    "settlement": "margin.settlement_asset",
    "collateral": "margin.collateral",
    "schedules": "instruments",
    "portfolio.underlyings": "margin.portfolio.underlyings",
    "dynamic.reference_vol_ppm": "margin.dynamic.reference_vol_ppm",
}


def _read_margin(
    top: _Table, assets: dict[str, Asset]
) -> tuple[str, tuple[CollateralRule, ...], bool, str, str] | None:
    """``[margin]``: the settlement asset's symbol, the collateral rules, whether unrealised
    profit may be withdrawn, the placement policy and the default margin mode; None without the
    table. Its sub-tables ``[margin.portfolio]`` and ``[margin.dynamic]`` are read once the
    instruments are (:mod:`exchange_sim.scenario_portfolio`)."""
    if not top.has("margin"):
        return None
    table = top.table("margin")
    table.reject_unknown(_MARGIN_KEYS)
    settlement_symbol = table.symbol("settlement_asset")
    settlement = assets.get(settlement_symbol)
    if settlement is None:
        raise _Invalid(
            table.path_of("settlement_asset"),
            f"an asset declared in [[assets]] ({_listing(assets)})",
            _show(settlement_symbol),
        )
    rules: list[CollateralRule] = []
    first_index: dict[str, int] = {}
    for index, rule_table in table.array_of_tables("collateral"):
        rule_table.reject_unknown(_COLLATERAL_KEYS)
        symbol = rule_table.symbol("asset")
        if symbol not in assets or symbol == settlement.symbol:
            others = {s: a for s, a in assets.items() if s != settlement.symbol}
            raise _Invalid(
                rule_table.path_of("asset"),
                f"an asset declared in [[assets]] other than the settlement asset {settlement.symbol}"
                f" ({_listing(others)})",
                _show(symbol),
            )
        _claim(first_index, symbol, index, rule_table, "asset", "collateral asset", "margin.collateral")
        haircut = rule_table.integer("haircut_ppm", _HAIRCUT_EXPECTED, required=True)
        try:
            rules.append(CollateralRule(symbol, haircut))
        except UnitError as exc:
            raise _rule_error(rule_table, exc, _COLLATERAL_KEYS, "a valid collateral rule") from None
    withdrawable = table.boolean("unrealized_profit_withdrawable", "true or false")
    placement = table.choice("placement", list(PLACEMENTS), PLACEMENT_FILLS)
    mode = table.choice("mode", [MODE_CROSS, MODE_ISOLATED, MODE_PORTFOLIO], MODE_CROSS)
    if mode == MODE_PORTFOLIO and not table.has("portfolio"):
        raise _Invalid(
            table.path_of("mode"),
            f'"cross" or "isolated" ({_PORTFOLIO_NEEDS_RULES})',
            _show(table.get("mode")),
        )
    return settlement.symbol, tuple(rules), withdrawable, placement, mode


def _read_brackets(table: _Table, settlement: Asset) -> BracketSchedule:
    """An instrument's ``brackets``: floors in whole units of ``settlement``, converted to atoms."""
    value = table.get("brackets")
    if not isinstance(value, list):
        raise _Invalid(table.path_of("brackets"), _BRACKETS_EXPECTED, _show(value))
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Invalid(f"{table.path_of('brackets')}[{index}]", _BRACKET_EXPECTED, _show(item))
    floor_expected = (
        f"a non-negative amount of {settlement.symbol} in whole units with at most"
        f' {settlement.decimals} decimals, such as "50000"'
    )
    phrases = {"floor": floor_expected, "maintenance_ppm": RATE_EXPECTED, "initial_ppm": RATE_EXPECTED}
    bands: list[Bracket] = []
    for index, row in table.array_of_tables("brackets"):
        row.reject_unknown(_BRACKET_KEYS)
        floor = row.decimal("floor", floor_expected, required=True)
        floor_path, floor_got = row.path_of("floor"), _show(row.get("floor"))
        if floor < 0:
            raise _Invalid(floor_path, floor_expected, floor_got)
        with _unit_errors(floor_path, floor_expected, floor_got):
            floor_atoms = settlement.atoms(floor)
        maintenance = row.integer("maintenance_ppm", RATE_EXPECTED, required=True)
        initial = row.integer("initial_ppm", RATE_EXPECTED, required=True)
        try:
            bands.append(Bracket(floor_atoms, maintenance, initial))
            # The schedule's rules relate a band to those below it: checking each prefix points
            # a broken rule at the band that breaks it.
            BracketSchedule.create(bands)
        except UnitError as exc:
            if exc.field == "floor" and index > 0:  # the schedule's phrase counts in atoms
                below = settlement.format(bands[index - 1].floor)
                raise _Invalid(
                    floor_path,
                    f'a floor above "{below}" {settlement.symbol} (floors strictly increase)',
                    floor_got,
                ) from None
            raise _rule_error(row, exc, _BRACKET_KEYS, "a valid bracket", phrases) from None
    try:
        return BracketSchedule.create(bands)
    except UnitError:  # the only rule left: at least one band
        raise _Invalid(table.path_of("brackets"), _BRACKETS_EXPECTED, _show(value)) from None


def _read_instruments(
    top: _Table,
    assets: dict[str, Asset],
    fees: _FeeDefaults,
    margin_asset: str | None,
) -> tuple[
    tuple[Instrument, ...],
    tuple[tuple[str, BracketSchedule], ...],
    tuple[tuple[str, OpenInterestCaps], ...],
]:
    """The instruments, the bracket schedule of each one that has brackets, and the open-interest
    caps of each one that has them (in file order)."""
    instruments: list[Instrument] = []
    schedules: list[tuple[str, BracketSchedule]] = []
    oi_caps: list[tuple[str, OpenInterestCaps]] = []
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("instruments"):
        table.reject_unknown(_INSTRUMENT_KEYS)
        symbol = table.symbol("symbol")
        _claim(first_index, symbol, index, table, "symbol", "instrument symbol", "instruments")
        kind = table.choice("kind", [k.value for k in InstrumentKind], required=True)
        underlying = table.symbol("underlying")
        settlement_symbol = table.symbol("settlement_asset")
        settlement = assets.get(settlement_symbol)
        if settlement is None:
            raise _Invalid(
                table.path_of("settlement_asset"),
                f"an asset declared in [[assets]] ({_listing(assets)})",
                _show(settlement_symbol),
            )
        # Read what the table sets (types only); Instrument.create checks the rules and supplies
        # the defaults, except the fees, whose defaults come from [fees].
        fields: dict[str, Any] = {}
        for key in _DECIMAL_KEYS:
            value = table.decimal(key, _INSTRUMENT_EXPECTED[key], required=key == "tick_size")
            if value is not _MISSING:
                fields[key] = value
        fields["maker_fee_ppm"] = table.integer("maker_fee_ppm", FEE_RATE_EXPECTED, default=fees.maker_ppm)
        fields["taker_fee_ppm"] = table.integer("taker_fee_ppm", FEE_RATE_EXPECTED, default=fees.taker_ppm)
        if table.has("market_band_ppm"):
            fields["market_band_ppm"] = table.integer("market_band_ppm", MARKET_BAND_EXPECTED)
        if table.has("post_only_reprice"):
            fields["post_only_reprice"] = table.boolean("post_only_reprice", "true or false")
        if kind == InstrumentKind.SPOT.value:
            base = assets.get(underlying)
            if base is None:
                raise _Invalid(
                    table.path_of("underlying"),
                    f"for a spot pair, its base asset: an asset declared in [[assets]] ({_listing(assets)})",
                    _show(underlying),
                )
            fields["base"] = base
        if table.has("expiry"):
            expiry = table.decimal("expiry", _EXPIRY_EXPECTED, required=True)
            with _unit_errors(table.path_of("expiry"), _EXPIRY_EXPECTED, _show(table.get("expiry"))):
                fields["expiry_us"] = seconds(expiry)
        try:
            instrument = Instrument.create(
                symbol, kind=kind, underlying=underlying, settlement=settlement, **fields
            )
        except UnitError as exc:
            raise _rule_error(
                table,
                exc,
                _INSTRUMENT_KEYS,
                "a valid instrument",
                _INSTRUMENT_EXPECTED,
                f"required for a {kind}",
            ) from None
        instruments.append(instrument)
        _check_brackets_allowed(table, instrument, margin_asset)
        if table.has("brackets"):
            schedules.append((symbol, _read_brackets(table, settlement)))
        if table.has("open_interest_caps"):
            _check_caps_allowed(table, instrument, margin_asset)
            oi_caps.append((symbol, _read_open_interest_caps(table, settlement)))
    return tuple(instruments), tuple(schedules), tuple(oi_caps)


def _check_caps_allowed(table: _Table, instrument: Instrument, margin_asset: str | None) -> None:
    """Open-interest caps scale the brackets' initial requirement: only a contract with brackets
    may have them (:func:`_check_brackets_allowed` has run: brackets mean a margined contract)."""
    if table.has("brackets"):
        return
    if margin_asset is None:
        reason = "no open_interest_caps without a [margin] table"
    elif instrument.is_spot:
        reason = "no open_interest_caps on a spot pair (it has no positions)"
    else:
        reason = f"no open_interest_caps on a contract not settled in the margin asset {margin_asset}"
    raise _Invalid(table.path_of("open_interest_caps"), reason, _show(table.get("open_interest_caps")))


def _read_open_interest_caps(table: _Table, settlement: Asset) -> OpenInterestCaps:
    """An instrument's ``open_interest_caps``: ``[lower, upper]`` open notionals in whole units of
    ``settlement`` (decimal strings or integers), converted to atoms."""
    path = table.path_of("open_interest_caps")
    value = table.get("open_interest_caps")
    amount = f"amount of {settlement.symbol} in whole units with at most {settlement.decimals} decimals"
    expected = (
        f"an array of two open notionals, lower cap then upper cap, each a non-negative {amount},"
        ' such as ["5000000", "10000000"]'
    )
    if not isinstance(value, list) or len(value) != 2:
        raise _Invalid(path, expected, _show(value))
    caps: list[int] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        item_expected = f"a non-negative {amount}, such as " + ('"5000000"' if index == 0 else '"10000000"')
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise _Invalid(item_path, _float_hint(item_expected, item), _show(item))
        with _unit_errors(item_path, item_expected, _show(item)):
            atoms = settlement.atoms(parse_decimal(item))
        if atoms < 0:
            raise _Invalid(item_path, item_expected, _show(item))
        caps.append(atoms)
    lower, upper = caps
    if upper <= lower:
        raise _Invalid(
            f"{path}[1]",
            f'an upper cap above the lower cap "{settlement.format(lower)}" {settlement.symbol}',
            _show(value[1]),
        )
    return OpenInterestCaps(lower, upper)


def _check_brackets_allowed(table: _Table, instrument: Instrument, margin_asset: str | None) -> None:
    """Brackets belong to, and are required of, exactly the contracts settled in the margin asset."""
    path = table.path_of("brackets")
    margined = (
        margin_asset is not None and not instrument.is_spot and instrument.settlement_asset == margin_asset
    )
    if margined and not table.has("brackets"):
        raise _Invalid(
            path,
            f"{_BRACKETS_EXPECTED} (required for a {instrument.kind.value} settled in the margin"
            f" asset {margin_asset}, missing)",
        )
    if not margined and table.has("brackets"):
        if margin_asset is None:
            reason = "no brackets without a [margin] table"
        elif instrument.is_spot:
            reason = "no brackets on a spot pair (it has no positions)"
        else:
            reason = f"no brackets on a contract not settled in the margin asset {margin_asset}"
        raise _Invalid(path, reason, _show(table.get("brackets")))


_BREAKER_KEYS = ("instrument", "band_ppm", "halt_move_ppm", "window", "halt")
_PPM_BELOW_ONE = "an integer from 0 to 999999 (ppm)"
_SECONDS_EXPECTED = 'a non-negative number of seconds with at most 6 decimals, such as "60"'


def _read_breakers(top: _Table, listed: set[str]) -> tuple[Breaker, ...]:
    """``[[breakers]]``: one circuit breaker per instrument (``docs/breakers.md``)."""
    breakers: list[Breaker] = []
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("breakers"):
        table.reject_unknown(_BREAKER_KEYS)
        symbol = table.symbol("instrument")
        if symbol not in listed:
            raise _Invalid(
                table.path_of("instrument"),
                f"an instrument declared in [[instruments]] ({', '.join(sorted(listed))})",
                _show(symbol),
            )
        _claim(first_index, symbol, index, table, "instrument", "instrument", "breakers")
        band = table.integer("band_ppm", _PPM_BELOW_ONE, low=0, high=999_999)
        move = table.integer("halt_move_ppm", "a non-negative integer (ppm of the earlier mark)", low=0)
        times = {}
        for key in ("window", "halt"):
            if not table.has(key):
                if move:
                    raise _Invalid(table.path_of(key), f"{_SECONDS_EXPECTED} (required with halt_move_ppm)")
                times[key] = 0
                continue
            amount = table.decimal(key, _SECONDS_EXPECTED, required=True)
            with _unit_errors(table.path_of(key), _SECONDS_EXPECTED, _show(table.get(key))):
                times[key] = seconds(amount)
            if times[key] < 0 or (move and times[key] == 0):
                expected = "a positive number of seconds with halt_move_ppm" if move else _SECONDS_EXPECTED
                raise _Invalid(table.path_of(key), expected, _show(table.get(key)))
        breakers.append(Breaker(symbol, band, move, times["window"], times["halt"]))
    return tuple(breakers)


def _read_accounts(
    top: _Table, assets: dict[str, Asset], margined: bool, portfolio: bool = False
) -> tuple[AccountSpec, ...]:
    """``[[accounts]]``; ``margined``: there is a ``[margin]`` table, ``portfolio``: it has
    ``[margin.portfolio]`` (an account's ``margin_mode`` may then be ``"portfolio"``)."""
    accounts: list[AccountSpec] = []
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("accounts"):
        table.reject_unknown(_ACCOUNT_KEYS)
        account_id = table.symbol("id")
        _claim(first_index, account_id, index, table, "id", "account id", "accounts", verb="uses")
        balances_table = table.table("balances", expected='a table of amounts such as { USDC = "10000" }')
        balances: list[tuple[str, int]] = []
        for key in balances_table:
            field = balances_table.path_of(key)
            asset = assets.get(key)
            if asset is None:
                raise _Invalid(field, f"an asset declared in [[assets]] ({_listing(assets)})", _show(key))
            expected = (
                f"a non-negative amount of {asset.symbol} in whole units with at most"
                f' {asset.decimals} decimals, such as "100"'
            )
            amount = balances_table.decimal(key, expected, required=True)
            if amount < 0:
                raise _Invalid(field, expected, _show(balances_table.get(key)))
            with _unit_errors(field, expected, _show(balances_table.get(key))):
                balances.append((asset.symbol, asset.atoms(amount)))
        mode = None
        if table.has("margin_mode"):
            if not margined:
                raise _Invalid(
                    table.path_of("margin_mode"),
                    "no margin_mode without a [margin] table",
                    _show(table.get("margin_mode")),
                )
            mode = table.choice("margin_mode", [MODE_CROSS, MODE_ISOLATED, MODE_PORTFOLIO])
            if mode == MODE_PORTFOLIO and not portfolio:
                raise _Invalid(
                    table.path_of("margin_mode"),
                    f'"cross" or "isolated" ({_PORTFOLIO_NEEDS_RULES})',
                    _show(mode),
                )
        accounts.append(AccountSpec(account_id, tuple(balances), mode))
    return tuple(accounts)


# reading helpers ------------------------------------------------------------------------------


def _claim(
    first_index: dict[str, int],
    name: str,
    index: int,
    table: _Table,
    key: str,
    noun: str,
    array: str,
    verb: str = "declares",
) -> None:
    """Record that ``array[index]`` uses ``name``; a second use is an error naming the first."""
    if name in first_index:
        raise _Invalid(
            table.path_of(key),
            f"a unique {noun} ({array}[{first_index[name]}] already {verb} it)",
            _show(name),
        )
    first_index[name] = index


_MISSING: Any = object()
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_GOT_LIMIT = 80


class _Invalid(Exception):
    """Internal: a validation failure before the source is attached (becomes ScenarioError)."""

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        super().__init__(field, expected, got)
        self.field = field
        self.expected = expected
        self.got = got


def _show(value: object) -> str:
    """``repr`` of a bad value, shortened so that an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= _GOT_LIMIT else text[: _GOT_LIMIT - 3] + "..."


def _listing(assets: dict[str, Asset]) -> str:
    return "one of " + ", ".join(assets) if assets else "none are declared"


def _rule_error(
    table: _Table,
    exc: UnitError,
    keys: tuple[str, ...],
    what: str,
    phrases: dict[str, str] | None = None,
    required_for: str = "required",
) -> _Invalid:
    """Point a UnitError from a shared validator (Asset, Instrument.create, ...) at ``table``'s key.

    The error's ``field`` is the key (see ``_KEY_OF_FIELD`` for the exceptions); a field that is
    not one of ``keys`` (``atoms_per_tick_per_lot``, a rule over three keys) names the
    table itself (``instruments[0]``). A fee the table does not set is reported on its partner
    (see ``_FEE_PARTNER``), any other unset key as missing, ``required_for`` saying why. The
    expectation is the validator's phrase, else ``phrases[key]`` (the loader's words for the key).
    """
    phrases = phrases or {}
    key = _KEY_OF_FIELD.get(exc.field or "", exc.field)
    if key in _FEE_PARTNER and key not in table.data:
        key = _FEE_PARTNER[key] if _FEE_PARTNER[key] in table.data else None
    if key is None or key not in keys:
        return _Invalid(
            table.path, exc.expected or f"{what} ({exc})", None if exc.got is None else _show(exc.got)
        )
    if not table.has(key):
        phrase = phrases.get(key) or exc.expected or f"a valid {key}"
        return _Invalid(table.path_of(key), f"{phrase} ({required_for}, missing)")
    expected = exc.expected or phrases.get(key) or f"a valid {key} ({exc})"
    return _Invalid(table.path_of(key), expected, _show(table.get(key)))


@contextmanager
def _unit_errors(field: str, expected: str, got: str | None = None) -> Iterator[None]:
    """Turn a UnitError (from units.py / instruments.py) raised inside into a field error.

    With ``got`` the UnitError's message is redundant and dropped; without it the message is kept
    in the expectation (it says which rule failed).
    """
    try:
        yield
    except UnitError as exc:
        if got is None:
            raise _Invalid(field, f"{expected} ({exc})") from None
        raise _Invalid(field, expected, got) from None


def _toml_error_position(exc: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``("line 3, column 7", "Invalid value")`` from a TOMLDecodeError (3.11 has no attributes)."""
    message = str(exc)
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    match = re.search(r"\s*\((at line (\d+), column (\d+)|at end of document)\)$", message)
    reason = message[: match.start()] if match else message
    if lineno is not None and colno is not None:
        return f"line {lineno}, column {colno}", reason
    if match is None:
        return "", reason
    if match.group(2) is None:
        return "end of document", reason
    return f"line {match.group(2)}, column {match.group(3)}", reason


def _float_hint(expected: str, value: object) -> str:
    """For a TOML float, explain why it is refused and how to write it instead."""
    if not isinstance(value, float):
        return expected
    if math.isfinite(value):
        quoted = format(Decimal(repr(value)), "f")
        return f'{expected} (write "{quoted}" in quotes: a TOML float like 0.1 is not exact)'
    return f"{expected} (a quoted decimal string: TOML floats are not exact)"


class _Table:
    """A TOML table being read: knows its field path and checks the type of every value it hands out."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    def path_of(self, key: str) -> str:
        shown = key if _BARE_KEY.match(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{self.path}.{shown}" if self.path else shown

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str) -> Any:
        return self.data.get(key, _MISSING)

    def __iter__(self) -> Iterator[str]:
        """The table's keys, in file order."""
        return iter(self.data)

    def reject_unknown(self, allowed: tuple[str, ...], what: str = "key") -> None:
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _Invalid(
                    self.path_of(key), f"one of the {what}s {', '.join(allowed)}{hint}", _show(key)
                )

    def _value(self, key: str, expected: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING and required:
            raise _Invalid(self.path_of(key), f"{expected} (required, missing)")
        return value

    def table(self, key: str, *, required: bool = False, expected: str = "") -> _Table:
        expected = expected or f"a table, written [{self.path_of(key)}]"
        value = self._value(key, expected, required)
        if value is _MISSING:
            return _Table({}, self.path_of(key))
        if not isinstance(value, dict):
            raise _Invalid(self.path_of(key), expected, _show(value))
        return _Table(value, self.path_of(key))

    def array_of_tables(self, key: str) -> Iterator[tuple[int, _Table]]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise _Invalid(self.path_of(key), f"an array of tables, written [[{key}]]", _show(value))
        for index, item in enumerate(value):
            path = f"{self.path_of(key)}[{index}]"
            if not isinstance(item, dict):
                raise _Invalid(path, f"a table (one [[{key}]] entry)", _show(item))
            yield index, _Table(item, path)

    def string(
        self, key: str, expected: str, *, required: bool = False, default: str = "", non_empty: bool = False
    ) -> str:
        value = self._value(key, expected, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or (non_empty and not value.strip()):
            raise _Invalid(self.path_of(key), expected, _show(value))
        return value

    def symbol(self, key: str) -> str:
        value = self._value(key, SYMBOL_EXPECTED, required=True)
        try:
            return validate_symbol(value, key)
        except UnitError:
            raise _Invalid(self.path_of(key), SYMBOL_EXPECTED, _show(value)) from None

    def choice(self, key: str, options: list[str], default: str = "", *, required: bool = False) -> str:
        expected = "one of " + ", ".join(f'"{o}"' for o in options)
        value = self._value(key, expected, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or value not in options:
            raise _Invalid(self.path_of(key), expected, _show(value))
        return value

    def boolean(self, key: str, expected: str, *, default: bool = False) -> bool:
        value = self._value(key, expected, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise _Invalid(self.path_of(key), expected, _show(value))
        return value

    def integer(
        self,
        key: str,
        expected: str,
        *,
        low: int | None = None,
        high: int | None = None,
        default: int = 0,
        required: bool = False,
    ) -> int:
        value = self._value(key, expected, required)
        if value is _MISSING:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise _Invalid(self.path_of(key), expected, _show(value))
        return value

    def decimal(
        self, key: str, expected: str, *, default: Fraction = _MISSING, required: bool = False
    ) -> Fraction:
        """An exact decimal: a decimal string or an int (never a float or a bool)."""
        value = self._value(key, expected, required)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Invalid(self.path_of(key), _float_hint(expected, value), _show(value))
        try:
            return parse_decimal(value)
        except UnitError:
            raise _Invalid(self.path_of(key), expected, _show(value)) from None
