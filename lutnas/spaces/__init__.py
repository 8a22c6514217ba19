"""Search spaces: the ``Space`` / ``Spec`` / ``BlockKey`` abstractions, the built-in spaces (ViT
scaling, AutoViT) and plug-in spaces from the entry-point group ``lutnas.spaces``. No torch here."""

from lutnas.spaces.base import CAPABILITIES, BlockKey, Space, Spec
from lutnas.spaces.blocks import block_kind, block_kinds, kind_class, parse_block_key
from lutnas.spaces.vit import FACTORS, NAMED_SPECS, EncoderKey, HeadKey, PatchEmbedKey, ViTSpec, block_macs_by_category, block_params
from lutnas.spaces.autovit import AutoViTSpace, AutoViTSpec
from lutnas.spaces.factor_space import FactorSpace
from lutnas.spaces.space import ViTSpace
from lutnas.spaces.registry import (
    enumerable, families, get_space, list_spaces, named_specs, parse_spec, register_space, space_from_dict, spec_pool,
)
from lutnas.spaces.values import load_values_toml, parse_values

__all__ = [
    "CAPABILITIES", "BlockKey", "Space", "Spec", "FactorSpace",
    "EncoderKey", "HeadKey", "PatchEmbedKey", "block_kind", "block_kinds", "kind_class", "parse_block_key",
    "AutoViTSpace", "AutoViTSpec", "ViTSpace", "enumerable", "families", "get_space", "spec_pool", "list_spaces",
    "load_values_toml", "named_specs", "parse_values", "register_space", "space_from_dict",
    "FACTORS", "NAMED_SPECS", "ViTSpec", "block_macs_by_category", "block_params", "parse_spec",
]
