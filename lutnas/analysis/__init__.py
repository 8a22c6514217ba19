"""Breakdowns and their distances, Kendall-τ matrices with confidence intervals, fidelity, Pareto
fronts, plots — from tables and records; nothing here measures on a device."""

from lutnas.analysis.breakdown import (
    Breakdown, cosine_distances, file_breakdown, flops_breakdown, lut_breakdown, stacked_bar_png,
)
from lutnas.analysis.fidelity import fidelity, scatter_png
from lutnas.analysis.pareto import pareto_mask, pareto_png
from lutnas.analysis.rank import RankMatrix, heatmap_png, kendall_matrix

__all__ = ["Breakdown", "RankMatrix", "cosine_distances", "fidelity", "file_breakdown", "flops_breakdown",
           "heatmap_png", "kendall_matrix", "lut_breakdown", "pareto_mask", "pareto_png", "scatter_png",
           "stacked_bar_png"]
