"""Pareto fronts: lowest cost for highest score."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pareto_mask(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """True for points no other point beats (cost ≤ and score ≥, one strictly). Shape (n,)."""
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    order = np.lexsort((-score, cost))
    mask = np.zeros(len(cost), bool)
    best = -np.inf
    for i in order:
        if score[i] > best:
            mask[i] = True
            best = score[i]
    return mask


def pareto_png(cost: np.ndarray, score: np.ndarray, path: str | Path, xlabel: str = "latency (ms)",
               ylabel: str = "score", title: str = "") -> Path:
    from lutnas.plots import figure, save, set_title

    mask = pareto_mask(cost, score)
    fig, ax = figure((5, 4))
    ax.scatter(cost, score, s=8, color="0.7", label="evaluated")
    o = np.argsort(np.asarray(cost)[mask])
    ax.plot(np.asarray(cost)[mask][o], np.asarray(score)[mask][o], "o-", color="tab:red", ms=4, label="Pareto front")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    set_title(fig, ax, title)
    ax.legend(fontsize=8)
    return save(fig, path)
