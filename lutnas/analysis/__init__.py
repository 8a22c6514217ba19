"""Breakdowns and their distances, Kendall-τ matrices with confidence intervals, Pareto fronts, plots."""

from lutnas.analysis.breakdown import (
    Breakdown, cosine_distances, file_breakdown, flops_breakdown, lut_breakdown, measured_breakdown, stacked_bar_png,
)
from lutnas.analysis.pareto import pareto_mask, pareto_png
from lutnas.analysis.rank import RankMatrix, heatmap_png, kendall_matrix

__all__ = ["Breakdown", "RankMatrix", "cosine_distances", "file_breakdown", "flops_breakdown", "heatmap_png",
           "kendall_matrix", "lut_breakdown", "measured_breakdown", "pareto_mask", "pareto_png", "stacked_bar_png"]
