"""PyTorch modules for the ViT blocks; one definition that every backend exports from.

Attention is written the way timm writes it (one qkv Linear, reshape, permute, ``q, k, v =
qkv[0], qkv[1], qkv[2]``, ``q @ k.transpose(-2, -1) * scale``, softmax, ``@ v``, transpose,
reshape, proj) so exported graphs hold the MatMul / Softmax / Reshape / Transpose / Gather
operators that the ViT-scaling study's breakdown counts. ``attention="sdpa"`` uses
``torch.nn.functional.scaled_dot_product_attention`` instead.
"""

from __future__ import annotations

import torch
from torch import nn

from lutnas.errors import InputError
from lutnas.models.registry import register_builder, register_model
from lutnas.spaces.vit import ViTSpec

ATTENTION_VARIANTS = ("timm", "sdpa")


class Attention(nn.Module):
    """Multi-head self-attention. Input/output ``(B, N, dim)``."""

    def __init__(self, dim: int, heads: int, head_dim: int, attention: str = "timm") -> None:
        super().__init__()
        if attention not in ATTENTION_VARIANTS:
            raise InputError(f"attention variant {attention!r} is not known; choose from {', '.join(ATTENTION_VARIANTS)}")
        self.heads, self.head_dim, self.variant = heads, head_dim, attention
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.variant == "sdpa":
            x = nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            attn = attn.softmax(dim=-1)
            x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, self.heads * self.head_dim)
        return self.proj(x)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2. Input/output ``(B, N, dim)``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EncoderBlock(nn.Module):
    """Pre-norm encoder layer: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: float, attention: str = "timm") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, head_dim, attention)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(round(mlp_ratio * dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Conv patchify, flatten, class token, position embedding. ``(B,3,I,I) -> (B,N,dim)``."""

    def __init__(self, image: int, patch: int, dim: int) -> None:
        super().__init__()
        n = (image // patch) ** 2
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)

    def init_weights(self, generator: torch.Generator) -> None:
        """The class token and position embeddings (``proj`` is a plain conv); see models.init."""
        self.cls_token.zero_()
        self.pos_embed.copy_(torch.randn(self.pos_embed.shape, generator=generator) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat((cls, x), dim=1) + self.pos_embed


class Head(nn.Module):
    """Class token -> LayerNorm -> Linear. ``(B,N,dim) -> (B,classes)``."""

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x[:, 0]))


class ViT(nn.Sequential):
    """A full model composed of the very block modules the LUT measures."""


def _vit_model(spec: ViTSpec, attention: str) -> ViT:
    from lutnas.models.registry import block_builder

    return ViT(*(block_builder(key)[0](key, attention) for key, count in spec.blocks() for _ in range(count)))


register_builder("patch_embed", lambda k, a: PatchEmbed(k.image, k.patch, k.dim), lambda k, b: (b, 3, k.image, k.image))
register_builder("encoder", lambda k, a: EncoderBlock(k.dim, k.heads, k.head_dim, k.mlp_ratio, a),
                 lambda k, b: (b, k.tokens, k.dim))
register_builder("head", lambda k, a: Head(k.dim, k.classes), lambda k, b: (b, 1, k.dim))
register_model("vit", _vit_model)
