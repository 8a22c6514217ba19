"""PyTorch profiler outputs: ``key_averages().table()`` text and chrome/kineto JSON traces.

Tables are read by their header labels (columns move between versions: ``Self CUDA`` became
``Self Device`` in newer releases); values carry units (us, ms, s). Traces come in two schemas:
2021 (categories ``Operator``, ``Kernel``, ``Runtime``; kernels carry the launching op's
``external id``) and 2026 (``cpu_op``, ``kernel``, ``cuda_runtime``, flow events ``ac2g``). Kernel
time is attributed to the top-level aten op that launched it: kernel -> runtime launch (same
``correlation``) -> the outermost CPU op enclosing the launch on the same thread.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from typing import Any

from lutnas.profiler.categories import categorize_torch_op
from lutnas.profiler.parsers.base import ParseError, ParseResult, load_json, make_op

_TIME = re.compile(r"^([-+\d.eE]+)\s*(ns|us|ms|s)$")
_SCALE = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def looks_like_table(text: str) -> bool:
    return bool(re.search(r"^\s*Name\s{2,}.*(Self CPU|CPU total)", text, re.M))


def _ms(cell: str) -> float | None:
    m = _TIME.match(cell.strip())
    return float(m.group(1)) * _SCALE[m.group(2)] if m else None


def parse_torch_table(text: str, source: str = "") -> ParseResult:
    if not looks_like_table(text):
        raise ParseError(f"{source or 'input'}: not a torch.profiler key_averages table (expected a 'Name ... Self CPU' header)")
    lines = text.splitlines()
    hi = next(i for i, ln in enumerate(lines) if re.search(r"^\s*Name\s{2,}", ln))
    dash = lines[hi - 1] if hi > 0 and set(lines[hi - 1].strip()) <= {"-", " "} else lines[hi + 1]
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dash)]
    header = [lines[hi][a:b + 2].strip() for a, b in spans]
    col = {h: i for i, h in enumerate(header)}
    device = next((d for d in ("CUDA", "Device", "XPU", "MPS") if f"Self {d}" in col), None)
    self_key = f"Self {device}" if device else "Self CPU"
    calls_key = next((h for h in header if h.startswith("# of Calls")), None)
    ops = []
    summary: dict[str, Any] = {}
    for ln in lines[hi + 1:]:
        if not ln.strip() or set(ln.strip()) <= {"-", " "}:
            continue
        mt = re.match(r"^Self (CPU|CUDA|Device|XPU) time total:\s*([-+\d.eE]+\s*(?:ns|us|ms|s))", ln.strip())
        if mt:
            summary[f"self_{mt.group(1).lower()}_total_ms"] = _ms(mt.group(2))
            continue
        cells = [ln[a:b + 2].strip() for a, b in spans]
        if len(cells) < len(header) or not cells[0]:
            continue
        self_ms = _ms(cells[col[self_key]])
        if self_ms is None:
            continue
        pct_cell = cells[col.get(f"{self_key} %", col.get("Self CPU %"))].rstrip("%")
        calls = int(cells[col[calls_key]]) if calls_key and cells[col[calls_key]].isdigit() else 1
        name = cells[0]
        ops.append(make_op(name, name, self_ms, float(pct_cell) if pct_cell else None, calls, categorize_torch_op(name)))
    if not ops:
        raise ParseError(f"{source or 'input'}: key_averages table has no rows")
    total_key = f"self_{(device or 'cpu').lower()}_total_ms"
    summary["op_sum_ms"] = sum(op.avg_ms for op in ops)
    if total_key in summary:
        summary["mean_ms"] = summary[total_key]
    return ParseResult("torch-table", None, summary, ops, source, {"time_column": self_key})


# -- traces ----------------------------------------------------------------------------------------
_CPU_CATS = {"Operator", "cpu_op", "operator"}
_KERNEL_CATS = {"Kernel", "kernel", "gpu_memcpy", "Memcpy", "gpu_memset", "Memset"}
_RUNTIME_CATS = {"Runtime", "cuda_runtime", "cuda_driver", "runtime"}


def looks_like_trace(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("traceEvents"), list)


def parse_torch_trace_text(text: str, source: str = "") -> ParseResult:
    return parse_torch_trace(load_json(text, source), source)


def parse_torch_trace(data: Any, source: str = "") -> ParseResult:
    if not looks_like_trace(data):
        raise ParseError(f"{source or 'input'}: not a PyTorch/kineto trace (expected an object with 'traceEvents')")
    events = [e for e in data["traceEvents"] if isinstance(e, dict) and e.get("ph") == "X"]
    cpu = [e for e in events if e.get("cat") in _CPU_CATS]
    kernels = [e for e in events if e.get("cat") in _KERNEL_CATS]
    runtime = {e["args"]["correlation"]: e for e in events
               if e.get("cat") in _RUNTIME_CATS and isinstance(e.get("args"), dict) and "correlation" in e["args"]}
    steps = [e for e in events if str(e.get("name", "")).startswith("ProfilerStep#")]
    by_thread: dict[Any, list[dict]] = defaultdict(list)
    for e in cpu:
        if not str(e.get("name", "")).startswith("ProfilerStep#"):
            by_thread[(e.get("pid"), e.get("tid"))].append(e)
    index: dict[Any, tuple[list[float], list[dict], list[int], list[int]]] = {}
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
        parent, root, stack = [], [], []
        for i, e in enumerate(evs):
            while stack and evs[stack[-1]]["ts"] + evs[stack[-1]].get("dur", 0) < e["ts"]:
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
        ext_index = {e["args"].get("External id"): e for e in cpu if isinstance(e.get("args"), dict)}
        for k in kernels:
            args = k.get("args", {})
            launch = runtime.get(args.get("correlation"))
            op = None
            if launch is not None:
                op = top_level(launch["ts"], (launch.get("pid"), launch.get("tid")))
            if op is None and args.get("external id") in ext_index:
                inner = ext_index[args["external id"]]
                op = top_level(inner["ts"], (inner.get("pid"), inner.get("tid"))) or inner
            if op is None:
                unattributed += k.get("dur", 0) / 1e3
                continue
            totals[op["name"]] += k.get("dur", 0) / 1e3
            counts[op["name"]] += 1
    else:
        mode = "cpu"
        for key, (_, evs, parent, _) in index.items():
            horizon = -1.0
            for e in evs:
                if e["ts"] >= horizon:
                    totals[e["name"]] += e.get("dur", 0) / 1e3
                    counts[e["name"]] += 1
                    horizon = e["ts"] + e.get("dur", 0)
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
        summary.update({"count": len(steps), "mean_ms": sum(durs) / len(durs), "median_ms": durs[len(durs) // 2],
                        "min_ms": durs[0], "max_ms": durs[-1]})
    schema = "2021" if any(e.get("cat") == "Operator" for e in cpu) else "2026" if cpu else "unknown"
    version = None
    for key in ("torch_version", "pytorch_version"):
        if key in data:
            version = str(data[key])
    devices = [d.get("name") for d in data.get("deviceProperties", []) if isinstance(d, dict)]
    return ParseResult("torch-trace", version, summary, ops, source,
                       {"attributed_from": mode, "schema": schema, "steps": len(steps),
                        "devices": sorted(set(filter(None, devices))), "unattributed_ms": unattributed})
