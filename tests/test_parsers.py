"""Parsers read the real tool outputs in ../shared/tool_outputs, in place."""

import gzip
import json

import pytest
from click.testing import CliRunner

from lutnas.categories import CATEGORIES, LAYERNORM, MLP, MSA_MATMUL, MSA_RESHAPE, MSA_SOFTMAX, OTHERS
from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.profiler.parsers import detect_tool, parse_file, parse_text
from lutnas.profiler.categories import categorize_trt_layer, layer_members
from lutnas.profiler.parsers.trtexec import decode_version_tag

EXPECTED_TOOL = {
    "pytorch_key_averages_1.txt": "torch-table",
    "pytorch_trace_1_kineto2021_resnet50_V100.pt.trace.json.gz": "torch-trace",
    "pytorch_trace_2_kineto_tbplugin_test_input.json": "torch-trace",
    "pytorch_trace_3_kineto2026_H100_unittest.json": "torch-trace",
    "tflite_benchmark_1.txt": "tflite",
    "tflite_benchmark_2_nnapi_delegate_profile.txt": "tflite",
    "tflite_benchmark_3_nnapi_runorder_only.txt": "tflite",
    "tflite_benchmark_4_tf_readme_documented_example.txt": "tflite",
    "tflite_benchmark_5_summary_only_cpu.txt": "tflite",
    "trex_derived_profile_metadata_1.json": "trex-summary",
    "trtexec_1_trt8.4.1_perf_summary.txt": "trtexec",
    "trtexec_1b_trt8.4_yolov4_perf_summary.txt": "trtexec",
    "trtexec_2a_trt8.6.0_header_lines_1-90.log": None,  # options header, no results: refused in one line
    "trtexec_2b_trt8.6.0_perf_summary_lines_6465-end.log": "trtexec",
    "trtexec_3_legacy_summary_grep_excerpt.txt": "trtexec",
    "trtexec_4_trt10.16.1_full_default_run.log": "trtexec",
    "trtexec_5_trt10.16.1_dumpProfile_full.log": "trtexec",
    "trtexec_6_trt10.14.1_dumpProfile_full.log": "trtexec",
    "trtexec_7_trt10.16.1_cudagraph_spinwait_verbose.log": "trtexec",
    "trtexec_dumpprofile_1_trt7.1.3_xavier.txt": "trtexec",
    "trtexec_dumpprofile_2_trt8.5.2_orin.txt": "trtexec",
    "trtexec_exportTimes_1.json": "trtexec-times",
    "trtexec_profile_1.json": "trtexec-profile",
    "trtexec_profile_2.json": "trtexec-profile",
    "trtexec_profile_3.json": "trtexec-profile",
}


def test_every_shared_file_is_known_and_parses(tool_outputs):
    files = sorted(p.name for p in tool_outputs.iterdir() if p.name != "SOURCES.md")
    assert files == sorted(EXPECTED_TOOL), "a new tool output appeared: add it to EXPECTED_TOOL"
    for name in files:
        if EXPECTED_TOOL[name] is None:
            with pytest.raises(InputError, match="without a performance summary"):
                parse_file(tool_outputs / name)
            continue
        result = parse_file(tool_outputs / name)
        assert result.tool == EXPECTED_TOOL[name], name
        assert result.summary or result.ops, name
        for op in result.ops:
            assert op.category in CATEGORIES and op.avg_ms >= 0


def test_cli_parse_every_file_json(tool_outputs):
    runner = CliRunner()
    for name, tool in EXPECTED_TOOL.items():
        res = runner.invoke(cli, ["parse", str(tool_outputs / name), "--json"])
        if tool is None:
            assert res.exit_code == 2 and res.stderr.count("\n") == 1, (name, res.output)
            continue
        assert res.exit_code == 0, (name, res.output)
        data = json.loads(res.stdout)
        assert set(data) >= {"tool", "tool_version", "summary", "ops", "runs", "summary_run", "partial"}
        for op in data["ops"]:
            assert set(op) >= {"name", "type", "avg_ms", "percent", "count", "category"}


def test_tflite_numbers(tool_outputs):
    r = parse_file(tool_outputs / "tflite_benchmark_1.txt")
    # 'count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798'
    assert r.summary["count"] == 50
    assert r.summary["mean_ms"] == pytest.approx(2950.34)
    assert r.summary["min_ms"] == pytest.approx(2727.568)
    assert r.summary["std_ms"] == pytest.approx(109.798)
    assert r.summary["init_ms"] == pytest.approx(17.187)
    assert len(r.ops) == 31
    first = r.ops[0]
    assert (first.type, first.name, first.avg_ms, first.percent) == ("CONV_2D", "MobilenetV1/MobilenetV1/Conv2d_0/Relu6", 60.957, 2.066)
    r4 = parse_file(tool_outputs / "tflite_benchmark_4_tf_readme_documented_example.txt")
    assert r4.summary["init_ms"] == pytest.approx(38.467) and r4.summary["warmup_mean_ms"] == pytest.approx(83.235)
    # the timed run is the footer's 'Inference: 79760.9'; the op profiler's closing Timings line
    # (avg=79732) is the profiling run, reported under runs, never the summary
    assert r4.summary["mean_ms"] == pytest.approx(79.7609)
    assert [r["name"] for r in r4.runs] == ["profiling run (op profiler)", "timed run"]
    assert r4.runs[r4.summary_run]["mean_ms"] == pytest.approx(79.7609) and r4.runs[0]["mean_ms"] == pytest.approx(79.732)
    r2 = parse_file(tool_outputs / "tflite_benchmark_2_nnapi_delegate_profile.txt")
    deleg = [op for op in r2.ops if op.type == "TfLiteNnapiDelegate"]
    assert deleg[0].name == "model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul"
    assert deleg[0].avg_ms == pytest.approx(79.010)
    r3 = parse_file(tool_outputs / "tflite_benchmark_3_nnapi_runorder_only.txt")
    assert len(r3.ops) == 8 and r3.ops[-1].type == "ARG_MAX" and r3.ops[-1].avg_ms == pytest.approx(15.326)
    r5 = parse_file(tool_outputs / "tflite_benchmark_5_summary_only_cpu.txt")
    assert r5.summary["mean_ms"] == pytest.approx(249.684) and r5.summary["warmup_mean_ms"] == pytest.approx(304.586)


def test_tflite_newer_format_without_start_column_and_with_median():
    text = ("count=60 first=1200 curr=1100 min=1000 max=1500 avg=1100.5 std=40 p5=1010 median=1090 p95=1300\n"
            "============================== Run Order ==============================\n"
            "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]\n"
            "\tFULLY_CONNECTED\t0.5\t0.6\t60.0%\t60.0%\t0\t1\t[model/fc 1/MatMul]:0\n"
            "\tBATCH_MATMUL\t0.3\t0.4\t40.0%\t100.0%\t0\t2\t[attn/qk]:1\n")
    r = parse_text(text, source="new.log")
    assert r.summary["median_ms"] == pytest.approx(1.09) and r.summary["p95_ms"] == pytest.approx(1.3)
    assert [(o.name, o.category, o.count) for o in r.ops] == [("model/fc 1/MatMul", MLP, 1), ("attn/qk", MSA_MATMUL, 2)]


def test_trtexec_summaries(tool_outputs):
    r = parse_file(tool_outputs / "trtexec_1_trt8.4.1_perf_summary.txt")
    assert r.tool_version == "8.4.1"
    assert r.summary["median_ms"] == pytest.approx(41.9604) and r.summary["p99_ms"] == pytest.approx(43.0625)
    assert r.summary["host_latency"]["mean_ms"] == pytest.approx(42.2227)
    assert r.summary["enqueue"]["median_ms"] == pytest.approx(2.9234)
    assert r.summary["throughput_per_s"] == pytest.approx(23.4642)
    r = parse_file(tool_outputs / "trtexec_2b_trt8.6.0_perf_summary_lines_6465-end.log")
    assert r.summary["p90_ms"] == pytest.approx(0.0449219) and r.summary["p95_ms"] == pytest.approx(0.045105)
    assert r.summary["cv"] == pytest.approx(0.443558)
    r = parse_file(tool_outputs / "trtexec_4_trt10.16.1_full_default_run.log")
    assert r.tool_version == "10.16.1" and r.extra["device"] == "NVIDIA H100 PCIe"
    assert r.summary["mean_ms"] == pytest.approx(0.0359588) and r.summary["count"] == 46125
    r = parse_file(tool_outputs / "trtexec_3_legacy_summary_grep_excerpt.txt")
    assert r.summary["mean_ms"] == pytest.approx(1.9787) and r.summary["p99_ms"] == pytest.approx(2.00391)
    assert "host_latency" not in r.summary  # the orphan 'median:' line before any block is not guessed
    r = parse_file(tool_outputs / "trtexec_dumpprofile_1_trt7.1.3_xavier.txt")
    assert r.summary["median_ms"] == pytest.approx(3.66748)
    assert r.extra["profile_iterations"] == 1514 and r.extra["profile_total_avg_ms"] == pytest.approx(3.62)
    assert [op.name for op in r.ops][-1] == "prob" and r.ops[0].name == "data to nvm"
    assert r.ops[1].name.startswith("{conv1/7x7_s2") and r.ops[1].avg_ms == pytest.approx(0.20)


def test_trtexec_dump_profile_both_column_orders(tool_outputs):
    old = parse_file(tool_outputs / "trtexec_dumpprofile_2_trt8.5.2_orin.txt")
    assert [o.avg_ms for o in old.ops] == [0.0410, 1.0320, 0.0174, 0.0186]
    assert old.ops[0].name == "Reformatting CopyNode for Input Tensor 0 to {ForeignNode[conv1/7x7_s2...loss3/classifier]}"
    new = parse_file(tool_outputs / "trtexec_5_trt10.16.1_dumpProfile_full.log")
    assert new.extra["profile_iterations"] == 18362 and len(new.ops) == 15
    assert (new.ops[1].name, new.ops[1].avg_ms, new.ops[1].percent) == ("node_conv2d_myl0_1", 0.0105, 12.7)
    assert sum(o.avg_ms for o in new.ops) == pytest.approx(0.0833, abs=2e-4)
    by_name = {o.name: o.category for o in new.ops}
    assert by_name["__myl_MaxrSubExpSum_myl5_4"] == MSA_SOFTMAX and by_name["node_linear_myl5_2"] == MLP
    assert parse_file(tool_outputs / "trtexec_6_trt10.14.1_dumpProfile_full.log").tool_version == "10.14.1"


def test_trtexec_json_outputs(tool_outputs):
    p1 = parse_file(tool_outputs / "trtexec_profile_1.json")
    assert p1.summary["count"] == 4216 and p1.ops[0].name == "QuantizeLinear_2" and p1.ops[0].avg_ms == pytest.approx(0.0122041)
    p2 = parse_file(tool_outputs / "trtexec_profile_2.json")
    assert p2.ops[0].avg_ms == pytest.approx(0.52224) and p2.ops[0].percent == pytest.approx(24.5902)
    raw = json.loads((tool_outputs / "trtexec_exportTimes_1.json").read_text())
    t = parse_file(tool_outputs / "trtexec_exportTimes_1.json")
    assert t.summary["count"] == len(raw) and t.summary["max_ms"] == pytest.approx(max(d["computeMs"] for d in raw))
    x = parse_file(tool_outputs / "trex_derived_profile_metadata_1.json")
    assert x.summary["median_ms"] == pytest.approx(1.99072) and x.summary["throughput_per_s"] == pytest.approx(499.294)


def test_fused_tensorrt_layers_are_attributed_through_members(tool_outputs):
    assert layer_members("a + b + PWN(c, d)") == ["a", "b", "c", "d"]
    assert layer_members("{ForeignNode[/blocks.0/attn/MatMul.../blocks.0/attn/Softmax]}") == ["/blocks.0/attn/MatMul", "/blocks.0/attn/Softmax"]
    known = {"/0/attn/MatMul": MSA_MATMUL, "/0/attn/Mul": OTHERS, "/0/norm1/LayerNormalization": LAYERNORM}
    assert categorize_trt_layer("/0/attn/MatMul + /0/attn/Mul", known) == MSA_MATMUL
    assert categorize_trt_layer("{ForeignNode[/0/norm1/LayerNormalization.../0/attn/MatMul]}", known) == MSA_MATMUL
    assert categorize_trt_layer("PWN(/0/attn/Mul)", known) == OTHERS
    assert categorize_trt_layer("Reformatting CopyNode for Input Tensor 0 to x") == OTHERS
    assert categorize_trt_layer("/0/attn/Transpose_1") == MSA_RESHAPE
    p1 = parse_file(tool_outputs / "trtexec_profile_1.json")
    conv = [o for o in p1.ops if "Conv_12" in o.name][0]
    assert conv.category == OTHERS and conv.classified
    assert decode_version_tag("8401") == "8.4.1" and decode_version_tag("101601") == "10.16.1"


def test_torch_outputs(tool_outputs):
    t = parse_file(tool_outputs / "pytorch_key_averages_1.txt")
    pow_row = [o for o in t.ops if o.name == "aten::pow"][0]
    assert pow_row.avg_ms == pytest.approx(1.737) and pow_row.count == 1
    assert t.summary["self_cuda_total_ms"] == pytest.approx(1.763)
    tr = parse_file(tool_outputs / "pytorch_trace_1_kineto2021_resnet50_V100.pt.trace.json.gz")
    assert tr.extra["schema"] == "2021" and tr.extra["steps"] > 0
    data = json.loads(gzip.decompress((tool_outputs / "pytorch_trace_1_kineto2021_resnet50_V100.pt.trace.json.gz").read_bytes()))
    gpu = ("Kernel", "Memcpy", "Memset")  # all GPU activity is attributed
    kernel_ms = sum(e["dur"] for e in data["traceEvents"] if e.get("cat") in gpu and e.get("ph") == "X") / 1e3
    assert sum(o.avg_ms for o in tr.ops) * tr.extra["steps"] == pytest.approx(kernel_ms, rel=1e-6)
    assert tr.extra["unattributed_ms"] == 0
    assert {o.name for o in tr.ops} >= {"aten::conv2d", "aten::linear"}
    new = parse_file(tool_outputs / "pytorch_trace_3_kineto2026_H100_unittest.json")
    assert new.extra["schema"] == "2026" and new.extra["devices"] == ["NVIDIA H100"]
    assert new.ops[0].name == "op1" and not new.ops[0].classified  # the kernel's launching op, listed as unknown


def test_unparsable_files_give_one_clear_error(tmp_path, tool_outputs):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world\n")
    with pytest.raises(InputError, match="bad.txt: not a known tool output"):
        parse_file(bad)
    res = CliRunner().invoke(cli, ["parse", str(tool_outputs / "SOURCES.md")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "SOURCES.md" in res.stderr
    res = CliRunner().invoke(cli, ["parse", str(bad), "--tool", "trtexec-profile"])
    assert res.exit_code == 2 and "not valid JSON" in res.stderr
    res = CliRunner().invoke(cli, ["parse", str(tmp_path / "missing.log")])
    assert res.exit_code == 2 and "no such file" in res.stderr
    res = CliRunner().invoke(cli, ["parse", str(tmp_path)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "is a directory" in res.stderr
    with pytest.raises(InputError, match="JSON, but not a known tool output"):
        detect_tool('{"a": 1}', "x.json")
