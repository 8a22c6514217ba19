"""``torch-cuda``: eager PyTorch on an NVIDIA GPU, timed with CUDA events.

By default each inference is captured once as a CUDA graph and replayed (``graphs=true``): on an
H100 behind a virtualised host, eager DeiT-Tiny at batch 1 is launch-bound (3.2–3.3 ms, CV up to
37 %, of which 0.87 ms is kernel time) while the replayed graph takes 0.90 ms with CV 0.3 %, and
only graph timings add up block by block (see docs/gpu-verification.md). ``graphs=false``
measures eager PyTorch, launch overhead included.

Two modes, as the ViT-scaling study measured its V100:
- ``latency`` (default): the table's batch (1 unless ``--batch``), CUDA-event time per call.
- ``throughput``: the ViT-scaling study's protocol: find the largest power-of-2 batch that fits in memory
  (catch out-of-memory, free the cache, step down), time at that batch, report images/s. The
  batch used is recorded in the measurement (and hence in the LUT row).

Per-op records come from ``torch.profiler`` with CUDA activity; kernel time is attributed to the
top-level aten op that launched it through kineto's correlation ids (the same code that parses
saved kineto traces, :mod:`lutnas.profiler.parsers.torch_profiler`).
"""

from __future__ import annotations

import dataclasses
from numbers import Integral
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from lutnas.devices.base import Artifact, Device, Reference, module_digest
from lutnas.devices.fingerprint import host_fingerprint
from lutnas.errors import DeviceError, InputError
from lutnas.params import Interval
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol, run_protocol
from lutnas.profiler.records import OpRecord
from lutnas.spaces.base import BlockKey

MODES = ("latency", "throughput")


def find_max_batch(fits: Callable[[int], bool], start: int = 1, limit: int = 1 << 14) -> int:
    """Largest power-of-2 batch ``b`` in [start, limit] with ``fits(b)``; 0 if even ``start`` fails.

    ``fits`` runs one inference at that batch and returns False on out-of-memory (after freeing
    what it allocated). Doubles until a failure or ``limit``, then returns the last success.
    """
    if start < 1 or start & (start - 1):
        raise InputError(f"start batch must be a power of 2; got {start}")
    best = 0
    b = start
    while b <= limit:
        if not fits(b):
            break
        best = b
        b *= 2
    return best


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _nvidia_smi(fields: str, index: int) -> list[str] | None:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits", f"-i={index}"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [x.strip() for x in out.stdout.strip().split(",")]


class TorchCUDADevice(Device):
    name = "torch-cuda"
    description = "eager PyTorch on an NVIDIA GPU (CUDA events; torch.profiler kernels for per-op records)"
    supports_op_profile = True
    defaults = {"index": 0, "mode": "latency", "max_batch": 4096, "graphs": True}
    _parameter_constraints = {"index": [Interval(Integral, 0, 1024)], "max_batch": [Interval(Integral, 1, 1 << 20)],
                              "graphs": [bool]}

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import torch
        except ImportError:
            return False, "torch is not installed"
        if torch.version.cuda is None:
            return False, "this torch is a CPU build (torch.version.cuda is None); install a CUDA build on a GPU machine"
        if not torch.cuda.is_available():
            return False, "no CUDA GPU visible (torch.cuda.is_available() is False)"
        return True, ""

    def _check(self) -> None:
        if self.params["mode"] not in MODES:
            raise InputError(f"device option mode must be one of {', '.join(MODES)}; got {self.params['mode']!r}")
        usable, why = self.availability()
        if not usable:
            raise DeviceError(f"torch-cuda is not usable here: {why}")

    @property
    def _device(self):
        import torch

        return torch.device("cuda", int(self.params["index"]))

    def fingerprint(self) -> dict[str, Any]:
        import torch

        self._check()
        props = torch.cuda.get_device_properties(self._device)
        smi = _nvidia_smi("driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,persistence_mode",
                          int(self.params["index"])) or []
        keys = ("driver", "sm_clock_mhz", "sm_clock_max_mhz", "mem_clock_mhz", "power_limit_w", "persistence_mode")
        return host_fingerprint(device=self.name, runtime="torch", torch=torch.__version__, cuda=torch.version.cuda,
                                cudnn=torch.backends.cudnn.version(), gpu_name=props.name,
                                gpu_memory_mib=props.total_memory // (1 << 20), gpu_sms=props.multi_processor_count,
                                capability=f"{props.major}.{props.minor}", mode=self.params["mode"],
                                cuda_graphs=bool(self.params["graphs"]),
                                **dict(zip(keys, smi)))

    def prepare(self, module: Any, example: Any) -> Artifact:
        import torch

        self._check()
        digest = module_digest(module, example, "cuda")
        module = module.eval().to(self._device)
        art = Artifact(self.name, digest, module, example.to(self._device))
        if self.params["mode"] == "throughput":
            art.metadata["batch"] = self.max_batch(art)
            shape = (art.metadata["batch"],) + tuple(example.shape[1:])
            art.example = torch.randn(shape, device=self._device)
        art.metadata.setdefault("batch", int(example.shape[0]))
        if self.params["graphs"]:
            art.metadata["graph"] = self._capture(module, art.example)
        return art

    def _capture(self, module: Any, x: Any):
        """Capture one inference as a CUDA graph (static input and output buffers).

        Replaying a graph removes the host's per-kernel launch cost, which dominates eager
        inference of small blocks at small batch; what remains is GPU time, which adds up across
        blocks the way a deployed (graph-captured or TensorRT) model's does.
        """
        import torch

        stream = torch.cuda.Stream(self._device)
        stream.wait_stream(torch.cuda.current_stream(self._device))
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):
                module(x)
        torch.cuda.current_stream(self._device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            module(x)
        torch.cuda.synchronize(self._device)
        return graph

    def max_batch(self, artifact: Artifact) -> int:
        """The ViT-scaling study's rule: the largest power-of-2 batch that fits in GPU memory."""
        import torch

        module, x = artifact.payload, artifact.example

        def fits(b: int) -> bool:
            try:
                with torch.inference_mode():
                    module(torch.randn((b,) + tuple(x.shape[1:]), device=self._device))
                torch.cuda.synchronize(self._device)
                return True
            except Exception as exc:  # torch raises OutOfMemoryError or RuntimeError
                if not _is_oom(exc):
                    raise
                return False
            finally:
                torch.cuda.empty_cache()

        best = find_max_batch(fits, limit=int(self.params["max_batch"]))
        if best == 0:
            raise DeviceError("even batch 1 does not fit in GPU memory")
        return best

    def time(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        import torch

        module, x = artifact.payload, artifact.example
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        graph = artifact.metadata.get("graph")
        call = graph.replay if graph is not None else (lambda: module(x))

        def run() -> None:
            call()

        def timer(number: int) -> float:
            start.record()
            for _ in range(number):
                call()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        with torch.inference_mode(), torch.cuda.device(self._device):
            samples, info = run_protocol(run, protocol, sync=lambda: torch.cuda.synchronize(self._device), timer=timer)
        batch = artifact.metadata.get("batch", 1)
        info["batch"] = batch
        info["cuda_graph"] = graph is not None
        if self.params["mode"] == "throughput":
            med = sorted(samples)[len(samples) // 2]
            info["images_per_s"] = batch / (med / 1e3) if med > 0 else None
        return samples, info

    def measure(self, artifact: Artifact, protocol: Protocol, key: BlockKey | str | None = None,
                reference: Reference | None = None) -> Measurement:
        m = super().measure(artifact, protocol, key, reference)
        m.metadata["batch"] = artifact.metadata.get("batch", 1)
        return m

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        import torch
        from torch.profiler import ProfilerActivity, profile

        from lutnas.devices.environment import quiet_kineto
        from lutnas.profiler.parsers.torch_profiler import parse_torch_trace

        module, x = artifact.payload, artifact.example
        with torch.inference_mode():
            for _ in range(3):
                module(x)
            torch.cuda.synchronize(self._device)
            with quiet_kineto(), profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                for _ in range(runs):
                    module(x)
                    torch.cuda.synchronize(self._device)
                    prof.step()
        with tempfile.TemporaryDirectory(prefix="lutnas-cuda-") as tmp:
            path = Path(tmp) / "trace.json"
            prof.export_chrome_trace(str(path))
            parsed = parse_torch_trace(json.loads(path.read_text()), str(path))
        steps = parsed.extra.get("steps") or 0
        scale = 1.0 if steps else 1.0 / runs  # per-step times when ProfilerStep events exist
        return [dataclasses.replace(op, avg_ms=op.avg_ms * scale) for op in parsed.ops]
