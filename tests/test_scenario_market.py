"""Tests for the moving-market scenario tables (exchange_sim.scenario_market).

Behaviours verified:

* A file with ``[market]``, ``[[indexes]]`` (every process), ``[[correlations]]``, ``[[marks]]``
  and ``[[funding]]`` loads to the expected :class:`MarketSpec`, in exact units: ``"1.5"`` seconds
  is 1_500_000 us, ``"4000"`` USDC is 4_000_000_000 atoms, prices and rates are exact.
* Every default: step 1 s, settlement window 1800 s, index tick size the finest of the
  underlying's instruments (a book index: the followed book's), drift / volatility / jump
  parameters 0, step interpolation, book source "mid", basis window 300 s, funding every 8 h
  sampled every 60 s at 100 / 500 / 7500 ppm with the mean, and the impact notional of 200 USDC at
  the first bracket's initial rate (1% -> 20,000 USDC).
* ``Scenario.market`` is None without these tables; ``[market]`` alone gives an empty MarketSpec.
* CSV paths are relative to the scenario file's directory (``loads_scenario``: ``base_dir``, by
  default the current directory).
* Every mistake is a ScenarioError with the file, the exact field path and the expectation:
  unknown keys, keys of another process, duplicates, unknown references, a correlation of a
  non-random index, bad matrices, marks on spot pairs, fair_price on a perpetual, rules needing
  funding without it, rule parameters on rules that do not take them, sample_every not dividing
  the interval, funding on a future, bad times and rates, a missing or malformed CSV file (the
  message names the CSV file and its line); ``exchange-sim validate`` prints it without a
  traceback.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from exchange_sim.book_index import BookIndex
from exchange_sim.cli import main
from exchange_sim.market_spec import CorrelationSpec, FundingSpec, IndexSpec, MarketSpec, MarkSpec
from exchange_sim.marks import MarkRule
from exchange_sim.prices import GBM, JumpDiffusion, ScriptedPath
from exchange_sim.scenario import ScenarioError, default_scenario_path, load_scenario, loads_scenario

# helpers -----------------------------------------------------------------------------------------

HEADER = """
[scenario]
name = "market"

[[assets]]
symbol = "USDC"
decimals = 6

[[assets]]
symbol = "BTC"
decimals = 8

[[assets]]
symbol = "ETH"
decimals = 18
"""

MARGIN = """
[margin]
settlement_asset = "USDC"

[[margin.collateral]]
asset = "ETH"
haircut_ppm = 100000
"""

INSTRUMENTS = """
[[instruments]]
symbol = "BTC-PERP"
kind = "perpetual"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.5"
lot_size = "0.001"
brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 10000 }]

[[instruments]]
symbol = "BTC-FUT"
kind = "future"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.5"
lot_size = "0.001"
expiry = "86400"
brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 20000 }]

[[instruments]]
symbol = "BTC-USDC"
kind = "spot"
underlying = "BTC"
settlement_asset = "USDC"
tick_size = "0.1"
lot_size = "0.0001"
"""

NO_MARGIN_INSTRUMENTS = INSTRUMENTS.replace(
    'brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 10000 }]\n', ""
).replace('brackets = [{ floor = "0", maintenance_ppm = 5000, initial_ppm = 20000 }]\n', "")


def table(header: str, **fields: str | None) -> str:
    """A TOML table; each value is raw TOML text (quote strings yourself), None drops the key."""
    lines = ["", header] + [f"{key} = {value}" for key, value in fields.items() if value is not None]
    return "\n".join(lines) + "\n"


def gbm(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"underlying": '"BTC"', "process": '"gbm"', "start": '"30000"'}
    fields.update(overrides)
    return table("[[indexes]]", **fields)


def scripted(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {
        "underlying": '"BTC"',
        "process": '"scripted"',
        "points": '[["0", "30000"], ["3600", "27000"]]',
    }
    fields.update(overrides)
    return table("[[indexes]]", **fields)


def eth(**overrides: str | None) -> str:
    """A GBM index on ETH, a collateral asset without instruments (so it sets its tick size)."""
    fields: dict[str, str | None] = {"underlying": '"ETH"', "tick_size": '"0.01"', "start": '"2000"'}
    fields.update(overrides)
    return gbm(**fields)


def funding(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"instrument": '"BTC-PERP"'}
    fields.update(overrides)
    return table("[[funding]]", **fields)


def mark(**overrides: str | None) -> str:
    fields: dict[str, str | None] = {"instrument": '"BTC-PERP"', "rule": '"index_basis"'}
    fields.update(overrides)
    return table("[[marks]]", **fields)


def valid(*parts: str) -> str:
    """The margined BTC scenario (perpetual, future, spot; ETH collateral) followed by ``parts``."""
    return HEADER + MARGIN + INSTRUMENTS + "".join(parts)


def market(*parts: str) -> MarketSpec:
    spec = loads_scenario(valid(*parts)).market
    assert spec is not None
    return spec


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text)
    return info.value


# a complete file ---------------------------------------------------------------------------------

FULL = (
    valid()
    + """
[market]
step = "1.5"
settlement_window = "600"

[[indexes]]
underlying = "BTC"
process = "jump_diffusion"
tick_size = "0.5"
start = "30000"
drift = "0.05"
volatility = "0.8"
intensity = "12"
jump_mean = "-0.05"
jump_std = "0.1"

[[indexes]]
underlying = "ETH"
process = "gbm"
tick_size = "0.01"
start = "2000"
volatility = "0.9"

[[correlations]]
underlyings = ["BTC", "ETH"]
matrix = [["1", "0.8"], ["0.8", "1"]]

[[funding]]
instrument = "BTC-PERP"
interval = "3600"
sample_every = "5"
interest_ppm = -50
clamp_ppm = 300
cap_ppm = 4000
impact_notional = "4000"
weighting = "linear"

[[marks]]
instrument = "BTC-PERP"
rule = "median"
clamp_ppm = 5000
basis_window = "120.5"

[[marks]]
instrument = "BTC-FUT"
rule = "fair_price"
annual_basis_rate_ppm = 50000
"""
)


def test_complete_file_loads_to_exact_market_spec(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(FULL, encoding="utf-8")
    spec = load_scenario(path).market
    btc = JumpDiffusion(
        start="30000",
        tick_size="0.5",
        drift="0.05",
        volatility="0.8",
        intensity="12",
        jump_mean="-0.05",
        jump_std="0.1",
    )
    eth_gbm = GBM(start="2000", tick_size="0.01", volatility="0.9")
    assert spec == MarketSpec(
        step_us=1_500_000,
        settlement_window_us=600_000_000,
        indexes=(IndexSpec("BTC", btc, Fraction(1, 2)), IndexSpec("ETH", eth_gbm, Fraction(1, 100))),
        correlations=(CorrelationSpec(("BTC", "ETH"), ((Fraction(1), Fraction(4, 5)), (Fraction(4, 5), 1))),),
        marks=(
            MarkSpec(
                "BTC-PERP",
                MarkRule("median", clamp_ppm=5_000, funding_interval_us=3_600_000_000),
                120_500_000,
            ),
            MarkSpec("BTC-FUT", MarkRule("fair_price", annual_basis_rate_ppm=50_000), 300_000_000),
        ),
        funding=(
            FundingSpec("BTC-PERP", 3_600_000_000, 5_000_000, -50, 300, 4_000, 4_000_000_000, "linear"),
        ),
    )
    assert spec is not None
    assert spec.indexes[0].process.jump_mean == Fraction(-1, 20)
    assert isinstance(spec.correlations[0].matrix[0][1], Fraction)


def test_scripted_book_and_csv_indexes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eth.csv").write_text("time,price\n0,2000\n60.5,2001.25\n", encoding="utf-8")
    text = valid(
        scripted(points='[["0", "30000"], ["1.5", "29000.5"], [3600, 27000]]', interpolation='"linear"'),
        eth(process='"csv"', file='"data/eth.csv"', start=None, interpolation='"linear"'),
    )
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    btc, eth_index = load_scenario(path).market.indexes  # type: ignore[union-attr]
    assert btc == IndexSpec(
        "BTC",
        ScriptedPath(((0, "30000"), (1_500_000, "29000.5"), (3_600_000_000, "27000")), "0.1", "linear"),
        Fraction(1, 10),
    )
    assert eth_index.process == ScriptedPath(((0, "2000"), (60_500_000, "2001.25")), "0.01", "linear")
    assert eth_index.process.price_at(60_500_000) == 200_125

    followed = market(table("[[indexes]]", underlying='"BTC"', process='"book"', instrument='"BTC-PERP"'))
    assert followed.indexes == (IndexSpec("BTC", BookIndex("BTC-PERP", "mid"), Fraction(1, 2)),)
    last = market(
        table(
            "[[indexes]]",
            underlying='"BTC"',
            process='"book"',
            instrument='"BTC-USDC"',
            source='"last"',
            tick_size='"1"',
        )
    )
    assert last.indexes == (IndexSpec("BTC", BookIndex("BTC-USDC", "last"), Fraction(1)),)


# defaults ----------------------------------------------------------------------------------------


def test_no_market_tables_means_no_market() -> None:
    assert loads_scenario(valid()).market is None
    assert load_scenario(default_scenario_path()).market is None


def test_market_table_alone_gives_the_defaults() -> None:
    assert market("\n[market]\n") == MarketSpec()
    assert MarketSpec().step_us == 1_000_000
    assert MarketSpec().settlement_window_us == 1_800_000_000
    assert market("\n[market]\n").indexes == ()


def test_index_defaults() -> None:
    spec = market(gbm(), eth(process='"jump_diffusion"'))
    assert (spec.step_us, spec.settlement_window_us) == (1_000_000, 1_800_000_000)
    btc, eth_index = spec.indexes
    # the finest tick among BTC-PERP (0.5), BTC-FUT (0.5) and the spot pair BTC-USDC (0.1)
    assert btc == IndexSpec("BTC", GBM(start="30000", tick_size="0.1"), Fraction(1, 10))
    assert (btc.process.drift, btc.process.volatility) == (0, 0)
    assert eth_index.process == JumpDiffusion(start="2000", tick_size="0.01")
    assert (eth_index.process.intensity, eth_index.process.jump_mean, eth_index.process.jump_std) == (0, 0, 0)
    assert market(scripted()).indexes[0].process.interpolation == "step"


def test_funding_and_mark_defaults() -> None:
    spec = market(gbm(), funding(), mark(), mark(instrument='"BTC-FUT"', rule='"index"'))
    # 200 USDC of margin at the first bracket's 1% initial rate: 20,000 USDC of notional
    assert spec.funding == (
        FundingSpec("BTC-PERP", 28_800_000_000, 60_000_000, 100, 500, 7_500, 20_000_000_000, "mean"),
    )
    assert spec.marks == (
        MarkSpec("BTC-PERP", MarkRule("index_basis"), 300_000_000),
        MarkSpec("BTC-FUT", MarkRule("index"), 300_000_000),
    )


def test_funding_basis_mark_gets_the_funding_interval() -> None:
    spec = market(gbm(), funding(interval='"7200"'), mark(rule='"funding_basis"'))
    assert spec.marks[0].rule == MarkRule("funding_basis", funding_interval_us=7_200_000_000)


def test_explicit_impact_notional_and_no_margin() -> None:
    text = HEADER + NO_MARGIN_INSTRUMENTS + gbm() + funding(impact_notional='"4000.5"')
    spec = loads_scenario(text).market
    assert spec is not None
    assert spec.funding[0].impact_notional == 4_000_500_000
    assert market(gbm(), funding(impact_notional="4000")).funding[0].impact_notional == 4_000_000_000


def test_csv_path_is_relative_to_the_scenario_or_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "btc.csv").write_text("time_us,price\n0,30000\n1000000,30001\n", encoding="utf-8")
    text = valid(table("[[indexes]]", underlying='"BTC"', process='"csv"', file='"btc.csv"'))
    expected = ScriptedPath(((0, "30000"), (1_000_000, "30001")), "0.1")
    spec = loads_scenario(text, base_dir=tmp_path).market
    assert spec is not None and spec.indexes[0].process == expected
    monkeypatch.chdir(tmp_path)
    spec = loads_scenario(text).market
    assert spec is not None and spec.indexes[0].process == expected
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ScenarioError, match=r"btc\.csv: expected a readable CSV file"):
        loads_scenario(text)  # the current directory has no btc.csv
    with pytest.raises(ScenarioError, match=r"sub/btc\.csv: expected a readable CSV file"):
        load_scenario(tmp_path / "sub" / "s.toml")  # relative to the file, not to the current directory
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub" / "btc.csv").write_text("time,price\n0,1\n", encoding="utf-8")
    spec = load_scenario(tmp_path / "sub" / "s.toml").market
    assert spec is not None and spec.indexes[0].process == ScriptedPath(((0, "1"),), "0.1")


# errors ------------------------------------------------------------------------------------------

ERRORS = [
    # [market]
    (valid('\n[market]\nstepp = "1"\n'), "market.stepp", "did you mean 'step'?", "'stepp'"),
    (valid('\n[market]\nstep = "0"\n'), "market.step", "a positive number of seconds", "'0'"),
    (valid('\n[market]\nstep = "0.0000001"\n'), "market.step", "at most 6 decimals", "'0.0000001'"),
    (valid("\n[market]\nstep = 1.5\n"), "market.step", 'write "1.5" in quotes', "1.5"),
    (valid('\n[market]\nsettlement_window = "-1"\n'), "market.settlement_window", "positive", "'-1'"),
    ('market = "x"\n' + valid(), "market", "a table, written [market]", "'x'"),
    # [[indexes]]
    (valid(gbm(tick='"0.5"')), "indexes[0].tick", "did you mean 'tick_size'?", "'tick'"),
    (
        valid(scripted(volatility='"0.8"')),
        "indexes[0].volatility",
        'no volatility on a "scripted" index',
        "'0.8'",
    ),
    (valid(gbm(intensity='"1"')), "indexes[0].intensity", 'no intensity on a "gbm" index', "'1'"),
    (valid(gbm(file='"x.csv"')), "indexes[0].file", 'no file on a "gbm" index', "'x.csv'"),
    (valid(gbm(), scripted()), "indexes[1].underlying", "indexes[0] already declares it", "'BTC'"),
    (
        valid(gbm(underlying='"SOL"')),
        "indexes[0].underlying",
        "the underlying of a listed instrument (one of BTC) or a collateral asset of [margin] (one of ETH)",
        "'SOL'",
    ),
    (valid(gbm(process=None)), "indexes[0].process", "(required, missing)", None),
    (valid(gbm(process='"brownian"')), "indexes[0].process", '"gbm", "jump_diffusion"', "'brownian'"),
    (valid(gbm(start=None)), "indexes[0].start", "(required, missing)", None),
    (valid(gbm(start='"0.05"')), "indexes[0].start", "at least one tick (0.1)", "'0.05'"),
    (valid(gbm(volatility="0.8")), "indexes[0].volatility", 'write "0.8" in quotes', "0.8"),
    (valid(gbm(volatility='"-0.1"')), "indexes[0].volatility", "non-negative", "'-0.1'"),
    (valid(gbm(tick_size='"0"')), "indexes[0].tick_size", "a positive decimal string", "'0'"),
    (valid(eth(tick_size=None)), "indexes[0].tick_size", "no listed instrument has the underlying ETH", None),
    (valid(scripted(points=None)), "indexes[0].points", "(required, missing)", None),
    (valid(scripted(points="[]")), "indexes[0].points", "a non-empty array", "[]"),
    (valid(scripted(points='[["0"]]')), "indexes[0].points[0]", "a [time in seconds, price] pair", "['0']"),
    (
        valid(scripted(points='[["10", "1"], ["10", "2"]]')),
        "indexes[0].points[1][0]",
        "times strictly increase",
        "'10'",
    ),
    (valid(scripted(points='[["-1", "1"]]')), "indexes[0].points[0][0]", "a time in seconds >= 0", "'-1'"),
    (valid(scripted(points='[[0.5, "1"]]')), "indexes[0].points[0][0]", 'write "0.5" in quotes', "0.5"),
    (valid(scripted(points='[["0", "0"]]')), "indexes[0].points[0][1]", "a positive decimal price", "'0'"),
    (valid(scripted(interpolation='"cubic"')), "indexes[0].interpolation", '"step", "linear"', "'cubic'"),
    (
        valid(table("[[indexes]]", underlying='"BTC"', process='"csv"')),
        "indexes[0].file",
        "(required, missing)",
        None,
    ),
    (
        valid(table("[[indexes]]", underlying='"BTC"', process='"book"', instrument='"ETH-PERP"')),
        "indexes[0].instrument",
        "an instrument declared in [[instruments]] (one of BTC-PERP, BTC-FUT, BTC-USDC)",
        "'ETH-PERP'",
    ),
    (
        valid(table("[[indexes]]", underlying='"ETH"', process='"book"', instrument='"BTC-USDC"')),
        "indexes[0].instrument",
        "an instrument on the underlying ETH",
        "'BTC-USDC'",
    ),
    (
        valid(
            table(
                "[[indexes]]", underlying='"BTC"', process='"book"', instrument='"BTC-USDC"', source='"bid"'
            )
        ),
        "indexes[0].source",
        '"mid", "last"',
        "'bid'",
    ),
    (
        valid('\n[indexes]\nunderlying = "BTC"\n'),
        "indexes",
        "an array of tables, written [[indexes]]",
        "{'underlying': 'BTC'}",
    ),
    # [[correlations]]
    (
        valid(
            scripted(),
            eth(),
            table("[[correlations]]", underlyings='["ETH", "BTC"]', matrix='[["1", "0"], ["0", "1"]]'),
        ),
        "correlations[0].underlyings[1]",
        'an underlying with a "gbm" or "jump_diffusion" index (indexes[0] is "scripted")',
        "'BTC'",
    ),
    (
        valid(
            gbm(),
            eth(),
            table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", "0.8"], ["0.7", "1"]]'),
        ),
        "correlations[0].matrix",
        "not symmetric",
        None,
    ),
    (
        valid(
            gbm(),
            eth(),
            table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", "2"], ["2", "1"]]'),
        ),
        "correlations[0].matrix",
        "a symmetric positive semi-definite matrix with 1 on the diagonal",
        None,
    ),
    (
        valid(gbm(), eth(), table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", "0.5"]]')),
        "correlations[0].matrix",
        "a 2 x 2 matrix",
        "[['1', '0.5']]",
    ),
    (
        valid(
            gbm(),
            eth(),
            table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", 0.5], ["0.5", "1"]]'),
        ),
        "correlations[0].matrix[0][1]",
        'write "0.5" in quotes',
        "0.5",
    ),
    (
        valid(gbm(), eth(), table("[[correlations]]", underlyings='["BTC", "ETH"]')),
        "correlations[0].matrix",
        "(required, missing)",
        None,
    ),
    (
        valid(gbm(), table("[[correlations]]", underlyings='["BTC"]', matrix='[["1"]]')),
        "correlations[0].underlyings",
        "two or more underlyings",
        "['BTC']",
    ),
    (
        valid(
            gbm(), table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", "0"], ["0", "1"]]')
        ),
        "correlations[0].underlyings[1]",
        "an underlying with an [[indexes]] entry (one of BTC)",
        "'ETH'",
    ),
    (
        valid(
            gbm(),
            eth(),
            table("[[correlations]]", underlyings='["BTC", "ETH"]', matrix='[["1", "0"], ["0", "1"]]'),
            table("[[correlations]]", underlyings='["ETH", "BTC"]', matrix='[["1", "0"], ["0", "1"]]'),
        ),
        "correlations[1].underlyings[0]",
        "at most one correlation group (correlations[0].underlyings[1] names it)",
        "'ETH'",
    ),
    (
        valid(
            gbm(), table("[[correlations]]", underlyings='["BTC", "BTC"]', matrix='[["1", "1"], ["1", "1"]]')
        ),
        "correlations[0].underlyings[1]",
        "at most one correlation group",
        "'BTC'",
    ),
    (
        valid(gbm(), table("[[correlations]]", names='["BTC"]')),
        "correlations[0].names",
        "underlyings, matrix",
        "'names'",
    ),
    # [[marks]]
    (
        valid(gbm(), mark(instrument='"BTC-USDC"')),
        "marks[0].instrument",
        "BTC-USDC is a spot pair",
        "'BTC-USDC'",
    ),
    (valid(gbm(), mark(instrument='"X"')), "marks[0].instrument", "declared in [[instruments]]", "'X'"),
    (valid(mark()), "marks[0].instrument", "BTC-PERP's underlying BTC has none", "'BTC-PERP'"),
    (
        valid(gbm(), mark(), mark(rule='"mid"')),
        "marks[1].instrument",
        "marks[0] already marks it",
        "'BTC-PERP'",
    ),
    (
        valid(gbm(), mark(rule='"fair_price"')),
        "marks[0].rule",
        'a rule other than "fair_price"',
        "'fair_price'",
    ),
    (
        valid(gbm(), mark(rule='"funding_basis"')),
        "marks[0].rule",
        "a [[funding]] entry for BTC-PERP",
        "'funding_basis'",
    ),
    (valid(gbm(), mark(rule='"median"')), "marks[0].rule", "a [[funding]] entry for BTC-PERP", "'median'"),
    (valid(gbm(), mark(rule='"oracle"')), "marks[0].rule", '"index", "index_basis"', "'oracle'"),
    (valid(gbm(), mark(rule=None)), "marks[0].rule", "(required, missing)", None),
    (
        valid(gbm(), mark(rule='"mid"', clamp_ppm="100")),
        "marks[0].clamp_ppm",
        'no clamp_ppm with rule "mid" (only rules "index_basis" and "median" take it)',
        "100",
    ),
    (
        valid(gbm(), mark(rule='"index"', basis_window='"60"')),
        "marks[0].basis_window",
        "no basis_window",
        "'60'",
    ),
    (
        valid(gbm(), mark(annual_basis_rate_ppm="5")),
        "marks[0].annual_basis_rate_ppm",
        '(only rule "fair_price" takes it)',
        "5",
    ),
    (valid(gbm(), mark(clamp_ppm="1000000")), "marks[0].clamp_ppm", "from 0 to 999999", "1000000"),
    (valid(gbm(), mark(basis_window='"0"')), "marks[0].basis_window", "a positive number of seconds", "'0'"),
    (
        valid(gbm(), mark(instrument='"BTC-FUT"', rule='"fair_price"', annual_basis_rate_ppm='"5"')),
        "marks[0].annual_basis_rate_ppm",
        "an integer annual basis rate",
        "'5'",
    ),
    (valid(gbm(), mark(window='"1"')), "marks[0].window", "did you mean 'basis_window'?", "'window'"),
    # [[funding]]
    (
        valid(gbm(), funding(sample_every='"7"')),
        "funding[0].sample_every",
        "divides the interval (28800 s)",
        "'7'",
    ),
    (
        valid(gbm(), funding(interval='"90"')),
        "funding[0].interval",
        "a multiple of sample_every (60 s",
        "'90'",
    ),
    (valid(gbm(), funding(interval='"0"')), "funding[0].interval", "a positive number of seconds", "'0'"),
    (
        valid(gbm(), funding(instrument='"BTC-FUT"')),
        "funding[0].instrument",
        "BTC-FUT is a dated future",
        "'BTC-FUT'",
    ),
    (
        valid(gbm(), funding(instrument='"BTC-USDC"')),
        "funding[0].instrument",
        "BTC-USDC is a spot pair",
        "'BTC-USDC'",
    ),
    (valid(funding()), "funding[0].instrument", "BTC-PERP's underlying BTC has none", "'BTC-PERP'"),
    (
        valid(gbm(), funding(), funding()),
        "funding[1].instrument",
        "funding[0] already funds it",
        "'BTC-PERP'",
    ),
    (valid(gbm(), funding(cap_ppm="1000000")), "funding[0].cap_ppm", "from 0 to 999999", "1000000"),
    (valid(gbm(), funding(interest_ppm='"100"')), "funding[0].interest_ppm", "strictly between", "'100'"),
    (valid(gbm(), funding(clamp_ppm="-1")), "funding[0].clamp_ppm", "from 0 to 999999", "-1"),
    (valid(gbm(), funding(weighting='"median"')), "funding[0].weighting", '"mean", "linear"', "'median'"),
    (
        valid(gbm(), funding(impact_notional='"0.0000001"')),
        "funding[0].impact_notional",
        "at most 6 decimals",
        "'0.0000001'",
    ),
    (
        valid(gbm(), funding(impact_notional='"0"')),
        "funding[0].impact_notional",
        "a positive amount of USDC",
        "'0'",
    ),
    (
        HEADER + NO_MARGIN_INSTRUMENTS + gbm() + funding(),
        "funding[0].impact_notional",
        "BTC-PERP has no [margin] brackets to derive it from, missing)",
        None,
    ),
]


@pytest.mark.parametrize(("text", "field", "expected", "got"), ERRORS)
def test_errors_name_the_field(text: str, field: str, expected: str, got: str | None) -> None:
    err = error(text)
    assert err.source == "<string>"
    assert err.field == field
    assert expected in err.expected
    assert err.got == got
    assert str(err).startswith(f"<string>: {field}: expected ")


def test_csv_errors_name_the_csv_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "btc.csv").write_text("time,price\n0,30000\n60,abc\n", encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(
        valid(table("[[indexes]]", underlying='"BTC"', process='"csv"', file='"btc.csv"')), "utf-8"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.field == "indexes[0].file"
    csv_path = tmp_path / "btc.csv"
    assert f'{csv_path}: line 3: expected a positive decimal price, got "abc"' in err.expected
    assert str(err).startswith(
        f"{path}: indexes[0].file: expected a valid price CSV file ({csv_path}: line 3"
    )

    (tmp_path / "btc.csv").unlink()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == "indexes[0].file"
    assert f"{csv_path}: expected a readable CSV file, got FileNotFoundError" in info.value.expected


def test_validate_prints_market_errors_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "btc.csv").write_text("time,price\n0,30000\n\n0,1\n", encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(
        valid(table("[[indexes]]", underlying='"BTC"', process='"csv"', file='"btc.csv"')), "utf-8"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: indexes[0].file: expected a valid price CSV file")
    assert "btc.csv: line 4: expected a time after 0 (line 2)" in err
    assert "Traceback" not in err and err.count("\n") == 1

    path.write_text(valid(scripted(volatility='"0.8"')), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f'error: {path}: indexes[0].volatility: expected no volatility on a "scripted" index' + (
        " (its keys: underlying, process, tick_size, points, interpolation), got '0.8'\n"
    )
    path.write_text(FULL, encoding="utf-8")
    assert main(["validate", str(path)]) == 0


def test_documented_market_example_loads() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scenario-format.md").read_text(encoding="utf-8")
    example = doc.split("#### Example: a moving market", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    spec = loads_scenario(example, "docs/scenario-format.md").market
    assert spec is not None
    assert (spec.step_us, spec.settlement_window_us) == (1_500_000, 600_000_000)
    btc, eth_index = spec.indexes
    assert btc == IndexSpec(
        "BTC",
        JumpDiffusion(
            start="30000",
            tick_size="0.5",
            volatility="0.8",
            intensity="12",
            jump_mean="-0.05",
            jump_std="0.1",
        ),
        Fraction(1, 2),
    )
    assert eth_index == IndexSpec(
        "ETH", GBM(start="2000", tick_size="0.01", volatility="0.9"), Fraction(1, 100)
    )
    assert spec.correlations == (
        CorrelationSpec(("BTC", "ETH"), ((Fraction(1), Fraction(4, 5)), (Fraction(4, 5), Fraction(1)))),
    )
    assert spec.funding == (
        FundingSpec("BTC-PERP", 28_800_000_000, 60_000_000, 100, 500, 7_500, 4_000_000_000, "mean"),
    )
    assert spec.marks == (
        MarkSpec(
            "BTC-PERP", MarkRule("median", clamp_ppm=5_000, funding_interval_us=28_800_000_000), 300_000_000
        ),
        MarkSpec("BTC-FUT", MarkRule("fair_price"), 300_000_000),
    )
    # without impact_notional: 200 USDC of margin at the 1% initial rate
    default = loads_scenario(example.replace('impact_notional = "4000"', "")).market
    assert default is not None and default.funding[0].impact_notional == 20_000_000_000
