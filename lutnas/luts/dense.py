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
#: a factor's part of the flat index for a value off its candidates: any sum holding one is negative
INVALID = -(1 << 40)


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
        self._maps = [self._value_map(v, int(st)) for v, st in zip(self.values, self.strides)]

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
    def _value_map(values: np.ndarray, stride: int) -> np.ndarray | None:
        """For positive integer candidates up to 2**16: an array ``value -> index × stride``, every other
        entry (0, the gaps, one past the largest candidate) :data:`INVALID`; with ``take(mode="clip")``
        any integer column maps in one gather (a value off the candidates gives ``INVALID``)."""
        if not np.all(np.equal(np.mod(values, 1), 0)) or values.min() < 1 or values.max() > 1 << 16:
            return None
        table = np.full(int(values.max()) + 2, INVALID, np.int64)
        table[values.astype(np.int64)] = np.arange(len(values), dtype=np.int64) * stride
        return table

    def lookup(self, cols: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(raw_ms, predicted, off)`` for columns of specs; ``off`` marks specs the grid does not
        hold (a value outside the candidates, or an invalid cell) — their raw is NaN."""
        n = len(np.asarray(cols[self.factors[0]]))
        flat = np.zeros(n, np.int64)
        for f, vals, table, stride in zip(self.factors, self.values, self._maps, self.strides):
            col = np.asarray(cols[f])
            if table is not None and col.dtype.kind in "iu":
                flat += table.take(col, mode="clip")  # the common case: one gather per factor
            else:
                pos = np.clip(np.searchsorted(vals, col), 0, len(vals) - 1)
                flat += np.where(vals[pos] == col, pos * stride, INVALID)
        off = flat < 0  # a factor off its candidates made the flat index negative
        if off.any():
            flat[off] = 0
        raw = self.raw.take(flat)
        predicted = self.predicted.take(flat)
        off |= np.isnan(raw)
        if off.any():
            raw[off] = np.nan
            predicted &= ~off
        return raw, predicted, off
