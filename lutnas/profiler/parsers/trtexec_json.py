"""trtexec's JSON outputs: ``--exportProfile`` (per-layer), ``--exportTimes`` (per-inference) and the
summary NVIDIA's engine explorer (trex) derives from a log. Times in ms as trtexec writes them."""

from __future__ import annotations

import math
import re
from typing import Any

from lutnas.profiler.categories import categorize_trt_layer
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, stats_summary


def looks_like_profile_json(data: Any) -> bool:
    return (isinstance(data, list) and bool(data) and isinstance(data[0], dict)
            and ("count" in data[0] or "averageMs" in data[0]) and any(isinstance(d, dict) and "averageMs" in d for d in data))


def parse_trtexec_profile(data: Any, source: str = "", node_categories: dict[str, str] | None = None) -> ParseResult:
    """``--exportProfile`` JSON: ``[{"count": N}, {"name", "timeMs", "averageMs", ["medianMs"], "percentage"}, ...]``."""
    if not looks_like_profile_json(data):
        raise ParseError(f"{source or 'input'}: not a trtexec --exportProfile JSON (expected a list with 'averageMs' rows)")
    rows = [d for d in data if isinstance(d, dict)]
    try:
        count = next((int(d["count"]) for d in rows if "count" in d and "name" not in d), None)
        ops = [make_op(str(d["name"]), "layer", float(d["averageMs"]), _optional(d.get("percentage")), 1,
                       categorize_trt_layer(str(d["name"]), node_categories))
               for d in rows if "name" in d and "averageMs" in d]
    except (TypeError, ValueError, OverflowError):
        raise ParseError(f"{source or 'input'}: --exportProfile JSON with a non-numeric count or averageMs") from None
    summary: dict[str, Any] = {"op_sum_ms": sum(op.avg_ms for op in ops)}
    if count is not None:
        summary["count"] = count
    medians = [_optional(d["medianMs"]) for d in rows if "medianMs" in d]
    extra = {"median_sum_ms": float(sum(m for m in medians if m is not None))} if medians else {}
    return ParseResult("trtexec-profile", None, summary, ops, source, extra)


def _optional(value: Any) -> float | None:
    try:
        out = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if out is not None and math.isfinite(out) else None


def looks_like_layer_info(data: Any) -> bool:
    """``--exportLayerInfo`` JSON (the engine inspector's ``{"Layers": [...], "Bindings": [...]}``;
    layers are objects with ``--profilingVerbosity=detailed``, bare names otherwise)."""
    layers = data.get("Layers") if isinstance(data, dict) else None
    return isinstance(layers, list) and all(isinstance(x, (dict, str)) for x in layers) and (
        "Bindings" in data or any(isinstance(x, dict) and "LayerType" in x for x in layers)
        or (bool(layers) and all(isinstance(x, str) for x in layers)))


def refuse_layer_info(data: Any, source: str = "") -> ParseError:
    """The one-line refusal of an ``--exportLayerInfo`` JSON: layers, but no time for any of them."""
    n = len(data["Layers"])
    return ParseError(f"{source or 'input'}: trtexec --exportLayerInfo JSON ({n} layers, no timings): it holds no latency; "
                      f"export per-layer times with --exportProfile (or the run's log)")


def looks_like_times_json(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "computeMs" in data[0]


def parse_trtexec_times(data: Any, source: str = "") -> ParseResult:
    """``--exportTimes`` JSON: one record per inference (computeMs, latencyMs, enqueue start/end)."""
    if not looks_like_times_json(data):
        raise ParseError(f"{source or 'input'}: not a trtexec --exportTimes JSON (expected records with 'computeMs')")
    try:
        data = [d for d in data if isinstance(d, dict)]
        compute = [float(d["computeMs"]) for d in data]
        summary: dict[str, Any] = stats_summary(compute)
        if all("latencyMs" in d for d in data):
            summary["host_latency"] = {k: v for k, v in stats_summary([float(d["latencyMs"]) for d in data]).items()
                                       if k != "count"}
        if all("startEnqMs" in d and "endEnqMs" in d for d in data):
            summary["enqueue"] = {k: v for k, v in stats_summary([float(d["endEnqMs"]) - float(d["startEnqMs"])
                                                                  for d in data]).items() if k != "count"}
        if all("startComputeMs" in d and "endComputeMs" in d for d in data) and len(data) > 1:
            span = float(data[-1]["endComputeMs"]) - float(data[0]["startComputeMs"])
            if span > 0:
                summary["throughput_per_s"] = len(data) / (span / 1e3)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ParseError(f"{source or 'input'}: --exportTimes JSON with a record lacking a numeric computeMs") from None
    return ParseResult("trtexec-times", None, summary, [], source)


#: the percentiles after [min, max, mean, median] in a trex metric list, by how many there are: trtexec
#: printed percentile(99%) before TensorRT 8.6 and percentile(90%), (95%), (99%) since
_TREX_PERCENTILES = {1: ("p99_ms",), 3: ("p90_ms", "p95_ms", "p99_ms")}


def _trex_stats(values: Any) -> dict[str, float]:
    """A trex metric list ``[min, max, mean, median, <percentiles>]`` (ms); percentiles of another
    count (``--percentile`` chosen by hand) are not named, so they are left out."""
    values = values if isinstance(values, list) else []
    keys = ["min_ms", "max_ms", "mean_ms", "median_ms", *_TREX_PERCENTILES.get(len(values) - 4, ())]
    return {k: v for k, v in zip(keys, map(_optional, values)) if v is not None}


def looks_like_trex_json(data: Any) -> bool:
    return isinstance(data, dict) and "performance_summary" in data


def parse_trex_summary(data: Any, source: str = "") -> ParseResult:
    """The summary trex derives from a trtexec log: metric lists are [min, max, mean, median, p99]
    (TensorRT < 8.6) or [min, max, mean, median, p90, p95, p99]."""
    if not looks_like_trex_json(data):
        raise ParseError(f"{source or 'input'}: not a trex summary (expected 'performance_summary')")
    perf = data["performance_summary"]
    if not isinstance(perf, dict):
        raise ParseError(f"{source or 'input'}: trex summary whose performance_summary is not an object")

    summary: dict[str, Any] = _trex_stats(perf.get("GPU Compute Time", []))
    if _optional(perf.get("Throughput")) is not None:
        summary["throughput_per_s"] = _optional(perf["Throughput"])
    for label, key in (("Latency", "host_latency"), ("Enqueue Time", "enqueue"), ("H2D Latency", "h2d"), ("D2H Latency", "d2h")):
        if label in perf:
            summary[key] = _trex_stats(perf[label])
    options = data.get("inference_options")
    duration = str(options.get("Duration", "")) if isinstance(options, dict) else ""
    mw = re.search(r"\+\s*(\d+(?:\.\d*)?)ms warm up", duration)
    if mw:
        summary["warmup_duration_ms"] = float(mw.group(1))
    device = data.get("device_information")
    total = _optional(perf.get("Total GPU Compute Time"))
    extra = {"device": device.get("Selected Device") if isinstance(device, dict) else None,
             "total_gpu_compute_ms": total * 1e3 if total is not None else None}
    return ParseResult("trex-summary", None, summary, [], source, {k: v for k, v in extra.items() if v is not None})


