"""``exchange-sim run``: simulate a scenario and leave the journal, a summary and plots in a folder.

The same from Python (a notebook)::

    from exchange_sim.run import run_scenario

    output = run_scenario("scenarios/calm.toml", until_s=3600)
    output.summary["liquidations"]      # the summary.json content, as a dict
    output.journal_path                 # the msgpack journal, for replay / explain / diff

The output folder holds ``journal.msgpack``, ``summary.json`` (:mod:`exchange_sim.report`) and,
when matplotlib is installed (``pip install 'exchange-sim[plots]'``), the PNG plots. Without
``out_dir`` a new folder is made under ``runs/``: ``runs/<scenario>-seed<seed>`` (then ``-2``,
``-3``, ... if it exists), so no run overwrites another.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange_sim import __version__
from exchange_sim.report import analyze, summary_text, write_plots, write_summary
from exchange_sim.scenario import Scenario, default_scenario_path, load_scenario
from exchange_sim.sim import RunResult, Simulation

__all__ = ["RunOutput", "default_out_dir", "default_run_scenario_path", "progress_bar", "run_scenario"]

DEFAULT_RUN_SCENARIO = "calm.toml"
"""What ``exchange-sim run`` runs without an argument: the bundled calm market."""


def default_run_scenario_path() -> Path:
    """The bundled scenario ``exchange-sim run`` runs by default (``scenarios/calm.toml``)."""
    return default_scenario_path().parent / DEFAULT_RUN_SCENARIO


@dataclass(slots=True)
class RunOutput:
    """What a run left: the folder, the journal, the summary (as written to summary.json)."""

    out_dir: Path
    journal_path: Path
    summary: dict[str, Any]
    result: RunResult
    plots: list[Path] = field(default_factory=list)
    plot_error: str | None = None

    def text(self) -> list[str]:
        """The short human summary printed at the end of ``exchange-sim run``."""
        lines = summary_text(self.summary)
        lines.append(f"output: {self.out_dir} (journal.msgpack, summary.json, {len(self.plots)} plots)")
        if self.plot_error:
            lines.append(f"plots skipped: {self.plot_error}")
        return lines


def default_out_dir(scenario: Scenario, seed: int, root: Path = Path("runs")) -> Path:
    """A folder under ``root`` that does not exist yet, named after the scenario and seed."""
    base = root / f"{scenario.name}-seed{seed}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def progress_bar(stream: Any = None, width: int = 30) -> Callable[[int, int], None]:
    """A text progress bar for :class:`~exchange_sim.sim.Simulation`'s ``progress`` callback: redrawn
    in place on a terminal, one line per 10% otherwise (a log file gets ten lines, not a hundred
    carriage returns)."""
    out = stream if stream is not None else sys.stderr
    live = bool(getattr(out, "isatty", lambda: False)())
    shown = {"tenths": -1}

    def show(now: int, end: int) -> None:
        done = now * width // end if end else width
        percent = now * 100 // end if end else 100
        bar = "#" * done + "." * (width - done)
        text = f"[{bar}] {percent:3d}%  {now // 1_000_000:,} / {end // 1_000_000:,} s"
        if live:
            out.write("\r" + text + ("\n" if now >= end else ""))
        elif percent // 10 > shown["tenths"]:
            shown["tenths"] = percent // 10
            out.write(text + "\n")
        out.flush()

    return show


def run_scenario(
    scenario: str | Path | Scenario,
    *,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    until_s: int | None = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutput:
    """Run a scenario (a path or a loaded :class:`Scenario`) to its end, or for ``until_s`` seconds.

    Writes the journal, ``summary.json`` and the plots into ``out_dir`` (default:
    :func:`default_out_dir`). ``seed`` overrides the scenario's."""
    source_bytes = b""
    if not isinstance(scenario, Scenario):
        path = Path(scenario)
        source_bytes = path.read_bytes()
        scenario = load_scenario(path)
    elif scenario.source and Path(scenario.source).is_file():
        source_bytes = Path(scenario.source).read_bytes()
    seed = scenario.seed if seed is None else seed
    folder = Path(out_dir) if out_dir is not None else default_out_dir(scenario, seed)
    folder.mkdir(parents=True, exist_ok=True)
    journal_path = folder / "journal.msgpack"
    until_us = None if until_s is None else until_s * 1_000_000
    sim = Simulation(scenario, seed=seed, journal_path=journal_path, until_us=until_us, progress=progress)
    result = sim.run()
    meta = {
        "seed": seed,
        "scenario": scenario.name,
        "scenario_source": scenario.source,
        "scenario_sha256": hashlib.sha256(source_bytes).hexdigest() if source_bytes else None,
        "package_version": __version__,
        "journal_sha256": result.digest,
        "duration_us": result.end_us,
    }
    summary, series = analyze(journal_path, venue=result.venue, meta=meta)
    write_summary(summary, folder / "summary.json")
    output = RunOutput(folder, journal_path, summary, result)
    if plots:
        try:
            output.plots = write_plots(series, folder)
        except RuntimeError as exc:  # matplotlib is an optional extra
            output.plot_error = str(exc)
    return output
