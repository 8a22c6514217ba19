"""Validation against measured full models: calibrate a table on a few, compare it on others, check drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.analysis.fidelity import fidelity
from lutnas.devices.base import Device
from lutnas.errors import InputError
from lutnas.luts.calibration import fit_calibration, save_calibration
from lutnas.luts.regressor import key_from_row
from lutnas.luts.table import LUT
from lutnas.measure.build import measure_row
from lutnas.measure.target import measure_target
from lutnas.profiler.protocol import Protocol


def measure_models(device: Device, specs: Sequence[Any], protocol: Protocol, batch: int = 1,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Median latency (ms) of each full model, measured on ``device``."""
    out = np.zeros(len(specs))
    for i, spec in enumerate(specs):
        m, _ = measure_target(device, spec, protocol, batch=batch)
        out[i] = m.median_ms
        if progress:
            progress(i + 1, len(specs))
    return out


def validate(lut: LUT, device: Device, specs: Sequence[Any], protocol: Protocol, calibrate_specs: Sequence[Any] = (),
             batch: int = 1, progress: Callable[[int, int], None] | None = None, drift_rows: int = 5,
             seed: int = 0) -> dict[str, Any]:
    """Measure ``calibrate_specs`` (fit and store a calibration) and ``specs`` (held out), compare.

    With ``drift_rows`` > 0, that many table rows are re-measured right before the models, and
    predictions are also reported scaled by the rows' median change (``drift_corrected``): a shared
    or throttling host can run 10–25 % slower or faster than when the table was built, which no
    table can know about.
    """
    if device.label != lut.device:
        raise InputError(f"table {lut.path} is for device {lut.device!r}, not {device.label!r}")
    total = len(calibrate_specs) + len(specs)
    tick = (lambda i, n: progress(i, total)) if progress else None
    result: dict[str, Any] = {"device": device.label, "table": str(lut.path) if lut.path else None}
    if calibrate_specs:
        measured_cal = measure_models(device, calibrate_specs, protocol, batch, tick)
        raw_cal = lut.predict(calibrate_specs, batch).raw_ms
        cal = fit_calibration(raw_cal, measured_cal)
        cal["models"] = [s.canonical() for s in calibrate_specs]
        lut.meta["calibration"] = cal
        if lut.path:
            save_calibration(lut.path, cal)
        result["calibration"] = cal
    offset = len(calibrate_specs)
    ratio = 1.0
    if drift_rows:
        d = drift(lut, device, _table_protocol(lut, protocol), drift_rows, seed)
        ratio = 1.0 + d["median_change"]
        result["drift"] = d
    measured = measure_models(device, specs, protocol, batch,
                              (lambda i, n: progress(offset + i, total)) if progress else None)
    pred = lut.predict(specs, batch)
    result["raw"] = fidelity(pred.raw_ms, measured)
    result["calibrated"] = fidelity(pred.calibrated_ms, measured)
    result["drift_ratio"] = ratio
    result["drift_corrected"] = fidelity(pred.calibrated_ms * ratio, measured)
    result.update({k: result["calibrated"][k] for k in ("n", "within_5pct", "within_10pct", "mape", "kendall_tau", "spearman_rho")})
    err = (pred.calibrated_ms - measured) / measured
    worst = np.argsort(-np.abs(err))[:5]
    result["worst"] = [{"spec": specs[i].canonical(), "predicted_ms": float(pred.calibrated_ms[i]),
                        "measured_ms": float(measured[i]), "error": float(err[i])} for i in worst]
    result["models"] = [{"spec": s.canonical(), "raw_ms": float(r), "predicted_ms": float(c), "measured_ms": float(m),
                         "predicted_blocks": bool(pb)}
                        for s, r, c, m, pb in zip(specs, pred.raw_ms, pred.calibrated_ms, measured, pred.predicted)]
    return result


def _table_protocol(lut: LUT, fallback: Protocol) -> Protocol:
    """The protocol the table was measured with (rows are re-measured the same way)."""
    from lutnas.profiler.protocol import Protocol as P

    data = lut.meta.get("protocol")
    return P.from_dict(data) if isinstance(data, dict) and data.get("name") else fallback


def drift(lut: LUT, device: Device, protocol: Protocol, k: int, seed: int = 0) -> dict[str, Any]:
    """Re-measure ``k`` random rows the same way and report how far each moved (relative)."""
    rows = lut.rows.sample(n=min(k, len(lut.rows)), random_state=seed).to_dict("records")
    out = []
    for r in rows:
        key = key_from_row(r)
        new = measure_row(device, key, protocol, int(r["batch"]), int(r.get("copies") or 1), False, 0,
                          r.get("method") or "isolated")
        out.append({"key": r["key"], "table_ms": float(r["median_ms"]), "now_ms": float(new["median_ms"]),
                    "change": float(new["median_ms"] / r["median_ms"] - 1)})
    changes = np.array([o["change"] for o in out])
    return {"rows": out, "median_change": float(np.median(changes)) if len(changes) else 0.0,
            "max_abs_change": float(np.max(np.abs(changes))) if len(changes) else 0.0,
            "within_5pct": float(np.mean(np.abs(changes) <= 0.05)) if len(changes) else 1.0}

