"""Fuzzing every corpus file: random bytes spliced in, truncations, shuffled lines. Each mutant parses
or raises InputError (one line); never another exception, never a hang (a deadline per example).

The library-level test runs with LUTNAS_DEBUG=1, so parse_text's last-resort guard re-raises and a
parser bug shows up here instead of being turned into an error line.
"""

import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.profiler.parsers import ParseResult, parse_text

CORPUS = Path(__file__).parent / "data" / "corpus"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.parent.name != "tables")
TEXTS = {p.name: p.read_text(errors="replace") for p in FILES}


def _splice(text: str, at: int, junk: bytes) -> str:
    at = min(at, len(text))
    return text[:at] + junk.decode("utf-8", errors="replace") + text[at:]


def _shuffle(text: str, seed: int) -> str:
    lines = text.splitlines()
    random.Random(seed).shuffle(lines)
    return "\n".join(lines)


def mutants(text: str):
    return st.one_of(
        st.integers(0, len(text)).map(lambda n: text[:n]),
        st.integers(0, 2**32).map(lambda seed: _shuffle(text, seed)),
        st.tuples(st.integers(0, len(text)), st.binary(min_size=1, max_size=300)).map(lambda a: _splice(text, *a)),
        st.tuples(st.integers(0, len(text)), st.integers(0, len(text))).map(lambda ab: text[:min(ab)] + text[max(ab):]),
    )


def _check(mutant: str, name: str) -> None:
    try:
        result = parse_text(mutant, source=name)
    except InputError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert isinstance(result, ParseResult)
    for op in result.ops:
        assert op.avg_ms == op.avg_ms  # not NaN
    result.to_dict()


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_mutants_parse_or_fail_in_one_line(name, monkeypatch):
    monkeypatch.setenv("LUTNAS_DEBUG", "1")

    @settings(max_examples=25, deadline=5000, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutants(TEXTS[name]))
    def run(mutant):
        _check(mutant, name)

    run()


@settings(max_examples=60, deadline=5000, derandomize=True, database=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUTNAS_DEBUG", "1")
        _check(data.decode("utf-8", errors="replace"), "random.bin")


@pytest.mark.parametrize("name", ["nxp_mcu_tf2.3_two_runs_untitled_tables.txt", "resnet50_int8_trt7_two_runs_concatenated.txt",
                                  "flash_attn_rtx3080ti_kflops_two_tables.txt", "silero_vad_ort1.12_jsonlines_line_numbers.txt"])
def test_cli_never_prints_a_traceback(name, tmp_path):
    text = TEXTS[name]
    rng = random.Random(0)
    runner = CliRunner()
    for i in range(6):
        cut = rng.randrange(len(text))
        blob = text[:cut].encode() + bytes(rng.randrange(256) for _ in range(40)) + text[cut:].encode()
        path = tmp_path / f"m{i}.log"
        path.write_bytes(blob)
        for command in (["parse", str(path), "--json"], ["breakdown", "--no-flops", "--from", str(path)]):
            res = runner.invoke(cli, command)
            assert res.exit_code in (0, 2), (command, res.output)
            assert "Traceback" not in res.output
            if res.exit_code == 2:
                assert res.stderr.count("\n") == 1, res.stderr


_KEYS = st.sampled_from(["traceEvents", "cat", "name", "ph", "ts", "dur", "args", "pid", "tid", "correlation",
                         "external id", "External id", "op_name", "deviceProperties", "count", "averageMs", "medianMs",
                         "percentage", "computeMs", "latencyMs", "startEnqMs", "endEnqMs", "startComputeMs",
                         "endComputeMs", "performance_summary", "GPU Compute Time", "Throughput", "inference_options",
                         "Duration", "device_information", "ort_version"])
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.sampled_from(["X", "Node", "Session", "model_run", "a_kernel_time", "ProfilerStep#1", "cpu_op",
                                     "kernel", "cuda_runtime", "gpu_user_annotation", "Operator", "1.2", "+ 200ms warm up"]),
                    st.text(max_size=20))
_JSON = st.recursive(_VALUES, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(_KEYS, inner, max_size=8),
                     max_leaves=40)


@settings(max_examples=300, deadline=5000, derandomize=True, database=None)
@given(_JSON)
def test_json_shaped_inputs_never_crash(value):
    import json

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUTNAS_DEBUG", "1")
        _check(json.dumps(value), "shaped.json")


_PROFILE = "=== Profile (3 iterations ) ===\nLayer   Time (ms)   Avg. Time (ms)   Time %\n"


@pytest.mark.parametrize("text", [
    "[" * 100_000, "[a]" * 30_000, "count=1 " * 12_000, "INFO: " * 16_000, "=" * 100_000, "1 " * 50_000,
    _PROFILE + "ForeignNode[" * 8_000 + " 1 2 3\n", _PROFILE + "a + " * 25_000 + " 1 2 3\n",
    _PROFILE + "PWN(" * 5_000 + "x" + ")" * 5_000 + " 1 2 3\n", "[" * 50_000 + "]" * 50_000,
    "Latency: min = " + "min = 1 ms, " * 8_000, "-----  -----\n  Name  Self CPU\n-----  -----\n" + "x " * 50_000,
])
def test_adversarial_lines_take_linear_time(text):
    import time

    start = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUTNAS_DEBUG", "1")
        _check(text, "adversarial")
    assert time.perf_counter() - start < 10
