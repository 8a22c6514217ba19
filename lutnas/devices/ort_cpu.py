"""``ort-cpu``: ``torch.onnx`` export + ONNX Runtime's CPU execution provider.

The exporter (``torchscript``: the legacy exporter, ~0.1 s per block; ``dynamo``: ~3 s) and
opset are recorded, as are intra-op threads (1 by default) and the graph-optimisation level.

Per-operator records come from ``SessionOptions.enable_profiling``. With full optimisation ORT
fuses and renames nodes (``/attn/qkv/MatMul/MatMulAddFusion`` → Gemm,
``/attn/Gather_2/GatherSliceToSplitFusion`` → Split + Squeeze, FusedMatMul, Gelu,
SkipLayerNormalization, NCHWc convs). Each profiled node is attributed through graphs, not its
op type alone: the exported graph's node names are mapped to module classes at export time, the
optimised graph (saved by ORT) names which exported node each fused node came from, and nodes
ORT created from nothing (``gemm_input_reshape_token_8``, ``Squeeze_token_25``) inherit the
category of their neighbours in the optimised graph.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from lutnas.categories import OTHERS
from lutnas.devices.base import Artifact, Device, Reference, cache_dir, module_digest
from lutnas.devices.exporters import export_onnx, onnx_node_scopes  # noqa: F401
from lutnas.devices.fingerprint import host_fingerprint, package_version
from lutnas.errors import DeviceError, InputError
from lutnas.params import Interval
from lutnas.profiler.categories import DATA_MOVEMENT, SPLITS, categorize_created_node
from lutnas.profiler.protocol import Protocol, run_protocol
from lutnas.profiler.records import OpRecord

OPT_LEVELS = ("disable", "basic", "extended", "all")
EXPORTERS = ("torchscript", "dynamo")


class OrtCPUDevice(Device):
    name = "ort-cpu"
    description = "ONNX Runtime CPU execution provider (torch.onnx export; ORT profiler for per-op records)"
    supports_op_profile = True
    supports_paired = True
    defaults = {"threads": 1, "opt": "all", "exporter": "torchscript", "opset": 17}
    _parameter_constraints = {"threads": [Interval(Integral, 1, 1024)], "opset": [Interval(Integral, 7, 99)]}

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if package_version("onnxruntime") is None:
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        if package_version("onnx") is None:
            return False, "onnx is not installed (pip install onnx)"
        return True, ""

    def _check(self) -> None:
        p = self.params
        if not isinstance(p["threads"], int) or p["threads"] < 1:
            raise InputError(f"device option threads must be a positive integer; got {p['threads']!r}")
        if p["opt"] not in OPT_LEVELS:
            raise InputError(f"device option opt must be one of {', '.join(OPT_LEVELS)}; got {p['opt']!r}")
        if p["exporter"] not in EXPORTERS:
            raise InputError(f"device option exporter must be one of {', '.join(EXPORTERS)}; got {p['exporter']!r}")

    def fingerprint(self) -> dict[str, Any]:
        import torch

        self._check()
        return host_fingerprint(device=self.name, runtime="onnxruntime", onnxruntime=package_version("onnxruntime"),
                                onnx=package_version("onnx"), torch=torch.__version__, threads=self.params["threads"],
                                graph_optimization=self.params["opt"], exporter=self.params["exporter"],
                                opset=self.params["opset"])

    # -- export ------------------------------------------------------------------------------------
    def prepare(self, module: Any, example: Any) -> Artifact:
        self._check()
        import torch

        p = self.params
        digest = module_digest(module, example, "onnx", p["exporter"], p["opset"], torch.__version__)
        path = cache_dir("onnx") / f"{digest[:32]}.onnx"
        scopes_path = path.with_suffix(".scopes.json")
        cached = path.exists() and scopes_path.exists()
        for attempt in range(2):
            if not cached:
                export_onnx(module, example, path, p["exporter"], p["opset"])
                scopes_path.write_text(json.dumps(onnx_node_scopes(path, module)))
            try:
                session = self._session(path)
                scopes = json.loads(scopes_path.read_text())
                break
            except (DeviceError, ValueError):
                if not cached:
                    raise
                cached = False  # a corrupt cached export (a crash mid-write, a full disk): export it again
        feeds = {session.get_inputs()[0].name: example.detach().cpu().numpy()}
        return Artifact(self.name, digest, session, feeds, path,
                        {"scopes": scopes, "exporter": p["exporter"], "opset": p["opset"]})

    def _options(self):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.params["threads"]
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.params["opt"]]
        return so

    def _session(self, path: Path, so: Any = None):
        import onnxruntime as ort

        try:
            return ort.InferenceSession(str(path), so or self._options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DeviceError(f"ONNX Runtime could not load {path}: {exc}") from exc

    # -- timing --------------------------------------------------------------------------------------
    def time(self, artifact: Artifact, protocol: Protocol,
             reference: Reference | None = None) -> tuple[list[float], dict[str, Any]]:
        ref = (_runner(reference.artifact), reference.baseline_ms) if reference is not None else None
        return run_protocol(_runner(artifact), protocol, reference=ref)

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        from lutnas.profiler.parsers.ort import parse_ort_profile_events

        with tempfile.TemporaryDirectory(prefix="lutnas-ort-") as tmp:
            so = self._options()
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(tmp, "ort")
            optimized = Path(tmp) / "optimized.onnx"
            so.optimized_model_filepath = str(optimized)
            session = self._session(artifact.path, so)
            for _ in range(runs):
                session.run(None, artifact.example)
            profile = session.end_profiling()
            events = json.loads(Path(profile).read_text())
            parsed = parse_ort_profile_events(events, source=profile)
            categories = attribute_optimized_graph(optimized, artifact.metadata["scopes"])
        records = []
        for op in parsed.ops:
            cat, classified = categories.get(op.name, (OTHERS, False))
            records.append(dataclasses.replace(op, category=cat, classified=classified))
        return sorted(records, key=lambda r: -r.avg_ms)


# -- export and graph attribution ------------------------------------------------------------------
def attribute_optimized_graph(optimized: Path, scopes: dict[str, dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    """Profiled node name -> (category, classified) for every node of ORT's optimised graph.

    1. A fused or renamed node whose name starts with an exported node's name takes that node's
       category (``/attn/Gather_2/GatherSliceToSplitFusion`` -> MSA-Gather).
    2. A node with an op-type rule (Softmax, LayerNormalization, Gelu, Conv...) takes it.
    3. A data-movement node ORT created (``gemm_input_reshape_token_8``, ``Squeeze_token_25``)
       takes its neighbours' context: next to a Linear's Gemm -> MLP; inside attention ->
       MSA-Reshape&Transpose (Reshape/Transpose) or MSA-Gather (Squeeze/Split/Gather).
    4. Anything else: Others, marked unclassified.
    """
    import onnx

    from lutnas.profiler.categories import ONNX_BY_TYPE

    graph = onnx.load(str(optimized), load_external_data=False).graph
    names = sorted(scopes, key=len, reverse=True)
    result: dict[str, tuple[str, bool]] = {}
    producers: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    ops: dict[str, str] = {}
    for node in graph.node:
        ops[node.name] = node.op_type
        for o in node.output:
            producers[o] = node.name
        for i in node.input:
            consumers.setdefault(i, []).append(node.name)
        origin = next((n for n in names if n and (node.name == n or node.name.startswith(n + "/")
                                                  or node.name.startswith(n + "_"))), None)
        if origin is not None:
            result[node.name] = (scopes[origin]["category"], True)
        elif node.op_type in ONNX_BY_TYPE:
            result[node.name] = (ONNX_BY_TYPE[node.op_type], True)
    inputs = {n.name: list(n.input) for n in graph.node}
    outputs = {n.name: list(n.output) for n in graph.node}
    for _ in range(3):  # propagate through chains of created nodes (Reshape -> Squeeze -> Transpose)
        for node_name, op in ops.items():
            if node_name in result or (op not in DATA_MOVEMENT and op not in SPLITS):
                continue
            neigh = [producers[i] for i in inputs[node_name] if i in producers]
            neigh += [c for o in outputs[node_name] for c in consumers.get(o, [])]
            cat = categorize_created_node(op, [(ops.get(n, ""), result[n][0]) for n in neigh if n in result])
            if cat is not None:
                result[node_name] = (cat, True)
    for node_name in ops:
        result.setdefault(node_name, (OTHERS, False))
    return result


def _runner(artifact: Artifact) -> Callable[[], None]:
    """One inference of an ONNX Runtime artifact."""
    session, feeds = artifact.payload, artifact.example

    def run() -> None:
        session.run(None, feeds)

    return run
