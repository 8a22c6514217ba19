"""PyTorch profiler chrome/kineto JSON traces (tables: :mod:`.torch_table`).

Traces come in two schemas (and the legacy autograd profiler's, torch < 1.8, read as the first):
2021 (categories ``Operator``, ``Kernel``, ``Runtime``; kernels carry the launching op's
``external id``) and 2026 (``cpu_op``, ``kernel``, ``cuda_runtime``, flow events ``ac2g``). Kernel
time is attributed to the top-level aten op that launched it: kernel -> runtime launch (same
``correlation``) -> the outermost CPU op enclosing the launch on the same thread.

Steps: per-op times are per ``ProfilerStep#N``. A step is counted once, from its CPU-side event;
its ``gpu_user_annotation`` twin (recent CUDA and ROCm traces) and an unfinished last step (no
operator inside it, left open when profiling stopped) are not steps.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import defaultdict
from typing import Any

from lutnas.profiler.categories import categorize_torch_op
from lutnas.profiler.parsers.base import ParseError, ParseResult, finite, load_json, make_op
from lutnas.profiler.parsers.torch_table import looks_like_table, parse_torch_table  # noqa: F401

# -- traces ----------------------------------------------------------------------------------------
_CPU_CATS = {"Operator", "cpu_op", "operator"}
_KERNEL_CATS = {"Kernel", "kernel", "gpu_memcpy", "Memcpy", "gpu_memset", "Memset"}
_RUNTIME_CATS = {"Runtime", "cuda_runtime", "cuda_driver", "runtime", "hip_runtime", "hip_driver"}
_DEVICE_ANNOTATION = "gpu_user_annotation"
_TRACE_CATS = _CPU_CATS | _KERNEL_CATS | _RUNTIME_CATS | {"user_annotation", _DEVICE_ANNOTATION}


#: the legacy autograd profiler's processes (torch < 1.8 ``export_chrome_trace``), events without ``cat``
_LEGACY_PIDS = {"cpu functions": "cpu_op", "cuda functions": "kernel"}


def _legacy_cat(e: Any) -> str | None:
    pid = e.get("pid") if isinstance(e, dict) else None
    return _LEGACY_PIDS.get(pid.lower()) if isinstance(pid, str) and "cat" not in e else None


def looks_like_trace(data: Any) -> bool:
    """``{"traceEvents": [...]}``, or the bare event array Chrome's trace format also allows (the
    legacy autograd profiler's too)."""
    if isinstance(data, dict):
        return isinstance(data.get("traceEvents"), list)
    return isinstance(data, list) and any(isinstance(e, dict) and "ph" in e
                                          and (e.get("cat") in _TRACE_CATS or _legacy_cat(e)) for e in data)


def _from_legacy(events: list) -> list:
    """The legacy trace in kineto's terms: its CPU and CUDA X events get their category, and each
    kernel the correlation of the ``cpu_to_cuda`` flow arriving at it ('f'), whose start ('s') is
    then the launch (a runtime event at the CPU op's start and thread)."""
    if not any(_legacy_cat(e) for e in events):
        return events
    flows = {(e.get("ph"), e.get("id")): e for e in events
             if isinstance(e, dict) and e.get("cat") == "cpu_to_cuda" and isinstance(e.get("id"), (int, str))}
    arrivals = {(f.get("ts"), f.get("tid")): key[1] for key, f in flows.items() if key[0] == "f"}
    out = []
    for e in events:
        cat = _legacy_cat(e)
        if cat is None:
            out.append(e)
            continue
        e = {**e, "cat": cat}
        flow = arrivals.get((e.get("ts"), e.get("tid"))) if cat == "kernel" else None
        if flow is not None and ("s", flow) in flows:
            e["args"] = {"correlation": f"legacy {flow}"}
            start = flows[("s", flow)]
            out.append({"ph": "X", "cat": "runtime", "name": "launch", "ts": start.get("ts"), "dur": 0,
                        "pid": start.get("pid"), "tid": start.get("tid"), "args": {"correlation": f"legacy {flow}"}})
        out.append(e)
    return out


def parse_torch_trace_text(text: str, source: str = "") -> ParseResult:
    return parse_torch_trace(load_json(text, source), source)


def parse_torch_trace(data: Any, source: str = "") -> ParseResult:
    if not looks_like_trace(data):
        raise ParseError(f"{source or 'input'}: not a PyTorch/kineto trace (expected an object with 'traceEvents')")
    if isinstance(data, list):
        data = {"traceEvents": data}
    events = [e for e in _from_legacy(data["traceEvents"]) if _complete(e)]
    cpu = [e for e in events if e.get("cat") in _CPU_CATS]
    kernels = [e for e in events if e.get("cat") in _KERNEL_CATS]
    runtime = {e["args"]["correlation"]: e for e in events
               if e.get("cat") in _RUNTIME_CATS and isinstance(e.get("args"), dict) and "correlation" in e["args"]
               and isinstance(e["args"]["correlation"], (int, str))}
    steps, dropped = profiler_steps(events, cpu + kernels)
    by_thread: dict[Any, list[dict]] = defaultdict(list)
    for e in cpu:
        if not str(e.get("name", "")).startswith("ProfilerStep#"):
            by_thread[(e.get("pid"), e.get("tid"))].append(e)
    index: dict[Any, tuple[list[float], list[dict], list[int], list[int]]] = {}
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
        parent, root, stack = [], [], []
        for i, e in enumerate(evs):
            while stack and not _nests(evs[stack[-1]], e):
                stack.pop()
            parent.append(stack[-1] if stack else -1)
            root.append(root[stack[-1]] if stack else i)
            stack.append(i)
        index[key] = ([e["ts"] for e in evs], evs, parent, root)

    def top_level(ts: float, key: Any) -> dict | None:
        """The outermost CPU op enclosing ``ts`` on thread ``key`` (ops nest properly)."""
        if key not in index:
            return None
        starts, evs, parent, root = index[key]
        j = bisect.bisect_right(starts, ts) - 1
        while j >= 0:
            e = evs[j]
            if e["ts"] <= ts <= e["ts"] + e.get("dur", 0):
                return evs[root[j]]
            j = parent[j]
        return None

    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    mode = "kernel"
    unattributed = 0.0
    if kernels:
        ext_index = {e["args"].get("External id"): e for e in cpu
                     if isinstance(e.get("args"), dict) and isinstance(e["args"].get("External id"), (int, str))}
        for k in kernels:
            args = k.get("args") if isinstance(k.get("args"), dict) else {}
            corr, ext = args.get("correlation"), args.get("external id")
            launch = runtime.get(corr) if isinstance(corr, (int, str)) else None
            op = None
            if launch is not None:
                op = top_level(launch["ts"], (launch.get("pid"), launch.get("tid")))
            if op is None and isinstance(ext, (int, str)) and ext in ext_index:
                inner = ext_index[ext]
                op = top_level(inner["ts"], (inner.get("pid"), inner.get("tid"))) or inner
            if op is None:
                unattributed += k.get("dur", 0) / 1e3
                continue
            totals[op["name"]] += k.get("dur", 0) / 1e3
            counts[op["name"]] += 1
    else:
        mode = "cpu"
        for key, (_, evs, _, root) in index.items():
            for i, e in enumerate(evs):
                if root[i] == i:
                    totals[e["name"]] += e.get("dur", 0) / 1e3
                    counts[e["name"]] += 1
    if not totals and not unattributed:
        raise ParseError(f"{source or 'input'}: trace has no CPU operators or GPU kernels")
    n_steps = max(1, len(steps))
    total = sum(totals.values()) + unattributed
    ops = [make_op(name, name, t / n_steps, 100 * t / total if total else None, max(1, round(counts[name] / n_steps)),
                   categorize_torch_op(name))
           for name, t in sorted(totals.items(), key=lambda kv: -kv[1])]
    if unattributed:
        ops.append(make_op("(kernels without a launching op)", "kernel", unattributed / n_steps,
                           100 * unattributed / total, 1, None))
    summary: dict[str, Any] = {"op_sum_ms": total / n_steps}
    if steps:
        durs = sorted(e["dur"] / 1e3 for e in steps)
        summary.update({"count": len(steps), "mean_ms": sum(durs) / len(durs), "median_ms": statistics.median(durs),
                        "min_ms": durs[0], "max_ms": durs[-1]})
    if dropped:
        summary["steps_not_counted"] = dropped
    schema = ("legacy" if any(_legacy_cat(e) for e in data["traceEvents"]) else "2021"
              if any(e.get("cat") == "Operator" for e in cpu) else "2026" if cpu else "unknown")
    version = None
    for key in ("torch_version", "pytorch_version"):
        if isinstance(data.get(key), (str, int, float)):
            version = str(data[key])
    props = data.get("deviceProperties")
    devices = [str(d.get("name")) for d in props if isinstance(d, dict) and d.get("name")] if isinstance(props, list) else []
    return ParseResult("torch-trace", version, summary, ops, source,
                       {"attributed_from": mode, "schema": schema, "steps": len(steps),
                        "devices": sorted(set(filter(None, devices))), "unattributed_ms": unattributed})


def _nests(parent: dict, e: dict) -> bool:
    """Whether ``e`` (starting no earlier) runs inside ``parent``: it starts before the parent ends,
    or both take no time at the same instant (``aten::detach_`` over ``detach_``). An op starting
    as the previous one ends is its sibling."""
    end = parent["ts"] + parent.get("dur", 0)
    return e["ts"] < end or (parent.get("dur", 0) == 0 and e["ts"] == parent["ts"])


def _complete(e: Any) -> bool:
    """A complete event ('X') with a numeric start and duration."""
    return (isinstance(e, dict) and e.get("ph") == "X" and finite(e.get("ts")) and finite(e.get("dur", 0))
            and e.get("dur", 0) >= 0 and isinstance(e.get("name", ""), str))


def profiler_steps(events: list[dict], work: list[dict]) -> tuple[list[dict], int]:
    """(the CPU-side ``ProfilerStep#N`` events that enclose some work, how many others were not
    counted: device twins, duplicates of a step number, an unfinished last step — nothing inside,
    or under a tenth of the other steps' median duration)."""
    named = [e for e in events if e["name"].startswith("ProfilerStep#")]
    cpu_side = [e for e in named if e.get("cat") != _DEVICE_ANNOTATION]
    starts = sorted(e["ts"] for e in work if not e["name"].startswith("ProfilerStep#"))
    steps, seen = [], set()
    for e in sorted(cpu_side, key=lambda e: e["ts"]):
        if e["name"] in seen:
            continue
        lo = bisect.bisect_left(starts, e["ts"])
        if lo < len(starts) and starts[lo] <= e["ts"] + e.get("dur", 0):
            steps.append(e)
            seen.add(e["name"])
    if len(steps) > 1 and steps[-1].get("dur", 0) < 0.1 * statistics.median(e.get("dur", 0) for e in steps[:-1]):
        steps.pop()  # the step left open when profiling stopped: a sliver of the others
    return steps, len(named) - len(steps)
