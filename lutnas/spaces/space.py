"""Search spaces: candidate values per factor, enumeration, sampling, mutation, crossover.

A :class:`ViTSpace` is the product of candidate values of the six factors of a
:class:`~lutnas.spaces.vit.ViTSpec`. Spaces are immutable; :meth:`ViTSpace.narrow` returns a new
one, which is how ``--values d=3,6`` and TOML files narrow a space without code.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.registry import Registry
from lutnas.spaces.blocks import BlockKey
from lutnas.spaces.vit import FACTORS, ViTSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ViTSpace:
    """Product space over the factors ``d, h, e, r, I, p`` of a ViT.

    Parameters
    ----------
    name : str
        Name recorded in LUT provenance (``vit-scaling``).
    values : mapping of factor -> sequence of numbers
        Candidate values of each factor, in increasing order after construction.
    description : str, default=""
    """

    spec_type = ViTSpec
    factors: tuple[str, ...] = FACTORS

    def __init__(self, name: str, values: Mapping[str, Sequence[float]], description: str = "") -> None:
        unknown = set(values) - set(FACTORS)
        if unknown:
            raise InputError(f"space {name!r}: unknown factor(s) {', '.join(sorted(unknown))}; factors are {', '.join(FACTORS)}")
        missing = [f for f in FACTORS if f not in values]
        if missing:
            raise InputError(f"space {name!r}: no values for {', '.join(missing)}")
        self.name = name
        self.description = description
        self.values: dict[str, tuple] = {}
        for f in FACTORS:
            vals = sorted({(float(v) if f == "r" else int(v)) for v in values[f]})
            if not vals:
                raise InputError(f"space {name!r}: factor {f!r} has no candidate values")
            if any(v <= 0 for v in vals):
                raise InputError(f"space {name!r}: factor {f!r} values must be positive; got {vals}")
            self.values[f] = tuple(vals)

    def __repr__(self) -> str:
        vals = "; ".join(f"{k}={','.join(_num(v) for v in vs)}" for k, vs in self.values.items())
        return f"ViTSpace({self.name!r}: {vals})"

    # -- description ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViTSpace:
        return cls(data["name"], data["values"], data.get("description", ""))

    @property
    def size(self) -> int:
        """Number of valid grid specs."""
        return len(self.grid())

    def narrow(self, values: Mapping[str, Sequence[float]]) -> ViTSpace:
        """A new space with the given factors' candidate values replaced.

        Values outside the original candidates are allowed (a user may explore off-grid), but
        every factor name must exist.
        """
        if not values:
            return self
        unknown = set(values) - set(FACTORS)
        if unknown:
            raise InputError(f"--values: unknown factor(s) {', '.join(sorted(unknown))}; factors of {self.name!r} are {', '.join(FACTORS)}")
        merged = {**self.values, **{k: tuple(v) for k, v in values.items()}}
        return ViTSpace(self.name, merged, self.description)

    # -- membership ----------------------------------------------------------------------------
    def contains(self, spec: ViTSpec) -> bool:
        return all(getattr(spec, f) in self.values[f] for f in FACTORS)

    def validate(self, spec: ViTSpec) -> ViTSpec:
        """Return ``spec`` if it lies on the grid, else raise :class:`InputError` naming the factor."""
        for f in FACTORS:
            if getattr(spec, f) not in self.values[f]:
                allowed = ", ".join(_num(v) for v in self.values[f])
                raise InputError(f"factor {f}={_num(getattr(spec, f))} is not in space {self.name!r} (allowed: {allowed})")
        return spec

    # -- enumeration and sampling ----------------------------------------------------------------
    def grid(self) -> list[ViTSpec]:
        """Every valid spec (image divisible by patch), in factor-product order."""
        cached = getattr(self, "_grid", None)
        if cached is None:
            cached = []
            for combo in itertools.product(*(self.values[f] for f in FACTORS)):
                vals = dict(zip(FACTORS, combo))
                if vals["I"] % vals["p"] == 0:
                    cached.append(ViTSpec(**vals))
            self._grid = cached
        return list(cached)

    def unique_blocks(self, specs: Iterable[ViTSpec] | None = None) -> list[BlockKey]:
        """Sorted unique block keys needed by ``specs`` (default: the whole grid)."""
        keys: set[BlockKey] = set()
        for spec in self.grid() if specs is None else specs:
            keys.update(k for k, _ in spec.blocks())
        return sorted(keys)

    def sample(self, n: int, rng: np.random.Generator | int | None = None, replace: bool = False) -> list[ViTSpec]:
        """``n`` specs drawn uniformly from the grid (without replacement unless asked, or n > size)."""
        rng = np.random.default_rng(rng)
        grid = self.grid()
        if n < 0:
            raise InputError(f"sample size must be >= 0; got {n}")
        replace = replace or n > len(grid)
        idx = rng.choice(len(grid), size=n, replace=replace)
        return [grid[i] for i in idx]

    def sample_continuous(self, n: int, rng: np.random.Generator | int | None = None) -> list[ViTSpec]:
        """``n`` off-grid specs: each factor uniform in [min, max] of its candidates.

        Integers for d, h, e, p; r rounded to 0.25; I rounded to a multiple of p (so e=60,
        I=171, p=19 can come out), as seed 000's random permutation uses.
        """
        rng = np.random.default_rng(rng)
        out = []
        lo = {f: min(v) for f, v in self.values.items()}
        hi = {f: max(v) for f, v in self.values.items()}
        for _ in range(n):
            d, h, e, p = (int(rng.integers(lo[f], hi[f] + 1)) for f in ("d", "h", "e", "p"))
            r = max(0.25, round(float(rng.uniform(lo["r"], hi["r"])) * 4) / 4)
            image = float(rng.uniform(lo["I"], hi["I"]))
            I = max(p, int(round(image / p)) * p)  # noqa: E741
            out.append(ViTSpec(d, h, e, r, I, p))
        return out

    # -- local moves for searches ----------------------------------------------------------------
    def neighbours(self, spec: ViTSpec) -> list[ViTSpec]:
        """Specs one candidate step away in one factor (down or up), valid ones only."""
        out = []
        for f in FACTORS:
            vals = self.values[f]
            cur = getattr(spec, f)
            lower = [v for v in vals if v < cur]
            upper = [v for v in vals if v > cur]
            for v in ([max(lower)] if lower else []) + ([min(upper)] if upper else []):
                cand = _try(spec, f, v)
                if cand is not None:
                    out.append(cand)
        return out

    def scale_up(self, spec: ViTSpec, factor: str) -> list[ViTSpec]:
        """Valid specs with ``factor`` increased to each larger candidate, in increasing order."""
        cur = getattr(spec, factor)
        out = []
        for v in self.values[factor]:
            if v > cur:
                cand = _try(spec, factor, v)
                if cand is not None:
                    out.append(cand)
        return out

    def mutate(self, spec: ViTSpec, rng: np.random.Generator | int | None = None, prob: float = 0.3) -> ViTSpec:
        """Each factor replaced with probability ``prob`` by another candidate; always valid.

        At least one factor changes when the space has more than one spec.
        """
        rng = np.random.default_rng(rng)
        for _ in range(100):
            vals = spec.factors()
            for f in FACTORS:
                if rng.random() < prob and len(self.values[f]) > 1:
                    vals[f] = self.values[f][int(rng.integers(len(self.values[f])))]
            if vals["I"] % vals["p"] == 0 and vals != spec.factors():
                return ViTSpec(**vals, classes=spec.classes)
        return spec

    def crossover(self, a: ViTSpec, b: ViTSpec, rng: np.random.Generator | int | None = None) -> ViTSpec:
        """Uniform crossover: each factor from ``a`` or ``b`` with probability 1/2; always valid."""
        rng = np.random.default_rng(rng)
        for _ in range(100):
            vals = {f: getattr(a if rng.random() < 0.5 else b, f) for f in FACTORS}
            if vals["I"] % vals["p"] == 0:
                return ViTSpec(**vals, classes=a.classes)
        return a


def _try(spec: ViTSpec, factor: str, value: float) -> ViTSpec | None:
    try:
        return spec.replace(**{factor: value})
    except InputError:
        return None


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else format(v, "g")


# -- registry ----------------------------------------------------------------------------------
#: every space: built-ins (registered below) and the entry-point group ``lutnas.spaces``
_SPACES: Registry[Any] = Registry("space", "lutnas.spaces")


def register_space(space: ViTSpace) -> ViTSpace:
    """Register a named space; refuses a duplicate name."""
    _SPACES.register(space.name, space)
    return space


register_space(ViTSpace(
    "vit-scaling",
    {"d": [3, 6, 12, 18, 24], "h": [2, 3, 6, 8, 12], "e": [32, 64, 96], "r": [2, 4, 8],
     "I": [128, 160, 224, 320], "p": [8, 16, 32]},
    "seed 000's 2,700-model ViT grid (Bello et al. extensive search)",
))
register_space(ViTSpace(
    "vit-mini",
    {"d": [2, 4], "h": [2, 3], "e": [32, 64], "r": [2, 4], "I": [64, 96], "p": [16, 32]},
    "64 small ViTs (52 unique blocks) for the demo and tests",
))


from lutnas.spaces.autovit import AutoViTSpace, register_autovit_spaces  # noqa: E402

register_autovit_spaces(register_space)


#: spaces with more specs than this are sampled, never enumerated (autovit-*: 6.9e8)
ENUMERATION_LIMIT = 200_000


def enumerable(space: Any) -> bool:
    """Whether ``space.grid()`` is cheap enough to call."""
    return space.size <= ENUMERATION_LIMIT


def spec_pool(space: Any, n: int = 5000, seed: int = 0) -> list[Any]:
    """Every spec of an enumerable space, else ``n`` sampled ones (for cheapest/fastest scans)."""
    return space.grid() if enumerable(space) else space.sample(n, seed)


def space_from_dict(data: Mapping[str, Any]) -> Any:
    """The space recorded in a table's provenance (ViT or AutoViT)."""
    if data.get("type") == "autovit":
        return AutoViTSpace.from_dict(data)
    return ViTSpace.from_dict(data)


def list_spaces() -> dict[str, ViTSpace]:
    return {name: space for name, space in _SPACES.items().items() if not isinstance(space, Exception)}


def get_space(name: str, values: Mapping[str, Sequence[float]] | None = None) -> ViTSpace:
    """A registered space by name, optionally narrowed by ``values``."""
    return _SPACES.get(name).narrow(values or {})


def parse_values(options: Iterable[str]) -> dict[str, list[float]]:
    """Parse repeatable ``NAME=V1,V2,...`` options (``d=3,6``) into a mapping."""
    out: dict[str, list[float]] = {}
    for opt in options:
        if "=" not in opt:
            raise InputError(f"--values {opt!r} is not NAME=V1,V2,...")
        name, raw = (s.strip() for s in opt.split("=", 1))
        if name in out:
            raise InputError(f"--values: factor {name!r} given twice")
        vals = []
        for tok in filter(None, (t.strip() for t in raw.split(","))):
            try:
                v = float(tok)
            except ValueError:
                raise InputError(f"--values {name}: {tok!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(f"--values {name}: {tok!r} is not finite")
            vals.append(int(v) if v.is_integer() else v)
        if not vals:
            raise InputError(f"--values {name}: no values given")
        out[name] = vals
    return out


def load_values_toml(path: str | Path) -> dict[str, list[float]]:
    """Read ``[values]`` (or top-level) ``NAME = [V1, V2]`` entries from a TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"values file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"values file {str(path)!r} is not valid TOML: {exc}") from None
    table = data.get("values", data)
    out: dict[str, list[float]] = {}
    for name, vals in table.items():
        if not isinstance(vals, list) or not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            raise InputError(f"values file {str(path)!r}: {name} must be a non-empty list of numbers")
        out[name] = vals
    return out
