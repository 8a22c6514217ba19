"""A search history file: every evaluated spec with its costs and score, plus the problem it answers.

The problem (space, constraints, objective, each table's device, batch and content digest) is
stored as JSON under the ``lutnas`` schema-metadata key. A resumed search reuses stored results
only for the same problem; a history of another problem is refused with one line, so feasibility
and scores of one problem are never mixed into another.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lutnas.errors import InputError
from lutnas.luts.schema import write_parquet_atomic
from lutnas.search.problem import LatencyCost, Problem

META_KEY = b"lutnas"
REQUIRED = ("spec", "score", "feasible")


def table_digest(lut: Any) -> str:
    """Content hash of a table's rows (key, batch, median) and calibration."""
    rows = lut.rows
    h = hashlib.sha256()
    cols = [c for c in ("key", "batch", "median_ms") if c in rows]
    h.update(pd.util.hash_pandas_object(rows[cols].sort_values(cols[:2]), index=False).to_numpy().tobytes())
    h.update(json.dumps(lut.calibration, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def problem_signature(problem: Problem) -> dict[str, Any]:
    """What a history's stored results depend on, JSON-able and comparable."""
    obj = problem.objective
    name = getattr(problem, "objective_name", None) or getattr(obj, "__qualname__", type(obj).__name__)
    tables = [{"cost": n, "device": f.lut.device, "batch": f.batch, "digest": table_digest(f.lut)}
              for n, f in problem.costs.items() if isinstance(f, LatencyCost)]
    return {"space": problem.space.to_dict(), "constraints": [str(c) for c in problem.constraints],
            "objective": str(name), "tables": tables}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = []
    for k in ("constraints", "objective", "tables", "space"):
        if old.get(k) != new.get(k):
            if k == "constraints":
                parts.append(f"constraints {'; '.join(old.get(k) or []) or 'none'} (now {'; '.join(new[k]) or 'none'})")
            elif k == "objective":
                parts.append(f"objective {old.get(k)!r} (now {new[k]!r})")
            elif k == "tables":
                parts.append("other tables or table contents")
            else:
                parts.append(f"space {(old.get(k) or {}).get('name')!r} with other values")
    return ", ".join(parts)


def read_history(path: Path, signature: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows of an existing history by spec; refuses an unreadable file or one of another problem."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"search history {str(path)!r} could not be read: {exc}") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InputError(f"search history {str(path)!r} lacks column(s) {', '.join(missing)}; is it a lutnas "
                         f"search history?")
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        old = json.loads(raw).get("problem") if raw else None
    except (json.JSONDecodeError, AttributeError):
        old = None
    if old is None:
        raise InputError(f"search history {str(path)!r} records no problem (written by an older lutnas?); "
                         f"its results cannot be checked against this search: use another --out")
    if old != signature:
        raise InputError(f"search history {str(path)!r} answers another problem ({_differences(old, signature)}); "
                         f"its results would be wrong here: use another --out")
    df = table.to_pandas()
    costs = [t["cost"] for t in signature.get("tables", []) if t["cost"] not in df.columns]
    if costs:
        raise InputError(f"search history {str(path)!r} lacks cost column(s) {', '.join(costs)}")
    return {r["spec"]: r for r in df.to_dict("records")}


def write_history(path: Path, rows: list[dict[str, Any]], signature: dict[str, Any]) -> None:
    """Write the history atomically (temp file, fsync, rename), with its problem."""
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps({"problem": signature}, default=str).encode()
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(table, path)


__all__ = ["problem_signature", "read_history", "table_digest", "write_history"]
