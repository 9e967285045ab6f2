"""The scenario tables of moving markets: ``[market]``, ``[[indexes]]``, ``[[correlations]]``,
``[[marks]]`` and ``[[funding]]`` (``docs/scenario-format.md``).

:func:`read_market` is called by :mod:`exchange_sim.scenario`'s loader once the instruments,
assets and margin rules are read, and returns the :class:`~exchange_sim.market_spec.MarketSpec`
found at ``Scenario.market`` (``None`` when the file has none of these tables). It uses the
loader's ``_Table`` helpers, so its mistakes are the loader's :class:`ScenarioError` with a field
path (``indexes[1].volatility``, ``funding[0].sample_every``). As in the loader, the rules of a
value belong to its validator (:class:`~exchange_sim.prices.GBM`,
:class:`~exchange_sim.prices.JumpDiffusion`, :class:`~exchange_sim.prices.Correlated`,
:class:`~exchange_sim.marks.MarkRule`); this module checks types, units, defaults and the
references between tables.

Units: times are read in seconds and stored in integer microseconds, money in whole settlement
units and stored in atoms, prices and rates exactly (:class:`~fractions.Fraction`, ppm).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from exchange_sim.book_index import SOURCES, BookIndex
from exchange_sim.funding import impact_notional
from exchange_sim.instruments import Instrument, InstrumentKind
from exchange_sim.margin.config import MarginConfig
from exchange_sim.market_spec import (
    DEFAULT_SETTLEMENT_WINDOW_US,
    DEFAULT_STEP_US,
    CorrelationSpec,
    FundingSpec,
    IndexSpec,
    MarketSpec,
    MarkSpec,
)
from exchange_sim.marks import RULES, MarkRule
from exchange_sim.prices import GBM, Correlated, Interpolation, JumpDiffusion, ScriptedPath, load_csv
from exchange_sim.scenario import (
    _MISSING,
    _claim,
    _float_hint,
    _Invalid,
    _rule_error,
    _show,
    _Table,
    _unit_errors,
)
from exchange_sim.units import PPM, SYMBOL_EXPECTED, Asset, UnitError, parse_decimal, seconds

__all__ = ["MARKET_KEYS", "read_market"]

MARKET_KEYS = ("market", "indexes", "correlations", "marks", "funding")
"""The top-level keys this module reads."""

_US = 1_000_000
DEFAULT_BASIS_WINDOW_US = 300 * _US
DEFAULT_FUNDING_INTERVAL_US = 8 * 3_600 * _US
DEFAULT_SAMPLE_US = 60 * _US
DEFAULT_INTEREST_PPM = 100
DEFAULT_FUNDING_CLAMP_PPM = 500
DEFAULT_CAP_PPM = 7_500
IMPACT_MARGIN_UNITS = 200
"""Binance's impact margin: the default impact notional is what 200 settlement units of margin
buy at the first bracket's initial margin rate (:func:`exchange_sim.funding.impact_notional`)."""

_MARKET_TABLE_KEYS = ("step", "settlement_window")
_CORRELATION_KEYS = ("underlyings", "matrix")
_MARK_KEYS = ("instrument", "rule", "clamp_ppm", "annual_basis_rate_ppm", "basis_window")
_FUNDING_KEYS = (
    "instrument",
    "interval",
    "sample_every",
    "interest_ppm",
    "clamp_ppm",
    "cap_ppm",
    "impact_notional",
    "weighting",
)

PROCESSES = ("gbm", "jump_diffusion", "scripted", "csv", "book")
_INDEX_COMMON = ("underlying", "process", "tick_size")
_PROCESS_KEYS: dict[str, tuple[str, ...]] = {
    "gbm": ("start", "drift", "volatility"),
    "jump_diffusion": ("start", "drift", "volatility", "intensity", "jump_mean", "jump_std"),
    "scripted": ("points", "interpolation"),
    "csv": ("file", "interpolation"),
    "book": ("instrument", "source"),
}
_INDEX_KEYS = tuple(dict.fromkeys(chain(_INDEX_COMMON, *_PROCESS_KEYS.values())))

# What a valid value of each random-process key looks like (the validators' own phrases).
_RANDOM_EXPECTED = {
    "start": 'a positive decimal price such as "30000"',
    "drift": 'a decimal drift per year such as "0.05" (5%)',
    "volatility": 'a non-negative decimal volatility per year such as "0.8" (80%)',
    "intensity": 'a non-negative decimal number of jumps per year such as "12"',
    "jump_mean": 'a decimal mean of the log jump such as "-0.05"',
    "jump_std": 'a non-negative decimal standard deviation of the log jump such as "0.1"',
}

# Which optional [[marks]] keys each rule takes (MarkRule's parameters, as written in the file).
_MARK_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "index": (),
    "index_basis": ("clamp_ppm", "basis_window"),
    "funding_basis": (),
    "fair_price": ("annual_basis_rate_ppm",),
    "mid": (),
    "median": ("clamp_ppm", "basis_window"),
}
_RULES_NEEDING_FUNDING = ("funding_basis", "median")
_KIND_NAMES = {InstrumentKind.FUTURE: "a dated future", InstrumentKind.SPOT: "a spot pair"}

_TICK_EXPECTED = 'a positive decimal string such as "0.5"'
_CLAMP_EXPECTED = f"an integer band in ppm from 0 to {PPM - 1}"
_SIGNED_RATE_EXPECTED = f"an integer rate in ppm strictly between -{PPM} and {PPM}"
_RATE_EXPECTED = f"an integer rate in ppm from 0 to {PPM - 1}"
_ANNUAL_EXPECTED = "an integer annual basis rate in ppm such as 50000 (5% a year)"
_POINTS_EXPECTED = (
    'a non-empty array of [time in seconds, price] pairs such as [["0", "30000"], ["3600", "27000"]]'
)
_POINT_TIME_EXPECTED = 'a time in seconds >= 0 with at most 6 decimals, such as "3600"'
_POINT_PRICE_EXPECTED = 'a positive decimal price such as "30000"'


class _Index(NamedTuple):
    """An ``[[indexes]]`` entry as read: its position in the array and its process name."""

    position: int
    process: str
    spec: IndexSpec


def _seconds_expected(example: str) -> str:
    return f'a positive number of seconds with at most 6 decimals, such as "{example}"'


def read_market(
    top: _Table,
    instruments: tuple[Instrument, ...],
    assets: dict[str, Asset],
    margin: MarginConfig | None,
    base_dir: Path,
) -> MarketSpec | None:
    """The moving-market tables of a scenario, or ``None`` when the file has none of them.

    Args:
        top: the file's top-level table (the loader's ``_Table``).
        instruments: the listed instruments, validated.
        assets: the declared assets by symbol.
        margin: the margin rules (collateral assets, brackets), or ``None`` without ``[margin]``.
        base_dir: the directory CSV ``file`` paths are relative to (the scenario file's).

    Raises the loader's internal ``_Invalid`` (turned into :class:`ScenarioError` by the loader).
    """
    if not any(top.has(key) for key in MARKET_KEYS):
        return None
    by_symbol = {i.symbol: i for i in instruments}
    market = top.table("market")
    market.reject_unknown(_MARKET_TABLE_KEYS)
    step = _positive_seconds(market, "step", DEFAULT_STEP_US, _seconds_expected("1"))
    window = _positive_seconds(
        market, "settlement_window", DEFAULT_SETTLEMENT_WINDOW_US, _seconds_expected("1800")
    )
    indexes = _read_indexes(top, instruments, margin, base_dir)
    correlations = _read_correlations(top, indexes)
    funding = _read_funding(top, by_symbol, indexes, assets, margin)
    marks = _read_marks(top, by_symbol, indexes, {f.instrument: f for f in funding})
    return MarketSpec(step, window, tuple(i.spec for i in indexes.values()), correlations, marks, funding)


# [[indexes]] ----------------------------------------------------------------------------------


def _read_indexes(
    top: _Table, instruments: tuple[Instrument, ...], margin: MarginConfig | None, base_dir: Path
) -> dict[str, _Index]:
    """The ``[[indexes]]`` entries by underlying, in file order."""
    listed = {i.symbol: i for i in instruments}
    underlyings = list(dict.fromkeys(i.underlying for i in instruments))
    collateral = [] if margin is None else [rule.asset for rule in margin.collateral]
    specs: dict[str, _Index] = {}
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("indexes"):
        table.reject_unknown(_INDEX_KEYS)
        underlying = table.symbol("underlying")
        if underlying not in underlyings and underlying not in collateral:
            raise _Invalid(
                table.path_of("underlying"),
                f"the underlying of a listed instrument ({_names(underlyings)}) or a collateral"
                f" asset of [margin] ({_names(collateral)})",
                _show(underlying),
            )
        _claim(first_index, underlying, index, table, "underlying", "underlying", "indexes")
        process = table.choice("process", list(PROCESSES), required=True)
        own = _INDEX_COMMON + _PROCESS_KEYS[process]
        for key in table:
            if key not in own:
                raise _Invalid(
                    table.path_of(key),
                    f'no {key} on a "{process}" index (its keys: {", ".join(own)})',
                    _show(table.get(key)),
                )
        if process == "book":
            followed = _listed_instrument(table, listed)
            if followed.underlying != underlying:
                raise _Invalid(
                    table.path_of("instrument"),
                    f"an instrument on the underlying {underlying} (the index follows its book;"
                    f" {followed.symbol} is on {followed.underlying})",
                    _show(followed.symbol),
                )
            tick = _tick_size(table, underlying, [followed])
            source = table.choice("source", list(SOURCES), "mid")
            specs[underlying] = _Index(
                index, process, IndexSpec(underlying, BookIndex(followed.symbol, source), tick)
            )
            continue
        tick = _tick_size(table, underlying, [i for i in instruments if i.underlying == underlying])
        if process in ("gbm", "jump_diffusion"):
            built: ScriptedPath | GBM | JumpDiffusion = _random_process(table, process, tick)
        elif process == "scripted":
            built = _scripted(table, tick)
        else:
            built = _csv(table, tick, base_dir)
        specs[underlying] = _Index(index, process, IndexSpec(underlying, built, tick))
    return specs


def _tick_size(table: _Table, underlying: str, candidates: list[Instrument]) -> Fraction:
    """The index's tick size: the table's, else the finest of ``candidates``' tick sizes."""
    if not table.has("tick_size"):
        if not candidates:
            raise _Invalid(
                table.path_of("tick_size"),
                f"{_TICK_EXPECTED} (required: no listed instrument has the underlying {underlying}, missing)",
            )
        return min(i.tick_size for i in candidates)
    tick = table.decimal("tick_size", _TICK_EXPECTED, required=True)
    if tick <= 0:
        raise _Invalid(table.path_of("tick_size"), _TICK_EXPECTED, _show(table.get("tick_size")))
    return tick


def _random_process(table: _Table, process: str, tick: Fraction) -> GBM | JumpDiffusion:
    keys = _PROCESS_KEYS[process]
    values = {
        key: table.decimal(key, _RANDOM_EXPECTED[key], required=key == "start", default=Fraction(0))
        for key in keys
    }
    try:
        if process == "gbm":
            return GBM(tick_size=tick, **values)
        return JumpDiffusion(tick_size=tick, **values)
    except UnitError as exc:
        raise _rule_error(
            table, exc, _INDEX_COMMON + keys, f"a valid {process} index", _RANDOM_EXPECTED
        ) from None


def _interpolation(table: _Table) -> str:
    return table.choice("interpolation", [m.value for m in Interpolation], Interpolation.STEP.value)


def _scripted(table: _Table, tick: Fraction) -> ScriptedPath:
    """``points``: ``[time in seconds, price]`` pairs, times strictly increasing."""
    path = table.path_of("points")
    value = table.get("points")
    if value is _MISSING:
        raise _Invalid(path, f"{_POINTS_EXPECTED} (required, missing)")
    if not isinstance(value, list) or not value:
        raise _Invalid(path, _POINTS_EXPECTED, _show(value))
    points: list[tuple[int, Fraction]] = []
    for n, point in enumerate(value):
        where = f"{path}[{n}]"
        if not isinstance(point, list) or len(point) != 2:
            raise _Invalid(where, 'a [time in seconds, price] pair such as ["3600", "27000"]', _show(point))
        time_value, price_value = point
        time_expected = _POINT_TIME_EXPECTED
        if points:
            time_expected = (
                f"{_POINT_TIME_EXPECTED}, after the time of {path}[{n - 1}] (times strictly increase)"
            )
        time_us = _exact_item(f"{where}[0]", time_value, time_expected, to_us=True)
        if time_us < 0 or (points and time_us <= points[-1][0]):
            raise _Invalid(f"{where}[0]", time_expected, _show(time_value))
        price = _exact_item(f"{where}[1]", price_value, _POINT_PRICE_EXPECTED)
        if price <= 0:
            raise _Invalid(f"{where}[1]", _POINT_PRICE_EXPECTED, _show(price_value))
        points.append((int(time_us), price))
    interpolation = _interpolation(table)
    try:
        return ScriptedPath(tuple(points), tick, interpolation)
    except UnitError as exc:  # pragma: no cover - every rule is checked above
        raise _Invalid(path, f"{_POINTS_EXPECTED} ({exc})") from None


def _exact_item(path: str, value: object, expected: str, *, to_us: bool = False) -> Fraction:
    """An array item read exactly: a decimal string or an int (seconds -> microseconds if ``to_us``)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(path, _float_hint(expected, value), _show(value))
    with _unit_errors(path, expected, _show(value)):
        exact = parse_decimal(value)
        if to_us:
            exact = Fraction(seconds(exact))
    return exact


def _csv(table: _Table, tick: Fraction, base_dir: Path) -> ScriptedPath:
    name = table.string("file", 'a CSV file name such as "btc.csv"', required=True, non_empty=True)
    interpolation = _interpolation(table)
    file = base_dir / name
    try:
        return load_csv(file, tick, interpolation)
    except UnitError as exc:  # PriceFileError names the file and the line
        raise _Invalid(table.path_of("file"), f"a valid price CSV file ({exc})") from None


# [[correlations]] -----------------------------------------------------------------------------


def _read_correlations(top: _Table, index_map: dict[str, _Index]) -> tuple[CorrelationSpec, ...]:
    specs: list[CorrelationSpec] = []
    grouped: dict[str, str] = {}  # underlying -> the field that first names it
    for _, table in top.array_of_tables("correlations"):
        table.reject_unknown(_CORRELATION_KEYS)
        path = table.path_of("underlyings")
        names_expected = 'an array of two or more underlyings such as ["BTC", "ETH"]'
        value = table.get("underlyings")
        if value is _MISSING:
            raise _Invalid(path, f"{names_expected} (required, missing)")
        if not isinstance(value, list) or len(value) < 2:
            raise _Invalid(path, names_expected, _show(value))
        components: list[GBM | JumpDiffusion] = []
        for n, name in enumerate(value):
            where = f"{path}[{n}]"
            if not isinstance(name, str) or name not in index_map:
                if not isinstance(name, str):
                    raise _Invalid(where, SYMBOL_EXPECTED, _show(name))
                raise _Invalid(
                    where, f"an underlying with an [[indexes]] entry ({_names(list(index_map))})", _show(name)
                )
            entry = index_map[name]
            process = entry.spec.process
            if not isinstance(process, GBM | JumpDiffusion):
                raise _Invalid(
                    where,
                    f'an underlying with a "gbm" or "jump_diffusion" index (indexes[{entry.position}]'
                    f' is "{entry.process}")',
                    _show(name),
                )
            if name in grouped:
                raise _Invalid(
                    where,
                    f"an underlying in at most one correlation group ({grouped[name]} names it)",
                    _show(name),
                )
            grouped[name] = where
            components.append(process)
        matrix = _matrix(table, len(components))
        try:
            correlated = Correlated(tuple(components), matrix)
        except UnitError as exc:
            raise _Invalid(
                table.path_of("matrix"), f"{exc.expected or 'a correlation matrix'} ({exc})"
            ) from None
        specs.append(CorrelationSpec(tuple(value), correlated.correlation))  # type: ignore[arg-type]
    return tuple(specs)


def _matrix(table: _Table, n: int) -> tuple[tuple[Fraction, ...], ...]:
    path = table.path_of("matrix")
    shape = f"a {n} x {n} matrix of decimal strings, one row per underlying, such as" + (
        ' [["1", "0.8"], ["0.8", "1"]]' if n == 2 else f" {n} rows of {n} entries"
    )
    value = table.get("matrix")
    if value is _MISSING:
        raise _Invalid(path, f"{shape} (required, missing)")
    if not isinstance(value, list) or len(value) != n:
        raise _Invalid(path, shape, _show(value))
    rows: list[tuple[Fraction, ...]] = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n:
            raise _Invalid(f"{path}[{i}]", f"a row of {n} decimal strings such as" + ' "0.8"', _show(row))
        rows.append(
            tuple(
                _exact_item(f"{path}[{i}][{j}]", item, 'a decimal correlation from -1 to 1 such as "0.8"')
                for j, item in enumerate(row)
            )
        )
    return tuple(rows)


# [[funding]] ----------------------------------------------------------------------------------


def _read_funding(
    top: _Table,
    listed: dict[str, Instrument],
    index_map: dict[str, _Index],
    assets: dict[str, Asset],
    margin: MarginConfig | None,
) -> tuple[FundingSpec, ...]:
    schedules = {} if margin is None else margin.schedule_map()
    specs: list[FundingSpec] = []
    first_index: dict[str, int] = {}
    for index, table in top.array_of_tables("funding"):
        table.reject_unknown(_FUNDING_KEYS)
        inst = _listed_instrument(table, listed)
        if inst.kind is not InstrumentKind.PERPETUAL:
            raise _Invalid(
                table.path_of("instrument"),
                f"a perpetual declared in [[instruments]] ({_names(_of_kind(listed, 'perpetual'))});"
                f" {inst.symbol} is {_KIND_NAMES[inst.kind]}: only perpetuals pay funding",
                _show(inst.symbol),
            )
        _claim(first_index, inst.symbol, index, table, "instrument", "instrument", "funding", verb="funds")
        _require_index(table, inst, index_map)
        interval = _positive_seconds(
            table, "interval", DEFAULT_FUNDING_INTERVAL_US, _seconds_expected("28800")
        )
        sample = _positive_seconds(table, "sample_every", DEFAULT_SAMPLE_US, _seconds_expected("60"))
        if interval % sample:
            if table.has("sample_every"):
                raise _Invalid(
                    table.path_of("sample_every"),
                    f"a number of seconds that divides the interval ({_format_seconds(interval)} s)",
                    _show(table.get("sample_every")),
                )
            raise _Invalid(
                table.path_of("interval"),
                f"a multiple of sample_every ({_format_seconds(sample)} s, the default)",
                _show(table.get("interval")),
            )
        limit = PPM - 1
        interest = table.integer(
            "interest_ppm", _SIGNED_RATE_EXPECTED, low=-limit, high=limit, default=DEFAULT_INTEREST_PPM
        )
        clamp = table.integer(
            "clamp_ppm", _RATE_EXPECTED, low=0, high=limit, default=DEFAULT_FUNDING_CLAMP_PPM
        )
        cap = table.integer("cap_ppm", _RATE_EXPECTED, low=0, high=limit, default=DEFAULT_CAP_PPM)
        notional = _impact_notional(table, inst, assets[inst.settlement_asset], schedules)
        weighting = table.choice("weighting", ["mean", "linear"], "mean")
        specs.append(FundingSpec(inst.symbol, interval, sample, interest, clamp, cap, notional, weighting))
    return tuple(specs)


def _impact_notional(table: _Table, inst: Instrument, settlement: Asset, schedules: dict[str, Any]) -> int:
    expected = (
        f"a positive amount of {settlement.symbol} in whole units with at most {settlement.decimals}"
        ' decimals, such as "4000"'
    )
    if not table.has("impact_notional"):
        schedule = schedules.get(inst.symbol)
        if schedule is None:
            raise _Invalid(
                table.path_of("impact_notional"),
                f"{expected} (required: {inst.symbol} has no [margin] brackets to derive it from, missing)",
            )
        return impact_notional(settlement.atoms(IMPACT_MARGIN_UNITS), schedule.brackets[0].initial_ppm)
    amount = table.decimal("impact_notional", expected, required=True)
    got = _show(table.get("impact_notional"))
    with _unit_errors(table.path_of("impact_notional"), expected, got):
        atoms = settlement.atoms(amount)
    if atoms <= 0:
        raise _Invalid(table.path_of("impact_notional"), expected, got)
    return atoms


# [[marks]] ------------------------------------------------------------------------------------


def _read_marks(
    top: _Table,
    listed: dict[str, Instrument],
    index_map: dict[str, _Index],
    funding: dict[str, FundingSpec],
) -> tuple[MarkSpec, ...]:
    specs: list[MarkSpec] = []
    first_index: dict[str, int] = {}
    contracts = [s for s, i in listed.items() if not i.is_spot]
    for index, table in top.array_of_tables("marks"):
        table.reject_unknown(_MARK_KEYS)
        inst = _listed_instrument(table, listed)
        if inst.is_spot:
            raise _Invalid(
                table.path_of("instrument"),
                f"a perpetual or future declared in [[instruments]] ({_names(contracts)});"
                f" {inst.symbol} is a spot pair: it has no positions to mark",
                _show(inst.symbol),
            )
        _claim(first_index, inst.symbol, index, table, "instrument", "instrument", "marks", verb="marks")
        _require_index(table, inst, index_map)
        rule = table.choice("rule", list(RULES), required=True)
        for key in ("clamp_ppm", "annual_basis_rate_ppm", "basis_window"):
            if table.has(key) and key not in _MARK_RULE_KEYS[rule]:
                takers = [f'"{r}"' for r, keys in _MARK_RULE_KEYS.items() if key in keys]
                only = (
                    f"only rule {takers[0]} takes it"
                    if len(takers) == 1
                    else (f"only rules {', '.join(takers[:-1])} and {takers[-1]} take it")
                )
                raise _Invalid(
                    table.path_of(key),
                    f'no {key} with rule "{rule}" ({only})',
                    _show(table.get(key)),
                )
        if rule == "fair_price" and inst.kind is not InstrumentKind.FUTURE:
            raise _Invalid(
                table.path_of("rule"),
                f'a rule other than "fair_price" for the {inst.kind.value} {inst.symbol}'
                " (fair_price marks a dated future by its time to expiry)",
                _show(rule),
            )
        interval = None
        if rule in _RULES_NEEDING_FUNDING:
            spec = funding.get(inst.symbol)
            if spec is None:
                raise _Invalid(
                    table.path_of("rule"),
                    f'a rule that needs no funding, or a [[funding]] entry for {inst.symbol} (rule "{rule}"'
                    " uses its funding interval)",
                    _show(rule),
                )
            interval = spec.interval_us
        clamp = table.integer("clamp_ppm", _CLAMP_EXPECTED, low=0, high=PPM - 1, default=_MISSING)
        annual = table.integer("annual_basis_rate_ppm", _ANNUAL_EXPECTED, default=_MISSING)
        try:
            mark_rule = MarkRule(
                rule,
                clamp_ppm=None if clamp is _MISSING else clamp,
                funding_interval_us=interval,
                annual_basis_rate_ppm=None if annual is _MISSING else annual,
            )
        except UnitError as exc:
            phrases = {"clamp_ppm": _CLAMP_EXPECTED, "annual_basis_rate_ppm": _ANNUAL_EXPECTED}
            raise _rule_error(table, exc, _MARK_KEYS, "a valid mark rule", phrases) from None
        window = _positive_seconds(table, "basis_window", DEFAULT_BASIS_WINDOW_US, _seconds_expected("300"))
        specs.append(MarkSpec(inst.symbol, mark_rule, window))
    return tuple(specs)


# shared helpers -------------------------------------------------------------------------------


def _positive_seconds(table: _Table, key: str, default_us: int, expected: str) -> int:
    """A positive time in seconds (decimal string or int) -> microseconds; ``default_us`` if absent."""
    if not table.has(key):
        return default_us
    amount = table.decimal(key, expected, required=True)
    got = _show(table.get(key))
    with _unit_errors(table.path_of(key), expected, got):
        time_us = seconds(amount)
    if time_us <= 0:
        raise _Invalid(table.path_of(key), expected, got)
    return time_us


def _listed_instrument(table: _Table, listed: dict[str, Instrument]) -> Instrument:
    symbol = table.symbol("instrument")
    inst = listed.get(symbol)
    if inst is None:
        raise _Invalid(
            table.path_of("instrument"),
            f"an instrument declared in [[instruments]] ({_names(list(listed))})",
            _show(symbol),
        )
    return inst


def _require_index(table: _Table, inst: Instrument, index_map: dict[str, _Index]) -> None:
    if inst.underlying not in index_map:
        raise _Invalid(
            table.path_of("instrument"),
            f"an instrument whose underlying has an [[indexes]] entry ({inst.symbol}'s underlying"
            f" {inst.underlying} has none)",
            _show(inst.symbol),
        )


def _of_kind(listed: dict[str, Instrument], kind: str) -> list[str]:
    return [s for s, i in listed.items() if i.kind.value == kind]


def _names(names: list[str]) -> str:
    return "one of " + ", ".join(names) if names else "none"


def _format_seconds(time_us: int) -> str:
    whole, rest = divmod(time_us, _US)
    return str(whole) if not rest else f"{whole}.{rest:06d}".rstrip("0")
