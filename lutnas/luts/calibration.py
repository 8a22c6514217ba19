"""Corrections of a table's predictions that never make it worse.

A calibration (``measured ≈ a × raw + b``, fitted on measured full models) and a drift
correction (the host's speed now versus at build time, from re-measured rows) are *estimates*:
each is reported with a bootstrap confidence interval and applied only when it is supported —
the interval of the ratio excludes 1 and, for a calibration, leave-one-out cross-validation over
the calibration models shows that it lowers the error. Otherwise the raw table stands and the
result says why (``applied: False`` and ``reason``). Measured on this project's 2-core host, a
ratio fitted on 5 models moved between 0.948 and 1.024 within minutes — noise fitted as signal —
which is what the rule refuses.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import InputError
from lutnas.locks import writer_lock
from lutnas.luts.schema import read_table, write_table

#: fewest models/rows from which a correction is even considered
MIN_SUPPORT = 5


def ratio_ci(ratios: np.ndarray, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``(median, lo, hi)`` of a set of ratios: the median and its percentile-bootstrap interval."""
    r = np.asarray(ratios, float)
    if len(r) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = np.median(r[rng.integers(0, len(r), size=(n_boot, len(r)))], axis=1)
    alpha = (1 - confidence) / 2
    return float(np.median(r)), float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))


def _fit(raw: np.ndarray, measured: np.ndarray, linear: bool) -> tuple[float, float]:
    if linear:
        a, b = np.polyfit(raw, measured, 1)
        return float(a), float(b)
    return float(np.median(measured / raw)), 0.0


def _loo_mape(raw: np.ndarray, measured: np.ndarray, linear: bool) -> float:
    """Leave-one-out error of the corrected prediction of each calibration model."""
    errs = []
    for i in range(len(raw)):
        keep = np.arange(len(raw)) != i
        a, b = _fit(raw[keep], measured[keep], linear)
        errs.append(abs((a * raw[i] + b) / measured[i] - 1))
    return float(np.mean(errs))


def fit_calibration(raw_ms: np.ndarray, measured_ms: np.ndarray, min_models_for_slope: int = 8,
                    confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Fit ``measured ≈ a × raw + b`` and decide whether it is supported.

    Parameters
    ----------
    raw_ms, measured_ms : array of shape (n_models,), milliseconds
        The table's sum-of-blocks prediction and the measured median of each calibration model.
    min_models_for_slope : int, default=8
        With fewer models only a robust ratio (``a`` = median(measured / raw), ``b`` = 0) is
        fitted: a slope and intercept from 5 models chase noise (slopes of 0.97–1.35 seen here).
        With more, the linear fit is used when its leave-one-out error is lower than the ratio's.

    Returns
    -------
    dict with ``a``, ``b``, ``n``, ``fit`` ("ratio" or "linear"), ``ratio_ci`` [lo, hi] (bootstrap
    interval of median(measured / raw)), ``cv_mape_raw`` and ``cv_mape_calibrated`` (leave-one-out),
    ``applied`` (bool) and ``reason``.
    """
    raw, measured = np.asarray(raw_ms, float), np.asarray(measured_ms, float)
    if len(raw) == 0:
        raise InputError("calibration needs at least one measured model")
    if len(raw) != len(measured):
        raise InputError(f"calibration: {len(raw)} predictions but {len(measured)} measurements")
    if not (np.all(np.isfinite(raw)) and np.all(raw > 0) and np.all(np.isfinite(measured)) and np.all(measured > 0)):
        raise InputError("calibration needs positive, finite predicted and measured latencies")
    linear = False
    if len(raw) >= min_models_for_slope and np.ptp(raw) > 0:
        linear = _loo_mape(raw, measured, True) < _loo_mape(raw, measured, False)
    a, b = _fit(raw, measured, linear)
    _, lo, hi = ratio_ci(measured / raw, confidence, seed=seed)
    out: dict[str, Any] = {"a": a, "b": b, "n": int(len(raw)), "fit": "linear" if linear else "ratio",
                           "ratio_ci": [lo, hi], "confidence": confidence}
    if len(raw) < MIN_SUPPORT:
        out.update(applied=False, reason=f"{len(raw)} model(s) cannot support a correction (at least {MIN_SUPPORT})")
        return out
    cv_raw = float(np.mean(np.abs(raw / measured - 1)))
    cv_cal = _loo_mape(raw, measured, linear)
    out.update(cv_mape_raw=cv_raw, cv_mape_calibrated=cv_cal)
    if lo <= 1.0 <= hi:
        out.update(applied=False, reason=f"the ratio's {confidence:.0%} interval [{lo:.3f}, {hi:.3f}] includes 1: "
                                         f"the table is not measurably off")
    elif cv_cal >= cv_raw:
        out.update(applied=False, reason=f"cross-validated error would rise ({100 * cv_raw:.1f} % raw vs "
                                         f"{100 * cv_cal:.1f} % calibrated)")
    else:
        out.update(applied=True, reason=f"ratio interval [{lo:.3f}, {hi:.3f}] excludes 1 and cross-validated error "
                                        f"falls from {100 * cv_raw:.1f} % to {100 * cv_cal:.1f} %")
    return out


def drift_correction(table_ms: np.ndarray, now_ms: np.ndarray, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """How much faster or slower the host runs now than at build time, from re-measured rows.

    ``ratio`` = median(now / table) with its bootstrap interval; applied only when at least
    :data:`MIN_SUPPORT` rows were re-measured and the interval excludes 1.
    """
    t, n = np.asarray(table_ms, float), np.asarray(now_ms, float)
    ok = np.isfinite(t) & np.isfinite(n) & (t > 0) & (n > 0)
    ratio, lo, hi = ratio_ci(n[ok] / t[ok], confidence, seed=seed)
    out: dict[str, Any] = {"ratio": ratio if ok.any() else 1.0, "ratio_ci": [lo, hi], "n": int(ok.sum())}
    if ok.sum() < MIN_SUPPORT:
        out.update(applied=False, reason=f"{int(ok.sum())} re-measured row(s) cannot support a correction")
    elif lo <= 1.0 <= hi:
        out.update(applied=False, reason=f"the interval [{lo:.3f}, {hi:.3f}] includes 1: no measurable drift")
    else:
        out.update(applied=True, reason=f"the host runs ×{ratio:.3f} [{lo:.3f}, {hi:.3f}] of its build-time speed")
    return out


def level_from_drift(drift: dict[str, Any], n_models: int, mape_before: float, mape_after: float) -> dict[str, Any]:
    """A supported drift correction (:func:`drift_correction`) of a paired table, stored as its
    calibration (``measured ≈ ratio × raw``, ``fit: "drift"``) once ``n_models`` held-out models
    showed that it lowers their error (MAPE ``mape_before`` → ``mape_after``)."""
    lo, hi = drift["ratio_ci"]
    return {"a": float(drift["ratio"]), "b": 0.0, "n": int(drift["n"]), "fit": "drift", "ratio_ci": [lo, hi],
            "applied": True,
            "reason": f"{drift['n']} re-measured rows read ×{drift['ratio']:.3f} [{lo:.3f}, {hi:.3f}] of their stored "
                      f"times against the table's sentinel, and on the {n_models} held-out models the correction "
                      f"lowers MAPE from {100 * mape_before:.1f} % to {100 * mape_after:.1f} %"}


def save_calibration(path: str | Path, calibration: dict[str, Any]) -> None:
    """Store the calibration in the table's metadata (atomic rewrite; rows unchanged)."""
    update_meta(path, calibration=calibration)


def update_meta(path: str | Path, **entries: Any) -> None:
    """Store ``entries`` in the table's metadata (atomic rewrite under the table's write lock; rows
    unchanged, read under the lock so none written meanwhile is dropped)."""
    with writer_lock(path, "table"):
        table, meta = read_table(path)
        meta.update(entries)
        write_table(table.to_pylist(), meta, path)


#: fewest stored errors from which the margin also considers their empirical quantile (the smaller factor wins)
MIN_ERRORS_FOR_QUANTILE = 40


def budget_margin(validation: dict[str, Any] | None, k: float = 2.0) -> dict[str, Any]:
    """The factor a latency budget is multiplied by so that a spec predicted under it meets the
    budget when measured, at the coverage ``k`` standard deviations give a normal error (k = 2:
    ~97.7 % of models within budget). Capped to [0.5, 1]. Needs a stored validation
    (``lutnas lut validate`` writes one).

    The factor is ``1 + bias − k·sd`` of the stored validation (``method: normal``) or, with at
    least :data:`MIN_ERRORS_FOR_QUANTILE` stored errors (prediction / measurement − 1, one per
    measurement), ``1 + q`` when that is smaller, ``q`` their empirical quantile at the same tail
    (``method: quantile``): a table's errors are skewed (a few models measured far slower than
    predicted), and a tail heavier than the normal one must still be covered. The smaller of the
    two, because a search does not draw its winner at random: it picks the specs the table
    under-predicts (measured on the shipped torch-cpu table, 20 searches: the quantile alone,
    ×0.755, kept 18 of 20 winners within budget; ×0.648 kept 20 of 20)."""
    if not validation or not validation.get("n"):
        raise InputError("--margin auto needs the table's validated error: run `lutnas lut validate TABLE` first")
    bias, sd = float(validation["bias"]), float(validation["sd_error"])
    errors = np.asarray(validation.get("errors") or [], float)
    errors = errors[np.isfinite(errors)]
    out: dict[str, Any] = {"bias": bias, "sd_error": sd, "k": k, "n": int(validation["n"])}
    raw = 1.0 + bias - k * sd
    out["method"] = "normal"
    if len(errors) >= MIN_ERRORS_FOR_QUANTILE:
        tail = 0.5 * math.erfc(k / math.sqrt(2.0))  # the normal tail beyond k sd (k = 2: 2.28 %)
        quantile = 1.0 + float(np.quantile(errors, tail))
        out.update(tail=tail, errors=int(len(errors)), quantile_factor=quantile)
        if quantile < raw:
            raw = quantile
            out["method"] = "quantile"
    out["factor"] = float(min(1.0, max(0.5, raw)))
    return out
