"""TFLite / LiteRT ``benchmark_model`` logs (every generation seen: TF 2.4 → LiteRT 2025).

Keys on labels, not positions: op tables are split on tabs and read by their bracketed headers
(``[node type]``, ``[avg ms]``, ``[%]``, ``[times called]``, ``[Name]``), so the ``[start]``
column that newer builds dropped, extra columns, and node names with spaces or brackets are all
fine. Summary lines: ``count=50 first=.. curr=.. min=.. max=.. avg=.. std=..`` (newer builds add
``p5=.. median=.. p95=..``), ``Inference timings in us: Init: .., First inference: .., Warmup
(avg): .., Inference (avg): ..``, and the older ``Average inference timings in us: Warmup: ..,
Init: .., Inference: ..``. All in microseconds in the log; reported here in ms.
"""

from __future__ import annotations

import re

from lutnas.categories import LAYERNORM, MLP, MSA_GATHER, MSA_MATMUL, MSA_RESHAPE, MSA_SOFTMAX, OTHERS
from lutnas.profiler.categories import categorize_by_name
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, num

TFLITE_TYPES = {
    "FULLY_CONNECTED": MLP, "BATCH_MATMUL": MSA_MATMUL, "SOFTMAX": MSA_SOFTMAX,
    "RESHAPE": MSA_RESHAPE, "TRANSPOSE": MSA_RESHAPE, "SQUEEZE": MSA_RESHAPE, "EXPAND_DIMS": MSA_RESHAPE,
    "GATHER": MSA_GATHER, "GATHER_ND": MSA_GATHER, "STRIDED_SLICE": MSA_GATHER, "SLICE": MSA_GATHER,
    "SPLIT": MSA_GATHER, "SPLIT_V": MSA_GATHER, "UNPACK": MSA_GATHER,
    # LayerNorm arrives decomposed; in a ViT these ops only come from LayerNorm. The tflite runner
    # classifies through the graph instead; for a bare log this is the documented rule.
    "MEAN": LAYERNORM, "SQUARED_DIFFERENCE": LAYERNORM, "RSQRT": LAYERNORM,
    "CONV_2D": OTHERS, "DEPTHWISE_CONV_2D": OTHERS, "ADD": OTHERS, "MUL": OTHERS, "SUB": OTHERS,
    "GELU": OTHERS, "TANH": OTHERS, "CONCATENATION": OTHERS, "AVERAGE_POOL_2D": OTHERS, "MAX_POOL_2D": OTHERS,
    "PAD": OTHERS, "QUANTIZE": OTHERS, "DEQUANTIZE": OTHERS, "RESIZE_BILINEAR": OTHERS,
    "RESIZE_NEAREST_NEIGHBOR": OTHERS, "ARG_MAX": OTHERS, "LOGISTIC": OTHERS, "HARD_SWISH": OTHERS,
    "DIV": OTHERS, "POW": OTHERS, "SQRT": OTHERS, "CAST": OTHERS, "ERF": OTHERS,
}

_STATS = re.compile(r"count=(?P<count>\d+)(?P<rest>(?:\s+\w+=[-+\d.eE]+)+)")
_INFER = re.compile(r"inference timings in us:\s*(?P<body>.*)", re.I)
_FOOTER_KEYS = {"init": "init_ms", "warmup (avg)": "warmup_ms", "warmup": "warmup_ms", "first inference": "first_ms",
                "inference (avg)": "mean_ms", "inference": "mean_ms"}
_VERSION = re.compile(r"(?:TensorFlow(?:\s*Lite)?|TFLite|LiteRT)\s*(?:version)?\s*[:=]?\s*v?(\d+\.\d+(?:\.\d+)?)", re.I)


def looks_like(text: str) -> bool:
    return ("[node type]" in text or "Inference timings in us" in text
            or bool(re.search(r"^count=\d+ .*avg=", text, re.M)))


def categorize_tflite(op_type: str, name: str) -> str | None:
    if op_type.upper() in TFLITE_TYPES:
        return TFLITE_TYPES[op_type.upper()]
    return categorize_by_name(name, op_type)


def _kv(body: str) -> dict[str, float]:
    out = {}
    for m in re.finditer(r"(\w+)=([-+\d.eE]+)", body):
        try:
            out[m.group(1)] = num(m.group(2))
        except ValueError:
            continue
    return out


def _tables(lines: list[str]) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """(section, title, header labels, rows) for every ``=== title ===`` table with bracketed headers."""
    tables = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if "Profiling Info for" in line:
            section = line.strip()
        m = re.match(r"^=+\s*(.+?)\s*=+\s*$", line.strip())
        if m and i + 1 < len(lines) and "[" in lines[i + 1]:
            header = [h.strip().strip("[]").lower() for h in lines[i + 1].strip().split("\t") if h.strip()]
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].startswith("\t") and lines[j].strip():
                rows.append([c.strip() for c in lines[j].strip("\n").split("\t")[1:]])
                j += 1
            tables.append((section, m.group(1), header, rows))
            i = j
            continue
        i += 1
    return tables


def parse_tflite(text: str, source: str = "") -> ParseResult:
    if not looks_like(text):
        raise ParseError(f"{source or 'input'}: not a TFLite benchmark_model log (expected '[node type]' tables or 'count=.. avg=..' lines)")
    lines = text.splitlines()
    summary: dict[str, float] = {}
    # The regular runs' stats line: the last bare 'count=' line with avg= (not the op-profiling 'Timings' line).
    bare = [ln for ln in lines if _STATS.match(ln.strip()) and "avg=" in ln]
    timings = [ln for ln in lines if ln.strip().startswith("Timings (microseconds):") and "avg=" in ln]
    stats_line = bare[-1] if bare else (timings[-1] if timings else None)
    if stats_line is not None:
        kv = _kv(stats_line)
        kv["count"] = float(re.search(r"count=(\d+)", stats_line).group(1))
        mapping = {"avg": "mean_ms", "min": "min_ms", "max": "max_ms", "std": "std_ms", "median": "median_ms",
                   "p5": "p5_ms", "p95": "p95_ms", "p90": "p90_ms", "p99": "p99_ms", "first": "first_ms"}
        for k, v in kv.items():
            if k in mapping:
                summary[mapping[k]] = v / 1e3
        summary["count"] = int(kv["count"])
    for ln in lines:
        # 'Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..'
        # and the older 'Average inference timings in us: Warmup: .., Init: .., Inference: ..'
        m = _INFER.search(ln)
        if not m:
            continue
        parts = dict((k.strip().lower(), v) for k, v in re.findall(r"([A-Za-z ()]+):\s*([-+\d.eE]+)", m.group("body")))
        for label, key in _FOOTER_KEYS.items():
            if label in parts:
                value = num(parts[label]) / 1e3
                if key == "mean_ms":
                    summary.setdefault(key, value)  # the stats line, when present, wins
                else:
                    summary[key] = value
    if "mean_ms" in summary and summary["mean_ms"] > 0:
        summary["throughput_per_s"] = 1e3 / summary["mean_ms"]

    ops = []
    tables = [t for t in _tables(lines) if t[1].lower() == "run order" and "initialization" not in t[0].lower()]
    if tables:
        _, _, header, rows = tables[-1]
        col = {h: i for i, h in enumerate(header)}
        need = ("node type", "avg ms")
        if not all(n in col for n in need):
            raise ParseError(f"{source or 'input'}: Run Order table lacks {', '.join(n for n in need if n not in col)} columns")
        for row in rows:
            if len(row) < len(header):
                continue
            op_type = row[col["node type"]]
            name = row[col["name"]] if "name" in col else op_type
            name = re.sub(r":\d+$", "", name).strip()
            if name.startswith("[") and name.endswith("]"):
                name = name[1:-1]
            pct = row[col["%"]].rstrip("%") if "%" in col else None
            times = int(float(row[col["times called"]])) if "times called" in col else 1
            ops.append(make_op(name, op_type, num(row[col["avg ms"]]), None if pct is None else num(pct), times,
                               categorize_tflite(op_type, name)))
    if not summary and not ops:
        raise ParseError(f"{source or 'input'}: TFLite log has neither a stats line nor a Run Order table")
    if ops and "mean_ms" not in summary:
        summary["op_sum_ms"] = sum(op.avg_ms for op in ops)
    vm = _VERSION.search(text)
    return ParseResult("tflite", vm.group(1) if vm else None, summary, ops, source)
