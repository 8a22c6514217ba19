"""The searcher plug-in API: ask/tell in the manner of Optuna and nevergrad.

Life of a search::

    searcher = get_searcher("evolutionary")(seed=0, population=100)   # parameters checked here
    run = searcher.start(problem)            # a fresh SearchRun: problem, history, RNG, scratch
    while evaluations < budget:
        specs = searcher.ask(run, n)         # a batch of candidate specs (may be fewer; [] = done)
        results = problem.evaluate(specs)    # vectorised costs + objective
        searcher.tell(run, specs, results)   # bookkeeping into run.history, then _observe

The searcher holds only its parameters (constructor arguments, never rewritten) and its seed;
everything a search learns lives in the :class:`SearchRun` handed to every call (Optuna's
sampler shape), so one instance can run many searches. Plug-ins subclass :class:`Searcher` and
implement ``_propose(run, n)``; ``_start(run)``, ``_observe(run, specs, results)`` and
``report(run)`` are optional. They declare ``defaults`` and ``_parameter_constraints``
(:mod:`lutnas.params`) and are found in :data:`SEARCHERS` (built-ins plus the entry-point
group ``lutnas.searchers``).
"""

from __future__ import annotations

import abc
from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from lutnas.params import Interval, Parametrized, validate_params
from lutnas.registry import Registry
from lutnas.search.problem import Evaluation, Problem


class SearchRun:
    """The state of one search, handed to every :class:`Searcher` call.

    Attributes
    ----------
    problem : Problem
    history : list of (spec, costs, feasible, score)
        Every told result, in order.
    rng : numpy.random.Generator
        Seeded from the searcher's ``seed``; one stream per run.
    done : bool
        The searcher has nothing more to propose.

    Algorithms keep their own progress (queues, current spec, relaxed window...) as further
    attributes, set in ``Searcher._start``.
    """

    def __init__(self, problem: Problem, seed: int) -> None:
        self.problem = problem
        self.history: list[tuple[Any, dict[str, float], bool, float]] = []
        self.rng = np.random.default_rng(seed)
        self.n_asked = 0
        self.n_told = 0
        self.done = False
        self.pending: list[Any] | None = None  # stepwise searchers: this step's candidates
        self.sent = 0

    def send_pending(self, n: int) -> list[Any]:
        """The next ``n`` of ``self.pending`` (a step's candidates handed out over several asks)."""
        out = self.pending[self.sent:self.sent + n]
        self.sent += len(out)
        return out

    def pending_answered(self) -> bool:
        """Whether every candidate of the current step has been handed out (and so told)."""
        return self.pending is not None and self.sent >= len(self.pending)

    def feasible_best(self, k: int = 1) -> list[tuple[Any, float]]:
        """The ``k`` best feasible specs told so far, ``(spec, score)``, best first."""
        seen: dict[Any, float] = {}
        for spec, _, ok, score in self.history:
            if ok and np.isfinite(score):
                seen[spec] = score
        if len(seen) > k:  # only specs scoring at least the k-th best can be among the k (ties included)
            cut = sorted(seen.values(), reverse=True)[k - 1] if k > 0 else np.inf
            seen = {s: v for s, v in seen.items() if v >= cut}
        return sorted(seen.items(), key=lambda kv: (-kv[1], kv[0].canonical()))[:k]


class Searcher(Parametrized, abc.ABC):
    """Base class: concrete ``start``/``ask``/``tell`` do the bookkeeping; plug-ins implement ``_propose``.

    Parameters
    ----------
    seed : int, default=0
        Makes every run reproducible (each run draws from a fresh generator seeded with it).
    **params
        The plug-in's own parameters (``defaults``), checked against ``_parameter_constraints``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, seed: int = 0, **params: Any) -> None:
        validate_params(type(self).__name__, {"seed": [Interval(Integral, 0, 2**63 - 1)]}, {"seed": seed})
        self.seed = seed
        self._store_params(params)
        self.last_run_: SearchRun | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed!r}, {', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def start(self, problem: Problem) -> SearchRun:
        """A fresh run of this searcher on ``problem`` (the instance itself is not changed)."""
        run = SearchRun(problem, self.seed)
        self._start(run)
        self.last_run_ = run
        return run

    def ask(self, run: SearchRun, n: int) -> list[Any]:
        if run.done:
            return []
        specs = list(self._propose(run, n))
        run.n_asked += len(specs)
        if not specs:
            run.done = True
        return specs

    def tell(self, run: SearchRun, specs: list[Any], results: Evaluation) -> None:
        if len(specs) != len(results.specs):
            raise ValueError(f"told {len(specs)} specs but {len(results.specs)} results")
        scores = np.where(np.isfinite(results.score), results.score, -np.inf)
        for i, spec in enumerate(specs):
            run.history.append((spec, {k: float(v[i]) for k, v in results.costs.items()}, bool(results.feasible[i]),
                                float(scores[i])))
        run.n_told += len(specs)
        self._observe(run, specs, results)

    def _start(self, run: SearchRun) -> None:
        """Hook: prepare the run's state once the problem is known."""

    @abc.abstractmethod
    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        """Up to ``n`` new specs to evaluate ([] when done)."""

    def _observe(self, run: SearchRun, specs: list[Any], results: Evaluation) -> None:
        """Hook: learn from a told batch (default: nothing)."""

    def report(self, run: SearchRun) -> dict[str, Any]:
        """Hook: what the run found beyond the best spec (a greedy path, a family...), JSON-able."""
        return {}


#: every searcher: built-ins and the entry-point group ``lutnas.searchers``
SEARCHERS: Registry[type[Searcher]] = Registry("searcher", "lutnas.searchers", {
    "exhaustive": "lutnas.search.algorithms.simple:Exhaustive",
    "random": "lutnas.search.algorithms.simple:RandomSearch",
    "greedy": "lutnas.search.algorithms.greedy:Greedy",
    "random-permutation": "lutnas.search.algorithms.greedy:RandomPermutation",
    "evolutionary": "lutnas.search.algorithms.evolutionary:Evolutionary",
    "coarse-to-fine": "lutnas.search.algorithms.evolutionary:CoarseToFine",
    "asvit-scaling": "lutnas.search.algorithms.asvit_scaling:AsViTScaling",
}, base=Searcher)


def searcher_names() -> list[str]:
    return SEARCHERS.names()


def get_searcher(name: str) -> type[Searcher]:
    """The searcher class registered as ``name`` (built-in or entry point); refuses unknown names."""
    return SEARCHERS.get(name)
