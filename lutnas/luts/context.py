"""The cache context of a block inside a model: what a row timed in isolation does not see.

A row is a block timed with ``copies`` distinct weight copies per call (a working set of
``copies × w`` bytes). Inside a model the same block streams its weights with every other
layer's: the working set is the model's whole weight set ``F``. Measured on this project's
2-core host (torch-cpu, 1 thread): a 65-token encoder of width 192 took 0.62 ms per block with
8 MiB of weights per call and 0.70 ms with 24–48 MiB; chaining exactly a model's ``d`` copies
reproduced the whole model within 1–3 %, where the 8-copy rows under-predicted it by 5–20 %.

The context curve ``e(F)`` is the extra time per MiB of a block's weights when the working set is
``F`` rather than the block's own weights alone (ms/MiB; 0 for a working set that fits, rising
through the cache sizes, flat beyond the largest footprint probed). It is measured once per
device (:func:`lutnas.measure.probe_context`) and stored in the table's metadata; predictions
then read

    model = Σ count × (row − w × e(copies × w)) + F × e(F)

the first term the blocks' times with their weights cached ("hot"), the second what streaming the
model's weight set of ``F`` MiB adds. A table without a curve predicts as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from lutnas.errors import InputError

MIB = float(1 << 20)
#: the working set ``copies="auto"`` builds rows with (``lutnas.models.auto_copies``): the
#: footprint assumed for a row the regressor predicts (it learnt from rows built that way)
AUTO_FOOTPRINT_MIB = 8.0


@dataclasses.dataclass(frozen=True)
class ContextCurve:
    """``e(F)``: knots ``footprints_mib`` (ascending) and ``extra_ms_per_mib`` (non-decreasing, ≥ 0);
    log-linear between knots, 0 below the first, the last value beyond the last."""

    footprints_mib: tuple[float, ...]
    extra_ms_per_mib: tuple[float, ...]

    def __post_init__(self) -> None:
        f, e = np.asarray(self.footprints_mib, float), np.asarray(self.extra_ms_per_mib, float)
        if len(f) < 2 or len(f) != len(e):
            raise InputError(f"a context curve needs two or more knots of (footprint, extra); got {len(f)} and {len(e)}")
        if not (np.all(np.isfinite(f)) and np.all(f > 0) and np.all(np.diff(f) > 0)):
            raise InputError(f"context footprints must be positive and ascending; got {list(f)}")
        if not (np.all(np.isfinite(e)) and np.all(e >= 0) and np.all(np.diff(e) >= 0)):
            raise InputError(f"context extras must be non-negative and non-decreasing; got {list(e)}")

    def per_mib(self, footprint_mib: np.ndarray | float) -> np.ndarray:
        """Extra ms per MiB of a block's weights at working set ``footprint_mib`` (array-wise)."""
        f = np.log2(np.maximum(np.asarray(footprint_mib, float), 1e-12))
        return np.interp(f, np.log2(self.footprints_mib), self.extra_ms_per_mib, left=0.0, right=self.extra_ms_per_mib[-1])

    def model_ms(self, weights_mib: np.ndarray | float) -> np.ndarray:
        """What a model with ``weights_mib`` of weights adds by streaming them: ``F × e(F)`` in ms."""
        w = np.asarray(weights_mib, float)
        return w * self.per_mib(w)

    def row_offset_ms(self, weight_mib: np.ndarray | float, copies: np.ndarray | float) -> np.ndarray:
        """What a row timed with ``copies`` copies of ``weight_mib`` carries of its context: ``w × e(copies × w)``."""
        w = np.asarray(weight_mib, float)
        return w * self.per_mib(w * np.asarray(copies, float))

    def to_dict(self) -> dict[str, Any]:
        return {"footprints_mib": [float(x) for x in self.footprints_mib],
                "extra_ms_per_mib": [float(x) for x in self.extra_ms_per_mib]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContextCurve:
        try:
            return cls(tuple(float(x) for x in d["footprints_mib"]), tuple(float(x) for x in d["extra_ms_per_mib"]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"a stored context curve lacks {exc}: rerun `lutnas lut context`") from None


def fit_curve(points: Sequence[tuple[float, float, float]]) -> ContextCurve:
    """The curve through probe measurements ``(own_mib, footprint_mib, extra_ms_per_mib)``.

    Each point is one probe block: its extra time per MiB of weights at a working set of
    ``footprint_mib`` over the same block timed alone (``own_mib``: one copy). Points are grouped by
    footprint (rounded to a quarter octave) and the median of each group is a knot; a first knot of 0
    sits at the smallest probe's own weights; the knots are made non-decreasing (a larger working set
    never runs faster: a dip is noise) and clipped at 0.
    """
    pts = [(float(o), float(f), float(x)) for o, f, x in points if f > o > 0 and np.isfinite(x)]
    if not pts:
        raise InputError("no probe measurement above its block's own weights: cannot fit a context curve")
    groups: dict[float, list[tuple[float, float]]] = {}
    for _, f, x in pts:
        groups.setdefault(round(4 * np.log2(f)) / 4, []).append((f, x))
    knots_f = [float(np.exp2(np.median(np.log2([f for f, _ in g])))) for _, g in sorted(groups.items())]
    knots_e = [max(0.0, float(np.median([x for _, x in g]))) for _, g in sorted(groups.items())]
    start = min(o for o, _, _ in pts)
    if start < knots_f[0]:
        knots_f, knots_e = [start, *knots_f], [0.0, *knots_e]
    return ContextCurve(tuple(knots_f), tuple(np.maximum.accumulate(knots_e).tolist()))
