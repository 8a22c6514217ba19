"""trtexec console logs (TensorRT 5 → 10.x) and ``--dumpProfile`` tables.

A log holds one run per ``&&&& RUNNING TensorRT.trtexec`` block (logs are often concatenated);
every run is reported in ``runs`` and the summary is the last run with timings (``summary_run``
says which). A build-only log (``--skipInference``) has no timings and is refused in one line.

Statistics generations, all read by label:

- TensorRT 5/6: ``Average over 10 runs is 1.88 ms (host walltime is .., 99% percentile time is ..)``;
- TensorRT 7: multi-line blocks ``Host Latency`` / ``Enqueue Time`` / ``GPU Compute`` then
  ``min: 4.34 ms (end to end 4.35 ms)``, ``percentile: 5.46 ms at 99%``, ``throughput: .. qps``,
  ``walltime: .. s``, ``total compute time: .. s``; ``Average on 10 runs - GPU latency: ..`` lines;
- TensorRT 8+: one line per metric (``GPU Compute Time: min = .., max = .., mean = .., median =
  .., percentile(99%) = ..``), from 8.6 with percentiles 90/95/99;
- ``--dumpProfile``: ``=== Profile (N iterations ) ===`` with the layer name first, or last (10.14+).

The summary is GPU compute time; host latency, end-to-end, enqueue and H2D/D2H go under their own
keys. ``warmup_duration_ms`` is trtexec's warm-up duration (TFLite's ``warmup_mean_ms`` is an
average latency). The JSON outputs (``--exportProfile``, ``--exportTimes``, trex summaries) are
read by :mod:`.trtexec_json`.
"""

from __future__ import annotations

import re
from typing import Any

from lutnas.profiler.categories import categorize_trt_layer, layer_members  # noqa: F401  (public here too)
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, num
from lutnas.profiler.parsers.trtexec_json import (  # noqa: F401  (one import path for every trtexec format)
    looks_like_profile_json, looks_like_times_json, looks_like_trex_json, parse_trex_summary, parse_trtexec_profile,
    parse_trtexec_times,
)

_TAG = re.compile(r"\[(?:[IWVEF]|TRT|[\d/:.\- ]{6,30})\]")
_METRIC_LINE = re.compile(r"^(?P<label>[A-Za-z][A-Za-z0-9 /\-]{0,40}):\s*(?P<body>(?:min|max|mean|median)\s*=?\s*[-+\d.].*)$")
#: ``mean = 1.2 ms``; pasted copies sometimes lose the ``=`` (``max 6.19507 ms``)
_PAIR = re.compile(r"(min|max|mean|median|percentile\((?P<pct>[\d.]+)%\))\s*=?\s*(?P<val>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                   r"\s*(?P<unit>ms|us|s)?")
#: where a pasted summary joined two statements on one line: after a unit, before ``Label:``
_JOINED = re.compile(r"(?:(?<=\bms)|(?<=\bus)|(?<=\bs)|(?<=\bqps))\s+(?=[A-Z][A-Za-z0-9 /\-]{2,40}:\s)")
_LABELS = {"gpu compute time": "gpu", "gpu compute": "gpu", "latency": "host_latency", "host latency": "host_latency",
           "end-to-end host latency": "end_to_end", "enqueue time": "enqueue", "h2d latency": "h2d",
           "d2h latency": "d2h"}
_BLOCK_STAT = re.compile(r"^(min|max|mean|median):\s*([-+\d.eE]+)\s*(ms|us|s)?(?:\s*\(end to end ([-+\d.eE]+)\s*(ms|us|s)?\))?")
_BLOCK_PCT = re.compile(r"^percentile:\s*([-+\d.eE]+)\s*(ms|us|s)?\s*at\s*([\d.]+)%")
_AVG_ON = re.compile(r"^Average on (\d+) runs - GPU latency: ([-+\d.eE]+) ms")
_AVG_OVER = re.compile(r"^Average over (\d+) runs is ([-+\d.eE]+) ms")
_UNIT = {"ms": 1.0, "us": 1e-3, "s": 1e3, None: 1.0}
#: TensorRT 2-5 (giexec, early trtexec) printed its averages untagged, one line per batch of runs
_UNTAGGED_AVERAGE = re.compile(r"^[ \t]*Average over \d+ runs is [-+\d.eE]+ ms", re.M)
_VERSION_LINE = re.compile(r"TensorRT version:\s*(\d+(?:\.\d+)+)")
_VERSION_TAG = re.compile(r"\[TensorRT v(\d{4,6})\]")


def decode_version_tag(tag: str) -> str:
    """``8401`` -> ``8.4.1``; ``101601`` -> ``10.16.1``; ``8600`` -> ``8.6.0``."""
    if len(tag) == 4:
        return f"{tag[0]}.{tag[1]}.{int(tag[2:])}"
    if len(tag) == 5:
        return f"{tag[:2]}.{tag[2]}.{int(tag[3:])}"
    if len(tag) == 6:
        return f"{int(tag[:2])}.{int(tag[2:4])}.{int(tag[4:])}"
    return tag


def looks_like(text: str) -> bool:
    """trtexec prints '&&&& RUNNING TensorRT.trtexec', '[I]'-tagged statistics, or a profile table."""
    return ("&&&& " in text and "TensorRT" in text) or "=== Profile (" in text or "=== Performance summary ===" in text \
        or bool(re.search(r"^[ \t]*GPU Compute Time: min = ", text, re.M)) or bool(_UNTAGGED_AVERAGE.search(text)) or bool(
        re.search(r"^[ \t#]*(?:\[[^\]\n]{0,40}\][ \t]*){0,4}\[[IWVE]\][ \t]*(GPU Compute|Latency|Throughput|TensorRT|"
                  r"Host Latency|Average on|=== Performance)", text, re.M))


def strip_tags(line: str) -> str:
    """The line without indentation, ``#``, ``[date]``, ``[I]`` and ``[TRT]`` tags (at most six);
    a layer name in brackets (``[HostToDeviceCopy 0]``) stays."""
    s = line.strip()
    if s.startswith("# "):
        s = s[2:].lstrip()
    for _ in range(6):
        m = _TAG.match(s)
        if not m:
            break
        s = s[m.end():].lstrip()
    return s


def split_joined(line: str) -> list[str]:
    """A statistics line that a paste joined with the next ones (``... ms Total Host Walltime: 3.05 s
    Total GPU Compute Time: ..``), split back; any other line unchanged."""
    if not _METRIC_LINE.match(line) and not line.startswith(("Throughput:", "Total ")):
        return [line]
    return [part for part in _JOINED.split(line) if part]


def split_runs(lines: list[str]) -> list[list[str]]:
    """Lines of each ``&&&& RUNNING`` block; text before the first one is a block of its own."""
    parts: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("&&&& RUNNING") and any(x.strip() for x in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return parts


def _scaled(value: str, unit: str | None) -> float:
    return num(value) * _UNIT[unit]


def read_run(lines: list[str]) -> dict[str, Any]:
    """Statistics of one trtexec run (ms); empty ``gpu`` when it printed no timings."""
    blocks: dict[str, dict[str, float]] = {}
    run: dict[str, Any] = {}
    averages: list[tuple[int, float]] = []
    current: str | None = None
    for s in lines:
        if s.startswith("&&&& "):
            status = s.split()[1] if len(s.split()) > 1 else ""
            if status in ("PASSED", "FAILED"):
                run["status"] = status
            elif status == "RUNNING":
                run["command"] = s.split("#", 1)[1].strip() if "#" in s else ""
            continue
        m = _METRIC_LINE.match(s)
        if m and m.group("label").strip().lower() in _LABELS:
            vals = {}
            for p in _PAIR.finditer(m.group("body")):
                try:
                    key = f"p{float(p.group('pct')):g}_ms" if p.group("pct") else f"{p.group(1)}_ms"
                    vals[key] = _scaled(p.group("val"), p.group("unit"))
                except ValueError:
                    continue
            blocks[_LABELS[m.group("label").strip().lower()]] = vals
            current = None
            continue
        low = s.lower()
        if low in ("gpu compute", "host latency", "enqueue time", "h2d latency", "d2h latency"):
            current = _LABELS[low]
            blocks.setdefault(current, {})
            continue
        if current:
            if _block_line(s, low, current, blocks, run):
                continue
            current = None
        _fact(s, run, averages)
    gpu = blocks.pop("gpu", {})
    if not gpu and averages:
        total = sum(n for n, _ in averages)
        gpu = {"mean_ms": sum(n * v for n, v in averages) / total} if total else {}
        run["from"] = "trace averages"
    run.update(gpu)
    if "cv" in run and "mean_ms" in run:
        run["std_ms"] = run["cv"] * run["mean_ms"]
    for key, vals in blocks.items():
        if vals:
            run[key] = vals
    return run


def _block_line(s: str, low: str, current: str, blocks: dict[str, dict[str, float]], run: dict[str, Any]) -> bool:
    """A line inside a TensorRT 7 statistics block; False when the block has ended."""
    try:
        mm = _BLOCK_STAT.match(s)
        if mm:
            blocks[current][f"{mm.group(1)}_ms"] = _scaled(mm.group(2), mm.group(3))
            if mm.group(4):
                blocks.setdefault("end_to_end", {})[f"{mm.group(1)}_ms"] = _scaled(mm.group(4), mm.group(5))
            return True
        mp = _BLOCK_PCT.match(s)
        if mp:
            blocks[current][f"p{float(mp.group(3)):g}_ms"] = _scaled(mp.group(1), mp.group(2))
            return True
        mt = re.match(r"^total compute time:\s*([-+\d.eE]+)\s*(ms|us|s)?", s)
        if mt:
            run["total_gpu_compute_ms"] = _scaled(mt.group(1), mt.group(2) or "s")
            return True
        mq = re.match(r"^throughput:\s*([-+\d.eE]+)\s*qps", low)
        if mq:
            run["throughput_per_s"] = num(mq.group(1))
            return True
        mw = re.match(r"^walltime:\s*([-+\d.eE]+)\s*(ms|us|s)?", low)
        if mw:
            run["total_host_walltime_ms"] = _scaled(mw.group(1), mw.group(2) or "s")
            return True
    except ValueError:
        return True
    return False


#: one-line facts outside statistics blocks: (pattern, reader -> values, whether a later line overrides)
_FACTS: tuple[tuple[re.Pattern[str], Any, bool], ...] = (
    (re.compile(r"^Throughput:\s*([-+\d.eE]+)\s*qps"), lambda m: {"throughput_per_s": num(m[1])}, True),
    (re.compile(r"coefficient of variance = ([-+\d.eE]+)%"), lambda m: {"cv": num(m[1]) / 100}, True),
    (re.compile(r"^Warmup completed (\d+) queries over ([-+\d.eE]+) ms"),
     lambda m: {"warmup_queries": int(m[1]), "warmup_duration_ms": num(m[2])}, True),
    (re.compile(r"^Duration:\s*[\d.]+s \(\+ (\d+(?:\.\d*)?)ms warm up\)"), lambda m: {"warmup_duration_ms": num(m[1])}, False),
    (re.compile(r"^Timing trace has (\d+) queries over"), lambda m: {"count": int(m[1])} if int(m[1]) > 0 else {}, True),
    (re.compile(r"^Total GPU Compute Time:\s*([-+\d.eE]+)\s*(s|ms)"),
     lambda m: {"total_gpu_compute_ms": _scaled(m[1], m[2])}, True),
    (re.compile(r"^Total Host Walltime:\s*([-+\d.eE]+)\s*(s|ms)"),
     lambda m: {"total_host_walltime_ms": _scaled(m[1], m[2])}, True),
    (re.compile(r"^Selected Device:\s*(.{1,200})$"), lambda m: {"device": m[1].strip()}, True),
    (re.compile(r"^Engine built in ([-+\d.eE]+) sec"), lambda m: {"build_ms": num(m[1]) * 1e3}, True),
    (re.compile(r"^Skipped inference phase|^Skip inference: Enabled"), lambda m: {"build_only": True}, True),
)


def _fact(s: str, run: dict[str, Any], averages: list[tuple[int, float]]) -> None:
    """One-line facts outside statistics blocks (unreadable numbers are ignored)."""
    try:
        ma = _AVG_ON.match(s) or _AVG_OVER.match(s)
        if ma:
            averages.append((int(ma.group(1)), num(ma.group(2))))
            return
        for pattern, read, override in _FACTS:  # a joined line may hold several facts
            m = pattern.search(s)
            if m:
                for key, value in read(m).items():
                    if override or key not in run:
                        run[key] = value
    except ValueError:
        return


def parse_trtexec(text: str, source: str = "") -> ParseResult:
    if not looks_like(text):
        raise ParseError(f"{source or 'input'}: not a trtexec log (expected 'TensorRT', 'GPU Compute' or '=== Profile' lines)")
    lines = [part for line in text.splitlines() for part in split_joined(strip_tags(line))]
    runs, partial = [], []
    for k, block in enumerate(split_runs(lines), 1):
        run = read_run(block)
        if not run:
            continue
        run = {"name": f"run {k}", **run}
        if "mean_ms" not in run and "status" not in run and "command" in run and not run.get("build_only"):
            partial.append(f"run {k} ({run['command'][:60]}) stops before its status line, without timings")
        runs.append(run)
    ops, profile_info, notes = dump_profile(lines)
    partial += notes
    timed = [i for i, r in enumerate(runs) if "mean_ms" in r]
    summary_run = timed[-1] if timed else None
    summary: dict[str, Any] = {}
    extra: dict[str, Any] = dict(profile_info)
    if summary_run is not None:
        chosen = runs[summary_run]
        summary = {k: v for k, v in chosen.items()
                   if k not in ("name", "status", "command", "device", "total_gpu_compute_ms", "total_host_walltime_ms",
                                "build_ms", "build_only", "from")}
        extra.update({k: chosen[k] for k in ("device", "total_gpu_compute_ms", "total_host_walltime_ms") if k in chosen})
    elif not ops:
        build = next((r for r in runs if r.get("build_only") or "build_ms" in r), None)
        if build is not None:
            took = f"; engine built in {build['build_ms'] / 1e3:.4g} s" if "build_ms" in build else ""
            raise ParseError(f"{source or 'input'}: trtexec log of an engine build only (--skipInference{took}): "
                             f"no inference timings to report")
        raise ParseError(f"{source or 'input'}: trtexec log without a performance summary, statistics or a profile table")
    if "profile_total_avg_ms" in profile_info:
        summary["op_sum_ms"] = profile_info["profile_total_avg_ms"]
    for r in runs:
        if "device" in r:
            extra.setdefault("device", r["device"])
    mv = _VERSION_LINE.search(text)
    mt = _VERSION_TAG.search(text)
    version = mv.group(1) if mv else decode_version_tag(mt.group(1)) if mt else None
    return ParseResult("trtexec", version, summary, ops, source, extra, runs, summary_run, partial)


_PROFILE_START = re.compile(r"=== Profile \(\s*(\d+) iterations\s*\) ===")
_PROFILE_LABELS = re.compile(r"Layer|Avg\.\s*(?:Time)?\s*\(ms\)|Median\s*(?:Time)?\s*\(ms\)|Time\s*\(ms\)|Time\s*\(?%\)?")


def dump_profile(lines: list[str]) -> tuple[list, dict[str, Any], list[str]]:
    """The last ``=== Profile (N iterations ) ===`` table, either column order: (ops, info, notes)."""
    starts = [i for i, ln in enumerate(lines) if _PROFILE_START.search(ln)]
    if not starts:
        return [], {}, []
    start = starts[-1]
    notes = [f"{len(starts)} profile tables; the last is read"] if len(starts) > 1 else []
    iterations = int(_PROFILE_START.search(lines[start]).group(1))
    header = lines[start + 1] if start + 1 < len(lines) else ""
    norm = []
    for lab in _PROFILE_LABELS.findall(header):
        lab_l = lab.lower().replace(" ", "")
        norm.append("layer" if lab_l == "layer" else "avg" if lab_l.startswith("avg") else
                    "median" if lab_l.startswith("median") else "pct" if "%" in lab_l else "time")
    if "layer" not in norm or "avg" not in norm:
        raise ParseError(f"profile table header not understood: {header[:120]!r}")
    layer_last = norm[-1] == "layer"
    numeric = [n for n in norm if n != "layer"]
    k = len(numeric)
    ops = []
    info: dict[str, Any] = {"profile_iterations": iterations}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        parts = line.split(None, k) if layer_last else line.rsplit(None, k)
        if len(parts) != k + 1:
            break
        name, cells = (parts[k], parts[:k]) if layer_last else (parts[0], parts[1:])
        try:
            values = dict(zip(numeric, (num(c) for c in cells)))
        except ValueError:
            break
        if name.strip() == "Total":
            info["profile_total_avg_ms"] = values["avg"]
            if "median" in values:
                info["profile_total_median_ms"] = values["median"]
            continue
        ops.append(make_op(name.strip(), "layer", values["avg"], values.get("pct"), 1, categorize_trt_layer(name.strip())))
    return ops, info, notes
