"""Modules of AutoViT's hybrid space (see :mod:`lutnas.spaces.autovit` for the architecture).

Every block kind has a builder registered with :func:`register_builder` (imported on first use
through ``BlockKey.builders``), and
:class:`AutoViT` is the full model: the same modules in the order of ``AutoViTSpec.blocks()``,
so a model's parameters are exactly the analytic count and a LUT's blocks compose it.
"""

from __future__ import annotations

import torch
from torch import nn

from lutnas.models.registry import block_builder, register_builder, register_model
from lutnas.models.vit import EncoderBlock
from lutnas.spaces.autovit import AutoViTSpec, ConvStemKey, MBConvKey, MBPoolKey, MViTKey, TLayerKey


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class ConvStem(nn.Sequential):
    def __init__(self, key: ConvStemKey) -> None:
        super().__init__(*_conv_bn(3, key.cout, 3, 2))


class MBConv(nn.Module):
    """Inverted residual; ``(B, cin, res, res) -> (B, cout, res/stride, res/stride)``."""

    def __init__(self, key: MBConvKey) -> None:
        super().__init__()
        hidden = key.cin * key.expand
        layers: list[nn.Module] = [_conv_bn(key.cin, hidden, 1)] if key.expand != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, key.stride, groups=hidden), _conv_bn(hidden, key.cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = key.stride == 1 and key.cin == key.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def unfold(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B·patch², (H/patch)·(W/patch), C)``: one sequence per pixel position."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    x = x.permute(0, 3, 5, 2, 4, 1)  # B, ph, pw, nh, nw, C
    return x.reshape(b * patch * patch, (h // patch) * (w // patch), c)


def fold(x: torch.Tensor, batch: int, patch: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`unfold`."""
    c = x.shape[-1]
    x = x.reshape(batch, patch, patch, h // patch, w // patch, c)
    x = x.permute(0, 5, 3, 1, 4, 2)  # B, C, nh, ph, nw, pw
    return x.reshape(batch, c, h, w)


class MobileViTBlock(nn.Module):
    """Local conv 3×3 + 1×1, unfold, transformer layers, LayerNorm, fold, 1×1, concat, 1×1 fuse."""

    def __init__(self, key: MViTKey, layers: list[nn.Module] | None = None) -> None:
        super().__init__()
        c = key.dim
        self.patch = key.patch
        self.local = nn.Sequential(_conv_bn(c, c, 3), nn.Conv2d(c, c, 1, bias=False))
        self.layers = nn.Sequential(*(layers or []))
        self.norm = nn.LayerNorm(c)
        self.proj = _conv_bn(c, c, 1)
        self.fuse = _conv_bn(2 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = unfold(self.local(x), self.patch)
        y = self.norm(self.layers(y))
        y = self.proj(fold(y, b, self.patch, h, w))
        return self.fuse(torch.cat([x, y], dim=1))


class MBPool(nn.Module):
    def __init__(self, key: MBPoolKey) -> None:
        super().__init__()
        self.conv = _conv_bn(key.cin, key.cin * key.expand, 1)
        self.fc = nn.Linear(key.cin * key.expand, key.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def tlayer(key: TLayerKey, attention: str = "timm") -> EncoderBlock:
    return EncoderBlock(key.dim, key.heads, key.head_dim, key.mlp_ratio, attention)


class AutoViT(nn.Sequential):
    """The full hybrid model of a spec; ``(B, 3, I, I) -> (B, classes)``."""

    def __init__(self, spec: AutoViTSpec, attention: str = "timm") -> None:
        mods: list[nn.Module] = []
        pending: MViTKey | None = None
        layers: list[nn.Module] = []

        def flush() -> None:
            if pending is not None:
                mods.append(MobileViTBlock(pending, layers))

        for key, count in spec.blocks():
            if isinstance(key, MViTKey):
                flush()
                pending, layers = key, []
            elif isinstance(key, TLayerKey):
                layers.extend(tlayer(key, attention) for _ in range(count))
            else:
                flush()
                pending = None
                mods.extend(block_builder(key)[0](key, attention) for _ in range(count))
        flush()
        super().__init__(*mods)
        self.spec = spec


register_builder("conv_stem", lambda k, a: ConvStem(k), lambda k, b: (b, 3, k.image, k.image))
register_builder("mbconv", lambda k, a: MBConv(k), lambda k, b: (b, k.cin, k.res, k.res))
register_builder("mvit", lambda k, a: MobileViTBlock(k), lambda k, b: (b, k.dim, k.res, k.res))
register_builder("tlayer", tlayer, lambda k, b: (b * k.patch * k.patch, k.tokens, k.dim))
register_builder("mbpool", lambda k, a: MBPool(k), lambda k, b: (b, k.cin, k.res, k.res))
register_model("autovit", lambda spec, attention: AutoViT(spec, attention))
