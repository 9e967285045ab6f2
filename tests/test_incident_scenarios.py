"""The incident scenarios run and show what docs/scenarios.md ("Incidents") says they show.

Scenarios: ``scenarios/mango.toml``, ``scenarios/jelly.toml`` and the deleveraging trio
``scenarios/adl_oct2025.toml``, ``adl_oct2025_pro_rata.toml``, ``adl_oct2025_random.toml``.

Behaviours verified:
- each runs in full through ``run_scenario``, after which money is conserved and positions net
  to zero (``Venue._check``), and its journal replays;
- mango: the thin spot book's last trade is the index, so buying it up takes MNGO-PERP's mark
  from 0.0382 to 0.91; the counterparty short is liquidated and taken over by the insurance
  fund, whose equity ends far below zero; at the peak (the end of the run) the attacker's
  equity is more than fifty times its deposit, and, since unrealised profit counts for
  withdrawals, it could borrow exactly its free collateral (over 300 million USDC), and nothing
  if profit did not count;
- jelly: the short is sent to the book first (a partial fill), then taken over by the backstop
  vault; the squeeze that follows takes the vault's equity more than 10 million USDC below where
  it stood after the takeover, while the trader's two longs gain more than twenty times their
  deposits;
- the deleveraging trio: the files differ only in the ``adl`` key, the name and the description;
  the three runs liquidate the same accounts at the same equities and deleverage the same
  positions for the same deficits (all covered by haircuts, no bad debt); every policy closes
  more than five times the profit the deficits need; the queue closes the most profit beyond
  need, more than 1.3 times what pro rata does, because pro rata also closes the hedgers' losing
  shorts (no profit to close) while the queue never reaches them.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Any

import pytest

from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import read_journal
from exchange_sim.margin.explain import explain
from exchange_sim.replay import replay
from exchange_sim.run import RunOutput, run_scenario
from exchange_sim.scenario import default_scenario_path

SCENARIOS = default_scenario_path().parent
INCIDENTS = ("mango", "jelly", "adl_oct2025", "adl_oct2025_pro_rata", "adl_oct2025_random")
ADL = ("adl_oct2025", "adl_oct2025_pro_rata", "adl_oct2025_random")
USDC = 1_000_000  # atoms per USDC


class Run:
    """A finished run with its journal read back: events stamped with the time of their input,
    account and instrument indexes resolved to names."""

    def __init__(self, output: RunOutput) -> None:
        self.output = output
        _, self.events = read_journal(output.journal_path)
        venue = output.result.venue
        self.accounts = [a.id for a in venue.ledger.by_index]
        self.stamped: list[tuple[int, list[Any]]] = []
        now = 0
        for event in self.events:
            if event[0] in INPUTS:
                now = event[1]
            self.stamped.append((now, event))

    @property
    def summary(self) -> dict[str, Any]:
        return self.output.summary

    def of(self, code: Ev) -> list[tuple[int, list[Any]]]:
        return [(ts, e) for ts, e in self.stamped if e[0] == code]

    def account(self, index: int) -> str:
        return self.accounts[index]

    def equity(self, account: str) -> int:
        return self.summary["accounts"][account]["equity"]["atoms"]


_RUNS: dict[str, Run] = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs each incident once for the whole module (by name), on first use."""

    def get(name: str) -> Run:
        if name not in _RUNS:
            out = tmp_path_factory.mktemp(name)
            _RUNS[name] = Run(run_scenario(SCENARIOS / f"{name}.toml", out_dir=out, plots=False))
        return _RUNS[name]

    yield get
    _RUNS.clear()


@pytest.mark.parametrize("name", INCIDENTS)
def test_incident_runs_conserves_money_and_replays(name: str, runs: Any) -> None:
    run = runs(name)
    run.output.result.venue._check()  # money conserved, positions net to zero, books consistent
    assert replay(run.output.journal_path).ok
    assert run.summary["run"]["scenario"] == name
    assert run.summary["liquidations"]["bad_debt"]["atoms"] == 0


# ------------------------------------------------------------------------------------------ mango


def test_mango_pump_liquidates_the_short_and_balloons_the_long(runs: Any) -> None:
    run = runs("mango")
    perp = run.summary["instruments"]["MNGO-PERP"]
    assert perp["first_price"]["units"] == "0.0382"  # the two accounts' trade
    assert perp["last_mark"]["units"] == perp["max_mark"]["units"] == "0.91"  # the run ends at the peak
    assert run.summary["instruments"]["MNGO-USDC"]["last_price"]["units"] == "0.91"

    # The counterparty (the attacker's own second account) is liquidated and taken over.
    liquidated = [run.account(e[1]) for _, e in run.of(Ev.LIQUIDATION)]
    assert liquidated == ["attacker_short"]
    ((_, takeover),) = run.of(Ev.TAKEOVER)
    assert run.account(takeover[1]) == "attacker_short" and run.account(takeover[2]) == "@insurance"
    assert takeover[4] == -483_000_000  # the whole short, in lots of 1 MNGO
    assert takeover[5] < 500  # early in the pump: at a mark below 0.05 (ticks of 0.0001)
    assert run.summary["accounts"]["attacker_short"]["positions"] == {}
    fund = run.summary["insurance_fund"]
    assert fund["end"]["atoms"] < -400_000_000 * USDC  # the fund is the long's counterparty now

    # The attacker's equity at the peak, and what it could borrow against it.
    equity = run.equity("attacker_long")
    assert equity > 50 * 5_000_000 * USDC
    venue = run.output.result.venue
    assert venue.config.margin.unrealized_profit_withdrawable
    free = explain(venue, "attacker_long").free_collateral
    assert free == equity - explain(venue, "attacker_long").initial > 300_000_000 * USDC
    gate = venue.gate
    assert gate.may_withdraw("attacker_long", "USDC", free, True)
    assert not gate.may_withdraw("attacker_long", "USDC", free + 1, True)
    assert not gate.may_withdraw("attacker_long", "USDC", USDC, False)  # profit not counted: nothing


# ------------------------------------------------------------------------------------------ jelly


def test_jelly_vault_takes_over_the_short_and_loses_on_the_squeeze(runs: Any) -> None:
    run = runs("jelly")
    ((ts, takeover),) = run.of(Ev.TAKEOVER)
    assert run.account(takeover[1]) == "trader_short" and run.account(takeover[2]) == "@backstop"
    assert takeover[4] < -400_000_000  # most of the 430M JELLY short
    # the book took its part first: a filled liquidation order of the short before the takeover
    book = [e for t, e in run.of(Ev.LIQ_SETTLED) if run.account(e[1]) == "trader_short" and t <= ts]
    assert book and sum(e[3] for e in book) > 0
    assert run.summary["accounts"]["trader_short"]["positions"] == {}

    vault = run.summary["backstop_vault"]
    after_takeover = next(atoms for t, atoms in vault["path"] if t >= ts)
    assert vault["end"]["atoms"] < after_takeover - 10_000_000 * USDC
    assert vault["end"]["atoms"] == vault["min"]["atoms"]
    assert run.summary["accounts"]["@backstop"]["positions"]["JELLY-PERP"]["lots"] == takeover[4]
    assert run.summary["instruments"]["JELLY-PERP"]["max_mark"]["units"] == "0.04"
    for name in ("trader_long1", "trader_long2"):
        assert run.equity(name) > 20 * 250_000 * USDC


# ------------------------------------------------------------------------------------------ adl


def _significant(name: str) -> list[str]:
    text = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_adl_trio_files_differ_only_in_the_policy() -> None:
    for other in ADL[1:]:
        changed = [
            line[2:]
            for line in difflib.ndiff(_significant(ADL[0]), _significant(other))
            if line[:2] in ("- ", "+ ")
        ]
        assert changed and all(line.startswith(("name = ", "description = ", "adl = ")) for line in changed)


def _adl(run: Run) -> dict[str, Any]:
    closes = [e for _, e in run.of(Ev.DELEVERAGED)]
    done = [e for _, e in run.of(Ev.ADL_DONE)]
    return {
        "liquidations": [(run.account(e[1]), e[2], e[3]) for _, e in run.of(Ev.LIQUIDATION)],
        "deficits": [(run.account(e[1]), e[3]) for e in done],
        "haircuts": sum(e[4] for e in done),
        "closed": sum(e[5] for e in done),
        "beyond": sum(e[6] for e in done),
        "counterparties": Counter(run.account(e[2]) for e in closes),
    }


def test_adl_trio_same_deficits_queue_closes_more_beyond_need(runs: Any) -> None:
    queue, pro_rata, random = (_adl(runs(name)) for name in ADL)
    assert [runs(name).summary["liquidations"]["rules"] for name in ADL] == [
        "hyperliquid v1",
        "hyperliquid+custom v1",
        "hyperliquid+custom v1",
    ]
    # The same crash: the same liquidations, the same deleveraged positions and deficits.
    for other in (pro_rata, random):
        assert other["liquidations"] == queue["liquidations"]
        assert other["deficits"] == queue["deficits"]
        assert other["haircuts"] == queue["haircuts"] == sum(d for _, d in queue["deficits"]) > 0
    assert len(queue["deficits"]) >= 20
    for result in (queue, pro_rata, random):
        assert result["closed"] > 5 * result["haircuts"]  # every policy closes far beyond need
    for name, result in zip(ADL, (queue, pro_rata, random), strict=True):
        assert runs(name).summary["liquidations"]["deleveraging"]["beyond_need"]["atoms"] == result["beyond"]

    # The critique: the queue closes more profit beyond need than pro rata.
    assert queue["beyond"] > 1.3 * pro_rata["beyond"]
    hedgers = {"hedge1", "hedge2", "hedge3", "hedge4"}
    assert hedgers <= set(pro_rata["counterparties"])  # pro rata closes every short, losing ones too
    assert not hedgers & set(queue["counterparties"])  # the queue ranks the losing hedges last
    assert len(queue["counterparties"]) < len(pro_rata["counterparties"])
