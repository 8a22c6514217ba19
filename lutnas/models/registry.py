"""Builders registered per block kind and per spec family (registries refusing duplicates).

A kind's builders live in the module its key class names (``BlockKey.builders``), imported the
first time a block of that kind is built; so a plug-in space's torch code loads only when one of
its blocks is measured, and ``lutnas.spaces`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

from lutnas.errors import InputError
from lutnas.spaces.base import BlockKey, Spec

#: ``(key, attention variant) -> module``
BlockBuilder = Callable[[BlockKey, str], nn.Module]
#: ``(key, batch) -> input shape``
InputShape = Callable[[BlockKey, int], tuple[int, ...]]
#: ``(spec, attention variant) -> full model``
ModelBuilder = Callable[[Spec, str], nn.Module]

_BUILDERS: dict[str, tuple[BlockBuilder, InputShape]] = {}
_MODELS: dict[str, ModelBuilder] = {}


def register_builder(kind: str, build: BlockBuilder, input_shape: InputShape) -> None:
    """Register how to build a block kind and the shape of its input for a batch size."""
    if kind in _BUILDERS:
        raise ValueError(f"a builder for block kind {kind!r} is already registered")
    _BUILDERS[kind] = (build, input_shape)


def register_model(family: str, build: ModelBuilder) -> None:
    """Register how to build the full model of a spec family (default: its blocks in sequence)."""
    if family in _MODELS:
        raise ValueError(f"a model builder for spec family {family!r} is already registered")
    _MODELS[family] = build


def _load(module: str, owner: str) -> None:
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InputError(f"{owner}: its builders module {module!r} cannot be imported: {exc}") from None


def block_builder(key: BlockKey) -> tuple[BlockBuilder, InputShape]:
    """``(build, input_shape)`` of the key's kind, importing its builders module on first use."""
    if key.kind not in _BUILDERS:
        _load(type(key).builders, f"block kind {key.kind!r}")
    try:
        return _BUILDERS[key.kind]
    except KeyError:
        raise InputError(f"no builder for block kind {key.kind!r}; known: {', '.join(sorted(_BUILDERS))}") from None


def model_builder(spec: Spec) -> ModelBuilder | None:
    """The family's registered model builder, or None (then the blocks run in sequence)."""
    family = type(spec).family
    if family not in _MODELS:
        _load(type(spec).builders, f"spec family {family!r}")
    return _MODELS.get(family)
