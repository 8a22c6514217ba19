"""Measure a block key or a full spec on a device: build, prepare, time, optionally profile ops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lutnas.devices.base import Device, Reference
from lutnas.errors import InputError
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol
from lutnas.profiler.records import OpRecord, breakdown_ms
from lutnas.spaces.base import BlockKey, Spec


def is_model_file(name: Any) -> bool:
    """A user's model: a ``.tflite`` file or a TensorFlow SavedModel folder (not a spec string)."""
    if isinstance(name, Path):
        return True
    return isinstance(name, str) and (name.endswith(".tflite") or Path(name, "saved_model.pb").exists())


def prepare_target(device: Device, target: BlockKey | Spec | str | Path, batch: int = 1, attention: str = "timm", seed: int = 0):
    """Build the module for a block key or spec and let the device prepare it; a model file
    (``.tflite``, SavedModel folder) goes to the device's ``prepare_file``."""
    from lutnas.models import build_block, build_model, model_input  # torch: only when something is built

    if is_model_file(target):
        if not hasattr(device, "prepare_file"):
            raise InputError(f"device {device.label!r} cannot run a model file; tflite-cpu and adb:* take .tflite files")
        return device.prepare_file(target)
    if isinstance(target, BlockKey):
        module, example = build_block(target, batch=batch, attention=attention, seed=seed)
    elif isinstance(target, Spec):
        module, example = build_model(target, attention=attention, seed=seed), model_input(target, batch, seed)
    else:
        raise InputError(f"cannot measure {target!r}: expected a block key or a spec")
    return device.prepare(module, example)


def measure_target(device: Device, target: BlockKey | Spec | str | Path, protocol: Protocol, batch: int = 1,
                   attention: str = "timm", ops: bool = False, op_runs: int = 10,
                   reference: Reference | None = None) -> tuple[Measurement, list[OpRecord]]:
    """``(Measurement, op records)`` of one block or model; op records empty unless ``ops``;
    timed paired against ``reference`` when given (see :meth:`Device.measure`)."""
    artifact = prepare_target(device, target, batch, attention)
    label = str(target) if is_model_file(target) else target.canonical()
    measurement = device.measure(artifact, protocol, target if isinstance(target, BlockKey) else label,
                                 reference=reference)
    records = device.profile_ops(artifact, runs=op_runs) if ops else []
    return measurement, records


def measurement_summary(measurement: Measurement, records: list[OpRecord]) -> dict[str, Any]:
    data: dict[str, Any] = {"key": str(measurement.key), **measurement.stats(), "flagged": measurement.flagged,
                            "warnings": measurement.warnings, "protocol": measurement.protocol.to_dict(),
                            "fingerprint": measurement.fingerprint, "timing": measurement.metadata.get("timing", {})}
    if records:
        cats = breakdown_ms(records)
        total = sum(cats.values())
        data["breakdown_ms"] = cats
        data["op_sum_ms"] = total
        data["op_sum_ratio"] = total / measurement.median_ms if measurement.median_ms else None
        data["ops"] = [r.to_dict() for r in records]
        data["unclassified"] = sorted({r.name for r in records if not r.classified})
    return data
