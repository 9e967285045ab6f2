"""Golden tests: every bundled scenario's outcome is pinned, and the helper that pins it works.

Behaviours verified:
- every bundled scenario with a ``[simulation]`` table (some shortened, see ``UNTIL_S``) gives
  the outcome recorded in ``tests/goldens/<name>.json`` (:func:`exchange_sim.testing.run_and_compare`);
  after an intended change, rewrite them with ``EXCHANGE_SIM_UPDATE_GOLDENS=1 python -m pytest
  tests/test_goldens.py`` and review the files' diff (users who enable the
  ``exchange_sim.testing`` plugin also get ``pytest --update-goldens``);
- the helper: a matching golden passes; a changed liquidation rule fails with a message naming
  the changed fields, old -> new, and how to update; a change of the journal alone says so;
  ``update=True`` and ``EXCHANGE_SIM_UPDATE_GOLDENS=1`` rewrite the file (sorted keys, indent 2,
  final newline), an explicit ``update=False`` wins over the variable; a missing golden is an
  error naming the command that creates it; the record holds no timings or paths;
- the plugin, as a user enables it in a conftest: ``--update-goldens`` creates the goldens, the
  ``update_goldens`` and ``golden`` fixtures work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exchange_sim.liquidation.rules import preset
from exchange_sim.run import RunOutput
from exchange_sim.scenario import Scenario, default_scenario_path, load_scenario
from exchange_sim.testing import (
    DEFAULT_FIELDS,
    UPDATE_ENV,
    GoldenMismatch,
    GoldenMissing,
    GoldenUpdated,
    compare_golden,
    golden_record,
    run_and_compare,
    update_requested,
    write_golden,
)

SCENARIO_DIR = default_scenario_path().parent
GOLDENS = Path(__file__).resolve().parent / "goldens"
RUNNABLE = sorted(p for p in SCENARIO_DIR.glob("*.toml") if load_scenario(p).simulation is not None)

UNTIL_S: dict[str, int | None] = {
    "calm": 1_800,  # three hours in full; the first half hour, with its funding, here
    "contagion": 900,  # the crash and its liquidations are over by 720 s
    "book_cross": 900,  # the liquidations come before 900 s
    "book_isolated": 900,
}
"""Seconds each scenario's golden run lasts (absent: the scenario's full duration)."""


# ----------------------------------------------------------------------------- the bundled goldens


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_bundled_scenario_matches_its_golden(path: Path, tmp_path: Path) -> None:
    output = run_and_compare(
        path, GOLDENS / f"{path.stem}.json", until_s=UNTIL_S.get(path.stem), out_dir=tmp_path
    )
    assert output.summary["run"]["scenario"] == path.stem


def test_every_golden_belongs_to_a_bundled_scenario() -> None:
    assert {p.stem for p in GOLDENS.glob("*.json")} <= {p.stem for p in RUNNABLE}


# ---------------------------------------------------------------------------------------- the helper


@pytest.fixture(scope="module")
def flash_crash() -> Scenario:
    return load_scenario(SCENARIO_DIR / "flash_crash.toml")


@pytest.fixture(scope="module")
def baseline(flash_crash: Scenario, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunOutput]:
    """A golden of the flash crash under its own (Binance) rules, written by the helper."""
    folder = tmp_path_factory.mktemp("baseline")
    with pytest.warns(GoldenUpdated, match="created"):
        output = run_and_compare(
            flash_crash, folder / "flash_crash.json", update=True, out_dir=folder / "run"
        )
    return folder / "flash_crash.json", output


def _copy(golden: Path, tmp_path: Path) -> Path:
    copy = tmp_path / golden.name
    copy.write_text(golden.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def _with_rules(scenario: Scenario, name: str) -> Scenario:
    return dataclasses.replace(scenario, venue=dataclasses.replace(scenario.venue, liquidation=preset(name)))


def test_a_matching_golden_passes(
    flash_crash: Scenario, baseline: tuple[Path, RunOutput], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    golden, first = baseline
    before = golden.read_text(encoding="utf-8")
    output = run_and_compare(flash_crash, golden, out_dir=tmp_path)
    assert output.result.digest == first.result.digest
    assert output.journal_path == tmp_path / "journal.msgpack" and output.journal_path.exists()
    assert golden.read_text(encoding="utf-8") == before


def test_the_golden_file_is_sorted_indented_and_ends_with_a_newline(baseline: tuple[Path, RunOutput]) -> None:
    golden, output = baseline
    text = golden.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert data["journal_sha256"] == output.result.digest
    assert (data["scenario"], data["seed"], data["fields"]) == ("flash_crash", 99, list(DEFAULT_FIELDS))


def test_the_record_holds_outcomes_not_timings_or_paths(baseline: tuple[Path, RunOutput]) -> None:
    _, output = baseline
    record = golden_record(output.summary)
    summary = record["summary"]
    assert set(summary) == {"instruments", "liquidations", "insurance_fund", "accounts"}
    btc = summary["instruments"]["BTC-PERP"]
    assert set(btc) == {
        "trades",
        "volume",
        "min_price",
        "max_price",
        "last_price",
        "open_interest",
        "liquidated",
    }
    assert btc["trades"] == output.summary["instruments"]["BTC-PERP"]["trades"]
    assert (
        btc["min_price"] == output.summary["instruments"]["BTC-PERP"]["min_price"]["units"]
    )  # exact decimals
    assert summary["liquidations"]["rules"] == "binance v1"
    assert summary["insurance_fund"] == {
        "end": output.summary["insurance_fund"]["end"]["units"],
        "min": output.summary["insurance_fund"]["min"]["units"],
    }
    assert set(summary["accounts"]) == set(output.summary["accounts"])
    assert all(set(account) == {"equity"} for account in summary["accounts"].values())
    text = json.dumps(record)
    for volatile in ("scenario_source", "scenario_sha256", "package_version", "bytes", "duration", "/tmp"):
        assert volatile not in text


def test_fields_choose_what_is_recorded(baseline: tuple[Path, RunOutput]) -> None:
    _, output = baseline
    record = golden_record(
        output.summary,
        fields=(
            "liquidations.count",
            "accounts.whale.positions",
            "insurance_fund.path",
            "backstop_vault.end",
        ),
        check_digest=False,
    )
    assert "journal_sha256" not in record
    assert record["summary"] == {
        "liquidations": {"count": 40},
        "accounts": {"whale": {"positions": {"BTC-PERP": "-2"}}},
        "insurance_fund": {"path": output.summary["insurance_fund"]["path"]},
    }  # no backstop vault in this run: left out


def test_a_changed_liquidation_rule_fails_with_a_readable_diff(
    flash_crash: Scenario, baseline: tuple[Path, RunOutput], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    golden, _ = baseline
    before = golden.read_text(encoding="utf-8")
    with pytest.raises(GoldenMismatch) as caught:
        run_and_compare(_with_rules(flash_crash, "teaching"), golden, out_dir=tmp_path)
    error = caught.value
    assert isinstance(error, AssertionError) and not isinstance(error, GoldenMissing)
    assert error.digest_changed and error.golden == golden
    assert error.changed["liquidations.rules"] == ("binance v1", "teaching v1")
    old_count, new_count = error.changed["liquidations.count"]
    assert old_count == 40 and new_count < old_count
    assert {"liquidations.takeovers", "insurance_fund.end", "instruments.BTC-PERP.min_price"} <= set(
        error.changed
    )
    message = str(error)
    print(message)  # docs/regression-testing.md shows this message
    assert message.startswith(f"golden {golden} does not match this run of 'flash_crash' (seed 99,")
    assert 'liquidations.rules: "binance v1" -> "teaching v1"\n' in message
    assert f"liquidations.count: 40 -> {new_count} ({new_count - 40})\n" in message
    assert "journal sha256: " in message and "Only the journal changed" not in message
    assert f"exchange-sim diff OLD_RUN {tmp_path}" in message
    node = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
    assert f"update the golden: {UPDATE_ENV}=1 python -m pytest '{node}'" in message
    assert len(message.splitlines()) < 60  # long lists are cut
    assert golden.read_text(encoding="utf-8") == before  # a failure never writes


def test_a_change_of_the_journal_alone_says_so(baseline: tuple[Path, RunOutput], tmp_path: Path) -> None:
    golden = _copy(baseline[0], tmp_path)
    data = json.loads(golden.read_text(encoding="utf-8"))
    data["journal_sha256"] = "0" * 64
    write_golden(data, golden)
    with pytest.raises(GoldenMismatch) as caught:
        compare_golden(golden_record(baseline[1].summary), golden, update=False)
    assert caught.value.digest_changed and caught.value.changed == {}
    assert "Only the journal changed: its header or events differ but the summarised outcomes did not" in str(
        caught.value
    )


def test_update_true_rewrites_the_golden(
    flash_crash: Scenario, baseline: tuple[Path, RunOutput], tmp_path: Path
) -> None:
    golden = _copy(baseline[0], tmp_path)
    teaching = _with_rules(flash_crash, "teaching")
    with pytest.warns(GoldenUpdated, match="updated: .* fields changed, journal sha256 changed"):
        output = run_and_compare(teaching, golden, update=True, out_dir=tmp_path / "run")
    data = json.loads(golden.read_text(encoding="utf-8"))
    assert data["summary"]["liquidations"]["rules"] == "teaching v1"
    assert data["journal_sha256"] == output.result.digest
    assert golden.read_text(encoding="utf-8") == json.dumps(data, sort_keys=True, indent=2) + "\n"
    compare_golden(golden_record(output.summary, digest=output.result.digest), golden, update=False)


def test_the_environment_variable_updates_and_an_explicit_flag_wins(
    baseline: tuple[Path, RunOutput], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = _copy(baseline[0], tmp_path)
    data = json.loads(golden.read_text(encoding="utf-8"))
    data["summary"]["liquidations"]["count"] = 39
    write_golden(data, golden)
    record = golden_record(baseline[1].summary)
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert update_requested() and not update_requested(False)
    with pytest.raises(GoldenMismatch, match=r"liquidations.count: 39 -> 40 \(\+1\)"):
        compare_golden(record, golden, update=False)
    with pytest.warns(GoldenUpdated, match="1 fields changed"):
        compare_golden(record, golden)
    assert json.loads(golden.read_text(encoding="utf-8"))["summary"]["liquidations"]["count"] == 40
    for off in ("0", "", "no"):
        monkeypatch.setenv(UPDATE_ENV, off)
        assert not update_requested()


def test_a_missing_golden_is_an_error_naming_the_command(
    baseline: tuple[Path, RunOutput], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    golden = tmp_path / "goldens" / "new.json"
    record = golden_record(baseline[1].summary)
    with pytest.raises(GoldenMissing) as caught:
        compare_golden(record, golden)
    node = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
    assert str(caught.value).startswith(f"golden file {golden} does not exist.\n")
    assert f"To create it from this run: {UPDATE_ENV}=1 python -m pytest '{node}'" in str(caught.value)
    assert not golden.exists()
    monkeypatch.setenv(UPDATE_ENV, "1")
    with pytest.warns(GoldenUpdated, match="created"):
        compare_golden(record, golden)
    assert json.loads(golden.read_text(encoding="utf-8")) == json.loads(json.dumps(record))


# ---------------------------------------------------------------------------------------- the plugin

USER_TESTS = """
from pathlib import Path

from exchange_sim.testing import run_and_compare

SCENARIO = {scenario!r}
HERE = Path(__file__).parent


def test_with_the_helper(tmp_path):
    run_and_compare(SCENARIO, HERE / "goldens" / "adl.json", until_s=120, out_dir=tmp_path)


def test_with_the_fixture(golden):
    output = golden(SCENARIO, HERE / "goldens" / "adl_fixture.json", until_s=120)
    assert output.out_dir.name == "run"


def test_the_flag(update_goldens, request):
    assert update_goldens is request.config.getoption("--update-goldens")
"""


def test_the_plugin_adds_update_goldens_and_its_fixtures(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["exchange_sim.testing"]\n', encoding="utf-8")
    (tmp_path / "test_user_goldens.py").write_text(
        USER_TESTS.format(scenario=str(SCENARIO_DIR / "adl.toml")), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k not in (UPDATE_ENV, "PYTEST_ADDOPTS")}

    def pytest_in(*args: str) -> Any:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    first = pytest_in("--update-goldens")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 passed" in first.stdout and "GoldenUpdated: golden " in first.stdout  # the warnings summary
    assert (tmp_path / "goldens" / "adl.json").exists() and (
        tmp_path / "goldens" / "adl_fixture.json"
    ).exists()
    second = pytest_in()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 passed" in second.stdout
