"""The three abstractions every search space implements: ``BlockKey``, ``Spec`` and ``Space``.

- A **block key** is a frozen dataclass naming one measurable unit (``encoder(tokens=197,...)``):
  its fields are the columns a LUT row stores, and it carries its own analytic costs (multiply-adds
  by operator category, parameters, weight bytes, activation elements).
- A **spec** is one architecture: a frozen dataclass that decomposes into ``(block key, count)``
  pairs in execution order; its costs are the sums over those blocks.
- A **space** is a set of specs with candidate values per factor, sampling and the moves searches
  use. What a space can do beyond that is *declared* in :attr:`Space.capabilities`, never probed.

A user's own space subclasses these (often through :class:`lutnas.spaces.factor_space.FactorSpace`)
and is registered through the entry-point group ``lutnas.spaces``; see ``docs/extending.md``.
No torch here.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from lutnas.categories import MLP, MSA_MATMUL, OTHERS
from lutnas.errors import InputError

#: capabilities a space may declare (``Space.capabilities``)
GRID = "grid"                  #: ``grid()`` enumerates the space (when not too large: ``enumerable``)
CONTINUOUS = "continuous"      #: ``sample_continuous`` / ``perturb`` draw off-grid specs
MODULE_TABLE = "module_table"  #: AutoViT's module table: ``module_keys()``, ``module_counts(spec)``
REMOVAL = "removal"            #: ``removal_pair(key)`` for the removal build method
SCALE_UP = "scale_up"          #: ``scale_up(spec, factor)`` for greedy compound scaling
CAPABILITIES = frozenset({GRID, CONTINUOUS, MODULE_TABLE, REMOVAL, SCALE_UP})


def fmt_number(value: Any) -> str:
    """Compact number format: 4 not 4.0, 1.5 stays 1.5."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, "g")
    return str(value)


@dataclasses.dataclass(frozen=True)
class BlockKey:
    """Base of every block key: a frozen dataclass of positive numbers with a ``kind`` name.

    Subclasses declare their fields (``int`` or ``float``), register with
    :func:`lutnas.spaces.blocks.block_kind`, and implement :meth:`macs_by_category` and
    :meth:`params`. ``builders`` names the module that registers their torch builders
    (imported only when a block is built).
    """

    kind: ClassVar[str] = ""
    builders: ClassVar[str] = ""

    # -- identity ----------------------------------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        """Key fields in declaration order (the columns a LUT row stores)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def field_types(cls) -> dict[str, type]:
        """Field name -> ``int`` or ``float`` (how a LUT column stores it)."""
        return {f.name: float if f.type in ("float", float) else int for f in dataclasses.fields(cls)}

    def canonical(self) -> str:
        """One canonical string, e.g. ``head(dim=192,classes=1000)``."""
        inner = ",".join(f"{k}={fmt_number(v)}" for k, v in self.fields().items())
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

    # -- analytic costs (batch 1) --------------------------------------------------------------------
    def macs_by_category(self) -> dict[str, int]:
        """Multiply-adds per operator category (a multiply-add counted once)."""
        raise InputError(f"no analytic cost for block kind {self.kind!r}")

    def params(self) -> int:
        """Trainable parameters, exactly those of the block's torch module."""
        raise InputError(f"no parameter count for block kind {self.kind!r}")

    def macs(self) -> int:
        """Total multiply-adds."""
        return sum(self.macs_by_category().values())

    def weight_bytes(self) -> int:
        """Bytes of float32 parameters (what a full model streams from memory)."""
        return 4 * self.params()

    def activations(self) -> float:
        """Elements of the block's main activation tensor (the regressor's size feature)."""
        raise InputError(f"block kind {self.kind!r} does not describe its activations")

    def attention_elements(self) -> float:
        """Elements of attention-score matrices (0 for blocks without attention)."""
        return 0.0

    def input_elements(self) -> float:
        """Elements of the block's input (default: its activations)."""
        return self.activations()

    # -- vectorised twins (kinds of spaces declaring ``Spec.vectorised``) -----------------------------
    @classmethod
    def macs_array(cls, fields: Mapping[str, np.ndarray]) -> np.ndarray:
        """Total multiply-adds of many keys given arrays of their fields."""
        raise InputError(f"block kind {cls.kind!r} has no vectorised cost")

    @classmethod
    def params_array(cls, fields: Mapping[str, np.ndarray]) -> np.ndarray:
        """Parameters of many keys given arrays of their fields."""
        raise InputError(f"block kind {cls.kind!r} has no vectorised parameter count")


#: columns of many specs: factor name -> array of shape (n_specs,)
Columns = dict[str, np.ndarray]


class Spec(abc.ABC):
    """Base of every architecture spec (subclasses are frozen dataclasses).

    ``family`` names the space type (``vit``, ``autovit``, a plug-in's own); a spec string
    ``family:...`` is parsed by that family's space, and ``lutnas.models`` builds its full model
    with the model builder registered for the family (default: its blocks in sequence).
    ``vectorised`` declares :meth:`columns` / :meth:`block_columns`, which let tables and costs
    handle thousands of specs without a Python loop.
    """

    family: ClassVar[str] = ""
    builders: ClassVar[str] = ""
    vectorised: ClassVar[bool] = False

    @abc.abstractmethod
    def blocks(self) -> list[tuple[BlockKey, int]]:
        """``(block key, count)`` in execution order; latency = Σ count × LUT[key]."""

    @abc.abstractmethod
    def canonical(self) -> str:
        """The one string :func:`lutnas.spaces.parse_spec` turns back into this spec."""

    @abc.abstractmethod
    def factors(self) -> dict[str, Any]:
        """The flat factor view searchers mutate (factor name -> value)."""

    def __str__(self) -> str:
        return self.canonical()

    def replace(self, **changes: Any) -> Spec:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def shape(self) -> dict[str, Any]:
        """Derived sizes worth printing (``dim``, ``tokens`` for a ViT); empty by default."""
        return {}

    # -- analytic costs: sums over the blocks ----------------------------------------------------------
    def macs_by_category(self) -> dict[str, int]:
        """Multiply-adds per operator category for batch 1."""
        totals = {MLP: 0, MSA_MATMUL: 0, OTHERS: 0}
        for key, count in self.blocks():
            for cat, macs in key.macs_by_category().items():
                totals[cat] = totals.get(cat, 0) + macs * count
        return totals

    def macs(self) -> int:
        """Total multiply-adds for batch 1."""
        return sum(self.macs_by_category().values())

    @property
    def gflops(self) -> float:
        """GFLOPs as the papers count them (multiply-add once)."""
        return self.macs() / 1e9

    def params(self) -> int:
        """Trainable parameters, exactly those of :func:`lutnas.models.build_model`."""
        return sum(key.params() * count for key, count in self.blocks())

    # -- vectorised view (``vectorised`` specs only) -----------------------------------------------------
    @classmethod
    def columns(cls, specs: Sequence[Spec] | Mapping[str, Any]) -> Columns:
        """Factor columns of many specs (or a mapping / DataFrame holding them)."""
        raise InputError(f"{cls.__name__} specs have no vectorised columns")

    @classmethod
    def block_columns(cls, cols: Columns) -> list[tuple[type[BlockKey], Columns, np.ndarray]]:
        """Vectorised :meth:`blocks`: ``[(key class, {field: array}, counts), ...]``."""
        raise InputError(f"{cls.__name__} specs have no vectorised blocks")

    @classmethod
    def macs_columns(cls, cols: Columns) -> np.ndarray:
        """Multiply-adds of many specs at once; equals :meth:`macs`."""
        return sum(kind.macs_array(f) * counts for kind, f, counts in cls.block_columns(cols))

    @classmethod
    def params_columns(cls, cols: Columns) -> np.ndarray:
        """Parameters of many specs at once; equals :meth:`params`."""
        return sum(kind.params_array(f) * counts for kind, f, counts in cls.block_columns(cols))


class Space(abc.ABC):
    """Base of every search space: named, immutable, with candidate values per factor.

    Subclasses set ``spec_type`` and ``capabilities`` (a subset of :data:`CAPABILITIES`) and
    implement the abstract methods; a command that needs a capability the space lacks gets one
    :class:`InputError` naming the space (:meth:`require`).
    """

    spec_type: ClassVar[type[Spec]]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: spec strings of this space without a ``family:`` prefix (the ViT space's ``d=..,h=..``)
    default_family: ClassVar[bool] = False
    #: named specs (``deit-tiny``) that ``parse_spec`` knows
    named_specs: ClassVar[Mapping[str, Spec]] = {}

    name: str
    description: str
    factors: tuple[str, ...]
    values: dict[str, tuple]

    # -- capabilities -----------------------------------------------------------------------------------
    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str, what: str) -> None:
        """Raise :class:`InputError` naming the space when it lacks ``capability`` (needed by ``what``)."""
        if capability not in self.capabilities:
            have = ", ".join(sorted(self.capabilities)) or "none"
            raise InputError(f"space {self.name!r} does not support {what}: it lacks the capability {capability!r} "
                             f"(it declares: {have})")

    # -- description ------------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.spec_type.family

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """What a table's provenance records; ``from_dict`` rebuilds the space from it."""

    @classmethod
    @abc.abstractmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space: ...

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Number of specs (before any filter the space applies while sampling)."""

    @abc.abstractmethod
    def narrow(self, values: Mapping[str, Sequence[float]]) -> Space:
        """A new space with some factors' candidate values replaced (``--values``)."""

    # -- specs ----------------------------------------------------------------------------------------------
    @classmethod
    def parse_spec(cls, text: str) -> Spec:
        """One spec of this space's family from its canonical string."""
        raise InputError(f"{cls.__name__} cannot parse spec strings")

    @abc.abstractmethod
    def contains(self, spec: Spec) -> bool: ...

    @abc.abstractmethod
    def validate(self, spec: Spec) -> Spec:
        """Return ``spec`` if it lies in the space, else raise :class:`InputError` naming the factor."""

    def grid(self) -> list[Spec]:
        """Every spec (``grid`` capability)."""
        self.require(GRID, "enumeration")
        raise NotImplementedError

    def unique_blocks(self, specs: Iterable[Spec] | None = None) -> list[BlockKey]:
        """Sorted unique block keys ``specs`` need (default: every spec of the grid)."""
        keys: set[BlockKey] = set()
        for spec in self.grid() if specs is None else specs:
            keys.update(k for k, _ in spec.blocks())
        return sorted(keys)

    @abc.abstractmethod
    def sample(self, n: int, rng: np.random.Generator | int | None = None, replace: bool = False) -> list[Spec]: ...

    # -- moves for searches -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def neighbours(self, spec: Spec) -> list[Spec]:
        """Specs one candidate step away in one factor."""

    @abc.abstractmethod
    def mutate(self, spec: Spec, rng: np.random.Generator | int | None = None, prob: float = 0.3,
               depth_prob: float | None = None) -> Spec:
        """A random change of ``spec`` (depth factors with ``depth_prob`` when given)."""

    @abc.abstractmethod
    def crossover(self, a: Spec, b: Spec, rng: np.random.Generator | int | None = None) -> Spec: ...

    def scale_up(self, spec: Spec, factor: str) -> list[Spec]:
        """Specs with ``factor`` raised to each larger candidate (``scale_up`` capability)."""
        self.require(SCALE_UP, "compound scaling")
        raise NotImplementedError

    def perturb(self, spec: Spec, rng: np.random.Generator, spread: float) -> Spec | None:
        """An off-grid spec near ``spec`` (``continuous``); without it, an on-grid mutation."""
        return self.mutate(spec, rng, 0.5)

    def sample_continuous(self, n: int, rng: np.random.Generator | int | None = None) -> list[Spec]:
        """Off-grid specs (``continuous`` capability); without it, on-grid samples."""
        return self.sample(n, rng)

    # -- AutoViT's extras (declared by capability) ----------------------------------------------------------------
    def module_keys(self) -> list[BlockKey]:
        self.require(MODULE_TABLE, "a module table (--modules)")
        raise NotImplementedError

    def module_counts(self, spec: Spec) -> list[tuple[BlockKey, int]]:
        self.require(MODULE_TABLE, "a module table")
        raise NotImplementedError

    def removal_pair(self, key: BlockKey) -> tuple[Spec, Spec] | None:
        self.require(REMOVAL, "the removal method (--method removal)")
        raise NotImplementedError
