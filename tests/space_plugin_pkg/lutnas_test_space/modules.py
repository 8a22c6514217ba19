"""Torch modules of the tiny MLP-Mixer space, registered per block kind (imported on demand)."""

from __future__ import annotations

import torch
from torch import nn

from lutnas.models import register_builder


class Stem(nn.Module):
    def __init__(self, image: int, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def _mlp(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))


class MixerLayer(nn.Module):
    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.norm1, self.tokens = nn.LayerNorm(dim), _mlp(tokens)
        self.norm2, self.channels = nn.LayerNorm(dim), _mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.norm2(x))


class Head(nn.Module):
    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x).mean(dim=1))


register_builder("mixer_stem", lambda k, attention: Stem(k.image, k.patch, k.dim), lambda k, b: (b, 3, k.image, k.image))
register_builder("mixer_layer", lambda k, attention: MixerLayer(k.tokens, k.dim), lambda k, b: (b, k.tokens, k.dim))
register_builder("mixer_head", lambda k, attention: Head(k.dim, k.classes), lambda k, b: (b, k.tokens, k.dim))
