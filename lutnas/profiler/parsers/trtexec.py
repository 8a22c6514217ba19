"""trtexec outputs: console logs (TensorRT 7.1 → 10.x), ``--dumpProfile`` tables,
``--exportProfile`` JSON, ``--exportTimes`` JSON, and the summary JSON that NVIDIA's engine
explorer (trex) derives from a log.

Format generations handled (all by label, never by line position):
- TensorRT 7: multi-line statistics blocks (``Host Latency`` / ``GPU Compute`` then ``min: ..``,
  ``percentile: X ms at 99%``); dumpProfile with the layer name first.
- TensorRT 8.x: one line per metric (``GPU Compute Time: min = .., max = .., mean = .., median
  = .., percentile(99%) = ..``); from 8.6 default percentiles 90/95/99; dumpProfile adds a Median
  column.
- TensorRT 10.14+: dumpProfile moves the layer name to the last column.
The summary is GPU compute time; host latency, enqueue time and H2D/D2H go under their own keys.
"""

from __future__ import annotations

import re
from typing import Any

from lutnas.categories import LAYERNORM, MLP, MSA_GATHER, MSA_MATMUL, MSA_RESHAPE, MSA_SOFTMAX, OTHERS
from lutnas.profiler.categories import categorize_by_name
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, num, stats_summary

_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*?\[(?:I|W|V|E|F)\]\s?")
_METRIC_LINE = re.compile(r"^(?P<label>[A-Za-z][A-Za-z0-9 /]*?):\s*(?P<body>(?:min|max|mean|median|percentile)\b.*=.*)$")
_PAIR = re.compile(r"(min|max|mean|median|percentile\((?P<pct>[\d.]+)%\))\s*=\s*(?P<val>[-+\d.eE]+)\s*(?P<unit>ms|us|s)?")
_VERSION_LINE = re.compile(r"TensorRT version:\s*(\d+(?:\.\d+)+)")
_VERSION_TAG = re.compile(r"\[TensorRT v(\d+)\]")
_LABELS = {"gpu compute time": "gpu", "gpu compute": "gpu", "latency": "host_latency", "host latency": "host_latency",
           "enqueue time": "enqueue", "h2d latency": "h2d", "d2h latency": "d2h"}
_UNIT = {"ms": 1.0, "us": 1e-3, "s": 1e3, None: 1.0}


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
    """trtexec prints '&&&& RUNNING TensorRT.trtexec', '[I]'-tagged lines, or a profile table."""
    return ("&&&& " in text and "TensorRT" in text) or "=== Profile (" in text or bool(
        re.search(r"^\s*(?:\[[^\]]*\]\s*)?\[[IWVE]\]\s.*(GPU Compute|Latency|Throughput|TensorRT)", text, re.M))


def _strip(line: str) -> str:
    return _PREFIX.sub("", line, count=1).rstrip()


def _stat_keys(prefix: str, pairs: dict[str, float]) -> dict[str, float]:
    out = {}
    for k, v in pairs.items():
        out[f"{prefix}{k}"] = v
    return out


def parse_trtexec(text: str, source: str = "") -> ParseResult:
    if not looks_like(text):
        raise ParseError(f"{source or 'input'}: not a trtexec log (expected 'TensorRT', 'GPU Compute' or '=== Profile' lines)")
    lines = [_strip(ln) for ln in text.splitlines()]
    blocks: dict[str, dict[str, float]] = {}
    summary: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    current: str | None = None  # TensorRT 7 multi-line block
    for line in lines:
        s = line.strip()
        m = _METRIC_LINE.match(s)
        if m and m.group("label").strip().lower() in _LABELS:
            key = _LABELS[m.group("label").strip().lower()]
            vals = {}
            for p in _PAIR.finditer(m.group("body")):
                scale = _UNIT[p.group("unit")]
                if p.group("pct"):
                    pct = f"{float(p.group('pct')):g}"
                    vals[f"p{pct}_ms"] = num(p.group("val")) * scale
                else:
                    vals[f"{p.group(1)}_ms"] = num(p.group("val")) * scale
            blocks[key] = vals
            current = None
            continue
        low = s.lower()
        if low in ("gpu compute", "host latency", "enqueue time", "h2d latency", "d2h latency"):
            current = _LABELS[low]
            blocks.setdefault(current, {})
            continue
        if current:
            mm = re.match(r"^(min|max|mean|median):\s*([-+\d.eE]+)\s*(ms|us|s)?$", s)
            mp = re.match(r"^percentile:\s*([-+\d.eE]+)\s*(ms|us|s)?\s*at\s*([\d.]+)%$", s)
            mt = re.match(r"^total compute time:\s*([-+\d.eE]+)\s*(ms|us|s)?$", s)
            if mm:
                blocks[current][f"{mm.group(1)}_ms"] = num(mm.group(2)) * _UNIT[mm.group(3)]
                continue
            if mp:
                pct = f"{float(mp.group(3)):g}"
                blocks[current][f"p{pct}_ms"] = num(mp.group(1)) * _UNIT[mp.group(2)]
                continue
            if mt:
                extra["total_gpu_compute_ms"] = num(mt.group(1)) * _UNIT[mt.group(2) or "s"]
                continue
            if s:
                current = None
        mth = re.match(r"^Throughput:\s*([-+\d.eE]+)\s*qps", s)
        if mth:
            summary["throughput_per_s"] = num(mth.group(1))
        mcv = re.search(r"coefficient of variance = ([-+\d.eE]+)%", s)
        if mcv:
            summary["cv"] = num(mcv.group(1)) / 100
        mw = re.match(r"^Warmup completed (\d+) queries over ([-+\d.eE]+) ms", s)
        if mw:
            summary["warmup_ms"] = num(mw.group(2))
        mwo = re.match(r"^Duration:\s*([\d.]+)s \(\+ ([\d.]+)ms warm up\)", s)
        if mwo:
            summary.setdefault("warmup_ms", num(mwo.group(2)))
        mq = re.match(r"^Timing trace has (\d+) queries over ([-+\d.eE]+) s", s)
        if mq:
            summary["count"] = int(mq.group(1))
        mtot = re.match(r"^Total GPU Compute Time:\s*([-+\d.eE]+)\s*(s|ms)", s)
        if mtot:
            extra["total_gpu_compute_ms"] = num(mtot.group(1)) * _UNIT[mtot.group(2)]
        mwall = re.match(r"^Total Host Walltime:\s*([-+\d.eE]+)\s*(s|ms)", s)
        if mwall:
            extra["total_host_walltime_ms"] = num(mwall.group(1)) * _UNIT[mwall.group(2)]
        md = re.match(r"^Selected Device:\s*(.+)$", s)
        if md:
            extra["device"] = md.group(1).strip()
        mi = re.match(r"^Engine built in ([-+\d.eE]+) sec", s)
        if mi:
            summary["init_ms"] = num(mi.group(1)) * 1e3
    gpu = blocks.get("gpu", {})
    summary.update(gpu)
    if "cv" in summary and "mean_ms" in summary:
        summary["std_ms"] = summary["cv"] * summary["mean_ms"]
    for key in ("host_latency", "enqueue", "h2d", "d2h"):
        if blocks.get(key):
            summary[key] = blocks[key]
    ops, profile_info = _dump_profile(lines)
    if profile_info:
        extra.update(profile_info)
        if "profile_total_avg_ms" in profile_info:
            summary["op_sum_ms"] = profile_info["profile_total_avg_ms"]
    if not gpu and not ops and not summary:
        raise ParseError(f"{source or 'input'}: trtexec log without a performance summary, statistics or a profile table")
    version = None
    mv = _VERSION_LINE.search(text)
    if mv:
        version = mv.group(1)
    else:
        mt = _VERSION_TAG.search(text)
        if mt:
            version = decode_version_tag(mt.group(1))
    return ParseResult("trtexec", version, summary, ops, source, extra)


def _dump_profile(lines: list[str]) -> tuple[list, dict[str, Any]]:
    """The ``=== Profile (N iterations ) ===`` table, either column order."""
    start = next((i for i, ln in enumerate(lines) if re.search(r"=== Profile \(\s*\d+ iterations\s*\) ===", ln)), None)
    if start is None:
        return [], {}
    iterations = int(re.search(r"\((\s*\d+)", lines[start]).group(1))
    header = lines[start + 1].strip()
    labels = re.findall(r"Layer|Avg\.\s*(?:Time)?\s*\(ms\)|Median\s*(?:Time)?\s*\(ms\)|Time\s*\(ms\)|Time\s*\(?%\)?", header)
    norm = []
    for lab in labels:
        lab_l = lab.lower().replace(" ", "")
        norm.append("layer" if lab_l == "layer" else "avg" if lab_l.startswith("avg") else
                    "median" if lab_l.startswith("median") else "pct" if "%" in lab_l else "time")
    if "layer" not in norm or "avg" not in norm:
        raise ParseError(f"profile table header not understood: {header!r}")
    layer_last = norm[-1] == "layer"
    numeric = [n for n in norm if n != "layer"]
    ops = []
    info: dict[str, Any] = {"profile_iterations": iterations}
    num_re = r"([-+\d.eE]+)"
    row_re = (re.compile(r"^\s*" + r"\s+".join([num_re] * len(numeric)) + r"\s+(.+?)\s*$") if layer_last else
              re.compile(r"^\s*(.+?)\s+" + r"\s+".join([num_re] * len(numeric)) + r"\s*$"))
    for line in lines[start + 2:]:
        if not line.strip():
            break
        m = row_re.match(line)
        if not m:
            break
        groups = list(m.groups())
        name = groups[-1] if layer_last else groups[0]
        values = dict(zip(numeric, (float(g) for g in (groups[:-1] if layer_last else groups[1:]))))
        if name.strip() == "Total":
            info["profile_total_avg_ms"] = values["avg"]
            if "median" in values:
                info["profile_total_median_ms"] = values["median"]
            continue
        cat = categorize_trt_layer(name)
        ops.append(make_op(name.strip(), "layer", values["avg"], values.get("pct"), 1, cat))
    return ops, info


# -- fused layer attribution ----------------------------------------------------------------------
_PRIORITY = (MSA_MATMUL, MLP, MSA_SOFTMAX, LAYERNORM, MSA_GATHER, MSA_RESHAPE, OTHERS)


def layer_members(name: str) -> list[str]:
    """Member node names of a (possibly fused) TensorRT layer name.

    ``a + b + PWN(c, d)`` -> a, b, c, d; ``{ForeignNode[first...last]}`` -> first, last;
    ``Reformatting CopyNode for Input Tensor 0 to X`` -> [] (a format copy, Others).
    """
    if name.startswith("Reformatting CopyNode"):
        return []
    members: list[str] = []
    for fn in re.finditer(r"ForeignNode\[(.*?)\]", name):
        members += [p.strip() for p in fn.group(1).split("...") if p.strip()]
    rest = re.sub(r"\{?ForeignNode\[.*?\]\}?", "", name)
    for part in _split_top(rest):
        wrapped = re.match(r"^(?:PWN|PointWise|Myelin)\((.*)\)$", part)
        members += layer_members(wrapped.group(1)) if wrapped else [part]
    return members


def _split_top(text: str) -> list[str]:
    """Split on ' + ' and ',' outside parentheses."""
    parts, depth, cur, i = [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and (text.startswith(" + ", i) or ch == ","):
            parts.append(cur)
            cur = ""
            i += 3 if ch == " " else 1
            continue
        cur += ch
        i += 1
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def categorize_trt_layer(name: str, node_categories: dict[str, str] | None = None) -> str | None:
    """Category of a TensorRT layer: through its member ONNX nodes when their categories are
    known (``node_categories``: exported node name -> category), else by member names.

    Returns None (-> Others, listed) when nothing is recognised.
    """
    if name.startswith("Reformatting CopyNode"):
        return OTHERS
    cats = set()
    for member in layer_members(name):
        if node_categories and member in node_categories:
            cats.add(node_categories[member])
            continue
        cat = _myelin_category(member) or categorize_by_name(member)
        if cat:
            cats.add(cat)
    if not cats:
        return _myelin_category(name) or categorize_by_name(name)
    return next(c for c in _PRIORITY if c in cats)


def _myelin_category(name: str) -> str | None:
    """Myelin kernel names describe their math: MaxrSubExpSum = softmax, Resh = reshape, ..."""
    if "__myl" not in name and "myl" not in name:
        return None
    if re.search(r"Maxr.*Exp.*Sum|Exp.*Sum.*Div|Softmax", name):
        return MSA_SOFTMAX
    if re.search(r"MeanSub|Rsqrt|Sqrt.*Div|LayerNorm", name):
        return LAYERNORM
    if re.search(r"_Resh|Transp|Shuffle|Cast.*Resh", name):
        return MSA_RESHAPE
    return None


# -- JSON outputs ------------------------------------------------------------------------------------
def looks_like_profile_json(data: Any) -> bool:
    return (isinstance(data, list) and data and isinstance(data[0], dict)
            and ("count" in data[0] or "averageMs" in data[0]) and any("averageMs" in d for d in data if isinstance(d, dict)))


def parse_trtexec_profile(data: Any, source: str = "", node_categories: dict[str, str] | None = None) -> ParseResult:
    """``--exportProfile`` JSON: ``[{"count": N}, {"name", "timeMs", "averageMs", ["medianMs"], "percentage"}, ...]``."""
    if not looks_like_profile_json(data):
        raise ParseError(f"{source or 'input'}: not a trtexec --exportProfile JSON (expected a list with 'averageMs' rows)")
    count = next((int(d["count"]) for d in data if "count" in d and "name" not in d), None)
    ops = []
    for d in data:
        if "name" not in d or "averageMs" not in d:
            continue
        cat = categorize_trt_layer(d["name"], node_categories)
        ops.append(make_op(d["name"], "layer", float(d["averageMs"]), d.get("percentage"), 1, cat))
    summary: dict[str, Any] = {"op_sum_ms": sum(op.avg_ms for op in ops)}
    if count is not None:
        summary["count"] = count
    medians = [d["medianMs"] for d in data if "medianMs" in d]
    extra = {"median_sum_ms": float(sum(medians))} if medians else {}
    return ParseResult("trtexec-profile", None, summary, ops, source, extra)


def looks_like_times_json(data: Any) -> bool:
    return isinstance(data, list) and data and isinstance(data[0], dict) and "computeMs" in data[0]


def parse_trtexec_times(data: Any, source: str = "") -> ParseResult:
    """``--exportTimes`` JSON: one record per inference (computeMs, latencyMs, enqueue start/end)."""
    if not looks_like_times_json(data):
        raise ParseError(f"{source or 'input'}: not a trtexec --exportTimes JSON (expected records with 'computeMs')")
    compute = [float(d["computeMs"]) for d in data]
    summary: dict[str, Any] = stats_summary(compute)
    if all("latencyMs" in d for d in data):
        summary["host_latency"] = {k: v for k, v in stats_summary([float(d["latencyMs"]) for d in data]).items() if k != "count"}
    if all("startEnqMs" in d and "endEnqMs" in d for d in data):
        summary["enqueue"] = {k: v for k, v in stats_summary([d["endEnqMs"] - d["startEnqMs"] for d in data]).items() if k != "count"}
    if all("startComputeMs" in d and "endComputeMs" in d for d in data) and len(data) > 1:
        span = data[-1]["endComputeMs"] - data[0]["startComputeMs"]
        if span > 0:
            summary["throughput_per_s"] = len(data) / (span / 1e3)
    return ParseResult("trtexec-times", None, summary, [], source)


def looks_like_trex_json(data: Any) -> bool:
    return isinstance(data, dict) and "performance_summary" in data


def parse_trex_summary(data: Any, source: str = "") -> ParseResult:
    """The summary trex derives from a trtexec log: metric lists are [min, max, mean, median, p99]."""
    if not looks_like_trex_json(data):
        raise ParseError(f"{source or 'input'}: not a trex summary (expected 'performance_summary')")
    perf = data["performance_summary"]

    def five(values: list[float]) -> dict[str, float]:
        keys = ("min_ms", "max_ms", "mean_ms", "median_ms", "p99_ms")
        return {k: float(v) for k, v in zip(keys, values)}

    summary: dict[str, Any] = five(perf.get("GPU Compute Time", []))
    if "Throughput" in perf:
        summary["throughput_per_s"] = float(perf["Throughput"])
    for label, key in (("Latency", "host_latency"), ("Enqueue Time", "enqueue"), ("H2D Latency", "h2d"), ("D2H Latency", "d2h")):
        if label in perf:
            summary[key] = five(perf[label])
    duration = data.get("inference_options", {}).get("Duration", "")
    mw = re.search(r"\+\s*([\d.]+)ms warm up", duration)
    if mw:
        summary["warmup_ms"] = float(mw.group(1))
    extra = {"device": data.get("device_information", {}).get("Selected Device"),
             "total_gpu_compute_ms": float(perf["Total GPU Compute Time"]) * 1e3 if "Total GPU Compute Time" in perf else None}
    return ParseResult("trex-summary", None, summary, [], source, {k: v for k, v in extra.items() if v is not None})


