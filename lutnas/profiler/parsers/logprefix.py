"""Strip what loggers put in front of a tool's own text: ``INFO: `` (TFLite 2.18+), glog headers
(``I1203 10:00:00.123 1234 file.cc:42] ``, absl's ``I0000 00:00:1712345678.123 1234 file.cc:42] ``,
TensorFlow's ``2017-12-27 20:42:59.74: I file.cc:443] ``), LiteRT's ``[./litert/tools/benchmark_litert_model.h:94] ``
tag, Android logcat headers (threadtime and brief), a ``# `` comment prefix.

A line without any prefix comes back unchanged (column positions of space-aligned tables stay put).
Every pattern is anchored and linear: no input makes them backtrack.
"""

from __future__ import annotations

import re

_PREFIXES = (
    re.compile(r"(?:INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG): ?"),
    re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?: [IWEFV] [^\s\]]{1,200}:\d+\] ?"),
    re.compile(r"[IWEFV]\d{4} \d\d:\d\d:[\d.]{2,30} +\d+ [^\s\]]{1,200}:\d+\] ?"),
    re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d+ +\d+ +\d+ [VDIWEF] [^:\n]{0,60}: ?"),
    re.compile(r"[VDIWEF]/[^(:\n]{1,60}\( *\d+\): ?"),
    re.compile(r"\[[\w.\-/\\]{1,200}\.(?:h|cc|cpp|c):\d+\] ?"),
    re.compile(r"#(?: |$)"),
)


def strip_prefix(line: str) -> str:
    """``line`` without logger prefixes (up to three stacked ones), or unchanged if it has none."""
    rest = line.lstrip(" \t")
    stripped = False
    for _ in range(3):
        for pattern in _PREFIXES:
            m = pattern.match(rest)
            if m:
                rest = rest[m.end():]
                stripped = True
                break
        else:
            break
    return rest if stripped else line


def strip_lines(text: str) -> list[str]:
    """Every line of ``text`` with its logger prefix removed."""
    return [strip_prefix(line) for line in text.splitlines()]
