"""Compare two runs: the same scenario under two rule sets, or before and after a code change.

:func:`diff_runs` takes two run folders (holding ``journal.msgpack`` and, optionally,
``summary.json``) or two journal paths (or journal bytes) and returns what changed, as data
(JSON-ready: tuples become lists)::

    from exchange_sim.diff import diff_runs, diff_text

    d = diff_runs("runs/flash_crash-seed99", "runs/flash_crash-seed99-2")
    d["identical"], d["first_divergence"], d["liquidations"]["added"]
    print("\\n".join(diff_text(d)))

Each journal is analysed afresh (:func:`exchange_sim.report.analyze`, one replay each), so a
missing or stale ``summary.json`` does not matter; whether it was fresh is reported. Account
references in events are ledger indexes; they are named through the replayed venue's ledger
(the order of the summary's accounts, checked against the journal's ``OPEN_ACCOUNT`` events,
with a full replay as the fallback), so accounts are compared by id, not by index.

The keys of the result:

- ``runs``: ``{"a": ..., "b": ...}``, what each run is (source, scenario, seed, rules, events,
  digest, ``summary_json``: ``"fresh"``, ``"stale"`` or ``None`` when absent);
- ``identical``: the two journals are the same bytes;
- ``events``: ``{"a": n, "b": m}``, the number of events of each;
- ``first_divergence``: ``None`` when one event list is a prefix of the other (or they are
  equal), else ``{index, a, b, kind_a, kind_b, ts_a, ts_b, after}``: the first event index that
  differs, both events, their kinds (:class:`~exchange_sim.events.Ev` names), the simulated time
  (microseconds) in each run at that event and ``after``, the last input before it (the same in
  both runs: ``{index, event, kind}``, ``None`` if there is none);
- ``prefix_length``: when one event list is a strict prefix of the other, the shorter length;
  else ``None``;
- ``config_changes``: ``[(path, a, b), ...]``, the differences between the two venue
  configurations (journal headers), e.g. the liquidation rule set;
- ``liquidations``: ``counts`` (per account liquidated in either run: ``{"a": n, "b": m}``,
  ``LIQUIDATION`` events), ``total``, ``added`` (accounts liquidated in B and not in A),
  ``removed`` (in A and not in B), ``changed`` (accounts in neither list whose liquidation record
  differs: the number of liquidations, the final ``LIQUIDATION_END`` outcome, bad debt, being
  deleveraged as a counterparty; ``[{account, a, b}]`` with both records);
- ``accounts``: the accounts whose final equity differs, largest difference first:
  ``[{account, a, b, diff}]``, money as ``{"atoms", "units"}`` (``None``: the account is not in
  that run);
- ``insurance_fund``, ``backstop_vault``, ``bad_debt``: ``None`` when neither run has the
  path, else ``{asset, a, b, diff, first_divergence}``: each run's ``start`` / ``end`` / ``min``
  / ``max`` (money; ``None`` if that run has no such path), the differences B - A, and the first
  simulated time at which the two paths differ (``{ts, a, b}``, or ``None``);
- ``summary_changes``: ``[(path, a, b), ...]`` for every leaf of the two summaries that differs
  (``None`` on the side where it is absent), except run metadata that differs between any two
  runs (:data:`IGNORED_RUN_KEYS`) and the funds' paths (compared in ``insurance_fund``).

:func:`diff_text` renders it as a short report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exchange_sim.events import INPUTS, Ev
from exchange_sim.journal import digest_of, read_bytes, read_journal
from exchange_sim.report import analyze
from exchange_sim.units import format_atoms

__all__ = ["IGNORED_RUN_KEYS", "diff_runs", "diff_text", "flat_changes", "path_divergence"]

IGNORED_RUN_KEYS = frozenset(
    {
        "digest",
        "journal_sha256",
        "scenario_sha256",
        "scenario_source",
        "out_dir",
        "output",
        "journal",
        "journal_path",
        "summary_path",
    }
)
"""Keys of a summary's ``run`` section left out of ``summary_changes``: they differ between any
two runs (digests, paths). Keys naming wall-clock timings (starting with ``wall``, ``elapsed``,
``timing`` or ``cpu``) are left out too; simulated times are compared."""
_TIMING_PREFIXES = ("wall", "elapsed", "timing", "cpu")
_FUNDS = ("insurance_fund", "backstop_vault")
_OUTCOMES = {0: "healthy", 1: "flat", 2: "open"}

Run = str | os.PathLike[str] | bytes


# ---------------------------------------------------------------------------------- the diff


def diff_runs(a: Run, b: Run) -> dict[str, Any]:
    """What changed from run ``a`` to run ``b`` (run folders, journal paths or journal bytes).

    See the module's documentation for the keys of the result."""
    run_a, run_b = _Run.load(a), _Run.load(b)
    events_a, events_b = run_a.events, run_b.events
    identical = run_a.data == run_b.data
    index = _first_difference(events_a, events_b)
    first = prefix = None
    if index is not None:
        if index < len(events_a) and index < len(events_b):
            first = _divergence(events_a, events_b, index)
        else:
            prefix = index
    result: dict[str, Any] = {
        "runs": {"a": run_a.describe(), "b": run_b.describe()},
        "identical": identical,
        "events": {"a": len(events_a), "b": len(events_b)},
        "first_divergence": first,
        "prefix_length": prefix,
        "config_changes": flat_changes(run_a.header.get("config"), run_b.header.get("config")),
        "liquidations": _liquidations(run_a, run_b),
        "accounts": _accounts(run_a, run_b),
    }
    for key in (*_FUNDS, "bad_debt"):
        result[key] = _fund(run_a, run_b, key)
    result["summary_changes"] = flat_changes(_comparable(run_a.summary), _comparable(run_b.summary))
    return result


class _Run:
    """One side of the diff: its journal, its fresh summary and series, its account names."""

    def __init__(self, source: str, data: bytes, summary_json: str | None) -> None:
        self.source = source
        self.data = data
        self.header, self.events = read_journal(data)
        self.summary, self.series = analyze(data)
        self.summary_json = summary_json
        self.names = _account_names(data, self.events, self.summary)
        self.decimals = {a["symbol"]: a["decimals"] for a in self.header["config"]["assets"]}
        self.asset = self.summary["liquidations"]["asset"]

    @classmethod
    def load(cls, source: Run) -> _Run:
        if isinstance(source, bytes | bytearray):
            return cls("<bytes>", bytes(source), None)
        path = Path(source)
        journal = path / "journal.msgpack" if path.is_dir() else path
        data = read_bytes(journal)
        summary_path = journal.with_name("summary.json")
        state = None
        if summary_path.is_file():
            try:
                recorded = json.loads(summary_path.read_text(encoding="utf-8"))
                fresh = recorded.get("run", {}).get("digest") == digest_of(data)
            except (ValueError, AttributeError):
                fresh = False
            state = "fresh" if fresh else "stale"
        return cls(str(path), data, state)

    @property
    def place(self) -> int:
        """Decimals of the settlement asset (0 without margin)."""
        return self.decimals.get(self.asset, 0) if self.asset else 0

    def name(self, ref: Any) -> str:
        if type(ref) is int:
            return self.names[ref] if 0 <= ref < len(self.names) else f"#{ref}"
        return str(ref)

    def describe(self) -> dict[str, Any]:
        run = self.summary["run"]
        return {
            "source": self.source,
            "scenario": run.get("scenario"),
            "seed": run.get("seed"),
            "rules": self.summary["liquidations"]["rules"],
            "asset": self.asset,
            "decimals": self.place,
            "events": len(self.events),
            "digest": run["digest"],
            "summary_json": self.summary_json,
        }

    def money(self, atoms: int | None) -> dict[str, Any] | None:
        return None if atoms is None else {"atoms": atoms, "units": format_atoms(atoms, self.place)}


def _account_names(data: bytes, events: list[list[Any]], summary: dict) -> list[str]:
    """Account ids by ledger index. The summary lists the replayed ledger's accounts in index
    order; that is checked against the journal (``@fees`` first, every accepted ``OPEN_ACCOUNT``
    in order) and, should the check fail, a replay names them."""
    names = list(summary["accounts"])
    opened = [
        event[2]
        for i, event in enumerate(events)
        if event[0] == Ev.OPEN_ACCOUNT and not (i + 1 < len(events) and events[i + 1][0] == Ev.REJECTED)
    ]
    position = {name: i for i, name in enumerate(names)}
    indexes = [position.get(name, -1) for name in opened]
    if names[:1] == ["@fees"] and -1 not in indexes and indexes == sorted(indexes):
        return names
    from exchange_sim.replay import replay

    return [account.id for account in replay(data).venue.ledger.by_index]


def _first_difference(a: list[list[Any]], b: list[list[Any]]) -> int | None:
    """The first index where the event lists differ (the shorter length if one is a prefix of the
    other), ``None`` if they are equal."""
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def _kind(event: list[Any]) -> str:
    try:
        return Ev(event[0]).name
    except ValueError:
        return f"code {event[0]}"


def _clock(events: list[list[Any]], index: int) -> int:
    """The simulated time at event ``index`` (inputs carry it; a rejected input may be stale)."""
    now = 0
    for event in events[: index + 1]:
        if event[0] in INPUTS and type(event[1]) is int:
            now = max(now, event[1])
    return now


def _divergence(a: list[list[Any]], b: list[list[Any]], index: int) -> dict[str, Any]:
    after = None
    for i in range(index - 1, -1, -1):
        if a[i][0] in INPUTS:
            after = {"index": i, "event": a[i], "kind": _kind(a[i])}
            break
    return {
        "index": index,
        "a": a[index],
        "b": b[index],
        "kind_a": _kind(a[index]),
        "kind_b": _kind(b[index]),
        "ts_a": _clock(a, index),
        "ts_b": _clock(b, index),
        "after": after,
    }


# ---------------------------------------------------------------------------------- liquidations


def _liquidation_records(run: _Run) -> dict[str, dict[str, Any]]:
    """Per account involved in a liquidation: ``liquidations`` (count), ``first_us`` (time of the
    first), ``outcome`` (of the last ``LIQUIDATION_END``), ``bad_debt`` (atoms),
    ``deleveraged`` (times closed as a counterparty) and ``haircuts`` (atoms it paid then)."""
    records: dict[str, dict[str, Any]] = {}

    def record(ref: Any) -> dict[str, Any]:
        name = run.name(ref)
        if name not in records:
            records[name] = {
                "liquidations": 0,
                "first_us": None,
                "outcome": None,
                "bad_debt": 0,
                "deleveraged": 0,
                "haircuts": 0,
            }
        return records[name]

    now = 0
    for event in run.events:
        code = event[0]
        if code in INPUTS:
            if type(event[1]) is int:
                now = max(now, event[1])
        elif code == Ev.LIQUIDATION:
            entry = record(event[1])
            entry["liquidations"] += 1
            if entry["first_us"] is None:
                entry["first_us"] = now
        elif code == Ev.LIQUIDATION_END:
            record(event[1])["outcome"] = _OUTCOMES.get(event[2], str(event[2]))
        elif code == Ev.BAD_DEBT:
            record(event[1])["bad_debt"] += event[2]
        elif code == Ev.DELEVERAGED:
            entry = record(event[2])
            entry["deleveraged"] += 1
            entry["haircuts"] += event[6]
    return records


def _liquidations(run_a: _Run, run_b: _Run) -> dict[str, Any]:
    rec_a, rec_b = _liquidation_records(run_a), _liquidation_records(run_b)
    liquidated_a = {name for name, r in rec_a.items() if r["liquidations"]}
    liquidated_b = {name for name, r in rec_b.items() if r["liquidations"]}
    order = _order(run_a, run_b)
    counts = {
        name: {
            "a": rec_a.get(name, {}).get("liquidations", 0),
            "b": rec_b.get(name, {}).get("liquidations", 0),
        }
        for name in sorted(liquidated_a | liquidated_b, key=order)
    }
    added = sorted(liquidated_b - liquidated_a, key=order)
    removed = sorted(liquidated_a - liquidated_b, key=order)
    changed = []
    for name in sorted((set(rec_a) | set(rec_b)) - set(added) - set(removed), key=order):
        a, b = _outcome(rec_a.get(name)), _outcome(rec_b.get(name))
        if a != b:
            changed.append({"account": name, "a": rec_a.get(name), "b": rec_b.get(name)})
    return {
        "total": {"a": sum(c["a"] for c in counts.values()), "b": sum(c["b"] for c in counts.values())},
        "counts": counts,
        "added": added,
        "removed": removed,
        "changed": changed,
        "records": {"a": rec_a, "b": rec_b},
    }


def _outcome(record: dict[str, Any] | None) -> tuple[Any, ...]:
    if record is None:
        return (0, None, 0, 0, 0)
    keys = ("liquidations", "outcome", "bad_debt", "deleveraged", "haircuts")
    return tuple(record[key] for key in keys)


def _order(run_a: _Run, run_b: _Run) -> Any:
    """Sort key for account ids: ledger order of run A, then of run B, then by name."""
    rank_a = {name: i for i, name in enumerate(run_a.names)}
    rank_b = {name: i for i, name in enumerate(run_b.names)}
    return lambda name: (rank_a.get(name, len(rank_a)), rank_b.get(name, len(rank_b)), name)


# ---------------------------------------------------------------------------------- accounts, funds


def _accounts(run_a: _Run, run_b: _Run) -> list[dict[str, Any]]:
    acc_a, acc_b = run_a.summary["accounts"], run_b.summary["accounts"]
    out = []
    for name in sorted(set(acc_a) | set(acc_b), key=_order(run_a, run_b)):
        a = _equity(acc_a.get(name))
        b = _equity(acc_b.get(name))
        if a == b:
            continue
        diff = None if a is None or b is None else b - a
        out.append({"account": name, "a": run_a.money(a), "b": run_b.money(b), "diff": run_a.money(diff)})
    out.sort(key=lambda entry: -abs(entry["diff"]["atoms"]) if entry["diff"] else 0)
    return out


def _equity(entry: dict[str, Any] | None) -> int | None:
    if entry is None or entry.get("equity") is None:
        return None
    return entry["equity"]["atoms"]


def _path_stats(path: list[list[int]]) -> dict[str, int] | None:
    """Start (the value at the first time: capital paid in then counts), end, min, max."""
    if not path:
        return None
    first = 0
    while first + 1 < len(path) and path[first + 1][0] == path[0][0]:
        first += 1
    values = [value for _, value in path[first:]]
    return {"start": values[0], "end": values[-1], "min": min(values), "max": max(values)}


def path_divergence(a: list[list[int]], b: list[list[int]]) -> dict[str, Any] | None:
    """The first time at which two step paths (``[[ts, value], ...]``, a value holding until the
    next point; the last point at a time counts) differ: ``{"ts", "a", "b"}`` (``None`` before a
    path's first point), or ``None`` if they never do.

    >>> path_divergence([[0, 5], [3, 7]], [[0, 5], [3, 7], [9, 1]])
    {'ts': 9, 'a': 7, 'b': 1}
    >>> path_divergence([[0, 0], [0, 5]], [[0, 5]]) is None
    True
    """
    at_a = {ts: value for ts, value in a}
    at_b = {ts: value for ts, value in b}
    value_a = value_b = None
    for ts in sorted(at_a.keys() | at_b.keys()):
        value_a = at_a.get(ts, value_a)
        value_b = at_b.get(ts, value_b)
        if value_a != value_b:
            return {"ts": ts, "a": value_a, "b": value_b}
    return None


def _fund(run_a: _Run, run_b: _Run, key: str) -> dict[str, Any] | None:
    path_a, path_b = run_a.series.get(key) or [], run_b.series.get(key) or []
    if key != "bad_debt" and (run_a.summary.get(key) is None and run_b.summary.get(key) is None):
        return None
    stats_a, stats_b = _path_stats(path_a), _path_stats(path_b)
    if stats_a is None and stats_b is None:
        return None
    diff = None
    if stats_a is not None and stats_b is not None:
        diff = {k: run_a.money(stats_b[k] - stats_a[k]) for k in stats_a}
    first = path_divergence(path_a, path_b)
    if first is not None:
        first = {"ts": first["ts"], "a": run_a.money(first["a"]), "b": run_b.money(first["b"])}
    return {
        "asset": run_a.asset or run_b.asset,
        "a": None if stats_a is None else {k: run_a.money(v) for k, v in stats_a.items()},
        "b": None if stats_b is None else {k: run_b.money(v) for k, v in stats_b.items()},
        "diff": diff,
        "first_divergence": first,
    }


# ---------------------------------------------------------------------------------- summaries


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what differs between any two runs (and the funds' paths)."""
    out = dict(summary)
    out["run"] = {
        key: value
        for key, value in summary.get("run", {}).items()
        if key not in IGNORED_RUN_KEYS and not key.startswith(_TIMING_PREFIXES)
    }
    for key in _FUNDS:
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k != "path"}
    return out


def flat_changes(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf that differs between two JSON-like values: ``[(path, a, b), ...]``.

    Paths join keys with ``.`` and list indexes as ``[i]``; a side where the leaf is absent has
    ``None``.

    >>> flat_changes({"x": 1, "y": {"z": [1, 2]}}, {"x": 1, "y": {"z": [1, 3, 4]}, "w": "new"})
    [('y.z[1]', 2, 3), ('y.z[2]', None, 4), ('w', None, 'new')]
    """
    return list(_walk(a, b, path))


_ABSENT = object()


def _walk(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) or isinstance(b, dict):
        da = a if isinstance(a, dict) else {}
        db = b if isinstance(b, dict) else {}
        if not isinstance(a, dict) and a is not None and a is not _ABSENT:
            yield path, a, None  # a leaf in A, a mapping in B
        if not isinstance(b, dict) and b is not None and b is not _ABSENT:
            yield path, None, b
        keys = list(da) + [k for k in db if k not in da]
        for key in keys:
            yield from _walk(
                da.get(key, _ABSENT), db.get(key, _ABSENT), f"{path}.{key}" if path else str(key)
            )
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            yield from _walk(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT, f"{path}[{i}]")
    elif isinstance(a, list) or isinstance(b, list):
        items_a = a if isinstance(a, list) else []
        items_b = b if isinstance(b, list) else []
        if not isinstance(a, list) and a is not None and a is not _ABSENT:
            yield path, a, None
        if not isinstance(b, list) and b is not None and b is not _ABSENT:
            yield path, None, b
        yield from _walk(items_a, items_b, path)
    else:
        left = None if a is _ABSENT else a
        right = None if b is _ABSENT else b
        if left != right or type(left) is not type(right):
            yield path, left, right


# ---------------------------------------------------------------------------------- text


def diff_text(d: dict[str, Any], *, limit: int = 10) -> list[str]:
    """A readable report of :func:`diff_runs`'s result: a dozen lines, plus one per changed
    liquidation and account (at most ``limit`` each, then ``... and N more``)."""
    lines = []
    for side in ("a", "b"):
        run = d["runs"][side]
        lines.append(
            f"{side.upper()}: {run['source']} (scenario {run['scenario']!r}, seed {run['seed']},"
            f" rules {run['rules']}, {run['events']} events, sha256 {run['digest'][:12]})"
        )
    if d["identical"]:
        lines.append("identical: the two journals are the same bytes")
        return lines
    first = d["first_divergence"]
    if first is not None:
        after = first["after"]
        context = f", after {after['kind']} (event {after['index']})" if after else ""
        lines.append(
            f"first divergence: event {first['index']} at {_seconds(first['ts_a'])}{context}:"
            f" A {first['kind_a']} {_short(first['a'])}, B {first['kind_b']} {_short(first['b'])}"
        )
    elif d["prefix_length"] is not None:
        longer = "B" if d["events"]["b"] > d["events"]["a"] else "A"
        lines.append(
            f"no event differs: the shorter journal is a prefix of the other ({d['prefix_length']} events;"
            f" {longer} has {abs(d['events']['a'] - d['events']['b'])} more)"
        )
    else:
        lines.append("the same events (the journal headers differ)")
    for path, a, b in d["config_changes"][:limit]:
        lines.append(f"  config {path}: {_short(a)} -> {_short(b)}")
    _more(lines, len(d["config_changes"]), limit)

    liq = d["liquidations"]
    lines.append(
        f"liquidations: A {liq['total']['a']}, B {liq['total']['b']}; accounts liquidated only in A:"
        f" {len(liq['removed'])}, only in B: {len(liq['added'])},"
        f" with a different outcome: {len(liq['changed'])}"
    )
    records = liq["records"]
    dec_a, dec_b = d["runs"]["a"]["decimals"], d["runs"]["b"]["decimals"]
    items = [f"  only in A: {name} ({_record(records['a'][name], dec_a)})" for name in liq["removed"]]
    items += [f"  only in B: {name} ({_record(records['b'][name], dec_b)})" for name in liq["added"]]
    items += [
        f"  changed: {c['account']}: A {_record(c['a'], dec_a)}; B {_record(c['b'], dec_b)}"
        for c in liq["changed"]
    ]
    lines += items[:limit]
    _more(lines, len(items), limit)

    accounts = d["accounts"]
    lines.append(f"accounts with a different final equity: {len(accounts)}")
    for entry in accounts[:limit]:
        diff = f" ({_signed(entry['diff'])})" if entry["diff"] else ""
        lines.append(f"  {entry['account']}: A {_units(entry['a'])} -> B {_units(entry['b'])}{diff}")
    _more(lines, len(accounts), limit)

    for key, label in (
        ("insurance_fund", "insurance fund"),
        ("backstop_vault", "backstop vault"),
        ("bad_debt", "bad debt"),
    ):
        fund = d.get(key)
        if fund is None:
            continue
        asset = f" {fund['asset']}" if fund["asset"] else ""
        text = f"{label}: A {_stats(fund['a'])}; B {_stats(fund['b'])}"
        if fund["diff"] is not None:
            text += f"; end B - A {_signed(fund['diff']['end'])}{asset}"
        div = fund["first_divergence"]
        if div is None:
            text += "; the same path"
        else:
            text += f"; paths diverge at {_seconds(div['ts'])} (A {_units(div['a'])}, B {_units(div['b'])})"
        lines.append(text)

    changes = d["summary_changes"]
    lines.append(f"summary: {len(changes)} values differ")
    return lines


def _more(lines: list[str], total: int, limit: int) -> None:
    if total > limit:
        lines.append(f"  ... and {total - limit} more")


def _seconds(us: int) -> str:
    return f"t={format_atoms(us, 6)} s"


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _units(money: dict[str, Any] | None) -> str:
    return "-" if money is None else money["units"]


def _signed(money: dict[str, Any]) -> str:
    units = money["units"]
    return units if units.startswith("-") else f"+{units}"


def _stats(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "none"
    return f"{stats['start']['units']} -> {stats['end']['units']} (min {stats['min']['units']})"


def _record(record: dict[str, Any] | None, decimals: int) -> str:
    if record is None:
        return "not involved"
    parts = []
    if record["liquidations"]:
        parts.append(f"liquidated {record['liquidations']}x from {_seconds(record['first_us'])}")
        parts.append(f"outcome {record['outcome']}")
    if record["bad_debt"]:
        parts.append(f"bad debt {format_atoms(record['bad_debt'], decimals)}")
    if record["deleveraged"]:
        haircuts = format_atoms(record["haircuts"], decimals)
        parts.append(f"deleveraged {record['deleveraged']}x as counterparty (haircuts {haircuts})")
    return ", ".join(parts) or "not involved"
