"""The per-node tables of TensorFlow's and TFLite's stat summarizer (``benchmark_model``).

A table is a header line of bracketed labels (``[node type]  [avg ms]  [%]  [times called]
[Name]``) followed by rows, optionally under a ``==== Run Order ====`` title. Columns are
tab-separated in the tool's output; pasted copies often lose the tabs, so space-aligned rows are
cut at the header labels' closing brackets (labels and numbers are right-aligned, the name
column is left-aligned and last). Rows are read by label, never by position.
"""

from __future__ import annotations

import dataclasses
import re

_LABEL = re.compile(r"\[([^\[\]\t]{1,40})\]")
_TITLE = re.compile(r"^\s*=+ ?([^=]{1,80}?) ?=+\s*$")
_NUMERIC = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?$")


@dataclasses.dataclass
class StatTable:
    """One table: ``title`` (``run order``, ``summary by node type``...; '' when untitled),
    ``section`` (``init`` or ``regular``), lower-cased ``header`` labels, ``rows`` of cells,
    ``skipped`` rows that did not fit the header."""

    title: str
    section: str
    header: list[str]
    rows: list[list[str]]
    skipped: int = 0

    @property
    def kind(self) -> str:
        """``nodes`` (one row per node) or ``types`` (one row per node type)."""
        return "types" if "node type" in self.header and "name" not in self.header else "nodes"


def is_header(line: str) -> bool:
    """A stat-summarizer header: bracketed labels including ``node type`` and ``avg ms``."""
    low = line.lower()
    return "[node type]" in low and "[avg ms]" in low


def _header(line: str) -> tuple[list[str], list[int]]:
    labels, ends = [], []
    for m in _LABEL.finditer(line):
        labels.append(m.group(1).strip().lower())
        ends.append(m.end())
    return labels, ends


def _tab_cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.split("\t")]
    while cells and not cells[0]:
        cells.pop(0)
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _positional_cells(line: str, ends: list[int]) -> list[str]:
    cells, start = [], 0
    for end in ends[:-1]:
        cells.append(line[start:end].strip())
        start = end
    cells.append(line[start:].strip())
    return cells


def _token_cells(line: str, header: list[str]) -> list[str] | None:
    """Fallback for a row wider than its header: the type is the text before the run of numbers,
    the name the text after it."""
    k = len(header) - 2 if header[-1] == "name" else len(header) - 1
    tokens = line.split()
    for i in range(1, len(tokens) - k + 1):
        if all(_NUMERIC.match(t) for t in tokens[i:i + k]):
            cells = [" ".join(tokens[:i]), *tokens[i:i + k]]
            if header[-1] == "name":
                rest = tokens[i + k:]
                if not rest:
                    return None
                cells.append(" ".join(rest))
            return cells
    return None


def _row(line: str, header: list[str], ends: list[int], tabbed: bool) -> list[str] | None:
    cells = _tab_cells(line) if tabbed and "\t" in line else _positional_cells(line, ends)
    numeric = [i for i, h in enumerate(header) if h not in ("node type", "name")]
    if len(cells) == len(header) and all(_NUMERIC.match(cells[i]) for i in numeric) and cells[0]:
        return cells
    if not tabbed:
        return _token_cells(line, header)
    return None


def read_tables(lines: list[str]) -> list[StatTable]:
    """Every stat-summarizer table in ``lines`` (logger prefixes already stripped)."""
    tables: list[StatTable] = []
    section = "regular"
    i = 0
    while i < len(lines):
        line = lines[i]
        low = line.lower()
        if "profiling info for benchmark initialization" in low:
            section = "init"
        elif "operator-wise profiling info" in low or "profiling info for regular benchmark runs" in low:
            section = "regular"
        if not is_header(line):
            i += 1
            continue
        m = _TITLE.match(lines[i - 1]) if i else None
        title = m.group(1).strip().lower() if m else ""
        header, ends = _header(line)
        tabbed = len(_tab_cells(line)) == len(header)  # else space-aligned (maybe under a tab indent)
        rows, skipped = [], 0
        j = i + 1
        while j < len(lines) and lines[j].strip() and not _TITLE.match(lines[j]) and not is_header(lines[j]):
            cells = _row(lines[j], header, ends, tabbed)
            if cells is None:
                if re.match(r"^\s*(Number of nodes|Timings|Memory|\d+ nodes observed)", lines[j]):
                    break
                skipped += 1
            else:
                rows.append(cells)
            j += 1
        tables.append(StatTable(title, section, header, rows, skipped))
        i = j
    return tables
