"""Measured per-operator breakdowns: profile a model on a device and sum its ops by category."""

from __future__ import annotations

from pathlib import Path

from lutnas.analysis.breakdown import Breakdown
from lutnas.devices.base import Device
from lutnas.profiler.protocol import Protocol
from lutnas.spaces.base import Spec


def measured_breakdown(device: Device, spec: Spec | str | Path, protocol: Protocol, op_runs: int = 10) -> Breakdown:
    """Per-operator profile of ``spec`` on ``device``; categories in ms per inference."""
    from lutnas.measure.target import breakdown_ms, measure_target

    m, records = measure_target(device, spec, protocol, ops=True, op_runs=op_runs)
    unclassified = sorted(((r.name, r.total_ms) for r in records if not r.classified), key=lambda x: -x[1])
    return Breakdown(device.label, breakdown_ms(records), "ms", unclassified=unclassified,
                     note=f"measured median {m.median_ms:.4g} ms; per-op sum {sum(r.total_ms for r in records):.4g} ms")
