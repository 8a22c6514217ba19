"""``FactorSpace``: the product of candidate values of named factors, for any spec type whose
fields are those factors (the ViT scaling space, a plug-in's own). Subclasses set ``spec_type``,
``factors`` and the factor casts; invalid combinations are the ones ``spec_type`` refuses.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.spaces.base import GRID, SCALE_UP, Space, Spec, fmt_number


class FactorSpace(Space):
    """Product space over ``factors``; a spec is valid when ``spec_type(**factors)`` accepts it.

    Parameters
    ----------
    name : str
        Name recorded in LUT provenance.
    values : mapping of factor -> sequence of numbers
        Candidate values of each factor (positive), sorted after construction.
    description : str, default=""
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({GRID, SCALE_UP})
    factors: ClassVar[tuple[str, ...]] = ()
    #: factors holding floats (the rest are integers)
    float_factors: ClassVar[frozenset[str]] = frozenset()
    #: factors a mutation changes with ``depth_prob`` when a searcher gives one (AutoViT's Pd)
    depth_factors: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, values: Mapping[str, Sequence[float]], description: str = "") -> None:
        unknown = set(values) - set(self.factors)
        if unknown:
            raise InputError(f"space {name!r}: unknown factor(s) {', '.join(sorted(unknown))}; factors are {', '.join(self.factors)}")
        missing = [f for f in self.factors if f not in values]
        if missing:
            raise InputError(f"space {name!r}: no values for {', '.join(missing)}")
        self.name = name
        self.description = description
        self.values: dict[str, tuple] = {}
        for f in self.factors:
            vals = sorted({self._cast(f, v) for v in values[f]})
            if not vals:
                raise InputError(f"space {name!r}: factor {f!r} has no candidate values")
            if any(v <= 0 for v in vals):
                raise InputError(f"space {name!r}: factor {f!r} values must be positive; got {vals}")
            self.values[f] = tuple(vals)

    def _cast(self, factor: str, value: float) -> float:
        return float(value) if factor in self.float_factors else int(value)

    def __repr__(self) -> str:
        vals = "; ".join(f"{k}={','.join(fmt_number(v) for v in vs)}" for k, vs in self.values.items())
        return f"{type(self).__name__}({self.name!r}: {vals})"

    # -- description ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.family, "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FactorSpace:
        return cls(data["name"], data["values"], data.get("description", ""))

    @property
    def size(self) -> int:
        """Number of valid grid specs."""
        return len(self.grid())

    def narrow(self, values: Mapping[str, Sequence[float]]) -> FactorSpace:
        """A new space with the given factors' candidate values replaced.

        Values outside the original candidates are allowed (a user may explore off-grid), but
        every factor name must exist.
        """
        if not values:
            return self
        unknown = set(values) - set(self.factors)
        if unknown:
            raise InputError(f"--values: unknown factor(s) {', '.join(sorted(unknown))}; factors of {self.name!r} are "
                             f"{', '.join(self.factors)}")
        merged = {**self.values, **{k: tuple(v) for k, v in values.items()}}
        return type(self)(self.name, merged, self.description)

    # -- membership ------------------------------------------------------------------------------------
    def make(self, factors: Mapping[str, Any], like: Spec | None = None) -> Spec | None:
        """The spec of these factor values (other fields from ``like``), or None when invalid."""
        try:
            return like.replace(**factors) if like is not None else self.spec_type(**factors)
        except InputError:
            return None

    def contains(self, spec: Spec) -> bool:
        if not isinstance(spec, self.spec_type):
            return False
        f = spec.factors()
        return all(f[x] in self.values[x] for x in self.factors)

    def validate(self, spec: Spec) -> Spec:
        """Return ``spec`` if it lies on the grid, else raise :class:`InputError` naming the factor."""
        f = spec.factors()
        for x in self.factors:
            if f[x] not in self.values[x]:
                allowed = ", ".join(fmt_number(v) for v in self.values[x])
                raise InputError(f"factor {x}={fmt_number(f[x])} is not in space {self.name!r} (allowed: {allowed})")
        return spec

    # -- enumeration and sampling ------------------------------------------------------------------------
    def grid(self) -> list[Spec]:
        """Every valid spec, in factor-product order."""
        cached = self.__dict__.get("_grid")
        if cached is None:
            cached = []
            for combo in itertools.product(*(self.values[f] for f in self.factors)):
                spec = self.make(dict(zip(self.factors, combo)))
                if spec is not None:
                    cached.append(spec)
            self._grid = cached
        return list(cached)

    def sample(self, n: int, rng: np.random.Generator | int | None = None, replace: bool = False) -> list[Spec]:
        """``n`` specs drawn uniformly from the grid (without replacement unless asked, or n > size)."""
        rng = np.random.default_rng(rng)
        grid = self.grid()
        if n < 0:
            raise InputError(f"sample size must be >= 0; got {n}")
        replace = replace or n > len(grid)
        idx = rng.choice(len(grid), size=n, replace=replace)
        return [grid[i] for i in idx]

    # -- local moves for searches ----------------------------------------------------------------------------
    def neighbours(self, spec: Spec) -> list[Spec]:
        """Specs one candidate step away in one factor (down or up), valid ones only."""
        out = []
        cur = spec.factors()
        for f in self.factors:
            vals = self.values[f]
            lower = [v for v in vals if v < cur[f]]
            upper = [v for v in vals if v > cur[f]]
            for v in ([max(lower)] if lower else []) + ([min(upper)] if upper else []):
                cand = self.make({f: v}, like=spec)
                if cand is not None:
                    out.append(cand)
        return out

    def scale_up(self, spec: Spec, factor: str) -> list[Spec]:
        """Valid specs with ``factor`` increased to each larger candidate, in increasing order."""
        cur = spec.factors()[factor]
        out = []
        for v in self.values[factor]:
            if v > cur:
                cand = self.make({factor: v}, like=spec)
                if cand is not None:
                    out.append(cand)
        return out

    def mutate(self, spec: Spec, rng: np.random.Generator | int | None = None, prob: float = 0.3,
               depth_prob: float | None = None) -> Spec:
        """Each factor replaced with probability ``prob`` by another candidate (``depth_factors`` with
        ``depth_prob`` when given); always valid, at least one factor changed when the space has
        more than one spec."""
        rng = np.random.default_rng(rng)
        now = spec.factors()
        k = len(self.factors)
        probs = self._change_probs(prob, depth_prob)
        for _ in range(100):
            vals = dict(now)
            u = rng.random(2 * k)  # one draw per attempt: whether each factor changes, and to what
            for j, f in enumerate(self.factors):
                if u[j] < probs[j]:
                    options = self.values[f]
                    vals[f] = options[int(u[k + j] * len(options))]
            if vals != now:
                cand = self.make(vals, like=spec)
                if cand is not None:
                    return cand
        return spec

    def crossover(self, a: Spec, b: Spec, rng: np.random.Generator | int | None = None) -> Spec:
        """Uniform crossover: each factor from ``a`` or ``b`` with probability 1/2; always valid."""
        rng = np.random.default_rng(rng)
        fa, fb = a.factors(), b.factors()
        for _ in range(100):
            u = rng.random(len(self.factors))
            vals = {f: (fa if x < 0.5 else fb)[f] for f, x in zip(self.factors, u)}
            cand = self.make(vals, like=a)
            if cand is not None:
                return cand
        return a

    def _change_probs(self, prob: float, depth_prob: float | None) -> np.ndarray:
        """Per factor: the probability a mutation redraws it (0 for a factor with one candidate)."""
        probs = np.array([depth_prob if depth_prob is not None and f in self.depth_factors else prob
                          for f in self.factors], float)
        probs[np.array(self._counts) < 2] = 0.0
        return probs

    # -- index rows: many specs as integer arrays, for searches that draw thousands of candidates ---------
    @property
    def _counts(self) -> list[int]:
        """Candidate values per factor, in factor order."""
        return [len(self.values[f]) for f in self.factors]

    @property
    def indexable(self) -> bool:
        """Whether every grid point has an int64 code (the product of candidate counts < 2**62)."""
        return math.prod(self._counts) < 2**62

    def encode(self, specs: Sequence[Spec]) -> np.ndarray:
        """``(n, k)`` int64: each spec's index into each factor's candidates (``k = len(factors)``),
        -1 where a value is off the grid."""
        lookup = [{v: i for i, v in enumerate(self.values[f])} for f in self.factors]
        out = np.empty((len(specs), len(self.factors)), np.int64)
        for i, spec in enumerate(specs):
            now = spec.factors()
            out[i] = [lookup[j].get(now[f], -1) for j, f in enumerate(self.factors)]
        return out

    def codes(self, rows: np.ndarray) -> np.ndarray:
        """One int64 per index row (mixed radix over the candidate counts), -1 for a row with an off-grid value."""
        sizes = self._counts
        strides = np.array([math.prod(sizes[j + 1:]) for j in range(len(sizes))], np.int64)
        out = rows @ strides
        out[(rows < 0).any(axis=1)] = -1
        return out

    def from_codes(self, codes: np.ndarray) -> list[Spec | None]:
        """The spec of each code (None where the combination is invalid or off the grid), memoised."""
        memo: dict[int, Spec | None] = self.__dict__.setdefault("_by_code", {})
        sizes = self._counts
        out = []
        for code in codes.tolist():
            spec = memo.get(code, memo)
            if spec is memo:
                spec, rest = None, code
                if code >= 0:
                    idx = []
                    for size in reversed(sizes):
                        rest, i = divmod(rest, size)
                        idx.append(i)
                    spec = self.make({f: self.values[f][i] for f, i in zip(self.factors, reversed(idx))})
                memo[code] = spec
            out.append(spec)
        return out

    def _valid_rows(self, rows: np.ndarray) -> np.ndarray:
        codes = self.codes(rows)
        uniq, inverse = np.unique(codes, return_inverse=True)
        ok = np.array([s is not None for s in self.from_codes(uniq)], bool)
        return ok[inverse.reshape(-1)]

    def mutate_rows(self, rows: np.ndarray, rng: np.random.Generator, prob: float = 0.3,
                    depth_prob: float | None = None) -> np.ndarray:
        """:meth:`mutate` of many index rows at once: ``(n, k)`` in, ``(n, k)`` out, every row valid and
        changed (a row that cannot change in 100 draws is returned as it was)."""
        probs = self._change_probs(prob, depth_prob)
        sizes = np.array(self._counts)
        out = rows.copy()
        todo = np.arange(len(rows))
        for _ in range(100 if (probs > 0).any() else 0):
            if not todo.size:
                break
            u = rng.random((todo.size, 2 * len(sizes)))
            new = np.where(u[:, :len(sizes)] < probs, (u[:, len(sizes):] * sizes).astype(np.int64), rows[todo])
            ok = (new != rows[todo]).any(axis=1) & self._valid_rows(new)
            out[todo[ok]] = new[ok]
            todo = todo[~ok]
        return out

    def crossover_rows(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """:meth:`crossover` of many pairs of index rows: each factor from ``a`` or ``b`` with probability
        1/2, every row valid (``a``'s row where 100 draws found no valid mix)."""
        out = a.copy()
        todo = np.arange(len(a))
        for _ in range(100):
            if not todo.size:
                break
            new = np.where(rng.random(a[todo].shape) < 0.5, a[todo], b[todo])
            ok = self._valid_rows(new)
            out[todo[ok]] = new[ok]
            todo = todo[~ok]
        return out
