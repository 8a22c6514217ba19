"""What every tool-output parser returns, and the helpers they share. All times are milliseconds."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from lutnas.errors import InputError
from lutnas.profiler.records import OpRecord, breakdown_ms, op_record

__all__ = ["ParseError", "ParseResult", "decode_bytes", "finite", "load_json", "make_op", "num", "read_text", "stats_summary"]

#: parsers build their rows through the one record type's constructor helper
make_op = op_record


class ParseError(InputError):
    """A file that does not hold what its parser expects."""


@dataclasses.dataclass
class ParseResult:
    """What a parser read.

    ``summary`` : the statistics of one run, the timed run (ms; ``count`` = runs measured).
    ``runs`` : every run the file holds, in order, each ``{"name": ..., <statistics>}``; a
        benchmark_model log has a warm-up run, a timed run and maybe a profiling run, a trtexec
        log one run per ``&&&& RUNNING`` block, a file of several invocations all of them.
    ``summary_run`` : index in ``runs`` of the run ``summary`` describes (None without runs).
    ``ops`` : per-operator records (ms per inference).
    ``partial`` : reasons the parse is incomplete (lines skipped, a run cut short); empty when
        everything was read. ``lutnas parse --strict`` refuses a partial parse.
    """

    tool: str
    tool_version: str | None
    summary: dict[str, Any]
    ops: list[OpRecord]
    source: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    summary_run: int | None = None
    partial: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "tool_version": self.tool_version, "summary": self.summary,
                               "runs": self.runs, "summary_run": self.summary_run,
                               "ops": [op.to_dict() for op in self.ops], "partial": self.partial}
        if self.extra:
            out["extra"] = self.extra
        return out

    def breakdown(self) -> dict[str, float]:
        """Milliseconds per category (all seven present)."""
        return breakdown_ms(self.ops)

    def unclassified(self) -> list[OpRecord]:
        return [op for op in self.ops if not op.classified]


def load_json(text: str, source: str = "") -> Any:
    """``json.loads`` with one :class:`ParseError` line naming the source and position."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{source or 'input'}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ParseError(f"{source or 'input'}: JSON nested too deeply") from None


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


#: the largest tool output read (1 GiB, after gzip): a bigger file is refused, not read to exhaustion
MAX_BYTES = 1 << 30


def read_text(path: str | Path) -> str:
    """The file's text (gzip unpacked, undecodable bytes replaced); InputError naming the file.

    Only regular files are read (a FIFO or a device never ends), up to :data:`MAX_BYTES`.
    """
    import stat

    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path}: is a directory, not a tool output")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise InputError(f"{path}: {info.st_size / 2**30:.1f} GiB is larger than a tool output lutnas reads (1 GiB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":
        import gzip
        import io
        import zlib

        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                data = fh.read(MAX_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise ParseError(f"{path}: gzip data is corrupt ({exc})") from None
        if len(data) > MAX_BYTES:
            raise ParseError(f"{path}: gzip data unpacks to more than 1 GiB")
    return decode_bytes(data)


def decode_bytes(data: bytes) -> str:
    """Text of a tool output: UTF-8, or UTF-16 when it says so by a byte-order mark or looks like it
    (Windows PowerShell 5 redirects ``trtexec.exe > log.txt`` as UTF-16 LE); undecodable bytes
    are replaced, a byte-order mark is dropped."""
    import codecs

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    head = data[:400]
    if len(head) >= 8 and head[1::2].count(0) > 0.9 * (len(head) // 2) and head[::2].count(0) == 0:
        return data.decode("utf-16-le", errors="replace")
    if len(head) >= 8 and head[::2].count(0) > 0.9 * (len(head) // 2) and head[1::2].count(0) == 0:
        return data.decode("utf-16-be", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def num(text: str) -> float:
    """A finite float, or ValueError."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def finite(value: object) -> bool:
    """A JSON number that is a finite float (not a bool, not an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
