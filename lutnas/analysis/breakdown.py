"""Per-category breakdowns of one model: measured on devices, from FLOPs, from a LUT, or from a
tool's output file; cosine distances between them; a stacked-bar plot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from lutnas.categories import CATEGORIES, column_name
from lutnas.errors import InputError
from lutnas.spaces.base import Spec

if TYPE_CHECKING:
    from lutnas.luts.table import LUT


@dataclasses.dataclass
class Breakdown:
    """Cost per category of one model on one source.

    ``values`` : category -> cost in ``unit`` (ms, or GFLOPs for the FLOPs source), all 7 keys.
    ``unclassified`` : (operator name, cost) pairs that landed in Others because no rule knew them.
    """

    source: str
    values: dict[str, float]
    unit: str = "ms"
    total: float | None = None
    unclassified: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        self.values = {c: float(self.values.get(c, 0.0)) for c in CATEGORIES}
        if self.total is None:
            self.total = sum(self.values.values())

    @property
    def percent(self) -> dict[str, float]:
        s = sum(self.values.values())
        return {c: (100 * v / s if s else 0.0) for c, v in self.values.items()}

    def vector(self) -> np.ndarray:
        """Shares as a vector in CATEGORIES order (sums to 1)."""
        v = np.array([self.values[c] for c in CATEGORIES], float)
        return v / v.sum() if v.sum() > 0 else v

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "unit": self.unit, "total": self.total, "values": self.values,
                "percent": self.percent, "unclassified": [{"name": n, "value": v} for n, v in self.unclassified],
                "unclassified_share": (sum(v for _, v in self.unclassified) / self.total) if self.total else 0.0,
                "note": self.note}


def flops_breakdown(spec: Spec) -> Breakdown:
    """GFLOPs (multiply-adds) per category from the analytic count; LN/softmax/data movement are 0."""
    macs = spec.macs_by_category()
    return Breakdown("FLOPs", {k: v / 1e9 for k, v in macs.items()}, unit="GFLOPs",
                     note="multiply-adds counted once; LayerNorm, softmax, GELU and data movement are not counted")


def file_breakdown(path: str | Path, tool: str = "auto") -> Breakdown:
    """Breakdown from a tool output lutnas parses (benchmark_model log, trtexec profile, torch trace...)."""
    from lutnas.profiler.parsers import parse_file

    result = parse_file(path, tool)
    if not result.ops:
        raise InputError(f"{path}: {result.tool} output has no per-operator rows to break down")
    unclassified = sorted(((op.name, op.avg_ms) for op in result.unclassified()), key=lambda x: -x[1])
    return Breakdown(f"{Path(path).name} ({result.tool})", result.breakdown(), "ms", unclassified=unclassified)


def lut_breakdown(lut: LUT, spec: Spec) -> Breakdown:
    """Breakdown predicted from a LUT's category columns: Σ over blocks of cat_ms × count."""
    rows = lut.rows.set_index("key")
    values = {c: 0.0 for c in CATEGORIES}
    for key, count in lut.parts(spec):
        k = key.canonical()
        if k not in rows.index:
            raise InputError(f"LUT {lut.path} lacks block {k}; cannot break {spec.canonical()} down from it")
        row = rows.loc[k]
        col = column_name(CATEGORIES[0])
        if col not in row or row[col] != row[col]:  # NaN: built with --no-ops
            raise InputError(f"LUT {lut.path} has no category columns (built with --no-ops)")
        for c in CATEGORIES:
            values[c] += float(row[column_name(c)]) * count
    return Breakdown(f"{lut.device} (LUT)", values, "ms")


def cosine_distances(breakdowns: Sequence[Breakdown]) -> np.ndarray:
    """Matrix of 1 − cos(shares_i, shares_j); 0 for identical breakdowns. Shape (n, n)."""
    V = np.array([b.vector() for b in breakdowns])
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    U = np.divide(V, norms, out=np.zeros_like(V), where=norms > 0)
    D = np.clip(1.0 - U @ U.T, 0.0, 2.0)
    D[np.abs(D) < 1e-12] = 0.0
    np.fill_diagonal(D, 0.0)
    return D


def stacked_bar_png(breakdowns: Sequence[Breakdown], path: str | Path, title: str = "") -> Path:
    """One stacked bar (percent per category) per source."""
    from lutnas.plots import colors as palette, figure, save, set_title

    fig, ax = figure((1.6 + 1.3 * len(breakdowns), 4.2))
    bottoms = np.zeros(len(breakdowns))
    colors = palette("tab10")
    for i, c in enumerate(CATEGORIES):
        vals = np.array([b.percent[c] for b in breakdowns])
        ax.bar(range(len(breakdowns)), vals, bottom=bottoms, label=c, color=colors[i % 10])
        bottoms += vals
    ax.set_xticks(range(len(breakdowns)), [b.source for b in breakdowns], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("% of cost")
    ax.set_ylim(0, 100)
    set_title(fig, ax, title)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return save(fig, path)
