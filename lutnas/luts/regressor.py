"""Predicting blocks a table does not hold (off-grid specs, skipped rows).

Per block kind, a scikit-learn regressor is fitted on the table's own rows. Features come from
the block's dimensions through the analytic cost model: multiply-adds, weight bytes, activation
elements, attention-score elements, and the raw dimensions. Two candidates are compared by 5-fold
cross-validated MAPE on the table's rows and the better one is kept: a non-negative linear model
(latency ≈ Σ cost_i × time per unit; extrapolates sensibly) and gradient-boosted trees on log
features (captures cache steps, cannot extrapolate). The held-out error is reported by
``lutnas lut show``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lutnas.spaces.base import BlockKey
from lutnas.spaces.blocks import key_from_fields


def block_features(key: BlockKey) -> list[float]:
    """Multiply-adds, weight bytes, activation, attention-score and input elements (and a bias
    term) of one block, from the key's own analytic cost model."""
    act = float(key.activations())
    return [float(key.macs()), float(key.weight_bytes()), act, float(key.attention_elements()),
            float(key.input_elements()), 1.0]


class BlockRegressor:
    """One fitted model per block kind; ``predict(keys) -> ms``."""

    def __init__(self, min_rows: int = 4) -> None:
        self.min_rows = min_rows
        self.models_: dict[str, Any] = {}
        self.errors_: dict[str, dict[str, float]] = {}

    def fit(self, keys: list[BlockKey], ms: np.ndarray) -> BlockRegressor:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import KFold

        ms = np.asarray(ms, dtype=float)
        by_kind: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            by_kind.setdefault(k.kind, []).append(i)
        for kind, idx in by_kind.items():
            X = np.array([block_features(keys[i]) for i in idx])
            y = ms[idx]
            if len(idx) < self.min_rows:  # too few rows to cross-validate: scale by cost
                ratio = float(np.mean(y / _cost(X)))
                self.models_[kind] = ("scaled", ratio)
                self.errors_[kind] = {"model": "scaled", "cv_mape": float("nan"), "rows": len(idx)}
                continue
            candidates = {
                "linear": lambda: LinearRegression(positive=True, fit_intercept=False),
                "boosted": lambda: HistGradientBoostingRegressor(max_iter=200, learning_rate=0.1, min_samples_leaf=3),
            }
            scores = {}
            folds = KFold(n_splits=min(5, len(idx)), shuffle=True, random_state=0)
            for name, make in candidates.items():
                errs = []
                for tr, te in folds.split(X):
                    model = make().fit(*_xy(name, X[tr], y[tr]))
                    pred = _out(name, model.predict(_x(name, X[te])))
                    errs.extend(np.abs(pred - y[te]) / y[te])
                scores[name] = float(np.mean(errs))
            best = min(scores, key=scores.get)
            self.models_[kind] = (best, candidates[best]().fit(*_xy(best, X, y)))
            self.errors_[kind] = {"model": best, "cv_mape": scores[best], "rows": len(idx),
                                  **{f"cv_mape_{k}": v for k, v in scores.items()}}
        return self

    def can_predict(self, kind: str) -> bool:
        return kind in self.models_

    def predict(self, keys: list[BlockKey]) -> np.ndarray:
        out = np.full(len(keys), np.nan)
        for i, k in enumerate(keys):
            if k.kind in self.models_:
                name, model = self.models_[k.kind]
                if name == "scaled":
                    out[i] = model * float(_cost(np.array([block_features(k)]))[0])
                    continue
                out[i] = max(1e-6, float(_out(name, model.predict(_x(name, np.array([block_features(k)])))[0])))
        return out


def _cost(X: np.ndarray) -> np.ndarray:
    """A crude single cost: multiply-adds plus weight and activation traffic (elements)."""
    return X[:, 0] + X[:, 1] / 4 + X[:, 2] + X[:, 4] + 1.0


def _x(name: str, X: np.ndarray) -> np.ndarray:
    return np.log1p(X[:, :5]) if name == "boosted" else X


def _xy(name: str, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _x(name, X), (np.log(y) if name == "boosted" else y)


def _out(name: str, pred: np.ndarray) -> np.ndarray:
    return np.exp(pred) if name == "boosted" else pred


def key_from_row(row: dict[str, Any]) -> BlockKey:
    """The block key a LUT row stores (its ``kind`` and that kind's field columns)."""
    return key_from_fields(row["kind"], row)
