"""The seven operator categories of the ViT-scaling study (Table 11, Figure 7), shared by every subpackage.

MLP = every Linear layer (qkv, proj, fc1, fc2, head); LayerNorm; MSA-MatMul = q·kᵀ and attn·v;
MSA-Softmax; MSA-Reshape&Transpose; MSA-Gather = the q/k/v split; Others = everything else
(patch-embedding conv, GELU, adds, concat, ...). The mapping of each backend's operator names
onto these lives in :mod:`lutnas.profiler.categories`.
"""

MLP = "MLP"
LAYERNORM = "LayerNorm"
MSA_MATMUL = "MSA-MatMul"
MSA_SOFTMAX = "MSA-Softmax"
MSA_RESHAPE = "MSA-Reshape&Transpose"
MSA_GATHER = "MSA-Gather"
OTHERS = "Others"

CATEGORIES: tuple[str, ...] = (MLP, LAYERNORM, MSA_MATMUL, MSA_SOFTMAX, MSA_RESHAPE, MSA_GATHER, OTHERS)


def column_name(category: str) -> str:
    """Column name of a category's time in a LUT, e.g. ``cat_msa_reshape_transpose_ms``."""
    slug = category.lower().replace("&", "_").replace("-", "_")
    return f"cat_{slug}_ms"
