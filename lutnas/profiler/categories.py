"""Mapping each backend's operator names onto the seven categories of seed 000 (Table 11).

A name alone is often ambiguous (a MatMul of a Linear vs q·kᵀ; a Reshape that flattens a Gemm's
input vs one that splits heads; a fused node). Each mapper therefore takes the context it has:
torch eager ops are unambiguous by name (``aten::linear`` vs ``aten::matmul``); ONNX nodes carry
their module scope; TFLite ops are classified through the graph (see the tflite runner); trtexec
layer names carry the ONNX node names they were built from. Whatever stays unclassified goes to
Others and is listed by the caller, never dropped.
"""

from __future__ import annotations

import re
from typing import Iterable

from lutnas.categories import CATEGORIES, LAYERNORM, MLP, MSA_GATHER, MSA_MATMUL, MSA_RESHAPE, MSA_SOFTMAX, OTHERS

# -- torch (aten) --------------------------------------------------------------------------------
_TORCH_EXACT = {
    "aten::linear": MLP, "aten::addmm": MLP, "aten::mm": MLP, "aten::_addmm_activation": MLP,
    "aten::layer_norm": LAYERNORM, "aten::native_layer_norm": LAYERNORM,
    "aten::matmul": MSA_MATMUL, "aten::bmm": MSA_MATMUL, "aten::baddbmm": MSA_MATMUL,
    "aten::scaled_dot_product_attention": MSA_MATMUL,
    "aten::_scaled_dot_product_flash_attention_for_cpu": MSA_MATMUL,
    "aten::_scaled_dot_product_efficient_attention": MSA_MATMUL,
    "aten::_scaled_dot_product_flash_attention": MSA_MATMUL,
    "aten::_scaled_dot_product_cudnn_attention": MSA_MATMUL,
    "aten::softmax": MSA_SOFTMAX, "aten::_softmax": MSA_SOFTMAX,
    "aten::reshape": MSA_RESHAPE, "aten::view": MSA_RESHAPE, "aten::permute": MSA_RESHAPE,
    "aten::transpose": MSA_RESHAPE, "aten::contiguous": MSA_RESHAPE, "aten::clone": MSA_RESHAPE,
    "aten::_unsafe_view": MSA_RESHAPE, "aten::t": MSA_RESHAPE,
    "aten::select": MSA_GATHER, "aten::unbind": MSA_GATHER, "aten::index_select": MSA_GATHER,
    "aten::gather": MSA_GATHER,
}


def categorize_torch_op(name: str) -> str | None:
    """Category of a top-level aten op, or None when the name is not one lutnas knows.

    Callers put ``None`` into Others and list the name. Ops known to be Others (conv, gelu, add,
    cat, mul, ...) return ``Others``.
    """
    if name in _TORCH_EXACT:
        return _TORCH_EXACT[name]
    if name in _TORCH_OTHERS or name.startswith(("aten::conv", "aten::_convolution", "aten::mkldnn_convolution", "aten::cudnn_convolution")):
        return OTHERS
    return None


_TORCH_OTHERS = {
    "aten::gelu", "aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::div", "aten::cat",
    "aten::flatten", "aten::expand", "aten::slice", "aten::relu", "aten::relu_", "aten::silu", "aten::hardswish",
    "aten::batch_norm", "aten::_batch_norm_impl_index", "aten::native_batch_norm", "aten::adaptive_avg_pool2d",
    "aten::mean", "aten::empty", "aten::to", "aten::copy_", "aten::zeros", "aten::ones", "aten::dropout",
    "aten::sigmoid", "aten::max_pool2d", "aten::avg_pool2d", "aten::unfold", "aten::fold", "aten::pad",
    "aten::constant_pad_nd", "aten::im2col", "aten::col2im", "aten::squeeze", "aten::unsqueeze",
}


# -- ONNX graphs (torch.onnx export + ONNX Runtime) ---------------------------------------------
DATA_MOVEMENT = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Expand"}
SPLITS = {"Gather", "Slice", "Split", "GatherElements"}
_ONNX_BY_TYPE = {
    "LayerNormalization": LAYERNORM, "SkipLayerNormalization": LAYERNORM,
    "SimplifiedLayerNormalization": LAYERNORM, "SkipSimplifiedLayerNormalization": LAYERNORM,
    "Softmax": MSA_SOFTMAX, "Gelu": OTHERS, "FastGelu": OTHERS, "BiasGelu": OTHERS, "Erf": OTHERS,
    "Conv": OTHERS, "NchwcConv": OTHERS, "ReorderInput": OTHERS, "ReorderOutput": OTHERS,
    "FusedConv": OTHERS, "Concat": OTHERS,
}


def categorize_onnx_node(op_type: str, scopes: Iterable[str]) -> str:
    """Category of one ONNX node given its op type and module-class scopes (outer to inner).

    ``scopes`` are class names of the modules the node came from (``EncoderBlock``,
    ``Attention``, ``Linear``, ``LayerNorm``...), recovered at export time.
    """
    scopes = list(scopes)
    inner = set(scopes)
    if "Linear" in inner:
        return MLP
    if "LayerNorm" in inner or op_type in ("LayerNormalization", "SkipLayerNormalization"):
        return LAYERNORM
    if "GELU" in inner:
        return OTHERS
    if "Attention" in inner:
        if op_type in ("MatMul", "FusedMatMul", "Einsum"):
            return MSA_MATMUL
        if op_type == "Softmax":
            return MSA_SOFTMAX
        if op_type in DATA_MOVEMENT:
            return MSA_RESHAPE
        if op_type in SPLITS:
            return MSA_GATHER
        return OTHERS
    return _ONNX_BY_TYPE.get(op_type, OTHERS)


# -- generic names (TFLite ops, TensorRT layers, kernel names) -----------------------------------
_NAME_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"layer_?norm|layernorm|\bnorm[12]?\b|/norm\d?/|ln_\d", re.I), LAYERNORM),
    (re.compile(r"softmax", re.I), MSA_SOFTMAX),
    (re.compile(r"(qkv|proj|fc\d|mlp|fully_connected|(?<![a-z])linear|gemm|/head/|\bfc\b)", re.I), MLP),
    (re.compile(r"(batch_matmul|bmm|matmul)", re.I), MSA_MATMUL),
    (re.compile(r"(gather|split|slice|strided_slice|select)", re.I), MSA_GATHER),
    (re.compile(r"(reshape|transpose|permute|shuffle|squeeze|view|flatten)", re.I), MSA_RESHAPE),
]


def categorize_by_name(name: str, op_type: str = "") -> str | None:
    """Best-effort category from a layer or operator name plus its type; None if unknown.

    Used where no graph is available (a user's log from a device lutnas cannot reach).
    """
    text = f"{op_type} {name}"
    for pattern, cat in _NAME_RULES:
        if pattern.search(text):
            return cat
    if re.search(r"(conv|gelu|erf|add|mul|concat|pool|relu|copy|reformat|tanh|sigmoid|mean|sub|div|pow|sqrt|rsqrt|cast|const)", text, re.I):
        return OTHERS
    return None


def empty_breakdown() -> dict[str, float]:
    return {c: 0.0 for c in CATEGORIES}
