"""Where objective evaluations run: in-process (default) or as Ray tasks (``--executor ray``).

:class:`RayObjective` wraps any objective (``asvit``, ``python:module:function``...): each batch of
specs a searcher asks for is split into one chunk per worker, the chunks run as Ray tasks, and
the scores come back in order. Scores are memoised per spec on the driver. Objectives that score
each spec independently of the others in its batch (all built-in ones: ``asvit`` seeds every spec
the same way) give identical results to the local executor with the same seed.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from lutnas.raycluster import connect
from lutnas.spaces.base import Spec


def _score_chunk(objective: Callable[[Sequence[Spec]], np.ndarray], specs: list[Spec]) -> np.ndarray:
    return np.asarray(objective(specs), float)


class RayObjective:
    """``objective`` evaluated by Ray tasks, ``workers`` chunks per batch (default: the cluster's CPUs)."""

    def __init__(self, objective: Callable[[Sequence[Spec]], np.ndarray], address: str | None = None,
                 workers: int | None = None, num_cpus: int | None = None) -> None:
        self.ray = connect(address, num_cpus=num_cpus)
        self.objective = objective
        self.workers = workers or max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self._task = self.ray.remote(num_cpus=1)(_score_chunk)
        self._ref = self.ray.put(objective)
        self.cache: dict[str, float] = {}
        self.tasks = 0

    def __call__(self, specs: Sequence[Spec]) -> np.ndarray:
        specs = list(specs)
        todo = [s for s in dict.fromkeys(specs) if s.canonical() not in self.cache]
        if todo:
            chunks = [list(c) for c in np.array_split(np.array(todo, dtype=object), min(self.workers, len(todo)))]
            refs = [self._task.remote(self._ref, c) for c in chunks if len(c)]
            self.tasks += len(refs)
            for chunk, scores in zip([c for c in chunks if len(c)], self.ray.get(refs)):
                for s, v in zip(chunk, scores):
                    self.cache[s.canonical()] = float(v)
        return np.array([self.cache[s.canonical()] for s in specs], float)


def wrap_objective(objective: Callable[[Sequence[Spec]], np.ndarray], executor: str, address: str | None = None,
                   workers: int | None = None) -> Callable[[Sequence[Spec]], np.ndarray]:
    """The objective for ``--executor local|ray`` (local returns it unchanged, importing nothing)."""
    if executor == "local":
        return objective
    if executor == "ray":
        return RayObjective(objective, address, workers)
    from lutnas.errors import InputError

    raise InputError(f"executor must be local or ray; got {executor!r}")
