"""``asvit-scaling``: As-ViT's Algorithm 2 on the ViT space, stopping at the latency budget."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from lutnas.errors import InputError
from lutnas.params import Interval, Numbers
from lutnas.search.algorithms.greedy import _budget_of, cheapest
from lutnas.search.base import Searcher, SearchRun
from lutnas.spaces.registry import parse_spec
from lutnas.spaces.vit import ViTSpec


class AsViTScaling(Searcher):
    """Grow from a small model (``start``, default the space's cheapest spec by the search cost); each step tries 16 choices (width, i.e. head dim e, × {1.05, 1.1,
    1.15, 1.2} crossed with depth +1..+4), ranks them by L^E (descending) and κ_Θ (ascending) when the
    objective is ``asvit`` (else by the objective), keeps the lowest rank sum among those within
    the budget, and stops when no choice fits the latency budget. The whole family is the result.
    """

    name = "asvit-scaling"
    description = "As-ViT's Algorithm 2: 16 width x depth choices per step ranked by L^E and kappa, up to the latency budget"

    defaults = {"start": None, "widths": (1.05, 1.1, 1.15, 1.2), "depths": (1, 2, 3, 4), "max_steps": 50}
    _parameter_constraints = {"start": [str, None], "widths": [Numbers(Interval(Real, 1, 100, closed="neither"))],
                              "depths": [Numbers(Interval(Integral, 1, 1000))],
                              "max_steps": [Interval(Integral, 1, 100_000)]}

    @property
    def family(self) -> list[ViTSpec]:
        """The family of the last run."""
        return self.last_run_.family if self.last_run_ is not None else []

    def _start(self, run: SearchRun) -> None:
        space = run.problem.space
        if not {"d", "e"} <= set(space.factors):
            raise InputError(f"asvit-scaling grows a ViT's depth d and head dim e; space {space.name!r} has factors "
                             f"{', '.join(space.factors)}")
        run.cost_name = run.problem.latency_names[0] if run.problem.latency_names else "gflops"
        start = self.params["start"]
        run.current = parse_spec(start) if start else cheapest(run.problem, run.cost_name)
        run.budget = _budget_of(run.problem, run.cost_name)
        run.family = [run.current]
        run.steps = 0
        run.pending = None

    def report(self, run: SearchRun) -> dict[str, Any]:
        return {"family": [s.canonical() for s in run.family]}

    def _choices(self, run: SearchRun) -> list[ViTSpec]:
        s = run.current
        out = []
        for w in self.params["widths"]:
            e = max(s.e + 1, int(round(s.e * w)))
            for dd in self.params["depths"]:
                out.append(s.replace(e=e, d=s.d + dd))
        if run.budget is not None:
            costs = run.problem.costs[run.cost_name](out)
            out = [c for c, v in zip(out, costs) if v <= run.budget]
        return out

    def _propose(self, run: SearchRun, n: int) -> list[Any]:
        if run.pending is None:
            if run.steps >= self.params["max_steps"]:
                return []
            run.pending = self._choices(run)
            run.sent = 0
            if not run.pending:
                return []
        return run.send_pending(n)

    def _observe(self, run: SearchRun, specs, results) -> None:
        if not run.pending_answered():
            return
        pend = run.pending
        scores = {s: sc for s, _, ok, sc in run.history if s in set(pend) and ok}
        cands = [s for s in pend if s in scores]
        run.pending = None
        run.steps += 1
        if not cands:
            run.done = True
            return
        from scipy.stats import rankdata  # slow import: only when a step is ranked

        objective = run.problem.objective
        if hasattr(objective, "components"):
            le, kappa = objective.components(cands)
            rank = rankdata(-le) + rankdata(kappa)
        else:
            rank = rankdata(-np.array([scores[c] for c in cands]))
        run.current = cands[int(np.argmin(rank))]
        run.family.append(run.current)
