"""``exhaustive`` and ``random``."""

from __future__ import annotations

from typing import Any

from lutnas.search.base import Searcher
from lutnas.spaces.registry import enumerable


class Exhaustive(Searcher):
    """Every spec of the space, in grid order (the baseline of the quality benchmark)."""

    name = "exhaustive"
    description = "every spec of a space small enough to enumerate"

    def setup_state(self) -> None:
        self._grid = self.problem.space.grid()
        self._pos = 0

    def _propose(self, n: int) -> list[Any]:
        out = self._grid[self._pos:self._pos + n]
        self._pos += len(out)
        return out


class RandomSearch(Searcher):
    """Uniform samples from the grid that meet the constraints (checked on costs, before scoring)."""

    name = "random"
    description = "sample under constraints"

    @classmethod
    def default_params(cls):
        return {"max_tries": 50}

    def setup_state(self) -> None:
        self._seen: set = set()

    def _propose(self, n: int) -> list[Any]:
        space = self.problem.space
        grid = space.grid() if enumerable(space) else None  # too many to enumerate (autovit-*): sample
        out: list[Any] = []
        for _ in range(self.params["max_tries"]):
            if len(out) >= n or (grid is not None and len(self._seen) >= len(grid)):
                break
            if grid is None:
                cands = [s for s in space.sample(4 * n, self.rng) if s not in self._seen]
            else:
                idx = self.rng.choice(len(grid), size=min(len(grid), 4 * n), replace=False)
                cands = [grid[i] for i in idx if grid[i] not in self._seen]
            if not cands:
                continue
            _, ok, _ = self.problem.evaluate_costs(cands)
            for spec, good in zip(cands, ok):
                self._seen.add(spec)
                if good and len(out) < n:
                    out.append(spec)
        return out
