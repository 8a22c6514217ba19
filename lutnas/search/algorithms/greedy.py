"""``greedy`` (seed 000 Algorithm 1) and ``random-permutation`` (seed 000 §4.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lutnas.search.base import Searcher
from lutnas.spaces.base import Spec
from lutnas.spaces.registry import parse_spec, spec_pool


def cheapest(problem, cost_name: str) -> Spec:
    """The spec of the space with the lowest search cost (ties: fewest multiply-adds)."""
    grid = spec_pool(problem.space)
    cost = problem.costs[cost_name](grid)
    return grid[int(np.lexsort(([s.macs() for s in grid], cost))[0])]


def _budget_of(problem, cost_name: str) -> float | None:
    uppers = [c.upper for c in problem.constraints if c.cost == cost_name]
    return min(uppers) if uppers else None


class Greedy(Searcher):
    """Iterative greedy scaling (seed 000, Algorithm 1).

    From a start model A (``seed-start``, or the space's cheapest spec by the search cost when a
    narrowed space excludes it), for each target C_s: for every factor SF in d, h, e, r, I, p alone, increase SF
    through the space's larger candidates *while* C(A_SF) < C_s (so the first value reaching the
    target is kept, or the largest candidate); score the six A_SF; A ← the best-scoring one among
    those within the budget. Targets: C_s = C(A_0) × growth^s while below the budget, then the
    budget itself (or ``steps`` steps when there is no budget). The cost is the first LUT latency
    (GFLOPs when no table is given). Cost probes are table lookups; only the six candidates of each
    step are evaluated (scored).
    """

    name = "greedy"
    description = "seed 000 Algorithm 1: scale one factor at a time to each step's target cost"

    @classmethod
    def default_params(cls):
        return {"start": None, "growth": 2.0, "steps": 6, "targets": None}

    def setup_state(self) -> None:
        p, space = self.params, self.problem.space
        self.cost_name = self.problem.latency_names[0] if self.problem.latency_names else "gflops"
        start = parse_spec(p["start"]) if p["start"] else space.named_specs.get("seed-start")
        if start is None or not space.contains(start):
            start = cheapest(self.problem, self.cost_name)
        self.current = start
        c0 = float(self.problem.costs[self.cost_name]([start])[0])
        budget = _budget_of(self.problem, self.cost_name)
        if p["targets"]:
            targets = [float(t) for t in p["targets"]]
        else:
            targets = []
            c = c0
            while len(targets) < 64:
                c *= p["growth"]
                if budget is not None and c >= budget:
                    targets.append(budget)
                    break
                targets.append(c)
                if budget is None and len(targets) >= p["steps"]:
                    break
        self.targets = targets
        self.budget = budget
        self.step = 0
        self.path: list[dict[str, Any]] = [{"step": 0, "spec": start, "cost": c0, "target": None}]
        self._pending: list[Spec] | None = None
        self.start = start

    def scaled(self, spec: Spec, target: float) -> list[Spec]:
        """The six A_SF of Algorithm 1 (factors that cannot grow are skipped)."""
        cost = self.problem.costs[self.cost_name]
        out = []
        for f in self.problem.space.factors:
            ladder = self.problem.space.scale_up(spec, f)
            if not ladder:
                continue
            costs = cost(ladder)
            reach = np.nonzero(costs >= target)[0]
            out.append(ladder[int(reach[0])] if len(reach) else ladder[-1])
        return list(dict.fromkeys(out))

    def _propose(self, n: int) -> list[Any]:
        if self._pending is None:
            if self.step >= len(self.targets):
                return []
            cands = self.scaled(self.current, self.targets[self.step])
            if not cands:
                return []
            self._pending = cands
            self._sent = 0
        batch = self._pending[self._sent:self._sent + n]
        self._sent += len(batch)
        return batch

    def _observe(self, specs, results) -> None:
        if self._pending is None or self._sent < len(self._pending):
            return
        pending = set(self._pending)
        pool = [(spec, score) for spec, _, ok, score in self.history if spec in pending and ok]
        self._pending = None
        target = self.targets[self.step]
        self.step += 1
        if not pool:
            self.done = True
            return
        best = max(pool, key=lambda t: (t[1], t[0].canonical()))[0]
        self.current = best
        self.path.append({"step": self.step, "spec": best, "cost": float(self.problem.costs[self.cost_name]([best])[0]),
                          "target": target})


class RandomPermutation(Greedy):
    """Greedy, then around each step's result draw ``permutations`` random factor changes that meet
    the same target cost (within ``tolerance`` below it) and keep the best (seed 000 §4.1).

    Off-grid values are allowed (each factor scaled by a random factor in [1/spread, spread],
    image size rounded to a multiple of the patch); blocks the table lacks are predicted by its
    regressor and the history marks them (``predicted_blocks``).
    """

    name = "random-permutation"
    description = "seed 000 §4.1: 24 random factor permutations at each greedy step's target cost"

    @classmethod
    def default_params(cls):
        return {**Greedy.default_params(), "permutations": 24, "tolerance": 0.1, "spread": 2.0, "max_tries": 4000}

    def setup_state(self) -> None:
        super().setup_state()
        self._phase = "greedy"
        self._queue: list[Spec] = []

    def _propose(self, n: int) -> list[Any]:
        if self._phase == "greedy":
            out = super()._propose(n)
            if out:
                return out
            self._phase = "permute"
            self.done = False
            self._queue = self._permutations()
        out, self._queue = self._queue[:n], self._queue[n:]
        return out

    def _observe(self, specs, results) -> None:
        if self._phase == "greedy":
            super()._observe(specs, results)
            if self.done:
                self.done = False

    def _permutations(self) -> list[Spec]:
        cost = self.problem.costs[self.cost_name]
        out: list[Spec] = []
        for entry in self.path[1:]:
            base, target = entry["spec"], entry["target"]
            found: list[Spec] = []
            tries = 0
            while len(found) < self.params["permutations"] and tries < self.params["max_tries"]:
                batch = [self._perturb(base) for _ in range(64)]
                tries += 64
                batch = [b for b in batch if b is not None]
                if not batch:
                    continue
                c = cost(batch)
                _, ok, _ = self.problem.evaluate_costs(batch)
                for spec, ci, good in zip(batch, c, ok):
                    if good and (1 - self.params["tolerance"]) * target <= ci <= target and spec not in found:
                        found.append(spec)
            out += found[: self.params["permutations"]]
        return list(dict.fromkeys(out))

    def _perturb(self, spec: Spec) -> Spec | None:
        """Off-grid in a ``continuous`` space, else a random on-grid move (``Space.perturb``)."""
        return self.problem.space.perturb(spec, self.rng, self.params["spread"])
