"""Resumable LUT builds: measure every unique block a set of specs needs, one row at a time.

Each measured row is written at once (the whole table rewritten to a temp file, fsynced and
renamed over the old one), so Ctrl-C or ``kill -9`` at any moment loses nothing already measured,
and re-running the same command skips rows that are present: no row is measured twice and no
duplicate is written. A table built for another device configuration, space, protocol or schema
is refused with one line.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from lutnas.categories import column_name
from lutnas.devices.base import Device, Reference
from lutnas.measure.target import breakdown_ms
from lutnas.errors import InputError
from lutnas.locks import writer_lock
from lutnas.measure.sentinel import (SENTINEL_NOISE, SLOW_HOST, SLOW_THRESHOLD, Sentinel, choose_sentinel, host_factor,
                                     slow_host_reason)
from lutnas.luts.consistency import row_noise_reason
from lutnas.luts.schema import SCHEMA_VERSION, read_table, write_table
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol
from lutnas.spaces.base import MODULE_TABLE, REMOVAL, BlockKey, Space, Spec

#: fingerprint entries that define the device configuration; a table is never mixed across them
CONFIG_KEYS = ("device", "runtime", "threads", "graph_optimization", "exporter", "opset", "cpu_model", "gpu_name", "serial",
               "mode", "cuda_graphs", "allocator")
METHODS = ("isolated", "removal")


def _check_compatible(path: Path, meta: dict[str, Any], device_fp: dict[str, Any], space: Space, protocol: Protocol,
                      method: str, granularity: str = "blocks") -> list[str]:
    """Refuse mixing; return warnings for softer differences (library versions)."""
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"LUT {str(path)!r} has schema version {meta.get('schema_version')}, this build writes "
                         f"{SCHEMA_VERSION}; write to a new file")
    old_fp = meta.get("fingerprint") or {}
    for k in CONFIG_KEYS:
        if k in old_fp or k in device_fp:
            if old_fp.get(k) != device_fp.get(k):
                raise InputError(f"LUT {str(path)!r} was built with {k}={old_fp.get(k)!r}, this device has "
                                 f"{k}={device_fp.get(k)!r}; refusing to mix tables (use another --out)")
    old_space = (meta.get("space") or {}).get("name")
    if old_space != space.name:
        raise InputError(f"LUT {str(path)!r} holds space {old_space!r}, not {space.name!r}; refusing to mix tables")
    old_protocol = (meta.get("protocol") or {}).get("name")
    if old_protocol != protocol.name:
        raise InputError(f"LUT {str(path)!r} was measured with protocol {old_protocol!r}, not {protocol.name!r}; "
                         f"refusing to mix tables")
    if meta.get("method", "isolated") != method:
        raise InputError(f"LUT {str(path)!r} was built by method {meta.get('method')!r}, not {method!r}")
    if meta.get("granularity", "blocks") != granularity:
        raise InputError(f"LUT {str(path)!r} is a {meta.get('granularity', 'blocks')} table, not {granularity}; "
                         f"refusing to mix tables")
    return [f"{k}: table {old_fp.get(k)!r}, now {v!r}" for k, v in device_fp.items()
            if k not in CONFIG_KEYS and k in old_fp and old_fp.get(k) != v and not k.startswith("governor")]


@dataclasses.dataclass
class BuildPlan:
    """What a build will do: the rows already in ``out``, the keys still to measure, the
    provenance to write. The single writer (:meth:`add`) rewrites the table atomically per row."""

    out: Path
    rows: list[dict[str, Any]]
    meta: dict[str, Any]
    todo: list[BlockKey]
    info: dict[str, Any]
    settings: dict[str, Any]
    disk_stamp: tuple[int, int] | None = None  # (mtime, size) of ``out`` after our last write

    def add(self, row: dict[str, Any], hosts: list[str] | None = None) -> None:
        if hosts:
            self.meta["removal_hosts"][row["key"]] = hosts
        self.replace(row)

    def replace(self, row: dict[str, Any]) -> None:
        """Put ``row`` in place of the row with the same key and batch, or append it (atomic rewrite;
        rows another writer put in ``out`` meanwhile are merged first, never dropped)."""
        self._merge_disk()
        for i, old in enumerate(self.rows):
            if old["key"] == row["key"] and int(old["batch"]) == int(row["batch"]):
                self.rows[i] = row
                break
        else:
            self.rows.append(row)
        self._write()

    def save(self) -> None:
        """Write the rows as they stand (after editing them in place), merged with the disk first."""
        self._merge_disk()
        self._write()

    def _write(self) -> None:
        write_table(self.rows, self.meta, self.out)
        self.disk_stamp = _file_stamp(self.out)

    def _merge_disk(self) -> None:
        """Rows (and a calibration, a stored validation...) another writer put in ``out`` since our
        last write are kept: the table is re-read when it changed on disk and merged, never overwritten."""
        now = _file_stamp(self.out)
        if now is None or now == self.disk_stamp:
            return
        table, meta = read_table(self.out)
        have = {(r["key"], int(r["batch"])) for r in self.rows}
        self.rows.extend(r for r in table.to_pylist() if (r["key"], int(r["batch"])) not in have)
        self.meta.update({k: v for k, v in meta.items() if k not in _BUILD_META})
        self.disk_stamp = now


#: metadata a build writes itself; anything else in a table's metadata belongs to other commands
_BUILD_META = {"creator", "schema_version", "device", "fingerprint", "protocol", "space", "method", "granularity",
               "device_params", "removal_hosts", "copies", "sentinel"}


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _check_copies(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]], copies: int | str) -> None:
    """A table holds rows of one copies setting: resuming with another would mix them."""
    old = meta.get("copies")
    if old is None:  # tables written before the setting was recorded: judge by the rows
        counts = {int(r.get("copies") or 1) for r in rows}
        if not rows or copies == "auto" or counts == {copies}:
            return
        old = counts.pop() if len(counts) == 1 else "auto"
    if old != copies:
        raise InputError(f"LUT {str(path)!r} was measured with --copies {old}, not {copies}; "
                         f"refusing to mix rows (use the same --copies or another --out)")


def plan_build(device_label: str, fingerprint: dict[str, Any], device_params: dict[str, Any], space: Space,
               specs: Sequence[Spec], out: str | Path, protocol: Protocol, batch: int = 1, copies: int | str = "auto",
               ops: bool = True, op_runs: int = 5, method: str = "isolated", keys: Iterable[BlockKey] | None = None,
               modules: bool = False) -> BuildPlan:
    """Validate the settings, read (or create) ``out`` and list the keys still to measure."""
    if method not in METHODS:
        raise InputError(f"build method {method!r} is not known; choose from {', '.join(METHODS)}")
    if batch < 1:
        raise InputError(f"batch must be >= 1; got {batch}")
    if not (copies == "auto" or (isinstance(copies, int) and copies >= 1)):
        raise InputError(f"copies must be 'auto' or a positive integer; got {copies!r}")
    if device_params.get("mode") == "throughput":
        raise InputError("tables are built in latency mode at a fixed --batch (all blocks must share one batch); "
                         "find the largest batch with `lutnas measure --device-option mode=throughput` first")
    out = Path(out)
    granularity = "modules" if modules else "blocks"
    if modules:
        space.require(MODULE_TABLE, "a module table (--modules, AutoViT's)")
    if method == "removal":
        space.require(REMOVAL, "removing blocks from its models (--method removal, AutoViT's)")
    if keys is not None:
        all_keys = sorted(set(keys))
    elif modules:
        all_keys = space.module_keys()
    else:
        all_keys = space.unique_blocks(specs)
    if not all_keys:
        raise InputError(f"the selection holds no specs of space {space.name!r} (check --values, --sample or "
                         f"--specs); nothing to build")
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    old_meta: dict[str, Any] = {}
    if out.exists():
        table, old_meta = read_table(out)
        warnings = _check_compatible(out, old_meta, fingerprint, space, protocol, method, granularity)
        rows = table.to_pylist()
        _check_copies(out, old_meta, rows, copies)
    # a transferred (predicted) row is replaced when its block is measured for real
    done = {(r["key"], int(r["batch"])) for r in rows if r.get("method") != "transferred"}
    todo = [k for k in all_keys if (k.canonical(), batch) not in done]
    meta = {"device": device_label, "fingerprint": fingerprint, "protocol": protocol.to_dict(), "space": space.to_dict(),
            "method": method, "granularity": granularity, "device_params": dict(device_params),
            "removal_hosts": dict(old_meta.get("removal_hosts") or {}), "copies": copies}
    # what other commands wrote (calibration, context curve, validation...) and the sentinel stay
    meta.update({k: v for k, v in old_meta.items() if v and (k not in _BUILD_META or k == "sentinel")})
    info = {"specs": len(specs), "blocks": len(all_keys), "present": len(all_keys) - len(todo), "todo": len(todo),
            "warnings": warnings, "out": str(out)}
    if not out.exists():
        write_table(rows, meta, out)
    settings = {"protocol": protocol, "batch": batch, "copies": copies, "ops": ops, "op_runs": op_runs, "method": method}
    return BuildPlan(out, rows, meta, todo, info, settings, _file_stamp(out))


def measure_key(device: Device, space: Space, key: BlockKey, settings: dict[str, Any],
                models: dict[Spec, Measurement],
                reference: Reference | None = None) -> tuple[dict[str, Any], list[str] | None]:
    """One row of a build (and the removal hosts, when the removal method applied); the row's
    ``measure_s`` is the wall time it took (build, export, timing, profile): its device-seconds.
    ``reference``: paired timing against the sentinel (the row comes at its baseline speed)."""
    start = time.perf_counter()
    pair = space.removal_pair(key) if settings["method"] == "removal" else None
    if pair is not None:
        row = removal_row(device, key, pair, settings["protocol"], settings["batch"], models, reference)
        hosts = [pair[0].canonical(), pair[1].canonical()]
    else:
        row = measure_row(device, key, settings["protocol"], settings["batch"], settings["copies"], settings["ops"],
                          settings["op_runs"], "isolated", reference)
        hosts = None
    return {**row, "measure_s": time.perf_counter() - start}, hosts


def build_lut(
    device: Device,
    space: Space,
    specs: Sequence[Spec],
    out: str | Path,
    protocol: Protocol,
    batch: int = 1,
    copies: int | str = "auto",
    ops: bool = True,
    op_runs: int = 5,
    method: str = "isolated",
    keys: Iterable[BlockKey] | None = None,
    modules: bool = False,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
    stop_after: int | None = None,
    sentinel_every: int = 25,
    pause_s: float = 10.0,
    recheck: bool = True,
    export_jobs: int = 0,
    export_only: bool = False,
) -> dict[str, Any]:
    """Measure every missing block of ``specs`` on ``device`` and append rows to ``out``.

    Parameters
    ----------
    copies : int or "auto"
        Distinct weight copies per timed call (see :func:`lutnas.models.auto_copies`): cache
        traffic like a full model's instead of a block whose weights stay hot in L2.
    ops : bool
        Also profile per-operator times and store the seven category columns.
    method : "isolated" or "removal"
        ``removal`` (AutoViT): a block's latency is the drop in whole-model latency when one
        instance is removed from a host model (``space.removal_pair``); blocks that cannot be
        removed without changing shapes fall back to isolated timing (the row's ``method`` says
        which).
    modules : bool
        Build AutoViT's module table (``space.module_keys()``) instead of every block; the
        table predicts a model as the sum of its modules (``granularity`` = ``modules``).
    progress : callable(event, info)
        Called with ``"plan"``, ``"row"`` and ``"done"``; the CLI draws a progress bar from it.
    stop_after : int, optional
        Measure at most this many rows this run (tests, budgets).
    sentinel_every : int, default=25
        Re-time the drift sentinel (:mod:`lutnas.measure.sentinel`) before the first row and every
        this many rows; 0 turns it off (and paired timing with it). On devices that
        :attr:`~lutnas.devices.base.Device.supports_paired`, every row of a new table is timed paired
        with the sentinel (at its baseline speed; ``timing: paired`` in the metadata). Otherwise rows
        measured while the host ran measurably slower or faster than the table's baseline are
        normalised to it (``host_ratio``); while the host is > 10 % slower the build pauses
        ``pause_s`` and re-checks, and flags rows if it stays slow.
    recheck : bool, default=True
        When the table is complete, re-measure flagged rows, rows that contradict a neighbour
        (monotonicity) and outliers of their kind's cost model (:mod:`lutnas.measure.recheck`);
        what stays odd is flagged with its reason.
    export_jobs : int, default=0
        Export the blocks still to measure in this many processes before timing any
        (:mod:`lutnas.measure.prepare`; TFLite and ``adb:*``); 0 exports each block as it is timed.
    export_only : bool, default=False
        Stop after that export phase (time later, when the host is quiet).

    Returns a dict with counts and the output path. ``out`` is locked for the whole build: a
    second writer (build, calibrate) is refused with one line.
    """
    with writer_lock(out):
        return _build(device, space, specs, out, protocol, batch, copies, ops, op_runs, method, keys, modules,
                      progress, stop_after, sentinel_every, pause_s, recheck, export_jobs, export_only)


def _build(device: Device, space: Any, specs: Sequence[Any], out: str | Path, protocol: Protocol, batch: int,
           copies: int | str, ops: bool, op_runs: int, method: str, keys: Iterable[BlockKey] | None, modules: bool,
           progress: Callable[[str, dict[str, Any]], None] | None, stop_after: int | None, sentinel_every: int,
           pause_s: float, recheck: bool, export_jobs: int = 0, export_only: bool = False) -> dict[str, Any]:
    plan = plan_build(device.label, device.fingerprint(), dict(device.params), space, specs, out,
                      protocol, batch, copies, ops, op_runs, method, keys, modules)
    info = plan.info
    if progress:
        progress("plan", info)
    if export_jobs and plan.todo:
        from lutnas.measure.prepare import export_ahead

        todo = plan.todo[:stop_after] if stop_after is not None and not export_only else plan.todo
        info["exported"] = export_ahead(device, todo, export_jobs, copies, batch, progress)
    if export_only:
        info.update({"measured": 0, "rows": len(plan.rows), "seconds": 0.0, "complete": not plan.todo})
        if progress:
            progress("done", info)
        return info
    models: dict[Spec, Measurement] = {}  # whole-model measurements shared by removal rows
    measured = 0
    start = time.perf_counter()
    speed = HostSpeed.for_plan(device, plan, progress) if sentinel_every and (plan.todo or recheck) else None
    for key in plan.todo:
        if stop_after is not None and measured >= stop_after:
            break
        if speed is not None and measured % sentinel_every == 0:
            speed.update(None if speed.paired else pause_s)  # paired rows need no steady host
        row, hosts = measure_key(device, space, key, plan.settings, models, speed.reference() if speed else None)
        row = speed.normalise(row) if speed is not None else row
        plan.add(row, hosts)
        measured += 1
        if progress:
            progress("row", {"key": key.canonical(), "median_ms": row["median_ms"], "flagged": row["flagged"],
                             "done": measured, "todo": len(plan.todo)})
    if speed is not None:
        speed.finish()
    info.update({"measured": measured, "rows": len(plan.rows), "seconds": time.perf_counter() - start,
                 "complete": measured == len(plan.todo)})
    if recheck and info["complete"] and plan.rows:
        from lutnas.measure.recheck import recheck_rows

        info["recheck"] = recheck_rows(plan, lambda key: measure_key(device, space, key, plan.settings, models,
                                                                     speed.reference() if speed else None),
                                       speed, progress)
    if speed is not None:
        info["sentinel"] = speed.sentinel.to_dict()
    if info["complete"] and plan.rows:  # at the host speed typical of its build (a no-op once it is)
        info["rebaseline"] = rebaseline(plan)
    if progress:
        progress("done", info)
    return info


def rebaseline(plan: BuildPlan) -> float:
    """Express a freshly built table at the host speed typical of its build, not at whatever speed
    the host had when the sentinel's baseline was taken (one run here started while another process
    briefly slowed the host: every row then read 39 % above the host's usual speed). The factor is
    the median of the rows' ``host_ratio``; times are multiplied by it, ``host_ratio`` and the
    sentinel's baseline divided/multiplied so that ``median_ms × host_ratio`` (what was measured)
    is unchanged; a row flagged only because the host ran slower than the old baseline is cleared
    when it is within :data:`SLOW_THRESHOLD` of the new one. A factor within the sentinel's noise, or
    a table already validated or calibrated against its baseline, is left as it is. Returns the
    factor applied (1.0 when none)."""
    ratios = [float(r.get("host_ratio") or 1.0) for r in plan.rows]
    if not ratios or plan.meta.get("validation") or plan.meta.get("calibration"):
        return 1.0
    f = float(np.median(ratios))
    if abs(f - 1.0) <= SENTINEL_NOISE:
        return 1.0
    protocol = plan.meta.get("protocol") or {}
    plan.rows = [_reflag({**scale_times(r, f), "host_ratio": float(r.get("host_ratio") or 1.0) / f}, protocol)
                 for r in plan.rows]
    sentinel = plan.meta.get("sentinel") or {}
    if sentinel.get("baseline_ms"):
        sentinel["baseline_ms"] = float(sentinel["baseline_ms"]) * f
        sentinel["checks"] = [[t, r / f] for t, r in sentinel.get("checks") or []]
        sentinel["rebaselined"] = f
    plan.save()
    return f


def _reflag(row: dict[str, Any], protocol: dict[str, Any]) -> dict[str, Any]:
    """A row's host flag against its (new) ``host_ratio``: kept, with the ratio restated, while the
    host was more than :data:`SLOW_THRESHOLD` slower; else the row's own noise decides."""
    if not str(row.get("flag_reason") or "").startswith(SLOW_HOST):
        return row
    ratio = float(row.get("host_ratio") or 1.0)
    if ratio > 1 + SLOW_THRESHOLD:
        return {**row, "flag_reason": slow_host_reason(ratio)}
    reason = row_noise_reason(row, protocol)
    return {**row, "flagged": reason is not None, "flag_reason": reason}


def measure_row(device: Device, key: BlockKey, protocol: Protocol, batch: int, copies: int | str, ops: bool,
                op_runs: int, method: str, reference: Reference | None = None) -> dict[str, Any]:
    """Measure one block key and return its LUT row (times per block: per call / copies). With a
    ``reference`` the row is timed paired (at the reference's baseline speed) and records the host's
    speed against it as ``host_ratio``."""
    from lutnas.models import auto_copies, build_block_copies  # torch: only when something is built

    n_copies = auto_copies(key) if copies == "auto" else int(copies)
    module, example = build_block_copies(key, n_copies, batch=batch)
    artifact = device.prepare(module, example)
    m = device.measure(artifact, protocol, key, reference=reference)
    per = 1.0 / n_copies
    stats = m.stats()
    row: dict[str, Any] = {"device": device.label, "kind": key.kind, "key": key.canonical(), **key.fields(),
                           "batch": batch, "copies": n_copies, "method": method,
                           **scale_times(stats, per),
                           "flagged": m.flagged, "flag_reason": m.noise_reason or (THROTTLED if m.throttled else None),
                           "protocol": protocol.name,
                           "timestamp": _dt.datetime.now(_dt.timezone.utc)}
    timing = m.metadata.get("timing") or {}
    if timing.get("paired"):
        row["host_ratio"] = float(timing["host_ratio"])
    if ops and device.supports_op_profile:
        cats = breakdown_ms(device.profile_ops(artifact, runs=op_profile_runs(stats["median_ms"], op_runs)))
        total = sum(cats.values())
        # scale the profiled shares to the measured median, so categories sum to the row's time
        scale = (stats["median_ms"] * per) / total if total > 0 else 0.0
        for c, v in cats.items():
            row[column_name(c)] = v * scale
    return row


def scale_times(row: dict[str, Any], factor: float) -> dict[str, Any]:
    """``row`` with every time column (``*_ms``: median, p10, p90, categories...) multiplied by ``factor``."""
    return {k: (v * factor if k.endswith("_ms") and isinstance(v, float) else v) for k, v in row.items()}


def op_profile_runs(call_ms: float, op_runs: int, budget_ms: float = 300.0) -> int:
    """Profiled calls for the category shares: ``op_runs``, fewer for long calls (at least one) so
    that profiling costs about ``budget_ms``; a 300 ms block's shares are as stable in one call as a
    1 ms block's in five."""
    if not call_ms > 0:
        return op_runs
    return max(1, min(op_runs, int(budget_ms // call_ms)))


def removal_row(device: Device, key: BlockKey, pair: tuple[Spec, Spec], protocol: Protocol, batch: int,
                models: dict[Spec, Measurement], reference: Reference | None = None) -> dict[str, Any]:
    """AutoViT's removal method: T(host) − T(host without one instance of ``key``), per block.

    Both are whole-model measurements under ``protocol`` (memoised in ``models`` for the build);
    the spread combines both (std = √(s₁² + s₂²)); a non-positive difference is flagged.
    """
    from lutnas.models import build_model, model_input

    stats = []
    flagged = False
    for spec in pair:
        if spec not in models:
            artifact = device.prepare(build_model(spec), model_input(spec, batch))
            models[spec] = device.measure(artifact, protocol, spec.canonical(), reference=reference)
        m = models[spec]
        stats.append(m.stats())
        flagged |= m.flagged
    host, reduced = stats
    diff = host["median_ms"] - reduced["median_ms"]
    std = float(np.hypot(host["std_ms"], reduced["std_ms"]))
    row: dict[str, Any] = {"device": device.label, "kind": key.kind, "key": key.canonical(), **key.fields(),
                           "batch": batch, "copies": 1, "method": "removal", "median_ms": diff,
                           "mean_ms": host["mean_ms"] - reduced["mean_ms"],
                           "p10_ms": host["p10_ms"] - reduced["p90_ms"], "p90_ms": host["p90_ms"] - reduced["p10_ms"],
                           "std_ms": std, "cv": std / abs(diff) if diff else float("inf"),
                           "n": int(min(host["n"], reduced["n"])), "flagged": bool(flagged or diff <= 0),
                           "protocol": protocol.name, "timestamp": _dt.datetime.now(_dt.timezone.utc)}
    return row


#: the ``flag_reason`` of a row the device reported as thermally throttled
THROTTLED = "flagged (thermally throttled)"

#: a table's ``timing`` metadata: rows timed paired with the sentinel, or bracketed by its checks
PAIRED, BRACKETED = "paired", "bracketed"


def table_timing(plan: BuildPlan) -> str:
    """How the table's rows meet the host's speed: as stored, else ``paired`` for a new table and
    ``bracketed`` for rows measured before timing was recorded (a table never mixes the two)."""
    return plan.meta.get("timing") or (PAIRED if not plan.rows else BRACKETED)


def new_sentinel_key(plan: BuildPlan) -> BlockKey:
    """The sentinel block of a table that has none yet, chosen among its rows and the keys still to measure."""
    from lutnas.luts.regressor import key_from_row

    return choose_sentinel([key_from_row(r) for r in plan.rows] + list(plan.todo))


class HostSpeed:
    """A build's view of the drift sentinel: the factor rows are normalised by, and the ``slow``
    flag set when the host stayed > 10 % slower than the table's baseline after pausing.

    Rows are bracketed by sentinel checks: a row is written at once at the last check's ratio (an
    interrupted build keeps a normalised row), and when the next check comes every row measured
    since the previous one is settled at the geometric mean of the two checks around it. A factor
    within :data:`SENTINEL_NOISE` of 1 is the sentinel's own noise and is not applied. (A rule that
    corrected only when three checks agreed left a host swinging by 25 % uncorrected: its rows
    mixed two speeds and contradicted their neighbours.)
    """

    def __init__(self, sentinel: Sentinel, plan: BuildPlan,
                 progress: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.sentinel, self.plan, self.progress = sentinel, plan, progress
        # paired timing where the device can pair, for new tables and tables built paired; a table
        # whose rows were bracketed stays bracketed (its rows would otherwise mix two methods)
        self.paired = sentinel.paired and table_timing(plan) == PAIRED
        plan.meta["timing"] = PAIRED if self.paired else BRACKETED
        self.ratio, self.slow = 1.0, False
        self.last: float | None = None  # the ratio of the last check
        self.pending: set[tuple[str, int]] = set()  # rows measured since the last check
        self.prior = list((plan.meta.get("sentinel") or {}).get("checks") or [])  # checks of earlier runs

    @classmethod
    def for_plan(cls, device: Device, plan: BuildPlan,
                 progress: Callable[[str, dict[str, Any]], None] | None = None) -> HostSpeed:
        """The table's own sentinel (key and baseline from its metadata), or a new one chosen from
        the blocks to measure; its baseline is stored in the table before any row is measured."""
        sentinel = Sentinel.from_meta(device, plan.meta.get("sentinel")) or Sentinel(device, new_sentinel_key(plan))
        return cls(sentinel, plan, progress)

    def update(self, pause_s: float | None) -> None:
        """Re-time the sentinel (pausing while the host is slow; ``None``: one check, no pause);
        settle the rows since the last check."""
        def on_pause(ratio: float) -> None:
            if self.progress:
                self.progress("pause", {"ratio": ratio, "seconds": pause_s})

        if pause_s is None:  # a bracket's closing check, or a recheck pass: one check, nothing to wait for
            ratio, self.slow = self.sentinel.wait_until_steady(max_pauses=0)
        else:
            ratio, self.slow = self.sentinel.wait_until_steady(pause_s=pause_s, on_pause=on_pause)
        if self.pending and self.last is not None:
            self._settle(host_factor(self.last, ratio))
        self.pending = set()
        self.last, self.ratio = ratio, host_factor(ratio)
        if not self.plan.meta.get("sentinel", {}).get("baseline_ms"):
            self.plan.meta["sentinel"] = self.sentinel.to_meta()
        self.plan.meta["sentinel"]["checks"] = self.prior + [[round(h["t"], 1), round(h["ratio"], 4)]
                                                            for h in self.sentinel.history]

    def reference(self) -> Reference | None:
        """The sentinel as paired timing's reference (None for a bracketed table)."""
        return self.sentinel.reference() if self.paired else None

    def finish(self) -> None:
        """One more check after the last row, so the last rows are bracketed too."""
        if self.pending:
            self.update(None)
            self.plan.save()

    def _settle(self, factor: float) -> None:
        changed = False
        for i, r in enumerate(self.plan.rows):
            if (r["key"], int(r["batch"])) in self.pending:
                old = float(r.get("host_ratio") or 1.0)
                if old != factor:
                    self.plan.rows[i] = {**scale_times(r, old / factor), "host_ratio": factor}
                    changed = True
        if changed:
            self.plan.save()

    def normalise(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row at the baseline host speed (times ÷ the last check's factor; settled at the next
        check), with ``host_ratio`` and, on a host that stayed slow, a flag and its reason. A row
        timed paired is at the baseline's speed already (its ``host_ratio`` is its own)."""
        if self.paired and row.get("host_ratio") is not None:
            return row
        out = scale_times(row, 1.0 / self.ratio)
        out["host_ratio"] = self.ratio
        self.pending.add((row["key"], int(row["batch"])))
        if self.slow:
            out["flagged"] = True
            out["flag_reason"] = slow_host_reason(self.ratio)
        return out
