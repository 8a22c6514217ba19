"""Building a Problem from what a user names: tables, budgets, objective, space."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from lutnas.errors import InputError
from lutnas.search.objectives import get_objective
from lutnas.search.problem import Constraint, LatencyCost, Problem, gflops_cost, params_cost
from lutnas.spaces.base import Space

if TYPE_CHECKING:
    from lutnas.luts.table import LUT


def parse_latency_budgets(values: Sequence[str], devices: Sequence[str]) -> dict[str, float]:
    """``--latency-ms 30`` (every table) or ``--latency-ms torch-cpu=30`` (one device)."""
    out: dict[str, float] = {}
    for v in values:
        if "=" in v:
            dev, _, x = v.partition("=")
            if dev not in devices:
                raise InputError(f"--latency-ms {v!r}: no table for device {dev!r}; tables: {', '.join(devices)}")
            targets = [dev]
        else:
            x, targets = v, list(devices)
        try:
            ms = float(x)
        except ValueError:
            raise InputError(f"--latency-ms {v!r} is not a number of milliseconds") from None
        if not math.isfinite(ms) or ms <= 0:
            raise InputError(f"--latency-ms must be a positive, finite number of milliseconds; got {v!r}")
        for d in targets:
            out[d] = ms
    return out


def latency_margins(luts: Sequence[LUT], margin: str | float | None) -> dict[str, dict[str, Any]]:
    """The factor each table's latency budget is multiplied by: ``auto`` derives it from the table's
    validated error (:func:`lutnas.luts.calibration.budget_margin`: 1 + bias − 2·sd, or 1 + the 2.3 %
    quantile of its stored errors when that is smaller) or, for a transferred table not validated
    yet, from its rows' uncertainties (:func:`lutnas.luts.transfer.uncertainty_margin`), a number m
    in [0, 0.5] is a fixed ``1 − m``, None or 0 keeps the budget."""
    from lutnas.luts.calibration import budget_margin

    out: dict[str, dict[str, Any]] = {}
    for lut in luts:
        if margin in (None, "", 0, 0.0, "0"):
            continue
        if str(margin) == "auto":
            try:
                if not (lut.meta.get("validation") or {}).get("n") and lut.meta.get("transfer"):
                    from lutnas.luts.transfer import uncertainty_margin  # a transferred table, not yet validated

                    out[lut.device] = {**uncertainty_margin(lut), "source": "transfer"}
                else:
                    out[lut.device] = {**budget_margin(lut.meta.get("validation")), "source": "validation"}
            except InputError as exc:
                raise InputError(f"{lut.path}: {exc}") from None
            continue
        try:
            m = float(margin)
        except (TypeError, ValueError):
            raise InputError(f"--margin must be 'auto' or a fraction in [0, 0.5]; got {margin!r}") from None
        if not 0 <= m <= 0.5:
            raise InputError(f"--margin must be 'auto' or a fraction in [0, 0.5]; got {margin!r}")
        out[lut.device] = {"factor": 1.0 - m, "source": "fixed"}
    return out


def build_problem(space: Space, luts: Sequence[LUT], latency: Sequence[str] = (), params_m: float | None = None,
                  gflops: float | None = None, window: float | None = None, objective: str = "flops",
                  seed: int = 0, batch: int = 1, margin: str | float | None = None) -> Problem:
    """A problem over ``space``: latency from ``luts`` (budgets ``latency``, each shrunk by its
    table's ``margin`` so that what the table predicts under it meets the budget when measured),
    params, GFLOPs, the window, and the objective."""
    _check_budget("--params-m", params_m)
    _check_budget("--gflops", gflops)
    if window is not None and not (0 < window <= 1):
        raise InputError(f"--window must be in (0, 1] (a fraction of the budget); got {window!r}")
    if batch < 1:
        raise InputError(f"--batch must be >= 1; got {batch}")
    costs: dict[str, Any] = {}
    for lut in luts:
        cost = LatencyCost(lut, batch)
        costs[cost.name] = cost
    costs["gflops"] = gflops_cost
    costs["params_m"] = params_cost
    budgets = parse_latency_budgets(latency, [lut.device for lut in luts])
    margins = latency_margins([lut for lut in luts if lut.device in budgets], margin)
    constraints = []
    for lut in luts:
        if lut.device in budgets:
            c = budgets[lut.device] * margins.get(lut.device, {}).get("factor", 1.0)
            constraints.append(Constraint(f"latency_ms[{lut.device}]", c, window * c if window else None))
    if params_m is not None:
        constraints.append(Constraint("params_m", params_m))
    if gflops is not None:
        constraints.append(Constraint("gflops", gflops, window * gflops if (window and not luts) else None))
    problem = Problem(space, costs, constraints, get_objective(objective, seed))
    problem.objective_name = objective  # recorded in search histories
    problem.margins = margins
    return problem


def _check_budget(option: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} must be a positive, finite number; got {value!r}")
