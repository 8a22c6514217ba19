"""ONNX Runtime profiler JSON (``SessionOptions.enable_profiling``), old and new versions.

Events: ``{"cat": "Session", "name": "model_run", "dur": µs}`` per run and
``{"cat": "Node", "name": "<node>_kernel_time", "args": {"op_name": ...}}`` per node; older
versions also emit ``<node>_fence_before`` / ``<node>_fence_after`` (skipped). Some versions
wrap the list as ``{"traceEvents": [...]}``. Profiles pasted into issue threads lose the enclosing
``[ ]``, keep one event per line (with a trailing comma, sometimes an editor's line number) and are
often cut mid-line: those are read line by line, and lines that are not a whole event are counted
as skipped (a partial parse).
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections import defaultdict
from typing import Any

import numpy as np

from lutnas.categories import OTHERS
from lutnas.profiler.categories import ONNX_BY_TYPE, categorize_by_name, is_delegate
from lutnas.profiler.parsers.base import ParseError, ParseResult, finite, load_json, make_op, stats_summary

_EVENT_LINE = re.compile(r'^\s*(?:\d+\s+)?(\{.*\})\s*,?\s*$')


def looks_like_events(data: Any) -> bool:
    """A decoded JSON value holding ORT Session/Node events (bare list or traceEvents wrapper)."""
    events = data.get("traceEvents") if isinstance(data, dict) else data
    return isinstance(events, list) and any(
        isinstance(e, dict) and e.get("cat") in ("Node", "Session")
        and (str(e.get("name", "")).endswith("_kernel_time") or e.get("name") == "model_run") for e in events)


def looks_like(text: str) -> bool:
    head = text.lstrip()[:4000]
    return head.startswith(("[", "{")) and ("_kernel_time" in text or '"model_run"' in text)


def looks_like_lines(text: str) -> bool:
    """ORT events pasted one per line without the enclosing brackets."""
    head = text[:20000]
    return ('"cat"' in head and ('"Node"' in head or '"Session"' in head)
            and bool(re.search(r'^\s*(?:\d+\s+)?\{\s*"cat"', head, re.M)))


def parse_ort_profile(text: str, source: str = "") -> ParseResult:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        if looks_like_lines(text):
            return parse_ort_lines(text, source)
        data = load_json(text, source)
    if isinstance(data, dict) and "cat" in data:
        data = [data]
    return parse_ort_profile_events(data, source)


_FIELD = {key: re.compile(rf'"{key}"\s*:\s*"([^"]*)"') for key in ("cat", "name", "op_name")}
_DUR = re.compile(r'"dur"\s*:\s*(\d+(?:\.\d+)?)\s*[,}]')
_TS = re.compile(r'"ts"\s*:\s*(\d+(?:\.\d+)?)\s*[,}]')


def _salvage(line: str) -> dict[str, Any] | None:
    """The timing fields of an event line cut short (pasted at a display's width): category,
    name, duration and op type, when all of them precede the cut."""
    found = {key: pattern.search(line) for key, pattern in _FIELD.items()}
    dur = _DUR.search(line)
    if not (found["cat"] and found["name"] and dur):
        return None
    event: dict[str, Any] = {"cat": found["cat"].group(1), "name": found["name"].group(1), "dur": float(dur.group(1)),
                             "ph": "X"}
    ts = _TS.search(line)
    if ts:
        event["ts"] = float(ts.group(1))
    if found["op_name"]:
        event["args"] = {"op_name": found["op_name"].group(1)}
    elif event["cat"] == "Node":
        return None
    return event


def parse_ort_lines(text: str, source: str = "") -> ParseResult:
    """Events pasted one per line (no ``[ ]``). A line cut short keeps its event when its
    category, name, duration (and op type) precede the cut; other lines are skipped (partial)."""
    events, skipped, salvaged = [], 0, 0
    for line in text.splitlines():
        s = line.strip()
        if not s or s in ("[", "]", "```"):
            continue
        m = _EVENT_LINE.match(s)
        try:
            event = json.loads(m.group(1)) if m else None
        except (json.JSONDecodeError, RecursionError):
            event = None
        if not isinstance(event, dict) and '"cat"' in s:
            event = _salvage(s)
            salvaged += event is not None
        if isinstance(event, dict):
            events.append(event)
        else:
            skipped += 1
    result = parse_ort_profile_events(events, source)
    if salvaged:
        result.extra["salvaged_lines"] = salvaged
    if skipped:
        result.partial.append(f"{skipped} lines are not profile events (cut before their timing, or not JSON) and were skipped")
    return result


def _kernel_name(event: dict[str, Any]) -> str | None:
    """The node a ``<node>_kernel_time`` event times, or None for any other event."""
    name = str(event.get("name", ""))
    return name if event.get("cat") == "Node" and name.endswith("_kernel_time") else None


def _is_model_run(event: dict[str, Any]) -> bool:
    return event.get("cat") == "Session" and event.get("name") == "model_run"


def run_count(events: list[dict[str, Any]]) -> int:
    """Runs the profile holds: its ``model_run`` events, plus the runs among node events outside
    every ``model_run`` (a profile cut before its last ``model_run``, or pasted without it), each
    such stretch counted by its most frequent node. 0 without ``model_run`` events; the runs'
    own count when some node event has no start time."""
    model_runs = [e for e in events if _is_model_run(e)]
    n_model_runs = len(model_runs)
    windows = sorted((e["ts"], e["ts"] + e.get("dur", 0)) for e in model_runs if finite(e.get("ts")))
    nodes = [e for e in events if _kernel_name(e)]
    if not n_model_runs or len(windows) < n_model_runs or not all(finite(e.get("ts")) for e in nodes):
        return n_model_runs
    starts = [w[0] for w in windows]
    reach = list(itertools.accumulate((w[1] for w in windows), max))  # the latest end of any run begun so far
    outside: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in nodes:
        k = bisect.bisect_right(starts, e["ts"]) - 1
        if k < 0 or e["ts"] > reach[k]:  # inside no run, the ones begun earlier on other threads included
            outside[k][_kernel_name(e)] += 1
    return n_model_runs + sum(max(stretch.values()) for stretch in outside.values())


def parse_ort_profile_events(events: Any, source: str = "") -> ParseResult:
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    if not isinstance(events, list) or not any(isinstance(e, dict) and e.get("cat") in ("Node", "Session") for e in events):
        raise ParseError(f"{source or 'input'}: not an ONNX Runtime profile (expected a list of Session/Node events)")
    events = [e for e in events if isinstance(e, dict) and finite(e.get("dur", 0))]
    runs = [e.get("dur", 0) / 1e3 for e in events if _is_model_run(e)]
    durations: dict[str, list[float]] = defaultdict(list)
    types: dict[str, str] = {}
    for e in events:
        if not _kernel_name(e):
            continue
        args = e.get("args") if isinstance(e.get("args"), dict) else {}
        op_type = str(args.get("op_name", ""))
        name = str(e["name"])[: -len("_kernel_time")] or op_type or "(unnamed node)"
        durations[name].append(e.get("dur", 0) / 1e3)
        types[name] = op_type
    if not durations and not runs:
        raise ParseError(f"{source or 'input'}: ONNX Runtime profile without model_run or *_kernel_time events")
    counts = {k: len(v) for k, v in durations.items()}
    n_runs = run_count(events) or max(counts.values(), default=1)
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
        delegate = is_delegate(op_type) or is_delegate(name)  # an EP's fused subgraph (DmlFusedNode_0_41, ...)
        cat = OTHERS if delegate else (ONNX_BY_TYPE.get(op_type) or categorize_by_name(name, op_type))
        ops.append(make_op(name, op_type, t / n_runs, 100 * t / total if total else None,
                           max(1, round(counts[name] / n_runs)), cat))
    version = None
    for e in events:
        v = e["args"].get("ort_version") if isinstance(e.get("args"), dict) else None
        if v:
            version = str(v)
            break
    return ParseResult("ort-profile", version, summary, ops, source, {"runs": n_runs})
