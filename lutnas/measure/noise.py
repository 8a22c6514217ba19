"""The noise ceiling: Kendall τ between two measurements of the same models on the same device."""

from __future__ import annotations

from typing import Any, Sequence



def noise_ceiling(device: Any, specs: Sequence[Any], protocol: Any) -> dict[str, Any]:
    """Measure every spec twice (two passes, so drift between passes counts) and rank-correlate."""
    from scipy import stats  # slow import: only when used
    from lutnas.measure.validate import measure_models

    first = measure_models(device, specs, protocol)
    second = measure_models(device, specs, protocol)
    tau = stats.kendalltau(first, second, variant="b").statistic
    return {"device": device.label, "n": len(specs), "tau": float(tau),
            "median_change": float(abs(second / first - 1).mean())}
