"""The bundled scenarios (``scenarios/*.toml``) load, run, and show what they say they show.

Behaviours verified:
- every bundled scenario file passes ``exchange-sim validate``; the scenario ``exchange-sim run``
  runs by default is one of them;
- every scenario with a ``[simulation]`` table runs through ``run_scenario`` (some shortened,
  see ``UNTIL_S``), after which money is conserved and positions net to zero
  (``Venue._check``), and the journal replays;
- each scenario's own claim (docs/scenarios.md), at least in its shortened form:
  calm: both perpetuals trade, funding is paid near the interest rate, no bad debt, the
  insurance fund does not shrink; flash_crash: a cascade, liquidations at several distinct
  times, all through the book; funding_squeeze: funding rates at the cap and liquidations right
  after fundings; contagion: an account liquidated in both instruments, its ETH position first
  (largest maintenance), ETH-only accounts untouched; adl: deleveraging events with profit
  closed beyond need, an insurance fund run down to near zero, no bad debt; book_cross and
  book_isolated: identical but for the margin mode, with different liquidation counts;
  portfolio_crash: dynamic margin raises rates in the crash, which liquidates the cross hedges
  while the portfolio hedges survive, and isolated positions go one by one;
- the calm run is deterministic: the same run twice gives the same journal bytes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exchange_sim.cli import main
from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import read_journal
from exchange_sim.replay import replay
from exchange_sim.run import RunOutput, default_run_scenario_path, run_scenario
from exchange_sim.scenario import default_scenario_path, load_scenario

SCENARIO_DIR = default_scenario_path().parent
ALL = sorted(SCENARIO_DIR.glob("*.toml"))
RUNNABLE = [p for p in ALL if load_scenario(p).simulation is not None]

UNTIL_S: dict[str, int | None] = {
    "calm": 1_800,  # three hours in full (about 15 s); the first half hour and its funding here
    "contagion": 900,  # the crash and its liquidations are over by 720 s
    "book_cross": 900,  # the fall goes on to 900 s; the liquidations come before
    "book_isolated": 900,
}
"""Seconds each scenario is run for in this file (absent: its full duration)."""

S = 1_000_000


@dataclass
class Run:
    """One finished run, with its journal read back and indexes resolved to names."""

    output: RunOutput
    header: dict[str, Any]
    events: list[list[Any]]
    accounts: list[str]
    instruments: list[str]
    stamped: list[tuple[int, list[Any]]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return self.output.summary

    def of(self, code: Ev) -> Iterator[tuple[int, list[Any]]]:
        """``(time of the input it follows, event)`` for every event with this code."""
        return ((ts, e) for ts, e in self.stamped if e[0] == code)

    def account(self, ref: Any) -> str:
        return self.accounts[ref] if isinstance(ref, int) else str(ref)

    def instrument(self, ref: Any) -> str:
        return self.instruments[ref] if isinstance(ref, int) else str(ref)


_RUNS: dict[str, Run] = {}


def _run(path: Path, out_dir: Path, until_s: int | None) -> Run:
    output = run_scenario(path, out_dir=out_dir, until_s=until_s, plots=False)
    header, events = read_journal(output.journal_path)
    venue = output.result.venue
    run = Run(
        output,
        header,
        events,
        [a.id for a in venue.ledger.by_index],
        [i.symbol for i in venue.config.instruments],
    )
    now = 0
    for event in events:
        if event[0] in INPUTS:
            now = event[1]
        run.stamped.append((now, event))
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs each bundled scenario once for the whole module (by name), on first use."""

    def get(name: str) -> Run:
        if name not in _RUNS:
            path = SCENARIO_DIR / f"{name}.toml"
            _RUNS[name] = _run(path, tmp_path_factory.mktemp(name), UNTIL_S.get(name))
        return _RUNS[name]

    yield get
    _RUNS.clear()


# ------------------------------------------------------------------------------------- all of them


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_bundled_scenario_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    assert ": ok: scenario" in capsys.readouterr().out


def test_the_default_run_scenario_is_bundled_and_runnable() -> None:
    assert default_run_scenario_path() in RUNNABLE
    assert {"calm", "flash_crash", "funding_squeeze", "contagion", "adl", "book_cross", "book_isolated"} <= {
        p.stem for p in RUNNABLE
    }


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_scenario_runs_conserves_money_and_replays(path: Path, runs: Any) -> None:
    run = runs(path.stem)
    run.output.result.venue._check()  # money conserved, positions net to zero, books consistent
    assert replay(run.output.journal_path).ok
    spec = load_scenario(path).simulation
    assert spec is not None
    until = UNTIL_S.get(path.stem)
    assert run.output.result.end_us == (spec.duration_us if until is None else until * S)
    assert run.summary["run"]["scenario"] == path.stem  # bundled scenarios are named after their file


# ------------------------------------------------------------------------------------- their claims


def test_calm_trades_pays_normal_funding_and_loses_nothing(runs: Any) -> None:
    run = runs("calm")
    for symbol in ("BTC-PERP", "ETH-PERP"):
        assert run.summary["instruments"][symbol]["trades"] > 100
    fundings = [(ts, run.instrument(e[2]), e[3]) for ts, e in run.of(Ev.FUNDING)]
    assert {(ts, symbol) for ts, symbol, _ in fundings} == {(1_800 * S, "BTC-PERP"), (1_800 * S, "ETH-PERP")}
    assert all(abs(rate) <= 600 for _, _, rate in fundings)  # interest 100 within the 500 clamp
    liquidations = run.summary["liquidations"]
    assert liquidations["bad_debt"]["atoms"] == 0 and liquidations["takeovers"] == 0
    fund = run.summary["insurance_fund"]
    assert fund["min"]["atoms"] >= fund["deposited"]["atoms"] > 0


def test_calm_runs_are_deterministic(tmp_path: Path) -> None:
    path = default_run_scenario_path()
    first = run_scenario(path, out_dir=tmp_path / "a", until_s=600, plots=False)
    second = run_scenario(path, out_dir=tmp_path / "b", until_s=600, plots=False)
    assert first.journal_path.read_bytes() == second.journal_path.read_bytes()
    assert first.summary == second.summary


def test_flash_crash_is_a_cascade_of_liquidations(runs: Any) -> None:
    run = runs("flash_crash")
    times = sorted({ts for ts, _ in run.of(Ev.LIQUIDATION)})
    assert len(times) >= 3  # liquidations at several distinct market steps ...
    assert times[-1] - times[0] >= 2 * S
    assert all(ts >= 300 * S for ts in times)  # ... all after the whale's sale
    liquidations = run.summary["liquidations"]
    assert liquidations["count"] >= 10 and liquidations["book_fills"] >= liquidations["count"]
    assert liquidations["bad_debt"]["atoms"] == 0
    btc = run.summary["instruments"]["BTC-PERP"]
    assert int(btc["min_mark"]["ticks"]) <= 0.92 * 60_000  # at least 8% below 30,000
    assert btc["last_mark"]["ticks"] > btc["min_mark"]["ticks"]  # part of the way back
    fund = run.summary["insurance_fund"]
    assert fund["max"]["atoms"] > fund["deposited"]["atoms"]  # the surplus above bankruptcy


def test_funding_squeeze_pays_the_cap_and_liquidates_after_fundings(runs: Any) -> None:
    run = runs("funding_squeeze")
    rates = [e[3] for _, e in run.of(Ev.FUNDING)]
    assert rates.count(7_500) >= 5  # at the cap, longs paying
    funding_times = {ts for ts, _ in run.of(Ev.FUNDING)}
    liquidated = [(ts, run.account(e[1])) for ts, e in run.of(Ev.LIQUIDATION)]
    assert len({ts for ts, _ in liquidated}) >= 2
    assert all(ts in funding_times for ts, _ in liquidated)  # each right after a funding
    assert all(name.startswith("long") for _, name in liquidated)
    assert run.summary["instruments"]["BTC-PERP"]["max_price"]["ticks"] > 1.01 * 60_000  # the premium


def test_contagion_liquidates_both_instruments_of_an_account(runs: Any) -> None:
    run = runs("contagion")
    orders: dict[str, list[str]] = {}
    for _, e in run.of(Ev.LIQ_ORDER):
        orders.setdefault(run.account(e[2]), []).append(run.instrument(e[3]))
    both = {name for name, symbols in orders.items() if set(symbols) == {"BTC-PERP", "ETH-PERP"}}
    assert both and all(name.startswith("both") for name in both)
    assert all(symbols[0] == "ETH-PERP" for symbols in orders.values())  # largest maintenance first
    accounts = run.summary["accounts"]
    for name in ("eth1", "eth2", "eth3"):
        assert name not in orders and accounts[name]["positions"]["ETH-PERP"]["lots"] == 300


def test_adl_drains_the_fund_then_deleverages(runs: Any) -> None:
    run = runs("adl")
    liquidations = run.summary["liquidations"]
    adl = liquidations["deleveraging"]
    assert adl["events"] >= 1 and adl["haircuts"]["atoms"] > 0
    assert adl["beyond_need"]["atoms"] > 0 and adl["closed_profit"]["atoms"] > adl["haircuts"]["atoms"]
    assert liquidations["bad_debt"]["atoms"] == 0
    fund = run.summary["insurance_fund"]
    assert 0 <= fund["min"]["atoms"] <= fund["deposited"]["atoms"] // 20  # run down to near zero
    counterparties = [run.account(e[2]) for _, e in run.of(Ev.DELEVERAGED)]
    assert counterparties[0] == "short1"  # the most leveraged short heads the queue
    assert set(counterparties) <= {"short1", "short2", "short3", "short4"}


def test_book_cross_and_book_isolated_differ_only_in_margin_mode(runs: Any) -> None:
    def lines(name: str) -> list[str]:
        text = (SCENARIO_DIR / f"{name}.toml").read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    changed = [
        line[2:]
        for line in difflib.ndiff(lines("book_cross"), lines("book_isolated"))
        if line[:2] in ("- ", "+ ")
    ]
    assert changed and all(line.startswith(("name = ", "description = ", "mode = ")) for line in changed)
    cross, isolated = runs("book_cross"), runs("book_isolated")
    margins = [dict(run.header["config"]["margin"]) for run in (cross, isolated)]
    assert [m.pop("mode") for m in margins] == ["cross", "isolated"]
    assert margins[0] == margins[1]
    n_cross = cross.summary["liquidations"]["count"]
    n_isolated = isolated.summary["liquidations"]["count"]
    assert n_isolated > n_cross
    units = {isolated.account(e[1]) for _, e in isolated.of(Ev.LIQUIDATION)}
    assert all("/" in unit for unit in units)  # isolated: positions are liquidated one by one


def test_portfolio_crash_separates_the_three_margin_modes(runs: Any) -> None:
    """The same positions and money in each mode: the crash raises dynamic margin rates (a
    MARGIN_RATES input with a scale above 1x), which alone liquidates the cross hedges; the
    isolated positions are liquidated one by one; the portfolio hedges survive."""
    run = runs("portfolio_crash")
    rates = [e for _, e in run.of(Ev.MARGIN_RATES)]
    assert rates and max(scale for e in rates for _, scale in e[2]) > 1_000_000
    rate_times = {ts for ts, _ in run.of(Ev.MARGIN_RATES)}
    liquidated = {run.account(e[1]): ts for ts, e in run.of(Ev.LIQUIDATION)}
    by_rates = {name for name, ts in liquidated.items() if ts in rate_times}
    assert {"basis_cross", "pair_cross"} <= by_rates
    assert not {"basis_portfolio", "pair_portfolio", "basis_lean"} & set(liquidated)
    assert any(name.startswith("basis_isolated/") for name in liquidated)  # one leg at a time
    efficiency = run.summary["capital_efficiency"]["totals"]
    assert efficiency["portfolio"]["initial"]["atoms"] < efficiency["cross"]["initial"]["atoms"]
    assert run.summary["liquidations"]["bad_debt"]["atoms"] == 0
