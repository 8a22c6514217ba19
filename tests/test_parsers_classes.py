"""One test per failure class of issue 16, on the real corpus files and, where a class had no
public sample small enough, on a case synthesised from a real file's format (said so below)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lutnas.categories import MLP, MSA_GATHER, MSA_RESHAPE, MSA_SOFTMAX, OTHERS
from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.profiler.categories import (
    categorize_by_name, categorize_onnx_node, categorize_tflite, categorize_tflite_op, categorize_trt_layer, is_delegate,
)
from lutnas.profiler.parsers import parse_file, parse_text

CORPUS = Path(__file__).parent / "data" / "corpus"


# 1. torch tables: any column subset with a time column parses; one without says so in one line
@pytest.mark.parametrize("name, column", [
    ("recipe_cpu_hash_prefixed_no_self_pct.txt", "Self CPU"),  # '#' rendering, no 'Self CPU %'
    ("recipe_input_shapes_cpu_total_only.txt", "CPU total"),
    ("recipe_cuda_two_columns.txt", "Self CUDA"),
    ("cuda_graph_rtx5080_memory_columns_two_tables.txt", "Self CUDA"),  # memory columns too
    ("flash_attn_rtx3080ti_kflops_two_tables.txt", "Self CUDA"),  # FLOPs column
])
def test_torch_table_column_subsets(name, column):
    r = parse_file(CORPUS / "torch" / name)
    assert r.extra["time_column"] == column and r.ops and not r.partial


@pytest.mark.parametrize("name", ["recipe_memory_columns_only.txt", "recipe_source_location_no_time.txt"])
def test_torch_table_without_time_column_is_one_line(name):
    res = CliRunner().invoke(cli, ["parse", str(CORPUS / "torch" / name)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "no time column" in res.stderr


# 2. 'INFO: ' prefixed statistics keep count, min, max, std, median, p5 and p95
def test_info_prefixed_statistics_are_all_read():
    s = parse_file(CORPUS / "tflite" / "ti_sdk_tf2.20_am62x_cpu_info_p5.txt").summary
    assert {"count", "min_ms", "max_ms", "std_ms", "median_ms", "p5_ms", "p95_ms", "mean_ms"} <= set(s)


# 3. LiteRT 2025 report: the timed run is the summary, never the op profiler's Timings line
LITERT_REPORT = """\
INFO: [benchmark_litert_model.cc:41] Loaded model vit.tflite
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=1089 first=512 curr=463 min=401 max=1210 avg=459.2 std=31 p5=421 median=455 p95=508

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=2112 first=470 curr=455 min=398 max=890 avg=460.1 std=25 p5=425 median=457 p95=499

INFO: [benchmark_litert_model.h:83] \n========== BENCHMARK RESULTS ==========
INFO: [benchmark_litert_model.h:94] Model initialization: 35.20 ms
INFO: [benchmark_litert_model.h:96] Warmup (first):       0.51 ms
INFO: [benchmark_litert_model.h:98] Warmup (avg):         0.46 ms (1089 runs)
INFO: [benchmark_litert_model.h:100] Inference (avg):      0.46 ms (2112 runs)
INFO: [benchmark_litert_model.h:104] Inference (min):      0.40 ms
INFO: [benchmark_litert_model.h:106] Inference (max):      0.89 ms
INFO: [benchmark_litert_model.h:108] Inference (std):      0.03
INFO: [benchmark_litert_model.h:161] 
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t                             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                         AllocateTensors\t    0.000\t    0.000\t  0.000%\t  0.000%\t     0.000\t        0\tAllocateTensors/0
\t                         FULLY_CONNECTED\t    0.301\t    0.300\t 73.000%\t 73.000%\t     0.000\t        1\t[mlp/fc1]:0
\t                                 SOFTMAX\t    0.111\t    0.111\t 27.000%\t100.000%\t     0.000\t        1\t[attn/softmax]:1

Timings (microseconds): count=2112 first=420 curr=410 min=390 max=650 avg=411 std=12
Memory (bytes): count=0
"""


def test_litert_report_sections_are_named_and_the_timed_run_is_the_summary():
    """Synthesised from LiteRT's benchmark_litert_model.h format (the numbers of issue 16)."""
    r = parse_text(LITERT_REPORT, source="litert.log")
    assert [run["name"] for run in r.runs] == ["warm-up run", "timed run", "profiling run (op profiler)"]
    assert r.summary_run == 1 and r.summary["count"] == 2112
    assert r.summary["mean_ms"] == pytest.approx(0.4601) and r.runs[2]["mean_ms"] == pytest.approx(0.411)
    assert r.summary["init_ms"] == pytest.approx(35.2) and r.summary["first_inference_ms"] == pytest.approx(0.512)
    assert [op.type for op in r.ops] == ["FULLY_CONNECTED", "SOFTMAX"]  # AllocateTensors is not an operator
    assert {op.name: op.category for op in r.ops} == {"mlp/fc1": MLP, "attn/softmax": MSA_SOFTMAX}


def test_litert_results_block_alone_is_the_summary():
    r = parse_file(CORPUS / "tflite" / "litert_2.1.5_gpu_llama_results_excerpt.txt")
    assert r.runs[r.summary_run] == {"name": "timed run", "mean_ms": 7430.2, "count": 10, "min_ms": 7416.4,
                                     "max_ms": 7448.86, "std_ms": 9.92}


# 4. TensorFlow (not Lite) benchmark_model logs are parsed as such, with their per-node table
def test_tensorflow_benchmark_logs_are_not_tflite():
    r = parse_file(CORPUS / "tf" / "speech_commands_rpi3_tf1.4_run_order.txt")
    assert r.tool == "tf-benchmark" and len(r.ops) == 28
    assert r.summary["mean_ms"] == pytest.approx(323.375)  # the run without stats, not the profiled one
    with pytest.raises(InputError, match="not a TensorFlow benchmark_model log"):
        parse_file(CORPUS / "tflite" / "wamr_wasm_mobilenet_quant_info.txt", "tf-benchmark")


# 5. trtexec: every run of a concatenated log, TensorRT 7 blocks, build-only refused, warm-up names
def test_trtexec_concatenated_runs_and_trt7_blocks():
    r = parse_file(CORPUS / "trtexec" / "resnet50_int8_trt7_two_runs_concatenated.txt")
    assert [run["mean_ms"] for run in r.runs] == [55.2468, 199.649] and r.summary_run == 1
    assert r.runs[0]["host_latency"]["mean_ms"] == 55.3094 and r.runs[0]["throughput_per_s"] == 18.0758
    assert r.summary["end_to_end"]["median_ms"] == 199.835
    assert r.summary["warmup_duration_ms"] == 200.0 and "warmup_mean_ms" not in r.summary


def test_trtexec_build_only_is_refused_in_one_line():
    res = CliRunner().invoke(cli, ["parse", str(CORPUS / "trtexec" / "dla_standalone_trt8.6.11_skipinference_build_only.txt")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--skipInference" in res.stderr


def test_tflite_warmup_is_an_average_latency():
    s = parse_file(CORPUS / "tflite" / "wamr_wasm_mobilenet_quant_info.txt").summary
    assert s["warmup_mean_ms"] == pytest.approx(56.4152) and "warmup_duration_ms" not in s


# 6. kineto: a step is counted once (not its gpu_user_annotation twin, not an unfinished last step)
def test_kineto_steps_are_counted_once(tool_outputs, tmp_path):
    """Synthesised: the real H100 unit-test trace plus a CPU ProfilerStep#1 around its ops, the
    step's gpu_user_annotation twin (recent CUDA and ROCm traces) and an empty ProfilerStep#2."""
    data = json.loads((tool_outputs / "pytorch_trace_3_kineto2026_H100_unittest.json").read_text())
    base = parse_text(json.dumps(data), source="plain")
    t0 = 88437691101.700
    data["traceEvents"] += [
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 392793, "tid": 392793, "ts": t0, "dur": 0.2},
        {"ph": "X", "cat": "gpu_user_annotation", "name": "ProfilerStep#1", "pid": 0, "tid": 1, "ts": t0 + 0.04, "dur": 0.03},
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#2", "pid": 392793, "tid": 392793, "ts": t0 + 0.25, "dur": 0.001},
    ]
    r = parse_text(json.dumps(data), source="stepped")
    assert r.extra["steps"] == 1 and r.summary["steps_not_counted"] == 2
    assert r.ops[0].avg_ms == pytest.approx(base.ops[0].avg_ms)  # not divided by 3
    assert r.summary["mean_ms"] == pytest.approx(0.2e-3)


# 7. ORT profiles pasted as JSON lines without [ ]
def test_ort_profile_without_brackets_equals_the_file(tmp_path):
    path = CORPUS / "ort" / "ort1.32_local_deit_block_profile_525.json"
    lines = path.read_text().strip().splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    bare = parse_text("\n".join(lines[1:-1]), source="pasted")
    full = parse_file(path)
    assert bare.tool == "ort-profile" and bare.summary == full.summary
    assert [(o.name, o.avg_ms) for o in bare.ops] == [(o.name, o.avg_ms) for o in full.ops]
    cut = parse_text("\n".join(lines[1:20]) + "\n" + lines[20][:80], source="cut")
    assert cut.partial and "skipped" in cut.partial[0]
    res = CliRunner().invoke(cli, ["parse", "--strict", str(_write(tmp_path, "cut.txt", "\n".join(lines[1:20]) + "\n" + lines[20][:80]))])
    assert res.exit_code == 2 and "partial parse refused" in res.stderr


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# 8. a delegate node is Others, whatever its subgraph's names contain
@pytest.mark.parametrize("op_type", ["TfLiteNnapiDelegate", "TfLiteGpuDelegateV2", "TfLiteXNNPackDelegate", "DELEGATE",
                                     "TensorrtExecutionProvider_TRTKernel_graph_main_1234_0"])
def test_delegate_is_never_a_vit_category(op_type):
    name = "model/encoder/Reshape_1, model/attn/transpose, model/attn/MatMul, model/softmax"
    assert is_delegate(op_type)
    assert categorize_tflite(op_type, name) == OTHERS
    assert categorize_by_name(name, op_type) == OTHERS
    assert categorize_tflite_op(op_type, "Attention_attn/Linear_qkv;2") == (OTHERS, True)


def test_delegate_row_of_a_log_lands_in_others():
    """A Run Order row in the format of the real NNAPI rows (tflite_benchmark_2 in ../shared)."""
    text = ("============================== Run Order ==============================\n"
            "\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]\n"
            "\t     TfLiteNnapiDelegate\t            0.000\t   11.665\t   11.422\t 90.000%\t 90.000%\t     0.000\t        1\t[vit/block0/attn/Reshape_1, vit/head/MatMul]:71\n"
            "\t           STRIDED_SLICE\t           11.422\t    0.075\t    0.080\t 10.000%\t100.000%\t     0.000\t        1\t[vit/block1/attn/qkv_split]:61\n")
    r = parse_text(text, source="delegate.log")
    assert [(o.category, o.classified) for o in r.ops] == [(OTHERS, True), (MSA_GATHER, True)]


def test_every_backend_rule_lives_in_the_profiler():
    assert categorize_onnx_node("Transpose", ["EncoderBlock", "Attention"]) == MSA_RESHAPE
    assert categorize_trt_layer("{ForeignNode[/0/attn/Reshape.../0/attn/Softmax]}") == MSA_SOFTMAX
    assert categorize_by_name("Delegate/Convolution (NHWC, QC8) GEMM:3", "Convolution (NHWC, QC8) GEMM") == OTHERS
    assert categorize_by_name("Delegate/Fully Connected (NC, F32) GEMM:1", "Fully Connected (NC, F32) GEMM") == MLP


_TB_PLUGIN_EVENTS = [
    {"ph": "X", "cat": "Operator", "name": "ProfilerStep#1", "pid": 13721, "tid": "123", "ts": 100, "dur": 200,
     "args": {"Input Dims": [], "External id": 1}},
    {"ph": "X", "cat": "Operator", "name": "aten::to", "pid": 13721, "tid": "123", "ts": 200, "dur": 60,
     "args": {"Input Dims": [[2, 8, 5], [], [], [], [], [], [], []], "External id": 2}},
    {"ph": "X", "cat": "Operator", "name": "ProfilerStep#2", "pid": 13721, "tid": "123", "ts": 350, "dur": 150,
     "args": {"Input Dims": [], "External id": 3}},
    {"ph": "X", "cat": "Operator", "name": "aten::mm", "pid": 13721, "tid": "123", "ts": 360, "dur": 50,
     "args": {"Input Dims": [], "External id": 4}},
    {"ph": "X", "cat": "Memcpy", "name": "Memcpy HtoD (Pageable -> Device)", "pid": 0, "tid": "stream 7", "ts": 280,
     "dur": 40, "args": {"stream": 7, "correlation": 334, "external id": 2}},
    {"ph": "X", "cat": "Runtime", "name": "cudaMemcpyAsync", "pid": 13721, "tid": "123", "ts": 250, "dur": 5,
     "args": {"correlation": 334, "external id": 2}},
]


def test_kineto_bare_event_array():
    """The event array of pytorch/kineto's tb_plugin test 'test_multiple_profilersteps_no_overlap'
    (a trace without the traceEvents wrapper, 2021 categories, string thread ids)."""
    events = _TB_PLUGIN_EVENTS
    r = parse_text(json.dumps(events), source="tb_plugin.json")
    assert r.tool == "torch-trace" and r.extra["steps"] == 2
    assert r.summary["median_ms"] == pytest.approx(0.175)
    assert [(o.name, o.avg_ms) for o in r.ops] == [("aten::to", pytest.approx(0.02))]


def test_kineto_unfinished_last_step_with_a_sliver_of_work_is_not_a_step():
    """Synthesised on the tb_plugin events above: a third step, 3 % as long as the others, holding
    one small op (what profiling leaves when it stops inside a step)."""
    base = json.loads(json.dumps(_TB_PLUGIN_EVENTS))
    base += [{"ph": "X", "cat": "Operator", "name": "ProfilerStep#3", "pid": 13721, "tid": "123", "ts": 600, "dur": 5,
              "args": {"External id": 5}},
             {"ph": "X", "cat": "Operator", "name": "aten::empty", "pid": 13721, "tid": "123", "ts": 601, "dur": 1,
              "args": {"External id": 6}}]
    r = parse_text(json.dumps(base), source="sliver.json")
    assert r.extra["steps"] == 2 and r.summary["steps_not_counted"] == 1


def test_ort_line_cut_after_its_timing_fields_keeps_the_event():
    """The real DML event line of microsoft/onnxruntime-genai#2031, cut where a display would cut
    it: after its op type, before its shapes and thread statistics."""
    lines = (CORPUS / "ort" / "genai_dml_jsonlines_excerpt.txt").read_text().splitlines()
    node = lines[2]
    cut = node[:node.index('"input_type_shape"') + 25]
    r = parse_text("\n".join([lines[0], lines[1], cut]), source="cut.txt")
    assert [(o.name, o.type, o.avg_ms) for o in r.ops] == [("/model/attn_mask_reformat/attn_mask_subgraph/Shape", "Shape",
                                                            pytest.approx(0.069))]
    assert not r.partial and r.extra["salvaged_lines"] == 1


# legacy autograd-profiler traces (torch < 1.8): no categories, "CPU functions"/"CUDA functions" processes
def test_legacy_autograd_trace_with_cuda_flows():
    """Synthesised from the real paste of pytorch/pytorch issue #33961 (corpus file, refused as invalid
    JSON): the one quote the writer's bug dropped is put back; the kernel is attributed through the
    cpu_to_cuda flow to the CPU op it came from."""
    text = (CORPUS / "torch" / "issue33961_autograd_legacy_trace_cuda_invalid_json.json").read_text()
    r = parse_text(text.replace('\ttid": 0', '\t"tid": 0'), source="legacy.json")
    assert r.tool == "torch-trace" and r.extra["schema"] == "legacy" and r.extra["attributed_from"] == "kernel"
    assert [(o.name, o.count) for o in r.ops] == [("add", 1)]
    assert r.ops[0].avg_ms == pytest.approx(0.13417599487304688)
