"""The command line, end to end (in-process and as the installed console script).

Behaviours verified:
- ``demo`` runs the bundled default scenario, writes a journal that replays, prints a summary
  saying money is conserved, and gives the same digest for the same seed;
- ``--seed`` changes the run; ``validate`` describes a scenario; ``replay`` checks a journal;
- a malformed scenario prints one ``error:`` line naming file and field, no traceback, exit 2;
- a damaged journal is reported the same way.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exchange_sim.cli import main
from exchange_sim.journal import digest_of
from exchange_sim.scenario import default_scenario_path


def test_demo_default_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "a"), "--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert "scenario 'default'" in out
    assert "money conserved (deposits - withdrawals = sum of balances, every asset): yes" in out
    assert "positions net to zero in every instrument: yes" in out
    assert "replay: ok" in out
    journal = tmp_path / "a" / "journal.msgpack"
    assert digest_of(journal.read_bytes()) in out
    assert main(["demo", "--out", str(tmp_path / "b"), "--steps", "300"]) == 0
    assert (tmp_path / "b" / "journal.msgpack").read_bytes() == journal.read_bytes()
    assert main(["demo", "--out", str(tmp_path / "c"), "--steps", "300", "--seed", "8"]) == 0
    assert (tmp_path / "c" / "journal.msgpack").read_bytes() != journal.read_bytes()
    assert main(["replay", str(journal)]) == 0
    assert "ok: " in capsys.readouterr().out


def test_demo_runs_the_margin_scenario_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(default_scenario_path().parent / "margin.toml")
    assert main(["demo", scenario, "--out", str(tmp_path / "cross"), "--steps", "400"]) == 0
    cross = capsys.readouterr().out
    assert "scenario 'margin'" in cross and "replay: ok" in cross
    assert "carol/BTC-PERP" in cross  # carol is isolated in the file; the others are cross
    assert "alice/BTC-PERP" not in cross
    args = ["demo", scenario, "--out", str(tmp_path / "iso"), "--steps", "400", "--margin-mode", "isolated"]
    assert main(args) == 0
    isolated = capsys.readouterr().out
    assert "alice/BTC-PERP" in isolated and "replay: ok" in isolated
    assert "money conserved (deposits - withdrawals = sum of balances, every asset): yes" in isolated
    # the default scenario has no margin rules: the option is a user error, not a traceback
    assert main(["demo", "--margin-mode", "isolated", "--out", str(tmp_path / "x")]) == 2
    assert "[margin] table for --margin-mode" in capsys.readouterr().err


def test_demo_runs_the_market_feed_of_the_markets_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day and an hour of one-minute steps: 25 hourly fundings per perpetual and BTC-FUT settled
    at its expiry (86,400 s), all journaled and replayed."""
    scenario = str(default_scenario_path().parent / "markets.toml")
    assert main(["demo", scenario, "--out", str(tmp_path / "m"), "--steps", "1500"]) == 0
    out = capsys.readouterr().out
    assert "the feed ran to 90000 s of simulated time" in out
    assert "funding BTC-PERP: 25 paid" in out and "funding ETH-PERP: 25 paid" in out
    assert "settled BTC-FUT at " in out
    assert "index BTC: 30000 -> " in out and "index ETH: 2000 -> " in out
    assert "liquidation (rules binance v1):" in out and "insurance fund " in out
    assert "money conserved (deposits - withdrawals = sum of balances, every asset): yes" in out
    assert "replay: ok" in out


def test_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(default_scenario_path())]) == 0
    out = capsys.readouterr().out
    assert (
        "instrument BTC-PERP: perpetual on BTC, tick 0.5 USDC, lot 0.001, 500 atoms per tick per lot" in out
    )
    assert "account carol: 2500.75 USDC" in out
    assert "market:" not in out
    assert main(["validate", str(default_scenario_path().parent / "markets.toml")]) == 0
    out = capsys.readouterr().out
    assert "market: a step every 60 s, settlement window 1800 s" in out
    assert "index BTC: JumpDiffusion, tick 0.5" in out and "correlated: BTC, ETH" in out
    assert "mark BTC-PERP: rule median" in out
    assert (
        "funding ETH-PERP: every 3600 s, sampled every 60 s, interest 100 / clamp 500 / cap 7500 ppm" in out
    )


def test_malformed_scenario_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[scenario]\nname = "x"\n[[assets]]\nsymbol = "USDC"\ndecimals = 6\n'
        '[[instruments]]\nsymbol = "X"\nkind = "perpetual"\nunderlying = "X"\n'
        'settlement_asset = "USDC"\ntick_size = 0.5\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "exchange_sim.cli", "demo", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}: instruments[0].tick_size: expected")


def test_damaged_journal_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "50"]) == 0
    journal = tmp_path / "journal.msgpack"
    journal.write_bytes(journal.read_bytes()[:-1])
    capsys.readouterr()
    assert main(["replay", str(journal)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: journal is truncated") and "at byte" in err
    assert main(["replay", str(tmp_path / "missing.msgpack")]) == 2


def test_console_script_installed() -> None:
    script = Path(sys.executable).with_name("exchange-sim")
    found = str(script) if script.exists() else shutil.which("exchange-sim")
    assert found is not None, "the exchange-sim console script is not installed"
    proc = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("exchange-sim ")


def test_run_writes_journal_summary_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``exchange-sim run`` on a scenario without a [simulation] table needs --until; with it, the
    folder gets the journal, summary.json and the four plots, and the journal replays."""
    scenario = str(default_scenario_path().parent / "markets.toml")
    assert main(["run", scenario, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "[simulation] table" in capsys.readouterr().err
    out_dir = tmp_path / "r"
    assert main(["run", scenario, "--out", str(out_dir), "--until", "600", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "run: scenario 'markets', seed 11" in printed and f"output: {out_dir}" in printed
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        "insurance_fund.png",
        "journal.msgpack",
        "margin_ratios.png",
        "open_interest.png",
        "price_and_mark.png",
        "summary.json",
    ]
    import json

    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["run"]["seed"] == 11 and summary["run"]["duration_us"] == 600_000_000
    assert summary["run"]["journal_sha256"] == digest_of((out_dir / "journal.msgpack").read_bytes())
    assert main(["replay", str(out_dir / "journal.msgpack")]) == 0
    assert (
        main(["run", scenario, "--out", str(tmp_path / "s"), "--until", "600", "--quiet", "--seed", "12"])
        == 0
    )
    assert (tmp_path / "s" / "journal.msgpack").read_bytes() != (out_dir / "journal.msgpack").read_bytes()


def test_progress_bar_redraws_on_a_terminal_and_writes_ten_lines_to_a_file() -> None:
    import io

    from exchange_sim.run import progress_bar

    log = io.StringIO()
    show = progress_bar(log)
    for k in range(1, 101):
        show(k * 36_000_000, 3_600_000_000)
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].endswith("100%  3,600 / 3,600 s")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    show = progress_bar(tty)
    for k in range(1, 101):
        show(k * 36_000_000, 3_600_000_000)
    assert tty.getvalue().count("\r") == 100 and tty.getvalue().endswith("s\n")


def test_replay_reports_a_cut_or_changed_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A closed journal ends with a trailer (the digest of everything before it): cut at a record
    boundary it is reported as truncated; a changed byte that still decodes (here a fill's price)
    is reported as not matching its trailer, with the first event whose replay disagrees."""
    from exchange_sim.journal import iter_records

    assert main(["demo", "--out", str(tmp_path), "--steps", "80"]) == 0
    journal = tmp_path / "journal.msgpack"
    data = journal.read_bytes()
    capsys.readouterr()
    assert main(["replay", str(journal)]) == 0
    assert "invariants hold" in capsys.readouterr().out
    records = list(iter_records(data))
    cut = tmp_path / "cut.msgpack"
    cut.write_bytes(data[: records[-2][0]])  # the last full event kept, the trailer and one event gone
    assert main(["replay", str(cut)]) == 2
    assert "ends without its trailer: it was truncated" in capsys.readouterr().err
    # a FILL's price, 4 bytes after the event's start ([22, maker id, price, ...] with small ids):
    offset, fill = next((o, r) for o, r in records if isinstance(r, list) and r[0] == 22)
    raw = bytearray(data)
    at = bytes(raw).index(bytes([0x96, 22]), offset)  # the fill's array header and code
    position = at + 2 + len(__import__("msgpack").packb(fill[1]))  # its price follows the maker id
    raw[position + len(__import__("msgpack").packb(fill[2])) - 1] ^= 1  # flip the price's last bit
    changed = tmp_path / "changed.msgpack"
    changed.write_bytes(bytes(raw))
    assert main(["replay", str(changed)]) == 2
    captured = capsys.readouterr()
    assert "do not match the digest in its trailer" in captured.err
    assert "the first event that replays differently is event" in captured.out


def test_diff_of_two_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """diff exits 0 for identical runs, 1 for different ones (naming the first divergence), 2 for a
    missing run."""
    scenario = str(default_scenario_path().parent / "flash_crash.toml")
    for name, seed in (("a", "99"), ("b", "5")):
        args = ["run", scenario, "--until", "320", "--out", str(tmp_path / name), "--quiet", "--no-plots"]
        assert main([*args, "--seed", seed]) == 0
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "a")]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "first divergence: event" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "nope")]) == 2
    assert "no such run folder or journal" in capsys.readouterr().err
