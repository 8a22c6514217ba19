"""``torch.profiler`` ``key_averages().table()`` text, any column subset, any release.

Columns are read by label from the header, cut at the dashed rule's column spans (labels and
numbers are right-aligned, names may contain spaces). The time of an operator is its self time
on the device when the table has ``Self CUDA`` / ``Self Device`` / ``Self XPU``, else ``Self CPU``;
without self columns, ``<device> total`` or ``CPU total`` (inclusive: parents and children both
count, say so in ``extra['time_column']``). A table with no time column at all (memory columns
only, source locations) is refused in one line. Rows may be prefixed with ``#`` (the profiler
recipe's rendering); a file may hold several tables (each is a run; the last one is the summary).
"""

from __future__ import annotations

import re
from typing import Any

from lutnas.profiler.categories import categorize_torch_op
from lutnas.profiler.parsers.base import ParseError, ParseResult, make_op, num
from lutnas.profiler.parsers.logprefix import strip_prefix

_TIME = re.compile(r"^([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(ns|us|ms|s)$")
_SCALE = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
_RULE = re.compile(r"^[ \t]*-{3,}(?:[ \t]+-{3,})*[ \t]*$")
_TOTAL = re.compile(r"^\s*Self (CPU|CUDA|Device|XPU|MPS|HPU|MTIA|PrivateUse1) time total:\s*(\S+)")
_DEVICES = ("CUDA", "Device", "XPU", "MPS", "HPU", "MTIA", "PrivateUse1")
_KNOWN = re.compile(r"\b(Self CPU|CPU total|CPU time avg|Self CUDA|CUDA total|Self Device|Device total|CPU Mem|"
                    r"# of Calls|Input Shapes|Source Location|Total [KMGT]?FLOPs|Self XPU|XPU total)\b")


def looks_like_table(text: str) -> bool:
    """A dashed rule followed by a ``Name`` header carrying a known profiler column label."""
    lines = [strip_prefix(x) for x in text.splitlines()[:20000]]
    return any(_RULE.match(lines[i]) and re.match(r"^\s*Name\b", lines[i + 1]) and _KNOWN.search(lines[i + 1])
               for i in range(len(lines) - 1))


def ms(cell: str) -> float | None:
    """``231.000us`` -> 0.231; None when the cell is not a time."""
    m = _TIME.match(cell.strip())
    if not m:
        return None
    try:
        return num(m.group(1)) * _SCALE[m.group(2)]
    except ValueError:
        return None


def _spans(rule: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    """Cells cut at the rule's columns: each column ends where its dashes end."""
    cells, start = [], 0
    for i, (_, end) in enumerate(spans):
        stop = end if i < len(spans) - 1 else len(line)
        cells.append(line[start:stop].strip())
        start = stop
    return cells


def time_column(header: list[str]) -> tuple[str, bool] | None:
    """(the column that holds each operator's time, whether it is a self time)."""
    for device in _DEVICES:
        if f"Self {device}" in header:
            return f"Self {device}", True
    if "Self CPU" in header:
        return "Self CPU", True
    for device in _DEVICES:
        if f"{device} total" in header:
            return f"{device} total", False
    if "CPU total" in header:
        return "CPU total", False
    return None


def _tables(lines: list[str]) -> list[tuple[list[str], list[tuple[int, int]], list[str], list[str]]]:
    """(header labels, spans, row lines, trailing total lines) of every table."""
    found = []
    i = 0
    while i < len(lines) - 1:
        if not (_RULE.match(lines[i]) and re.match(r"^\s*Name\b", lines[i + 1])):
            i += 1
            continue
        spans = _spans(lines[i])
        header = re.split(r"\s{2,}", lines[i + 1].strip())
        if len(header) != len(spans):  # a label wider than its column shifts the rest: cut by position
            header = _cells(lines[i + 1], spans)
        j = i + 2
        if j < len(lines) and _RULE.match(lines[j]):
            j += 1
        rows: list[str] = []
        while j < len(lines) and not _RULE.match(lines[j]) and lines[j].strip():
            rows.append(lines[j])
            j += 1
        totals = []
        k = j + 1
        while k < len(lines) and k <= j + 3 and _TOTAL.match(lines[k]):
            totals.append(lines[k])
            k += 1
        found.append((header, spans, rows, totals))
        i = max(k, i + 1)
    return found


def parse_torch_table(text: str, source: str = "") -> ParseResult:
    lines = [strip_prefix(x) for x in text.splitlines()]
    tables = _tables(lines)
    if not tables:
        raise ParseError(f"{source or 'input'}: not a torch.profiler key_averages table "
                         f"(expected a dashed rule and a 'Name ... Self CPU' header)")
    runs: list[dict[str, Any]] = []
    ops: list = []
    partial: list[str] = []
    time_key = ""
    for t, (header, spans, rows, totals) in enumerate(tables, 1):
        chosen = time_column(header)
        if chosen is None:
            raise ParseError(f"{source or 'input'}: key_averages table {t} has no time column "
                             f"(columns: {', '.join(h for h in header if h)}); print it with a Self CPU or CPU total column")
        time_key, is_self = chosen
        col = {h: i for i, h in enumerate(header)}
        calls_key = next((h for h in header if h.startswith("# of Calls")), None)
        pct_key = f"{time_key} %" if f"{time_key} %" in col else None
        table_ops, skipped = [], 0
        for line in rows:
            cells = _cells(line, spans)
            value = ms(cells[col[time_key]]) if len(cells) == len(header) else None
            if value is None or not cells[0]:
                skipped += bool(cells[0])  # an empty name is a continuation line (long shapes, stacks)
                continue
            name = cells[0]
            pct = cells[col[pct_key]].rstrip("%") if pct_key else ""
            calls = cells[col[calls_key]] if calls_key else ""
            try:
                pct_value = float(pct) if pct else None
            except ValueError:
                pct_value = None
            table_ops.append(make_op(name, name, value, pct_value, int(calls) if calls.isascii() and calls.isdigit() else 1,
                                     categorize_torch_op(name)))
        if skipped:
            partial.append(f"table {t}: {skipped} rows could not be read")
        run: dict[str, Any] = {"name": f"table {t}", "time_column": time_key, "rows": len(table_ops)}
        for line in totals:
            m = _TOTAL.match(line)
            value = ms(m.group(2))
            if value is not None:
                run[f"self_{m.group(1).lower()}_total_ms"] = value
        if is_self:
            run["op_sum_ms"] = sum(op.avg_ms for op in table_ops)
        runs.append(run)
        ops = table_ops
    summary = {k: v for k, v in runs[-1].items() if k not in ("name", "time_column", "rows")}
    device_total = next((k for k in summary if k.startswith("self_") and not k.startswith("self_cpu")), None)
    total_key = device_total if device_total and not time_key.startswith(("Self CPU", "CPU")) else "self_cpu_total_ms"
    if total_key in summary:
        summary["mean_ms"] = summary[total_key]
    if not ops:
        raise ParseError(f"{source or 'input'}: key_averages table has no readable rows")
    extra = {"time_column": time_key, "self_time": time_key.startswith("Self")}
    return ParseResult("torch-table", None, summary, ops, source, extra,
                       runs if len(runs) > 1 else [], len(runs) - 1 if len(runs) > 1 else None, partial)
