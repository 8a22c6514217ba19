"""The ViT scaling space of the ViT-scaling study (§3.1 and Appendix): specs, named models, analytic costs.

A :class:`ViTSpec` ``(d, h, e, r, I, p)`` is depth, heads, head dim, MLP ratio, image size and
patch size; embedding dim = ``h*e``, tokens = ``(I/p)**2 + 1`` (the class token).

Analytic costs count a multiply-add once ("FLOPs" as the papers use the word, i.e. MACs): Linear
and conv weights, the two attention matmuls. LayerNorm, softmax, GELU, residual adds and biases
are not counted, exactly as ``torch.utils.flop_counter`` does not count them (it reports 2 per
multiply-add, so counter = 2 x analytic).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from lutnas.categories import MLP, MSA_MATMUL, OTHERS
from lutnas.errors import InputError
from lutnas.spaces.base import BlockKey, Columns, Spec, fmt_number
from lutnas.spaces.blocks import block_kind

FACTORS: tuple[str, ...] = ("d", "h", "e", "r", "I", "p")
_FACTOR_DOC = {
    "d": "depth (encoder layers)",
    "h": "attention heads",
    "e": "head dim",
    "r": "MLP ratio",
    "I": "image size (pixels)",
    "p": "patch size (pixels)",
}


@block_kind
@dataclasses.dataclass(frozen=True)
class PatchEmbedKey(BlockKey):
    """Patch embedding: conv ``patch``x``patch`` stride ``patch`` from 3 channels to ``dim``,
    flatten, prepend the class token, add position embeddings.

    Input ``(B, 3, image, image)``; output ``(B, (image/patch)**2 + 1, dim)``.
    """

    kind: ClassVar[str] = "patch_embed"
    builders: ClassVar[str] = "lutnas.models.vit"
    image: int
    patch: int
    dim: int

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2 + 1

    def macs_by_category(self) -> dict[str, int]:
        return {OTHERS: (self.image // self.patch) ** 2 * 3 * self.patch * self.patch * self.dim}

    def params(self) -> int:
        patches = (self.image // self.patch) ** 2
        return 3 * self.patch * self.patch * self.dim + self.dim + self.dim + (patches + 1) * self.dim

    def activations(self) -> float:
        return float(self.tokens * self.dim)

    def input_elements(self) -> float:
        return float(3 * self.image ** 2)

    @classmethod
    def macs_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        return (f["image"] // f["patch"]) ** 2 * 3 * f["patch"] ** 2 * f["dim"]

    @classmethod
    def params_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        patches = (f["image"] // f["patch"]) ** 2
        return 3 * f["patch"] ** 2 * f["dim"] + 2 * f["dim"] + (patches + 1) * f["dim"]


@block_kind
@dataclasses.dataclass(frozen=True)
class EncoderKey(BlockKey):
    """One pre-norm transformer encoder layer (LN, MSA, residual, LN, MLP, residual).

    Input and output ``(B, tokens, dim)``; attention width ``heads * head_dim``; MLP hidden
    ``round(mlp_ratio * dim)``.
    """

    kind: ClassVar[str] = "encoder"
    builders: ClassVar[str] = "lutnas.models.vit"
    tokens: int
    dim: int
    heads: int
    head_dim: int
    mlp_ratio: float

    def macs_by_category(self) -> dict[str, int]:
        n, dim, inner = self.tokens, self.dim, self.heads * self.head_dim
        hidden = int(round(self.mlp_ratio * dim))
        linear = n * dim * 3 * inner + n * inner * dim + 2 * n * dim * hidden
        return {MLP: linear, MSA_MATMUL: 2 * self.heads * n * n * self.head_dim}

    def params(self) -> int:
        dim, inner = self.dim, self.heads * self.head_dim
        hidden = int(round(self.mlp_ratio * dim))
        ln = 2 * dim
        attn = dim * 3 * inner + 3 * inner + inner * dim + dim
        mlp = dim * hidden + hidden + hidden * dim + dim
        return 2 * ln + attn + mlp

    def activations(self) -> float:
        return float(self.tokens * self.dim)

    def attention_elements(self) -> float:
        return float(self.heads * self.tokens * self.tokens)

    @classmethod
    def macs_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        n, dim, inner = f["tokens"], f["dim"], f["heads"] * f["head_dim"]
        hidden = np.rint(f["mlp_ratio"] * dim)
        return n * dim * 3 * inner + n * inner * dim + 2 * n * dim * hidden + 2 * f["heads"] * n * n * f["head_dim"]

    @classmethod
    def params_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        dim, inner = f["dim"], f["heads"] * f["head_dim"]
        hidden = np.rint(f["mlp_ratio"] * dim)
        return 4 * dim + (dim * 3 * inner + 3 * inner + inner * dim + dim) + (dim * hidden + hidden + hidden * dim + dim)


@block_kind
@dataclasses.dataclass(frozen=True)
class HeadKey(BlockKey):
    """Classifier head: take the class token, LayerNorm, Linear to ``classes``.

    LayerNorm acts per token, so normalising only the class token equals timm's
    norm-then-pool and makes the head independent of the token count.
    Input ``(B, tokens, dim)``; output ``(B, classes)``.
    """

    kind: ClassVar[str] = "head"
    builders: ClassVar[str] = "lutnas.models.vit"
    dim: int
    classes: int

    def macs_by_category(self) -> dict[str, int]:
        return {MLP: self.dim * self.classes}

    def params(self) -> int:
        return 2 * self.dim + self.dim * self.classes + self.classes

    def activations(self) -> float:
        return float(self.dim)

    @classmethod
    def macs_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        return f["dim"] * f["classes"]

    @classmethod
    def params_array(cls, f: Mapping[str, np.ndarray]) -> np.ndarray:
        return 2 * f["dim"] + f["dim"] * f["classes"] + f["classes"]


@dataclasses.dataclass(frozen=True)
class ViTSpec(Spec):
    """A vanilla ViT: ``d`` layers, ``h`` heads of dim ``e``, MLP ratio ``r``, image ``I``, patch ``p``.

    Raises :class:`InputError` naming the field when a value is invalid.
    """

    family: ClassVar[str] = "vit"
    builders: ClassVar[str] = "lutnas.models.vit"
    vectorised: ClassVar[bool] = True

    d: int
    h: int
    e: int
    r: float
    I: int  # noqa: E741 - the papers' name
    p: int
    classes: int = 1000

    def __post_init__(self) -> None:
        d, h, e, r, i, p, c = self.d, self.h, self.e, self.r, self.I, self.p, self.classes
        if (type(d) is int and type(h) is int and type(e) is int and type(i) is int and type(p) is int
                and type(c) is int and type(r) is float and d > 0 and h > 0 and e > 0 and r > 0 and i > 0
                and p > 0 and c > 0 and i % p == 0):
            return  # the common case (a searcher's mutation): already valid and normalised
        for name in ("d", "h", "e", "r", "I", "p", "classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"spec field {name!r} must be a number; got {value!r}")
            if not value > 0:
                raise InputError(f"spec field {name!r} must be positive; got {value!r}")
            if name != "r":
                if not float(value).is_integer():
                    raise InputError(f"spec field {name!r} must be an integer; got {value!r}")
                object.__setattr__(self, name, int(value))
        object.__setattr__(self, "r", float(self.r))
        if self.I % self.p:
            raise InputError(f"spec image size I={self.I} is not divisible by patch size p={self.p}")

    # -- derived shape -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Embedding dim ``h*e``."""
        return self.h * self.e

    @property
    def tokens(self) -> int:
        """Sequence length ``(I/p)**2 + 1`` including the class token."""
        return (self.I // self.p) ** 2 + 1

    @property
    def hidden(self) -> int:
        """MLP hidden width ``round(r*dim)``."""
        return int(round(self.r * self.dim))

    def shape(self) -> dict[str, Any]:
        return {"dim": self.dim, "tokens": self.tokens}

    def canonical(self) -> str:
        """``d=12,h=3,e=64,r=4,I=224,p=16`` (``classes`` added only when not 1000)."""
        text = ",".join(f"{k}={fmt_number(getattr(self, k))}" for k in FACTORS)
        return text if self.classes == 1000 else f"{text},classes={self.classes}"

    def __str__(self) -> str:
        return self.canonical()

    def factors(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in FACTORS}

    # -- decomposition -------------------------------------------------------------------------
    def blocks(self) -> list[tuple[BlockKey, int]]:
        """Block keys with counts, in execution order: patch_embed, encoder x d, head."""
        return [
            (PatchEmbedKey(image=self.I, patch=self.p, dim=self.dim), 1),
            (EncoderKey(tokens=self.tokens, dim=self.dim, heads=self.h, head_dim=self.e, mlp_ratio=self.r), self.d),
            (HeadKey(dim=self.dim, classes=self.classes), 1),
        ]

    # -- vectorised view -----------------------------------------------------------------------
    @classmethod
    def columns(cls, specs: Sequence[Spec] | Mapping[str, Any]) -> Columns:
        """Factor columns ``d, h, e, r, I, p, classes`` of many specs as numpy arrays.

        ``specs``: a sequence of :class:`ViTSpec`, or a mapping/DataFrame with those columns.
        """
        if hasattr(specs, "keys") and not isinstance(specs, ViTSpec):
            cols = {k: np.asarray(specs[k]) for k in FACTORS}
            n = len(cols["d"])
            # no column: one read-only broadcast value (a 1,000,000-spec call allocates nothing for it)
            cols["classes"] = np.asarray(specs["classes"]) if "classes" in specs.keys() else np.broadcast_to(np.int64(1000), (n,))
        else:
            specs = list(specs)
            cols = {k: np.fromiter((getattr(s, k) for s in specs), dtype=np.float64 if k == "r" else np.int64, count=len(specs))
                    for k in (*FACTORS, "classes")}
        for k in (*FACTORS, "classes"):
            cols[k] = cols[k].astype(np.float64 if k == "r" else np.int64, copy=False)  # views where they already are
        return cols

    @classmethod
    def block_columns(cls, cols: Columns) -> list[tuple[type[BlockKey], Columns, np.ndarray]]:
        """Vectorised :meth:`blocks`."""
        dim = cols["h"] * cols["e"]
        tokens = (cols["I"] // cols["p"]) ** 2 + 1
        one = np.ones_like(dim)
        return [
            (PatchEmbedKey, {"image": cols["I"], "patch": cols["p"], "dim": dim}, one),
            (EncoderKey, {"tokens": tokens, "dim": dim, "heads": cols["h"], "head_dim": cols["e"], "mlp_ratio": cols["r"]},
             cols["d"]),
            (HeadKey, {"dim": dim, "classes": cols["classes"]}, one),
        ]


# -- function forms kept for callers of the first releases ----------------------------------------
def block_macs_by_category(key: BlockKey) -> dict[str, int]:
    """Multiply-adds of one block for batch 1, split into categories (``key.macs_by_category()``)."""
    return key.macs_by_category()


def block_params(key: BlockKey) -> int:
    """Trainable parameters of one block (``key.params()``)."""
    return key.params()


def spec_arrays(specs: Sequence[ViTSpec] | Mapping[str, Any]) -> Columns:
    """Factor columns of many ViT specs (:meth:`ViTSpec.columns`)."""
    return ViTSpec.columns(specs)


def block_arrays(cols: Columns) -> list[tuple[str, Columns, np.ndarray]]:
    """Vectorised :meth:`ViTSpec.blocks`: ``[(kind, {field: array}, count array), ...]``."""
    return [(kind.kind, f, counts) for kind, f, counts in ViTSpec.block_columns(cols)]


def macs_array(cols: Columns) -> np.ndarray:
    """Multiply-adds of many specs at once (``spec_arrays`` columns); equals ``ViTSpec.macs``."""
    return ViTSpec.macs_columns(cols)


def params_array(cols: Columns) -> np.ndarray:
    """Parameters of many specs at once; equals ``ViTSpec.params``."""
    return ViTSpec.params_columns(cols)


NAMED_SPECS: dict[str, ViTSpec] = {
    "deit-tiny": ViTSpec(12, 3, 64, 4, 224, 16),
    "deit-small": ViTSpec(12, 6, 64, 4, 224, 16),
    "seed-start": ViTSpec(6, 2, 64, 4, 160, 16),
    "scaled-tiny": ViTSpec(14, 4, 64, 4, 160, 16),
}

_ALIASES = {"D": "d", "H": "h", "E": "e", "R": "r", "i": "I", "P": "p"}


def parse_vit_spec(text: str) -> ViTSpec:
    """A named spec (``deit-tiny``) or ``d=12,h=3,e=64,r=4,I=224,p=16``.

    Raises :class:`InputError` with one line naming what was wrong.
    """
    text = text.strip()
    if text in NAMED_SPECS:
        return NAMED_SPECS[text]
    if "=" not in text:
        raise InputError(f"spec {text!r} is not a known name ({', '.join(NAMED_SPECS)}) nor d=..,h=..,e=..,r=..,I=..,p=..")
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise InputError(f"spec {text!r}: {part!r} is not name=value")
        name, raw = (s.strip() for s in part.split("=", 1))
        name = _ALIASES.get(name, name) if name not in FACTORS and name != "classes" else name
        if name not in FACTORS and name != "classes":
            raise InputError(f"spec {text!r}: unknown factor {name!r}; factors are {', '.join(FACTORS)}")
        if name in values:
            raise InputError(f"spec {text!r}: factor {name!r} given twice")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", raw):
            raise InputError(f"spec {text!r}: {name}={raw!r} is not a number")
        values[name] = float(raw) if name == "r" else (int(raw) if raw.lstrip("+-").isdigit() else float(raw))
    missing = [f for f in FACTORS if f not in values]
    if missing:
        raise InputError(f"spec {text!r}: missing {', '.join(missing)}")
    return ViTSpec(**values)


def parse_spec(text: str) -> Spec:
    """Any registered space's spec (see :func:`lutnas.spaces.registry.parse_spec`)."""
    from lutnas.spaces.registry import parse_spec as parse

    return parse(text)


def factor_doc(name: str) -> str:
    return _FACTOR_DOC[name]
