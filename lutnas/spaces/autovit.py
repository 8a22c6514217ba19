"""AutoViT's hybrid space (AutoViT): conv stem, MBConv stages, MobileViT-style transformer stages.

Architecture of an :class:`AutoViTSpec` at 256×256 (AutoViT's §3.2, Table 1, Figure 2)::

    stem      conv 3×3 s2, 3 -> c                                     128×128
    MBConv-k  k = 1..3: n_k inverted-residual layers (expansion 1, as Table 1 lists),
              the first with stride 1 / 2 / 2, width w_k                128 / 64 / 32
    T-stage j j = 1..3 or 4: a transition MBConv (stride 1 for j = 1, else 2) to width t_j, then a
              MobileViT block: local conv 3×3 + point-wise conv, unfold into 2×2 patches, d_j
              transformer layers (width t_j, h_j heads of 32 dims, MLP ratio r_j) applied per
              pixel position across patches, fold, point-wise conv, concat with the block
              input and a point-wise fuse                               32 / 16 / 8 / 4
    MBPool    point-wise conv to 6·t_last (expansion 6), global pool, Linear to 1000

AutoViT leaves some details open; our choices: MobileViT-v3-style 1×1 fusion, 32-dim heads (so
every head count in Table 1 fits every width), conv channels of a stage equal to its transformer
width. The inductive bias (transformer widths non-decreasing across stages) is part of spec
validity; each supernet's parameter range is part of space membership (:meth:`AutoViTSpace.contains`).

Block kinds: ``conv_stem``, ``mbconv``, ``mvit`` (the MobileViT block's convolutions, fold and
unfold, without its transformer layers), ``tlayer`` (one transformer layer over
``(B·patch², tokens, dim)``) and ``mbpool``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from lutnas.categories import MLP, OTHERS
from lutnas.errors import InputError
from lutnas.spaces.base import GRID, MODULE_TABLE, REMOVAL, SCALE_UP, BlockKey, Space, Spec
from lutnas.spaces.blocks import block_kind
from lutnas.spaces.vit import EncoderKey

PATCH = 2
HEAD_DIM = 32
POOL_EXPAND = 6
STRIDES = (1, 2, 2)


# -- block keys ------------------------------------------------------------------------------------
@block_kind
@dataclasses.dataclass(frozen=True)
class ConvStemKey(BlockKey):
    """Conv 3×3 stride 2, BN, SiLU. ``(B, 3, image, image) -> (B, cout, image/2, image/2)``."""

    builders: ClassVar[str] = "lutnas.models.autovit"
    kind: ClassVar[str] = "conv_stem"
    image: int
    cout: int

    def macs_by_category(self) -> dict[str, int]:
        return {OTHERS: (self.image // 2) ** 2 * 9 * 3 * self.cout}

    def params(self) -> int:
        return 27 * self.cout + 2 * self.cout

    def activations(self) -> float:
        return float((self.image // 2) ** 2 * self.cout)


@block_kind
@dataclasses.dataclass(frozen=True)
class MBConvKey(BlockKey):
    """Inverted residual (MobileNetV2): [1×1 expand,] depthwise 3×3 (stride), 1×1 project, BN/SiLU;
    residual when stride 1 and cin == cout. Input ``(B, cin, res, res)``."""

    builders: ClassVar[str] = "lutnas.models.autovit"
    kind: ClassVar[str] = "mbconv"
    res: int
    cin: int
    cout: int
    stride: int
    expand: int

    def macs_by_category(self) -> dict[str, int]:
        hidden = self.cin * self.expand
        out_res = self.res // self.stride
        m = self.res ** 2 * self.cin * hidden if self.expand != 1 else 0
        m += out_res ** 2 * hidden * 9 + out_res ** 2 * hidden * self.cout
        return {OTHERS: m}

    def params(self) -> int:
        hidden = self.cin * self.expand
        p = (self.cin * hidden + 2 * hidden) if self.expand != 1 else 0
        return p + 9 * hidden + 2 * hidden + hidden * self.cout + 2 * self.cout

    def activations(self) -> float:
        return float(self.res ** 2 * self.cin * self.expand)


@block_kind
@dataclasses.dataclass(frozen=True)
class MViTKey(BlockKey):
    """A MobileViT block without its transformer layers: local conv 3×3 + 1×1, unfold into
    ``patch``×``patch`` patches, fold, 1×1, concat with the input, 1×1 fuse.
    ``(B, dim, res, res) -> (B, dim, res, res)``."""

    builders: ClassVar[str] = "lutnas.models.autovit"
    kind: ClassVar[str] = "mvit"
    res: int
    dim: int
    patch: int

    def macs_by_category(self) -> dict[str, int]:
        px, c = self.res ** 2, self.dim
        return {OTHERS: px * (9 * c * c + c * c + c * c + 2 * c * c)}

    def params(self) -> int:
        c = self.dim
        return 9 * c * c + 2 * c + c * c + c * c + 2 * c + 2 * c * c + 2 * c + 2 * c  # convs, BNs, final LN

    def activations(self) -> float:
        return float(self.res ** 2 * self.dim)


@block_kind
@dataclasses.dataclass(frozen=True)
class TLayerKey(BlockKey):
    """One pre-norm transformer layer applied to each of the ``patch²`` pixel positions across
    the ``(res/patch)²`` patches: input ``(B·patch², (res/patch)², dim)``."""

    builders: ClassVar[str] = "lutnas.models.autovit"
    kind: ClassVar[str] = "tlayer"
    res: int
    patch: int
    dim: int
    heads: int
    head_dim: int
    mlp_ratio: float

    @property
    def tokens(self) -> int:
        return (self.res // self.patch) ** 2

    def layer(self) -> EncoderKey:
        """The same layer as a ViT encoder over one pixel position's ``tokens``."""
        return EncoderKey(self.tokens, self.dim, self.heads, self.head_dim, self.mlp_ratio)

    def macs_by_category(self) -> dict[str, int]:
        return {cat: self.patch ** 2 * macs for cat, macs in self.layer().macs_by_category().items()}

    def params(self) -> int:
        return self.layer().params()

    def activations(self) -> float:
        return float(self.patch ** 2 * self.tokens * self.dim)

    def attention_elements(self) -> float:
        return float(self.patch ** 2 * self.heads * self.tokens ** 2)


@block_kind
@dataclasses.dataclass(frozen=True)
class MBPoolKey(BlockKey):
    """1×1 conv to ``expand``·cin, BN, SiLU, global average pool, Linear to ``classes``.
    ``(B, cin, res, res) -> (B, classes)``."""

    builders: ClassVar[str] = "lutnas.models.autovit"
    kind: ClassVar[str] = "mbpool"
    res: int
    cin: int
    expand: int
    classes: int

    def macs_by_category(self) -> dict[str, int]:
        hidden = self.cin * self.expand
        return {OTHERS: self.res ** 2 * self.cin * hidden, MLP: hidden * self.classes}

    def params(self) -> int:
        hidden = self.cin * self.expand
        return self.cin * hidden + 2 * hidden + hidden * self.classes + self.classes

    def activations(self) -> float:
        return float(self.res ** 2 * self.cin * self.expand)


# -- specs -----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AutoViTSpec(Spec):
    """One hybrid architecture. Stage tuples: MBConv widths/depths (3 each), transformer
    widths/depths/heads/MLP ratios (3 or 4 each)."""

    family: ClassVar[str] = "autovit"
    builders: ClassVar[str] = "lutnas.models.autovit"

    stem: int
    mb_widths: tuple[int, ...]
    mb_depths: tuple[int, ...]
    t_widths: tuple[int, ...]
    t_depths: tuple[int, ...]
    t_heads: tuple[int, ...]
    t_ratios: tuple[float, ...]
    image: int = 256
    classes: int = 1000

    def __post_init__(self) -> None:
        for name in ("mb_widths", "mb_depths", "t_widths", "t_depths", "t_heads", "t_ratios"):
            value = tuple(getattr(self, name))
            cast = float if name == "t_ratios" else int
            try:
                value = tuple(cast(v) for v in value)
            except (TypeError, ValueError):
                raise InputError(f"autovit {name} must be numbers; got {getattr(self, name)!r}") from None
            object.__setattr__(self, name, value)
            if any(v <= 0 for v in value):
                raise InputError(f"autovit {name} must be positive; got {value}")
        if len(self.mb_widths) != 3 or len(self.mb_depths) != 3:
            raise InputError("autovit has exactly 3 MBConv stages (widths and depths)")
        n = len(self.t_widths)
        if n not in (3, 4) or any(len(t) != n for t in (self.t_depths, self.t_heads, self.t_ratios)):
            raise InputError(f"autovit has 3 or 4 transformer stages with one width, depth, heads and ratio each; got "
                             f"{len(self.t_widths)}/{len(self.t_depths)}/{len(self.t_heads)}/{len(self.t_ratios)}")
        if any(b < a for a, b in zip(self.t_widths, self.t_widths[1:])):
            raise InputError(f"autovit transformer widths must not decrease across stages (AutoViT's inductive bias); "
                             f"got {list(self.t_widths)}")
        if self.stem <= 0 or self.classes <= 0:
            raise InputError("autovit stem width and classes must be positive")
        if self.image % (2 * 4 * 2 ** (n - 1) * PATCH) != 0:
            raise InputError(f"autovit image {self.image} must be divisible by {2 * 4 * 2 ** (n - 1) * PATCH} for {n} stages")

    @property
    def stages(self) -> int:
        return len(self.t_widths)

    # -- text -------------------------------------------------------------------------------------
    def canonical(self) -> str:
        mb = "/".join(f"{w}x{d}" for w, d in zip(self.mb_widths, self.mb_depths))
        t = "/".join(f"{w}x{d}h{h}r{_num(r)}" for w, d, h, r in zip(self.t_widths, self.t_depths, self.t_heads, self.t_ratios))
        extra = (f",I={self.image}" if self.image != 256 else "") + (f",classes={self.classes}" if self.classes != 1000 else "")
        return f"autovit:c={self.stem},mb={mb},t={t}{extra}"

    def __str__(self) -> str:
        return self.canonical()

    def __lt__(self, other: AutoViTSpec) -> bool:
        return self.canonical() < other.canonical()

    @classmethod
    def parse(cls, text: str) -> AutoViTSpec:
        m = re.fullmatch(r"\s*autovit:c=(\d+),mb=([\dx/]+),t=([\dxhr./]+)((?:,\w+=\d+)*)\s*", text)
        if not m:
            raise InputError(f"autovit spec {text!r} is not of the form autovit:c=16,mb=16x1/24x2/32x2,"
                             f"t=48x2h2r1.5/64x2h2r2/80x2h2r2")
        mb = [tuple(int(v) for v in part.split("x")) for part in m.group(2).split("/")]
        ts = []
        for part in m.group(3).split("/"):
            tm = re.fullmatch(r"(\d+)x(\d+)h(\d+)r([\d.]+)", part)
            if not tm:
                raise InputError(f"autovit stage {part!r} is not WIDTHxDEPTHhHEADSrRATIO (e.g. 64x3h2r1.5)")
            ts.append((int(tm.group(1)), int(tm.group(2)), int(tm.group(3)), float(tm.group(4))))
        extra = dict(kv.split("=") for kv in filter(None, m.group(4).split(",")))
        if any(len(x) != 2 for x in mb):
            raise InputError(f"autovit MBConv stages are WIDTHxDEPTH; got {m.group(2)!r}")
        return cls(int(m.group(1)), tuple(w for w, _ in mb), tuple(d for _, d in mb), tuple(t[0] for t in ts),
                   tuple(t[1] for t in ts), tuple(t[2] for t in ts), tuple(t[3] for t in ts),
                   image=int(extra.get("I", 256)), classes=int(extra.get("classes", 1000)))

    # -- factors (the flat view searchers mutate) ---------------------------------------------------
    def factors(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.stem, "s": self.stages}
        for k in range(3):
            out[f"w{k + 1}"], out[f"n{k + 1}"] = self.mb_widths[k], self.mb_depths[k]
        for j in range(4):
            on = j < self.stages
            out[f"t{j + 1}"] = self.t_widths[j] if on else None
            out[f"d{j + 1}"] = self.t_depths[j] if on else None
            out[f"h{j + 1}"] = self.t_heads[j] if on else None
            out[f"r{j + 1}"] = self.t_ratios[j] if on else None
        return out

    @classmethod
    def from_factors(cls, f: Mapping[str, Any], image: int = 256, classes: int = 1000) -> AutoViTSpec:
        s = int(f["s"])
        return cls(int(f["c"]), tuple(f[f"w{k}"] for k in (1, 2, 3)), tuple(f[f"n{k}"] for k in (1, 2, 3)),
                   tuple(f[f"t{j}"] for j in range(1, s + 1)), tuple(f[f"d{j}"] for j in range(1, s + 1)),
                   tuple(f[f"h{j}"] for j in range(1, s + 1)), tuple(f[f"r{j}"] for j in range(1, s + 1)),
                   image=image, classes=classes)

    def replace(self, **changes: Any) -> AutoViTSpec:
        return dataclasses.replace(self, **changes)

    # -- blocks and costs ---------------------------------------------------------------------------
    def blocks(self) -> list[tuple[BlockKey, int]]:
        """``(block key, count)`` in execution order; a model's latency is Σ count × LUT[key]."""
        out: list[tuple[BlockKey, int]] = [(ConvStemKey(self.image, self.stem), 1)]
        res, cin = self.image // 2, self.stem
        for k in range(3):
            w, n = self.mb_widths[k], self.mb_depths[k]
            out.append((MBConvKey(res, cin, w, STRIDES[k], 1), 1))
            res //= STRIDES[k]
            if n > 1:
                out.append((MBConvKey(res, w, w, 1, 1), n - 1))
            cin = w
        for j in range(self.stages):
            w, d, h, r = self.t_widths[j], self.t_depths[j], self.t_heads[j], self.t_ratios[j]
            stride = 1 if j == 0 else 2
            out.append((MBConvKey(res, cin, w, stride, 1), 1))
            res //= stride
            out.append((MViTKey(res, w, PATCH), 1))
            out.append((TLayerKey(res, PATCH, w, h, HEAD_DIM, r), d))
            cin = w
        out.append((MBPoolKey(res, cin, POOL_EXPAND, self.classes), 1))
        return out



def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else format(v, "g")


# -- spaces ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Supernet:
    """Table 1 of AutoViT: candidate values per stage and the parameter range."""

    stem: tuple[int, ...]
    mb_widths: tuple[tuple[int, ...], ...]
    mb_depths: tuple[tuple[int, ...], ...]
    t_widths: tuple[tuple[int, ...], ...]
    t_depths: tuple[int, ...]
    t_heads: tuple[int, ...]
    t_ratios: tuple[float, ...]
    stages: tuple[int, ...]
    params_range: tuple[float, float]  # parameters, millions


SUPERNETS = {
    "xxs": Supernet((16, 24), ((16, 24), (24, 32), (32, 48)), ((1, 2), (2, 3), (2, 3)),
                    ((48, 64), (64, 80), (80, 96), (96, 112)), (2, 3, 4, 5), (2, 3, 4), (1.5, 2.0), (3, 4), (1.0, 1.8)),
    "xs": Supernet((16, 24), ((24, 32), (32, 48), (48, 64)), ((1, 2), (2, 3), (2, 3)),
                   ((64, 80), (80, 96), (96, 112), (112, 128)), (2, 3, 4, 5), (4, 5, 6), (1.5, 2.0), (3, 4), (1.6, 2.6)),
    "s": Supernet((16, 24), ((24, 32), (32, 48), (48, 64)), ((1, 2), (2, 3), (2, 3)),
                  ((64, 96), (96, 128), (128, 160), (160, 192)), (2, 3, 4, 5), (7, 8, 9), (1.5, 2.0), (3, 4), (4.0, 7.2)),
}

#: AutoViT's §3.3.2's lookup table: Conv {16,24}, MBConv {16,24,32,48}, transformer widths
#: {48,...,112} × heads {2,3,4,5} × ratio {1.5,2} = 2 + 4 + 40 = 46 modules (XXS)
SEED004_MODULES = {"conv": (16, 24), "mbconv": (16, 24, 32, 48), "transformer": (48, 64, 80, 96, 112),
                   "heads": (2, 3, 4, 5), "ratios": (1.5, 2.0)}


class AutoViTSpace(Space):
    """One of AutoViT's supernets as a search space (same interface as :class:`ViTSpace`).

    ``values`` maps the flat factor names (``c, w1..w3, n1..n3, s, t1..t4, d1..d4, h1..h4,
    r1..r4``) to candidates; :meth:`narrow` takes the same names. Membership requires the
    parameter range; sampling rejects specs outside it.
    """

    spec_type = AutoViTSpec
    capabilities: ClassVar[frozenset[str]] = frozenset({GRID, SCALE_UP, MODULE_TABLE, REMOVAL})
    #: factors mutated with AutoViT's depth probability Pd (the rest with Pm)
    depth_factors = ("s", "n1", "n2", "n3", "d1", "d2", "d3", "d4")

    def __init__(self, name: str, supernet: str, values: Mapping[str, Sequence[float]] | None = None,
                 description: str = "", image: int = 256, classes: int = 1000) -> None:
        if supernet not in SUPERNETS:
            raise InputError(f"autovit supernet must be one of {', '.join(SUPERNETS)}; got {supernet!r}")
        sn = SUPERNETS[supernet]
        self.name, self.supernet, self.description = name, supernet, description
        self.image, self.classes = image, classes
        self.params_range = sn.params_range
        base: dict[str, tuple] = {"c": sn.stem, "s": sn.stages}
        for k in range(3):
            base[f"w{k + 1}"], base[f"n{k + 1}"] = sn.mb_widths[k], sn.mb_depths[k]
        for j in range(4):
            base[f"t{j + 1}"], base[f"d{j + 1}"] = sn.t_widths[j], sn.t_depths
            base[f"h{j + 1}"], base[f"r{j + 1}"] = sn.t_heads, sn.t_ratios
        self.factors = tuple(base)
        if values:
            unknown = set(values) - set(base)
            if unknown:
                raise InputError(f"space {name!r}: unknown factor(s) {', '.join(sorted(unknown))}; factors are "
                                 f"{', '.join(base)}")
            for f, vals in values.items():
                cast = float if f.startswith("r") else int
                vals = tuple(sorted({cast(v) for v in vals}))
                if not vals:
                    raise InputError(f"space {name!r}: factor {f!r} has no candidate values")
                base[f] = vals
        self.values = {f: tuple(sorted(v)) for f, v in base.items()}

    @classmethod
    def parse_spec(cls, text: str) -> AutoViTSpec:
        return AutoViTSpec.parse(text)

    def __repr__(self) -> str:
        return f"AutoViTSpace({self.name!r}, supernet={self.supernet!r}, ~{self.size:.3g} specs before the params range)"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": "autovit", "supernet": self.supernet,
                "values": {k: list(v) for k, v in self.values.items()}, "params_range_m": list(self.params_range),
                "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoViTSpace:
        return cls(data["name"], data["supernet"], data.get("values"), data.get("description", ""))

    @property
    def size(self) -> int:
        """Specs in the product before the parameter-range filter (stage-4 factors count only with s=4)."""
        v = self.values
        head = len(v["c"]) * math.prod(len(v[f"w{k}"]) * len(v[f"n{k}"]) for k in (1, 2, 3))
        total = 0
        for s in v["s"]:
            total += math.prod(len(v[f"t{j}"]) * len(v[f"d{j}"]) * len(v[f"h{j}"]) * len(v[f"r{j}"]) for j in range(1, s + 1))
        return head * total

    def narrow(self, values: Mapping[str, Sequence[float]]) -> AutoViTSpace:
        merged = dict(self.values)
        for f, vals in values.items():
            if f not in merged:
                raise InputError(f"space {self.name!r} has no factor {f!r}; factors: {', '.join(self.factors)}")
            cast = float if f.startswith("r") else int
            outside = [x for x in vals if cast(x) not in merged[f]]
            if outside:
                raise InputError(f"{f}={outside} is outside space {self.name!r} ({f} in {list(merged[f])})")
            merged[f] = tuple(cast(x) for x in vals)
        return AutoViTSpace(self.name, self.supernet, merged, self.description, self.image, self.classes)

    def make(self, factors: Mapping[str, Any]) -> AutoViTSpec | None:
        """A spec from flat factors, or None when invalid (decreasing widths...)."""
        try:
            return AutoViTSpec.from_factors(factors, self.image, self.classes)
        except InputError:
            return None

    def in_params_range(self, spec: AutoViTSpec) -> bool:
        lo, hi = self.params_range
        return lo * 1e6 <= spec.params() <= hi * 1e6

    def contains(self, spec: Spec) -> bool:
        if not isinstance(spec, AutoViTSpec):
            return False
        f = spec.factors()
        on = [x for x in self.factors if f[x] is not None]
        return all(f[x] in self.values[x] for x in on) and self.in_params_range(spec)

    def validate(self, spec: AutoViTSpec) -> AutoViTSpec:
        if not self.contains(spec):
            p = spec.params() / 1e6 if isinstance(spec, AutoViTSpec) else float("nan")
            raise InputError(f"{spec} is not in space {self.name!r} (params {p:.2f} M; range {self.params_range[0]}–"
                             f"{self.params_range[1]} M; values {self.values})")
        return spec

    # -- enumeration and sampling ---------------------------------------------------------------------
    def _random_factors(self, rng: np.random.Generator) -> dict[str, Any]:
        return {f: vals[int(rng.integers(len(vals)))] for f, vals in self.values.items()}

    def sample(self, n: int, rng: np.random.Generator | int | None = None, replace: bool = False,
               max_tries: int | None = None) -> list[AutoViTSpec]:
        """``n`` distinct specs drawn uniformly from the product, kept when valid and in the params range."""
        rng = np.random.default_rng(rng)
        out: dict[AutoViTSpec, None] = {}
        tries = 0
        limit = max_tries or 200 * n + 1000
        while len(out) < n and tries < limit:
            tries += 1
            spec = self.make(self._random_factors(rng))
            if spec is not None and self.in_params_range(spec):
                if replace or spec not in out:
                    out[spec] = None
        return list(out)

    def grid(self) -> list[AutoViTSpec]:
        """Every valid spec in the params range (refused above ``ENUMERATION_LIMIT`` specs: sample instead)."""
        from lutnas.spaces.registry import enumerable

        if not enumerable(self):
            raise InputError(f"space {self.name!r} has {self.size:,} specs before its params range: too many to enumerate; "
                             f"use --sample N, --modules, or narrow it with --values")
        names = list(self.values)
        out = []
        for combo in itertools.product(*(self.values[f] for f in names)):
            f = dict(zip(names, combo))
            if any(f[f"{x}{j}"] != self.values[f"{x}{j}"][0] for j in range(int(f["s"]) + 1, 5) for x in "tdhr"):
                continue  # unused stage-4 factors: count each spec once
            spec = self.make(f)
            if spec is not None and self.in_params_range(spec):
                out.append(spec)
        return sorted(set(out))

    def unique_blocks(self, specs: Iterable[AutoViTSpec] | None = None) -> list[BlockKey]:
        """Block keys the specs need; without specs, every key any spec of the product can use."""
        if specs is not None:
            return sorted({key for s in specs for key, _ in s.blocks()})
        v, keys = self.values, set()
        res = self.image // 2
        keys.update(ConvStemKey(self.image, c) for c in v["c"])
        prev = set(v["c"])
        for k in range(3):
            stride = STRIDES[k]
            for cin, w in itertools.product(prev, v[f"w{k + 1}"]):
                keys.add(MBConvKey(res, cin, w, stride, 1))
            res //= stride
            keys.update(MBConvKey(res, w, w, 1, 1) for w in v[f"w{k + 1}"] if max(v[f"n{k + 1}"]) > 1)
            prev = set(v[f"w{k + 1}"])
        last: set[tuple[int, int]] = set()
        for j in range(max(v["s"])):
            stride = 1 if j == 0 else 2
            for cin, w in itertools.product(prev, v[f"t{j + 1}"]):
                if j == 0 or w >= cin:
                    keys.add(MBConvKey(res, cin, w, stride, 1))
            res //= stride
            for w in v[f"t{j + 1}"]:
                keys.add(MViTKey(res, w, PATCH))
                keys.update(TLayerKey(res, PATCH, w, h, HEAD_DIM, r) for h in v[f"h{j + 1}"] for r in v[f"r{j + 1}"])
                if j + 1 in v["s"]:
                    last.add((res, w))
            prev = set(v[f"t{j + 1}"])
        keys.update(MBPoolKey(r, w, POOL_EXPAND, self.classes) for r, w in last)
        return sorted(keys)

    # -- AutoViT's module table -----------------------------------------------------------------------
    def module_keys(self) -> list[BlockKey]:
        """AutoViT's module lookup table as block keys, each at the resolution and input width of
        the first stage of this space where its width occurs (46 for ``autovit-xxs``)."""
        mods = SEED004_MODULES if self.supernet == "xxs" else {
            "conv": self.values["c"], "mbconv": tuple(sorted({w for k in (1, 2, 3) for w in self.values[f"w{k}"]})),
            "transformer": tuple(sorted({w for j in (1, 2, 3, 4) for w in self.values[f"t{j}"]})),
            "heads": tuple(sorted({h for j in (1, 2, 3, 4) for h in self.values[f"h{j}"]})),
            "ratios": tuple(sorted({r for j in (1, 2, 3, 4) for r in self.values[f"r{j}"]}))}
        keys: list[BlockKey] = [ConvStemKey(self.image, c) for c in mods["conv"]]
        keys += [self.module_of("mbconv", w) for w in mods["mbconv"]]
        keys += [self.module_of("transformer", w, h, r) for w in mods["transformer"] for h in mods["heads"]
                 for r in mods["ratios"]]
        return keys

    def _stage_res(self, kind: str, width: int) -> int:
        if kind == "mbconv":
            res = self.image // 2
            for k in range(3):
                res //= STRIDES[k]
                if width in SUPERNETS[self.supernet].mb_widths[k] or width in self.values[f"w{k + 1}"]:
                    return res
            return res
        res = self.image // 2 // 4
        for j in range(4):
            if j:
                res //= 2
            if width in SUPERNETS[self.supernet].t_widths[j] or width in self.values[f"t{j + 1}"]:
                return res
        return res

    def module_of(self, kind: str, width: int, heads: int | None = None, ratio: float | None = None) -> BlockKey:
        """The module key of a repeated layer of ``width`` (resolution ignored, as in AutoViT)."""
        res = self._stage_res(kind, width)
        if kind == "mbconv":
            return MBConvKey(res, width, width, 1, 1)
        return TLayerKey(res, PATCH, width, int(heads), HEAD_DIM, float(ratio))

    def module_counts(self, spec: AutoViTSpec) -> list[tuple[BlockKey, int]]:
        """A spec as AutoViT's modules: stem conv, repeated MBConv layers, transformer layers."""
        out: list[tuple[BlockKey, int]] = [(ConvStemKey(self.image, spec.stem), 1)]
        for w, n in zip(spec.mb_widths, spec.mb_depths):
            out.append((self.module_of("mbconv", w), n))
        for w, d, h, r in zip(spec.t_widths, spec.t_depths, spec.t_heads, spec.t_ratios):
            out.append((self.module_of("transformer", w, h, r), d))
        return out

    def removal_pair(self, key: BlockKey) -> tuple[AutoViTSpec, AutoViTSpec] | None:
        """``(host, host without one instance of key)`` for the removal method, or None when the
        key cannot be removed without changing tensor shapes (stem, strided layers, pool)."""
        v = self.values
        base = {f: vals[0] for f, vals in v.items()}
        base["s"] = max(v["s"])
        if isinstance(key, MBConvKey) and key.stride == 1 and key.cin == key.cout:
            for k in range(3):  # the MBConv stage that runs at the key's resolution
                if key.res == self.image // 2 // math.prod(STRIDES[:k + 1]):
                    base[f"w{k + 1}"], base[f"n{k + 1}"] = key.cout, 2
                    return self._pair(base, f"n{k + 1}")
        if isinstance(key, TLayerKey):
            for j in range(4):
                res = self.image // 2 // 4 // (2 ** j)
                if res == key.res:
                    base[f"t{j + 1}"], base[f"h{j + 1}"], base[f"r{j + 1}"] = key.dim, key.heads, key.mlp_ratio
                    base[f"d{j + 1}"] = 2
                    for i in range(4):  # keep widths non-decreasing around the chosen stage
                        if i < j:
                            base[f"t{i + 1}"] = min(base[f"t{i + 1}"], key.dim)
                        elif i > j:
                            base[f"t{i + 1}"] = max(base[f"t{i + 1}"], key.dim)
                    base["s"] = max(base["s"], j + 1)
                    return self._pair(base, f"d{j + 1}")
        return None

    def _pair(self, factors: dict[str, Any], depth: str) -> tuple[AutoViTSpec, AutoViTSpec] | None:
        host = self.make(factors)
        reduced = self.make({**factors, depth: factors[depth] - 1})
        return (host, reduced) if host is not None and reduced is not None else None

    # -- moves for searches ------------------------------------------------------------------------------
    def _valid(self, factors: Mapping[str, Any]) -> AutoViTSpec | None:
        spec = self.make(factors)
        return spec if spec is not None and self.in_params_range(spec) else None

    def _fill(self, f: dict[str, Any]) -> dict[str, Any]:
        for j in range(1, 5):
            for x in "tdhr":
                if f.get(f"{x}{j}") is None:
                    f[f"{x}{j}"] = self.values[f"{x}{j}"][0]
        return f

    def neighbours(self, spec: AutoViTSpec) -> list[AutoViTSpec]:
        out = []
        cur = self._fill(spec.factors())
        for f in self.factors:
            vals = self.values[f]
            lower = [x for x in vals if x < cur[f]]
            upper = [x for x in vals if x > cur[f]]
            for x in ([max(lower)] if lower else []) + ([min(upper)] if upper else []):
                cand = self._valid({**cur, f: x})
                if cand is not None and cand != spec:
                    out.append(cand)
        return list(dict.fromkeys(out))

    def scale_up(self, spec: AutoViTSpec, factor: str) -> list[AutoViTSpec]:
        cur = self._fill(spec.factors())
        out = []
        for x in self.values[factor]:
            if x > cur[factor]:
                cand = self._valid({**cur, factor: x})
                if cand is not None and cand != spec:
                    out.append(cand)
        return out

    def mutate(self, spec: AutoViTSpec, rng: np.random.Generator | int | None = None, prob: float = 0.3,
               depth_prob: float | None = None) -> AutoViTSpec:
        """AutoViT's mutation: depth factors (stage count, stage depths) change with probability
        ``depth_prob`` (Pd), every other factor with ``prob`` (Pm). Always valid and in range."""
        rng = np.random.default_rng(rng)
        pd = prob if depth_prob is None else depth_prob
        for _ in range(200):
            f = self._fill(spec.factors())
            for name in self.factors:
                if len(self.values[name]) > 1 and rng.random() < (pd if name in self.depth_factors else prob):
                    f[name] = self.values[name][int(rng.integers(len(self.values[name])))]
            cand = self._valid(f)
            if cand is not None and cand != spec:
                return cand
        return spec

    def crossover(self, a: AutoViTSpec, b: AutoViTSpec, rng: np.random.Generator | int | None = None) -> AutoViTSpec:
        """Uniform crossover per factor; always valid and in range (else ``a``)."""
        rng = np.random.default_rng(rng)
        fa, fb = self._fill(a.factors()), self._fill(b.factors())
        for _ in range(100):
            cand = self._valid({f: (fa if rng.random() < 0.5 else fb)[f] for f in self.factors})
            if cand is not None:
                return cand
        return a


def autovit_spaces() -> list[AutoViTSpace]:
    """The three supernets of AutoViT as spaces."""
    return [AutoViTSpace(f"autovit-{sn}", sn, description=f"AutoViT's hybrid supernet {sn.upper()} ({desc}), 256×256")
            for sn, desc in (("xxs", "1.0–1.8 M params"), ("xs", "1.6–2.6 M params"), ("s", "4.0–7.2 M params"))]
