"""Running a search: batches, budget, a Parquet history written as it goes, resume by replay."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from lutnas.errors import InputError
from lutnas.locks import writer_lock
from lutnas.search.base import Searcher
from lutnas.search.problem import Evaluation, Problem

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass
class SearchResult:
    """The outcome of :func:`run_search`; ``records`` holds one dict per evaluation (``history`` as a DataFrame)."""

    best: Any | None
    score: float | None
    costs: dict[str, float]
    feasible: bool
    evaluations: int
    cached: int
    seconds: float
    records: list[dict[str, Any]]
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # the searcher's report (path, family...)

    @property
    def history(self) -> pd.DataFrame:
        """Every evaluation of this run (spec, factors, costs, score, feasible, step...), in order."""
        import pandas as pd  # not needed by a search itself

        return pd.DataFrame(self.records)

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` best feasible evaluations, best first, one per spec."""
        best: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r["feasible"] and r["spec"] not in best:
                best[r["spec"]] = r
        return sorted(best.values(), key=lambda r: (-r["score"], r["spec"]))[:k]


class _Cache:
    """Evaluations already in the history (resume) or already computed this run."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

def run_search(problem: Problem, searcher: Searcher, budget: int, batch: int = 64, history: str | Path | None = None,
               progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Ask/evaluate/tell until ``budget`` evaluations or the searcher is done.

    The history (every evaluated spec, its costs, score, feasibility, step) is rewritten
    atomically after each batch. If ``history`` exists, the run replays: the searcher is seeded the
    same way and every spec found in the history takes its stored result instead of being
    re-evaluated, so an interrupted search continues where it stopped with identical results.
    The history records its problem: one written for another problem is refused. The file is
    locked for the whole run (a second search on it is refused).
    """
    if budget < 1:
        raise InputError(f"budget must be >= 1; got {budget}")
    if batch < 1:
        raise InputError(f"batch must be >= 1; got {batch}")
    path = Path(history) if history else None
    with writer_lock(path) if path else contextlib.nullcontext():
        return _run(problem, searcher, budget, batch, path, progress)


def _run(problem: Problem, searcher: Searcher, budget: int, batch: int, path: Path | None,
         progress: Callable[[int, int], None] | None) -> SearchResult:
    cache = _Cache()
    signature = None
    if path:  # a history file: the problem's signature (a digest of each table) guards it
        from lutnas.search.history import problem_signature, read_history

        signature = problem_signature(problem)
        if path.exists():
            cache.rows = read_history(path, signature)
    run = searcher.start(problem)
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    evaluations = cached = 0
    cost_names = list(problem.costs)
    while evaluations < budget:
        specs = searcher.ask(run, min(batch, budget - evaluations))
        if not specs:
            break
        specs = specs[: budget - evaluations]
        hit = [s.canonical() in cache.rows for s in specs]
        res = _evaluate_with_cache(problem, specs, hit, cache, cost_names)
        cached += sum(hit)
        searcher.tell(run, specs, res)
        for i, s in enumerate(specs):
            row = {"spec": s.canonical(), **s.factors(),
                   **{n: float(res.costs[n][i]) for n in cost_names}, "score": float(res.score[i]),
                   "feasible": bool(res.feasible[i]), "predicted_blocks": bool(res.predicted[i]),
                   "step": evaluations + i, "algorithm": searcher.name, "seed": searcher.seed}
            records.append(row)
            cache.rows[row["spec"]] = row
        evaluations += len(specs)
        if path:
            _write(path, records, cache, signature)
        if progress:
            progress(evaluations, budget)
    best = run.feasible_best(1)
    result = SearchResult(None, None, {}, False, evaluations, cached, time.perf_counter() - start, records,
                          searcher.report(run))
    if best:
        spec, score = best[0]
        row = next(r for r in reversed(records) if r["spec"] == spec.canonical())
        result.best, result.score, result.feasible = spec, score, True
        result.costs = {n: row[n] for n in cost_names}
    return result


def _evaluate_with_cache(problem: Problem, specs: list[Any], hit: list[bool], cache: _Cache, cost_names: list[str]) -> Evaluation:
    fresh = [s for s, h in zip(specs, hit) if not h]
    ev = problem.evaluate(fresh) if fresh else None
    n = len(specs)
    costs = {c: np.zeros(n) for c in cost_names}
    feasible, score, predicted = np.zeros(n, bool), np.zeros(n), np.zeros(n, bool)
    j = 0
    for i, (s, h) in enumerate(zip(specs, hit)):
        if h:
            r = cache.rows[s.canonical()]
            for c in cost_names:
                costs[c][i] = r[c]
            feasible[i], score[i], predicted[i] = r["feasible"], r["score"], r.get("predicted_blocks", False)
        else:
            for c in cost_names:
                costs[c][i] = ev.costs[c][j]
            feasible[i], score[i], predicted[i] = ev.feasible[j], ev.score[j], ev.predicted[j]
            j += 1
    return Evaluation(specs, costs, feasible, score, predicted)


def _write(path: Path, records: list[dict[str, Any]], cache: _Cache, signature: dict[str, Any]) -> None:
    """History = this run's records plus older rows not replayed yet (nothing is lost on resume)."""
    from lutnas.search.history import write_history

    seen = {r["spec"] for r in records}
    older = [r for k, r in cache.rows.items() if k not in seen]
    write_history(path, records + older, signature)


def fastest_spec(problem: Problem, name: str | None = None) -> tuple[Any, float]:
    """The lowest-cost spec of the space (for the 'no spec meets the budget' message)."""
    from lutnas.spaces import spec_pool

    grid = spec_pool(problem.space)
    cost = problem.cost_of(grid, name)
    i = int(np.argmin(cost))
    return grid[i], float(cost[i])
