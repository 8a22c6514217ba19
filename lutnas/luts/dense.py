"""A dense grid of predictions for spaces with a finite product of factor values.

Searches ask for the same few thousand specs over and over. When a table's space has candidate
values per factor and their product is small (the 2,700-model ViT grid: 2,700 cells), every cell's
sum of blocks is computed once, vectorised, and a batch of specs becomes a gather: each factor
column is mapped to its candidate index by a lookup array, the indices are combined into one flat
index, and the answers are read out. Specs with a value outside the candidates (off-grid specs)
fall back to the block-by-block path, so answers never change — only their cost.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

#: the largest product of candidate counts worth precomputing (cells; 8 bytes + 1 byte each)
MAX_CELLS = 4_000_000
#: a grid holding invalid combinations is filled cell by cell only up to this size
MAX_CELLWISE = 20_000


class DenseGrid:
    """Precomputed raw latency (ms) and predicted-block flags over the product of ``values``.

    Parameters
    ----------
    values : mapping factor -> sorted candidate values
    compute : callable(columns) -> (raw_ms, predicted)
        The exact path, called once on every cell (in chunks).
    """

    def __init__(self, values: Mapping[str, Any], compute: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]],
                 chunk: int = 200_000) -> None:
        self.factors = list(values)
        self.values = [np.asarray(sorted(values[f])) for f in self.factors]
        self.shape = tuple(len(v) for v in self.values)
        n = int(np.prod(self.shape))
        self.raw = np.full(n, np.nan)
        self.predicted = np.zeros(n, dtype=bool)
        grids = np.unravel_index(np.arange(n), self.shape)
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            cols = {f: v[g[sl]] for f, v, g in zip(self.factors, self.values, grids)}
            with np.errstate(all="ignore"):
                try:
                    raw, pred = compute(cols)
                except Exception:  # a chunk holding invalid combinations: cell by cell, if small
                    if n > MAX_CELLWISE:
                        raise
                    raw, pred = self._cellwise(compute, cols)
            self.raw[sl], self.predicted[sl] = raw, pred
        self.strides = np.array([int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape))], np.int64)
        self._maps = [self._value_map(v) for v in self.values]

    @staticmethod
    def _cellwise(compute: Callable, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = len(next(iter(cols.values())))
        raw, pred = np.full(n, np.nan), np.zeros(n, dtype=bool)
        for i in range(n):
            try:
                r, p = compute({f: v[i:i + 1] for f, v in cols.items()})
                raw[i], pred[i] = r[0], p[0]
            except Exception:
                pass  # an invalid combination: it stays NaN and is answered by the exact path
        return raw, pred

    @staticmethod
    def _value_map(values: np.ndarray) -> tuple[np.ndarray, float, float] | None:
        """For integer candidates in a small range: an array value -> index (-1 elsewhere)."""
        if not np.all(np.equal(np.mod(values, 1), 0)) or values.max() - values.min() > 1 << 16:
            return None
        lo = int(values.min())
        table = np.full(int(values.max()) - lo + 1, -1, np.int64)
        table[values.astype(np.int64) - lo] = np.arange(len(values))
        return table, lo, float(values.max())

    def lookup(self, cols: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(raw_ms, predicted, off)`` for columns of specs; ``off`` marks specs the grid does not
        hold (a value outside the candidates, or an invalid cell) — their raw is NaN."""
        n = len(np.asarray(cols[self.factors[0]]))
        flat = np.zeros(n, np.int64)
        off = np.zeros(n, dtype=bool)
        for f, vals, vmap, stride in zip(self.factors, self.values, self._maps, self.strides):
            col = np.asarray(cols[f])
            if n and vmap is not None and col.dtype.kind in "iu" and col.min() >= vmap[1] and col.max() <= vmap[2]:
                idx = vmap[0][col - vmap[1]]  # the common case: a plain gather
            elif n and vmap is not None and col.dtype.kind in "iu":
                table, lo, hi = vmap
                inside = (col >= lo) & (col <= hi)
                idx = np.full(n, -1, np.int64)
                idx[inside] = table[col[inside] - lo]
            else:
                pos = np.clip(np.searchsorted(vals, col), 0, len(vals) - 1)
                idx = np.where(vals[pos] == col, pos, -1)
            flat += idx * stride
            off |= idx < 0
        raw = self.raw[np.maximum(flat, 0)]
        predicted = self.predicted[np.maximum(flat, 0)]
        off |= np.isnan(raw)
        if off.any():
            raw = np.where(off, np.nan, raw)
            predicted = predicted & ~off
        return raw, predicted, off
