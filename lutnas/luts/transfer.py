"""Transfer: a table for a new device from a few of its blocks and the tables a user already has.

The blocks to measure are chosen to be informative: spread over the blocks' analytic costs and
their latencies on the source devices (k-center greedy on standardised log features, one start
per block kind; each step takes the block farthest from those chosen per second it will take to
measure, as the sources took), or at random (the baseline). The rest are predicted from the source latencies
and the analytic features by the model that cross-validation over the measured blocks picks:

- ``ratio``: per kind, the median of target / source latency times the source latency;
- ``loglinear``: ridge regression of log latency on log source latencies, log costs and the kind;
- ``boosted``: gradient-boosted trees on the same features (cannot extrapolate; often wins on
  cache steps);
- ``gp``: a Gaussian process on the log ratio target / source around a ridge model of that ratio
  (anisotropic RBF plus a white-noise term, hyper-parameters by marginal likelihood): smooth in
  every feature, falls back to the ridge model far from measured blocks, and knows how far it is
  from them.

Every predicted row carries ``method = transferred`` and its ``uncertainty`` (relative, 1 σ): for
``gp`` the posterior standard deviation of that row, scaled so that the cross-validated errors have
unit variance; for the others the model's cross-validated relative error (root mean square), the
same for every row.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.luts.regressor import block_features
from lutnas.luts.table import LUT

if TYPE_CHECKING:
    from lutnas.spaces.blocks import BlockKey

STRATEGIES = ("kcenter", "random")
CANDIDATES = ("ratio", "loglinear", "boosted", "gp")
# measured blocks a candidate needs before cross-validation may pick it: a ratio per kind only where
# too few blocks fit anything else (with 11 blocks, leave-one-out picked it for 4 of 20 device pairs
# and it then erred by 48 % per row, twice the log-linear model); trees only from 30 blocks.
MIN_BLOCKS = {"ratio": 3, "loglinear": 3, "boosted": 30, "gp": 5}
#: fewer measured blocks than this and every model erred by 20-30 % per row (docs/benchmarks.md)
FEW_MEASURED = 30
MAX_BLOCKS = {"ratio": 9}


def source_latencies(sources: Sequence[LUT], keys: Sequence[BlockKey], batch: int = 1) -> np.ndarray:
    """Latency (ms) of each key on each source device, shape (n_keys, n_sources); a source lacking a
    block predicts it with its own unseen-block regressor."""
    return np.column_stack([src.lookup_keys(list(keys), batch)[0] for src in sources])


def features(keys: Sequence[BlockKey], source_ms: np.ndarray) -> np.ndarray:
    """Log source latencies, log costs (MACs, weight bytes, activation, attention-score and input
    elements) and a one-hot kind; shape (n_keys, n_sources + 5 + n_kinds)."""
    kinds = sorted({k.kind for k in keys})
    costs = np.log1p(np.array([block_features(k)[:5] for k in keys], float))
    onehot = np.array([[k.kind == kind for kind in kinds] for k in keys], float)
    return np.column_stack([np.log(np.maximum(source_ms, 1e-9)), costs, onehot])


def source_seconds(sources: Sequence[LUT], keys: Sequence[BlockKey], batch: int = 1) -> np.ndarray:
    """Seconds each key took to measure on the sources (their rows' ``measure_s``, mean over the
    sources that have it), shape (n_keys,); the median of the known ones where none has it."""
    per = []
    for src in sources:
        rows = src.rows
        if "measure_s" not in rows.columns:
            continue
        rows = rows[rows["batch"].astype(int) == batch] if "batch" in rows.columns else rows
        secs = dict(zip(rows["key"], np.asarray(rows["measure_s"], dtype=float)))
        per.append([secs.get(k.canonical(), np.nan) for k in keys])
    cost = np.array(per, float) if per else np.full((1, len(keys)), np.nan)
    with warnings.catch_warnings():  # keys no source timed: all-NaN columns
        warnings.simplefilter("ignore", category=RuntimeWarning)
        cost = np.nanmean(np.where(cost > 0, cost, np.nan), axis=0)
    known = cost[np.isfinite(cost)]
    return np.where(np.isfinite(cost), cost, float(np.median(known)) if len(known) else 1.0)


def select(keys: Sequence[BlockKey], X: np.ndarray, n: int, strategy: str = "kcenter", seed: int = 0,
           seconds: np.ndarray | None = None) -> list[int]:
    """Indices of ``n`` keys to measure. ``kcenter``: the key nearest each kind's centre first, then
    repeatedly the key farthest from everything chosen (standardised features), per second of
    measuring when ``seconds`` (shape (n_keys,), > 0) is given; ``random``: seeded."""
    if strategy not in STRATEGIES:
        raise InputError(f"transfer strategy {strategy!r} is not known; choose from {', '.join(STRATEGIES)}")
    n = max(1, min(n, len(keys)))
    rng = np.random.default_rng(seed)
    if strategy == "random":
        return sorted(rng.choice(len(keys), size=n, replace=False).tolist())
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    chosen: list[int] = []
    for kind in sorted({k.kind for k in keys}):
        idx = [i for i, k in enumerate(keys) if k.kind == kind]
        centre = Z[idx].mean(axis=0)
        chosen.append(idx[int(np.argmin(((Z[idx] - centre) ** 2).sum(axis=1)))])
    chosen = chosen[:n]
    dist = np.min(((Z[:, None, :] - Z[None, chosen, :]) ** 2).sum(axis=2), axis=1)
    per_second = np.ones(len(keys)) if seconds is None else np.maximum(np.asarray(seconds, float), 1e-6)
    while len(chosen) < n:
        i = int(np.argmax(dist / per_second))
        chosen.append(i)
        dist = np.minimum(dist, ((Z - Z[i]) ** 2).sum(axis=1))
    return sorted(chosen)


@dataclasses.dataclass
class TransferModel:
    """The model cross-validation picked, fitted on every measured block."""

    name: str
    cv_mape: dict[str, float]
    rel_error: float
    _model: Any = dataclasses.field(repr=False, default=None)
    _kinds: list[str] = dataclasses.field(repr=False, default_factory=list)
    std_scale: float = 1.0  # gp: cross-validated |log error| / posterior std, root mean square

    def predict(self, X: np.ndarray, source_ms: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
        return _predict(self.name, self._model, X, source_ms, kinds)

    def uncertainty(self, X: np.ndarray, source_ms: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
        """Relative 1-σ uncertainty of each prediction (``gp``: per row; else the CV error)."""
        if self.name != "gp":
            return np.full(len(X), self.rel_error)
        return np.expm1(self.std_scale * _gp_std(self._model, X))


def _fit(name: str, X: np.ndarray, y_ms: np.ndarray, source_ms: np.ndarray, kinds: Sequence[str]) -> Any:
    if name == "ratio":
        ratio = np.exp(np.log(y_ms)[:, None] - np.log(source_ms)).mean(axis=1)  # mean over sources (log space)
        by_kind = {k: float(np.median([r for r, kk in zip(ratio, kinds) if kk == k])) for k in set(kinds)}
        return {"by_kind": by_kind, "all": float(np.median(ratio))}
    if name == "loglinear":
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.logspace(-4, 2, 13)).fit(X, np.log(y_ms))
    if name == "gp":
        return _fit_gp(X, np.log(y_ms) - _log_source(source_ms))
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, min_samples_leaf=3).fit(X, np.log(y_ms))


def _log_source(source_ms: np.ndarray) -> np.ndarray:
    """Mean log latency over the sources, shape (n,)."""
    return np.log(np.maximum(source_ms, 1e-9)).mean(axis=1)


def _fit_gp(X: np.ndarray, log_ratio: np.ndarray) -> dict[str, Any]:
    """The log ratio as a ridge model on standardised features plus a Gaussian process on its
    residuals."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    kernel = (ConstantKernel(0.1, (1e-4, 10.0)) * RBF(np.full(X.shape[1], 3.0), (0.1, 100.0))
              + WhiteKernel(0.01, (1e-5, 1.0)))
    from sklearn.linear_model import RidgeCV

    Z = (X - mu) / sd
    mean = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(Z, log_ratio)
    with warnings.catch_warnings():  # a length scale at its bound: that feature does not matter
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        gp = GaussianProcessRegressor(kernel, n_restarts_optimizer=1, random_state=0).fit(Z, log_ratio - mean.predict(Z))
    return {"gp": gp, "mu": mu, "sd": sd, "mean": mean}


def _gp_std(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Posterior standard deviation of the log ratio (white noise included), shape (n,)."""
    return model["gp"].predict((X - model["mu"]) / model["sd"], return_std=True)[1]


def _predict(name: str, model: Any, X: np.ndarray, source_ms: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    if name == "ratio":
        geo = np.exp(_log_source(source_ms))
        return geo * np.array([model["by_kind"].get(k, model["all"]) for k in kinds])
    if name == "gp":
        Z = (X - model["mu"]) / model["sd"]
        return np.exp(_log_source(source_ms) + model["mean"].predict(Z) + model["gp"].predict(Z))
    return np.exp(model.predict(X))


def fit_transfer(X: np.ndarray, y_ms: np.ndarray, source_ms: np.ndarray, kinds: Sequence[str],
                 candidates: Sequence[str] = CANDIDATES, seed: int = 0) -> TransferModel:
    """Pick the candidate with the lowest cross-validated MAPE (5-fold, or leave-one-out below 10
    measured blocks) among those suited to the number of measured blocks (``MIN_BLOCKS``,
    ``MAX_BLOCKS``) and fit it on all measured blocks."""
    from sklearn.model_selection import KFold

    y_ms = np.asarray(y_ms, float)
    n = len(y_ms)
    if n < 3:
        raise InputError(f"transfer needs at least 3 measured blocks to fit a model; got {n}")
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown:
        raise InputError(f"transfer model {unknown[0]!r} is not known; choose from {', '.join(CANDIDATES)}")
    kinds = list(kinds)
    folds = KFold(n_splits=min(5, n) if n >= 10 else n, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    rel: dict[str, float] = {}
    z: dict[str, float] = {}
    suited = [c for c in candidates if MIN_BLOCKS[c] <= n <= MAX_BLOCKS.get(c, n)] or list(candidates)
    for name in suited:
        errs, zs = np.full(n, np.nan), np.full(n, np.nan)
        for tr, te in folds.split(X):
            model = _fit(name, X[tr], y_ms[tr], source_ms[tr], [kinds[i] for i in tr])
            pred = _predict(name, model, X[te], source_ms[te], [kinds[i] for i in te])
            errs[te] = pred / y_ms[te] - 1
            if name == "gp":
                zs[te] = np.log(pred / y_ms[te]) / _gp_std(model, X[te])
        scores[name] = float(np.nanmean(np.abs(errs)))
        rel[name] = float(np.sqrt(np.nanmean(errs ** 2)))
        z[name] = float(np.sqrt(np.nanmean(zs ** 2))) if name == "gp" else 1.0
    best = min(scores, key=scores.get)
    return TransferModel(best, scores, rel[best], _fit(best, X, y_ms, source_ms, kinds), sorted(set(kinds)), z[best])


def predicted_rows(keys: Sequence[BlockKey], X: np.ndarray, source_ms: np.ndarray, measured: dict[str, dict[str, Any]],
                   device: str, protocol: str, batch: int = 1, seed: int = 0,
                   candidates: Sequence[str] = CANDIDATES) -> tuple[list[dict[str, Any]], TransferModel]:
    """LUT rows (``method = transferred``, with ``uncertainty``) for every key not in ``measured``
    (canonical key -> measured row), from the model fitted on the measured ones."""
    import datetime as _dt

    kinds = [k.kind for k in keys]
    idx = [i for i, k in enumerate(keys) if k.canonical() in measured]
    y = np.array([measured[keys[i].canonical()]["median_ms"] for i in idx], float)
    model = fit_transfer(X[idx], y, source_ms[idx], [kinds[i] for i in idx], candidates, seed)
    rest = [i for i in range(len(keys)) if keys[i].canonical() not in measured]
    rest_kinds = [kinds[i] for i in rest]
    pred = model.predict(X[rest], source_ms[rest], rest_kinds) if rest else np.array([])
    unc = model.uncertainty(X[rest], source_ms[rest], rest_kinds) if rest else np.array([])
    now = _dt.datetime.now(_dt.timezone.utc)
    rows = [{"device": device, "kind": keys[i].kind, "key": keys[i].canonical(), **keys[i].fields(), "batch": batch,
             "copies": None, "method": "transferred", "median_ms": float(ms), "mean_ms": float(ms),
             "p10_ms": float(ms * max(0.0, 1 - 1.2816 * u)), "p90_ms": float(ms * (1 + 1.2816 * u)),
             "std_ms": float(ms * u), "cv": float(u), "n": 0, "flagged": False, "uncertainty": float(u),
             "protocol": protocol, "timestamp": now}
            for i, ms, u in zip(rest, pred, unc)]
    return rows, model


def uncertainty_margin(lut: LUT, k: float = 2.0, n_specs: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The budget factor for ``search --margin auto`` on a table with transferred rows and no stored
    validation: ``1 − k·σ``, σ the 90th percentile over up to ``n_specs`` of the space's specs of
    each spec's relative uncertainty Σ count·ms·u / Σ count·ms (the rows' errors taken as fully
    correlated — one model fitted them all; measured rows count as exact). Capped to [0.5, 1]."""
    import pandas as pd

    rows = lut.rows
    if "uncertainty" not in rows.columns or not (rows.get("method") == "transferred").any():
        raise InputError("the table has no transferred rows to derive a margin from")
    space = lut.space()
    if space is None:
        raise InputError("the table names no space")
    specs = space.sample(n_specs, seed) if space.size > n_specs else space.grid()
    u = np.where(rows["method"] == "transferred", pd.to_numeric(rows["uncertainty"], errors="coerce").fillna(0.0), 0.0)
    bare = {key: v for key, v in lut.meta.items() if key not in ("context", "calibration")}  # Σ rows × counts only
    spread = LUT(rows.assign(median_ms=rows["median_ms"].to_numpy(float) * u), bare)
    plain = LUT(rows, bare)
    rel = spread.predict(specs).raw_ms / plain.predict(specs).raw_ms
    sigma = float(np.nanquantile(rel, 0.9))
    return {"method": "transfer_uncertainty", "k": k, "sigma_p90": sigma, "specs": len(specs),
            "factor": float(min(1.0, max(0.5, 1.0 - k * sigma)))}
