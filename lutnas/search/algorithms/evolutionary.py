"""``evolutionary`` (ViT-ResNAS's settings) and ``coarse-to-fine`` (AutoViT's Algorithm 2)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from lutnas.errors import InputError
from lutnas.params import Interval
from lutnas.search.base import Searcher, SearchRun
from lutnas.spaces.base import Spec


class Evolutionary(Searcher):
    """Evolution with a cost window (ViT-ResNAS: population 500, 20 iterations, 75 parents,
    150 children, mutation probability 0.3, window 0.975·C ≤ cost ≤ C).

    Candidates are generated until they satisfy the constraints (checked on table costs, which
    are free), so every evaluated spec is feasible. Half the children are mutations of a random
    parent, half crossovers of two.
    """

    name = "evolutionary"
    description = "ViT-ResNAS: population 500, 20 iterations, 75 parents, 150 children, mutation 0.3, window 0.975"

    defaults = {"population": 500, "iterations": 20, "parents": 75, "children": 150, "mutation_prob": 0.3,
                "window": 0.975, "max_tries": 100}
    _parameter_constraints = {"population": [Interval(Integral, 2, 1_000_000)],
                              "iterations": [Interval(Integral, 1, 1_000_000)],
                              "parents": [Interval(Integral, 1, 1_000_000)],
                              "children": [Interval(Integral, 1, 1_000_000)],
                              "mutation_prob": [Interval(Real, 0, 1)], "window": [Interval(Real, 0, 1)],
                              "max_tries": [Interval(Integral, 1, 100_000)]}

    def _check_params(self) -> None:
        if self.params["parents"] > self.params["population"]:
            raise InputError(f"The 'parents' parameter of {type(self).__name__} must be at most population "
                             f"({self.params['population']}). Got {self.params['parents']!r} instead.")

    def _start(self, run: SearchRun) -> None:
        run.window = self.params["window"]  # the run's window; relaxing it never touches the parameters
        run.window_relaxed = False
        run.generation = 0
        run.evaluated = set()
        run.queue = self._initial(run, self.params["population"])

    def report(self, run: SearchRun) -> dict[str, Any]:
        return {"window_relaxed": run.window_relaxed}

    # feasibility under the problem's constraints plus the window below the latency budget; a spec's
    # verdict is kept for the run (rounds of children redraw the same neighbours many times) until
    # the window changes
    def _ok(self, run: SearchRun, specs: list[Spec]) -> np.ndarray:
        if not specs:
            return np.zeros(0, bool)
        if getattr(run, "verdict_window", None) != run.window:
            run.verdicts, run.verdict_window = {}, run.window
        new = [s for s in dict.fromkeys(specs) if s not in run.verdicts]
        if new:
            costs, ok, _ = run.problem.evaluate_costs(new)
            w = run.window
            if w:
                for c in run.problem.constraints:
                    if c.cost in run.problem.latency_names or (not run.problem.latency_names and c.cost == "gflops"):
                        ok &= costs[c.cost] >= w * c.upper
            run.verdicts.update(zip(new, ok.tolist()))
        return np.fromiter((run.verdicts[s] for s in specs), bool, count=len(specs))

    def _initial(self, run: SearchRun, n: int) -> list[Spec]:
        space = run.problem.space
        out: list[Spec] = []
        for _ in range(self.params["max_tries"]):
            cands = [s for s in space.sample(min(space.size, 4 * n), run.rng) if s not in out]
            out += [s for s, ok in zip(cands, self._ok(run, cands)) if ok]
            if len(out) >= n:
                break
        if len(out) < min(n, self.params["parents"]) and run.window:
            # the window holds fewer specs than one generation of parents (a small or coarse
            # space): drop the window, keep the constraints; `lutnas search` reports window_relaxed
            run.window = 0.0
            run.window_relaxed = True
            return self._initial(run, n)
        return list(dict.fromkeys(out))[:n]

    def _children(self, run: SearchRun, parents: list[Spec], n: int) -> list[Spec]:
        """Up to ``n`` new feasible children, alternately mutations of a random parent and crossovers
        of two, drawn in rounds of ``2n`` until enough or three rounds in a row found none."""
        out: list[Spec] = []
        taken: set[Spec] = set()
        draw = self._draw_rows if _on_grid(run.problem.space, parents) else self._draw_specs
        barren = 0  # consecutive rounds that found no new child: the neighbourhood is spent
        for _ in range(self.params["max_tries"]):
            if barren >= 3:
                break
            cands = [c for c in draw(run, parents, n) if c not in run.evaluated and c not in taken]
            before = len(out)
            out += [c for c, ok in zip(cands, self._ok(run, cands)) if ok]
            taken.update(out[before:])
            barren = barren + 1 if len(out) == before else 0
            if len(out) >= n:
                break
        return out[:n]

    def _draw_specs(self, run: SearchRun, parents: list[Spec], n: int) -> list[Spec]:
        """``2n`` candidates (unique, in draw order), one spec at a time: any space."""
        space, probs = run.problem.space, self._mutation_probs()
        cands = []
        for i in range(2 * n):
            if i % 2 == 0:
                cands.append(space.mutate(parents[int(run.rng.random() * len(parents))], run.rng, *probs))
            else:
                a, b = _two(run.rng, len(parents))
                cands.append(space.crossover(parents[a], parents[b], run.rng))
        return list(dict.fromkeys(cands))

    def _draw_rows(self, run: SearchRun, parents: list[Spec], n: int) -> list[Spec]:
        """The same ``2n`` candidates drawn as index rows of a factor space: vectorised, one spec object
        per unique code (memoised by the space)."""
        space, rng = run.problem.space, run.rng
        rows = space.encode(parents)
        picks = (rng.random(n) * len(parents)).astype(np.int64)
        a, b = _pairs(rng, n, len(parents))
        both = np.empty((2 * n, rows.shape[1]), np.int64)
        both[0::2] = space.mutate_rows(rows[picks], rng, *self._mutation_probs())
        both[1::2] = space.crossover_rows(rows[a], rows[b], rng)
        codes = space.codes(both)
        _, first = np.unique(codes, return_index=True)
        return [s for s in space.from_codes(codes[np.sort(first)]) if s is not None]

    def _mutation_probs(self) -> tuple[float, float | None]:
        """``(prob, depth_prob)`` of a mutation."""
        return self.params["mutation_prob"], None

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        while not run.queue:
            if run.generation >= self.params["iterations"]:
                return []
            parents = [s for s, _ in run.feasible_best(self.params["parents"])]
            if not parents:
                return []
            run.generation += 1
            run.queue = self._children(run, parents, self.params["children"])
            if not run.queue and run.window:
                # every child inside the window has been evaluated: widen to the plain constraints
                run.window = 0.0
                run.window_relaxed = True
                run.queue = self._children(run, parents, self.params["children"])
            if not run.queue:
                return []
        out, run.queue = run.queue[:n], run.queue[n:]
        run.evaluated.update(out)
        return out


class CoarseToFine(Evolutionary):
    """AutoViT's Algorithm 2: a coarse stage samples ``coarse_samples`` random specs and keeps the
    top-K (``population``) that meet the latency and parameter budgets — those using the latency
    budget most fully — then a fine evolutionary stage (population 50, 20 generations, 10 parents,
    depth-mutation probability Pd = 0.2, per-factor mutation probability Pm = 0.4, crossover).
    """

    name = "coarse-to-fine"
    description = "AutoViT's Algorithm 2: coarse LUT-filtered sampling, fine evolution (50, 20, 10, Pd 0.2, Pm 0.4)"

    defaults = {"population": 50, "iterations": 20, "parents": 10, "children": 50, "depth_prob": 0.2,
                "block_prob": 0.4, "coarse_samples": 1000, "window": 0.0, "max_tries": 100, "mutation_prob": 0.4}
    _parameter_constraints = {**Evolutionary._parameter_constraints, "depth_prob": [Interval(Real, 0, 1)],
                              "block_prob": [Interval(Real, 0, 1)],
                              "coarse_samples": [Interval(Integral, 1, 10_000_000)]}

    def _initial(self, run: SearchRun, n: int) -> list[Spec]:
        space = run.problem.space
        cands = list(dict.fromkeys(space.sample(min(space.size, self.params["coarse_samples"]), run.rng)))
        ok = self._ok(run, cands)
        feasible = [c for c, good in zip(cands, ok) if good]
        if not feasible:
            return []
        lat = run.problem.cost_of(feasible)
        order = np.argsort(-lat)  # the most promising use the budget most fully
        return [feasible[i] for i in order[:n]]

    def _mutation_probs(self) -> tuple[float, float | None]:
        """The space's depth factors change with ``depth_prob`` (Pd), the others with ``block_prob`` (Pm)."""
        return self.params["block_prob"], self.params["depth_prob"]


def _two(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """Two distinct indices in ``range(n)`` (the same one twice when ``n`` is 1), one draw."""
    u, v = rng.random(2)
    a = int(u * n)
    if n < 2:
        return a, a
    b = int(v * (n - 1))
    return a, b + (b >= a)


def _pairs(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of distinct indices in ``range(k)`` (equal when ``k`` is 1): :func:`_two`, vectorised."""
    u, v = rng.random((2, n))
    a = (u * k).astype(np.int64)
    if k < 2:
        return a, a
    b = (v * (k - 1)).astype(np.int64)
    return a, b + (b >= a)


def _on_grid(space: Any, parents: list[Spec]) -> bool:
    """Whether children can be drawn as index rows: a factor space with int64 codes, parents on its grid."""
    if not hasattr(space, "mutate_rows") or not space.indexable:
        return False
    return bool((space.encode(parents) >= 0).all())
