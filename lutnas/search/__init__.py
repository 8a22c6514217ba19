"""Latency-constrained search against saved tables: problem, objectives, ask/tell searchers, runner."""

from lutnas.search.base import Searcher, get_searcher, searcher_names
from lutnas.search.objectives import get_objective
from lutnas.search.problem import Constraint, Evaluation, LatencyCost, Problem, gflops_cost, params_cost
from lutnas.search.run import SearchResult, fastest_spec, run_search

__all__ = ["Constraint", "Evaluation", "LatencyCost", "Problem", "SearchResult", "Searcher", "fastest_spec",
           "get_objective", "get_searcher", "gflops_cost", "params_cost", "run_search", "searcher_names"]
