"""Builders: block key -> module with an example input; spec -> full model.

Builders are registered by block kind in a registry that refuses duplicates, so a new space
(seed 004's hybrid) adds its kinds without editing this file.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lutnas.errors import InputError
from lutnas.models.vit import ATTENTION_VARIANTS, EncoderBlock, Head, PatchEmbed, ViT
from lutnas.spaces.blocks import BlockKey, EncoderKey, HeadKey, PatchEmbedKey
from lutnas.spaces.vit import ViTSpec

BlockBuilder = Callable[[BlockKey, str], nn.Module]
InputShape = Callable[[BlockKey, int], tuple[int, ...]]

_BUILDERS: dict[str, tuple[BlockBuilder, InputShape]] = {}


def register_builder(kind: str, build: BlockBuilder, input_shape: InputShape) -> None:
    """Register how to build a block kind and the shape of its input for a batch size."""
    if kind in _BUILDERS:
        raise ValueError(f"a builder for block kind {kind!r} is already registered")
    _BUILDERS[kind] = (build, input_shape)


register_builder("patch_embed", lambda k, a: PatchEmbed(k.image, k.patch, k.dim), lambda k, b: (b, 3, k.image, k.image))
register_builder(
    "encoder",
    lambda k, a: EncoderBlock(k.dim, k.heads, k.head_dim, k.mlp_ratio, a),
    lambda k, b: (b, k.tokens, k.dim),
)
register_builder("head", lambda k, a: Head(k.dim, k.classes), lambda k, b: (b, 1, k.dim))


def _entry(key: BlockKey) -> tuple[BlockBuilder, InputShape]:
    try:
        return _BUILDERS[key.kind]
    except KeyError:
        raise InputError(f"no builder for block kind {key.kind!r}; known: {', '.join(sorted(_BUILDERS))}") from None


def example_input(key: BlockKey, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A deterministic random input of the block's shape (float32)."""
    if batch < 1:
        raise InputError(f"batch size must be >= 1; got {batch}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(_entry(key)[1](key, batch), generator=gen)


def build_block(key: BlockKey, batch: int = 1, attention: str = "timm", seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """``(module in eval mode, example input)`` for one block key.

    The head's example input holds one token: the head reads only the class token.
    """
    if attention not in ATTENTION_VARIANTS:
        raise InputError(f"attention variant {attention!r} is not known; choose from {', '.join(ATTENTION_VARIANTS)}")
    torch.manual_seed(seed)
    module = _entry(key)[0](key, attention).eval()
    return module, example_input(key, batch, seed)


def build_model(spec: ViTSpec, attention: str = "timm", seed: int = 0) -> ViT:
    """The full model: patch_embed, ``d`` encoders, head — the same modules as the blocks."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for key, count in spec.blocks():
        layers.extend(_entry(key)[0](key, attention) for _ in range(count))
    return ViT(*layers).eval()


def model_input(spec: ViTSpec, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """An image batch ``(batch, 3, I, I)`` for the full model."""
    first = spec.blocks()[0][0]
    return example_input(first, batch, seed)
