"""Parsers for real tool outputs; :func:`parse_file` detects the tool.

Every parser returns a :class:`ParseResult` in milliseconds, and raises :class:`ParseError`
(an :class:`~lutnas.errors.InputError`) with one line naming the file and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from lutnas.profiler.parsers import ort, tflite, torch_profiler, trtexec
from lutnas.profiler.parsers.base import ParsedOp, ParseError, ParseResult, load_json, read_text
from lutnas.registry import Registry

TOOLS = ("tflite", "trtexec", "trtexec-profile", "trtexec-times", "trex-summary", "ort-profile", "torch-table", "torch-trace")


#: every parser: built-ins and the entry-point group ``lutnas.parsers`` (``parse(text, source) -> ParseResult``)
PARSERS: Registry[Callable[[str, str], ParseResult]] = Registry("tool", "lutnas.parsers", {
    "tflite": tflite.parse_tflite,
    "trtexec": trtexec.parse_trtexec,
    "trtexec-profile": lambda t, s: trtexec.parse_trtexec_profile(load_json(t, s), s),
    "trtexec-times": lambda t, s: trtexec.parse_trtexec_times(load_json(t, s), s),
    "trex-summary": lambda t, s: trtexec.parse_trex_summary(load_json(t, s), s),
    "ort-profile": ort.parse_ort_profile,
    "torch-table": torch_profiler.parse_torch_table,
    "torch-trace": torch_profiler.parse_torch_trace_text,
})


def detect_tool(text: str, source: str = "") -> str:
    """Which tool wrote ``text``; raises ParseError naming the file when none matches."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            if ort.looks_like_events(data):
                return "ort-profile"
            if torch_profiler.looks_like_trace(data):
                return "torch-trace"
            if trtexec.looks_like_trex_json(data):
                return "trex-summary"
            if trtexec.looks_like_profile_json(data):
                return "trtexec-profile"
            if trtexec.looks_like_times_json(data):
                return "trtexec-times"
            raise ParseError(f"{source or 'input'}: JSON, but not a known tool output "
                             f"(expected a kineto trace, trtexec profile/times, trex summary or ORT profile)")
    if torch_profiler.looks_like_table(text):
        return "torch-table"
    if tflite.looks_like(text):
        return "tflite"
    if trtexec.looks_like(text):
        return "trtexec"
    raise ParseError(f"{source or 'input'}: not a known tool output (expected TFLite benchmark_model, trtexec, "
                     f"ONNX Runtime profile or PyTorch profiler output)")


def parse_text(text: str, tool: str = "auto", source: str = "") -> ParseResult:
    if tool == "auto":
        tool = detect_tool(text, source)
    if tool not in PARSERS:
        raise ParseError(f"tool {tool!r} is not known; choose from auto, {', '.join(PARSERS.names())}")
    if not text.strip():
        raise ParseError(f"{source or 'input'}: file is empty")
    return PARSERS.get(tool)(text, source)


def parse_file(path: str | Path, tool: str = "auto") -> ParseResult:
    """Parse one tool output file (gzip is unpacked transparently)."""
    return parse_text(read_text(path), tool, str(path))


__all__ = ["ParsedOp", "ParseError", "ParseResult", "TOOLS", "detect_tool", "parse_file", "parse_text"]
