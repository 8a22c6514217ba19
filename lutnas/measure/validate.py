"""Validation against measured full models, judged against the noise ceiling.

One schedule, interleaved: calibration models, held-out models (each measured ``repeats`` times,
never back to back) and re-measured table rows (drift) are shuffled together, and the drift
sentinel is re-timed between them, so a host that slows down mid-validation biases no group. The
result reports the table's error next to the *noise ceiling* — the error of predicting one
measurement of a model by another measurement of the same model — with the mean signed error
(bias) and the error per factor value (depth, width, image, ...), so a structured error shows.
Corrections (calibration, drift) are applied only when supported (:mod:`lutnas.luts.calibration`).
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.analysis.fidelity import error_by_factor, fidelity, noise_verdict
from lutnas.devices.base import Device, Reference
from lutnas.errors import InputError
from lutnas.luts.calibration import drift_correction, fit_calibration, level_from_drift, save_calibration, update_meta
from lutnas.luts.regressor import key_from_row
from lutnas.luts.table import LUT
from lutnas.measure.build import PAIRED, measure_row
from lutnas.measure.sentinel import NOISE, SLOW_THRESHOLD, Sentinel, host_factor
from lutnas.measure.target import measure_target
from lutnas.profiler.protocol import Protocol, ground_truth
from lutnas.spaces import parse_spec
from lutnas.spaces.base import Spec


#: seconds of model measurements between two sentinel checks (the host here changes speed every 10-30 s)
BRACKET_S = 2.0


def table_reference(lut: LUT, device: Device, sentinel: Sentinel | None = None) -> Reference | None:
    """The reference a measurement to compare with ``lut`` is paired with: the table's sentinel when
    the table was timed paired (and ``device`` can pair), else None (measure as is). ``sentinel``:
    the table's sentinel when the caller holds it already (prepared once, not twice)."""
    if lut.meta.get("timing") != PAIRED:
        return None
    sentinel = sentinel or Sentinel.from_meta(device, lut.meta.get("sentinel"))
    return sentinel.reference() if sentinel is not None else None


def measure_models(device: Device, specs: Sequence[Spec], protocol: Protocol, batch: int = 1,
                   progress: Callable[[int, int], None] | None = None,
                   reference: Reference | None = None) -> np.ndarray:
    """Median latency (ms) of each full model, measured on ``device`` (paired with ``reference``,
    e.g. :func:`table_reference`, to compare with a paired table at its host speed)."""
    out = np.zeros(len(specs))
    for i, spec in enumerate(specs):
        m, _ = measure_target(device, spec, protocol, batch=batch, reference=reference)
        out[i] = m.median_ms
        if progress:
            progress(i + 1, len(specs))
    return out


@dataclasses.dataclass(frozen=True)
class _Item:
    what: str          # "cal", "held" or "row"
    index: int         # into the calibration specs, the held-out specs, or the drift rows
    repeat: int = 0


def _schedule(n_cal: int, n_held: int, n_rows: int, repeats: int, seed: int) -> list[_Item]:
    """Every measurement of a validation in one seeded order: each pass holds every model once (and
    the first pass the drift rows), shuffled, so no two measurements of one model are adjacent
    unless a pass holds a single item."""
    rng = np.random.default_rng(seed)
    order: list[_Item] = []
    for rep in range(repeats):
        items = [_Item("cal", i, rep) for i in range(n_cal)] + [_Item("held", i, rep) for i in range(n_held)]
        if rep == 0:
            items += [_Item("row", i) for i in range(n_rows)]
        items = [items[i] for i in rng.permutation(len(items))]
        if order and items and len(items) > 1 and items[0].what == order[-1].what and items[0].index == order[-1].index:
            items = items[1:] + items[:1]
        order += items
    return order


def validate(lut: LUT, device: Device, specs: Sequence[Spec], protocol: Protocol, calibrate_specs: Sequence[Spec] = (),
             batch: int = 1, progress: Callable[[int, int], None] | None = None, drift_rows: int = 5,
             seed: int = 0, repeats: int = 2) -> dict[str, Any]:
    """Measure ``calibrate_specs`` and ``specs`` (held out) ``repeats`` times each, interleaved with
    ``drift_rows`` re-measured table rows; fit the corrections, compare, and judge the table
    against the noise ceiling.

    Returns a dict: ``raw``/``calibrated``/``drift_corrected`` fidelity (each with ``bias``),
    ``noise_ceiling`` (``within_5pct``, ``within_10pct``, ``mape``, ``kendall_tau`` between two
    measurements of the same models; needs ``repeats`` ≥ 2), ``bias``, ``by_factor`` (mean signed
    error per factor value), ``calibration`` and ``drift`` (each with ``applied`` and ``reason``),
    ``sentinel`` (host speed against the table's baseline, when the table has one; measurements are
    then compared at the table's host speed), ``verdict``, ``worst``, ``models`` and
    ``model_protocol``: the models (the truth) are measured under :func:`ground_truth` of
    ``protocol`` — twice as precise as the rows — and re-measured rows under the table's own.
    """
    if device.label != lut.device:
        raise InputError(f"table {lut.path} is for device {lut.device!r}, not {device.label!r}")
    if not specs:
        raise InputError("validation needs at least one held-out model")
    overlap = {s.canonical() for s in specs} & {s.canonical() for s in calibrate_specs}
    if overlap:
        raise InputError(f"calibration and held-out models overlap ({len(overlap)} spec(s)); they must be distinct")
    if repeats < 1:
        raise InputError(f"repeats must be >= 1; got {repeats}")
    rows = (lut.rows.sample(n=min(drift_rows, len(lut.rows)), random_state=seed).to_dict("records")
            if drift_rows else [])
    order = _schedule(len(calibrate_specs), len(specs), len(rows), repeats, seed)
    sentinel = Sentinel.from_meta(device, lut.meta.get("sentinel"))
    # a table timed paired is validated paired: every model at the table's baseline host speed
    reference = table_reference(lut, device, sentinel)
    row_protocol = _table_protocol(lut, protocol)
    model_protocol = ground_truth(protocol)  # the truth the table is judged against: more precise than rows
    cal_ms = np.full((len(calibrate_specs), repeats), np.nan)
    held_ms = np.full((len(specs), repeats), np.nan)
    held_raw = np.full_like(held_ms, np.nan)  # as measured (differs from held_ms when paired)
    drift_out: list[dict[str, Any]] = []
    # models are bracketed by sentinel checks as a build brackets its rows: a check, at most
    # BRACKET_S of model measurements, a check; the bracket's models are divided by the geometric
    # mean of its two checks, and measured once more when the checks disagree (the host changed
    # speed meanwhile). The check closing one bracket opens the next.
    cal_factor, held_factor = np.ones_like(cal_ms), np.ones_like(held_ms)
    stats = {"checks": 0, "slow": 0, "retried": 0, "unsteady": 0}
    ratios: list[float] = []
    bracket: list[tuple[np.ndarray, np.ndarray, int, int, Spec]] = []

    def check() -> float:
        ratios.append(sentinel.check())
        stats["checks"] += 1
        stats["slow"] += ratios[-1] > 1 + SLOW_THRESHOLD
        return ratios[-1]

    def measure(arr: np.ndarray, index: int, repeat: int, target: Spec) -> float:
        t = time.perf_counter()
        m = measure_target(device, target, model_protocol, batch=batch, reference=reference)[0]
        arr[index, repeat] = m.median_ms
        timing = m.metadata.get("timing") or {}
        if arr is held_ms:
            held_raw[index, repeat] = timing.get("raw_median_ms", m.median_ms)
        if timing.get("paired"):
            ratios.append(float(timing["host_ratio"]))
        return time.perf_counter() - t

    def close(before: float) -> float:
        after = check()
        if abs(after / before - 1) > NOISE:
            stats["retried"] += len(bracket)
            for arr, _, index, repeat, target in bracket:
                measure(arr, index, repeat, target)
            before, after = after, check()
            if abs(after / before - 1) > NOISE:
                stats["unsteady"] += len(bracket)
        for _, fac, index, repeat, _ in bracket:
            fac[index, repeat] = host_factor(before, after)
        bracket.clear()
        return after

    bracketed = sentinel is not None and reference is None  # paired measurements need no brackets
    opened = check() if bracketed else 1.0
    spent = 0.0
    for step, item in enumerate(order):
        if item.what == "row":
            drift_out.append(_remeasure(device, rows[item.index], row_protocol, reference))
        else:
            target = (calibrate_specs if item.what == "cal" else specs)[item.index]
            arr, fac = (cal_ms, cal_factor) if item.what == "cal" else (held_ms, held_factor)
            spent += measure(arr, item.index, item.repeat, target)
            if bracketed:
                bracket.append((arr, fac, item.index, item.repeat, target))
                if spent >= BRACKET_S:
                    opened, spent = close(opened), 0.0
        if progress:
            progress(step + 1, len(order))
    if bracketed and bracket:
        close(opened)

    result: dict[str, Any] = {"device": device.label, "table": str(lut.path) if lut.path else None,
                              "repeats": repeats, "schedule": "interleaved"}
    # each measurement at the table's host speed, as a build settles its rows: divided by the
    # geometric mean of the sentinel checks around it (1 where that is within the sentinel's noise)
    held_norm, cal_norm = held_ms / held_factor, cal_ms / cal_factor
    if reference is not None and ratios:
        r = np.array(ratios)
        result["sentinel"] = {
            **sentinel.to_meta(), "paired": True, "median_ratio": float(np.median(r)),
            "ratio_range": [float(r.min()), float(r.max())], "applied": True, "measurements": int(r.size),
            "reason": (f"every model timed paired with the sentinel, at the table's host speed (the host ran "
                       f"{r.min():.2f}–{r.max():.2f}× the baseline's time meanwhile)")}
    elif sentinel is not None and ratios:
        r = np.array(ratios)
        factors = np.concatenate([cal_factor.ravel(), held_factor.ravel()])
        n_norm = int((factors != 1.0).sum())
        result["sentinel"] = {
            **sentinel.to_dict(), **stats, "median_ratio": float(np.median(r)), "ratio_range": [float(r.min()), float(r.max())],
            "applied": n_norm > 0, "normalised": n_norm, "measurements": int(factors.size),
            "reason": (f"{n_norm} of {factors.size} model measurements taken off the table's host speed, each divided by "
                       f"the geometric mean of the sentinel checks around it" if n_norm else
                       "the host stayed within the sentinel's noise of the table's baseline: as measured")}
    if lut.meta.get("context"):  # decided first: a calibration is fitted on the predictions that stand
        result["context"] = judge_context(lut, specs, held_norm, batch)
    if len(calibrate_specs):
        cal = fit_calibration(lut.predict(calibrate_specs, batch).raw_ms, np.nanmean(cal_norm, axis=1), seed=seed)
        cal["models"] = [s.canonical() for s in calibrate_specs]
        _store_calibration(lut, cal)
        result["calibration"] = cal
    pred = lut.predict(specs, batch)  # calibrated by the stored calibration only when it is applied
    raw, calibrated = pred.raw_ms, pred.calibrated_ms
    stored = lut.meta.get("calibration")
    if stored and lut.calibration is None:
        result["calibration_note"] = f"calibration not applied: {stored.get('reason', 'not supported')}"

    result["drift"] = _drift_report(drift_out, seed)
    drift_ratio = result["drift"]["ratio"] if result["drift"]["applied"] else 1.0
    result["drift_ratio"] = drift_ratio

    measured = np.nanmean(held_norm, axis=1)
    result["raw"] = _judge(raw, held_norm)
    result["calibrated"] = _judge(calibrated, held_norm)
    cal_now = result.get("calibration")
    if cal_now and cal_now.get("applied") and result["calibrated"]["mape"] > result["raw"]["mape"]:
        # the held-out models are the last word: a calibration that raises their error is not applied
        cal_now.update(applied=False, reason=f"{cal_now['reason']}, but on the {len(specs)} held-out models it "
                                             f"raises MAPE from {100 * result['raw']['mape']:.1f} % to "
                                             f"{100 * result['calibrated']['mape']:.1f} %: not applied")
        _store_calibration(lut, cal_now)
        calibrated = raw
        result["calibrated"] = result["raw"]
        result["calibration_note"] = f"calibration not applied: {cal_now['reason']}"
    # drift correction predicts what is measured now: for a paired table the re-measured rows and the
    # models are both at the table's host speed (the ratio is how far the table's level moved against
    # its sentinel); otherwise rows were compared as measured, so are the models
    result["drift_corrected"] = _judge(calibrated * drift_ratio, held_norm if reference is not None else held_raw)
    if reference is not None and drift_ratio != 1.0 and lut.calibration is None \
            and result["drift_corrected"]["mape"] < result["calibrated"]["mape"]:
        # a paired table whose rows now read measurably off their stored times (against the same
        # sentinel) has moved in level; the held-out models confirm it: the level correction stands
        calibrated = raw * drift_ratio
        level = level_from_drift(result["drift"], len(specs), result["calibrated"]["mape"],
                                 result["drift_corrected"]["mape"])
        if result.get("calibration"):  # the models' own fit, refused: kept for the record
            level["replaces"] = {k: result["calibration"].get(k) for k in ("a", "b", "n", "fit", "ratio_ci", "reason")}
        result["calibration"] = level
        result.pop("calibration_note", None)
        result["calibrated"] = result["drift_corrected"]
        _store_calibration(lut, level)
    if sentinel is not None:
        result["as_measured"] = _judge(calibrated, held_raw)
    main = result["calibrated"]
    result.update({k: main[k] for k in ("n", "within_5pct", "within_10pct", "mape", "kendall_tau", "spearman_rho", "bias")})
    result["model_protocol"] = model_protocol.to_dict()
    if repeats >= 2:
        result["noise_ceiling"] = _noise_ceiling(held_norm)
    result["by_factor"] = error_by_factor(specs, calibrated, measured)
    result["verdict"] = noise_verdict(main, result.get("noise_ceiling"))
    err = calibrated / measured - 1
    worst = np.argsort(-np.abs(err))[:5]
    if lut.path:  # what a search's --margin auto reads: the table's own validated error
        update_meta(lut.path, validation={"n": int(len(specs)), "repeats": repeats, **_errors(calibrated, held_norm),
                                          "mape": main["mape"], "noise_ceiling": result.get("noise_ceiling"),
                                          "verdict": result["verdict"]["status"],
                                          "model_protocol": model_protocol.name,
                                          "date": datetime.date.today().isoformat(),
                                          # the measurements themselves, so anyone can re-judge the table
                                          # (or a table transferred from it) with no device at hand
                                          "models": [{"spec": s.canonical(), "measured_ms": float(m),
                                                      "runs_ms": [float(x) for x in runs]}
                                                     for s, m, runs in zip(specs, measured, held_norm)]})
    result["worst"] = [{"spec": specs[i].canonical(), "predicted_ms": float(calibrated[i]),
                        "measured_ms": float(measured[i]), "error": float(err[i])} for i in worst]
    result["models"] = [{"spec": s.canonical(), "raw_ms": float(r), "predicted_ms": float(c), "measured_ms": float(m),
                         "measured_runs_ms": [float(x) for x in runs], "predicted_blocks": bool(pb)}
                        for s, r, c, m, runs, pb in zip(specs, raw, calibrated, measured, held_norm, pred.predicted)]
    return result


def _store_calibration(lut: LUT, calibration: dict[str, Any]) -> None:
    """The table's calibration, in memory and in its file (predictions apply it as they are made)."""
    lut.meta["calibration"] = calibration
    if lut.path:
        save_calibration(lut.path, calibration)


def judge_context(lut: LUT, specs: Sequence[Spec], runs: np.ndarray, batch: int = 1) -> dict[str, Any]:
    """Apply the table's stored context curve only when it lowers the held-out models' error.

    ``runs``: measured ms, shape (n_models, repeats). Compares the table's predictions with and
    without the curve, stores the decision in the table (``context.applied``, ``reason``) and
    returns both judgements. The held-out models have the last word, as for a calibration.
    """
    ctx = dict(lut.meta["context"])
    with_ctx = LUT(lut.rows, {**lut.meta, "context": {**ctx, "applied": True}}, None).predict(specs, batch).raw_ms
    plain = lut.without_context().predict(specs, batch).raw_ms
    j_with, j_plain = _judge(with_ctx, runs), _judge(plain, runs)
    better = j_with["mape"] < j_plain["mape"]
    verb = "lowers" if better else "would raise"
    ctx.update(applied=bool(better), judged_on=len(specs), mape_with=j_with["mape"], mape_without=j_plain["mape"],
               reason=f"on {len(specs)} held-out models the context curve {verb} MAPE from {100 * j_plain['mape']:.1f} % "
                      f"to {100 * j_with['mape']:.1f} % (bias {100 * j_plain['bias']:+.1f} % → {100 * j_with['bias']:+.1f} %)"
                      + ("" if better else ": not applied"))
    lut.meta["context"] = ctx
    lut.forget()
    if lut.path:
        update_meta(lut.path, context=ctx)
    return {"applied": ctx["applied"], "reason": ctx["reason"], "with": j_with, "without": j_plain}


def rejudge(lut: LUT, batch: int = 1) -> dict[str, Any]:
    """Judge ``lut`` again against the held-out measurements its last validation stored (no device):
    after its context curve changed, say. Updates the stored context decision and validation figures."""
    stored = lut.meta.get("validation") or {}
    models = stored.get("models")
    if not models:
        raise InputError(f"table {lut.path or ''} stores no validation measurements: run `lutnas lut validate` on "
                         f"its device first")
    specs = [parse_spec(m["spec"]) for m in models]
    width = max(len(m.get("runs_ms") or [m["measured_ms"]]) for m in models)
    runs = np.full((len(models), width), np.nan)
    for i, m in enumerate(models):
        r = m.get("runs_ms") or [m["measured_ms"]]
        runs[i, :len(r)] = r
    result: dict[str, Any] = {"table": str(lut.path) if lut.path else None, "n": len(specs), "source": "stored"}
    if lut.meta.get("context"):
        result["context"] = judge_context(lut, specs, runs, batch)
    predicted = lut.predict(specs, batch).calibrated_ms
    judged = _judge(predicted, runs)
    validation = {**stored, **_errors(predicted, runs), "mape": judged["mape"],
                  "rejudged": datetime.date.today().isoformat()}
    if stored.get("noise_ceiling"):
        validation["verdict"] = noise_verdict(judged, stored["noise_ceiling"])["status"]
    lut.meta["validation"] = validation
    if lut.path:
        update_meta(lut.path, validation=validation)
    result.update({k: judged[k] for k in ("within_5pct", "within_10pct", "mape", "kendall_tau", "bias")})
    result["noise_ceiling"] = stored.get("noise_ceiling")
    result["by_factor"] = error_by_factor(specs, predicted, np.nanmean(runs, axis=1))
    return result


def _errors(predicted: np.ndarray, runs: np.ndarray) -> dict[str, Any]:
    """The stored validated error: ``bias`` and ``sd_error`` of prediction / measurement − 1 over every
    measurement (``runs``: shape (n_models, repeats)), and the ``errors`` themselves (what
    ``--margin auto``'s quantile reads)."""
    errs = (predicted[:, None] / runs - 1).ravel()
    errs = errs[np.isfinite(errs)]
    return {"bias": float(errs.mean()), "sd_error": float(errs.std(ddof=1)) if len(errs) > 1 else 0.0,
            "errors": [float(e) for e in errs]}


def _judge(predicted: np.ndarray, runs: np.ndarray) -> dict[str, Any]:
    """Fidelity of predictions against every measurement pass, averaged (each pass is one
    measurement of every model, like the noise ceiling's); τ and ρ against the mean of the passes."""
    per_pass = [fidelity(predicted, runs[:, k]) for k in range(runs.shape[1])]
    out = fidelity(predicted, np.nanmean(runs, axis=1))
    for k in ("within_5pct", "within_10pct", "mape", "bias", "mean_error"):
        out[k] = float(np.mean([p[k] for p in per_pass]))
    return out


def _noise_ceiling(runs: np.ndarray) -> dict[str, Any]:
    """Predicting each pass of a model by its other passes: the best any table can do on this host."""
    pairs = [fidelity(runs[:, i], runs[:, j]) for i in range(runs.shape[1]) for j in range(runs.shape[1]) if i != j]
    return {k: float(np.mean([p[k] for p in pairs])) for k in ("within_5pct", "within_10pct", "mape", "kendall_tau", "bias")}


def _host_ratio(row: dict[str, Any]) -> float:
    """The host ratio a row was normalised by at build time (1.0 for rows of older tables)."""
    value = row.get("host_ratio")
    return float(value) if value is not None and np.isfinite(value) and value > 0 else 1.0


def _table_protocol(lut: LUT, fallback: Protocol) -> Protocol:
    """The protocol the table was measured with (rows are re-measured the same way)."""
    data = lut.meta.get("protocol")
    return Protocol.from_dict(data) if isinstance(data, dict) and data.get("name") else fallback


def drift(lut: LUT, device: Device, protocol: Protocol, k: int, seed: int = 0) -> dict[str, Any]:
    """Re-measure ``k`` random rows the same way; how far each moved, and whether a correction is
    supported (:func:`lutnas.luts.calibration.drift_correction`)."""
    rows = lut.rows.sample(n=min(k, len(lut.rows)), random_state=seed).to_dict("records")
    return _drift_report([_remeasure(device, r, protocol) for r in rows], seed)


def _remeasure(device: Device, row: dict[str, Any], protocol: Protocol,
               reference: Reference | None = None) -> dict[str, Any]:
    """One table row timed again the way it was built, against its build-time (as measured) median;
    paired with ``reference`` (a paired table), both at the table's host speed."""
    new = measure_row(device, key_from_row(row), protocol, int(row["batch"]), int(row.get("copies") or 1), False, 0,
                      row.get("method") or "isolated", reference)
    table_ms = float(row["median_ms"]) * (1.0 if reference is not None else _host_ratio(row))
    return {"key": row["key"], "table_ms": table_ms, "now_ms": float(new["median_ms"]),
            "change": float(new["median_ms"] / table_ms - 1)}


def _drift_report(out: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """How far re-measured rows moved, and whether a drift correction is supported."""
    changes = np.array([o["change"] for o in out])
    return {"rows": out, "median_change": float(np.median(changes)) if len(changes) else 0.0,
            "max_abs_change": float(np.max(np.abs(changes))) if len(changes) else 0.0,
            "within_5pct": float(np.mean(np.abs(changes) <= 0.05)) if len(changes) else 1.0,
            **drift_correction([o["table_ms"] for o in out], [o["now_ms"] for o in out], seed=seed)}
