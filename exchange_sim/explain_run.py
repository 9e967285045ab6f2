"""``exchange-sim explain``: one account's margin at a moment of a run, and its liquidation history.

:func:`explain_account` replays a journal's inputs up to a time (inclusive; default: the end),
takes the account's margin breakdown there (:func:`exchange_sim.margin.explain.explain`: collateral
and haircuts, each position's notional, bracket, requirements, unrealised PnL, liquidation and
bankruptcy prices, equity, requirements, margin ratio), and collects, from the journal's own
recorded events, everything the liquidation engine did to the account up to then: what
triggered each liquidation (the price input and the equity against maintenance), the orders it
cancelled, each liquidation order with its fills, the fee to the insurance fund or the fund's
payment, takeovers, deleveraging (as the bankrupt side or as a counterparty), socialised losses
and bad debt. :func:`explain_text` writes it in words and numbers a student can follow; the dict
itself is the ``--json`` output. Every number comes from the journal, so it matches its events.

It also compares, for the account's positions at that time, the capital they need under each
margin mode (``capital_efficiency``: isolated, cross and, when the venue has portfolio rules,
portfolio initial and maintenance, from :func:`exchange_sim.margin.efficiency.compare_account`),
with the mode the account is actually in.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from exchange_sim.config import VenueConfig
from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import read_bytes, read_journal
from exchange_sim.margin.efficiency import compare_account
from exchange_sim.margin.explain import Explanation, explain
from exchange_sim.orders import Reason, Side
from exchange_sim.replay import apply_input
from exchange_sim.units import format_atoms, format_fraction
from exchange_sim.venue import Venue

__all__ = ["explain_account", "explain_text"]

_TRIGGERS = {
    Ev.SET_MARK: "mark",
    Ev.SET_INDEX: "index price",
    Ev.FUNDING: "funding",
    Ev.SETTLE_EXPIRY: "expiry",
    Ev.MARGIN_RATES: "margin rates",
}
_OUTCOMES = {0: "healthy again", 1: "flat", 2: "positions left open"}


def explain_account(
    journal: str | os.PathLike[str] | bytes, account: str, at_us: int | None = None
) -> dict[str, Any]:
    """The account's margin at ``at_us`` (default: the journal's end) and its liquidation history
    up to then, as JSON-ready data. ``ValueError`` for an account the journal never opened (by
    then) or a venue without margin rules."""
    header, events = read_journal(read_bytes(journal))
    config = VenueConfig.from_dict(header["config"])
    venue = Venue(config)
    if config.margin is None:
        raise ValueError("the run has no margin rules: there is no margin to explain")
    history: list[dict[str, Any]] = []
    trigger: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    now = 0
    for event in events:
        code = event[0]
        if code in INPUTS:
            if at_us is not None and event[1] > at_us:
                break
            now = event[1]
            trigger = _trigger(venue, event)
            apply_input(venue, event)
            order = None
            continue
        units = _units(venue, account)
        if not units:
            continue
        if code == Ev.LIQUIDATION and event[1] in units:
            current = {
                "ts": now,
                "unit": venue.ledger.by_index[event[1]].id,
                "trigger": trigger,
                "equity": event[2],
                "maintenance": event[3],
                "cancelled_orders": 0,
                "steps": [],
            }
            history.append(current)
        elif current is not None and code == Ev.ENDED and event[2] == Reason.LIQUIDATION and order is None:
            if not current["steps"]:
                current["cancelled_orders"] += 1
        elif code == Ev.LIQ_ORDER and event[2] in units and current is not None:
            order = {
                "kind": "order",
                "order_id": event[1],
                "instrument": config.instruments[event[3]].symbol,
                "side": Side(event[4]).name.lower(),
                "lots": event[5],
                "limit": event[6],
                "fills": [],
            }
            current["steps"].append(order)
        elif code == Ev.FILL and order is not None:
            order["fills"].append({"price": event[2], "lots": event[3], "taker_fee": event[4]})
        elif code == Ev.LIQ_SETTLED and event[1] in units and current is not None:
            order = None
            current["steps"].append(
                {
                    "kind": "settled",
                    "lots": event[3],
                    "fill_value": event[4],
                    "bankruptcy_value": event[5],
                    "fee": event[6],
                    "fund_delta": event[7],
                }
            )
        elif code == Ev.TAKEOVER and event[1] in units and current is not None:
            current["steps"].append(
                {
                    "kind": "takeover",
                    "receiver": venue.ledger.by_index[event[2]].id,
                    "instrument": config.instruments[event[3]].symbol,
                    "size": event[4],
                    "mark": event[5],
                }
            )
        elif code == Ev.SWEPT and event[1] in units and current is not None:
            current["steps"].append(
                {"kind": "swept", "receiver": venue.ledger.by_index[event[2]].id, "amount": event[3]}
            )
        elif code == Ev.DELEVERAGED and (event[1] in units or event[2] in units):
            entry = {
                "kind": "deleveraged" if event[1] in units else "deleveraged_as_counterparty",
                "ts": now,
                "bankrupt": venue.ledger.by_index[event[1]].id,
                "counterparty": venue.ledger.by_index[event[2]].id,
                "instrument": config.instruments[event[3]].symbol,
                "lots": event[4],
                "mark": event[5],
                "haircut": event[6],
                "closed_profit": event[7],
            }
            if event[1] in units and current is not None:
                current["steps"].append(entry)
            else:
                history.append(entry)
        elif code == Ev.ADL_DONE and event[1] in units and current is not None:
            current["steps"].append(
                {
                    "kind": "adl_done",
                    "deficit": event[3],
                    "haircuts": event[4],
                    "closed_profit": event[5],
                    "beyond_need": event[6],
                }
            )
        elif code == Ev.SOCIAL_SHARE and event[1] in units:
            history.append({"kind": "socialized_share", "ts": now, "amount": event[2]})
        elif code == Ev.SOCIALIZED and event[1] in units and current is not None:
            current["steps"].append({"kind": "socialized", "amount": event[2]})
        elif code == Ev.BAD_DEBT and event[1] in units and current is not None:
            current["steps"].append({"kind": "bad_debt", "amount": event[2]})
        elif code == Ev.LIQUIDATION_END and event[1] in units and current is not None:
            current["outcome"] = _OUTCOMES.get(event[2], str(event[2]))
            current["equity_after"] = event[3]
            current["maintenance_after"] = event[4]
            current, order = None, None
    if account not in venue.ledger.accounts:
        raise ValueError(f"account {account!r} does not exist in this journal (by {now} us)")
    breakdown = explain(venue, account)
    capital = compare_account(venue, account).as_dict()
    try:
        capital["mode"] = venue.margin_mode(account)
    except KeyError:  # a system account or an isolated sub-account: no mode of its own
        capital["mode"] = None
    capital["portfolio_configured"] = config.margin.portfolio is not None
    return {
        "account": account,
        "at_us": now if at_us is None else at_us,
        "run": header.get("meta", {}),
        "settlement_asset": breakdown.settlement_asset,
        "decimals": venue.assets[breakdown.settlement_asset].decimals,
        "margin": _breakdown(venue, breakdown),
        "capital_efficiency": capital,
        "liquidations": history,
    }


def _trigger(venue: Venue, event: list[Any]) -> dict[str, Any] | None:
    code = event[0]
    name = _TRIGGERS.get(code)
    if name is None:
        return None
    if code == Ev.MARGIN_RATES:  # dynamic margin: scales per underlying, in ppm
        pairs = event[2] if isinstance(event[2], list) else []
        return {
            "input": name,
            "scales": {str(p[0]): p[1] for p in pairs if isinstance(p, list) and len(p) == 2},
        }
    if code == Ev.SET_INDEX:
        return {
            "input": name,
            "asset": event[2] if isinstance(event[2], str) else venue.config.assets[event[2]].symbol,
            "value": event[3],
        }
    symbol = venue.config.instruments[event[2]].symbol if type(event[2]) is int else event[2]
    return {"input": name, "instrument": symbol, "value": event[3]}


def _units(venue: Venue, account: str) -> set[int]:
    main = venue.ledger.accounts.get(account)
    if main is None:
        return set()
    return {main.index, *(sub.index for sub in venue.sub_accounts.get(account, {}).values())}


def _breakdown(venue: Venue, e: Explanation) -> dict[str, Any]:
    ratio = e.margin_ratio
    return {
        "mode": e.mode,
        "settlement_balance": e.settlement_balance,
        "collateral": [
            {
                "asset": c.asset,
                "balance": c.balance,
                "price": c.price,
                "haircut_ppm": c.haircut_ppm,
                "value": c.value,
            }
            for c in e.collateral
        ],
        "positions": [
            {
                "instrument": p.instrument,
                "size": p.size,
                "entry_price": str(p.entry_price),
                "mark": p.mark,
                "value": p.value,
                "notional": p.notional,
                "bracket": p.bracket,
                "initial": p.initial,
                "maintenance": p.maintenance,
                "unrealized_pnl": p.unrealized_pnl,
                "liquidation_price": p.liquidation_price,
                "bankruptcy_price": p.bankruptcy_price,
            }
            for p in e.positions
        ],
        "equity": e.equity,
        "initial": e.initial,
        "maintenance": e.maintenance,
        "reserved": e.reserved,
        "margin_ratio": None if ratio is None else [ratio.numerator, ratio.denominator],
        "isolated": [_breakdown(venue, sub) | {"account": sub.account} for sub in e.isolated],
    }


def explain_text(data: dict[str, Any], venue_config: VenueConfig | None = None) -> list[str]:
    """The explanation in words and numbers (the text ``exchange-sim explain`` prints)."""
    asset, decimals = data["settlement_asset"], data["decimals"]
    instruments = {i.symbol: i for i in venue_config.instruments} if venue_config is not None else {}

    def money(atoms: int) -> str:
        return f"{format_atoms(atoms, decimals)} {asset}"

    def price(symbol: str, ticks: int | None) -> str:
        if ticks is None:
            return "none"
        inst = instruments.get(symbol)
        return inst.format_price(ticks) if inst is not None else f"{ticks} ticks"

    def size(symbol: str, lots: int) -> str:
        inst = instruments.get(symbol)
        return inst.format_size(lots) if inst is not None else f"{lots} lots"

    lines = [f"account {data['account']} at {format_atoms(data['at_us'], 6)} s of simulated time"]
    lines += _margin_lines(data["margin"], money, price, size, "  ")
    if data.get("capital_efficiency") is not None:
        lines += _capital_lines(data["capital_efficiency"], asset, decimals, "  ")
    history = data["liquidations"]
    if not history:
        lines.append("liquidation history: none")
        return lines
    lines.append("liquidation history:")
    for item in history:
        when = f"{format_atoms(item['ts'], 6)} s"
        if item.get("kind") == "deleveraged_as_counterparty":
            lines.append(
                f"  {when}: deleveraged as a counterparty of {item['bankrupt']}: closed"
                f" {size(item['instrument'], item['lots'])}"
                f" {item['instrument']} at the mark {price(item['instrument'], item['mark'])},"
                f" paid {money(item['haircut'])}"
                f" of its deficit, realised {money(item['closed_profit'])} of profit"
            )
            continue
        if item.get("kind") == "socialized_share":
            lines.append(f"  {when}: paid {money(item['amount'])} toward a socialised loss")
            continue
        trigger = item.get("trigger") or {}
        cause = ""
        if trigger.get("input") in ("mark", "expiry"):
            symbol, value = trigger.get("instrument"), trigger.get("value")
            shown = price(symbol, value) if isinstance(value, int) else value
            cause = f" after the {trigger['input']} input on {symbol} ({shown})"
        elif trigger.get("input") == "funding":
            cause = f" after the funding of {trigger.get('instrument')} ({trigger.get('value')} ppm)"
        elif trigger.get("input") == "margin rates":
            scales = ", ".join(f"{u} x{Fraction(v, 1_000_000)}" for u, v in trigger.get("scales", {}).items())
            cause = f" after the dynamic margin rates input ({scales or 'no scale changed'})"
        elif trigger.get("input") == "index price":
            cause = f" after the {trigger.get('asset')} index price input ({trigger.get('value')})"
        lines.append(
            f"  {when}: {item['unit']} liquidated{cause}: equity {money(item['equity'])} below maintenance"
            f" {money(item['maintenance'])}"
        )
        if item["cancelled_orders"]:
            lines.append(f"    cancelled {item['cancelled_orders']} open order(s)")
        for step in item["steps"]:
            kind = step["kind"]
            if kind == "order":
                symbol = step["instrument"]
                fills = ", ".join(
                    f"{size(symbol, f['lots'])} at {price(symbol, f['price'])}" for f in step["fills"]
                )
                lines.append(
                    f"    liquidation order {step['order_id']}: {step['side']}"
                    f" {size(symbol, step['lots'])} {symbol},"
                    f" no worse than {price(symbol, step['limit'])}: "
                    + (f"filled {fills}" if fills else "no fill")
                )
            elif kind == "settled":
                delta = step["fund_delta"]
                fund = (
                    f"{money(delta)} to the insurance fund"
                    if delta > 0
                    else f"the insurance fund paid {money(-delta)}"
                    if delta < 0
                    else "nothing to or from the fund"
                )
                lines.append(
                    f"    {step['lots']} lots closed for {money(abs(step['fill_value']))} against a"
                    f" bankruptcy value of"
                    f" {money(abs(step['bankruptcy_value']))}: fee {money(step['fee'])}; {fund}"
                )
            elif kind == "takeover":
                lines.append(
                    f"    {step['receiver']} took over {size(step['instrument'], abs(step['size']))}"
                    f" {step['instrument']}"
                    f" at the mark {price(step['instrument'], step['mark'])}"
                )
            elif kind == "swept":
                amount = step["amount"]
                lines.append(
                    f"    {step['receiver']} took the {money(amount)} of margin left"
                    if amount > 0
                    else f"    {step['receiver']} covered {money(-amount)} of negative equity"
                )
            elif kind == "deleveraged":
                lines.append(
                    f"    deleveraged: {step['counterparty']} closed {size(step['instrument'], step['lots'])}"
                    f" against it at"
                    f" the mark {price(step['instrument'], step['mark'])} and paid {money(step['haircut'])}"
                    f" of the deficit"
                )
            elif kind == "adl_done":
                lines.append(
                    f"    deleveraging covered a deficit of {money(step['deficit'])}; counterparties realised"
                    f" {money(step['closed_profit'])} of profit, {money(step['beyond_need'])} beyond need"
                )
            elif kind == "socialized":
                lines.append(f"    {money(step['amount'])} of loss shared by accounts in profit")
            elif kind == "bad_debt":
                lines.append(f"    bad debt recorded: {money(step['amount'])}")
        if "outcome" in item:
            lines.append(
                f"    ended {item['outcome']}: equity {money(item['equity_after'])},"
                f" maintenance {money(item['maintenance_after'])}"
            )
    return lines


def _capital_lines(c: dict[str, Any], asset: str, decimals: int, pad: str) -> list[str]:
    """The "capital needed under each margin mode" section: an aligned table of initial and
    maintenance under isolated, cross and portfolio margin (``margin/efficiency.py``)."""
    if not c["positions"]:
        return ["capital needed under each margin mode: none, the account has no positions"]
    rows = [("mode", "initial", "maintenance")]
    for mode in ("isolated", "cross", "portfolio"):
        r = c[mode]
        rows.append(
            (mode, "-", "-")
            if r is None
            else (mode, format_atoms(r["initial"], decimals), format_atoms(r["maintenance"], decimals))
        )
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = [f"capital needed under each margin mode ({asset}):"]
    lines += [
        f"{pad}{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}".rstrip() for row in rows
    ]
    portfolio, saving = c["portfolio"], c["saving"]
    if portfolio is not None and saving is not None and saving["initial_percent"] is not None:
        amount = saving["initial"]
        percent = Fraction(*saving["initial_percent"])
        if amount == 0:
            text = "portfolio margin asks the same initial margin as cross"
        else:
            shown = (
                f"{format_atoms(abs(amount), decimals)} {asset} ({format_fraction(round(abs(percent), 2))}%)"
            )
            text = (
                f"portfolio margin asks {shown} {'less' if amount > 0 else 'more'} initial margin than cross"
            )
        lines.append(f"{pad}{text}{_driver(portfolio, asset, decimals)}")
    if c["mode"] is not None:
        lines.append(f"{pad}this account is in {c['mode']} margin")
    if not c["portfolio_configured"]:
        lines.append(f"{pad}portfolio margin is not configured for this venue")
    return lines


def _driver(p: dict[str, Any], asset: str, decimals: int) -> str:
    """What set the portfolio requirement, in words (empty when nothing did)."""
    driver = p["driver"]
    if driver == "floor":
        return (
            f"; set by the floor on a gross notional of {format_atoms(p['gross_notional'], decimals)} {asset}"
        )
    if driver == "var":
        return "; set by value at risk"
    if driver == "stress":
        worst = p["worst"]
        if not worst:
            return "; set by the stress grid"
        moves = ", ".join(
            f"{w['underlying']} {'+' if w['move_ppm'] > 0 else '-'}"
            f"{format_fraction(Fraction(abs(w['move_ppm']), 10_000))}%"
            + (
                ""
                if w["weight_ppm"] == 1_000_000
                else f" at {format_fraction(Fraction(w['weight_ppm'], 10_000))}%"
            )
            for w in worst
        )
        return f"; set by the stress grid (worst move {moves})"
    return ""


def _margin_lines(m: dict[str, Any], money: Any, price: Any, size: Any, pad: str) -> list[str]:
    lines = [f"{pad}margin mode {m['mode']}; settlement balance {money(m['settlement_balance'])}"]
    for c in m["collateral"]:
        lines.append(
            f"{pad}collateral {c['asset']}: {c['balance']} atoms at {money(c['price'])} per unit, less a"
            f" {c['haircut_ppm'] / 10_000:g}% haircut: counts {money(c['value'])}"
        )
    for p in m["positions"]:
        symbol = p["instrument"]
        side = "long" if p["size"] > 0 else "short"
        lines.append(
            f"{pad}{symbol}: {side} {size(symbol, abs(p['size']))}, mark {price(symbol, p['mark'])}, notional"
            f" {money(p['notional'])} (bracket {p['bracket']}): maintenance {money(p['maintenance'])},"
            f" initial"
            f" {money(p['initial'])}, unrealised PnL {money(p['unrealized_pnl'])}"
        )
        lines.append(
            f"{pad}  liquidation price {price(symbol, p['liquidation_price'])}, bankruptcy price"
            f" {price(symbol, p['bankruptcy_price'])}"
        )
    ratio = m["margin_ratio"]
    shown = "none" if ratio is None else f"{ratio[0] / ratio[1]:.4f}"
    lines.append(
        f"{pad}equity {money(m['equity'])}, maintenance {money(m['maintenance'])},"
        f" initial {money(m['initial'])};"
        f" margin ratio (maintenance / equity) {shown}"
        + (" (>= 1: liquidatable)" if ratio and ratio[0] >= ratio[1] else "")
    )
    for sub in m["isolated"]:
        lines.append(f"{pad}isolated position {sub['account']}:")
        lines += _margin_lines(sub, money, price, size, pad + "  ")
    return lines
