"""A third-party search space used by the tests: tiny MLP-Mixers (Tolstikhin et al., 2021).

A spec ``mixer:depth=2,dim=32,patch=8,image=32`` is a patch stem, ``depth`` mixer layers and a
head. Everything lutnas needs is declared here: the block kinds with their analytic costs, the
spec type, the space and its candidate values. The torch builders live in
:mod:`lutnas_test_space.modules`, imported by lutnas only when a block is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from lutnas.categories import MLP, OTHERS
from lutnas.errors import InputError
from lutnas.spaces import BlockKey, FactorSpace, Spec, block_kind
from lutnas.spaces.base import GRID, SCALE_UP

BUILDERS = "lutnas_test_space.modules"


# -- block kinds: what is measured, and what it costs analytically -------------------------------
@block_kind
@dataclasses.dataclass(frozen=True)
class MixerStemKey(BlockKey):
    """Conv ``patch``×``patch`` stride ``patch`` from 3 channels to ``dim``, flattened to tokens.
    ``(B, 3, image, image) -> (B, (image/patch)², dim)``."""

    kind: ClassVar[str] = "mixer_stem"
    builders: ClassVar[str] = BUILDERS
    image: int
    patch: int
    dim: int

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2

    def macs_by_category(self) -> dict[str, int]:
        return {OTHERS: self.tokens * 3 * self.patch ** 2 * self.dim}

    def params(self) -> int:
        return 3 * self.patch ** 2 * self.dim + self.dim

    def activations(self) -> float:
        return float(self.tokens * self.dim)

    def input_elements(self) -> float:
        return float(3 * self.image ** 2)


@block_kind
@dataclasses.dataclass(frozen=True)
class MixerLayerKey(BlockKey):
    """LayerNorm, token-mixing MLP (hidden 2·tokens), residual; LayerNorm, channel-mixing MLP
    (hidden 2·dim), residual. ``(B, tokens, dim) -> (B, tokens, dim)``."""

    kind: ClassVar[str] = "mixer_layer"
    builders: ClassVar[str] = BUILDERS
    tokens: int
    dim: int

    def macs_by_category(self) -> dict[str, int]:
        t, c = self.tokens, self.dim
        return {MLP: c * 4 * t * t + t * 4 * c * c}

    def params(self) -> int:
        t, c = self.tokens, self.dim
        return 2 * c + (4 * t * t + 3 * t) + 2 * c + (4 * c * c + 3 * c)

    def activations(self) -> float:
        return float(self.tokens * self.dim)


@block_kind
@dataclasses.dataclass(frozen=True)
class MixerHeadKey(BlockKey):
    """LayerNorm, mean over tokens, Linear to ``classes``. ``(B, tokens, dim) -> (B, classes)``."""

    kind: ClassVar[str] = "mixer_head"
    builders: ClassVar[str] = BUILDERS
    tokens: int
    dim: int
    classes: int

    def macs_by_category(self) -> dict[str, int]:
        return {MLP: self.dim * self.classes}

    def params(self) -> int:
        return 2 * self.dim + self.dim * self.classes + self.classes

    def activations(self) -> float:
        return float(self.tokens * self.dim)


# -- the spec: one architecture and its blocks ---------------------------------------------------
FACTORS = ("depth", "dim", "patch", "image")


@dataclasses.dataclass(frozen=True)
class MixerSpec(Spec):
    """An MLP-Mixer: ``depth`` layers of width ``dim`` over ``(image/patch)²`` tokens."""

    family: ClassVar[str] = "mixer"
    depth: int
    dim: int
    patch: int
    image: int = 32
    classes: int = 10

    def __post_init__(self) -> None:
        for name in (*FACTORS, "classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"mixer {name} must be a positive integer; got {value!r}")
        if self.image % self.patch:
            raise InputError(f"mixer image {self.image} is not divisible by patch {self.patch}")

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2

    def canonical(self) -> str:
        return "mixer:" + ",".join(f"{f}={getattr(self, f)}" for f in FACTORS)

    def factors(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in FACTORS}

    def shape(self) -> dict[str, Any]:
        return {"dim": self.dim, "tokens": self.tokens}

    def blocks(self) -> list[tuple[BlockKey, int]]:
        return [(MixerStemKey(self.image, self.patch, self.dim), 1),
                (MixerLayerKey(self.tokens, self.dim), self.depth),
                (MixerHeadKey(self.tokens, self.dim, self.classes), 1)]


# -- the space: candidate values, parsing; moves come from FactorSpace --------------------------
class MixerSpace(FactorSpace):
    spec_type = MixerSpec
    factors: ClassVar[tuple[str, ...]] = FACTORS
    capabilities: ClassVar[frozenset[str]] = frozenset({GRID, SCALE_UP})

    @classmethod
    def parse_spec(cls, text: str) -> MixerSpec:
        body = text.strip().removeprefix("mixer:")
        try:
            values = {k.strip(): int(v) for k, v in (part.split("=") for part in body.split(","))}
        except ValueError:
            raise InputError(f"mixer spec {text!r} is not mixer:depth=D,dim=C,patch=P,image=I") from None
        unknown = set(values) - set(FACTORS)
        if unknown:
            raise InputError(f"mixer spec {text!r}: unknown factor(s) {', '.join(sorted(unknown))}")
        return MixerSpec(**values)


mixer_tiny = MixerSpace("mixer-tiny", {"depth": [1, 2], "dim": [16, 32], "patch": [8, 16], "image": [32]},
                        "test plug-in: 8 tiny MLP-Mixers")
