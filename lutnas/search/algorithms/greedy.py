"""``greedy`` (the ViT-scaling study's Algorithm 1) and ``random-permutation`` (the ViT-scaling study's §4.1)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from lutnas.params import Interval, Numbers
from lutnas.search.base import Searcher, SearchRun
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
    """Iterative greedy scaling (the ViT-scaling study, Algorithm 1).

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
    description = "the ViT-scaling study's Algorithm 1: scale one factor at a time to each step's target cost"

    defaults = {"start": None, "growth": 2.0, "steps": 6, "targets": None}
    _parameter_constraints = {"start": [str, None], "growth": [Interval(Real, 1, 1e6, closed="right")],
                              "steps": [Interval(Integral, 1, 64)],
                              "targets": [Numbers(Interval(Real, 0, None, closed="neither")), None]}

    @property
    def path(self) -> list[dict[str, Any]]:
        """The greedy path of the last run (``start`` returns a fresh run each time)."""
        return self.last_run_.path if self.last_run_ is not None else []

    def _start(self, run: SearchRun) -> None:
        p, space = self.params, run.problem.space
        run.cost_name = run.problem.latency_names[0] if run.problem.latency_names else "gflops"
        start = parse_spec(p["start"]) if p["start"] else space.named_specs.get("seed-start")
        if start is None or not space.contains(start):
            start = cheapest(run.problem, run.cost_name)
        run.current = start
        c0 = float(run.problem.costs[run.cost_name]([start])[0])
        budget = _budget_of(run.problem, run.cost_name)
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
        run.targets = targets
        run.budget = budget
        run.step = 0
        run.path = [{"step": 0, "spec": start, "cost": c0, "target": None}]
        run.pending = None
        run.start = start

    def scaled(self, run: SearchRun, spec: Spec, target: float) -> list[Spec]:
        """The six A_SF of Algorithm 1 (factors that cannot grow are skipped)."""
        cost = run.problem.costs[run.cost_name]
        out = []
        for f in run.problem.space.factors:
            ladder = run.problem.space.scale_up(spec, f)
            if not ladder:
                continue
            costs = cost(ladder)
            reach = np.nonzero(costs >= target)[0]
            out.append(ladder[int(reach[0])] if len(reach) else ladder[-1])
        return list(dict.fromkeys(out))

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        if run.pending is None:
            if run.step >= len(run.targets):
                return []
            cands = self.scaled(run, run.current, run.targets[run.step])
            if not cands:
                return []
            run.pending = cands
            run.sent = 0
        return run.send_pending(n)

    def _observe(self, run: SearchRun, specs, results) -> None:
        if not run.pending_answered():
            return
        pending = set(run.pending)
        pool = [(spec, score) for spec, _, ok, score in run.history if spec in pending and ok]
        run.pending = None
        target = run.targets[run.step]
        run.step += 1
        if not pool:
            run.done = True
            return
        best = max(pool, key=lambda t: (t[1], t[0].canonical()))[0]
        run.current = best
        run.path.append({"step": run.step, "spec": best, "cost": float(run.problem.costs[run.cost_name]([best])[0]),
                         "target": target})

    def report(self, run: SearchRun) -> dict[str, Any]:
        return {"path": [{"step": p["step"], "spec": p["spec"].canonical(), "cost": p["cost"], "target": p["target"]}
                         for p in run.path]}


class RandomPermutation(Greedy):
    """Greedy, then around each step's result draw ``permutations`` random factor changes that meet
    the same target cost (within ``tolerance`` below it) and keep the best (the ViT-scaling study's §4.1).

    Off-grid values are allowed (each factor scaled by a random factor in [1/spread, spread],
    image size rounded to a multiple of the patch); blocks the table lacks are predicted by its
    regressor and the history marks them (``predicted_blocks``).
    """

    name = "random-permutation"
    description = "the ViT-scaling study's §4.1: 24 random factor permutations at each greedy step's target cost"

    defaults = {**Greedy.defaults, "permutations": 24, "tolerance": 0.1, "spread": 2.0, "max_tries": 4000}
    _parameter_constraints = {**Greedy._parameter_constraints, "permutations": [Interval(Integral, 1, 100_000)],
                              "tolerance": [Interval(Real, 0, 1)], "spread": [Interval(Real, 1, 1e3)],
                              "max_tries": [Interval(Integral, 1, 10_000_000)]}

    def _start(self, run: SearchRun) -> None:
        super()._start(run)
        run.phase = "greedy"
        run.queue = []

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        if run.phase == "greedy":
            out = super()._propose(run, n)
            if out:
                return out
            run.phase = "permute"
            run.done = False
            run.queue = self._permutations(run)
        out, run.queue = run.queue[:n], run.queue[n:]
        return out

    def _observe(self, run: SearchRun, specs, results) -> None:
        if run.phase == "greedy":
            super()._observe(run, specs, results)
            if run.done:
                run.done = False

    def _permutations(self, run: SearchRun) -> list[Spec]:
        cost = run.problem.costs[run.cost_name]
        out: list[Spec] = []
        for entry in run.path[1:]:
            base, target = entry["spec"], entry["target"]
            found: list[Spec] = []
            tries = 0
            while len(found) < self.params["permutations"] and tries < self.params["max_tries"]:
                batch = [self._perturb(run, base) for _ in range(64)]
                tries += 64
                batch = [b for b in batch if b is not None]
                if not batch:
                    continue
                c = cost(batch)
                _, ok, _ = run.problem.evaluate_costs(batch)
                for spec, ci, good in zip(batch, c, ok):
                    if good and (1 - self.params["tolerance"]) * target <= ci <= target and spec not in found:
                        found.append(spec)
            out += found[: self.params["permutations"]]
        return list(dict.fromkeys(out))

    def _perturb(self, run: SearchRun, spec: Spec) -> Spec | None:
        """Off-grid in a ``continuous`` space, else a random on-grid move (``Space.perturb``)."""
        return run.problem.space.perturb(spec, run.rng, self.params["spread"])
