"""Objectives (scores to maximise): ``flops``, ``params``, ``asvit``, ``table:FILE``, ``python:module:function``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lutnas.errors import InputError
from lutnas.search.problem import gflops_cost, params_cost
from lutnas.spaces.base import Spec


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
        self.scores = dict(zip(df["spec"], df[self.column].astype(float)))

    def __call__(self, specs: Sequence[Spec]) -> np.ndarray:
        return np.array([self.scores.get(s.canonical(), np.nan) for s in specs], float)


def python_objective(target: str) -> Callable[[Sequence[Spec]], np.ndarray]:
    """``module:function`` taking a list of specs and returning scores."""
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise InputError(f"objective python:{target!r} must be python:module:function")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"objective python:{target}: {exc}") from None

    def call(specs: Sequence[Spec]) -> np.ndarray:
        return np.asarray(fn(list(specs)), float)

    return call


def get_objective(name: str, seed: int = 0) -> Callable[[Sequence[Spec]], np.ndarray]:
    """An objective by name; one clear error for an unknown one."""
    if name == "flops":
        return gflops_cost
    if name == "params":
        return params_cost
    if name == "asvit":
        # torch-based proxies live with the model builders; loaded by name so that a search on a
        # saved table never imports torch (DESIGN.md layers)
        from lutnas.plugins import load_class

        return load_class("lutnas.models.proxies:AsViTObjective", object)(seed=seed)
    if name.startswith("table:"):
        return TableObjective(name.split(":", 1)[1])
    if name.startswith("python:"):
        return python_objective(name.split(":", 1)[1])
    raise InputError(f"objective {name!r} is not known; choose flops, params, asvit, table:FILE or python:module:function")
