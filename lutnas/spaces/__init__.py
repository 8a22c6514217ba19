"""Architecture specs, search spaces, block keys and analytic costs (no torch import here)."""

from lutnas.spaces.blocks import BlockKey, EncoderKey, HeadKey, PatchEmbedKey, block_kind, block_kinds, parse_block_key
from lutnas.spaces.autovit import AutoViTSpace, AutoViTSpec
from lutnas.spaces.space import (
    ViTSpace, enumerable, get_space, list_spaces, load_values_toml, parse_values, register_space, spec_pool,
)
from lutnas.spaces.vit import FACTORS, NAMED_SPECS, ViTSpec, block_macs_by_category, block_params, parse_spec

__all__ = [
    "BlockKey", "EncoderKey", "HeadKey", "PatchEmbedKey", "block_kind", "block_kinds", "parse_block_key",
    "AutoViTSpace", "AutoViTSpec", "ViTSpace", "enumerable", "get_space", "spec_pool", "list_spaces", "load_values_toml", "parse_values", "register_space",
    "FACTORS", "NAMED_SPECS", "ViTSpec", "block_macs_by_category", "block_params", "parse_spec",
]
