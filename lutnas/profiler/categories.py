"""Every backend's operator-name rules onto the seven categories of the ViT-scaling study (Table 11).

A name alone is often ambiguous (a MatMul of a Linear vs q·kᵀ; a Reshape that flattens a Gemm's
input vs one that splits heads; a fused node). Each mapper therefore takes the context it has:
torch eager ops are unambiguous by name (``aten::linear`` vs ``aten::matmul``); ONNX nodes carry
their module scope; TFLite ops are classified through their tensors' module scopes (litert-torch
names) or their builtin type; trtexec layer names carry the ONNX node names they were built from.
A delegate node (a whole subgraph run by an NPU/GPU delegate or an execution provider) is Others
whatever its name says. Whatever stays unclassified goes to
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
    lib = _LIBRARY_OP.match(name)  # oneDNN / IPEX kernels named after the aten op they implement
    if lib and f"aten::{lib.group(1)}" in _TORCH_EXACT:
        return _TORCH_EXACT[f"aten::{lib.group(1)}"]
    if name in _TORCH_OTHERS or name.startswith(("aten::conv", "aten::_convolution", "aten::mkldnn_convolution", "aten::cudnn_convolution")):
        return OTHERS
    return None


_LIBRARY_OP = re.compile(r"^(?:onednn_|mkldnn_|torch_ipex::(?:ipex_)?|ipex::)(\w+)(?:\(.*\))?$")

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
ONNX_BY_TYPE = {
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
    return ONNX_BY_TYPE.get(op_type, OTHERS)


def categorize_created_node(op_type: str, neighbours: Iterable[tuple[str, str]]) -> str | None:
    """A data-movement node a runtime created (ORT's ``gemm_input_reshape_token_8``), from its
    neighbours' ``(op type, category)``: beside a Linear's Gemm/MatMul -> MLP; beside attention ->
    MSA-Reshape&Transpose (Reshape/Transpose/Flatten) or MSA-Gather (Squeeze/Split/Gather); None
    when the neighbours say nothing (or the node moves no data)."""
    if op_type not in DATA_MOVEMENT and op_type not in SPLITS:
        return None
    neighbours = list(neighbours)
    first_mlp = next((t for t, c in neighbours if c == MLP), None)
    if first_mlp in ("Gemm", "MatMul", "FusedMatMul"):
        return MLP
    if {c for _, c in neighbours} & {MSA_GATHER, MSA_RESHAPE, MSA_MATMUL, MSA_SOFTMAX}:
        return MSA_RESHAPE if op_type in ("Reshape", "Transpose", "Flatten") else MSA_GATHER
    return None


# -- generic names (TFLite ops, TensorRT layers, kernel names) -----------------------------------
_NAME_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"layer_?norm|layernorm|\bnorm[12]?\b|/norm\d?/|ln_\d", re.I), LAYERNORM),
    (re.compile(r"softmax", re.I), MSA_SOFTMAX),
    (re.compile(r"(qkv|proj|fc\d|mlp|fully[_ ]connected|(?<![a-z])linear|gemm|/head/|\bfc\b)", re.I), MLP),
    (re.compile(r"(batch_matmul|bmm|matmul|matrix multiply)", re.I), MSA_MATMUL),
    (re.compile(r"(gather|split|slice|strided_slice|select)", re.I), MSA_GATHER),
    (re.compile(r"(reshape|transpose|permute|shuffle|squeeze|view|flatten)", re.I), MSA_RESHAPE),
]


def categorize_by_name(name: str, op_type: str = "") -> str | None:
    """Best-effort category from a layer or operator name plus its type; None if unknown.

    Used where no graph is available (a user's log from a device lutnas cannot reach). A delegate
    node is Others before any name rule runs (its name lists the subgraph it replaced).
    """
    if is_delegate(op_type):
        return OTHERS
    xnn = categorize_xnnpack(op_type)
    if xnn is not None:
        return xnn
    text = f"{op_type} {name}"
    for pattern, cat in _NAME_RULES:
        if pattern.search(text):
            return cat
    if re.search(r"(conv|gelu|erf|add|mul|concat|pool|relu|copy|reformat|tanh|sigmoid|mean|sub|div|pow|sqrt|rsqrt|cast|const|lstm|gru|stft)", text, re.I):
        return OTHERS
    return None


def empty_breakdown() -> dict[str, float]:
    return {c: 0.0 for c in CATEGORIES}


# -- delegates and XNNPACK's own operator descriptions -------------------------------------------
_DELEGATE = re.compile(r"delegate|ExecutionProvider|TRTKernel_|EP-subgraph|DmlFusedNode|^DISPATCH(_OP)?$", re.I)


def is_delegate(op_type: str) -> bool:
    """A node that runs a whole subgraph on an NPU/GPU delegate or ORT execution provider
    (``TfLiteNnapiDelegate``, ``TfLiteGpuDelegateV2``, ``DELEGATE``, LiteRT's NPU ``DISPATCH_OP``,
    ``TensorrtExecutionProvider_TRTKernel_...``)."""
    return bool(op_type) and bool(_DELEGATE.search(op_type))


_XNNPACK_OP = re.compile(r"^([A-Za-z][A-Za-z ]*?) \((?:N[A-Z]*|ND|NC)\b")
_XNNPACK_WORDS: dict[str, str] = {
    "fully connected": MLP, "dynamic fully connected": MLP, "batch matrix multiply": MSA_MATMUL,
    "softmax": MSA_SOFTMAX, "transpose": MSA_RESHAPE, "static transpose": MSA_RESHAPE, "copy": MSA_RESHAPE,
    "static reshape": MSA_RESHAPE, "static expand dims": MSA_RESHAPE, "slice": MSA_GATHER, "static slice": MSA_GATHER,
    "even split": MSA_GATHER, "mean": LAYERNORM, "static mean": LAYERNORM, "convolution": OTHERS,
    "deconvolution": OTHERS,
}


def categorize_xnnpack(op_type: str) -> str | None:
    """XNNPACK profiles name their operators ``Convolution (NHWC, QC8) IGEMM``, ``Add (ND, QS8)``:
    the words before the layout decide (a GEMM inside a convolution is still a convolution)."""
    m = _XNNPACK_OP.match(op_type or "")
    if not m:
        return None
    return _XNNPACK_WORDS.get(m.group(1).strip().lower(), OTHERS)


# -- TFLite / LiteRT builtin operators -------------------------------------------------------------
TFLITE_TYPES = {
    "FULLY_CONNECTED": MLP, "BATCH_MATMUL": MSA_MATMUL, "SOFTMAX": MSA_SOFTMAX,
    "RESHAPE": MSA_RESHAPE, "TRANSPOSE": MSA_RESHAPE, "SQUEEZE": MSA_RESHAPE, "EXPAND_DIMS": MSA_RESHAPE,
    "GATHER": MSA_GATHER, "GATHER_ND": MSA_GATHER, "STRIDED_SLICE": MSA_GATHER, "SLICE": MSA_GATHER,
    "SPLIT": MSA_GATHER, "SPLIT_V": MSA_GATHER, "UNPACK": MSA_GATHER,
    # LayerNorm arrives decomposed; in a ViT these ops only come from LayerNorm. With a graph,
    # categorize_tflite_op uses the tensors' scopes instead; for a bare log this is the rule.
    "MEAN": LAYERNORM, "SQUARED_DIFFERENCE": LAYERNORM, "RSQRT": LAYERNORM,
    "CONV_2D": OTHERS, "DEPTHWISE_CONV_2D": OTHERS, "ADD": OTHERS, "MUL": OTHERS, "SUB": OTHERS,
    "GELU": OTHERS, "TANH": OTHERS, "CONCATENATION": OTHERS, "AVERAGE_POOL_2D": OTHERS, "MAX_POOL_2D": OTHERS,
    "PAD": OTHERS, "QUANTIZE": OTHERS, "DEQUANTIZE": OTHERS, "RESIZE_BILINEAR": OTHERS,
    "RESIZE_NEAREST_NEIGHBOR": OTHERS, "ARG_MAX": OTHERS, "LOGISTIC": OTHERS, "HARD_SWISH": OTHERS,
    "DIV": OTHERS, "POW": OTHERS, "SQRT": OTHERS, "CAST": OTHERS, "ERF": OTHERS,
}


def categorize_tflite(op_type: str, name: str) -> str | None:
    """Category of a TFLite op row of a log: delegate, builtin type, else its name; None if unknown."""
    if is_delegate(op_type) or op_type.startswith("LiteRT::"):  # LiteRT::Run[Buffer sync]: runtime steps
        return OTHERS
    if op_type.upper() in TFLITE_TYPES:
        return TFLITE_TYPES[op_type.upper()]
    return categorize_by_name(name, op_type)


#: TFLite builtin names -> the ONNX-style op types the scope rule understands
_TFLITE_AS_ONNX = {"FULLY_CONNECTED": "Gemm", "BATCH_MATMUL": "MatMul", "SOFTMAX": "Softmax", "RESHAPE": "Reshape",
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
    if scopes and not is_delegate(op_name):
        return categorize_onnx_node(_TFLITE_AS_ONNX.get(op_name, op_name.title()), scopes), True
    cat = categorize_tflite(op_name, tensor_name)
    return (cat, True) if cat is not None else (OTHERS, False)


# -- TensorFlow (not Lite) graph nodes --------------------------------------------------------------
TF_TYPES = {
    "MatMul": MLP, "BiasAdd": MLP, "BatchMatMul": MSA_MATMUL, "BatchMatMulV2": MSA_MATMUL,
    "BatchMatMulV3": MSA_MATMUL, "Einsum": MSA_MATMUL, "Softmax": MSA_SOFTMAX,
    "Reshape": MSA_RESHAPE, "Transpose": MSA_RESHAPE, "Squeeze": MSA_RESHAPE, "ExpandDims": MSA_RESHAPE,
    "GatherV2": MSA_GATHER, "Gather": MSA_GATHER, "StridedSlice": MSA_GATHER, "Slice": MSA_GATHER,
    "Split": MSA_GATHER, "SplitV": MSA_GATHER, "Unpack": MSA_GATHER,
    "Mean": LAYERNORM, "SquaredDifference": LAYERNORM, "Rsqrt": LAYERNORM,
}


def categorize_tf_node(op_type: str, name: str) -> str | None:
    """Category of a TensorFlow graph node of a ``benchmark_model`` log; None if unknown."""
    if is_delegate(op_type):
        return OTHERS
    if op_type in TF_TYPES:
        return TF_TYPES[op_type]
    if op_type in ("Const", "NoOp", "_Arg", "_Retval", "Identity", "Placeholder", "VarHandleOp", "ReadVariableOp"):
        return OTHERS
    return categorize_by_name(name, op_type)


# -- TensorRT layers (fused names carry the ONNX nodes they were built from) ----------------------
_TRT_PRIORITY = (MSA_MATMUL, MLP, MSA_SOFTMAX, LAYERNORM, MSA_GATHER, MSA_RESHAPE, OTHERS)
def _foreign_nodes(name: str) -> tuple[list[str], str]:
    """(members of every ``{ForeignNode[first...last]}`` in ``name``, the name without them);
    a linear scan, so an unclosed bracket costs nothing."""
    members: list[str] = []
    rest: list[str] = []
    pos = 0
    while True:
        start = name.find("ForeignNode[", pos)
        end = name.find("]", start) if start >= 0 else -1
        if start < 0 or end < 0:
            rest.append(name[pos:])
            break
        members += [p.strip() for p in name[start + len("ForeignNode["):end].split("...") if p.strip()]
        cut = start - 1 if start > 0 and name[start - 1] == "{" else start
        rest.append(name[pos:cut])
        pos = end + 1 + (name[end + 1:end + 2] == "}")
    return members, "".join(rest)


def layer_members(name: str, depth: int = 0) -> list[str]:
    """Member node names of a (possibly fused) TensorRT layer name.

    ``a + b + PWN(c, d)`` -> a, b, c, d; ``{ForeignNode[first...last]}`` -> first, last;
    ``Reformatting CopyNode for Input Tensor 0 to X`` -> [] (a format copy, Others).
    """
    if name.startswith("Reformatting CopyNode"):
        return []
    members, rest = _foreign_nodes(name)
    for part in _split_top(rest):
        wrapped = re.match(r"^(?:PWN|PointWise|Myelin)\((.*)\)$", part) if depth < 8 else None
        members += layer_members(wrapped.group(1), depth + 1) if wrapped else [part]
    return members


def _split_top(text: str) -> list[str]:
    """Split on ' + ' and ',' outside parentheses."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and (text.startswith(" + ", i) or ch == ","):
            parts.append("".join(cur))
            cur = []
            i += 3 if ch == " " else 1
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def categorize_trt_layer(name: str, node_categories: dict[str, str] | None = None) -> str | None:
    """Category of a TensorRT layer: through its member ONNX nodes when their categories are
    known (``node_categories``: exported node name -> category), else by member names.

    Returns None (-> Others, listed) when nothing is recognised.
    """
    if name.startswith("Reformatting CopyNode") or re.match(r"^\[(HostToDevice|DeviceToHost)Copy", name):
        return OTHERS
    cats = set()
    for member in layer_members(name):
        if node_categories and member in node_categories:
            cats.add(node_categories[member])
            continue
        cat = _myelin_category(member) or categorize_by_name(member)
        if cat:
            cats.add(cat)
    if not cats:
        return _myelin_category(name) or categorize_by_name(name)
    return next(c for c in _TRT_PRIORITY if c in cats)


def _myelin_category(name: str) -> str | None:
    """Myelin kernel names describe their math: MaxrSubExpSum = softmax, Resh = reshape, ..."""
    if "myl" not in name:
        return None

    def has(*parts: str) -> bool:
        return all(p in name for p in parts)

    if has("Maxr", "Exp", "Sum") or has("Exp", "Sum", "Div") or has("Softmax"):
        return MSA_SOFTMAX
    if has("MeanSub") or has("Rsqrt") or has("Sqrt", "Div") or has("LayerNorm"):
        return LAYERNORM
    if has("_Resh") or has("Transp") or has("Shuffle"):
        return MSA_RESHAPE
    return None
