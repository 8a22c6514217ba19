"""``benchmark_model`` logs of TFLite / LiteRT (TF 1.13 → LiteRT 2025) and of TensorFlow itself.

A log is one or more invocations (each starts with ``STARTING!``). Each invocation has named runs:

- **warm-up run** — the first ``Running benchmark for at least N iterations`` block
  (TensorFlow: the first ``... without detailed stat logging``);
- **timed run** — the second such block; its ``count= first= ... avg= std= [p5= median= p95=]``
  line is the summary (TensorFlow: the second ``without detailed stat logging`` block);
- **profiling run** — TensorFlow's ``with detailed stat logging`` block, and the op profiler's
  closing ``Timings (microseconds): count=..`` line; never the summary;
- LiteRT's ``BENCHMARK RESULTS`` block (``Inference (avg): 0.46 ms (2112 runs)``) describes the
  warm-up and timed runs the same way.

Footers fill what the runs lack: ``Inference timings in us: Init: .., First inference: ..,
Warmup (avg): .., Inference (avg): ..`` and the older ``Average inference timings in us: Warmup:
.., Init: .., no stats: .. [, with stats: ..]``. Logger prefixes (``INFO: `` from TF 2.18, glog,
LiteRT's ``[file.h:94]``) are stripped first. Microseconds in the log; milliseconds here.
``warmup_mean_ms`` is the warm-up runs' average latency (trtexec's warm-up is a duration,
``warmup_duration_ms``).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from lutnas.profiler.categories import categorize_tflite
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, num
from lutnas.profiler.parsers.logprefix import strip_lines
from lutnas.profiler.parsers.stat_tables import StatTable, is_header, read_tables

_KV = re.compile(r"(\w+)=([-+]?[\d.]+(?:[eE][-+]?\d+)?)")
_STAT_KEYS = {"avg": "mean_ms", "min": "min_ms", "max": "max_ms", "std": "std_ms", "median": "median_ms",
              "p5": "p5_ms", "p95": "p95_ms", "p90": "p90_ms", "p99": "p99_ms", "first": "first_ms"}
_VERSION = re.compile(r"(?:TensorFlow(?:\s*Lite)?|TFLite|LiteRT)\s*(?:version)?\s*[:=]?\s*v?(\d+\.\d+(?:\.\d+)?)", re.I)
_LITERT = re.compile(r"^\s*(Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \(avg\)|Inference \(min\)|"
                     r"Inference \(max\)|Inference \(std\)):\s*([-+\d.eE]+)\s*(?:ms)?\s*(?:\((\d+) runs\))?")
#: profiler events of the initialisation, never operators of a run
INIT_EVENTS = {"allocatetensors", "modifygraphwithdelegate"}


def looks_like(text: str) -> bool:
    """A benchmark_model log: a stat table (``[node type]``, capitalised ``[Node type]`` in Summary by
    node type), a ``count=`` line, LiteRT's results block or a timings footer."""
    return (bool(re.search(r"\[node type\]", text, re.I)) or "Inference timings in us" in text or "BENCHMARK RESULTS" in text
            or "Inference (avg):" in text or bool(re.search(r"^\s*(?:INFO: )?count=\d+ ", text, re.M)))


def stat_line(line: str) -> dict[str, float] | None:
    """The statistics of a ``count=N first=.. avg=..`` line (ms), or None."""
    s = line.strip()
    if s.startswith("Timings (microseconds):"):
        s = s[len("Timings (microseconds):"):].strip()
    if not s.startswith("count="):
        return None
    out: dict[str, float] = {}
    curr = None
    for key, value in _KV.findall(s):
        try:
            v = num(value)
        except ValueError:
            continue
        if key == "count":
            out["count"] = int(v)
        elif key == "curr":
            curr = v / 1e3
        elif key in _STAT_KEYS:
            out[_STAT_KEYS[key]] = v / 1e3
    if "count" not in out:
        return None
    if "mean_ms" not in out and out["count"] == 1 and curr is not None:
        out["mean_ms"] = curr
    return out


def split_invocations(lines: list[str]) -> list[list[str]]:
    """Lines of each invocation of the tool (the whole log when it ran once): a new one starts at
    ``STARTING!``, or — once the current one has printed its results (LiteRT's ``BENCHMARK
    RESULTS`` block or an ``Inference timings`` footer) — at the next ``Running benchmark`` line or
    results block."""
    parts: list[list[str]] = [[]]
    started = finished = False
    for line in lines:
        s = line.strip()
        low = s.lower()
        begins = s == "STARTING!"
        if (begins and started) or (finished and (begins or low.startswith("running benchmark for")
                                                  or "benchmark results" in low)):
            parts.append([])
            started = finished = False
        started = started or begins
        finished = finished or "benchmark results" in low or "inference timings in us" in low
        parts[-1].append(line)
    return parts


def _footer(line: str, info: dict[str, Any]) -> None:
    low = line.lower()
    if "inference timings in us:" not in low:
        return
    body = line[low.index("inference timings in us:") + len("inference timings in us:"):]
    pairs = {k.strip().lower(): v for k, v in re.findall(r"([A-Za-z][A-Za-z ()]{0,30}):\s*([-+\d.eE]+)", body)}
    keys = {"init": "init_ms", "first inference": "first_inference_ms", "warmup (avg)": "warmup_mean_ms",
            "warmup": "warmup_mean_ms", "inference (avg)": "footer_mean_ms", "inference": "footer_mean_ms",
            "no stats": "footer_mean_ms", "with stats": "profiling_mean_ms"}
    for label, key in keys.items():
        if label in pairs:
            try:
                info[key] = num(pairs[label]) / 1e3
            except ValueError:
                continue


def _run_name(header: str, index: int, flavour: str) -> str:
    if flavour == "tf" and "with detailed stat logging" in header:
        return "profiling run"
    return {0: "warm-up run", 1: "timed run"}.get(index, f"run {index + 1}")


def read_invocation(lines: list[str], flavour: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(named runs, facts: init_ms, first_inference_ms, warmup_mean_ms, graph, error) of one invocation."""
    runs: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    header: str | None = None
    headers_seen = 0
    litert: dict[str, tuple[float, int | None]] = {}
    section = "regular"
    for line in lines:
        s = line.strip()
        low = s.lower()
        if "profiling info for benchmark initialization" in low:
            section = "init"
        elif "profiling info for regular benchmark runs" in low:
            section = "regular"
        if low.startswith("running benchmark for"):
            header = low
            continue
        stats = stat_line(s)
        if stats is not None:
            if s.startswith("Timings"):
                if section == "regular":
                    runs.append({"name": "profiling run (op profiler)", **stats})
                continue
            if header is not None:
                name = _run_name(header, headers_seen, flavour)
                headers_seen += name != "profiling run"
                header = None
            else:
                name = f"run {len([r for r in runs if r['name'].startswith('run ')]) + 1}"
            runs.append({"name": name, **stats})
            continue
        m = _LITERT.match(s)
        if m:
            try:
                litert[m.group(1).lower()] = (num(m.group(2)), int(m.group(3)) if m.group(3) else None)
            except ValueError:
                pass
            continue
        _footer(s, info)
        mg = re.match(r"^Graph: \[(.{1,300})\]$", s)
        if mg:
            info["graph"] = mg.group(1)
        mi = re.match(r"^Initialized session in (\d+(?:\.\d*)?)\s*(ms|s)\b", s)
        if mi:
            info.setdefault("init_ms", float(mi.group(1)) * (1.0 if mi.group(2) == "ms" else 1e3))
        if low.startswith(("benchmarking failed", "failed to")) or "failed to prepare" in low:
            info.setdefault("error", s)
    if litert:
        _merge_litert(runs, litert, info)
    return runs, info


def _merge_litert(runs: list[dict[str, Any]], block: dict[str, tuple[float, int | None]], info: dict[str, Any]) -> None:
    """LiteRT's BENCHMARK RESULTS block (ms) names the warm-up and the timed run."""
    if "model initialization" in block:
        info.setdefault("init_ms", block["model initialization"][0])
    warm = next((r for r in runs if r["name"] == "warm-up run" and "first_ms" in r), None)
    if warm is not None:
        info.setdefault("first_inference_ms", warm["first_ms"])  # the same, unrounded
    elif "warmup (first)" in block:
        info.setdefault("first_inference_ms", block["warmup (first)"][0])
    for label, name in (("warmup (avg)", "warm-up run"), ("inference (avg)", "timed run")):
        if label not in block:
            continue
        mean, count = block[label]
        run = next((r for r in runs if r["name"] == name), None)
        if run is None:
            run = next((r for r in runs if count is not None and r.get("count") == count
                        and r["name"].startswith("run ")), None)
        if run is None:
            run = {"name": name}
            runs.insert(len([r for r in runs if r["name"] == "warm-up run"]) if name == "timed run" else 0, run)
        run["name"] = name
        run.setdefault("mean_ms", mean)
        if count is not None:
            run.setdefault("count", count)
        if name == "timed run":
            for key, stat in (("inference (min)", "min_ms"), ("inference (max)", "max_ms"), ("inference (std)", "std_ms")):
                if key in block:
                    run.setdefault(stat, block[key][0])


def summarize(runs: list[dict[str, Any]], info: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """(summary, index of its run in ``runs``) of one invocation: its timed run, else its last
    unnamed run, else the footer's mean (appended to ``runs`` as the timed run)."""
    idx = next((i for i, r in enumerate(runs) if r["name"] == "timed run"), None)
    if idx is None:
        plain = [i for i, r in enumerate(runs) if r["name"].startswith("run ")]
        idx = plain[-1] if plain else None
    if idx is None and "footer_mean_ms" in info:
        runs.append({"name": "timed run", "mean_ms": info["footer_mean_ms"], "from": "footer"})
        idx = len(runs) - 1
    summary: dict[str, Any] = {}
    if idx is not None:
        summary = {k: v for k, v in runs[idx].items() if k not in ("name", "first_ms", "from", "invocation")}
    else:
        profiled = next((r for r in runs if r["name"].startswith("profiling run") and "mean_ms" in r), None)
        if profiled is not None:
            summary["profiling_mean_ms"] = profiled["mean_ms"]
    for key in ("init_ms", "first_inference_ms", "warmup_mean_ms"):
        if key in info:
            summary[key] = info[key]
    warm = next((r for r in runs if r["name"] == "warm-up run"), None)
    if warm is not None and "mean_ms" in warm:
        summary.setdefault("warmup_mean_ms", warm["mean_ms"])
    if summary.get("mean_ms"):
        summary["throughput_per_s"] = 1e3 / summary["mean_ms"]
    return summary, idx


def ops_from_tables(tables: list[StatTable], categorize: Callable[[str, str], str | None]) -> tuple[list, list[str]]:
    """Operator records from the regular run's tables (Run Order, else the untitled first table,
    else Summary by node type, else Top by Computation Time), and notes on what was partial."""
    regular = [t for t in tables if t.section == "regular" and t.rows]
    notes: list[str] = []
    table = (next((t for t in regular if t.title == "run order"), None)
             or next((t for t in regular if not t.title and t.kind == "nodes"), None)
             or next((t for t in regular if t.kind == "types"), None)
             or next((t for t in regular if t.title.startswith("top by computation")), None))
    if table is None:
        return [], notes
    if table.title.startswith("top by computation"):
        notes.append("only the 'Top by Computation Time' table is present: operators outside the top rows are missing")
    if table.skipped:
        notes.append(f"{table.skipped} rows of the {table.title or 'operator'} table could not be read")
    col = {h: i for i, h in enumerate(table.header)}
    type_col = col.get("node type", 0)
    calls_col = col.get("times called", col.get("count"))  # a type table without [times called]: its node count
    pct_col = col.get("%", col.get("avg %"))
    ops = []
    for row in table.rows:
        op_type = row[type_col]
        if op_type.lower() in INIT_EVENTS:
            continue
        name = _node_name(row[col["name"]]) if "name" in col else op_type
        try:
            avg = num(row[col["avg ms"]])
            pct = num(row[pct_col].rstrip("%")) if pct_col is not None else None
            calls = int(num(row[calls_col])) if calls_col is not None else 1
        except ValueError:
            notes.append(f"row {name!r} has an unreadable number")
            continue
        ops.append(make_op(name, op_type, avg, pct, calls, categorize(op_type, name)))
    return ops, notes


def _node_name(cell: str) -> str:
    m = re.match(r"^\[(.*)\](?::\w*)?$", cell)
    if m:
        return m.group(1)
    return re.sub(r":\d+$", "", cell).strip()


def parse_benchmark_log(text: str, source: str, flavour: str, tool: str,
                        categorize: Callable[[str, str], str | None]) -> ParseResult:
    """Shared by TFLite and TensorFlow ``benchmark_model`` logs (see the module docstring)."""
    lines = strip_lines(text)
    invocations = split_invocations(lines)
    runs: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    summary_run = None
    summary_inv = None
    for k, inv in enumerate(invocations, 1):
        inv_runs, info = read_invocation(inv, flavour)
        inv_summary, idx = summarize(inv_runs, info)
        tag = {"invocation": k} if len(invocations) > 1 else {}
        if "graph" in info and len(invocations) > 1:
            tag["graph"] = info["graph"]
        start = len(runs)
        runs += [{**r, **tag} for r in inv_runs]
        if not inv_runs and "error" in info:
            runs.append({"name": "failed run", "error": info["error"], **tag})
        if idx is not None:
            summary, summary_run, summary_inv = inv_summary, start + idx, inv
        elif not summary and inv_summary:
            summary = inv_summary
    with_tables = [inv for inv in invocations if any(is_header(x) for x in inv)]
    chosen = summary_inv if summary_inv is not None and summary_inv in with_tables else (with_tables[-1] if with_tables else [])
    ops, notes = ops_from_tables(read_tables(chosen), categorize)
    if not summary and not ops:
        raise ParseError(f"{source or 'input'}: {tool} log has no timed run, no timing footer and no operator table")
    if ops and "mean_ms" not in summary:
        summary["op_sum_ms"] = sum(op.avg_ms for op in ops)
    vm = _VERSION.search(text[:20000])
    extra = {"invocations": len(invocations)} if len(invocations) > 1 else {}
    return ParseResult(tool, vm.group(1) if vm else None, summary, ops, source, extra, runs, summary_run, notes)


def parse_tflite(text: str, source: str = "") -> ParseResult:
    """A TFLite / LiteRT ``benchmark_model`` (or ``benchmark_litert_model``) log."""
    if not looks_like(text):
        raise ParseError(f"{source or 'input'}: not a TFLite benchmark_model log "
                         f"(expected '[node type]' tables, 'count=.. avg=..' lines or 'Inference timings in us')")
    return parse_benchmark_log(text, source, "tflite", "tflite", categorize_tflite)
