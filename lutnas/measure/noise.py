"""The noise ceiling: Kendall τ between two measurements of the same models on the same device."""

from __future__ import annotations

from typing import Any, Sequence


from lutnas.devices.base import Device
from lutnas.profiler.protocol import Protocol
from lutnas.spaces.base import Spec


def noise_ceiling(device: Device, specs: Sequence[Spec], protocol: Protocol) -> dict[str, Any]:
    """Measure every spec twice (two passes, so drift between passes counts) and rank-correlate."""
    from scipy import stats  # slow import: only when used
    from lutnas.measure.validate import measure_models

    first = measure_models(device, specs, protocol)
    second = measure_models(device, specs, protocol)
    tau = stats.kendalltau(first, second, variant="b").statistic
    return {"device": device.label, "n": len(specs), "tau": float(tau),
            "median_change": float(abs(second / first - 1).mean())}
