"""How well predictions match measurements: within ±5/±10 %, MAPE, bias, rank correlation, scatter plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lutnas.spaces.base import Spec


def fidelity(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> dict[str, Any]:
    """Within ±5 % / ±10 %, MAPE, bias (mean signed error), Kendall τ and Spearman ρ of predictions
    against measurements; ``predicted_ms`` and ``measured_ms`` of shape (n_models,), ms."""
    from scipy import stats  # slow import: only when used
    p, m = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    err = (p - m) / m
    tau = stats.kendalltau(p, m).statistic if len(p) > 1 else float("nan")
    rho = stats.spearmanr(p, m).statistic if len(p) > 1 else float("nan")
    return {"n": int(len(p)), "within_5pct": float(np.mean(np.abs(err) <= 0.05)),
            "within_10pct": float(np.mean(np.abs(err) <= 0.10)), "mape": float(np.mean(np.abs(err))),
            "mean_error": float(np.mean(err)), "bias": float(np.mean(err)), "kendall_tau": float(tau),
            "spearman_rho": float(rho)}


def scatter_png(models: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Predicted vs measured scatter with the ±5 % band."""
    from lutnas.plots import figure, log_axes, save, set_title

    m = np.array([x["measured_ms"] for x in models])
    p = np.array([x["predicted_ms"] for x in models])
    fig, ax = figure((5, 5))
    lo, hi = float(min(m.min(), p.min())) * 0.9, float(max(m.max(), p.max())) * 1.1
    xs = np.linspace(lo, hi, 50)
    ax.plot(xs, xs, "k-", lw=1, label="y = x")
    ax.fill_between(xs, xs * 0.95, xs * 1.05, color="tab:green", alpha=0.15, label="±5 %")
    ax.scatter(m, p, s=14, color="tab:blue")
    log_axes(ax)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("LUT prediction (ms)")
    set_title(fig, ax, title)
    ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)


#: a validation with fewer held-out models than this gives figures, not a verdict
MIN_MODELS_FOR_VERDICT = 10
#: nor one whose own repeat error (the noise ceiling) is above this MAPE
MAX_CEILING_MAPE = 0.10


def noise_verdict(table: dict[str, Any], ceiling: dict[str, Any] | None) -> dict[str, Any]:
    """Whether the table predicts as well as re-measuring does (``at_ceiling``), is measurably worse,
    or whether the validation is too small or too noisy to say (``inconclusive``), with the reason."""
    if table["n"] < MIN_MODELS_FOR_VERDICT:
        return {"status": "inconclusive", "reason": f"{table['n']} held-out models are too few to judge a table "
                                                    f"(at least {MIN_MODELS_FOR_VERDICT})"}
    if ceiling is None:
        return {"status": "inconclusive", "reason": "each model was measured once: no noise ceiling to judge against"}
    if ceiling["mape"] > MAX_CEILING_MAPE:
        return {"status": "inconclusive", "reason": f"the host is too noisy: two measurements of the same model differ "
                                                    f"by {100 * ceiling['mape']:.1f} % on average"}
    ratio = table["mape"] / ceiling["mape"] if ceiling["mape"] > 0 else float("inf")
    bias_ok = abs(table["bias"]) <= max(0.01, ceiling["mape"] / 2)
    if ratio <= 1.1 and bias_ok:
        return {"status": "at_ceiling", "reason": f"MAPE {100 * table['mape']:.1f} % vs {100 * ceiling['mape']:.1f} % "
                                                  f"between two measurements; bias {100 * table['bias']:+.1f} %"}
    return {"status": "above_ceiling", "reason": f"MAPE {100 * table['mape']:.1f} % is {ratio:.2f}x the noise ceiling's "
                                                 f"{100 * ceiling['mape']:.1f} %; bias {100 * table['bias']:+.1f} %"}


def error_by_factor(specs: Sequence[Spec], predicted_ms: np.ndarray, measured_ms: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """Mean signed error, MAPE and count per value of each of the specs' factors (``Spec.factors``
    with 2–12 distinct values: depth, heads, width, image, patch, ...), so structured error shows."""
    err = np.asarray(predicted_ms, float) / np.asarray(measured_ms, float) - 1
    out: dict[str, list[dict[str, Any]]] = {}
    if not specs:
        return out
    factors = [s.factors() for s in specs]
    for name in factors[0]:
        values = [f.get(name) for f in factors]
        if not all(isinstance(v, (int, float)) for v in values):
            continue
        distinct = sorted(set(values))
        if not 2 <= len(distinct) <= 12:
            continue
        groups = []
        for v in distinct:
            mask = np.array([x == v for x in values])
            groups.append({"value": v, "n": int(mask.sum()), "bias": float(err[mask].mean()),
                           "mape": float(np.abs(err[mask]).mean())})
        out[name] = groups
    return out


def residual_png(models: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Relative error (prediction / measurement − 1, %) against measured latency, log x axis."""
    from lutnas.plots import figure, log_axes, save, set_title
    m = np.array([x["measured_ms"] for x in models])
    p = np.array([x["predicted_ms"] for x in models])
    e = 100 * (p / m - 1)
    # the bias line is the validation's own: the mean error over every measurement pass when stored
    per_run = [100 * (pi / np.asarray(x["measured_runs_ms"], float) - 1) for pi, x in zip(p, models)
               if x.get("measured_runs_ms")]
    bias = float(np.mean(np.concatenate(per_run))) if len(per_run) == len(models) else float(e.mean())
    fig, ax = figure((5, 3.4))
    ax.axhspan(-5, 5, color="tab:green", alpha=0.15, label="±5 %")
    ax.axhline(0, color="k", lw=1)
    ax.axhline(bias, color="tab:red", lw=1, ls="--", label=f"bias {bias:+.1f} %")
    ax.scatter(m, e, s=14, color="tab:blue")
    log_axes(ax, "x")
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("prediction error (%)")
    set_title(fig, ax, title)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)
