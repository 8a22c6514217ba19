"""TensorFlow's (not Lite) ``benchmark_model`` logs: glog-prefixed lines, a ``.pb`` graph, the stat
summarizer's per-node tables. Same structure as TFLite's (see :mod:`.tflite`): a warm-up and a
timed run ``without detailed stat logging`` and a profiling run ``with detailed stat logging``; the
footer ``Average inference timings in us: Warmup: .., no stats: .., with stats: ..``.
"""

from __future__ import annotations

import re

from lutnas.profiler.categories import categorize_tf_node
from lutnas.profiler.parsers.base import ParseError, ParseResult
from lutnas.profiler.parsers.tflite import parse_benchmark_log

_MARKERS = re.compile(r"tensorflow/tools/benchmark/|tensorflow/core/util/stat_summarizer|detailed stat logging|"
                      r"Graph: \[[^\]\n]{0,300}\.pbtxt?\]")


def looks_like(text: str) -> bool:
    """TensorFlow's benchmark tool names its own source files in glog prefixes, runs 'without
    detailed stat logging', and loads a ``.pb`` graph."""
    return bool(_MARKERS.search(text[:200000]))


def parse_tf_benchmark(text: str, source: str = "") -> ParseResult:
    if not looks_like(text):
        raise ParseError(f"{source or 'input'}: not a TensorFlow benchmark_model log "
                         f"(expected tensorflow/tools/benchmark glog lines or a .pb graph)")
    return parse_benchmark_log(text, source, "tf", "tf-benchmark", categorize_tf_node)
