"""``tflite-cpu``: LiteRT (TFLite) on this CPU — litert-torch export, ai-edge-litert Interpreter.

Threads default to 1 (see torch-cpu); ``xnnpack=false`` runs the builtin kernels only
(``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``). Exports are cached by content hash.

Per-operator times: the Python runtime has no op profiler, so each operator of the exported
flatbuffer is cut out into a single-op model (its activation inputs become model inputs, its
weights stay constant buffers) and timed alone under a short protocol. The sum of the single-op
times is reported against the whole model's median (``op_sum_ratio``): each cut model pays its
own invoke and delegate overhead and runs with cold caches, so the sum over-states the whole.

Categories come from the graph: litert-torch names every tensor after the module scopes it came
from (``...Attention_attn/...Linear_qkv;2``), so an operator is classified by those module
classes plus its type (the same rule as ONNX nodes): LayerNorm's decomposed MEAN /
SQUARED_DIFFERENCE / RSQRT / MUL / SUB / ADD all sit under a LayerNorm scope, attention's
RESHAPE/TRANSPOSE/SLICE under the Attention scope. Tensors without scopes fall back to type rules.
"""

from __future__ import annotations

from numbers import Integral
import copy
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lutnas.devices.base import Artifact, Device, Reference
from lutnas.devices.exporters import cached_tflite, export_tflite, tflite_file  # noqa: F401
from lutnas.devices.fingerprint import host_fingerprint, package_version
from lutnas.errors import DeviceError, InputError
from lutnas.params import Interval
from lutnas.profiler.categories import categorize_tflite_op, scopes_of  # noqa: F401  (rules live in the profiler)
from lutnas.profiler.protocol import Protocol, get_protocol, run_protocol
from lutnas.profiler.records import OpRecord

class TFLiteCPUDevice(Device):
    name = "tflite-cpu"
    description = "LiteRT/TFLite on this CPU (litert-torch export; single-op sub-models for per-op records)"
    supports_op_profile = True
    supports_paired = True
    defaults = {"threads": 1, "xnnpack": True}
    _parameter_constraints = {"threads": [Interval(Integral, 1, 1024)], "xnnpack": [bool]}

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        missing = [p for p in ("ai-edge-litert", "litert-torch") if package_version(p) is None]
        if missing:
            return False, f"{', '.join(missing)} not installed (pip install 'lutnas[tflite]')"
        return True, ""

    def _check(self) -> None:
        if not isinstance(self.params["threads"], int) or self.params["threads"] < 1:
            raise InputError(f"device option threads must be a positive integer; got {self.params['threads']!r}")
        ok, why = self.availability()
        if not ok:
            raise DeviceError(f"tflite-cpu is not usable here: {why}")

    def fingerprint(self) -> dict[str, Any]:
        import torch

        self._check()
        return host_fingerprint(device=self.name, runtime="litert", ai_edge_litert=package_version("ai-edge-litert"),
                                litert_torch=package_version("litert-torch"), torch=torch.__version__,
                                threads=self.params["threads"], xnnpack=bool(self.params["xnnpack"]))

    def _interpreter(self, path: str | Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": self.params["threads"]}
        if not self.params["xnnpack"]:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            it = Interpreter(**kwargs)
            it.allocate_tensors()
        except Exception as exc:  # LiteRT raises RuntimeError/ValueError with its own text
            raise DeviceError(f"LiteRT could not load {path}: {exc}") from exc
        return it

    def exporter(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        from lutnas.devices.exporters import cached_tflite

        return cached_tflite, {}

    def prepare(self, module: Any, example: Any) -> Artifact:
        self._check()
        path, digest = cached_tflite(module, example)
        return self._artifact(path, digest, example.detach().cpu().numpy())

    def prepare_file(self, path: str | Path) -> Artifact:
        """A user's own ``.tflite`` file or SavedModel folder (random inputs of its declared shapes)."""
        self._check()
        path, digest = tflite_file(path)
        return self._artifact(path, digest, None)

    def _artifact(self, path: Path, digest: str, example: Any) -> Artifact:
        it = self._interpreter(path)
        feeds = []
        rng = np.random.default_rng(0)
        for d in it.get_input_details():
            value = example if (example is not None and len(it.get_input_details()) == 1) else \
                rng.standard_normal(d["shape"]).astype(d["dtype"])
            it.set_tensor(d["index"], np.asarray(value, dtype=d["dtype"]).reshape(d["shape"]))
            feeds.append(d["index"])
        return Artifact(self.name, digest, it, feeds, path)

    def time(self, artifact: Artifact, protocol: Protocol,
             reference: Reference | None = None) -> tuple[list[float], dict[str, Any]]:
        ref = (reference.artifact.payload.invoke, reference.baseline_ms) if reference is not None else None
        return run_protocol(artifact.payload.invoke, protocol, reference=ref)

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        """Time every operator as a single-op sub-model (see module docstring)."""
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils as fu

        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        model = fu.read_model(str(artifact.path))
        graph = model.subgraphs[0]
        protocol = get_protocol("quick", min_runs=max(5, runs), min_time_ms=5, warmup_ms=2, min_sample_ms=0.05)
        records = []
        with tempfile.TemporaryDirectory(prefix="lutnas-tflite-") as tmp:
            for i, op in enumerate(graph.operators):
                op_name = names.get(fu.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex]), "CUSTOM")
                out_name = graph.tensors[op.outputs[0]].name.decode(errors="replace") if len(op.outputs) else ""
                cut = single_op_model(model, i)
                path = os.path.join(tmp, f"op{i}.tflite")
                fu.write_model(cut, path)
                it = self._interpreter(path)
                rng = np.random.default_rng(i)
                for d in it.get_input_details():
                    it.set_tensor(d["index"], _random_input(rng, d))
                samples, _ = run_protocol(it.invoke, protocol)
                category, classified = categorize_tflite_op(op_name, out_name)
                records.append(OpRecord(f"{i}:{op_name}:{out_name.split(';')[0][-60:]}", op_name, category,
                                        float(np.median(samples)), 1, classified))
        return records


def _random_input(rng: np.random.Generator, detail: dict[str, Any]) -> np.ndarray:
    shape, dtype = detail["shape"], detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def single_op_model(model: Any, index: int) -> Any:
    """A copy of ``model`` whose only operator is ``index``: non-constant inputs become model
    inputs, the operator's outputs become model outputs; weights stay constant buffers."""
    cut = copy.copy(model)
    cut.subgraphs = [copy.copy(model.subgraphs[0])]
    graph = cut.subgraphs[0]
    op = model.subgraphs[0].operators[index]
    graph.operators = [op]

    def constant(t: int) -> bool:
        buf = model.buffers[graph.tensors[t].buffer]
        return buf.data is not None and len(buf.data) > 0 or bool(getattr(buf, "size", 0))

    graph.inputs = [t for t in dict.fromkeys(op.inputs) if t >= 0 and not constant(t)]
    graph.outputs = list(op.outputs)
    cut.signatureDefs = []
    return cut
