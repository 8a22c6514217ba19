"""Latency-constrained search over saved tables: the ask/tell plug-in API, algorithms, objectives,
constraints. ``run_search`` and its history (pandas, pyarrow) load on first use, so listing the
searchers (``lutnas search --help``) stays light."""

from lutnas.search.base import Searcher, get_searcher, searcher_names
from lutnas.search.objectives import get_objective
from lutnas.search.problem import Constraint, Evaluation, LatencyCost, Problem, gflops_cost, params_cost

_LAZY = {"SearchResult", "fastest_spec", "run_search"}


def __getattr__(name: str):
    if name in _LAZY:
        from lutnas.search import run

        return getattr(run, name)
    raise AttributeError(f"module 'lutnas.search' has no attribute {name!r}")


__all__ = ["Constraint", "Evaluation", "LatencyCost", "Problem", "SearchResult", "Searcher", "fastest_spec",
           "gflops_cost", "get_objective", "get_searcher", "params_cost", "run_search", "searcher_names"]
