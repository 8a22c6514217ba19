"""Common result type of every tool-output parser. All times are milliseconds."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from lutnas.categories import CATEGORIES, OTHERS
from lutnas.errors import InputError

UNIT_TO_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3}


class ParseError(InputError):
    """A file that does not hold what its parser expects."""


@dataclasses.dataclass(frozen=True)
class ParsedOp:
    """One operator / layer row: ``avg_ms`` per inference where the tool reports it."""

    name: str
    type: str
    avg_ms: float
    percent: float | None
    count: int
    category: str
    classified: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ParseResult:
    """What a parser read: tool, version, summary statistics, operator rows."""

    tool: str
    tool_version: str | None
    summary: dict[str, Any]
    ops: list[ParsedOp]
    source: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "tool_version": self.tool_version, "summary": self.summary,
                "ops": [op.to_dict() for op in self.ops], **({"extra": self.extra} if self.extra else {})}

    def breakdown(self) -> dict[str, float]:
        """Milliseconds per category (all seven present)."""
        out = {c: 0.0 for c in CATEGORIES}
        for op in self.ops:
            out[op.category] += op.avg_ms
        return out

    def unclassified(self) -> list[ParsedOp]:
        return [op for op in self.ops if not op.classified]


def load_json(text: str, source: str = "") -> Any:
    """``json.loads`` with one :class:`ParseError` line naming the source and position."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{source or 'input'}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def make_op(name: str, op_type: str, avg_ms: float, percent: float | None, count: int,
            category: str | None) -> ParsedOp:
    """A ParsedOp with an unknown category put into Others and marked unclassified."""
    return ParsedOp(name, op_type, float(avg_ms), None if percent is None else float(percent), int(count),
                    category if category is not None else OTHERS, classified=category is not None)


def stats_summary(values_ms: Iterable[float]) -> dict[str, float]:
    """mean/median/min/max/std/p90/p95/p99/count of a list of per-run times (ms)."""
    v = [float(x) for x in values_ms]
    if not v:
        return {}
    arr = np.asarray(v)
    return {"mean_ms": float(arr.mean()), "median_ms": float(np.median(arr)), "min_ms": float(arr.min()),
            "max_ms": float(arr.max()), "std_ms": float(statistics.stdev(v)) if len(v) > 1 else 0.0,
            "p90_ms": float(np.percentile(arr, 90)), "p95_ms": float(np.percentile(arr, 95)),
            "p99_ms": float(np.percentile(arr, 99)), "count": len(v)}


def read_text(path: str | Path) -> str:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a tool output") from None
    if data[:2] == b"\x1f\x8b":
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ParseError(f"{path}: gzip data is corrupt ({exc})") from None
    return data.decode("utf-8", errors="replace")


def num(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value
