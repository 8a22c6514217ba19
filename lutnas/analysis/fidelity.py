"""How well predictions match measurements: within ±5/±10 %, MAPE, bias, rank correlation, scatter plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def fidelity(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> dict[str, Any]:
    """Within ±5 % / ±10 %, MAPE, Kendall τ and Spearman ρ of predictions against measurements."""
    from scipy import stats  # slow import: only when used
    p, m = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    err = (p - m) / m
    tau = stats.kendalltau(p, m).statistic if len(p) > 1 else float("nan")
    rho = stats.spearmanr(p, m).statistic if len(p) > 1 else float("nan")
    return {"n": int(len(p)), "within_5pct": float(np.mean(np.abs(err) <= 0.05)),
            "within_10pct": float(np.mean(np.abs(err) <= 0.10)), "mape": float(np.mean(np.abs(err))),
            "mean_error": float(np.mean(err)), "kendall_tau": float(tau), "spearman_rho": float(rho)}


def scatter_png(models: list[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Predicted vs measured scatter with the ±5 % band."""
    from lutnas.plots import log_axes, pyplot, save, set_title

    plt = pyplot()

    m = np.array([x["measured_ms"] for x in models])
    p = np.array([x["predicted_ms"] for x in models])
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    lo, hi = float(min(m.min(), p.min())) * 0.9, float(max(m.max(), p.max())) * 1.1
    xs = np.linspace(lo, hi, 50)
    ax.plot(xs, xs, "k-", lw=1, label="y = x")
    ax.fill_between(xs, xs * 0.95, xs * 1.05, color="tab:green", alpha=0.15, label="±5 %")
    ax.scatter(m, p, s=14, color="tab:blue")
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_axes(ax)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("LUT prediction (ms)")
    set_title(fig, ax, title)
    ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)
