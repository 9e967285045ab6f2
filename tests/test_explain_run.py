"""``exchange-sim explain``: an account's margin at a moment of a run, and its liquidation history.

Behaviours verified, on the flash-crash scenario's first 400 s (the crash liquidates its leveraged
longs at 301 s onwards):
- before its liquidation, the account's breakdown shows its position with a liquidation price at
  or above the mark that then liquidated it, and no history;
- at the end, the history's numbers are the journal's own (the LIQUIDATION and LIQ_SETTLED events
  of its unit), and the text says them in words;
- ``--json`` gives the same data; an unknown account is one error line, exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_sim.cli import main
from exchange_sim.events import Ev
from exchange_sim.explain_run import explain_account, explain_text
from exchange_sim.journal import read_journal
from exchange_sim.run import run_scenario
from exchange_sim.scenario import default_scenario_path

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
