"""A search problem: a space, vectorised cost models, constraints and an objective to maximise."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.spaces.base import Columns, Space, Spec

if TYPE_CHECKING:
    from lutnas.luts.table import LUT

CostFn = Callable[[Sequence[Spec]], np.ndarray]


class LatencyCost:
    """Latency in ms predicted by one LUT (calibrated when the table is). Vectorised."""

    def __init__(self, lut: LUT, batch: int = 1) -> None:
        self.lut, self.batch = lut, batch
        self.name = f"latency_ms[{lut.device}]"

    def __call__(self, specs: Sequence[Spec]) -> np.ndarray:
        return self.lut.predict(specs, self.batch).calibrated_ms

    def predicted_mask(self, specs: Sequence[Spec]) -> np.ndarray:
        return self.lut.predict(specs, self.batch).predicted


def _analytic(specs: Sequence[Spec], columns: Callable[[type[Spec], Columns], np.ndarray],
              one: Callable[[Spec], int]) -> np.ndarray:
    """A cost of many specs: column-wise when they share a type declaring ``vectorised``, else per spec."""
    specs = list(specs)
    types = {type(s) for s in specs}
    if len(types) == 1:
        spec_type = types.pop()
        if spec_type.vectorised:
            return columns(spec_type, spec_type.columns(specs))
    return np.array([one(s) for s in specs], float)


def gflops_cost(specs: Sequence[Spec]) -> np.ndarray:
    """Multiply-adds / 1e9 (each space's analytic count)."""
    return _analytic(specs, lambda t, cols: t.macs_columns(cols), lambda s: s.macs()) / 1e9


def params_cost(specs: Sequence[Spec]) -> np.ndarray:
    """Parameters / 1e6 (the same count as ``Spec.params``)."""
    return _analytic(specs, lambda t, cols: t.params_columns(cols), lambda s: s.params()) / 1e6


@dataclasses.dataclass(frozen=True)
class Constraint:
    """``lower ≤ cost ≤ upper`` on one named cost (``lower`` for windows such as 0.975·C ≤ cost ≤ C)."""

    cost: str
    upper: float
    lower: float | None = None

    def check(self, values: np.ndarray) -> np.ndarray:
        ok = values <= self.upper
        if self.lower is not None:
            ok &= values >= self.lower
        return ok

    def __str__(self) -> str:
        lo = f"{self.lower:g} ≤ " if self.lower is not None else ""
        return f"{lo}{self.cost} ≤ {self.upper:g}"


@dataclasses.dataclass
class Evaluation:
    """Costs, feasibility and scores of a batch of specs (arrays of shape (n,))."""

    specs: list[Spec]
    costs: dict[str, np.ndarray]
    feasible: np.ndarray
    score: np.ndarray
    predicted: np.ndarray


class Problem:
    """Space + cost models + constraints + objective.

    Parameters
    ----------
    space : the search space
    costs : mapping name -> vectorised cost function (specs -> array)
    constraints : list of Constraint on those names
    objective : callable(specs) -> array of scores, higher is better
    """

    objective_name: str | None = None  # the name the objective was chosen by (search histories record it)
    margins: dict[str, dict] | None = None  # per table device: the budget factor (search.setup.latency_margins)

    def __init__(self, space: Space, costs: dict[str, CostFn], constraints: Sequence[Constraint], objective: CostFn) -> None:
        unknown = [c.cost for c in constraints if c.cost not in costs]
        if unknown:
            raise InputError(f"constraint on unknown cost(s) {', '.join(unknown)}; costs: {', '.join(costs)}")
        self.space, self.costs, self.constraints, self.objective = space, dict(costs), list(constraints), objective

    @property
    def latency_names(self) -> list[str]:
        return [n for n, f in self.costs.items() if isinstance(f, LatencyCost)]

    def cost_of(self, specs: Sequence[Spec], name: str | None = None) -> np.ndarray:
        """One cost (the first latency cost, else GFLOPs, when ``name`` is None)."""
        name = name or (self.latency_names[0] if self.latency_names else "gflops")
        return self.costs[name](specs)

    def evaluate_costs(self, specs: Sequence[Spec]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        costs = {n: np.asarray(f(specs), float) for n, f in self.costs.items()}
        feasible = np.ones(len(specs), bool)
        for c in self.constraints:
            feasible &= c.check(costs[c.cost])
        predicted = np.zeros(len(specs), bool)
        for n in self.latency_names:
            predicted |= self.costs[n].predicted_mask(specs)
        return costs, feasible, predicted

    def evaluate(self, specs: Sequence[Spec]) -> Evaluation:
        specs = list(specs)
        costs, feasible, predicted = self.evaluate_costs(specs)
        score = np.asarray(self.objective(specs), float) if specs else np.zeros(0)
        if score.shape != (len(specs),):
            raise InputError(f"objective returned shape {score.shape}, expected ({len(specs)},)")
        return Evaluation(specs, costs, feasible, score, predicted)
