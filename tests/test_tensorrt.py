"""The tensorrt runner through a process boundary pointed at recorded trtexec runs.

TensorRT cannot be installed on these machines; the trtexec path is exercised end to end with
real trtexec outputs from ../shared/tool_outputs, the Python-API path is guarded.
"""

import json
import stat
import sys
from pathlib import Path

import pytest

from lutnas.devices import get_device, list_devices
from lutnas.devices.tensorrt import TensorRTDevice, trtexec_build_args, trtexec_profile_args, trtexec_time_args
from lutnas.errors import DeviceError, InputError
from lutnas.luts import LUT
from lutnas.measure import build_lut
from lutnas.profiler import get_protocol
from lutnas.spaces import EncoderKey, get_space


@pytest.fixture
def fake_trtexec(tmp_path, tool_outputs, monkeypatch):
    exe = tmp_path / "trtexec"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).parent / 'fake_trtexec.py'} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_TRTEXEC_LOG", str(log))
    monkeypatch.setenv("LUTNAS_TOOL_OUTPUTS", str(tool_outputs))
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path / "cache"))
    return exe, log


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_command_construction():
    p = get_protocol("thorough")
    b = trtexec_build_args("trtexec", Path("m.onnx"), Path("m.engine"), "fp16", 2048)
    assert b == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine", "--skipInference", "--fp16",
                 "--memPoolSize=workspace:2048M"]
    assert "--int8" in trtexec_build_args("trtexec", Path("a"), Path("b"), "int8")
    t = trtexec_time_args("trtexec", Path("m.engine"), p, Path("t.json"))
    assert "--warmUp=200" in t and "--iterations=50" in t and "--duration=3" in t and "--exportTimes=t.json" in t
    assert trtexec_profile_args("trtexec", Path("e"), Path("p.json"), 10)[2:5] == ["--dumpProfile", "--separateProfileRun",
                                                                                  "--exportProfile=p.json"]
    with pytest.raises(InputError, match="precision"):
        trtexec_build_args("trtexec", Path("a"), Path("b"), "fp8")


def test_hostile_paths_are_single_arguments(tmp_path):
    weird = tmp_path / "a b; rm -rf x" / "m'\".onnx"
    args = trtexec_build_args("trtexec", weird, tmp_path / "e", "fp32")
    assert args[1] == f"--onnx={weird}"  # one argv element, never a shell string


def test_end_to_end_through_recorded_trtexec(fake_trtexec, tool_outputs):
    exe, log = fake_trtexec
    dev = TensorRTDevice(trtexec=str(exe), backend="trtexec", precision="fp16")
    assert dev.fingerprint()["tensorrt"] == "10.16.1"
    from lutnas.measure.target import measure_target

    m, ops = measure_target(dev, EncoderKey(17, 64, 2, 32, 2), get_protocol("quick"), ops=True)
    recorded = json.loads((tool_outputs / "trtexec_exportTimes_1.json").read_text())
    assert m.n == len(recorded) and m.samples_ms[0] == recorded[0]["computeMs"]
    assert len(ops) == 103 and sum(o.total_ms for o in ops) == pytest.approx(12.39974, rel=1e-5)
    argv = calls(log)
    build = next(a for a in argv if any(x.startswith("--saveEngine=") for x in a))
    assert "--fp16" in build and any(x.startswith("--onnx=") and x.endswith(".onnx") for x in build)
    timing = next(a for a in argv if any(x.startswith("--exportTimes=") for x in a))
    assert "--iterations=10" in timing and "--useSpinWait" in timing
    n_builds = sum(any(x.startswith("--saveEngine=") for x in a) for a in argv)
    measure_target(dev, EncoderKey(17, 64, 2, 32, 2), get_protocol("quick"))
    assert sum(any(x.startswith("--saveEngine=") for x in a) for a in calls(log)) == n_builds  # engine cached


def test_lut_build_on_tensorrt_through_the_recorded_tool(fake_trtexec, tmp_path):
    exe, _ = fake_trtexec
    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "r": [2], "I": [64], "p": [32]})
    path = tmp_path / "trt.parquet"
    info = build_lut(TensorRTDevice(trtexec=str(exe), backend="trtexec"), space, space.grid(), path,
                     get_protocol("quick"), copies=1)
    assert info["complete"] and info["rows"] == 3
    lut = LUT.read(path)
    assert lut.meta["fingerprint"]["tensorrt"] == "10.16.1" and lut.meta["fingerprint"]["precision"] == "fp16"


def test_build_failure_is_a_device_error(fake_trtexec, monkeypatch):
    exe, _ = fake_trtexec
    monkeypatch.setenv("FAKE_TRTEXEC_FAIL", "1")
    from lutnas.measure.target import measure_target

    with pytest.raises(DeviceError, match="unsupported operator"):
        measure_target(TensorRTDevice(trtexec=str(exe), backend="trtexec"), EncoderKey(26, 64, 2, 32, 4),
                       get_protocol("quick"))


def test_registered_and_guarded_without_tensorrt():
    row = {r["name"]: r for r in list_devices()}["tensorrt"]
    usable, reason = TensorRTDevice.availability()
    assert row["usable"] == usable
    if not usable:
        assert "trtexec" in reason and "tensorrt" in reason
        with pytest.raises(DeviceError, match="tensorrt is not installed"):
            get_device("tensorrt", backend="python").fingerprint()
