"""Objectives (scores to maximise): ``flops``, ``params``, ``asvit``, ``table:FILE``, ``python:module:function``.

Every objective kind is an :class:`ObjectiveKind` in :data:`OBJECTIVES` (built-ins plus the
entry-point group ``lutnas.objectives``): ``make(argument, seed)`` returns a scorer, a callable
taking a list of specs and returning an array of scores (higher is better; NaN = failed).
A kind with an ``argument`` is named ``KIND:ARGUMENT`` (``table:acc.csv``).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.registry import Registry, load_target
from lutnas.search.problem import gflops_cost, params_cost
from lutnas.spaces.base import Spec

Scorer = Callable[[Sequence[Any]], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ObjectiveKind:
    """One kind of objective: ``make(argument, seed) -> scorer``, a help line, and the name of its
    argument (empty: the kind takes none)."""

    make: Callable[[str, int], Scorer]
    help: str
    argument: str = ""


class TableObjective:
    """Accuracy (or any score) from a user's CSV/Parquet: spec columns d,h,e,r,I,p (or ``spec``) plus a score column.

    Specs absent from the table score NaN (a failed evaluation, never a crash).
    """

    def __init__(self, path: str | Path, column: str | None = None) -> None:
        from lutnas.analysis.correlate import read_measured_table

        df = read_measured_table(path)
        candidates = [c for c in df.columns if c.lower() in ("accuracy", "top1", "acc", "score")] if column is None else [column]
        if not candidates or candidates[0] not in df.columns:
            raise InputError(f"objective table {path}: no score column (name one of accuracy, top1, acc, score)")
        self.column = candidates[0]
        try:
            values = df[self.column].astype(float)
        except (TypeError, ValueError):
            bad = next(v for v in df[self.column] if not _is_number(v))
            raise InputError(f"objective table {path}: column {self.column!r} holds a non-number ({bad!r})") from None
        self.scores = dict(zip(df["spec"], values))

    def __call__(self, specs: Sequence[Spec]) -> np.ndarray:
        return np.array([self.scores.get(s.canonical(), np.nan) for s in specs], float)


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def python_objective(target: str) -> Scorer:
    """``module:function`` taking a list of specs and returning one score per spec.

    A call that raises, or returns anything but one number per spec, is one :class:`InputError`
    naming the objective.
    """
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise InputError(f"objective python:{target!r} must be python:module:function")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"objective python:{target}: {exc}") from None
    if not callable(fn):
        raise InputError(f"objective python:{target} is not callable")

    def call(specs: Sequence[Any]) -> np.ndarray:
        try:
            out = fn(list(specs))
            scores = np.asarray(out, float)
        except Exception as exc:  # the user's function: report it in one line
            raise InputError(f"objective python:{target} failed on {len(specs)} specs: "
                             f"{type(exc).__name__}: {exc}") from None
        if scores.shape != (len(specs),):
            raise InputError(f"objective python:{target} returned {scores.shape[0] if scores.ndim else 'one'} "
                             f"value(s) for {len(specs)} specs; it must return one score per spec")
        return scores

    return call


def _asvit(argument: str, seed: int) -> Scorer:
    # torch-based proxies live with the model builders; loaded by name so that a search on a
    # saved table never imports torch (DESIGN.md layers)
    return load_target("lutnas.models.proxies:AsViTObjective")(seed=seed)


#: every objective kind: built-ins and the entry-point group ``lutnas.objectives``
OBJECTIVES: Registry[ObjectiveKind] = Registry("objective", "lutnas.objectives", {
    "flops": ObjectiveKind(lambda a, s: gflops_cost, "maximise GFLOPs (capacity) under the budgets"),
    "params": ObjectiveKind(lambda a, s: params_cost, "maximise parameters"),
    "asvit": ObjectiveKind(_asvit, "As-ViT's training-free proxies (length distortion, NTK condition number)"),
    "table": ObjectiveKind(lambda a, s: TableObjective(a), "accuracy from a CSV/Parquet with spec columns", "FILE"),
    "python": ObjectiveKind(lambda a, s: python_objective(a), "any callable scoring a list of specs",
                            "module:function"),
}, prefixed=True)


def get_objective(name: str, seed: int = 0) -> Scorer:
    """An objective by name (``flops``, ``table:FILE``...); one clear error for an unknown one."""
    key, argument = OBJECTIVES.resolve(name)
    kind = OBJECTIVES.load(key)
    if not isinstance(kind, ObjectiveKind):
        raise InputError(f"objective {key!r} ({kind!r}) is not a lutnas.search.objectives.ObjectiveKind")
    if kind.argument and not argument:
        raise InputError(f"objective {name!r} needs an argument: {key}:{kind.argument}")
    if argument and not kind.argument:
        raise InputError(f"objective {key!r} takes no argument; got {name!r}")
    return kind.make(argument, seed)
