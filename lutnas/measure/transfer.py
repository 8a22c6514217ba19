"""`lutnas lut transfer`: measure a chosen share of a space's blocks on a new device and predict
the rest from tables of other devices (:mod:`lutnas.luts.transfer`).

Resumable like a build: the measured rows are an ordinary build of the chosen keys (re-running
the same command measures only what is missing); predicted rows are re-derived from the measured
ones on every run, so they always reflect every measurement the table holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.devices.base import Device
from lutnas.errors import InputError
from lutnas.luts.schema import read_table, write_table
from lutnas.luts.table import LUT
from lutnas.luts.transfer import features, predicted_rows, select, source_latencies, source_seconds
from lutnas.measure.build import build_lut
from lutnas.profiler.protocol import Protocol
from lutnas.spaces.base import BlockKey, Space


def parse_budget(text: str | float, n_keys: int) -> int:
    """``10%`` (of the space's blocks) or a count; at least 3."""
    s = str(text).strip()
    try:
        n = round(float(s[:-1]) / 100 * n_keys) if s.endswith("%") else int(s)
    except ValueError:
        raise InputError(f"--budget must be a percentage (10%) or a number of blocks; got {text!r}") from None
    if not 3 <= n <= n_keys:
        raise InputError(f"--budget {text} gives {n} blocks; it must give between 3 and the space's {n_keys}")
    return n


def transfer_lut(sources: Sequence[LUT], device: Device | str, out: str | Path, protocol: Protocol,
                 budget: str | float = "10%", strategy: str = "kcenter", seed: int = 0, batch: int = 1, ops: bool = False,
                 progress: Callable[[str, dict[str, Any]], None] | None = None,
                 measure: Callable[[Space, list[BlockKey], Path], dict[str, Any]] | None = None,
                 **build_options: Any) -> dict[str, Any]:
    """Measure ``budget`` of the sources' space's blocks on ``device`` (chosen by ``strategy``),
    predict the others, and write one table to ``out``. Returns counts, the chosen model with its
    cross-validated error per candidate, and the device-seconds spent measuring.

    ``measure(space, keys, out)`` measures the chosen keys into ``out`` elsewhere (a Ray farm:
    ``device`` is then the device's name) and returns :func:`build_lut`'s info; by default they are
    measured here with :func:`build_lut`.
    """
    label = device if isinstance(device, str) else device.label
    if not sources:
        raise InputError("transfer needs at least one --from table")
    space = sources[0].space()
    if space is None:
        raise InputError(f"{sources[0].path}: the table names no space to transfer")
    names = {s.space_name for s in sources}
    if len(names) > 1:
        raise InputError(f"the --from tables hold different spaces ({', '.join(sorted(map(str, names)))})")
    if any(s.device == label for s in sources):
        raise InputError(f"a --from table is already for {label!r}; transfer is for a new device")
    keys = space.unique_blocks()
    src_ms = source_latencies(sources, keys, batch)
    X = features(keys, src_ms)
    chosen = select(keys, X, parse_budget(budget, len(keys)), strategy, seed, source_seconds(sources, keys, batch))
    out = Path(out)
    _drop_transferred(out)
    todo = [keys[i] for i in chosen]
    if measure is not None:
        info = measure(space, todo, out)
    else:
        info = build_lut(device, space, [], out, protocol, batch=batch, ops=ops, keys=todo, progress=progress,
                         **build_options)
    table, meta = read_table(out)
    rows = [r for r in table.to_pylist() if r.get("method") != "transferred"]
    have = {r["key"]: r for r in rows if int(r["batch"]) == batch}
    measured_idx = [i for i, k in enumerate(keys) if k.canonical() in have]
    result = {"blocks": len(keys), "chosen": len(chosen), "measured": len(measured_idx), "strategy": strategy,
              "device_seconds": float(info.get("seconds", 0.0)), "out": str(out), "complete": info["complete"],
              "sources": [str(s.path) for s in sources]}
    if not info["complete"]:
        return result  # interrupted: re-run the same command to resume
    new_rows, model = predicted_rows(keys, X, src_ms, have, label, protocol.name, batch, seed)
    rest = len(new_rows)
    row_u = float(np.median([r["uncertainty"] for r in new_rows])) if new_rows else 0.0
    rows += new_rows
    meta["transfer"] = {"sources": result["sources"], "source_devices": [s.device for s in sources], "strategy": strategy,
                        "budget": str(budget), "measured": len(measured_idx), "predicted": rest,
                        "model": model.name, "cv_mape": model.cv_mape, "uncertainty": model.rel_error, "seed": seed}
    write_table(rows, meta, out)
    result.update({"predicted": rest, "model": model.name, "cv_mape": model.cv_mape,
                   "uncertainty": model.rel_error, "row_uncertainty_median": row_u, "rows": len(rows)})
    return result


def _drop_transferred(out: Path) -> None:
    """Predicted rows of an earlier run leave the table before the build: its end-of-build self-check
    and the new model see measured rows only (the predictions are re-derived afterwards)."""
    if not out.exists():
        return
    table, meta = read_table(out)
    rows = table.to_pylist()
    kept = [r for r in rows if r.get("method") != "transferred"]
    if len(kept) != len(rows):
        write_table(kept, meta, out)
