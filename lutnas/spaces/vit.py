"""The ViT scaling space of seed 000 (§3.1 and Appendix): specs, named models, analytic costs.

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
from typing import Any

from lutnas.categories import MLP, MSA_MATMUL, OTHERS
from lutnas.errors import InputError
from lutnas.spaces.blocks import BlockKey, EncoderKey, HeadKey, PatchEmbedKey, _fmt

FACTORS: tuple[str, ...] = ("d", "h", "e", "r", "I", "p")
_FACTOR_DOC = {
    "d": "depth (encoder layers)",
    "h": "attention heads",
    "e": "head dim",
    "r": "MLP ratio",
    "I": "image size (pixels)",
    "p": "patch size (pixels)",
}


class BlockSumCosts:
    """Analytic costs of a spec as the sum of its blocks' (``blocks()`` -> ``(key, count)``)."""

    def blocks(self) -> list[tuple[BlockKey, int]]:
        raise NotImplementedError

    def macs_by_category(self) -> dict[str, int]:
        """Multiply-adds per operator category for batch 1 (see module docstring)."""
        totals = {MLP: 0, MSA_MATMUL: 0, OTHERS: 0}
        for key, count in self.blocks():
            for cat, macs in block_macs_by_category(key).items():
                totals[cat] = totals.get(cat, 0) + macs * count
        return totals

    def macs(self) -> int:
        """Total multiply-adds for batch 1."""
        return sum(self.macs_by_category().values())

    @property
    def gflops(self) -> float:
        """GFLOPs as the papers count them (multiply-add once); DeiT-Tiny ≈ 1.25."""
        return self.macs() / 1e9

    def params(self) -> int:
        """Trainable parameters, exactly those of :func:`lutnas.models.build_model`."""
        return sum(block_params(key) * count for key, count in self.blocks())


@dataclasses.dataclass(frozen=True)
class ViTSpec(BlockSumCosts):
    """A vanilla ViT: ``d`` layers, ``h`` heads of dim ``e``, MLP ratio ``r``, image ``I``, patch ``p``.

    Raises :class:`InputError` naming the field when a value is invalid.
    """

    d: int
    h: int
    e: int
    r: float
    I: int  # noqa: E741 - the papers' name
    p: int
    classes: int = 1000

    def __post_init__(self) -> None:
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

    def canonical(self) -> str:
        """``d=12,h=3,e=64,r=4,I=224,p=16`` (``classes`` added only when not 1000)."""
        text = ",".join(f"{k}={_fmt(getattr(self, k))}" for k in FACTORS)
        return text if self.classes == 1000 else f"{text},classes={self.classes}"

    def __str__(self) -> str:
        return self.canonical()

    def factors(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in FACTORS}

    def replace(self, **changes: Any) -> ViTSpec:
        return dataclasses.replace(self, **changes)

    # -- decomposition -------------------------------------------------------------------------
    def blocks(self) -> list[tuple[BlockKey, int]]:
        """Block keys with counts, in execution order: patch_embed, encoder x d, head."""
        return [
            (PatchEmbedKey(image=self.I, patch=self.p, dim=self.dim), 1),
            (EncoderKey(tokens=self.tokens, dim=self.dim, heads=self.h, head_dim=self.e, mlp_ratio=self.r), self.d),
            (HeadKey(dim=self.dim, classes=self.classes), 1),
        ]


def block_macs_by_category(key: BlockKey) -> dict[str, int]:
    """Multiply-adds of one block for batch 1, split into categories."""
    if hasattr(key, "macs_by_category"):  # kinds of other spaces carry their own cost model
        return key.macs_by_category()
    if isinstance(key, PatchEmbedKey):
        patches = (key.image // key.patch) ** 2
        return {OTHERS: patches * 3 * key.patch * key.patch * key.dim}
    if isinstance(key, EncoderKey):
        n, dim, inner = key.tokens, key.dim, key.heads * key.head_dim
        hidden = int(round(key.mlp_ratio * dim))
        linear = n * dim * 3 * inner + n * inner * dim + 2 * n * dim * hidden
        return {MLP: linear, MSA_MATMUL: 2 * key.heads * n * n * key.head_dim}
    if isinstance(key, HeadKey):
        return {MLP: key.dim * key.classes}
    raise InputError(f"no analytic cost for block kind {key.kind!r}")


def block_params(key: BlockKey) -> int:
    """Trainable parameters of one block (weights, biases, LayerNorm, class token, positions)."""
    if hasattr(key, "params"):
        return key.params()
    if isinstance(key, PatchEmbedKey):
        patches = (key.image // key.patch) ** 2
        return 3 * key.patch * key.patch * key.dim + key.dim + key.dim + (patches + 1) * key.dim
    if isinstance(key, EncoderKey):
        dim, inner = key.dim, key.heads * key.head_dim
        hidden = int(round(key.mlp_ratio * dim))
        ln = 2 * dim
        attn = dim * 3 * inner + 3 * inner + inner * dim + dim
        mlp = dim * hidden + hidden + hidden * dim + dim
        return 2 * ln + attn + mlp
    if isinstance(key, HeadKey):
        return 2 * key.dim + key.dim * key.classes + key.classes
    raise InputError(f"no parameter count for block kind {key.kind!r}")


def spec_arrays(specs: Any) -> dict[str, Any]:
    """Factor columns of many specs as numpy arrays (``d, h, e, r, I, p, classes``).

    ``specs``: a sequence of :class:`ViTSpec`, or a mapping/DataFrame with those columns.
    """
    import numpy as np

    if hasattr(specs, "keys") and not isinstance(specs, ViTSpec):
        cols = {k: np.asarray(specs[k]) for k in FACTORS}
        n = len(cols["d"])
        cols["classes"] = np.asarray(specs["classes"]) if "classes" in specs.keys() else np.full(n, 1000)
    else:
        specs = list(specs)
        cols = {k: np.fromiter((getattr(s, k) for s in specs), dtype=np.float64 if k == "r" else np.int64, count=len(specs))
                for k in (*FACTORS, "classes")}
    for k in (*FACTORS, "classes"):
        cols[k] = cols[k].astype(np.float64 if k == "r" else np.int64)
    return cols


def block_arrays(cols: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """Vectorised :meth:`ViTSpec.blocks`: ``[(kind, {field: array}, count array), ...]``."""
    import numpy as np

    dim = cols["h"] * cols["e"]
    tokens = (cols["I"] // cols["p"]) ** 2 + 1
    one = np.ones_like(dim)
    return [
        ("patch_embed", {"image": cols["I"], "patch": cols["p"], "dim": dim}, one),
        ("encoder", {"tokens": tokens, "dim": dim, "heads": cols["h"], "head_dim": cols["e"], "mlp_ratio": cols["r"]}, cols["d"]),
        ("head", {"dim": dim, "classes": cols["classes"]}, one),
    ]


def block_macs_array(kind: str, f: dict[str, Any]) -> Any:
    """Vectorised twin of :func:`block_macs_by_category` (total over categories), arrays of fields."""
    import numpy as np

    if kind == "patch_embed":
        return (f["image"] // f["patch"]) ** 2 * 3 * f["patch"] ** 2 * f["dim"]
    if kind == "encoder":
        n, dim, inner = f["tokens"], f["dim"], f["heads"] * f["head_dim"]
        hidden = np.rint(f["mlp_ratio"] * dim)
        return n * dim * 3 * inner + n * inner * dim + 2 * n * dim * hidden + 2 * f["heads"] * n * n * f["head_dim"]
    if kind == "head":
        return f["dim"] * f["classes"]
    raise InputError(f"no analytic cost for block kind {kind!r}")


def block_params_array(kind: str, f: dict[str, Any]) -> Any:
    """Vectorised twin of :func:`block_params`, arrays of fields."""
    import numpy as np

    if kind == "patch_embed":
        patches = (f["image"] // f["patch"]) ** 2
        return 3 * f["patch"] ** 2 * f["dim"] + 2 * f["dim"] + (patches + 1) * f["dim"]
    if kind == "encoder":
        dim, inner = f["dim"], f["heads"] * f["head_dim"]
        hidden = np.rint(f["mlp_ratio"] * dim)
        return 4 * dim + (dim * 3 * inner + 3 * inner + inner * dim + dim) + (dim * hidden + hidden + hidden * dim + dim)
    if kind == "head":
        return 2 * f["dim"] + f["dim"] * f["classes"] + f["classes"]
    raise InputError(f"no parameter count for block kind {kind!r}")


def macs_array(cols: dict[str, Any]) -> Any:
    """Multiply-adds of many specs at once (``spec_arrays`` columns); equals ``ViTSpec.macs``."""
    return sum(block_macs_array(kind, f) * counts for kind, f, counts in block_arrays(cols))


def params_array(cols: dict[str, Any]) -> Any:
    """Parameters of many specs at once; equals ``ViTSpec.params``."""
    return sum(block_params_array(kind, f) * counts for kind, f, counts in block_arrays(cols))


NAMED_SPECS: dict[str, ViTSpec] = {
    "deit-tiny": ViTSpec(12, 3, 64, 4, 224, 16),
    "deit-small": ViTSpec(12, 6, 64, 4, 224, 16),
    "seed-start": ViTSpec(6, 2, 64, 4, 160, 16),
    "scaled-tiny": ViTSpec(14, 4, 64, 4, 160, 16),
}

_ALIASES = {"D": "d", "H": "h", "E": "e", "R": "r", "i": "I", "P": "p"}


def parse_spec(text: str) -> ViTSpec:
    """A named spec (``deit-tiny``) or ``d=12,h=3,e=64,r=4,I=224,p=16``.

    Raises :class:`InputError` with one line naming what was wrong.
    """
    text = text.strip()
    if text in NAMED_SPECS:
        return NAMED_SPECS[text]
    if text.startswith("autovit:"):
        from lutnas.spaces.autovit import AutoViTSpec

        return AutoViTSpec.parse(text)  # type: ignore[return-value]
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


def factor_doc(name: str) -> str:
    return _FACTOR_DOC[name]
