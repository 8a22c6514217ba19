"""Deterministic weights without touching the global RNG.

Modules are constructed inside :func:`torch.random.fork_rng`, so whatever their constructors draw
leaves the caller's global generator as it was; then every weight is drawn again from a local
``torch.Generator`` seeded by the caller, with PyTorch's default initialisation (Kaiming-uniform
weights, uniform biases for Linear and convolutions; norms reset to ones and zeros). A module
with parameters of its own defines ``init_weights(generator)``.
"""

from __future__ import annotations

import math
from typing import Callable, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def seeded(make: Callable[[], M], seed: int) -> M:
    """``make()`` with its weights drawn from a local generator seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        module = make()
    init_weights(module, torch.Generator().manual_seed(seed))
    return module


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter of ``module`` from ``generator`` (PyTorch's default scheme)."""
    with torch.no_grad():
        for m in module.modules():
            own = getattr(type(m), "init_weights", None)
            if own is not None:
                own(m, generator)
            elif isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, (nn.LayerNorm, nn.modules.batchnorm._NormBase, nn.GroupNorm)):
                m.reset_parameters()
