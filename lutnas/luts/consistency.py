"""Tables that check themselves: rows that contradict their neighbours or their kind's cost model.

Two rows of one kind that differ in a single key field, where one needs at least as much work
as the other in every analytic cost (multiply-adds, weight bytes, activations) and strictly more
in one, should not run more than ``tolerance`` faster — or, for noisy rows, more than twice the
standard error of the difference of the two medians (1.2533 · CV / √n each): a pair that does holds a row taken while
the host changed speed (seen on this project's host: an encoder with MLP ratio 4 timed 39 % below
the same encoder with ratio 2). A row far from a robust fit of its kind's latency on those costs
is an outlier. Both are found here from the table alone (no device); :mod:`lutnas.measure.recheck`
re-measures them and flags what stays odd.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from lutnas.luts.regressor import block_features, key_from_row
from lutnas.profiler.measurement import noise_reason

#: a costlier block may run at most this much faster than a cheaper neighbour before the pair is suspect
TOLERANCE = 0.03
#: a row whose latency is this many robust standard deviations (and at least 25 %) from its kind's
#: cost model is an outlier
OUTLIER_SIGMA = 4.0
OUTLIER_MIN = 0.25


@dataclasses.dataclass(frozen=True)
class Finding:
    """One suspicious row: its key, why, and the neighbour it contradicts (if any)."""

    key: str
    reason: str
    other: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def monotonicity_violations(rows: pd.DataFrame, tolerance: float = TOLERANCE) -> list[Finding]:
    """Pairs (one field apart) where the costlier block runs more than ``tolerance`` faster."""
    out: list[Finding] = []
    for (kind, batch), group in rows.groupby(["kind", "batch"]):
        recs = group.to_dict("records")
        keys = [key_from_row(r) for r in recs]
        F = np.array([[float(v) for v in k.fields().values()] for k in keys])
        costs = np.array([block_features(k)[:3] for k in keys])
        ms = group["median_ms"].to_numpy(float)
        one_apart = (F[:, None, :] != F[None, :, :]).sum(axis=2) == 1
        ge = (costs[:, None, :] >= costs[None, :, :]).all(axis=2)
        gt = (costs[:, None, :] > costs[None, :, :]).any(axis=2)
        faster = ms[:, None] < ms[None, :] * (1 - np.maximum(tolerance, _noise_gap(group)))
        for i, j in zip(*np.nonzero(one_apart & ge & gt & faster)):
            out.append(Finding(recs[i]["key"], f"costlier than {recs[j]['key']} but {100 * (1 - ms[i] / ms[j]):.0f} % "
                                               f"faster ({ms[i]:.4g} vs {ms[j]:.4g} ms)", recs[j]["key"]))
    return out


def median_se(cv: Any, n: Any) -> Any:
    """Relative standard error of a median from its samples' CV and count: 1.2533 · CV / √n."""
    return 1.2533 * cv / np.sqrt(n)


def _noise_gap(group: pd.DataFrame) -> np.ndarray:
    """(n, n) relative gap two rows' medians may show by noise alone: 2 × √(se_i² + se_j²), with
    se = 1.2533 · CV / √n (the standard error of a median); 0 where a table lacks ``cv``/``n``."""
    if "cv" not in group or "n" not in group:
        return np.zeros((len(group), len(group)))
    cv = pd.to_numeric(group["cv"], errors="coerce").fillna(0.0).to_numpy(float)
    n = np.maximum(pd.to_numeric(group["n"], errors="coerce").fillna(1).to_numpy(float), 1.0)
    se = median_se(np.clip(cv, 0.0, 1.0), n)
    return 2 * np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)


def cost_model_outliers(rows: pd.DataFrame, sigma: float = OUTLIER_SIGMA, min_rel: float = OUTLIER_MIN) -> list[Finding]:
    """Rows far from a robust log-linear fit of their kind's latency on its analytic costs."""
    out: list[Finding] = []
    for (kind, batch), group in rows.groupby(["kind", "batch"]):
        if len(group) < 8:
            continue
        recs = group.to_dict("records")
        X = np.log1p(np.array([block_features(key_from_row(r))[:3] for r in recs]))
        X = np.column_stack([X, np.ones(len(X))])
        y = np.log(group["median_ms"].to_numpy(float))
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        for _ in range(3):  # iteratively down-weight large residuals (a cheap robust fit)
            res = y - X @ coef
            scale = 1.4826 * np.median(np.abs(res - np.median(res))) or 1e-9
            w = 1.0 / np.maximum(1.0, np.abs(res) / (2 * scale))
            coef = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)[0]
        res = y - X @ coef
        scale = 1.4826 * np.median(np.abs(res - np.median(res))) or 1e-9
        for r, e in zip(recs, res):
            if abs(e) > sigma * scale and abs(np.expm1(e)) > min_rel:
                out.append(Finding(r["key"], f"{100 * np.expm1(e):+.0f} % from the {kind} cost model "
                                             f"({abs(e) / scale:.1f} robust sd)"))
    return out


def row_noise_reason(row: dict[str, Any], protocol: dict[str, Any] | None = None) -> str | None:
    """Why a stored row's median is too uncertain under the table's protocol (``ci_max``: the
    95 % CI's half-width, estimated from the row's CV and n as 1.96 · 1.2533 · CV / √n; or, for
    tables of protocols without it and rows of fewer than three samples, ``cv_threshold``), or None."""
    protocol = protocol or {}
    cv, n = float(row.get("cv") or 0.0), int(row.get("n") or 0)
    ci_max = float(protocol.get("ci_max") or 0.0)
    if ci_max > 0 and n >= 3:  # as Measurement.noise_reason: no CI of a median below three samples
        ci = 1.96 * median_se(cv, n)
        return noise_reason(cv, ci, n) if ci > ci_max else None
    return noise_reason(cv) if cv > float(protocol.get("cv_threshold", 0.10)) else None


def suspicious_rows(rows: pd.DataFrame, tolerance: float = TOLERANCE) -> list[Finding]:
    """Flagged rows, monotonicity violations and cost-model outliers (one finding per key and reason)."""
    found: list[Finding] = []
    if "flagged" in rows:
        for r in rows[rows["flagged"].fillna(False).astype(bool)].to_dict("records"):
            found.append(Finding(r["key"], r.get("flag_reason") if isinstance(r.get("flag_reason"), str)
                                 else noise_reason(r.get("cv", float("nan")))))
    found += monotonicity_violations(rows, tolerance)
    found += cost_model_outliers(rows)
    seen: set[tuple[str, str]] = set()
    unique = []
    for f in found:
        if (f.key, f.reason) not in seen:
            seen.add((f.key, f.reason))
            unique.append(f)
    return unique
