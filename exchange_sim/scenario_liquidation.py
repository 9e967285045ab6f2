"""The scenario table ``[liquidation]``: a liquidation rule-set preset, its overrides and the
opening capital of the insurance fund and the backstop vault (``docs/scenario-format.md``).

:func:`read_liquidation` is called by :mod:`exchange_sim.scenario`'s loader once the assets and
the margin rules are read. It returns the :class:`~exchange_sim.liquidation.rules.RuleSet` found at
``Scenario.venue.liquidation`` and the capital found at ``Scenario.liquidation_capital``
(``(("@insurance", atoms), ("@backstop", atoms))``, the non-zero amounts only), which a runner
deposits with :meth:`exchange_sim.venue.Venue.deposit_system` before the first step.

It uses the loader's ``_Table`` helpers, so its mistakes are the loader's
:class:`~exchange_sim.scenario.ScenarioError` with a field path (``liquidation.fee_ppm``). This
module checks types and units; the rules of each field belong to :class:`RuleSet`, whose
:class:`~exchange_sim.units.UnitError` is pointed at ``liquidation.<its field>``.

Units: money in whole units of the margin settlement asset, stored in its atoms; rates in integer
ppm; ``backstop_fraction`` exactly (a decimal string or ``"2/3"``, a :class:`~fractions.Fraction`).
"""

from __future__ import annotations

import re
from dataclasses import fields
from fractions import Fraction
from typing import Any

from exchange_sim.liquidation.engine import BACKSTOP_ACCOUNT, INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import (
    ADL_POLICIES,
    ORDERS,
    PARTIAL,
    PRESETS,
    TAKEOVERS,
    WORST_PRICES,
    RuleSet,
)
from exchange_sim.scenario import _float_hint, _Invalid, _show, _Table, _unit_errors
from exchange_sim.units import PPM, Asset, UnitError, parse_decimal

__all__ = [
    "CUSTOM_SUFFIX",
    "KEYS",
    "LIQUIDATION_KEY",
    "OVERRIDABLE",
    "describe_liquidation",
    "overrides",
    "read_liquidation",
]

LIQUIDATION_KEY = "liquidation"
"""The top-level key this module reads."""

CUSTOM_SUFFIX = "+custom"
"""Appended to the preset's name when an override changes its rules (``"binance+custom"``), so
that a journal header never shows modified rules under a preset's name."""

_FIXED = ("name", "version")
"""RuleSet fields a file may not set: they identify the preset."""

OVERRIDABLE: tuple[str, ...] = tuple(f.name for f in fields(RuleSet) if f.name not in _FIXED)
"""The RuleSet fields a ``[liquidation]`` table may override, in the dataclass's order."""

_BOOLEANS = ("cancel_orders", "through_book", "surplus_to_fund", "socialize", "gate_withdrawals")
_CHOICES: dict[str, tuple[str, ...]] = {
    "partial": PARTIAL,
    "worst_price": WORST_PRICES,
    "takeover": TAKEOVERS,
    "adl": ADL_POLICIES,
    "position_order": ORDERS,
}
_INTEGERS: dict[str, str] = {
    "partial_ppm": f"an integer from 1 to {PPM} (ppm of the position closed per step)",
    "bankruptcy_adjustment_ppm": f"an integer >= 0 (ppm; {PPM} = 1)",
    "fee_ppm": f"an integer from 0 to {PPM - 1} (ppm of the notional liquidated)",
    "max_liquidations_per_step": "a positive integer (accounts liquidated per step)",
}
_MONEY = ("partial_min_notional", "max_notional_per_step", "max_fund_loss_per_step")
_FRACTION = "backstop_fraction"
_CAPITAL = {"insurance_fund": INSURANCE_ACCOUNT, "backstop_vault": BACKSTOP_ACCOUNT}

KEYS = ("rules", *_CAPITAL, *OVERRIDABLE)
"""Every key of a ``[liquidation]`` table."""

_BOOLEAN_EXPECTED = "true or false"
_FRACTION_EXPECTED = (
    'a fraction above 0 and at most 1, written as a decimal string such as "0.6667"'
    ' or a fraction string such as "2/3"'
)
_FRACTION_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_RULES_EXPECTED = "a rule-set preset: one of " + ", ".join(f'"{name}"' for name in PRESETS)


def read_liquidation(
    top: _Table, assets: dict[str, Asset], margin_asset: str | None
) -> tuple[RuleSet | None, tuple[tuple[str, int], ...]]:
    """The ``[liquidation]`` table: the rule set and the system accounts' opening capital.

    Args:
        top: the file's top-level table (the loader's ``_Table``).
        assets: the declared assets by symbol.
        margin_asset: the ``[margin]`` settlement asset's symbol, or ``None`` without ``[margin]``.

    Returns ``(None, ())`` without the table. Raises the loader's internal ``_Invalid`` (turned
    into :class:`~exchange_sim.scenario.ScenarioError` by the loader).
    """
    if not top.has(LIQUIDATION_KEY):
        return None, ()
    table = top.table(LIQUIDATION_KEY)
    if margin_asset is None:
        raise _Invalid(
            table.path,
            "a [margin] table with [liquidation] (an account is liquidated below its maintenance"
            " margin, which [margin] defines)",
        )
    for key in _FIXED:
        if table.has(key):
            raise _Invalid(
                table.path_of(key),
                f"no {key}: name and version identify the preset named by rules (a rule set with"
                f' overrides is named "<preset>{CUSTOM_SUFFIX}")',
                _show(table.get(key)),
            )
    table.reject_unknown(KEYS)
    preset_name = table.string("rules", _RULES_EXPECTED, required=True)
    base = PRESETS.get(preset_name)
    if base is None:
        raise _Invalid(table.path_of("rules"), _RULES_EXPECTED, _show(preset_name))
    settlement = assets[margin_asset]
    changes = {key: _read_field(table, key, settlement) for key in table if key in OVERRIDABLE}
    try:
        rules = base.with_overrides(**changes)
    except UnitError as exc:
        raise _rule_set_error(table, exc, settlement) from None
    rules = base if rules == base else rules.with_overrides(name=preset_name + CUSTOM_SUFFIX)
    if table.has("backstop_vault") and rules.takeover != "backstop":
        raise _Invalid(
            table.path_of("backstop_vault"),
            f'no backstop_vault: the rule set "{rules.name}" has takeover "{rules.takeover}"'
            ' (only takeover "backstop" has a backstop vault)',
            _show(table.get("backstop_vault")),
        )
    capital: list[tuple[str, int]] = []
    for key, account in _CAPITAL.items():
        expected = _money_expected(settlement, "non-negative", "100000")
        amount = _money(table, key, settlement, expected)
        if amount < 0:
            raise _Invalid(table.path_of(key), expected, _show(table.get(key)))
        if amount:
            capital.append((account, amount))
    return rules, tuple(capital)


def overrides(rules: RuleSet) -> dict[str, Any]:
    """The fields in which ``rules`` differs from the preset it is named after, in field order.

    Empty for a preset itself and for a rule set not named after a preset.
    """
    base = PRESETS.get(rules.name.removesuffix(CUSTOM_SUFFIX))
    if base is None:
        return {}
    return {key: getattr(rules, key) for key in OVERRIDABLE if getattr(rules, key) != getattr(base, key)}


def describe_liquidation(rules: RuleSet, capital: tuple[tuple[str, int], ...], settlement: Asset) -> str:
    """One line describing a scenario's liquidation rules, overrides written as in the file.

    >>> from exchange_sim.liquidation.rules import preset
    >>> usdc = Asset("USDC", 6)
    >>> describe_liquidation(preset("binance"), (("@insurance", 100_000_000_000),), usdc)
    'rules binance v1, insurance fund 100000 USDC'
    >>> custom = preset("binance").with_overrides(name="binance+custom", fee_ppm=5000)
    >>> describe_liquidation(custom, (), usdc)
    'rules binance+custom v1 (overrides fee_ppm = 5000), insurance fund 0 USDC'
    """
    changed = overrides(rules)
    shown = ", ".join(f"{key} = {_as_written(key, value, settlement)}" for key, value in changed.items())
    text = f"rules {rules.name} v{rules.version}" + (f" (overrides {shown})" if shown else "")
    amounts = dict(capital)
    text += f", insurance fund {settlement.format(amounts.get(INSURANCE_ACCOUNT, 0))} {settlement.symbol}"
    if rules.takeover == "backstop":
        vault = amounts.get(BACKSTOP_ACCOUNT, 0)
        text += f", backstop vault {settlement.format(vault)} {settlement.symbol}"
    return text


# reading ---------------------------------------------------------------------------------------


def _read_field(table: _Table, key: str, settlement: Asset) -> Any:
    """One override, type-checked and converted (its rules are checked by RuleSet)."""
    if key in _BOOLEANS:
        return table.boolean(key, _BOOLEAN_EXPECTED)
    if key in _CHOICES:
        return table.string(key, _choice_expected(key))
    if key in _INTEGERS:
        return table.integer(key, _INTEGERS[key])
    if key in _MONEY:
        return _money(table, key, settlement, _field_expected(key, settlement))
    if key == _FRACTION:
        return _fraction(table, key)
    raise NotImplementedError(f"no file type for the RuleSet field {key!r}")  # pragma: no cover


def _money(table: _Table, key: str, settlement: Asset, expected: str) -> int:
    """An amount in whole units of ``settlement`` (decimal string or integer), in atoms; 0 if unset."""
    amount = table.decimal(key, expected, default=Fraction(0))
    with _unit_errors(table.path_of(key), expected, _show(table.get(key))):
        return settlement.atoms(amount)


def _fraction(table: _Table, key: str) -> Fraction:
    """``"0.6667"``, ``"2/3"`` or an integer, exactly."""
    value = table.get(key)
    path = table.path_of(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(path, _float_hint(_FRACTION_EXPECTED, value), _show(value))
    match = _FRACTION_RE.match(value) if isinstance(value, str) else None
    if match is not None:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator == 0:
            raise _Invalid(path, _FRACTION_EXPECTED, _show(value))
        return Fraction(numerator, denominator)
    with _unit_errors(path, _FRACTION_EXPECTED, _show(value)):
        return parse_decimal(value)


def _rule_set_error(table: _Table, exc: UnitError, settlement: Asset) -> _Invalid:
    """Point a RuleSet UnitError at ``liquidation.<its field>``, in the file's words."""
    key = exc.field
    if key is None or not table.has(key):  # pragma: no cover - RuleSet checks each field alone
        return _Invalid(table.path, f"a valid rule set ({exc})")
    return _Invalid(table.path_of(key), _field_expected(key, settlement), _show(table.get(key)))


# words ------------------------------------------------------------------------------------------


def _choice_expected(key: str) -> str:
    return "one of " + ", ".join(f'"{option}"' for option in _CHOICES[key])


def _money_expected(settlement: Asset, sign: str, example: str) -> str:
    return (
        f"a {sign} amount of {settlement.symbol} in whole units with at most"
        f' {settlement.decimals} decimals, such as "{example}"'
    )


def _field_expected(key: str, settlement: Asset) -> str:
    """What a valid value of override ``key`` looks like, in words."""
    if key in _BOOLEANS:
        return _BOOLEAN_EXPECTED
    if key in _CHOICES:
        return _choice_expected(key)
    if key in _INTEGERS:
        return _INTEGERS[key]
    if key == "partial_min_notional":
        return _money_expected(settlement, "non-negative", "100000")
    if key in _MONEY:
        return _money_expected(settlement, "positive", "1000000")
    return _FRACTION_EXPECTED


def _as_written(key: str, value: Any, settlement: Asset) -> str:
    """An override's value as a scenario file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if key in _MONEY and value is not None:
        return f'"{settlement.format(value)}"'
    if isinstance(value, Fraction):
        return f'"{value}"'  # Fraction's str: "2/3", or "1" for a whole number
    return str(value)
