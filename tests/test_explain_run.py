"""``exchange-sim explain``: an account's margin at a moment of a run, and its liquidation history.

Behaviours verified, on the flash-crash scenario's first 400 s (the crash liquidates its leveraged
longs at 301 s onwards):
- before its liquidation, the account's breakdown shows its position with a liquidation price at
  or above the mark that then liquidated it, and no history;
- at the end, the history's numbers are the journal's own (the LIQUIDATION and LIQ_SETTLED events
  of its unit), and the text says them in words;
- ``--json`` gives the same data; an unknown account is one error line, exit status 2;
- the "capital needed under each margin mode" section: on the flash crash (no portfolio rules)
  isolated and cross are the position's own requirements and portfolio margin is said not to be
  configured; a flat account has no positions; on a small venue with portfolio rules, the table's
  numbers, checked by hand, the saving and the account's mode (portfolio, isolated).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_sim.cli import main
from exchange_sim.config import VenueConfig
from exchange_sim.events import Ev
from exchange_sim.explain_run import explain_account, explain_text
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, read_journal
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.run import run_scenario
from exchange_sim.scenario import default_scenario_path
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

FLASH = default_scenario_path().parent / "flash_crash.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("flash")
    return run_scenario(FLASH, out_dir=out, until_s=400, plots=False).journal_path


def first_liquidated(journal: Path) -> tuple[str, int, list[list[object]]]:
    from exchange_sim.replay import replay

    _, events = read_journal(journal)
    index = next(e[1] for e in events if e[0] == Ev.LIQUIDATION)
    name = replay(journal).venue.ledger.by_index[index].id  # type: ignore[arg-type]
    return name, index, events  # type: ignore[return-value]


def test_before_the_liquidation_the_breakdown_shows_the_liquidation_price(run: Path) -> None:
    name, index, events = first_liquidated(run)
    at = 300_000_000
    data = explain_account(run, name, at)
    assert data["liquidations"] == []
    [position] = data["margin"]["positions"]
    assert position["size"] > 0  # a leveraged long
    # the mark that liquidated it (the SET_MARK input just before its LIQUIDATION) is at or
    # below the liquidation price explain gave before
    mark = None
    for event in events:
        if event[0] == Ev.SET_MARK:
            mark = event[3]
        if event[0] == Ev.LIQUIDATION and event[1] == index:
            break
    assert mark is not None and mark <= position["liquidation_price"]
    assert data["margin"]["equity"] >= data["margin"]["maintenance"]


def test_the_history_is_the_journals_events_in_words(run: Path) -> None:
    name, index, events = first_liquidated(run)
    data = explain_account(run, name)
    [liquidation] = [h for h in data["liquidations"] if h.get("unit") == name]
    start = next(e for e in events if e[0] == Ev.LIQUIDATION and e[1] == index)
    assert (liquidation["equity"], liquidation["maintenance"]) == (start[2], start[3])
    settled = [e for e in events if e[0] == Ev.LIQ_SETTLED and e[1] == index]
    steps = [s for s in liquidation["steps"] if s["kind"] == "settled"]
    assert [
        (s["lots"], s["fill_value"], s["bankruptcy_value"], s["fee"], s["fund_delta"]) for s in steps
    ] == [tuple(e[3:8]) for e in settled]
    assert liquidation["outcome"] in ("flat", "healthy again", "positions left open")
    header, _ = read_journal(run)
    from exchange_sim.config import VenueConfig

    text = "\n".join(explain_text(data, VenueConfig.from_dict(header["config"])))
    assert f"{name} liquidated after the mark input on BTC-PERP" in text
    assert "liquidation order" in text and "against a bankruptcy value of" in text


def test_the_cli_prints_text_or_json_and_refuses_an_unknown_account(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, _, _ = first_liquidated(run)
    assert main(["explain", str(run), "--account", name]) == 0
    assert "liquidation history:" in capsys.readouterr().out
    assert main(["explain", str(run), "--account", name, "--json", "--at", "300"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["account"] == name and data["at_us"] == 300_000_000
    assert main(["explain", str(run), "--account", "nobody"]) == 2
    assert capsys.readouterr().err.startswith("error: account 'nobody' does not exist")
    assert main(["explain", str(run), "--account", name, "--at", "soon"]) == 2


def test_capital_by_margin_mode_without_portfolio_rules(run: Path) -> None:
    name, _, _ = first_liquidated(run)
    data = explain_account(run, name, 300_000_000)
    capital = data["capital_efficiency"]
    [position] = data["margin"]["positions"]
    # one position: isolated and cross both ask its own bracket requirements
    want = {"initial": position["initial"], "maintenance": position["maintenance"]}
    assert capital["isolated"] == capital["cross"] == want
    assert capital["portfolio"] is None and capital["saving"] is None
    assert capital["mode"] == "cross" and capital["portfolio_configured"] is False
    header, _ = read_journal(run)
    lines = explain_text(data, VenueConfig.from_dict(header["config"]))
    start = lines.index("capital needed under each margin mode (USDC):")
    assert lines[start + 1].split() == ["mode", "initial", "maintenance"]
    assert lines[start + 4].split() == ["portfolio", "-", "-"]
    assert lines[start + 5 : start + 7] == [
        "  this account is in cross margin",
        "  portfolio margin is not configured for this venue",
    ]
    assert lines[start + 7] == "liquidation history: none"
    flat = explain_text(explain_account(run, name))  # liquidated flat by the end
    assert "capital needed under each margin mode: none, the account has no positions" in flat


def hedged_journal() -> bytes:
    """BTC-PERP and BTC-FUT (tick 1 USDC, lot 0.001 BTC: 1,000 atoms a tick a lot), one bracket
    of 5% maintenance and 10% initial; portfolio rules: a +-10% stress grid, a 1% floor on gross
    notional, maintenance half of initial. ``pm`` (portfolio) and ``iso`` (isolated) each buy
    1 BTC-PERP and sell 1 BTC-FUT at 30,000 from ``mm`` (cross); marks 30,000 and 30,300."""
    usdc = Asset("USDC", 6)

    def contract(symbol: str, kind: str) -> Instrument:
        extra = {"expiry_us": 86_400_000_000} if kind == "future" else {}
        return Instrument.create(
            symbol, kind=kind, underlying="BTC", settlement=usdc, tick_size="1", lot_size="0.001", **extra
        )

    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    rules = PortfolioRules(
        ("BTC",), "stress", grid=StressGrid(("BTC",), (100_000,)), floor_ppm_of_gross=10_000
    )
    margin = MarginConfig("USDC", (("BTC-PERP", schedule), ("BTC-FUT", schedule)), portfolio=rules)
    journal = JournalWriter()
    config = VenueConfig(
        (usdc,), (contract("BTC-PERP", "perpetual"), contract("BTC-FUT", "future")), margin=margin
    )
    v = Venue(config, journal=journal)
    for name, mode, cash in (
        ("mm", "cross", "1000000"),
        ("pm", "portfolio", "10000"),
        ("iso", "isolated", "10000"),
    ):
        assert v.open_account(0, name, mode).ok
        v.deposit(0, name, "USDC", cash)
    v.set_mark_price(0, "BTC-PERP", 30_000)
    v.set_mark_price(0, "BTC-FUT", 30_300)
    for name in ("pm", "iso"):
        assert v.submit(1, "mm", "BTC-PERP", Side.SELL, 1_000, 30_000).resting
        assert v.submit(1, name, "BTC-PERP", Side.BUY, 1_000, 30_000, tif=TimeInForce.IOC).fills
        assert v.submit(1, "mm", "BTC-FUT", Side.BUY, 1_000, 30_000).resting
        assert v.submit(1, name, "BTC-FUT", Side.SELL, 1_000, 30_000, tif=TimeInForce.IOC).fills
    return journal.getvalue()


def test_capital_by_margin_mode_with_portfolio_rules() -> None:
    journal = hedged_journal()
    data = explain_account(journal, "pm")
    capital = data["capital_efficiency"]
    u = 1_000_000
    # PERP: 1 BTC x 30,000 = 30,000 USDC: initial 10% = 3,000, maintenance 5% = 1,500;
    # FUT: 30,300 USDC: 3,030 and 1,515. Isolated and cross: 6,030 and 3,015.
    assert capital["isolated"] == capital["cross"] == {"initial": 6_030 * u, "maintenance": 3_015 * u}
    # portfolio: exposure 30,000 - 30,300 = -300 (a +10% move loses 30); the floor, 1% of the gross
    # 60,300 = 603, is more: initial 603, maintenance 301.5; saving 6,030 - 603 = 5,427 (90%)
    portfolio = capital["portfolio"]
    assert (portfolio["initial"], portfolio["maintenance"]) == (603 * u, 301_500_000)
    assert (portfolio["stress"], portfolio["floor"], portfolio["driver"]) == (30 * u, 603 * u, "floor")
    assert capital["saving"]["initial"] == 5_427 * u and capital["saving"]["initial_percent"] == [90, 1]
    assert capital["mode"] == "portfolio" and capital["portfolio_configured"] is True
    lines = explain_text(data)
    start = lines.index("capital needed under each margin mode (USDC):")
    assert lines[start + 1 : start + 7] == [
        "  mode       initial  maintenance",
        "  isolated      6030         3015",
        "  cross         6030         3015",
        "  portfolio      603        301.5",
        "  portfolio margin asks 5427 USDC (90%) less initial margin than cross;"
        " set by the floor on a gross notional of 60300 USDC",
        "  this account is in portfolio margin",
    ]
    assert lines[start + 7] == "liquidation history: none"
    # the isolated account: the same positions (held by its sub-accounts), the same numbers
    iso = explain_account(journal, "iso")["capital_efficiency"]
    assert iso["mode"] == "isolated"
    assert {k: iso[k] for k in ("isolated", "cross", "portfolio")} == {
        k: capital[k] for k in ("isolated", "cross", "portfolio")
    }
    # before any trade (at 0 s), nothing is held
    assert explain_account(journal, "pm", 0)["capital_efficiency"]["positions"] == []
