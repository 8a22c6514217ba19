"""``exhaustive`` and ``random``."""

from __future__ import annotations

from numbers import Integral
from typing import Any

from lutnas.params import Interval
from lutnas.search.base import Searcher, SearchRun
from lutnas.spaces.registry import enumerable


class Exhaustive(Searcher):
    """Every spec of the space, in grid order (the baseline of the quality benchmark)."""

    name = "exhaustive"
    description = "every spec of a space small enough to enumerate"

    def _start(self, run: SearchRun) -> None:
        run.grid = run.problem.space.grid()
        run.pos = 0

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        out = run.grid[run.pos:run.pos + n]
        run.pos += len(out)
        return out


class RandomSearch(Searcher):
    """Uniform samples from the grid that meet the constraints (checked on costs, before scoring)."""

    name = "random"
    description = "sample under constraints"

    defaults = {"max_tries": 50}
    _parameter_constraints = {"max_tries": [Interval(Integral, 1, 1_000_000)]}

    def _start(self, run: SearchRun) -> None:
        run.seen = set()

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        space = run.problem.space
        grid = space.grid() if enumerable(space) else None  # too many to enumerate (autovit-*): sample
        out: list[Any] = []
        for _ in range(self.params["max_tries"]):
            if len(out) >= n or (grid is not None and len(run.seen) >= len(grid)):
                break
            if grid is None:
                cands = [s for s in space.sample(4 * n, run.rng) if s not in run.seen]
            else:
                idx = run.rng.choice(len(grid), size=min(len(grid), 4 * n), replace=False)
                cands = [grid[i] for i in idx if grid[i] not in run.seen]
            if not cands:
                continue
            _, ok, _ = run.problem.evaluate_costs(cands)
            for spec, good in zip(cands, ok):
                run.seen.add(spec)
                if good and len(out) < n:
                    out.append(spec)
        return out
