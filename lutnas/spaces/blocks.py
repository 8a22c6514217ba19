"""Block keys: frozen, hashable, ordered descriptions of one measurable unit.

A block key names what is measured, not how: ``encoder(tokens=197,dim=192,heads=3,head_dim=64,
mlp_ratio=4)`` is one transformer encoder layer over 197 tokens. Every key has one canonical
string, and :func:`parse_block_key` turns that string back into the key.

New kinds (a hybrid space's conv or MBConv modules) register with :func:`block_kind`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, ClassVar

from lutnas.errors import InputError

_KINDS: dict[str, type[BlockKey]] = {}


def _fmt(value: Any) -> str:
    """Compact number format: 4 not 4.0, 1.5 stays 1.5."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(value, "g")
    return str(value)


@dataclasses.dataclass(frozen=True)
class BlockKey:
    """Base of every block key. Subclasses are frozen dataclasses with a ``kind`` name."""

    kind: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        """Key fields in declaration order (the columns a LUT row stores)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def canonical(self) -> str:
        """One canonical string, e.g. ``head(dim=192,classes=1000)``."""
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in self.fields().items())
        return f"{self.kind}({inner})"

    def __str__(self) -> str:
        return self.canonical()

    def _order(self) -> tuple:
        return (self.kind, tuple(float(v) for v in self.fields().values()))

    def __lt__(self, other: BlockKey) -> bool:
        if not isinstance(other, BlockKey):
            return NotImplemented
        return self._order() < other._order()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{self.kind} field {f.name!r} must be a number; got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise InputError(f"{self.kind} field {f.name!r} must be positive; got {value!r}")
            if f.type in ("int", int) and not float(value).is_integer():
                raise InputError(f"{self.kind} field {f.name!r} must be an integer; got {value!r}")
            if f.type in ("int", int):
                object.__setattr__(self, f.name, int(value))
            elif f.type in ("float", float):
                object.__setattr__(self, f.name, float(value))


def block_kind(cls: type[BlockKey]) -> type[BlockKey]:
    """Class decorator registering a block-key kind; refuses a second class with the same kind."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} must set a non-empty 'kind'")
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise TypeError(f"block kind {cls.kind!r} is already registered by {_KINDS[cls.kind].__name__}")
    _KINDS[cls.kind] = cls
    return cls


def block_kinds() -> dict[str, type[BlockKey]]:
    """All registered kinds, name -> key class."""
    return dict(_KINDS)


@block_kind
@dataclasses.dataclass(frozen=True)
class PatchEmbedKey(BlockKey):
    """Patch embedding: conv ``patch``x``patch`` stride ``patch`` from 3 channels to ``dim``,
    flatten, prepend the class token, add position embeddings.

    Input ``(B, 3, image, image)``; output ``(B, (image/patch)**2 + 1, dim)``.
    """

    kind: ClassVar[str] = "patch_embed"
    image: int
    patch: int
    dim: int


@block_kind
@dataclasses.dataclass(frozen=True)
class EncoderKey(BlockKey):
    """One pre-norm transformer encoder layer (LN, MSA, residual, LN, MLP, residual).

    Input and output ``(B, tokens, dim)``; attention width ``heads * head_dim``; MLP hidden
    ``round(mlp_ratio * dim)``.
    """

    kind: ClassVar[str] = "encoder"
    tokens: int
    dim: int
    heads: int
    head_dim: int
    mlp_ratio: float


@block_kind
@dataclasses.dataclass(frozen=True)
class HeadKey(BlockKey):
    """Classifier head: take the class token, LayerNorm, Linear to ``classes``.

    LayerNorm acts per token, so normalising only the class token equals timm's
    norm-then-pool and makes the head independent of the token count.
    Input ``(B, tokens, dim)``; output ``(B, classes)``.
    """

    kind: ClassVar[str] = "head"
    dim: int
    classes: int


_KEY_RE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*\((.*)\)\s*$")


def parse_block_key(text: str) -> BlockKey:
    """Parse a canonical string back into its key.

    >>> parse_block_key("head(dim=192,classes=1000)")
    HeadKey(dim=192, classes=1000)
    """
    m = _KEY_RE.match(text)
    if not m:
        raise InputError(f"block key {text!r} is not of the form kind(name=value,...)")
    kind, inner = m.group(1), m.group(2)
    cls = _KINDS.get(kind)
    if cls is None:
        raise InputError(f"block kind {kind!r} is not known; known: {', '.join(sorted(_KINDS))}")
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in inner.split(","))):
        if "=" not in part:
            raise InputError(f"block key {text!r}: {part!r} is not name=value")
        name, raw = (s.strip() for s in part.split("=", 1))
        try:
            values[name] = int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw)
        except ValueError:
            raise InputError(f"block key {text!r}: {name}={raw!r} is not a number") from None
    expected = [f.name for f in dataclasses.fields(cls)]
    if set(values) != set(expected):
        raise InputError(f"block key {text!r}: {kind} needs fields {', '.join(expected)}; got {', '.join(values) or 'none'}")
    return cls(**values)
