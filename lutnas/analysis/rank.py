"""Kendall τ-b between cost columns over a set of models, with bootstrap CIs, p-values and a noise ceiling."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd


@dataclasses.dataclass
class RankMatrix:
    """τ-b matrix over ``n`` models; every matrix is (k, k) in ``columns`` order."""

    columns: list[str]
    tau: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    n: int
    noise_ceiling: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "tau": self.tau.tolist(), "ci_low": self.ci_low.tolist(),
                "ci_high": self.ci_high.tolist(), "p_value": self.p_value.tolist(), "n": self.n,
                "noise_ceiling": self.noise_ceiling}


def kendall_matrix(table: pd.DataFrame, columns: Sequence[str] | None = None, bootstrap: int = 1000,
                   seed: int = 0, confidence: float = 0.95) -> RankMatrix:
    """Kendall τ-b (ties handled, scipy's default variant) for every pair of ``columns``.

    CI: percentile bootstrap over models (rows resampled with replacement, ``bootstrap`` times).
    """
    from scipy import stats  # slow import: only when used
    cols = list(columns or table.columns)
    X = table[cols].to_numpy(dtype=float)
    if np.isnan(X).any():
        X = X[~np.isnan(X).any(axis=1)]
    n, k = X.shape
    tau = np.eye(k)
    p = np.zeros((k, k))
    lo, hi = np.eye(k), np.eye(k)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(bootstrap, n)) if bootstrap and n > 2 else None
    alpha = (1 - confidence) / 2
    for i in range(k):
        for j in range(i + 1, k):
            res = stats.kendalltau(X[:, i], X[:, j], variant="b")
            tau[i, j] = tau[j, i] = res.statistic
            p[i, j] = p[j, i] = res.pvalue
            if idx is not None:
                boots = np.array([stats.kendalltau(X[b, i], X[b, j], variant="b").statistic for b in idx])
                boots = boots[np.isfinite(boots)]
                lo[i, j] = lo[j, i] = np.quantile(boots, alpha)
                hi[i, j] = hi[j, i] = np.quantile(boots, 1 - alpha)
            else:
                lo[i, j] = lo[j, i] = hi[i, j] = hi[j, i] = np.nan
    return RankMatrix(cols, tau, lo, hi, p, n)


def heatmap_png(matrix: RankMatrix, path: str | Path, title: str = "") -> Path:
    from lutnas.plots import figure, save, set_title

    k = len(matrix.columns)
    fig, ax = figure((1.5 + 1.1 * k, 1.2 + 1.0 * k))
    im = ax.imshow(matrix.tau, vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{matrix.tau[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(k), matrix.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(k), matrix.columns, fontsize=8)
    set_title(fig, ax, title or f"Kendall τ-b over {matrix.n} models")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save(fig, path)
