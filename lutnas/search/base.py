"""The searcher plug-in API: ask/tell in the manner of Optuna and nevergrad.

Life of a search::

    searcher = get_searcher("evolutionary")(seed=0)
    searcher.setup(problem)                   # once; state travels in arguments afterwards
    while evaluations < budget:
        specs = searcher.ask(n)               # a batch of candidate specs (may be fewer; [] = done)
        results = problem.evaluate(specs)     # vectorised costs + objective
        searcher.tell(specs, results)         # bookkeeping, then the plug-in's _observe

Plug-ins subclass :class:`Searcher` and override ``_propose(n)``; ``_observe(specs, results)``
and ``setup_state()`` are optional. They are registered in :data:`BUILTIN` or through the
entry-point group ``lutnas.searchers`` (looked up on request).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, ClassVar

import numpy as np

from lutnas.errors import InputError
from lutnas.plugins import load_class
from lutnas.search.problem import Evaluation, Problem


class Searcher:
    """Base class: concrete ``ask``/``tell`` do the bookkeeping; plug-ins override ``_propose``.

    Parameters are keyword-only with defaults and stored as given (scikit-learn style);
    ``seed`` makes every run reproducible.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = {**self.default_params(), **params}
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise InputError(f"searcher {self.name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                             f"parameters: {', '.join(sorted(self.default_params())) or 'none'}")
        self.rng = np.random.default_rng(seed)
        self.problem: Problem | None = None
        self.history: list[tuple[Any, dict[str, float], bool, float]] = []
        self.n_asked = 0
        self.n_told = 0
        self.done = False

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {}

    def setup(self, problem: Problem) -> Searcher:
        self.problem = problem
        self.setup_state()
        return self

    def setup_state(self) -> None:
        """Hook: prepare state once the problem is known."""

    def ask(self, n: int) -> list[Any]:
        if self.problem is None:
            raise RuntimeError("call setup(problem) before ask()")
        if self.done:
            return []
        specs = list(self._propose(n))
        self.n_asked += len(specs)
        if not specs:
            self.done = True
        return specs

    def tell(self, specs: list[Any], results: Evaluation) -> None:
        if len(specs) != len(results.specs):
            raise ValueError(f"told {len(specs)} specs but {len(results.specs)} results")
        scores = np.where(np.isfinite(results.score), results.score, -np.inf)
        for i, spec in enumerate(specs):
            self.history.append((spec, {k: float(v[i]) for k, v in results.costs.items()}, bool(results.feasible[i]),
                                 float(scores[i])))
        self.n_told += len(specs)
        self._observe(specs, results)

    def _propose(self, n: int) -> list[Any]:
        raise NotImplementedError(f"searcher {type(self).__name__} must implement _propose(n)")

    def _observe(self, specs: list[Any], results: Evaluation) -> None:
        """Hook: learn from a told batch (default: nothing)."""

    # helpers for plug-ins ---------------------------------------------------------------------
    def feasible_best(self, k: int = 1) -> list[tuple[Any, float]]:
        seen: dict[Any, float] = {}
        for spec, _, ok, score in self.history:
            if ok and np.isfinite(score):
                seen[spec] = score
        return sorted(seen.items(), key=lambda kv: (-kv[1], kv[0].canonical()))[:k]


BUILTIN: dict[str, str] = {
    "exhaustive": "lutnas.search.algorithms.simple:Exhaustive",
    "random": "lutnas.search.algorithms.simple:RandomSearch",
    "greedy": "lutnas.search.algorithms.greedy:Greedy",
    "random-permutation": "lutnas.search.algorithms.greedy:RandomPermutation",
    "evolutionary": "lutnas.search.algorithms.evolutionary:Evolutionary",
    "coarse-to-fine": "lutnas.search.algorithms.evolutionary:CoarseToFine",
    "asvit-scaling": "lutnas.search.algorithms.asvit_scaling:AsViTScaling",
}


def _load(target: str) -> type[Searcher]:
    return load_class(target, Searcher)


def searcher_names() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in importlib.metadata.entry_points(group="lutnas.searchers"))
    return sorted(names)


def get_searcher(name: str) -> type[Searcher]:
    """The searcher class registered as ``name`` (built-in or entry point); refuses unknown names."""
    if name in BUILTIN:
        return _load(BUILTIN[name])
    for ep in importlib.metadata.entry_points(group="lutnas.searchers"):
        if ep.name == name:
            try:
                return _load(ep.value)
            except Exception as exc:
                raise InputError(f"searcher {name!r} ({ep.value}) could not be loaded: {exc}") from None
    raise InputError(f"searcher {name!r} is not known; available: {', '.join(searcher_names())}")
