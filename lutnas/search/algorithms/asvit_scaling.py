"""``asvit-scaling``: seed 001 Algorithm 2 on the ViT space, stopping at the latency budget."""

from __future__ import annotations

from typing import Any

import numpy as np

from lutnas.errors import InputError
from lutnas.search.algorithms.greedy import _budget_of, cheapest
from lutnas.search.base import Searcher
from lutnas.spaces.registry import parse_spec
from lutnas.spaces.vit import ViTSpec


class AsViTScaling(Searcher):
    """Grow from a small model (``start``, default the space's cheapest spec by the search cost); each step tries 16 choices (width, i.e. head dim e, × {1.05, 1.1,
    1.15, 1.2} crossed with depth +1..+4), ranks them by L^E (descending) and κ_Θ (ascending) when the
    objective is ``asvit`` (else by the objective), keeps the lowest rank sum among those within
    the budget, and stops when no choice fits the latency budget. The whole family is the result.
    """

    name = "asvit-scaling"
    description = "seed 001 Algorithm 2: 16 width x depth choices per step ranked by L^E and kappa, up to the latency budget"

    @classmethod
    def default_params(cls):
        return {"start": None, "widths": (1.05, 1.1, 1.15, 1.2), "depths": (1, 2, 3, 4),
                "max_steps": 50}

    def setup_state(self) -> None:
        space = self.problem.space
        if not {"d", "e"} <= set(space.factors):
            raise InputError(f"asvit-scaling grows a ViT's depth d and head dim e; space {space.name!r} has factors "
                             f"{', '.join(space.factors)}")
        self.cost_name = self.problem.latency_names[0] if self.problem.latency_names else "gflops"
        start = self.params["start"]
        self.current = parse_spec(start) if start else cheapest(self.problem, self.cost_name)
        self.budget = _budget_of(self.problem, self.cost_name)
        self.family: list[ViTSpec] = [self.current]
        self.steps = 0
        self._pending: list[ViTSpec] | None = None

    def _choices(self) -> list[ViTSpec]:
        s = self.current
        out = []
        for w in self.params["widths"]:
            e = max(s.e + 1, int(round(s.e * w)))
            for dd in self.params["depths"]:
                out.append(s.replace(e=e, d=s.d + dd))
        if self.budget is not None:
            costs = self.problem.costs[self.cost_name](out)
            out = [c for c, v in zip(out, costs) if v <= self.budget]
        return out

    def _propose(self, n: int) -> list[Any]:
        if self._pending is None:
            if self.steps >= self.params["max_steps"]:
                return []
            self._pending = self._choices()
            self._sent = 0
            if not self._pending:
                return []
        out = self._pending[self._sent:self._sent + n]
        self._sent += len(out)
        return out

    def _observe(self, specs, results) -> None:
        if self._pending is None or self._sent < len(self._pending):
            return
        pend = self._pending
        scores = {s: sc for s, _, ok, sc in self.history if s in set(pend) and ok}
        cands = [s for s in pend if s in scores]
        self._pending = None
        self.steps += 1
        if not cands:
            self.done = True
            return
        from scipy.stats import rankdata  # slow import: only when a step is ranked

        objective = self.problem.objective
        if hasattr(objective, "components"):
            le, kappa = objective.components(cands)
            rank = rankdata(-le) + rankdata(kappa)
        else:
            rank = rankdata(-np.array([scores[c] for c in cands]))
        self.current = cands[int(np.argmin(rank))]
        self.family.append(self.current)
