"""Exporters shared by the runners: ``torch.onnx`` (ort-cpu, tensorrt) and litert-torch ``.tflite``
(tflite-cpu, adb:*). Each writes atomically (temp file + rename) into the content-hashed cache,
and a failure is a DeviceError naming the module.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

from lutnas.devices.base import cache_dir, module_digest
from lutnas.devices.fingerprint import package_version
from lutnas.errors import DeviceError, InputError
from lutnas.profiler.categories import categorize_onnx_node


# -- ONNX ------------------------------------------------------------------------------------------
def export_onnx(module: Any, example: Any, path: Path, exporter: str = "torchscript", opset: int = 17) -> None:
    """Export ``module`` to ``path`` with ``torch.onnx`` (atomic: temp file + rename)."""
    import torch

    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                torch.onnx.export(module, (example,), str(tmp), dynamo=True, opset_version=max(opset, 18),
                                  input_names=["x"], output_names=["y"], verbose=False)
            else:
                torch.onnx.export(module, (example,), str(tmp), dynamo=False, opset_version=opset,
                                  input_names=["x"], output_names=["y"])
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise DeviceError(f"torch.onnx ({exporter}) could not export {type(module).__name__}: {exc}") from exc


def onnx_node_scopes(path: Path, module: Any) -> dict[str, dict[str, Any]]:
    """Exported node name -> ``{"op": op_type, "scopes": [module class names, outer to inner], "category"}``.

    The torchscript exporter names nodes by module path (``/1/attn/qkv/MatMul``); the dynamo
    exporter records ``pkg.torch.onnx.class_hierarchy`` metadata. Both are read.
    """
    import onnx

    classes = {name: type(m).__name__ for name, m in module.named_modules()}
    model = onnx.load(str(path), load_external_data=False)
    out: dict[str, dict[str, Any]] = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes: list[str] = []
        if "pkg.torch.onnx.class_hierarchy" in meta:
            try:
                scopes = [c.rsplit(".", 1)[-1] for c in ast.literal_eval(meta["pkg.torch.onnx.class_hierarchy"])]
            except (ValueError, SyntaxError):
                scopes = []
        elif node.name.startswith("/"):
            parts = node.name.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                cls = classes.get(".".join(parts[:i]))
                if cls:
                    scopes.append(cls)
        out[node.name] = {"op": node.op_type, "scopes": scopes, "category": categorize_onnx_node(node.op_type, scopes)}
    return out


# -- TFLite / LiteRT -------------------------------------------------------------------------------
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
