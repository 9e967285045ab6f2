"""Golden tests for scenarios: run one, compare its outcome with a recorded one, fail with a readable diff.

For a risk engineer's own pytest suite (``docs/regression-testing.md``)::

    from pathlib import Path
    from exchange_sim.testing import run_and_compare

    def test_flash_crash_liquidations_are_unchanged(tmp_path):
        run_and_compare("scenarios/flash_crash.toml", Path("tests/goldens/flash_crash.json"),
                        until_s=1_800, out_dir=tmp_path)

:func:`run_and_compare` runs the scenario, extracts its *golden record* (:func:`golden_record`:
the journal's sha256 and a stable subset of ``summary.json`` chosen by ``fields``, never
timings or paths) and compares it with the JSON file. A difference raises
:class:`GoldenMismatch` (an ``AssertionError``) listing the changed fields, old -> new.

Updating on purpose (the file is then written, not compared): ``update=True``; or the
environment variable ``EXCHANGE_SIM_UPDATE_GOLDENS=1``; or ``pytest --update-goldens`` once the
plugin is enabled in the suite's ``conftest.py``::

    pytest_plugins = ["exchange_sim.testing"]

The plugin also gives the fixtures ``update_goldens`` (the flag, a bool) and ``golden`` (a
:func:`run_and_compare` that runs into the test's ``tmp_path``).

Field patterns (``fields``) are dotted paths into ``summary.json`` (``exchange_sim/report.py``);
``*`` stands for every key at its level (every instrument, every account). A quantity (a dict
with ``units`` and ``atoms``, ``ticks`` or ``lots``) is recorded as its exact decimal ``units``
string; a dict is recorded whole (its leaves); a path missing from the summary (a backstop
vault in a run without one) is left out; ``null`` is recorded as ``null``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange_sim.run import RunOutput, run_scenario
from exchange_sim.scenario import Scenario, load_scenario

try:  # the plugin part needs pytest; the rest of the module does not
    import pytest
except ImportError:  # pragma: no cover - pytest is a test extra
    pytest = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_FIELDS",
    "GOLDEN_FORMAT",
    "UPDATE_ENV",
    "UPDATE_OPTION",
    "GoldenMismatch",
    "GoldenMissing",
    "GoldenUpdated",
    "compare_golden",
    "golden_record",
    "run_and_compare",
    "update_requested",
    "write_golden",
]

GOLDEN_FORMAT = "exchange-sim/golden"
GOLDEN_VERSION = 1
UPDATE_ENV = "EXCHANGE_SIM_UPDATE_GOLDENS"
"""Set to ``1`` (or ``true``, ``yes``, ``on``) to write goldens instead of comparing them."""
UPDATE_OPTION = "--update-goldens"
"""The pytest option the plugin adds (``pytest_plugins = ["exchange_sim.testing"]``)."""

DEFAULT_FIELDS: tuple[str, ...] = (
    "instruments.*.trades",
    "instruments.*.volume",
    "instruments.*.min_price",
    "instruments.*.max_price",
    "instruments.*.last_price",
    "instruments.*.open_interest",
    "instruments.*.liquidated",
    "liquidations",
    "insurance_fund.end",
    "insurance_fund.min",
    "backstop_vault.end",
    "backstop_vault.min",
    "accounts.*.equity",
)
"""What a golden records by default: per instrument the trades, volume, price range, last price,
open interest and size liquidated; everything in ``liquidations`` (rules, counts, outcomes,
amounts, deleveraging, socialised loss, bad debt); the insurance fund's (and backstop vault's)
end and minimum; every account's final equity."""

MAX_LINES = 40
"""At most this many changed fields are listed in a :class:`GoldenMismatch` message."""

_QUANTITY_KEYS = ("atoms", "ticks", "lots")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_TRUE = {"1", "true", "yes", "on"}
_ABSENT_OLD = "(not in the golden)"
_ABSENT_NEW = "(not in this run)"
_pytest_update: list[bool] = []  # --update-goldens of each configured pytest session (nested ones too)


class GoldenMismatch(AssertionError):
    """A run's golden record differs from the golden file (or the file is missing).

    Attributes: ``golden`` (the file), ``changed`` (``{field: (old, new)}``, ``None`` for a field
    on one side only), ``digest_changed`` (the journal's sha256 differs)."""

    def __init__(
        self,
        message: str,
        golden: Path,
        changed: dict[str, tuple[Any, Any]] | None = None,
        digest_changed: bool = False,
    ) -> None:
        super().__init__(message)
        self.golden = golden
        self.changed = dict(changed or {})
        self.digest_changed = digest_changed


class GoldenMissing(GoldenMismatch):
    """The golden file does not exist (and no update was asked for)."""


class GoldenUpdated(UserWarning):
    """A golden file was written (created or changed) because an update was asked for."""


# --------------------------------------------------------------------------------- the record


def golden_record(
    summary: dict[str, Any],
    *,
    digest: str | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    check_digest: bool = True,
) -> dict[str, Any]:
    """The golden record of a run from its summary (``RunOutput.summary`` or ``summary.json``):
    format, scenario, seed, simulated end time, the fields asked for, the journal's sha256
    (``digest``, default the summary's ``run.journal_sha256``; left out with ``check_digest=False``)
    and the selected summary values under ``"summary"``."""
    run = summary.get("run") or {}
    picked: dict[str, Any] = {}
    for pattern in fields:
        for path, value in _select(summary, pattern.split(".")):
            _put(picked, path, value)
    record: dict[str, Any] = {
        "format": GOLDEN_FORMAT,
        "version": GOLDEN_VERSION,
        "scenario": run.get("scenario"),
        "seed": run.get("seed"),
        "end_us": run.get("end_us"),
        "fields": list(fields),
        "summary": picked,
    }
    if check_digest:
        record["journal_sha256"] = digest if digest is not None else run.get("journal_sha256")
    return record


def _select(node: Any, parts: list[str], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if not parts:
        yield path, _leaf(node)
        return
    if not isinstance(node, dict):
        if node is None:  # e.g. "insurance_fund": null in a run without liquidation rules
            yield path, None
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        yield from _select(node[key], rest, (*path, str(key)))


def _leaf(value: Any) -> Any:
    """A quantity dict becomes its exact decimal string; other dicts are kept, collapsed likewise."""
    if isinstance(value, dict):
        if "units" in value and any(k in value for k in _QUANTITY_KEYS) and len(value) == 2:
            return value["units"]
        return {k: _leaf(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaf(v) for v in value]
    return value


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if not path:
        if isinstance(value, dict):
            tree.update(value)
        return
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _flatten(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict) and node:
        flat: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, (*path, key)))
        return flat
    return {path: node}


def _name(path: tuple[str, ...]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if "." in key or " " in key else (f".{key}" if text else key)
    return text


# ------------------------------------------------------------------------- updating, comparing


def update_requested(update: bool | None = None) -> bool:
    """Whether goldens are to be written: ``update`` when given; otherwise the environment
    variable :data:`UPDATE_ENV` or pytest's ``--update-goldens`` (with the plugin enabled)."""
    if update is not None:
        return update
    return os.environ.get(UPDATE_ENV, "").strip().lower() in _TRUE or bool(
        _pytest_update and _pytest_update[-1]
    )


def write_golden(record: dict[str, Any], golden: str | os.PathLike[str]) -> Path:
    """Write a golden record as JSON: sorted keys, indent 2, final newline (folders made)."""
    path = Path(golden)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dumps(record), encoding="utf-8")
    return path


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def compare_golden(
    record: dict[str, Any],
    golden: str | os.PathLike[str],
    *,
    update: bool | None = None,
    run_dir: Path | None = None,
) -> None:
    """Compare a golden record with the file ``golden``; raise :class:`GoldenMismatch` on a
    difference, :class:`GoldenMissing` when the file does not exist. With an update asked for
    (:func:`update_requested`) the file is written instead (a :class:`GoldenUpdated` warning
    says so) when it is missing or differs. ``run_dir``: the run's folder, named in the message."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's
    path = Path(golden)
    updating = update_requested(update)
    if not path.exists():
        if updating:
            write_golden(record, path)
            warnings.warn(GoldenUpdated(f"golden {path} created"), stacklevel=3)
            return
        raise GoldenMissing(
            f"golden file {path} does not exist.\n"
            f"To create it from this run: {_update_command()}\n"
            "then review the new file and commit it.",
            path,
        )
    old = json.loads(path.read_text(encoding="utf-8"))
    if old == json.loads(_dumps(record)):
        return
    changed, digest_changed, notes = _differences(old, record)
    if updating:
        write_golden(record, path)
        what = f"{len(changed)} fields changed" + (", journal sha256 changed" if digest_changed else "")
        warnings.warn(GoldenUpdated(f"golden {path} updated: {what}"), stacklevel=3)
        return
    raise GoldenMismatch(
        _message(path, old, record, changed, digest_changed, notes, run_dir), path, changed, digest_changed
    )


def _differences(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[dict[str, tuple[Any, Any]], bool, list[str]]:
    notes = []
    if old.get("format") != GOLDEN_FORMAT or old.get("version") != GOLDEN_VERSION:
        notes.append(
            f"the golden file's format is {old.get('format')!r} version {old.get('version')!r}, "
            f"this run's {GOLDEN_FORMAT!r} version {GOLDEN_VERSION}"
        )
    if old.get("fields") != new.get("fields"):
        notes.append("the golden was recorded with other fields than those asked for now")
    digest_changed = old.get("journal_sha256") != new.get("journal_sha256")
    if ("journal_sha256" in old) != ("journal_sha256" in new):
        notes.append("one side records the journal sha256 and the other does not (check_digest)")
        digest_changed = False
    before: dict[str, Any] = {k: old.get(k) for k in ("scenario", "seed", "end_us") if k in old}
    after: dict[str, Any] = {k: new.get(k) for k in ("scenario", "seed", "end_us")}
    flat_old = {(k,): v for k, v in before.items()} | _prefixed(old.get("summary") or {})
    flat_new = {(k,): v for k, v in after.items()} | _prefixed(new.get("summary") or {})
    changed: dict[str, tuple[Any, Any]] = {}
    for key in [*flat_new, *(k for k in flat_old if k not in flat_new)]:
        a = flat_old.get(key, _ABSENT_OLD)
        b = flat_new.get(key, _ABSENT_NEW)
        if a != b:
            changed[_name(key)] = (a, b)
    return changed, digest_changed, notes


def _prefixed(summary: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    return {path: value for path, value in _flatten(summary).items() if path}


def _show(value: Any) -> str:
    if isinstance(value, str) and (_DECIMAL.fullmatch(value) or value in (_ABSENT_OLD, _ABSENT_NEW)):
        return value
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} items]"
    return json.dumps(value, ensure_ascii=False)


def _delta(old: Any, new: Any) -> str:
    def number(value: Any) -> Decimal | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            return Decimal(value)
        return None

    a, b = number(old), number(new)
    if a is None or b is None:
        return ""
    diff = b - a
    text = format(diff.normalize(), "f") if diff else "0"
    return f" ({'+' if diff > 0 else ''}{text})"


def _message(
    path: Path,
    old: dict[str, Any],
    new: dict[str, Any],
    changed: dict[str, tuple[Any, Any]],
    digest_changed: bool,
    notes: list[str],
    run_dir: Path | None,
) -> str:
    end = new.get("end_us")
    when = f", {end / 1_000_000:g} s simulated" if isinstance(end, int) else ""
    lines = [
        f"golden {path} does not match this run of {new.get('scenario')!r} (seed {new.get('seed')}{when})."
    ]
    lines += [f"Note: {note}." for note in notes]
    if changed:
        lines.append(
            f"{len(changed)} recorded field{'s' if len(changed) != 1 else ''} changed (golden -> this run):"
        )
        for name, (a, b) in list(changed.items())[:MAX_LINES]:
            delta = "" if name == "seed" else _delta(a, b)
            lines.append(f"  {name}: {_show(a)} -> {_show(b)}{delta}")
        if len(changed) > MAX_LINES:
            lines.append(
                f"  ... and {len(changed) - MAX_LINES} more (update, then read the golden file's diff)"
            )
    if digest_changed:
        old_digest, new_digest = old.get("journal_sha256"), new.get("journal_sha256")
        lines.append(f"journal sha256: {str(old_digest)[:16]}... -> {str(new_digest)[:16]}...")
        if not changed:
            lines.append(
                "Only the journal changed: its header or events differ but the summarised outcomes did not "
                "(a rule with no effect here, an order or fill in between, another platform or version)."
            )
    if run_dir is not None:
        lines.append(
            f"This run is in {run_dir}; to see where it diverges from a run of the old version: "
            f"exchange-sim diff OLD_RUN {run_dir}"
        )
    lines.append(f"If the change is intended, update the golden: {_update_command()}")
    lines.append("then review the golden file's diff and commit it.")
    return "\n".join(lines)


def _update_command() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST")
    target = f"'{current.rsplit(' ', 1)[0]}'" if current else "<your test>"
    return (
        f"{UPDATE_ENV}=1 python -m pytest {target} "
        f"(or pytest {UPDATE_OPTION} with the exchange_sim.testing plugin, or update=True)"
    )


# ---------------------------------------------------------------------------------- the runner


def run_and_compare(
    scenario: str | os.PathLike[str] | Scenario,
    golden: str | os.PathLike[str],
    *,
    until_s: int | None = None,
    seed: int | None = None,
    update: bool | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    out_dir: str | os.PathLike[str] | None = None,
    check_digest: bool = True,
) -> RunOutput:
    """Run ``scenario`` (a path or a loaded :class:`~exchange_sim.scenario.Scenario`) for
    ``until_s`` seconds (default: its full duration) with ``seed`` (default: its own), and
    compare its golden record (:func:`golden_record`) with the JSON file ``golden``.

    Raises :class:`GoldenMismatch` (an ``AssertionError``) listing the changed fields, or
    :class:`GoldenMissing` when ``golden`` does not exist. With ``update`` (or, when ``update`` is
    ``None``, ``EXCHANGE_SIM_UPDATE_GOLDENS=1`` or ``pytest --update-goldens``) the file is
    written instead. ``out_dir``: the run's folder (default: a new temporary folder, kept, so
    the returned :class:`~exchange_sim.run.RunOutput` and the message can point at the journal).
    ``check_digest=False`` leaves the journal's sha256 out of the record: for goldens shared
    between platforms whose floating-point results may differ in the last bits."""
    __tracebackhide__ = True
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    folder = (
        Path(out_dir)
        if out_dir is not None
        else Path(tempfile.mkdtemp(prefix=f"exchange-sim-{loaded.name}-"))
    )
    output = run_scenario(loaded, out_dir=folder, until_s=until_s, seed=seed, plots=False)
    record = golden_record(
        output.summary, digest=output.result.digest, fields=fields, check_digest=check_digest
    )
    compare_golden(record, golden, update=update, run_dir=output.out_dir)
    return output


# ------------------------------------------------------------------------------ the pytest plugin


def pytest_addoption(parser: Any) -> None:
    """``--update-goldens``: write golden files instead of comparing them."""
    parser.addoption(
        UPDATE_OPTION,
        action="store_true",
        default=False,
        help="exchange_sim.testing: write golden files instead of comparing runs with them",
    )


def pytest_configure(config: Any) -> None:
    _pytest_update.append(bool(config.getoption("update_goldens", default=False)))


def pytest_unconfigure(config: Any) -> None:
    if _pytest_update:
        _pytest_update.pop()


@dataclass(frozen=True, slots=True)
class _Golden:
    """The ``golden`` fixture: :func:`run_and_compare` into the test's temporary folder."""

    tmp_path: Path
    update: bool

    def __call__(
        self, scenario: str | os.PathLike[str] | Scenario, golden: str | os.PathLike[str], **kwargs: Any
    ) -> RunOutput:
        __tracebackhide__ = True
        kwargs.setdefault("update", self.update)
        kwargs.setdefault("out_dir", self.tmp_path / "run")
        return run_and_compare(scenario, golden, **kwargs)


if pytest is not None:

    @pytest.fixture
    def update_goldens() -> bool:
        """Whether this session writes goldens (``--update-goldens`` or ``EXCHANGE_SIM_UPDATE_GOLDENS=1``)."""
        return update_requested()

    @pytest.fixture
    def golden(tmp_path: Path, update_goldens: bool) -> Callable[..., RunOutput]:
        """``golden(scenario, golden_path, until_s=..., ...)``: :func:`run_and_compare` into ``tmp_path``."""
        return _Golden(tmp_path, update_goldens)
