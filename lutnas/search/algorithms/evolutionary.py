"""``evolutionary`` (seed 003's settings) and ``coarse-to-fine`` (seed 004 Algorithm 2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lutnas.search.base import Searcher
from lutnas.spaces.base import Spec


class Evolutionary(Searcher):
    """Evolution with a cost window (seed 003: population 500, 20 iterations, 75 parents,
    150 children, mutation probability 0.3, window 0.975·C ≤ cost ≤ C).

    Candidates are generated until they satisfy the constraints (checked on table costs, which
    are free), so every evaluated spec is feasible. Half the children are mutations of a random
    parent, half crossovers of two.
    """

    name = "evolutionary"
    description = "seed 003: population 500, 20 iterations, 75 parents, 150 children, mutation 0.3, window 0.975"

    @classmethod
    def default_params(cls):
        return {"population": 500, "iterations": 20, "parents": 75, "children": 150, "mutation_prob": 0.3,
                "window": 0.975, "max_tries": 100}

    def setup_state(self) -> None:
        self.window_relaxed = False
        self.generation = 0
        self._queue: list[Spec] = []
        self._evaluated: set[Spec] = set()
        self._queue = self._initial(self.params["population"])

    # feasibility under the problem's constraints plus the window below the latency budget
    def _ok(self, specs: list[Spec]) -> np.ndarray:
        if not specs:
            return np.zeros(0, bool)
        costs, ok, _ = self.problem.evaluate_costs(specs)
        w = self.params["window"]
        if w:
            for c in self.problem.constraints:
                if c.cost in self.problem.latency_names or (not self.problem.latency_names and c.cost == "gflops"):
                    ok &= costs[c.cost] >= w * c.upper
        return ok

    def _initial(self, n: int) -> list[Spec]:
        space = self.problem.space
        out: list[Spec] = []
        for _ in range(self.params["max_tries"]):
            cands = [s for s in space.sample(min(space.size, 4 * n), self.rng) if s not in out]
            out += [s for s, ok in zip(cands, self._ok(cands)) if ok]
            if len(out) >= n:
                break
        if len(out) < min(n, self.params["parents"]) and self.params["window"]:
            # the window holds fewer specs than one generation of parents (a small or coarse
            # space): drop the window, keep the constraints; `lutnas search` reports window_relaxed
            self.params["window"] = 0.0
            self.window_relaxed = True
            return self._initial(n)
        return list(dict.fromkeys(out))[:n]

    def _children(self, parents: list[Spec], n: int) -> list[Spec]:
        space = self.problem.space
        out: list[Spec] = []
        for _ in range(self.params["max_tries"]):
            cands = []
            for i in range(2 * n):
                if i % 2 == 0:
                    cands.append(self._mutate(parents[int(self.rng.integers(len(parents)))]))
                else:
                    a, b = self.rng.choice(len(parents), 2, replace=len(parents) < 2)
                    cands.append(space.crossover(parents[int(a)], parents[int(b)], self.rng))
            cands = [c for c in dict.fromkeys(cands) if c not in self._evaluated and c not in out]
            out += [c for c, ok in zip(cands, self._ok(cands)) if ok]
            if len(out) >= n:
                break
        return out[:n]

    def _mutate(self, spec: Spec) -> Spec:
        return self.problem.space.mutate(spec, self.rng, self.params["mutation_prob"])

    def _propose(self, n: int) -> list[Any]:
        while not self._queue:
            if self.generation >= self.params["iterations"]:
                return []
            parents = [s for s, _ in self.feasible_best(self.params["parents"])]
            if not parents:
                return []
            self.generation += 1
            self._queue = self._children(parents, self.params["children"])
            if not self._queue and self.params["window"]:
                # every child inside the window has been evaluated: widen to the plain constraints
                self.params["window"] = 0.0
                self.window_relaxed = True
                self._queue = self._children(parents, self.params["children"])
            if not self._queue:
                return []
        out, self._queue = self._queue[:n], self._queue[n:]
        self._evaluated.update(out)
        return out


class CoarseToFine(Evolutionary):
    """Seed 004 Algorithm 2: a coarse stage samples ``coarse_samples`` random specs and keeps the
    top-K (``population``) that meet the latency and parameter budgets — those using the latency
    budget most fully — then a fine evolutionary stage (population 50, 20 generations, 10 parents,
    depth-mutation probability Pd = 0.2, per-factor mutation probability Pm = 0.4, crossover).
    """

    name = "coarse-to-fine"
    description = "seed 004 Algorithm 2: coarse LUT-filtered sampling, fine evolution (50, 20, 10, Pd 0.2, Pm 0.4)"

    @classmethod
    def default_params(cls):
        return {"population": 50, "iterations": 20, "parents": 10, "children": 50, "depth_prob": 0.2,
                "block_prob": 0.4, "coarse_samples": 1000, "window": 0.0, "max_tries": 100, "mutation_prob": 0.4}

    def _initial(self, n: int) -> list[Spec]:
        space = self.problem.space
        cands = list(dict.fromkeys(space.sample(min(space.size, self.params["coarse_samples"]), self.rng)))
        ok = self._ok(cands)
        feasible = [c for c, good in zip(cands, ok) if good]
        if not feasible:
            return []
        lat = self.problem.cost_of(feasible)
        order = np.argsort(-lat)  # the most promising use the budget most fully
        return [feasible[i] for i in order[:n]]

    def _mutate(self, spec: Spec) -> Spec:
        """The space's mutation, its depth factors with probability ``depth_prob``."""
        return self.problem.space.mutate(spec, self.rng, self.params["block_prob"], depth_prob=self.params["depth_prob"])
