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


def _run(tid: int, ts: int, dur: int) -> list[dict]:
    """One run of a two-node graph on thread ``tid`` (synthesised, in ORT's event layout)."""
    return [{"cat": "Node", "name": f"{n}_kernel_time", "tid": tid, "dur": 10, "ts": ts + 5 + 20 * i, "ph": "X",
             "args": {"op_name": op, "provider": "CPUExecutionProvider"}}
            for i, (n, op) in enumerate((("fc", "Gemm"), ("sm", "Softmax")))] + [
        {"cat": "Session", "name": "model_run", "tid": tid, "dur": dur, "ts": ts, "ph": "X", "args": {}}]


def test_concurrent_threads_overlapping_runs_are_not_extra_runs():
    """Two threads run the session at once (synthesised): thread 2's short run starts inside
    thread 1's long one and ends first, so thread 1's second node lies after the latest-begun
    window's end but still inside its own run. Four model_run events are four runs, not five."""
    events = _run(1, 0, 100) + _run(2, 2, 10) + _run(1, 200, 50) + _run(2, 210, 40)
    r = parse_text(json.dumps(events), source="threads.json")
    assert r.extra["runs"] == 4 and r.summary["count"] == 4
    assert {o.name: o.count for o in r.ops} == {"fc": 1, "sm": 1}
    assert all(o.avg_ms == pytest.approx(0.010) for o in r.ops)
