"""Comparing two runs (``exchange_sim/diff.py``).

The runs: ``flash_crash`` for 400 s under its own rules (``binance``: liquidation orders through the
book) and under ``teaching`` (the fund takes every position: the cascade stops early), and ``adl``
for 400 s under its own rules (``dydx+custom``, deleveraging in queue order) and under
``teaching`` (pro rata deleveraging: other counterparties). The expected differences are
computed here from the journals directly (``read_journal``; account names from a replay).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import msgpack
import pytest

from exchange_sim.diff import IGNORED_RUN_KEYS, diff_runs, diff_text, flat_changes, path_divergence
from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import read_journal
from exchange_sim.liquidation.rules import preset
from exchange_sim.replay import replay
from exchange_sim.run import run_scenario
from exchange_sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
UNTIL_S = 400


def _run(name: str, rules: str | None, out: Path) -> Path:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    if rules is not None:
        venue = dataclasses.replace(scenario.venue, liquidation=preset(rules))
        scenario = dataclasses.replace(scenario, venue=venue)
    run_scenario(scenario, out_dir=out, until_s=UNTIL_S, plots=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("diff-runs")
    return {
        "binance": _run("flash_crash", None, root / "binance"),
        "binance_again": _run("flash_crash", None, root / "binance-again"),
        "teaching": _run("flash_crash", "teaching", root / "teaching"),
        "adl": _run("adl", None, root / "adl"),
        "adl_teaching": _run("adl", "teaching", root / "adl-teaching"),
    }


@pytest.fixture(scope="module")
def rules_diff(runs: dict[str, Path]) -> dict:
    return diff_runs(runs["binance"], runs["teaching"])


@pytest.fixture(scope="module")
def adl_diff(runs: dict[str, Path]) -> dict:
    return diff_runs(runs["adl"], runs["adl_teaching"])


def _events(folder: Path) -> list[list]:
    return read_journal(folder / "journal.msgpack")[1]


def _names(folder: Path) -> list[str]:
    return [account.id for account in replay(folder / "journal.msgpack").venue.ledger.by_index]


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _records(folder: Path) -> dict[str, tuple]:
    """Per account: (liquidations, last outcome, bad debt, times deleveraged as counterparty,
    haircuts paid), for every account that appears in one of those events."""
    names = _names(folder)
    liquidations: Counter[str] = Counter()
    outcome: dict[str, int] = {}
    bad_debt: Counter[str] = Counter()
    deleveraged: Counter[str] = Counter()
    haircuts: Counter[str] = Counter()
    for event in _events(folder):
        if event[0] == Ev.LIQUIDATION:
            liquidations[names[event[1]]] += 1
        elif event[0] == Ev.LIQUIDATION_END:
            outcome[names[event[1]]] = event[2]
        elif event[0] == Ev.BAD_DEBT:
            bad_debt[names[event[1]]] += event[2]
        elif event[0] == Ev.DELEVERAGED:
            deleveraged[names[event[2]]] += 1
            haircuts[names[event[2]]] += event[6]
    accounts = set(liquidations) | set(outcome) | set(bad_debt) | set(deleveraged)
    return {a: (liquidations[a], outcome.get(a), bad_debt[a], deleveraged[a], haircuts[a]) for a in accounts}


# ---------------------------------------------------------------------------------- a run and itself


def test_a_run_and_itself_are_identical(runs: dict[str, Path]) -> None:
    folder = runs["binance"]
    d = diff_runs(folder, folder / "journal.msgpack")
    assert d["identical"] is True
    assert d["first_divergence"] is None and d["prefix_length"] is None
    assert d["summary_changes"] == [] and d["config_changes"] == [] and d["accounts"] == []
    liq = d["liquidations"]
    assert liq["added"] == [] and liq["removed"] == [] and liq["changed"] == []
    assert liq["total"] == {"a": 40, "b": 40}
    assert d["insurance_fund"]["first_divergence"] is None
    assert d["bad_debt"]["first_divergence"] is None
    assert d["runs"]["a"]["summary_json"] == "fresh"
    json.dumps(d)  # JSON-ready
    text = diff_text(d)
    assert any("identical" in line for line in text)
    assert len(text) == 3


def test_a_rerun_is_identical(runs: dict[str, Path]) -> None:
    d = diff_runs(runs["binance"], runs["binance_again"])
    assert d["identical"] is True
    assert d["summary_changes"] == []


# ---------------------------------------------------------------------------------- two rule sets


def test_first_divergence_is_the_first_event_that_differs(runs: dict[str, Path], rules_diff: dict) -> None:
    a, b = _events(runs["binance"]), _events(runs["teaching"])
    index = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    first = rules_diff["first_divergence"]
    assert rules_diff["identical"] is False
    assert first["index"] == index
    assert first["a"] == a[index] and first["b"] == b[index]
    assert first["kind_a"] == Ev(a[index][0]).name and first["kind_b"] == Ev(b[index][0]).name
    assert (first["kind_a"], first["kind_b"]) == ("LIQ_ORDER", "TAKEOVER")  # book vs fund takeover
    cause = max(i for i in range(index) if a[i][0] in INPUTS)
    assert first["after"] == {"index": cause, "event": a[cause], "kind": Ev(a[cause][0]).name}
    assert first["ts_a"] == first["ts_b"] == max(e[1] for e in a[:index] if e[0] in INPUTS)
    assert rules_diff["prefix_length"] is None
    assert rules_diff["events"] == {"a": len(a), "b": len(b)}


def test_liquidations_per_account(runs: dict[str, Path], rules_diff: dict) -> None:
    names = _names(runs["binance"])
    assert _names(runs["teaching"]) == names
    count_a = Counter(names[e[1]] for e in _events(runs["binance"]) if e[0] == Ev.LIQUIDATION)
    count_b = Counter(names[e[1]] for e in _events(runs["teaching"]) if e[0] == Ev.LIQUIDATION)
    liq = rules_diff["liquidations"]
    assert liq["total"] == {"a": sum(count_a.values()), "b": sum(count_b.values())} == {"a": 40, "b": 8}
    assert liq["counts"] == {
        name: {"a": count_a[name], "b": count_b[name]} for name in set(count_a) | set(count_b)
    }
    assert set(liq["removed"]) == set(count_a) - set(count_b)
    assert len(liq["removed"]) == 32
    assert set(liq["added"]) == set(count_b) - set(count_a) == set()
    rec_a, rec_b = _records(runs["binance"]), _records(runs["teaching"])
    changed = {
        name
        for name in set(rec_a) | set(rec_b)
        if name not in liq["removed"] and rec_a.get(name) != rec_b.get(name)
    }
    assert {c["account"] for c in liq["changed"]} == changed


def test_outcomes_differ_under_another_deleveraging(runs: dict[str, Path], adl_diff: dict) -> None:
    rec_a, rec_b = _records(runs["adl"]), _records(runs["adl_teaching"])
    liq = adl_diff["liquidations"]
    assert liq["added"] == [] and liq["removed"] == []
    expected = {name for name in set(rec_a) | set(rec_b) if rec_a.get(name) != rec_b.get(name)}
    assert expected  # pro rata deleverages other counterparties than the queue
    assert {c["account"] for c in liq["changed"]} == expected
    for change in liq["changed"]:
        for side, records in (("a", rec_a), ("b", rec_b)):
            record = change[side]
            if record is None:
                assert change["account"] not in records
            else:
                assert (record["deleveraged"], record["haircuts"]) == records[change["account"]][3:]


def test_final_equities(runs: dict[str, Path], rules_diff: dict) -> None:
    acc_a = _summary(runs["binance"])["accounts"]
    acc_b = _summary(runs["teaching"])["accounts"]
    expected = {
        name: (acc_a[name]["equity"]["atoms"], acc_b[name]["equity"]["atoms"])
        for name in acc_a
        if acc_a[name]["equity"] != acc_b[name]["equity"]
    }
    assert set(acc_a) == set(acc_b)
    got = {e["account"]: (e["a"]["atoms"], e["b"]["atoms"]) for e in rules_diff["accounts"]}
    assert got == expected and len(got) == 40
    for entry in rules_diff["accounts"]:
        assert entry["diff"]["atoms"] == entry["b"]["atoms"] - entry["a"]["atoms"]
    diffs = [abs(e["diff"]["atoms"]) for e in rules_diff["accounts"]]
    assert diffs == sorted(diffs, reverse=True)


def test_insurance_fund_and_bad_debt(runs: dict[str, Path], rules_diff: dict) -> None:
    fund_a = _summary(runs["binance"])["insurance_fund"]
    fund_b = _summary(runs["teaching"])["insurance_fund"]
    fund = rules_diff["insurance_fund"]
    assert fund["a"]["end"] == fund_a["end"] and fund["b"]["end"] == fund_b["end"]
    assert fund["a"]["start"] == fund_a["deposited"]  # capital paid in at the start
    assert fund["a"]["min"] == fund_a["min"] and fund["b"]["min"] == fund_b["min"]
    assert fund["diff"]["end"]["atoms"] == fund_b["end"]["atoms"] - fund_a["end"]["atoms"] != 0
    expected = path_divergence(fund_a["path"], fund_b["path"])
    assert fund["first_divergence"]["ts"] == expected["ts"]
    assert fund["first_divergence"]["a"]["atoms"] == expected["a"]
    assert fund["first_divergence"]["ts"] >= rules_diff["first_divergence"]["ts_a"]
    bad = rules_diff["bad_debt"]
    assert bad["a"]["end"]["atoms"] == bad["b"]["end"]["atoms"] == 0
    assert bad["first_divergence"] is None
    assert rules_diff["backstop_vault"] is None


def test_summary_changes(runs: dict[str, Path], rules_diff: dict) -> None:
    changes = {path: (a, b) for path, a, b in rules_diff["summary_changes"]}
    assert changes["liquidations.count"] == (40, 8)
    assert changes["liquidations.rules"] == ("binance v1", "teaching v1")
    assert changes["run.events"] == (rules_diff["events"]["a"], rules_diff["events"]["b"])
    for key in IGNORED_RUN_KEYS:
        assert f"run.{key}" not in changes
    assert not any(".path" in path for path in changes)
    assert all(a != b for a, b in changes.values())
    config = {path: (a, b) for path, a, b in rules_diff["config_changes"]}
    assert config["liquidation.name"] == ("binance", "teaching")


def test_diff_text(rules_diff: dict, adl_diff: dict) -> None:
    text = diff_text(rules_diff)
    joined = "\n".join(text)
    first = rules_diff["first_divergence"]
    assert f"first divergence: event {first['index']}" in joined
    assert "LIQ_ORDER" in joined and "TAKEOVER" in joined
    assert "liquidations: A 40, B 8" in joined
    removed = rules_diff["liquidations"]["removed"]
    assert f"only in A: {removed[0]} " in joined
    assert f"only in A: {removed[-1]} " not in joined  # capped
    assert f"  ... and {len(removed) - 10} more" in text
    assert f"  ... and {len(rules_diff['accounts']) - 10} more" in text
    assert any(line.startswith("insurance fund: ") and "paths diverge" in line for line in text)
    assert len(text) < 50
    short = diff_text(rules_diff, limit=3)
    assert f"  ... and {len(removed) - 3} more" in short
    adl_text = "\n".join(diff_text(adl_diff))
    for change in adl_diff["liquidations"]["changed"]:
        assert f"changed: {change['account']}: " in adl_text
    assert "deleveraged" in adl_text


# ---------------------------------------------------------------------------------- edge cases


def test_a_prefix(runs: dict[str, Path], tmp_path: Path) -> None:
    journal = runs["binance"] / "journal.msgpack"
    header, events = read_journal(journal)
    cut = 1000
    short = msgpack.packb(header, use_bin_type=True) + b"".join(
        msgpack.packb(e, use_bin_type=True) for e in events[:cut]
    )
    d = diff_runs(short, journal)
    assert d["identical"] is False
    assert d["first_divergence"] is None
    assert d["prefix_length"] == cut
    assert d["events"] == {"a": cut, "b": len(events)}
    assert d["runs"]["a"]["summary_json"] is None
    assert any("prefix" in line for line in diff_text(d))


def test_stale_or_missing_summary(runs: dict[str, Path], tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(runs["binance"], stale)
    (stale / "summary.json").write_text(json.dumps({"run": {"digest": "0" * 64}}), encoding="utf-8")
    missing = tmp_path / "missing"
    missing.mkdir()
    shutil.copy(runs["teaching"] / "journal.msgpack", missing / "journal.msgpack")
    d = diff_runs(stale, missing)
    assert d["runs"]["a"]["summary_json"] == "stale" and d["runs"]["b"]["summary_json"] is None
    assert d["liquidations"]["total"] == {"a": 40, "b": 8}  # the journals are analysed afresh


def test_flat_changes_and_path_divergence() -> None:
    a = {"x": {"atoms": 1, "units": "1"}, "y": None, "z": [1, 2], "same": {"k": [1]}}
    b = {"x": {"atoms": 2, "units": "2"}, "y": {"atoms": 3}, "z": [1], "new": True, "same": {"k": [1]}}
    assert flat_changes(a, b) == [
        ("x.atoms", 1, 2),
        ("x.units", "1", "2"),
        ("y.atoms", None, 3),
        ("z[1]", 2, None),
        ("new", None, True),
    ]
    assert flat_changes(a, a) == []
    assert flat_changes({"n": 1}, {"n": True}) == [("n", 1, True)]
    assert path_divergence([[0, 0], [5, 10]], [[0, 0], [5, 10]]) is None
    assert path_divergence([[0, 0], [5, 10]], [[0, 0], [4, 3], [5, 10]]) == {"ts": 4, "a": 0, "b": 3}
    assert path_divergence([[2, 1]], [[0, 1]]) == {"ts": 0, "a": None, "b": 1}
