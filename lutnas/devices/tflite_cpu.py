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
import contextlib
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from lutnas.devices.base import Artifact, Device, cache_dir, module_digest
from lutnas.devices.fingerprint import host_fingerprint, package_version
from lutnas.errors import DeviceError, InputError
from lutnas.params import Interval
from lutnas.profiler.categories import categorize_onnx_node
from lutnas.profiler.measurement import OpRecord
from lutnas.profiler.parsers.tflite import categorize_tflite
from lutnas.profiler.protocol import Protocol, get_protocol, run_protocol

#: TFLite builtin names -> the ONNX-style op types the scope rule understands
_AS_ONNX = {"FULLY_CONNECTED": "Gemm", "BATCH_MATMUL": "MatMul", "SOFTMAX": "Softmax", "RESHAPE": "Reshape",
            "TRANSPOSE": "Transpose", "SQUEEZE": "Squeeze", "EXPAND_DIMS": "Unsqueeze", "SLICE": "Slice",
            "STRIDED_SLICE": "Slice", "GATHER": "Gather", "SPLIT": "Split", "SPLIT_V": "Split", "UNPACK": "Split",
            "CONV_2D": "Conv", "GELU": "Gelu", "CONCATENATION": "Concat"}


def scopes_of(tensor_name: str) -> list[str]:
    """Module classes in a litert-torch tensor name, outer to inner (``Attention``, ``Linear``)."""
    scope = tensor_name.split(";", 1)[0]
    out = []
    for part in scope.split("/"):
        last = part.rsplit(".", 1)[-1]
        cls = last.split("_", 1)[0]
        if cls and cls[0].isupper():
            out.append(cls)
    return out


def categorize_tflite_op(op_name: str, tensor_name: str) -> tuple[str, bool]:
    """(category, classified) for one operator from its type and its output tensor's scopes."""
    scopes = scopes_of(tensor_name)
    if scopes:
        return categorize_onnx_node(_AS_ONNX.get(op_name, op_name.title()), scopes), True
    cat = categorize_tflite(op_name, tensor_name)
    return (cat, True) if cat is not None else ("Others", False)


class TFLiteCPUDevice(Device):
    name = "tflite-cpu"
    description = "LiteRT/TFLite on this CPU (litert-torch export; single-op sub-models for per-op records)"
    supports_op_profile = True
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

    def time(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        return run_protocol(artifact.payload.invoke, protocol)

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


def cached_tflite(module: Any, example: Any) -> tuple[Path, str]:
    """``(.tflite path, content hash)`` of ``module``: exported with litert-torch once, then read
    from ``$LUTNAS_CACHE/tflite`` (shared by tflite-cpu and adb:*)."""
    digest = module_digest(module, example, "tflite", package_version("litert-torch"))
    path = cache_dir("tflite") / f"{digest[:32]}.tflite"
    if not path.exists():
        export_tflite(module, example, path)
    return path, digest


def tflite_file(path: str | Path) -> tuple[Path, str]:
    """``(a .tflite path, its content hash)`` for a user's model: a ``.tflite`` file as it is, a
    TensorFlow SavedModel folder converted with ``tf.lite.TFLiteConverter`` (cached by content hash;
    needs the ``tensorflow`` extra)."""
    import hashlib

    path = Path(path)
    if path.is_dir() and (path / "saved_model.pb").exists():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(f.read_bytes())
        out = cache_dir("tflite") / f"savedmodel-{h.hexdigest()[:32]}.tflite"
        if not out.exists():
            try:
                import tensorflow as tf
            except ImportError:
                raise InputError(f"{str(path)!r} is a TensorFlow SavedModel; converting it needs tensorflow "
                                 f"(pip install 'lutnas[tensorflow]'), or convert it to .tflite yourself") from None
            with _stdout_to_stderr():
                blob = tf.lite.TFLiteConverter.from_saved_model(str(path)).convert()
            tmp = out.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(blob)
            os.replace(tmp, out)
        return out, hashlib.sha256(out.read_bytes()).hexdigest()
    if not path.is_file():
        raise InputError(f"model file {str(path)!r} does not exist")
    if path.read_bytes()[4:8] != b"TFL3" and path.suffix != ".tflite":
        raise InputError(f"{str(path)!r} is not a .tflite flatbuffer (no TFL3 identifier) nor a SavedModel folder")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


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


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The converter prints progress on stdout (Python and C++); keep stdout for --json output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def export_tflite(module: Any, example: Any, path: Path) -> None:
    """litert-torch conversion, written atomically."""
    import litert_torch
    import torch

    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        with _stdout_to_stderr(), torch.inference_mode(False), torch.no_grad():
            litert_torch.convert(module.eval(), (example,)).export(str(tmp))
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DeviceError(f"litert-torch could not convert {type(module).__name__}: {exc}") from exc
