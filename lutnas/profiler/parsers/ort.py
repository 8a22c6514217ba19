"""ONNX Runtime profiler JSON (``SessionOptions.enable_profiling``), old and new versions.

Events: ``{"cat": "Session", "name": "model_run", "dur": µs}`` per run and
``{"cat": "Node", "name": "<node>_kernel_time", "args": {"op_name": ...}}`` per node; older
versions also emit ``<node>_fence_before`` / ``<node>_fence_after`` (skipped). Some versions
wrap the list as ``{"traceEvents": [...]}``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from lutnas.profiler.categories import _ONNX_BY_TYPE, categorize_by_name
from lutnas.profiler.parsers.base import ParseError, ParseResult, load_json, make_op, stats_summary


def looks_like_events(data: Any) -> bool:
    """A decoded JSON value holding ORT Session/Node events (bare list or traceEvents wrapper)."""
    events = data.get("traceEvents") if isinstance(data, dict) else data
    return isinstance(events, list) and any(
        isinstance(e, dict) and e.get("cat") in ("Node", "Session")
        and (str(e.get("name", "")).endswith("_kernel_time") or e.get("name") == "model_run") for e in events)


def looks_like(text: str) -> bool:
    head = text.lstrip()[:4000]
    return head.startswith(("[", "{")) and ("_kernel_time" in text or '"model_run"' in text)


def parse_ort_profile(text: str, source: str = "") -> ParseResult:
    return parse_ort_profile_events(load_json(text, source), source)


def parse_ort_profile_events(events: Any, source: str = "") -> ParseResult:
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    if not isinstance(events, list) or not any(isinstance(e, dict) and e.get("cat") in ("Node", "Session") for e in events):
        raise ParseError(f"{source or 'input'}: not an ONNX Runtime profile (expected a list of Session/Node events)")
    runs = [e["dur"] / 1e3 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    durations: dict[str, list[float]] = defaultdict(list)
    types: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        durations[name].append(e.get("dur", 0) / 1e3)
        types[name] = e.get("args", {}).get("op_name", "")
    counts = {k: len(v) for k, v in durations.items()}
    n_runs = len(runs) or max(counts.values(), default=1)
    # per node: median call time x calls per run, so the cold first run of a session does not
    # inflate every node (a mean over 10 runs did, by 2-4 % on DeiT-Tiny)
    totals = {k: float(np.median(v)) * len(v) for k, v in durations.items()}
    summary: dict[str, Any] = stats_summary(runs) if runs else {}
    if runs:
        summary["throughput_per_s"] = 1e3 / summary["mean_ms"] if summary["mean_ms"] > 0 else None
    total = sum(totals.values())
    ops = []
    for name, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        op_type = types[name]
        cat = _ONNX_BY_TYPE.get(op_type) or categorize_by_name(name, op_type)
        ops.append(make_op(name, op_type, t / n_runs, 100 * t / total if total else None,
                           max(1, round(counts[name] / n_runs)), cat))
    version = None
    for e in events:
        v = e.get("args", {}).get("ort_version") if isinstance(e.get("args"), dict) else None
        if v:
            version = str(v)
            break
    return ParseResult("ort-profile", version, summary, ops, source, {"runs": n_runs})
