"""Measure a device's cache-context curve (:mod:`lutnas.luts.context`) with a few probe blocks.

Each probe block is timed alone (one copy: its weights stay cached) and with as many distinct
weight copies chained per call as make working sets of ``levels_mib`` (2–64 MiB by default), the
way a model's layers follow each other; the extra time per block over the single copy, per MiB of
the block's weights, is one point of the curve. Probes are the table's rows that spend the least
time per weight byte (the most memory-bound: where the context shows most) among the blocks a
model repeats (the table's most frequent kind) of at least ``min_weight_mib``, spread over weight
sizes. Repeats are interleaved (every probe and level
once per pass), and each point takes the median over passes; a paired table's probes are timed
paired with its sentinel.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.devices.base import Device, Reference
from lutnas.errors import InputError
from lutnas.locks import writer_lock
from lutnas.luts.context import MIB, fit_curve
from lutnas.luts.regressor import key_from_row
from lutnas.luts.table import LUT
from lutnas.profiler import Protocol
from lutnas.spaces.base import BlockKey

#: working sets the probes are timed at (MiB of distinct weights per call)
LEVELS_MIB = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: most copies chained in one call (a tiny block would otherwise need thousands)
MAX_COPIES = 64


def probe_keys(lut: LUT, n: int = 4, min_weight_mib: float = 0.5, max_weight_mib: float = LEVELS_MIB[-1] / 4) -> list[BlockKey]:
    """``n`` probe blocks from ``lut``: among the rows of its most frequent kind (the block a model
    repeats) with ``min_weight_mib``–``max_weight_mib`` of weights, the lowest time per weight byte in each
    weight-size band (quantiles of the candidates' weights)."""
    cands = []
    # the repeated kind (the most rows: a ViT's encoder), the block that makes up a model's layers
    kinds = lut.rows["kind"].value_counts()
    kind = str(kinds.index[0]) if len(kinds) else None
    for r in lut.rows.to_dict("records"):
        if r.get("method", "isolated") != "isolated" or r.get("flagged") or r["kind"] != kind:
            continue
        key = key_from_row(r)
        try:
            w = key.weight_bytes() / MIB
        except InputError:
            continue
        ms = float(r["median_ms"])
        if min_weight_mib <= w <= max_weight_mib and ms > 0:  # room for working sets above its own
            cands.append((ms / w, w, key))
    if not cands:
        raise InputError(f"table {lut.path or ''} has no unflagged isolated row of its kind {kind!r} with "
                         f"{min_weight_mib}–{max_weight_mib} MiB of weights to probe the cache context with")
    weights = np.array([w for _, w, _ in cands])
    edges = np.quantile(weights, np.linspace(0, 1, n + 1))
    out: list[BlockKey] = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = [c for c in cands if lo <= c[1] <= hi and c[2] not in out]
        if band:
            out.append(min(band, key=lambda c: c[0])[2])
    return out


def probe_context(device: Device, keys: Sequence[BlockKey], protocol: Protocol, levels_mib: Sequence[float] = LEVELS_MIB,
                  repeats: int = 2, progress: Callable[[int, int], None] | None = None,
                  reference: Reference | None = None) -> dict[str, Any]:
    """Time each probe at one copy and at each working set in ``levels_mib``; fit the curve.
    With a ``reference`` (the table's sentinel, for a paired table) every timing is paired, so the
    curve compares working sets at one host speed.

    Returns the metadata entry ``context``: ``footprints_mib``, ``extra_ms_per_mib`` (the curve),
    ``probes`` (per key: weights in MiB, copies and median per-block ms at each), device, protocol, date.
    """
    from lutnas.models import build_block_copies  # torch: only when something is measured

    if repeats < 1:
        raise InputError(f"repeats must be >= 1; got {repeats}")
    plan: list[tuple[BlockKey, float, list[int]]] = []
    for key in keys:
        w = key.weight_bytes() / MIB
        copies = sorted({1} | {int(min(MAX_COPIES, max(2, round(level / w)))) for level in levels_mib if level > w})
        plan.append((key, w, copies))
    times: dict[tuple[int, int], list[float]] = {}
    artifacts: dict[tuple[int, int], Any] = {}  # prepared once (an export for ONNX/TFLite), timed every pass
    total, step = repeats * sum(len(c) for _, _, c in plan), 0
    for _ in range(repeats):
        for i, (key, _, copies) in enumerate(plan):
            for c in copies:
                if (i, c) not in artifacts:
                    artifacts[(i, c)] = device.prepare(*build_block_copies(key, c))
                m = device.measure(artifacts[(i, c)], protocol, key, reference=reference)
                times.setdefault((i, c), []).append(m.median_ms / c)
                step += 1
                if progress:
                    progress(step, total)
    probes, points = [], []
    for i, (key, w, copies) in enumerate(plan):
        per = {c: float(np.median(times[(i, c)])) for c in copies}
        probes.append({"key": key.canonical(), "weight_mib": w, "ms_per_block": {str(c): v for c, v in per.items()}})
        points += [(w, c * w, (per[c] - per[1]) / w) for c in copies if c > 1]
    curve = fit_curve(points)
    return {**curve.to_dict(), "probes": probes, "device": device.label, "protocol": protocol.name,
            "paired": reference is not None,
            "repeats": repeats, "date": datetime.date.today().isoformat(), "applied": True,
            "reason": "measured; not yet judged on held-out models (run `lutnas lut validate`)"}


def measure_context(path: str | Path, device: Device, protocol: Protocol, probes: int = 4, repeats: int = 2,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Probe ``device``'s context curve with blocks of the table at ``path`` and store it there
    (under the table's write lock). When the table stores validation measurements it is judged again
    at once (:func:`lutnas.measure.validate.rejudge`): the curve stays applied only if it lowers their
    error. Returns ``{"context": ..., "rejudged": ... (or absent)}``."""
    from lutnas.luts.calibration import update_meta
    from lutnas.measure.validate import rejudge, table_reference

    table = LUT.read(path)
    keys = probe_keys(table, probes)
    reference = table_reference(table, device)
    with writer_lock(path, "table"):
        ctx = probe_context(device, keys, protocol, repeats=repeats, progress=progress, reference=reference)
        update_meta(path, context=ctx)
        lut = LUT.read(path)
        out: dict[str, Any] = {"context": ctx}
        if (lut.meta.get("validation") or {}).get("models"):
            out["rejudged"] = rejudge(lut)
    return out
