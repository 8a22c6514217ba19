"""ONNX Runtime profiles: the installed version's, and older layouts (fences, traceEvents wrapper)."""

import json

import pytest

from lutnas.devices import get_device
from lutnas.models import build_block
from lutnas.profiler.parsers import parse_text
from lutnas.spaces import EncoderKey

OLD_STYLE = [
    {"cat": "Session", "name": "model_loading_uri", "dur": 900, "ts": 0, "ph": "X", "args": {}},
    *[e for run in range(2) for e in (
        {"cat": "Node", "name": "fc_fence_before", "dur": 0, "ts": 10, "ph": "X", "args": {"op_name": "Gemm"}},
        {"cat": "Node", "name": "fc_kernel_time", "dur": 300 + run * 100, "ts": 11, "ph": "X", "args": {"op_name": "Gemm"}},
        {"cat": "Node", "name": "fc_fence_after", "dur": 0, "ts": 12, "ph": "X", "args": {"op_name": "Gemm"}},
        {"cat": "Node", "name": "sm_kernel_time", "dur": 100, "ts": 13, "ph": "X", "args": {"op_name": "Softmax"}},
        {"cat": "Session", "name": "model_run", "dur": 500 + run * 100, "ts": 9, "ph": "X", "args": {}},
    )],
]


@pytest.mark.parametrize("wrap", [False, True])
def test_old_layouts(wrap):
    events = {"traceEvents": OLD_STYLE} if wrap else OLD_STYLE
    r = parse_text(json.dumps(events), source="old.json")
    assert r.tool == "ort-profile" and r.summary["count"] == 2
    assert r.summary["mean_ms"] == pytest.approx(0.55)
    ops = {o.name: o for o in r.ops}
    assert set(ops) == {"fc", "sm"}  # fences skipped
    assert ops["fc"].avg_ms == pytest.approx(0.35) and ops["sm"].category == "MSA-Softmax"


def test_installed_onnxruntime_profile_parses(tmp_path):
    import onnxruntime as ort

    dev = get_device("ort-cpu")
    module, x = build_block(EncoderKey(17, 64, 2, 32, 2))
    art = dev.prepare(module, x)
    so = ort.SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "p")
    sess = ort.InferenceSession(str(art.path), so, providers=["CPUExecutionProvider"])
    for _ in range(4):
        sess.run(None, art.example)
    path = sess.end_profiling()
    r = parse_text(open(path).read(), source=path)
    assert r.summary["count"] == 4
    assert sum(o.avg_ms for o in r.ops) <= r.summary["mean_ms"] * 1.05
