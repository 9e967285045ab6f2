"""The scenario tables of portfolio and dynamic margin: ``[margin.portfolio]`` and
``[margin.dynamic]`` (``docs/scenario-format.md``, "Portfolio and dynamic margin").

:func:`read_portfolio_margin` is called by :mod:`exchange_sim.scenario`'s loader once the
instruments are read (the rules' default underlyings are those of the margined contracts), and
returns the :class:`~exchange_sim.margin.portfolio.PortfolioRules` and the
:class:`~exchange_sim.margin.dynamic.DynamicMargin` found at ``scenario.venue.margin.portfolio``
and ``.dynamic`` (``None`` without their table). It uses the loader's ``_Table`` helpers, so its
mistakes are the loader's :class:`~exchange_sim.scenario.ScenarioError` with a field path
(``margin.portfolio.scan_ppm.ETH``, ``margin.dynamic.interval``). As in the loader, the rules of
a value belong to its validator (:class:`~exchange_sim.margin.portfolio.StressGrid`,
:class:`~exchange_sim.margin.portfolio.PortfolioRules`,
:class:`~exchange_sim.margin.dynamic.DynamicMargin`, whose ``UnitError.field`` is turned into the
field path here); this module checks types, units, which keys a method takes and the references
to other tables (every underlying of a margined contract is covered; nothing else is named).

Units: times are read in seconds (decimal strings or integers, as in ``[market]``) and stored in
integer microseconds; rates in integer ppm; correlations exactly, as decimal strings (as
``[[correlations]]``). The VaR covariance is built from ``volatility_ppm`` and ``correlation``:
entry ``(i, j)`` is the float nearest the exact ``sigma_i x sigma_j x rho_ij``, so that
``0.8 x 0.9 x 0.8`` is stored as the float ``0.576``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from exchange_sim.instruments import Instrument
from exchange_sim.margin.config import PLACEMENT_RESERVE, MarginConfig
from exchange_sim.margin.dynamic import DynamicMargin
from exchange_sim.margin.portfolio import METHODS, VAR_MODELS, PortfolioRules, StressGrid
from exchange_sim.prices import correlation_matrix
from exchange_sim.scenario import _Invalid, _show, _Table, _unit_errors
from exchange_sim.scenario_market import _exact_item, _format_seconds, _positive_seconds
from exchange_sim.units import PPM, SYMBOL_EXPECTED, UnitError, seconds, validate_symbol

__all__ = ["PORTFOLIO_KEYS", "covariance_of", "describe_portfolio_margin", "read_portfolio_margin"]

PORTFOLIO_KEYS = ("portfolio", "dynamic")
"""The keys of ``[margin]`` this module reads (its sub-tables)."""

_COMMON_KEYS = ("method", "underlyings", "correlation", "floor_ppm_of_gross", "maintenance_ppm_of_initial")
_STRESS_KEYS = (
    "scan_ppm",
    "steps",
    "extreme_multiple",
    "extreme_weight_ppm",
    "principal",
    "joint_draws",
    "draw_seed",
)
_VAR_KEYS = ("volatility_ppm", "confidence_ppm", "horizon", "var_model")
_PORTFOLIO_TABLE_KEYS = (*_COMMON_KEYS, *_STRESS_KEYS, *_VAR_KEYS)
_METHOD_KEYS = {"stress": _STRESS_KEYS, "var": _VAR_KEYS, "max": (*_STRESS_KEYS, *_VAR_KEYS)}
_DYNAMIC_KEYS = (
    "interval",
    "reference_vol_ppm",
    "window",
    "lam_ppm",
    "floor_ppm",
    "cap_ppm",
    "quantum_ppm",
    "grace",
)

_MAX_VOL_PPM = 100 * PPM
_SCAN_EXPECTED = f"an integer scan range in ppm from 1 to {PPM - 1}, such as 100000 (10%)"
_VOL_EXPECTED = f"an integer annual volatility in ppm from 0 to {_MAX_VOL_PPM}, such as 800000 (80%)"
_REF_VOL_EXPECTED = f"an integer annual volatility in ppm from 1 to {_MAX_VOL_PPM}, such as 800000 (80%)"
_UNDERLYINGS_EXPECTED = 'a non-empty array of unique underlyings such as ["BTC", "ETH"]'
_CORRELATION_ENTRY = 'a decimal correlation from -1 to 1 such as "0.8"'

# What a valid value of each integer or boolean key looks like, in words: for the errors this
# module finds (a wrong type) and for the validators' errors that come without a phrase.
_PHRASES = {
    "steps": "an integer number of steps from 1 to 1000",
    "extreme_multiple": "an integer multiple >= 1",
    "extreme_weight_ppm": f"a weight in ppm from 0 to {PPM}",
    "principal": "true or false",
    "joint_draws": "an integer number of draws >= 0",
    "draw_seed": "an integer seed >= 0",
    "confidence_ppm": "a confidence in ppm from 500001 to 999999",
    "floor_ppm_of_gross": f"a rate in ppm from 0 to {PPM}",
    "maintenance_ppm_of_initial": f"a fraction in ppm from 1 to {PPM}",
    "window": "an integer number of returns >= 2",
    "lam_ppm": f"a decay in ppm from 1 to {PPM - 1}",
    "floor_ppm": "a scale in ppm from 1 to 100000000",
    "cap_ppm": "a scale in ppm from floor_ppm to 100000000",
    "quantum_ppm": f"a step in ppm from 1 to {PPM}",
}
_GRID_KEYS = {  # StressGrid parameter -> key in the file
    "steps": "steps",
    "extreme_multiple": "extreme_multiple",
    "extreme_weight_ppm": "extreme_weight_ppm",
    "joint_draws": "joint_draws",
    "seed": "draw_seed",
}
_RULE_INTS = ("confidence_ppm", "floor_ppm_of_gross", "maintenance_ppm_of_initial")  # PortfolioRules' names
_DYNAMIC_INTS = ("window", "lam_ppm", "floor_ppm", "cap_ppm", "quantum_ppm")

_INTERVAL_EXPECTED = 'a positive number of seconds with at most 6 decimals, such as "60"'
_HORIZON_EXPECTED = 'a positive number of seconds with at most 6 decimals, such as "86400" (one day)'
_GRACE_EXPECTED = 'a number of seconds >= 0 with at most 6 decimals, such as "30"'
_TIME_PHRASES = {
    "horizon": f"{_HORIZON_EXPECTED}, at most 100 years",
    "interval": _INTERVAL_EXPECTED,
    "grace": _GRACE_EXPECTED,
}


def read_portfolio_margin(
    margin: _Table, instruments: tuple[Instrument, ...], settlement: str, placement: str
) -> tuple[PortfolioRules | None, DynamicMargin | None]:
    """``[margin.portfolio]`` and ``[margin.dynamic]`` of the ``[margin]`` table ``margin``.

    ``settlement``: the margin asset (a contract settled in it is margined); ``placement``: the
    ``[margin]`` placement policy (``"reserve"`` is refused with portfolio rules)."""
    margined = tuple(
        dict.fromkeys(i.underlying for i in instruments if not i.is_spot and i.settlement_asset == settlement)
    )
    portfolio = None
    if margin.has("portfolio"):
        portfolio = _read_portfolio(margin.table("portfolio"), margined, settlement)
        if placement == PLACEMENT_RESERVE:
            raise _Invalid(
                margin.path_of("placement"),
                '"fills" or "check" with [margin.portfolio] (placement "reserve" reserves margin per'
                " position; the portfolio requirement is not per position)",
                _show(margin.get("placement")),
            )
    dynamic = _read_dynamic(margin.table("dynamic"), margined) if margin.has("dynamic") else None
    return portfolio, dynamic


def covariance_of(
    volatility_ppm: tuple[int, ...], correlation: tuple[tuple[Fraction, ...], ...] | None
) -> tuple[tuple[float, ...], ...]:
    """The annual covariance ``sigma_i x sigma_j x rho_ij`` (``rho``: the identity without a
    correlation), each entry the float nearest the exact product.

    >>> covariance_of((800_000, 900_000), ((Fraction(1), Fraction(4, 5)), (Fraction(4, 5), Fraction(1))))
    ((0.64, 0.576), (0.576, 0.81))
    """
    n = len(volatility_ppm)

    def rho(i: int, j: int) -> Fraction:
        if correlation is None:
            return Fraction(int(i == j))
        return Fraction(correlation[i][j])

    return tuple(
        tuple(float(Fraction(volatility_ppm[i] * volatility_ppm[j], PPM * PPM) * rho(i, j)) for j in range(n))
        for i in range(n)
    )


# [margin.portfolio] ---------------------------------------------------------------------------


def _read_portfolio(table: _Table, margined: tuple[str, ...], settlement: str) -> PortfolioRules:
    table.reject_unknown(_PORTFOLIO_TABLE_KEYS)
    method = table.choice("method", list(METHODS), "stress")
    for key in (*_STRESS_KEYS, *_VAR_KEYS):
        if table.has(key) and key not in _METHOD_KEYS[method]:
            takers = [f'"{m}"' for m, keys in _METHOD_KEYS.items() if key in keys]
            raise _Invalid(
                table.path_of(key),
                f'no {key} with method "{method}" (only methods {" and ".join(takers)} take it)',
                _show(table.get(key)),
            )
    names = _underlyings(table, margined, settlement)
    correlation = _correlation(table, names) if table.has("correlation") else None

    grid = None
    if method in ("stress", "max"):
        scan_table, scans = _per_underlying(
            table, "scan_ppm", names, "scan ranges", _SCAN_EXPECTED, "{ BTC = 100000 }", method
        )
        grid_options: dict[str, Any] = {}
        for parameter, key in _GRID_KEYS.items():
            if table.has(key):
                grid_options[parameter] = table.integer(key, _PHRASES[key])
        if table.has("principal"):
            grid_options["principal"] = table.boolean("principal", _PHRASES["principal"])
        try:
            grid = StressGrid(names, scans, correlation=correlation, **grid_options)
        except UnitError as exc:
            raise _grid_error(table, scan_table, exc) from None

    covariance = None
    options: dict[str, Any] = {}
    if method in ("var", "max"):
        _, vols = _per_underlying(
            table,
            "volatility_ppm",
            names,
            "annual volatilities",
            _VOL_EXPECTED,
            "{ BTC = 800000 }",
            method,
            low=0,
            high=_MAX_VOL_PPM,
        )
        covariance = covariance_of(vols, correlation)
        options["var_model"] = table.choice("var_model", list(VAR_MODELS), "parametric")
        if table.has("horizon"):
            options["horizon_us"] = _positive_seconds(table, "horizon", 0, _HORIZON_EXPECTED)
    for key in _RULE_INTS:  # confidence_ppm only with a VaR method (checked above)
        if table.has(key):
            options[key] = table.integer(key, _PHRASES[key])
    try:
        return PortfolioRules(names, method, grid=grid, covariance=covariance, **options)
    except UnitError as exc:
        raise _rules_error(table, exc) from None


def _underlyings(table: _Table, margined: tuple[str, ...], settlement: str) -> tuple[str, ...]:
    """``underlyings``, or by default those of the margined contracts, in listing order."""
    path = table.path_of("underlyings")
    of_contracts = ", ".join(margined) if margined else "none"
    if not table.has("underlyings"):
        if not margined:
            raise _Invalid(
                path,
                f"{_UNDERLYINGS_EXPECTED} (required: no contract is settled in the margin asset"
                f" {settlement} to take them from, missing)",
            )
        return margined
    value = table.get("underlyings")
    if not isinstance(value, list) or not value:
        raise _Invalid(path, _UNDERLYINGS_EXPECTED, _show(value))
    first: dict[str, int] = {}
    for n, name in enumerate(value):
        where = f"{path}[{n}]"
        try:
            validate_symbol(name, "underlying")
        except UnitError:
            raise _Invalid(where, SYMBOL_EXPECTED, _show(name)) from None
        if name in first:
            raise _Invalid(
                where, f"a unique underlying ({path}[{first[name]}] already names it)", _show(name)
            )
        if name not in margined:
            raise _Invalid(
                where, f"an underlying of a contract settled in {settlement} ({of_contracts})", _show(name)
            )
        first[name] = n
    missing = [u for u in margined if u not in first]
    if missing:
        raise _Invalid(
            path,
            f"every underlying of a contract settled in {settlement} ({of_contracts}): {missing[0]} is"
            " missing",
            _show(value),
        )
    return tuple(value)


def _per_underlying(
    table: _Table,
    key: str,
    names: tuple[str, ...],
    noun: str,
    expected: str,
    example: str,
    method: str,
    *,
    low: int | None = None,
    high: int | None = None,
) -> tuple[_Table, tuple[int, ...]]:
    """A table of one integer per underlying (``scan_ppm``, ``volatility_ppm``), in ``names``' order."""
    shape = f"a table of {noun} in ppm per underlying, such as {example}"
    if not table.has(key):
        raise _Invalid(table.path_of(key), f'{shape} (required with method "{method}", missing)')
    sub = table.table(key, expected=shape)
    for name in sub:
        if name not in names:
            raise _Invalid(
                sub.path_of(name),
                f"an underlying of the portfolio rules ({', '.join(names)})",
                _show(name),
            )
    values = []
    for name in names:
        if not sub.has(name):
            raise _Invalid(sub.path_of(name), f"{expected}, one for every underlying (required, missing)")
        values.append(sub.integer(name, expected, low=low, high=high))
    return sub, tuple(values)


def _correlation(table: _Table, names: tuple[str, ...]) -> tuple[tuple[Fraction, ...], ...]:
    """``correlation``: rows and columns in the order of the underlyings, decimals read exactly."""
    path = table.path_of("correlation")
    n = len(names)
    shape = (
        f"a {n} x {n} correlation matrix of decimal strings, one row per underlying ({', '.join(names)}),"
        " such as " + ('[["1", "0.8"], ["0.8", "1"]]' if n == 2 else f"{n} rows of {n} entries")
    )
    value = table.get("correlation")
    if not isinstance(value, list) or len(value) != n:
        raise _Invalid(path, shape, _show(value))
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n:
            raise _Invalid(f"{path}[{i}]", f"a row of {n} decimal strings such as" + ' "0.8"', _show(row))
        rows.append(tuple(_exact_item(f"{path}[{i}][{j}]", x, _CORRELATION_ENTRY) for j, x in enumerate(row)))
    try:
        return correlation_matrix(tuple(rows), n)
    except UnitError as exc:
        raise _Invalid(path, f"{exc.expected or 'a correlation matrix'} ({exc})") from None


def _grid_error(table: _Table, scans: _Table, exc: UnitError) -> _Invalid:
    """A StressGrid rule, pointed at the key it is about (``scan_ppm``: the entry with the value)."""
    field = exc.field or ""
    if field == "scan_ppm":
        return _entry_error(scans, exc, _SCAN_EXPECTED)
    if field == "extreme_multiple" and not table.has("extreme_multiple"):
        # the default multiple (2) times the largest scan range falls below zero: the scan's fault
        largest = max(scans, key=lambda name: scans.get(name))
        return _Invalid(
            scans.path_of(largest),
            f"{_SCAN_EXPECTED}, at most {PPM} / extreme_multiple (the default 2) so that an extreme"
            " move is at most a 100% fall",
            _show(scans.get(largest)),
        )
    key = _GRID_KEYS.get(field, field)
    if key == "correlation":  # pragma: no cover - _correlation checked it
        return _Invalid(table.path_of(key), f"{exc.expected or 'a correlation matrix'} ({exc})")
    return _key_error(table, key, exc)


def _rules_error(table: _Table, exc: UnitError) -> _Invalid:
    """A PortfolioRules rule, pointed at the key it is about."""
    field = exc.field or ""
    if field == "covariance":  # only a correlation can make it fail: float rounding of a singular one
        return _Invalid(
            table.path_of("correlation"),
            "a correlation matrix whose covariance with volatility_ppm stays positive semi-definite"
            " once rounded to floats (a singular one, such as a correlation of exactly 1, may not:"
            ' write "0.9999")',
            _show(table.get("correlation")),
        )
    key = "horizon" if field == "horizon_us" else field
    return _key_error(table, key, exc)


def _key_error(table: _Table, key: str, exc: UnitError) -> _Invalid:
    """A validator's error on ``key`` of ``table``; the table itself when the key is not set."""
    if not table.has(key):
        return _Invalid(table.path, f"{exc.expected or 'valid rules'} ({exc})")
    # a time is read in seconds: the validator's phrase counts microseconds
    expected = _TIME_PHRASES.get(key) or exc.expected or _PHRASES.get(key) or f"a valid {key} ({exc})"
    return _Invalid(table.path_of(key), expected, _show(table.get(key)))


def _entry_error(sub: _Table, exc: UnitError, expected: str) -> _Invalid:
    """A rule broken by one value of a per-underlying table: the first entry with that value."""
    for name in sub:
        if exc.got is not None and sub.get(name) == exc.got:
            return _Invalid(sub.path_of(name), exc.expected or expected, _show(exc.got))
    return _Invalid(sub.path, f"{exc.expected or expected} ({exc})")  # pragma: no cover


# [margin.dynamic] -----------------------------------------------------------------------------


def _read_dynamic(table: _Table, margined: tuple[str, ...]) -> DynamicMargin:
    table.reject_unknown(_DYNAMIC_KEYS)
    if not table.has("interval"):
        raise _Invalid(table.path_of("interval"), f"{_INTERVAL_EXPECTED} (required, missing)")
    interval_us = _positive_seconds(table, "interval", 0, _INTERVAL_EXPECTED)
    example = "{ BTC = 800000 }"
    shape = f"a non-empty table of annual volatilities in ppm per underlying, such as {example}"
    if not table.has("reference_vol_ppm"):
        raise _Invalid(table.path_of("reference_vol_ppm"), f"{shape} (required, missing)")
    refs = table.table("reference_vol_ppm", expected=shape)
    if not refs.data:
        raise _Invalid(refs.path, shape, _show(refs.data))
    pairs = []
    for name in refs:
        if name not in margined:
            of_contracts = ", ".join(margined) if margined else "none"
            raise _Invalid(
                refs.path_of(name), f"an underlying of a margined contract ({of_contracts})", _show(name)
            )
        pairs.append((name, refs.integer(name, _REF_VOL_EXPECTED)))
    options: dict[str, Any] = {}
    for key in _DYNAMIC_INTS:
        if table.has(key):
            options[key] = table.integer(key, _PHRASES[key])
    if table.has("grace"):
        amount = table.decimal("grace", _GRACE_EXPECTED, required=True)
        got = _show(table.get("grace"))
        with _unit_errors(table.path_of("grace"), _GRACE_EXPECTED, got):
            options["grace_us"] = seconds(amount)
        if options["grace_us"] < 0:
            raise _Invalid(table.path_of("grace"), _GRACE_EXPECTED, got)
    try:
        return DynamicMargin(interval_us, tuple(pairs), **options)
    except UnitError as exc:
        field = exc.field or ""
        if field == "reference_vol_ppm":
            raise _entry_error(refs, exc, _REF_VOL_EXPECTED) from None
        if field == "cap_ppm" and not table.has("cap_ppm"):  # a floor above the default cap
            raise _Invalid(
                table.path_of("floor_ppm"),
                "a scale in ppm at most cap_ppm (the default 3000000)",
                _show(table.get("floor_ppm")),
            ) from None
        key = {"interval_us": "interval", "grace_us": "grace"}.get(field, field)
        raise _key_error(table, key, exc) from None


# describing -----------------------------------------------------------------------------------


def describe_portfolio_margin(margin: MarginConfig) -> list[str]:
    """What ``exchange-sim validate`` prints about the portfolio and dynamic margin rules (one
    line each; nothing when there are none)."""
    lines = []
    rules = margin.portfolio
    if rules is not None:
        parts = [f"method {rules.method}", f"underlyings {', '.join(rules.underlyings)}"]
        grid = rules.grid
        if grid is not None and rules.method in ("stress", "max"):
            scans = " / ".join(f"{u} {s}" for u, s in zip(grid.underlyings, grid.scan_ppm, strict=True))
            stress = f"scan {scans} ppm in {grid.steps} steps"
            if grid.extreme_weight_ppm:
                stress += f", extremes {grid.extreme_multiple}x at {grid.extreme_weight_ppm} ppm"
            if grid.correlation is not None:
                joint = "principal axes" if grid.principal else "no principal axes"
                stress += f", correlated ({joint}, {grid.joint_draws} draws, seed {grid.seed})"
            parts.append(stress)
        if rules.method in ("var", "max") and rules.covariance is not None:
            vols = " / ".join(
                f"{u} {round(math.sqrt(rules.covariance[n][n]) * PPM)}"
                for n, u in enumerate(rules.underlyings)
            )
            horizon = _format_seconds(rules.horizon_us)
            model = "historical VaR" if rules.var_model == "historical" else "VaR"
            parts.append(f"{model} at {rules.confidence_ppm} ppm over {horizon} s, volatility {vols} ppm")
        if rules.floor_ppm_of_gross:
            parts.append(f"floor {rules.floor_ppm_of_gross} ppm of gross")
        parts.append(f"maintenance {rules.maintenance_ppm_of_initial} ppm of initial")
        lines.append(f"portfolio margin (default mode {margin.mode}): {'; '.join(parts)}")
    dynamic = margin.dynamic
    if dynamic is not None:
        refs = " / ".join(f"{u} {v}" for u, v in dynamic.reference_vol_ppm)
        every, grace = _format_seconds(dynamic.interval_us), _format_seconds(dynamic.grace_us)
        lines.append(
            f"dynamic margin: every {every} s, reference volatility {refs} ppm, window {dynamic.window},"
            f" decay {dynamic.lam_ppm} ppm, scale {dynamic.floor_ppm} to {dynamic.cap_ppm} ppm in steps"
            f" of {dynamic.quantum_ppm}, grace {grace} s"
        )
    return lines
