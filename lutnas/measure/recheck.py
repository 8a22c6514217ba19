"""Re-measure the rows a table's self-check finds suspicious, and flag what stays odd.

Candidates come from :func:`lutnas.luts.consistency.suspicious_rows` (flagged rows, pairs that
break monotonicity, cost-model outliers). Each is re-measured interleaved with the neighbour it
contradicts (row, neighbour, next row, ...), so a host that changes speed during the recheck hits
both sides of a pair alike. After the recheck the table is checked again: a row still suspicious
keeps (or gets) ``flagged`` with ``flag_reason``; a row that now looks right is unflagged.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from lutnas.luts.consistency import suspicious_rows
from lutnas.measure.sentinel import SLOW_HOST
from lutnas.spaces import parse_block_key

#: at most this share of a table's rows is re-measured in one recheck (and at least MIN_ROWS)
MAX_FRACTION = 0.15
MIN_ROWS = 5


def recheck_rows(plan: Any, measure: Callable[[Any], tuple[dict[str, Any], list[str] | None]], speed: Any = None,
                 progress: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Re-measure suspicious rows of ``plan`` (a :class:`~lutnas.measure.build.BuildPlan`) with
    ``measure(key) -> (row, hosts)``; returns counts and the findings that remain."""
    findings = suspicious_rows(pd.DataFrame(plan.rows))
    order: list[str] = []
    # contradictions first (they make predictions wrong), then cost-model outliers, then noisy rows and
    # rows taken on a slow host (already normalised by the sentinel: the least likely to be wrong)
    ranked = sorted(findings, key=lambda f: (f.other is None, f.reason.startswith(("flagged", SLOW_HOST))))
    for f in ranked:
        for k in (f.key, f.other):
            if k and k not in order:
                order.append(k)
    cap = max(MIN_ROWS, int(MAX_FRACTION * len(plan.rows)))
    order = order[:cap]
    for i, text in enumerate(order):
        if speed is not None and i % 10 == 0:
            speed.update(None)
        row, _ = measure(parse_block_key(text))
        plan.replace(speed.normalise(row) if speed is not None else row)
        if progress:
            progress("recheck", {"key": text, "done": i + 1, "todo": len(order)})
    if speed is not None:
        speed.finish()
    rechecked = set(order)
    remaining = [f for f in suspicious_rows(pd.DataFrame(plan.rows)) if f.key in rechecked or f.other in rechecked]
    reasons: dict[str, str] = {}
    for f in remaining:
        reasons.setdefault(f.key, f.reason)
    changed = False
    for i, r in enumerate(plan.rows):
        if r["key"] in reasons and not (r.get("flagged") and r.get("flag_reason")):
            plan.rows[i] = {**r, "flagged": True, "flag_reason": reasons[r["key"]]}
            changed = True
    if changed:
        plan.save()
    return {"suspicious": len(findings), "remeasured": len(order), "remeasured_keys": order,
            "still_suspicious": len(reasons),
            "findings": [f.to_dict() for f in remaining][:50]}
