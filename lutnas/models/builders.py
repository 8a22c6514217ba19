"""Builders: block key -> module with an example input; spec -> full model.

Builders are registered by block kind in a registry that refuses duplicates, so a new space
(seed 004's hybrid) adds its kinds without editing this file.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lutnas.errors import InputError
from lutnas.models import autovit as _autovit
from lutnas.models.vit import ATTENTION_VARIANTS, EncoderBlock, Head, PatchEmbed, ViT
from lutnas.spaces.blocks import BlockKey
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
_autovit.register(register_builder)


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


def build_model(spec: ViTSpec, attention: str = "timm", seed: int = 0) -> nn.Module:
    """The full model: patch_embed, ``d`` encoders, head — the same modules as the blocks
    (an AutoViT spec gives its hybrid model)."""
    torch.manual_seed(seed)
    if isinstance(spec, _autovit.AutoViTSpec):
        return _autovit.AutoViT(spec, attention).eval()
    layers: list[nn.Module] = []
    for key, count in spec.blocks():
        layers.extend(_entry(key)[0](key, attention) for _ in range(count))
    return ViT(*layers).eval()


def model_input(spec: ViTSpec, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """An image batch ``(batch, 3, I, I)`` for the full model."""
    first = spec.blocks()[0][0]
    return example_input(first, batch, seed)


class Chain(nn.Module):
    """``copies`` independent copies of a shape-preserving block run one after another."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Replicas(nn.Module):
    """``copies`` independent copies of a block, each applied to the same input (shape-changing blocks)."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(block(x) for block in self.blocks)


def weight_bytes(key: BlockKey) -> int:
    """Bytes of float32 parameters of one block (what a full model streams from memory)."""
    module, _ = build_block(key)
    return 4 * sum(p.numel() for p in module.parameters())


def auto_copies(key: BlockKey, target_bytes: int = 8 << 20, max_copies: int = 8) -> int:
    """How many weight copies make a block's working set look like a full model's.

    A block looped alone keeps its weights hot in L2; a full model streams each layer's weights
    from L3/DRAM. ``target_bytes`` (8 MiB, several times a typical L2) of distinct weights per
    timed call restores that traffic; at least 2 copies, at most ``max_copies``.
    """
    from lutnas.spaces.vit import block_params

    per = 4 * block_params(key)
    return int(min(max_copies, max(2, -(-target_bytes // max(per, 1)))))


def build_block_copies(key: BlockKey, copies: int, batch: int = 1, attention: str = "timm",
                       seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """A module running ``copies`` distinct copies of one block per call, and its input.

    Shape-preserving blocks (encoders) are chained like the layers of a model; others run side
    by side on the same input. Time per block = time per call / ``copies``.
    """
    if copies < 1:
        raise InputError(f"copies must be >= 1; got {copies}")
    module, x = build_block(key, batch, attention, seed)
    if copies == 1:
        return module, x
    blocks = [module] + [build_block(key, batch, attention, seed + i)[0] for i in range(1, copies)]
    with torch.inference_mode():
        same_shape = tuple(module(x).shape) == tuple(x.shape)
    return (Chain(blocks) if same_shape else Replicas(blocks)).eval(), x
