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
_TOTAL = re.compile(r"^\s*(Self )?(CPU|CUDA|Device|XPU|MPS|HPU|MTIA|PrivateUse1) time total:\s*(\S+)")
_DEVICES = ("CUDA", "Device", "XPU", "MPS", "HPU", "MTIA", "PrivateUse1")
_KNOWN = re.compile(r"\b(Self CPU|CPU total|CPU time avg|Self CUDA|CUDA total|Self Device|Device total|CPU Mem|"
                    r"# of Calls|Number of Calls|Input Shapes|Source Location|Total [KMGT]?FLOPs|Self XPU|XPU total)\b")
#: an author's elision of rows ("..." on a line of its own)
_ELISION = re.compile(r"^\s*(?:\.{3,}|…)\s*$")


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


def time_columns(header: list[str]) -> list[tuple[str, bool]]:
    """The columns that may hold each operator's time, best first, each with whether it is a self
    time. Before PyTorch 1.8 the self column was labelled ``Self CPU total`` (``CUDA total`` had no
    self twin); PyTorch 1.0 had only ``CPU total`` and ``CUDA total``."""
    found = [(f"Self {d}", True) for d in _DEVICES if f"Self {d}" in header]
    found += [(label, True) for label in ("Self CPU", "Self CPU total") if label in header]
    found += [(f"{d} total", False) for d in _DEVICES if f"{d} total" in header]
    found += [("CPU total", False)] if "CPU total" in header else []
    return found


def time_column(header: list[str]) -> tuple[str, bool] | None:
    """(the column that holds each operator's time, whether it is a self time), or None."""
    found = time_columns(header)
    return found[0] if found else None


def _tables(lines: list[str]) -> list[tuple[list[str], list[tuple[int, int]], list[str], list[str], bool]]:
    """(header labels, spans, row lines, trailing total lines, closed by a rule) of every table."""
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
        closed = j < len(lines) and bool(_RULE.match(lines[j]))
        totals = []
        k = j + 1
        while k < len(lines) and k <= j + 3 and _TOTAL.match(lines[k]):
            totals.append(lines[k])
            k += 1
        found.append((header, spans, rows, totals, closed))
        i = max(k, i + 1)
    return found


def _calls_column(header: list[str]) -> str | None:
    return next((h for h in header if h.startswith(("# of Calls", "Number of Calls")) or h == "Calls"), None)


def _read_rows(header: list[str], spans: list[tuple[int, int]], rows: list[str], time_key: str,
               closed: bool) -> tuple[list, list[float | None], int, int]:
    """(operator records, each one's CPU total in ms — None without a CPU column —, unreadable
    rows, elided rows) of one table. Lines after the last readable row of a table whose closing
    rule is missing are the text that follows it."""
    col = {h: i for i, h in enumerate(header)}
    calls_key = _calls_column(header)
    pct_key = f"{time_key} %" if f"{time_key} %" in col else None
    host_key = next((k for k in ("CPU total", "Self CPU") if k in col), None)
    ops, host, skipped, elided, pending = [], [], 0, 0, 0
    for line in rows:
        if _ELISION.match(line):
            elided += 1
            continue
        cells = _cells(line, spans)
        value = ms(cells[col[time_key]]) if len(cells) == len(header) else None
        if value is None or not cells[0]:
            pending += bool(cells[0])  # an empty name is a continuation line (long shapes, stacks)
            continue
        skipped, pending = skipped + pending, 0
        name = cells[0]
        pct = cells[col[pct_key]].rstrip("%") if pct_key else ""
        calls = cells[col[calls_key]] if calls_key else ""
        try:
            pct_value = num(pct) if pct else None
        except ValueError:  # also 'NaN' (PyTorch <= 1.3 printed it for an all-zero column)
            pct_value = None
        ops.append(make_op(name, name, value, pct_value,
                           int(calls) if calls.isascii() and calls.isdigit() else 1, categorize_torch_op(name)))
        host.append(ms(cells[col[host_key]]) if host_key else None)
    return ops, host, skipped + (pending if closed else 0), elided


def _best_column(header: list[str], spans: list[tuple[int, int]], rows: list[str], closed: bool,
                 candidates: list[tuple[str, bool]]) -> tuple[str, bool, tuple[list, list[float | None], int, int]]:
    """The first candidate column with a non-zero time (a CPU-only run of PyTorch <= 1.3 printed
    CUDA columns of zeros), else the first."""
    first = None
    for key, is_self in candidates:
        read = _read_rows(header, spans, rows, key, closed)
        if any(op.avg_ms > 0 for op in read[0]):
            return key, is_self, read
        first = first or (key, is_self, read)
    return first


def _totals(lines: list[str]) -> dict[str, float]:
    """``Self CPU time total: 2.314ms`` -> ``self_cpu_total_ms``; the old ``CUDA time total``
    (inclusive) -> ``cuda_time_total_ms``."""
    out = {}
    for line in lines:
        m = _TOTAL.match(line)
        value = ms(m.group(3))
        if value is not None:
            key = f"self_{m.group(2).lower()}_total_ms" if m.group(1) else f"{m.group(2).lower()}_time_total_ms"
            out[key] = value
    return out


#: an operator's name (``aten::mm``, ``torch_ipex::ipex_linear``, with its shapes); a device kernel's
#: (``void at::native::im2col_kernel<float>(...)``, ``sgemm_32x32x32_NN``, ``at::native::xpu::...``) is not
_OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*::[A-Za-z_][A-Za-z0-9_.]*(?:\(.*\))?$")


#: a GPU-side ``record_function`` range (``## forward_pass ##``, ``## graph.replay ##``): it spans kernels
_ANNOTATION = re.compile(r"^##.*##$")


def drop_double_counted_kernels(ops: list, host: list[float | None], total_ms: float | None) -> tuple[list, dict[str, Any]]:
    """A device table lists each operator (its self device time = the kernels it launched), the
    kernels themselves and GPU-side annotation ranges (PyTorch's CUDA/XPU key_averages), so summing
    every row counts the same device time two or three times. Rows that spent no CPU time are the
    kernels and ranges (without a CPU column: names that are not an operator's). When all rows sum
    to more than 1.25x the table's device total, the ranges leave the list if the rest comes to at
    most 1.1x the total; then the kernels, if the operators do. Counts and sums go to ``extra``."""
    if not total_ms or total_ms <= 0 or len(host) != len(ops):
        return ops, {}
    device = [op.avg_ms > 0 and (h == 0 if h is not None else not _OP_NAME.match(op.name)) for op, h in zip(ops, host)]
    extra: dict[str, Any] = {}
    for label in ("annotations", "kernels"):  # each pass judges the rows the one before kept
        drop = [d and (label == "kernels" or bool(_ANNOTATION.match(op.name.strip()))) for op, d in zip(ops, device)]
        kept = sum(op.avg_ms for op, d in zip(ops, drop) if not d)
        gone = sum(op.avg_ms for op, d in zip(ops, drop) if d)
        if gone > 0 and kept > 0 and kept <= 1.1 * total_ms and kept + gone > 1.25 * total_ms:
            extra.update({f"device_{label}_dropped": sum(drop), f"device_{label}_ms": gone})
            device = [x for x, d in zip(device, drop) if not d]
            ops = [op for op, d in zip(ops, drop) if not d]
    return ops, extra


def parse_torch_table(text: str, source: str = "") -> ParseResult:
    """Every table of ``text`` is a run; the summary is the last one with a time-total line
    (else the last one), and the operators are that table's."""
    lines = [strip_prefix(x) for x in text.splitlines()]
    tables = _tables(lines)
    if not tables:
        raise ParseError(f"{source or 'input'}: not a torch.profiler key_averages table "
                         f"(expected a dashed rule and a 'Name ... Self CPU' header)")
    runs: list[dict[str, Any]] = []
    table_ops: list[list] = []
    partial: list[str] = []
    elided = 0
    for t, (header, spans, rows, totals, closed) in enumerate(tables, 1):
        candidates = time_columns(header)
        if not candidates:
            raise ParseError(f"{source or 'input'}: key_averages table {t} has no time column "
                             f"(columns: {', '.join(h for h in header if h)}); print it with a Self CPU or CPU total column")
        time_key, is_self, (ops, host, skipped, cut) = _best_column(header, spans, rows, closed, candidates)
        elided += cut
        if skipped:
            partial.append(f"table {t}: {skipped} rows could not be read")
        run: dict[str, Any] = {"name": f"table {t}", "time_column": time_key, "rows": len(ops), **_totals(totals)}
        if is_self and not time_key.startswith("Self CPU"):
            device = time_key.split(" ", 1)[1].lower()
            ops, dropped = drop_double_counted_kernels(ops, host, run.get(f"self_{device}_total_ms"))
            run.update(dropped)
        if is_self:
            run["op_sum_ms"] = sum(op.avg_ms for op in ops)
        runs.append(run)
        table_ops.append(ops)
    with_total = [i for i, r in enumerate(runs) if any(k.startswith("self_") for k in r)]
    chosen_run = with_total[-1] if with_total else len(runs) - 1
    ops, time_key = table_ops[chosen_run], runs[chosen_run]["time_column"]
    summary = {k: v for k, v in runs[chosen_run].items()
               if k not in ("name", "time_column", "rows") and not k.startswith("device_")}
    device_total = next((k for k in summary if k.startswith("self_") and not k.startswith("self_cpu")), None)
    total_key = device_total if device_total and not time_key.startswith(("Self CPU", "CPU")) else "self_cpu_total_ms"
    if total_key in summary:
        summary["mean_ms"] = summary[total_key]
    if not ops:
        raise ParseError(f"{source or 'input'}: key_averages table has no readable rows")
    extra: dict[str, Any] = {"time_column": time_key, "self_time": time_key.startswith("Self")}
    extra.update({k: v for k, v in runs[chosen_run].items() if k.startswith("device_")})
    if elided:
        extra["elided_rows"] = elided
    return ParseResult("torch-table", None, summary, ops, source, extra,
                       runs if len(runs) > 1 else [], chosen_run if len(runs) > 1 else None, partial)
