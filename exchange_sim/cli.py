"""The ``exchange-sim`` command line.

Commands:

* ``exchange-sim demo [SCENARIO]``: a few accounts trading on the scenario's venue (the bundled
  default scenario if none is given), with a printed summary and a journal in ``--out``;
* ``exchange-sim validate SCENARIO``: check a scenario file and describe what it declares;
* ``exchange-sim replay JOURNAL``: rebuild the state from a journal and check every output.

User mistakes (a malformed scenario, a damaged journal) print one ``error:`` line on stderr,
without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exchange_sim import __version__
from exchange_sim.demo import run_demo, summary_lines
from exchange_sim.journal import JournalError
from exchange_sim.replay import replay
from exchange_sim.scenario import Scenario, ScenarioError, default_scenario_path, load_scenario
from exchange_sim.scenario_liquidation import describe_liquidation
from exchange_sim.units import format_atoms, format_fraction

EXIT_USER_ERROR = 2


def _load(path: str | None) -> Scenario:
    return load_scenario(path if path is not None else default_scenario_path())


def _cmd_demo(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    if len(scenario.accounts) < 2:
        raise ScenarioError(
            scenario.source, "accounts", "at least two accounts for the demo (a maker, a trader)"
        )
    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    if args.margin_mode is not None and scenario.venue.margin is None:
        raise ScenarioError(scenario.source, "margin", "a [margin] table for --margin-mode")
    report = run_demo(
        scenario, Path(args.out), steps=args.steps, seed=args.seed, margin_mode=args.margin_mode
    )
    print("\n".join(summary_lines(report, scenario)))
    return 0 if report.replay_ok else 1


def _cmd_validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    print(f"{scenario.source}: ok: scenario {scenario.name!r}, seed {scenario.seed}")
    for asset in scenario.venue.assets:
        print(f"  asset {asset.symbol}: {asset.decimals} decimals")
    for inst in scenario.venue.instruments:
        expiry = f", expires at {inst.expiry_us} us" if inst.expiry_us is not None else ""
        print(
            f"  instrument {inst.symbol}: {inst.kind.value} on {inst.underlying}, tick {inst.format_price(1)}"
            f" {inst.settlement_asset}, lot {inst.format_size(1)}, {inst.atoms_per_tick_per_lot} atoms per"
            f" tick per lot, fees maker {inst.maker_fee_ppm} / taker {inst.taker_fee_ppm} ppm{expiry}"
        )
    for spec in scenario.accounts:
        assets = {a.symbol: a for a in scenario.venue.assets}
        funds = ", ".join(f"{assets[s].format(n)} {s}" for s, n in spec.balances) or "no funds"
        print(f"  account {spec.id}: {funds}")
    rules, margin = scenario.venue.liquidation, scenario.venue.margin
    if rules is not None and margin is not None:
        settlement = scenario.venue.asset(margin.settlement)
        print(f"  liquidation: {describe_liquidation(rules, scenario.liquidation_capital, settlement)}")
    if margin is not None:
        from exchange_sim.scenario_portfolio import describe_portfolio_margin

        for line in describe_portfolio_margin(margin):
            print(f"  {line}")
    if scenario.simulation is not None:
        from exchange_sim.scenario_sim import describe_simulation

        for line in describe_simulation(scenario.simulation, scenario.venue):
            print(f"  {line}")
    market = scenario.market
    if market is not None:
        step, window = _seconds(market.step_us), _seconds(market.settlement_window_us)
        print(f"  market: a step every {step} s, settlement window {window} s")
        for index in market.indexes:
            kind = type(index.process).__name__
            print(f"  index {index.underlying}: {kind}, tick {format_fraction(index.tick_size)}")
        for group in market.correlations:
            print(f"  correlated: {', '.join(group.underlyings)}")
        for mark in market.marks:
            print(f"  mark {mark.instrument}: rule {mark.rule.name}")
        for f in market.funding:
            print(
                f"  funding {f.instrument}: every {_seconds(f.interval_us)} s, sampled every"
                f" {_seconds(f.sample_us)} s, interest {f.interest_ppm} / clamp {f.clamp_ppm} /"
                f" cap {f.cap_ppm} ppm, {f.weighting} weights"
            )
    return 0


def _seconds(us: int) -> str:
    return format_atoms(us, 6)


def _cmd_run(args: argparse.Namespace) -> int:
    from exchange_sim.run import default_run_scenario_path, progress_bar, run_scenario

    path = args.scenario if args.scenario is not None else default_run_scenario_path()
    scenario = load_scenario(path)
    if scenario.simulation is None and args.until is None:
        raise ScenarioError(
            scenario.source, "simulation", "a [simulation] table with its duration (or --until)"
        )
    if args.until is not None and args.until <= 0:
        raise ValueError("--until must be a positive number of seconds")
    output = run_scenario(
        scenario,
        seed=args.seed,
        out_dir=args.out,
        until_s=args.until,
        plots=not args.no_plots,
        progress=None if args.quiet else progress_bar(),
    )
    print("\n".join(output.text()))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    import json

    from exchange_sim.diff import diff_runs, diff_text

    for path in (args.a, args.b):
        if not Path(path).exists():
            raise ValueError(f"{path}: no such run folder or journal")
    data = diff_runs(Path(args.a), Path(args.b))
    if args.json:
        print(json.dumps(data, sort_keys=True, indent=2, default=str))
    else:
        print("\n".join(diff_text(data, limit=args.limit)))
    return 0 if data["identical"] else 1


def _cmd_explain(args: argparse.Namespace) -> int:
    import json

    from exchange_sim.config import VenueConfig
    from exchange_sim.explain_run import explain_account, explain_text
    from exchange_sim.journal import read_journal

    at_us = None if args.at is None else _micros(args.at)
    data = explain_account(args.journal, args.account, at_us)
    if args.json:
        print(json.dumps(data, sort_keys=True, indent=2))
    else:
        header, _ = read_journal(args.journal)
        print("\n".join(explain_text(data, VenueConfig.from_dict(header["config"]))))
    return 0


def _micros(seconds: str) -> int:
    from exchange_sim.units import parse_decimal

    try:
        value = parse_decimal(seconds) * 1_000_000
    except Exception:
        raise ValueError(
            f"--at takes seconds of simulated time such as 3600 or 7918.5, got {seconds!r}"
        ) from None
    if value < 0 or value != int(value):
        raise ValueError(f"--at takes seconds >= 0 with at most 6 decimals, got {seconds!r}")
    return int(value)


def _cmd_replay(args: argparse.Namespace) -> int:
    """Replay a journal: damage (truncation, a changed byte) is reported with its byte offset, and
    for a change that still decodes, the first event whose replay disagrees is located."""
    from exchange_sim.replay import event_offsets

    path = args.journal
    try:
        report = replay(path, strict=True)
    except JournalError as exc:
        if "do not match the digest" in str(exc):  # it decodes: find where replay disagrees
            located = replay(path, verify=False)
            if located.mismatch is not None:
                offsets = event_offsets(path)
                index = located.mismatch.index
                where = f" (byte {offsets[index]})" if index < len(offsets) else ""
                print(f"{path}: the first event that replays differently is event {index}{where}")
                print(f"  recorded: {located.mismatch.recorded}")
                print(f"  replayed: {located.mismatch.replayed}")
        raise  # reported as one error line, exit status 2
    if report.ok:
        report.venue._check()  # the invariants hold in the rebuilt state
        print(f"{path}: ok: {report.events} events replayed, invariants hold, sha256 {report.digest}")
        return 0
    mismatch = report.mismatch
    if mismatch is not None:
        offsets = event_offsets(path)
        where = f" (byte {offsets[mismatch.index]})" if mismatch.index < len(offsets) else ""
        print(f"{path}: MISMATCH at event {mismatch.index}{where}")
        print(f"  recorded: {mismatch.recorded}")
        print(f"  replayed: {mismatch.replayed}")
    else:
        print(f"{path}: digest differs: {report.digest} vs {report.replayed_digest}")
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange-sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"exchange-sim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the venue demo on a scenario and print a summary")
    demo.add_argument("scenario", nargs="?", help="scenario file (default: the bundled default scenario)")
    demo.add_argument("--out", default="runs/demo", help="folder for the journal (default: runs/demo)")
    demo.add_argument("--steps", type=int, default=2_000, help="number of demo actions (default: 2000)")
    demo.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    demo.add_argument(
        "--margin-mode",
        choices=["cross", "isolated"],
        default=None,
        help="run every account in this margin mode (default: as the scenario says)",
    )
    demo.set_defaults(func=_cmd_demo)
    run = commands.add_parser("run", help="simulate a scenario: journal, summary.json and plots in a folder")
    run.add_argument("scenario", nargs="?", help="scenario file (default: the bundled calm market)")
    run.add_argument("--out", default=None, help="output folder (default: a new folder under runs/)")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--until", type=int, default=None, help="stop after this many simulated seconds")
    run.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)
    validate = commands.add_parser("validate", help="check a scenario file")
    validate.add_argument("scenario")
    validate.set_defaults(func=_cmd_validate)
    diff_cmd = commands.add_parser(
        "diff", help="compare two runs (folders or journals): what changed; exit 1 if they differ"
    )
    diff_cmd.add_argument("a", help="run folder or journal A")
    diff_cmd.add_argument("b", help="run folder or journal B")
    diff_cmd.add_argument("--limit", type=int, default=10, help="lines per list (default: 10)")
    diff_cmd.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff_cmd.set_defaults(func=_cmd_diff)
    explain_cmd = commands.add_parser(
        "explain", help="an account's margin at a moment of a run, and its liquidation history"
    )
    explain_cmd.add_argument("journal")
    explain_cmd.add_argument("--account", required=True, help="the account id")
    explain_cmd.add_argument("--at", default=None, help="seconds of simulated time (default: the end)")
    explain_cmd.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain_cmd.set_defaults(func=_cmd_explain)
    replay_cmd = commands.add_parser("replay", help="replay a journal and check its outputs")
    replay_cmd.add_argument("journal")
    replay_cmd.set_defaults(func=_cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ScenarioError, JournalError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
