"""Builders: spec or block key -> ``torch.nn.Module`` (one definition; every backend exports from it)."""

from lutnas.models.builders import (
    auto_copies, build_block, build_block_copies, build_model, example_input, input_shape, model_input, register_builder,
    register_model,
)
from lutnas.models.vit import ATTENTION_VARIANTS

__all__ = ["auto_copies", "build_block_copies", "build_block", "build_model", "example_input", "input_shape", "model_input",
           "register_builder", "register_model", "ATTENTION_VARIANTS"]
