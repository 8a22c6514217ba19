"""Parsers for real tool outputs; :func:`parse_file` detects the tool.

Every parser returns a :class:`ParseResult` in milliseconds, and raises :class:`ParseError`
(an :class:`~lutnas.errors.InputError`) with one line naming the file and what was expected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from lutnas.profiler.parsers import ort, tf_benchmark, tflite, torch_profiler, torch_table, trtexec, trtexec_json
from lutnas.profiler.parsers.base import ParseError, ParseResult, load_json, read_text
from lutnas.errors import InputError
from lutnas.registry import Registry

TOOLS = ("tflite", "tf-benchmark", "trtexec", "trtexec-profile", "trtexec-times", "trex-summary", "ort-profile",
         "torch-table", "torch-trace")

#: every parser: built-ins and the entry-point group ``lutnas.parsers`` (``parse(text, source) -> ParseResult``)
PARSERS: Registry[Callable[[str, str], ParseResult]] = Registry("tool", "lutnas.parsers", {
    "tflite": tflite.parse_tflite,
    "tf-benchmark": tf_benchmark.parse_tf_benchmark,
    "trtexec": trtexec.parse_trtexec,
    "trtexec-profile": lambda t, s: trtexec_json.parse_trtexec_profile(load_json(t, s), s),
    "trtexec-times": lambda t, s: trtexec_json.parse_trtexec_times(load_json(t, s), s),
    "trex-summary": lambda t, s: trtexec_json.parse_trex_summary(load_json(t, s), s),
    "ort-profile": ort.parse_ort_profile,
    "torch-table": torch_table.parse_torch_table,
    "torch-trace": torch_profiler.parse_torch_trace_text,
})

_JSON_KINDS: tuple[tuple[Callable[[object], bool], str], ...] = (
    (ort.looks_like_events, "ort-profile"),
    (torch_profiler.looks_like_trace, "torch-trace"),
    (trtexec_json.looks_like_trex_json, "trex-summary"),
    (trtexec_json.looks_like_profile_json, "trtexec-profile"),
    (trtexec_json.looks_like_times_json, "trtexec-times"),
)


def detect_tool(text: str, source: str = "") -> str:
    """Which tool wrote ``text``; raises ParseError naming the file when none matches."""
    stripped = text.lstrip()
    json_like = stripped.startswith(("[", "{"))
    if json_like:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            data = None
        if data is not None:
            for looks, tool in _JSON_KINDS:
                if looks(data):
                    return tool
            if trtexec_json.looks_like_layer_info(data):
                raise trtexec_json.refuse_layer_info(data, source)
            raise ParseError(f"{source or 'input'}: JSON, but not a known tool output "
                             f"(expected a kineto trace, trtexec profile/times, trex summary or ORT profile)")
    if ort.looks_like_lines(text):
        return "ort-profile"
    if torch_table.looks_like_table(text):
        return "torch-table"
    if tf_benchmark.looks_like(text):
        return "tf-benchmark"
    if tflite.looks_like(text):
        return "tflite"
    if trtexec.looks_like(text):
        return "trtexec"
    if json_like:
        load_json(text, source)  # JSON that does not parse (an issue's hand-edited paste): say where
    raise ParseError(f"{source or 'input'}: not a known tool output (expected TFLite or TensorFlow benchmark_model, "
                     f"trtexec, ONNX Runtime profile or PyTorch profiler output)")


def parse_text(text: str, tool: str = "auto", source: str = "") -> ParseResult:
    """Parse ``text`` as ``tool`` (``auto`` detects it). Any failure is one ParseError line: a
    parser bug on odd input is reported as such (set LUTNAS_DEBUG=1 for its traceback)."""
    if tool != "auto" and tool not in PARSERS:
        raise ParseError(f"tool {tool!r} is not known; choose from auto, {', '.join(PARSERS.names())}")
    text = text.lstrip("\ufeff")  # a byte-order mark kept by a text-mode reader
    if not text.strip():
        raise ParseError(f"{source or 'input'}: file is empty")
    try:
        if tool == "auto":
            tool = detect_tool(text, source)
        return PARSERS.get(tool)(text, source)
    except InputError:  # a ParseError, or a parser plug-in that cannot be loaded: already one line
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError, OverflowError,
            RecursionError) as exc:
        if os.environ.get("LUTNAS_DEBUG"):
            raise
        raise ParseError(f"{source or 'input'}: could not be read as {tool} output "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None


def parse_file(path: str | Path, tool: str = "auto") -> ParseResult:
    """Parse one tool output file (gzip is unpacked transparently)."""
    return parse_text(read_text(path), tool, str(path))


__all__ = ["ParseError", "ParseResult", "TOOLS", "detect_tool", "parse_file", "parse_text"]
