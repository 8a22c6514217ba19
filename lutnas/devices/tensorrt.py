"""``tensorrt``: ONNX (the shared exporter) -> TensorRT engine, timed and profiled by ``trtexec``
or the TensorRT Python API. For Jetson-class devices (the ViT-scaling study measured its TX2 this way).

Backends (``backend=auto|trtexec|python``):
- ``trtexec`` (JetPack ships it): build ``--onnx --saveEngine [--fp16|--int8]``; time
  ``--loadEngine --warmUp --iterations --duration --exportTimes --useSpinWait`` (samples = the
  per-iteration GPU compute times of the exported JSON); profile ``--dumpProfile
  --separateProfileRun --exportProfile`` (parsed by :mod:`lutnas.profiler.parsers.trtexec`, fused
  layers attributed to categories through the exported ONNX node names).
- ``python``: ``tensorrt.Builder`` + ``OnnxParser``, an ``IProfiler`` for layer times, CUDA events
  through torch's CUDA tensors for timing.
Engines are cached by the ONNX content hash, precision and TensorRT version. Every external
command goes through one replaceable ``run_tool`` (no shell), which tests point at a recorded run.

On a Jetson (``/etc/nv_tegra_release``) the fingerprint records ``nvpmodel`` mode and clocks;
a warning is attached when the GPU clock is below its maximum (``jetson_clocks`` not on), and
thermal zones are read before and after every measurement.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from lutnas.devices.base import Artifact, Device, Reference, cache_dir, module_digest
from lutnas.devices.fingerprint import host_fingerprint, package_version
from lutnas.errors import DeviceError, InputError
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol
from lutnas.profiler.records import OpRecord
from lutnas.spaces.base import BlockKey

PRECISIONS = ("fp32", "fp16", "int8")
BACKENDS = ("auto", "trtexec", "python")
ToolRunner = Callable[[Sequence[str]], subprocess.CompletedProcess]


def default_run_tool(argv: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def trtexec_build_args(trtexec: str, onnx: Path, engine: Path, precision: str, workspace_mib: int | None = None) -> list[str]:
    """The engine-build command line."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    args = [trtexec, f"--onnx={onnx}", f"--saveEngine={engine}", "--skipInference"]
    if precision == "fp16":
        args.append("--fp16")
    elif precision == "int8":
        args.append("--int8")
    if workspace_mib:
        args.append(f"--memPoolSize=workspace:{int(workspace_mib)}M")
    return args


def trtexec_time_args(trtexec: str, engine: Path, protocol: Protocol, times_json: Path) -> list[str]:
    """The timing command line, from the protocol: warm-up (ms), iterations, duration (s, ceil)."""
    duration_s = max(1, -(-int(protocol.min_time_ms) // 1000))
    return [trtexec, f"--loadEngine={engine}", f"--warmUp={int(protocol.warmup_ms)}",
            f"--iterations={int(protocol.min_runs)}", f"--duration={duration_s}", f"--exportTimes={times_json}",
            "--useSpinWait", "--noDataTransfers"]


def trtexec_profile_args(trtexec: str, engine: Path, profile_json: Path, runs: int) -> list[str]:
    return [trtexec, f"--loadEngine={engine}", "--dumpProfile", "--separateProfileRun",
            f"--exportProfile={profile_json}", f"--iterations={int(runs)}", "--warmUp=200"]


def _require(res: subprocess.CompletedProcess, output: Path, what: str) -> None:
    """A DeviceError quoting the tool's last lines unless it succeeded and wrote ``output``."""
    if res.returncode != 0 or not Path(output).exists():
        tail = (res.stdout + res.stderr).strip().splitlines()[-3:]
        raise DeviceError(f"{what}: {' | '.join(tail)}")


def thermal_zones() -> dict[str, float]:
    """Temperatures in °C of every readable ``/sys/class/thermal/thermal_zone*``."""
    out = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        try:
            name = Path(zone, "type").read_text().strip()
            out[name] = int(Path(zone, "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    return out


def jetson_state(run_tool: ToolRunner = default_run_tool) -> dict[str, Any] | None:
    """nvpmodel mode and GPU clocks on a Jetson; None elsewhere."""
    if not Path("/etc/nv_tegra_release").exists():
        return None
    state: dict[str, Any] = {"l4t": Path("/etc/nv_tegra_release").read_text().splitlines()[0][:80]}
    try:
        q = run_tool(["nvpmodel", "-q"])
        state["nvpmodel"] = " ".join(q.stdout.split())[:120] if q.returncode == 0 else None
    except OSError:
        state["nvpmodel"] = None
    for dev in glob.glob("/sys/devices/gpu.0/devfreq/*") + glob.glob("/sys/devices/platform/gpu.0/devfreq/*"):
        try:
            cur = int(Path(dev, "cur_freq").read_text())
            top = int(Path(dev, "max_freq").read_text())
            state.update({"gpu_cur_hz": cur, "gpu_max_hz": top, "jetson_clocks": cur >= top})
            break
        except (OSError, ValueError):
            continue
    return state


class TensorRTDevice(Device):
    name = "tensorrt"
    description = "ONNX -> TensorRT engine, timed and profiled with trtexec or the TensorRT Python API"
    supports_op_profile = True
    defaults = {"precision": "fp16", "backend": "auto", "trtexec": None, "workspace_mib": None, "opset": 17}

    def __init__(self, run_tool: ToolRunner | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.run_tool = run_tool or default_run_tool

    # -- capability --------------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if shutil.which("trtexec"):
            return True, ""
        if package_version("tensorrt") is not None:
            try:
                import tensorrt  # noqa: F401
                return True, ""
            except Exception as exc:  # the placeholder wheels fail at import
                return False, f"the tensorrt package is installed but does not import ({exc})"
        return False, ("neither trtexec on PATH nor the tensorrt Python package (JetPack ships trtexec; the tensorrt "
                       "wheels download their libraries from NVIDIA's index)")

    def _backend(self) -> str:
        b = self.params["backend"]
        if b not in BACKENDS:
            raise InputError(f"device option backend must be one of {', '.join(BACKENDS)}; got {b!r}")
        if self.params["precision"] not in PRECISIONS:
            raise InputError(f"device option precision must be one of {', '.join(PRECISIONS)}; got {self.params['precision']!r}")
        if b == "auto":
            return "trtexec" if self._trtexec(required=False) else "python"
        return b

    def _trtexec(self, required: bool = True) -> str | None:
        path = self.params["trtexec"] or shutil.which("trtexec")
        if path is None and required:
            raise DeviceError("trtexec is not on PATH (give --device-option trtexec=/path/to/trtexec)")
        return path

    def _tensorrt(self):
        try:
            import tensorrt as trt
        except Exception as exc:
            raise DeviceError(f"tensorrt is not installed or does not import ({exc}); use backend=trtexec") from None
        return trt

    def trt_version(self) -> str:
        if self._backend() == "python":
            return str(self._tensorrt().__version__)
        res = self.run_tool([self._trtexec(), "--help"])
        import re

        m = re.search(r"\[TensorRT v(\d+)\]", res.stdout + res.stderr)
        if m:
            from lutnas.profiler.parsers.trtexec import decode_version_tag

            return decode_version_tag(m.group(1))
        return "unknown"

    def fingerprint(self) -> dict[str, Any]:
        backend = self._backend()
        fp = host_fingerprint(device=self.name, runtime="tensorrt", backend=backend, tensorrt=self.trt_version(),
                              precision=self.params["precision"])
        jet = jetson_state(self.run_tool)
        if jet:
            fp.update({f"jetson_{k}": v for k, v in jet.items()})
        return fp

    # -- build -------------------------------------------------------------------------------------
    def prepare(self, module: Any, example: Any) -> Artifact:
        from lutnas.devices.exporters import export_onnx, onnx_node_scopes

        backend = self._backend()
        version = self.trt_version()
        digest = module_digest(module, example, "tensorrt", self.params["precision"], version, self.params["opset"])
        folder = cache_dir("tensorrt")
        onnx_path = folder / f"{digest[:32]}.onnx"
        engine = folder / f"{digest[:32]}-{self.params['precision']}-trt{version}.engine"
        if not onnx_path.exists():
            export_onnx(module, example, onnx_path, "torchscript", self.params["opset"])
        scopes = onnx_node_scopes(onnx_path, module)
        if not engine.exists():
            if backend == "trtexec":
                res = self.run_tool(trtexec_build_args(self._trtexec(), onnx_path, engine, self.params["precision"],
                                                       self.params["workspace_mib"]))
                _require(res, engine, f"trtexec failed to build an engine from {onnx_path}")
            else:
                self._build_python(onnx_path, engine)
        return Artifact(self.name, digest, engine, example, engine,
                        {"onnx": str(onnx_path), "node_categories": {k: v["category"] for k, v in scopes.items()},
                         "backend": backend, "tensorrt": version})

    def _build_python(self, onnx_path: Path, engine: Path) -> None:
        trt = self._tensorrt()
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise DeviceError(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        if self.params["precision"] == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif self.params["precision"] == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise DeviceError(f"TensorRT failed to build an engine from {onnx_path}")
        engine.write_bytes(bytes(blob))

    # -- timing ------------------------------------------------------------------------------------
    def time(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        before = thermal_zones()
        if artifact.metadata["backend"] == "trtexec":
            samples, info = self._time_trtexec(artifact, protocol)
        else:
            samples, info = self._time_python(artifact, protocol)
        info["thermal_before"], info["thermal_after"] = before, thermal_zones()
        jet = jetson_state(self.run_tool)
        if jet and jet.get("jetson_clocks") is False:
            info["warning"] = "Jetson GPU clock below its maximum: run `sudo jetson_clocks` before measuring"
        return samples, info

    def _time_trtexec(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        from lutnas.profiler.parsers.trtexec import parse_trtexec, parse_trtexec_times

        with tempfile.TemporaryDirectory(prefix="lutnas-trt-") as tmp:
            times = Path(tmp) / "times.json"
            res = self.run_tool(trtexec_time_args(self._trtexec(), artifact.path, protocol, times))
            _require(res, times, f"trtexec timing of {artifact.path} failed")
            records = json.loads(times.read_text())
            parse_trtexec_times(records, str(times))  # validates the format
            samples = [float(r["computeMs"]) for r in records]
            summary = parse_trtexec(res.stdout, "trtexec stdout").summary if "GPU Compute" in res.stdout else {}
        return samples, {"number": 1, "tool": "trtexec", "trtexec_summary": summary}

    def _time_python(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        import torch

        from lutnas.profiler.protocol import run_protocol

        trt = self._tensorrt()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(Path(artifact.path).read_bytes())
        context = engine.create_execution_context()
        buffers = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            t = torch.empty(shape, dtype=torch.float32, device="cuda")
            context.set_tensor_address(name, t.data_ptr())
            buffers.append(t)
        stream = torch.cuda.Stream()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def run() -> None:
            context.execute_async_v3(stream.cuda_stream)

        def timer(number: int) -> float:
            start.record(stream)
            for _ in range(number):
                context.execute_async_v3(stream.cuda_stream)
            end.record(stream)
            end.synchronize()
            return float(start.elapsed_time(end))

        samples, info = run_protocol(run, protocol, sync=stream.synchronize, timer=timer)
        info["tool"] = "tensorrt-python"
        return samples, info

    def measure(self, artifact: Artifact, protocol: Protocol, key: BlockKey | str | None = None,
                reference: Reference | None = None) -> Measurement:
        m = super().measure(artifact, protocol, key, reference)
        if "warning" in m.metadata.get("timing", {}):
            m.metadata.setdefault("warnings", []).append(m.metadata["timing"]["warning"])
        return m

    # -- per-layer profile -------------------------------------------------------------------------
    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        from lutnas.profiler.parsers.trtexec import parse_trtexec_profile

        if artifact.metadata["backend"] != "trtexec":
            raise DeviceError("per-layer profiles through the Python API need an IProfiler run on a GPU; use backend=trtexec")
        with tempfile.TemporaryDirectory(prefix="lutnas-trt-") as tmp:
            prof = Path(tmp) / "profile.json"
            res = self.run_tool(trtexec_profile_args(self._trtexec(), artifact.path, prof, runs))
            _require(res, prof, f"trtexec profiling of {artifact.path} failed")
            parsed = parse_trtexec_profile(json.loads(prof.read_text()), str(prof), artifact.metadata["node_categories"])
        return list(parsed.ops)
