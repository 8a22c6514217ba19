"""Builders: block key -> module with an example input; spec -> full model.

Builders are registered per block kind and per spec family (:mod:`lutnas.models.registry`), so a
new space (AutoViT's hybrid, a plug-in's) adds its kinds without editing this file. Weights come
from a local ``torch.Generator`` seeded by ``seed`` (:mod:`lutnas.models.init`); the global RNG is
never reseeded.
"""

from __future__ import annotations

import torch
from torch import nn

from lutnas.errors import InputError
from lutnas.models.init import seeded
from lutnas.models.registry import block_builder, model_builder, register_builder, register_model
from lutnas.models.vit import ATTENTION_VARIANTS
from lutnas.spaces.base import BlockKey, Spec

__all__ = ["auto_copies", "build_block", "build_block_copies", "build_model", "example_input", "input_shape",
           "model_input", "register_builder", "register_model"]


def input_shape(key: BlockKey, batch: int = 1) -> tuple[int, ...]:
    """The shape of the block's input for a batch size."""
    if batch < 1:
        raise InputError(f"batch size must be >= 1; got {batch}")
    return tuple(block_builder(key)[1](key, batch))


def example_input(key: BlockKey, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A deterministic random input of the block's shape (float32)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(input_shape(key, batch), generator=gen)


def _check_attention(attention: str) -> None:
    if attention not in ATTENTION_VARIANTS:
        raise InputError(f"attention variant {attention!r} is not known; choose from {', '.join(ATTENTION_VARIANTS)}")


def build_block(key: BlockKey, batch: int = 1, attention: str = "timm", seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """``(module in eval mode, example input)`` for one block key.

    The head's example input holds one token: the head reads only the class token.
    """
    _check_attention(attention)
    build = block_builder(key)[0]
    module = seeded(lambda: build(key, attention), seed).eval()
    return module, example_input(key, batch, seed)


class Blocks(nn.Sequential):
    """A full model as its blocks in execution order (the default for any spec family)."""


def build_model(spec: Spec, attention: str = "timm", seed: int = 0) -> nn.Module:
    """The full model of ``spec``: the family's registered model builder, else its blocks in
    sequence — the same modules the table measures."""
    _check_attention(attention)
    custom = model_builder(spec)

    def make() -> nn.Module:
        if custom is not None:
            return custom(spec, attention)
        return Blocks(*(block_builder(key)[0](key, attention) for key, count in spec.blocks() for _ in range(count)))

    return seeded(make, seed).eval()


def model_input(spec: Spec, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """An input batch for the full model (the first block's input, e.g. ``(batch, 3, I, I)``)."""
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
    timed call restores that traffic; at least 2 copies, at most ``max_copies``. A block whose own
    activations (including attention scores) already exceed ``target_bytes`` streams through the
    caches by itself, in a model as alone: one copy (more would multiply the cost of every timed
    call — 1,601-token encoders ran 2–8 copies of 20–160 ms each — and change nothing measured).
    """
    if 4 * (key.activations() + key.attention_elements()) >= target_bytes:
        return 1
    per = key.weight_bytes()
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
