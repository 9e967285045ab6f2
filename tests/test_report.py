"""The run report (``exchange_sim/report.py``), hand-checked on small journals.

Market: BTC-PERP, tick 1 USDC, lot 0.001 BTC (1,000 USDC atoms per tick per lot), no fees, one
bracket, maintenance 5%, initial 10%; the insurance fund starts with 10,000 USDC (at ts 0).
alice (1,000 USDC) buys 0.1 BTC at 30,000 from bob (100,000 USDC); bob then buys 0.02 at 30,100
from the maker (1,000,000 USDC) and sells it 0.01 at 29,900: 3 trades, 0.13 BTC, 3,901 USDC.

At ts 3 the mark falls to 21,000: alice's equity -2,000 + 2,100 = 100 USDC is below her
maintenance of 105 USDC. Under "teaching" the fund takes her 0.1 BTC at the mark (pays 2,100) and
sweeps her 100 USDC: the fund goes 0 -> 10,000 -> 8,000 USDC and is long 0.1 (equity 10,100).

Final balances and equities at the mark 21,000 (USDC):

- alice: 0, flat.
- bob: 100,000 + 3,000 - 602 + 299 = 102,697, short 0.09: equity 102,697 - 1,890 = 100,807,
  maintenance 5% x 1,890 = 94.5.
- maker: 1,000,000 + 602 - 299 = 1,000,303, short 0.01: equity 1,000,093, maintenance 10.5.

``capital_efficiency`` lists bob and maker (the user accounts with positions) with their isolated
and cross requirements; a hedged pair on a venue with portfolio rules (:func:`hedged_journal`)
checks the portfolio column and the totals.
"""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path

import pytest

from exchange_sim.config import VenueConfig
from exchange_sim.instruments import Instrument
from exchange_sim.journal import JournalWriter, digest_of
from exchange_sim.liquidation.engine import INSURANCE_ACCOUNT
from exchange_sim.liquidation.rules import preset
from exchange_sim.margin.brackets import Bracket, BracketSchedule
from exchange_sim.margin.config import MarginConfig
from exchange_sim.margin.portfolio import PortfolioRules, StressGrid
from exchange_sim.orders import Side, TimeInForce
from exchange_sim.report import (
    PLOT_FILES,
    analyze,
    summarize,
    summary_text,
    time_series,
    write_plots,
    write_summary,
)
from exchange_sim.units import Asset
from exchange_sim.venue import Venue

USDC = Asset("USDC", 6)
U = 1_000_000  # atoms per USDC
P, F = "BTC-PERP", "BTC-FUT"


def make_venue(rules: str, journal: JournalWriter, *, fund: str | None = "10000") -> Venue:
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    margin = MarginConfig("USDC", ((P, BracketSchedule.create([Bracket(0, 50_000, 100_000)])),))
    config = VenueConfig((USDC,), (btc,), margin=margin, liquidation=preset(rules))
    v = Venue(config, journal=journal, meta={"scenario": "report-test", "seed": 7})
    if fund is not None:
        v.deposit_system(0, INSURANCE_ACCOUNT, "USDC", fund)
    for name, amount in (("alice", "1000"), ("bob", "100000"), ("maker", "1000000")):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", amount)
    v.set_mark_price(0, P, 30_000)
    assert v.submit(1, "bob", P, Side.SELL, 100, 30_000).resting
    assert v.submit(1, "alice", P, Side.BUY, 100, 30_000, tif=TimeInForce.IOC).fills
    return v


def teaching_journal() -> tuple[bytes, Venue]:
    journal = JournalWriter()
    v = make_venue("teaching", journal)
    assert v.submit(2, "maker", P, Side.SELL, 20, 30_100).resting
    assert v.submit(2, "bob", P, Side.BUY, 20, 30_100, tif=TimeInForce.IOC).fills
    assert v.submit(2, "maker", P, Side.BUY, 10, 29_900).resting
    assert v.submit(2, "bob", P, Side.SELL, 10, 29_900, tif=TimeInForce.IOC).fills
    v.set_mark_price(3, P, 21_000)
    return journal.getvalue(), v


def money(usdc: int | float) -> dict[str, object]:
    atoms = round(usdc * U)
    whole, frac = divmod(atoms, U)
    return {"atoms": atoms, "units": f"{whole}" + (f".{frac:06d}".rstrip("0") if frac else "")}


def test_summary_of_a_takeover_run() -> None:
    data, v = teaching_journal()
    s = summarize(data)
    inst = s["instruments"][P]
    assert inst["trades"] == 3
    assert inst["volume"] == {"lots": 130, "units": "0.13"}
    assert inst["notional"] == money(3_000 + 602 + 299)
    assert inst["first_price"] == {"ticks": 30_000, "units": "30000"}
    assert inst["last_price"]["ticks"] == 29_900
    assert (inst["min_price"]["ticks"], inst["max_price"]["ticks"]) == (29_900, 30_100)
    assert (inst["min_mark"]["ticks"], inst["max_mark"]["ticks"]) == (21_000, 30_000)
    assert inst["last_mark"]["ticks"] == 21_000
    assert inst["open_interest"] == {"lots": 100, "units": "0.1"}  # now the fund's long

    liq = s["liquidations"]
    assert liq["rules"] == "teaching v1" and liq["asset"] == "USDC"
    assert liq["count"] == 1 and liq["outcomes"] == {"healthy": 0, "flat": 1, "open": 0}
    assert liq["takeovers"] == 1
    assert liq["liquidation_orders"] == 0 and liq["liquidated_notional"] == money(0)
    assert liq["deleveraging"]["events"] == 0
    assert liq["bad_debt"] == money(0) and liq["socialized"] == money(0)

    # the fund's path is its equity: 10,000 deposited; at 3 it holds 8,000 of cash and alice's
    # 0.1 BTC worth 2,100 at the mark: 10,100, the 100 of margin it swept from her
    fund = s["insurance_fund"]
    assert fund["path"] == [[0, 0], [0, 10_000 * U], [3, 10_100 * U]]
    assert fund["deposited"] == money(10_000)
    assert (fund["end"], fund["min"], fund["max"]) == (money(10_100), money(10_000), money(10_100))
    assert "backstop_vault" not in s

    accounts = s["accounts"]
    assert accounts["alice"]["balances"] == {"USDC": money(0)}
    assert accounts["alice"]["positions"] == {}
    assert accounts["alice"]["equity"] == money(0) and accounts["alice"]["margin_ratio"] is None
    assert accounts["bob"]["balances"] == {"USDC": money(102_697)}
    assert accounts["bob"]["positions"] == {P: {"lots": -90, "units": "-0.09"}}
    assert accounts["bob"]["equity"] == money(100_807)
    assert accounts["bob"]["maintenance"] == money(94.5)
    assert accounts["bob"]["margin_ratio"] == round(94.5 / 100_807, 6)
    assert accounts["maker"]["equity"] == money(1_000_093)
    assert accounts[INSURANCE_ACCOUNT]["balances"] == {"USDC": money(8_000)}
    assert accounts[INSURANCE_ACCOUNT]["equity"] == money(10_100)
    assert accounts["@fees"]["equity"] == money(0)

    run = s["run"]
    assert run["scenario"] == "report-test" and run["seed"] == 7
    assert run["digest"] == digest_of(data) and run["bytes"] == len(data)
    assert run["events"] > run["inputs"] > 0 and run["rejected"] == 0
    assert (run["start_us"], run["end_us"]) == (0, 3)
    assert run["package_version"]

    # capital by margin mode, user accounts with positions at the end (alice is flat, the fund is a
    # system account): bob short 0.09 at 21,000 = 1,890 USDC: initial 10% = 189, maintenance 94.5;
    # maker short 0.01 = 210 USDC: 21 and 10.5. No portfolio rules: portfolio is null.
    capital = s["capital_efficiency"]
    assert capital["asset"] == "USDC"
    assert capital["accounts"] == [
        {
            "account": "bob",
            "mode": "cross",
            "isolated": {"initial": money(189), "maintenance": money(94.5)},
            "cross": {"initial": money(189), "maintenance": money(94.5)},
            "portfolio": None,
        },
        {
            "account": "maker",
            "mode": "cross",
            "isolated": {"initial": money(21), "maintenance": money(10.5)},
            "cross": {"initial": money(21), "maintenance": money(10.5)},
            "portfolio": None,
        },
    ]
    assert capital["totals"] == {
        "accounts": 2,
        "isolated": {"initial": money(210), "maintenance": money(105)},
        "cross": {"initial": money(210), "maintenance": money(105)},
        "portfolio": None,
    }

    # the final venue, when given, is where the final state is read: the same here
    assert summarize(data, venue=v) == s


def hedged_journal() -> bytes:
    """BTC-PERP and BTC-FUT (both as BTC-PERP above: 1,000 atoms a tick a lot, maintenance 5%,
    initial 10%), portfolio rules: a +-10% stress grid (3 steps, extremes 20% at 35%), a 1% floor
    on gross notional, maintenance half of initial. ``pm`` (portfolio) and ``iso`` (isolated) each
    buy 1 BTC-PERP and sell 1 BTC-FUT at 30,000 from ``mm`` (cross); ``idle`` holds nothing;
    marks 30,000 (PERP) and 30,300 (FUT)."""

    def contract(symbol: str, kind: str) -> Instrument:
        extra = {"expiry_us": 86_400_000_000} if kind == "future" else {}
        return Instrument.create(
            symbol, kind=kind, underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001", **extra
        )

    schedule = BracketSchedule.create([Bracket(0, 50_000, 100_000)])
    rules = PortfolioRules(
        ("BTC",), "stress", grid=StressGrid(("BTC",), (100_000,)), floor_ppm_of_gross=10_000
    )
    margin = MarginConfig("USDC", ((P, schedule), (F, schedule)), portfolio=rules)
    journal = JournalWriter()
    v = Venue(
        VenueConfig((USDC,), (contract(P, "perpetual"), contract(F, "future")), margin=margin),
        journal=journal,
    )
    for name, mode, cash in (
        ("mm", "cross", "1000000"),
        ("pm", "portfolio", "10000"),
        ("iso", "isolated", "10000"),
        ("idle", "portfolio", "10"),
    ):
        assert v.open_account(0, name, mode).ok
        v.deposit(0, name, "USDC", cash)
    v.set_mark_price(0, P, 30_000)
    v.set_mark_price(0, F, 30_300)
    for name in ("pm", "iso"):
        assert v.submit(1, "mm", P, Side.SELL, 1_000, 30_000).resting
        assert v.submit(1, name, P, Side.BUY, 1_000, 30_000, tif=TimeInForce.IOC).fills
        assert v.submit(1, "mm", F, Side.BUY, 1_000, 30_000).resting
        assert v.submit(1, name, F, Side.SELL, 1_000, 30_000, tif=TimeInForce.IOC).fills
    return journal.getvalue()


def test_capital_efficiency_with_portfolio_rules() -> None:
    capital = summarize(hedged_journal())["capital_efficiency"]

    def pair(initial: float, maintenance: float) -> dict[str, object]:
        return {"initial": money(initial), "maintenance": money(maintenance)}

    # pm and iso: PERP 30,000 USDC (initial 3,000, maintenance 1,500) + FUT 30,300 (3,030, 1,515):
    # isolated = cross = 6,030 / 3,015. Portfolio: exposure 30,000 - 30,300 = -300 (+10% loses 30),
    # the floor 1% x 60,300 = 603 is more: 603 / 301.5.
    # mm holds the opposite legs twice: PERP 60,000 (6,000 / 3,000) + FUT 60,600 (6,060 / 3,030) =
    # 12,060 / 6,030; exposure +600 (-10% loses 60), floor 1% x 120,600 = 1,206: 1,206 / 603.
    # idle holds nothing and is left out; iso's sub-accounts are counted under iso.
    assert capital["accounts"] == [
        {
            "account": "mm",
            "mode": "cross",
            "isolated": pair(12_060, 6_030),
            "cross": pair(12_060, 6_030),
            "portfolio": pair(1_206, 603),
        },
        {
            "account": "pm",
            "mode": "portfolio",
            "isolated": pair(6_030, 3_015),
            "cross": pair(6_030, 3_015),
            "portfolio": pair(603, 301.5),
        },
        {
            "account": "iso",
            "mode": "isolated",
            "isolated": pair(6_030, 3_015),
            "cross": pair(6_030, 3_015),
            "portfolio": pair(603, 301.5),
        },
    ]
    assert capital["totals"] == {
        "accounts": 3,
        "isolated": pair(24_120, 12_060),
        "cross": pair(24_120, 12_060),
        "portfolio": pair(2_412, 1_206),
    }


def test_meta_is_merged_under_run() -> None:
    data, _ = teaching_journal()
    run = summarize(data, meta={"seed": 8, "wall_seconds": "1.5"})["run"]
    assert run["seed"] == 8 and run["wall_seconds"] == "1.5" and run["scenario"] == "report-test"


def test_summary_is_deterministic_and_json_ready(tmp_path: Path) -> None:
    data, _ = teaching_journal()
    first, second = summarize(data), summarize(data)
    assert first == second
    assert json.loads(json.dumps(first)) == first
    a = write_summary(first, tmp_path / "a.json").read_bytes()
    b = write_summary(second, tmp_path / "b.json").read_bytes()
    assert a == b and a.endswith(b"}\n")
    journal = tmp_path / "journal.msgpack"
    journal.write_bytes(data)
    assert summarize(journal) == first  # a path or the bytes


def test_summary_text_is_short_and_names_the_numbers() -> None:
    data, _ = teaching_journal()
    lines = summary_text(summarize(data))
    assert 5 <= len(lines) <= 15
    text = "\n".join(lines)
    assert "BTC-PERP: 3 trades, volume 0.13 (3901 USDC), price 29900 .. 30100 (last 29900)" in text
    assert "mark 21000 .. 30000" in text
    assert "takeovers 1" in text
    assert "insurance fund: deposited 10000 -> end 10100 USDC" in text
    assert "bad debt: 0 USDC" in text
    assert digest_of(data) in text


def test_time_series_paths_and_the_liquidation_marker() -> None:
    data, _ = teaching_journal()
    series = time_series(data)
    btc = series["instruments"][P]
    assert btc["mark"] == [[0, 30_000], [3, 21_000]]
    assert btc["last_trade"] == [[1, 30_000], [2, 30_100], [2, 29_900]]
    assert btc["open_interest"] == [[0, 0], [1, 100]]
    assert series["liquidations"] == [[3, P, 21_000]]
    assert series["insurance_fund"] == [[0, 0], [0, 10_000 * U], [3, 10_100 * U]]
    assert series["bad_debt"] == [[0, 0]]
    ratios = series["margin_ratios"]
    assert [r["ts"] for r in ratios] == [0, 1, 2, 3]  # a 3 us run: every microsecond
    assert ratios[0]["accounts"] == 0 and ratios[0]["p50"] is None
    assert ratios[1]["accounts"] == 2  # alice long, bob short
    # alice at the mark 30,000: maintenance 150 / equity 1,000
    assert ratios[1]["max"] == 0.15
    # after the takeover: bob and the maker (the fund is a system account, not sampled)
    assert ratios[3]["accounts"] == 2 and ratios[3]["underwater"] == 0
    assert ratios[3]["p10"] == round(10.5 / 1_000_093, 6)
    assert ratios[3]["max"] == ratios[3]["p50"] == round(94.5 / 100_807, 6)
    assert analyze(data)[1] == series


def test_margin_samples_are_at_most_200_evenly_spaced() -> None:
    journal = JournalWriter()
    v = make_venue("teaching", journal)
    for k in range(1, 1_001):
        v.set_mark_price(1_000 * k, P, 30_000 - k)
    ratios = time_series(journal.getvalue())["margin_ratios"]
    stamps = [r["ts"] for r in ratios]
    assert len(stamps) == 200 and stamps[0] == 0 and stamps[-1] == 1_000_000
    assert len(set(stamps)) == 200 and stamps == sorted(stamps)
    # the sample at 1,000,000 sees the last mark, 29,000: alice's 150 -> 145 of maintenance
    assert ratios[-1]["max"] == round(145 / (1_000 - 100), 6)


def test_book_liquidation_notional_and_fees_to_the_fund() -> None:
    """binance: bids 0.05 at 20,900 and 0.1 at 20,500; alice's 0.1 sells 50 @ 20,900 and 50 @
    20,500 = 2,070 USDC; above her bankruptcy value (2,000) 70 USDC go to the fund."""
    journal = JournalWriter()
    v = make_venue("binance", journal)
    v.submit(2, "maker", P, Side.BUY, 50, 20_900)
    v.submit(2, "maker", P, Side.BUY, 100, 20_500)
    v.set_mark_price(3, P, 21_000)
    data = journal.getvalue()
    s = summarize(data)
    liq = s["liquidations"]
    assert liq["count"] == 1 and liq["liquidation_orders"] == 1 and liq["book_fills"] == 2
    assert liq["liquidated_notional"] == money(2_070)
    assert liq["fees_to_fund"] == money(70)
    assert liq["takeovers"] == 0
    inst = s["instruments"][P]
    assert inst["trades"] == 3 and inst["liquidation_fills"] == 2
    assert inst["liquidated"] == {"lots": 100, "units": "0.1"}
    assert (inst["min_price"]["ticks"], inst["max_price"]["ticks"]) == (20_500, 30_000)
    assert s["insurance_fund"]["path"] == [[0, 0], [0, 10_000 * U], [3, 10_070 * U]]
    series = time_series(data)
    assert series["liquidations"] == [[3, P, 20_900], [3, P, 20_500]]
    assert series["instruments"][P]["last_trade"] == [[1, 30_000], [3, 20_900], [3, 20_500]]


def test_deleveraging_without_a_fund() -> None:
    """No fund: at 19,000 alice's equity is -100; bob (short 0.1 from 30,000) closes against her
    at the mark and pays her 100 deficit; he closed 1,100 of profit, 1,000 beyond the need."""
    journal = JournalWriter()
    v = make_venue("teaching", journal, fund=None)
    v.set_mark_price(2, P, 19_000)
    s = summarize(journal.getvalue())
    adl = s["liquidations"]["deleveraging"]
    assert adl == {
        "events": 1,
        "haircuts": money(100),
        "closed_profit": money(1_100),
        "beyond_need": money(1_000),
    }
    assert s["liquidations"]["bad_debt"] == money(0)
    assert s["insurance_fund"]["path"] == [[0, 0]]
    assert time_series(journal.getvalue())["liquidations"] == [[2, P, 19_000]]
    assert s["instruments"][P]["open_interest"]["lots"] == 0


def test_a_venue_without_margin_rules() -> None:
    journal = JournalWriter()
    btc = Instrument.create(
        P, kind="perpetual", underlying="BTC", settlement=USDC, tick_size="1", lot_size="0.001"
    )
    v = Venue(VenueConfig((USDC,), (btc,)), journal=journal)
    for name in ("a", "b"):
        v.open_account(0, name)
        v.deposit(0, name, "USDC", "1000")
    v.submit(1, "a", P, Side.SELL, 5, 100)
    v.submit(1, "b", P, Side.BUY, 5, 100)
    data = journal.getvalue()
    s = summarize(data)
    assert s["instruments"][P]["trades"] == 1
    assert s["insurance_fund"] is None and s["liquidations"]["rules"] is None
    assert s["accounts"]["b"]["balances"] == {"USDC": money(999.5)}
    assert s["accounts"]["b"]["equity"] is None
    assert s["capital_efficiency"] is None
    assert time_series(data)["margin_ratios"] == []
    lines = summary_text(s)
    assert not any("liquidations" in line or "bad debt" in line for line in lines)


def test_write_plots_draws_four_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data, _ = teaching_journal()
    paths = write_plots(time_series(data), tmp_path / "plots")
    assert [p.name for p in paths] == list(PLOT_FILES)
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG")


def test_write_plots_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = teaching_journal()
    series = time_series(data)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'exchange-sim\[plots\]'"):
        write_plots(series, tmp_path)
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "matplotlib")
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(RuntimeError, match="plots need matplotlib"):
        write_plots(series, tmp_path)
    assert not list(tmp_path.iterdir())
