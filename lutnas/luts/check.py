"""`lutnas lut check`: does a table read, match its schema, cover its space, and agree with itself?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lutnas.errors import InputError
from lutnas.luts.consistency import suspicious_rows
from lutnas.luts.schema import schema_for
from lutnas.luts.table import LUT


def check_table(path: str | Path) -> dict[str, Any]:
    """Check one table file; returns a report with ``ok`` (reads, schema matches, covers its space)
    and the rows its self-check finds suspicious. Raises :class:`InputError` for an unreadable file."""
    lut = LUT.read(path)
    problems: list[str] = []
    expected = schema_for(sorted(set(lut.rows["kind"])))  # the kinds' own key fields included
    for field in pq.read_schema(path):
        if field.name in expected.names and not expected.field(field.name).type.equals(field.type):
            problems.append(f"column {field.name!r} is {field.type}, the schema says {expected.field(field.name).type}")
    space = lut.space()
    coverage = None
    if space is None:
        problems.append("the table names no space")
    else:
        try:
            coverage = lut.summary(space, regressor=False)["coverage"]
        except InputError as exc:
            problems.append(str(exc))
        else:
            if coverage["fraction"] < 1.0:
                problems.append(f"covers {coverage['measured']} of the {coverage['space_blocks']} blocks of space "
                                f"{space.name!r}")
    findings = suspicious_rows(lut.rows)
    violations = [f for f in findings if f.other is not None]  # the monotonicity findings
    explained = {r["key"] for r in lut.rows.to_dict("records") if r.get("flagged") and isinstance(r.get("flag_reason"), str)}
    return {"path": str(path), "device": lut.device, "space": space.name if space is not None else None,
            "rows": int(len(lut.rows)), "coverage": coverage, "problems": problems, "ok": not problems,
            "suspicious": len(findings), "monotonicity_violations": len(violations),
            "unexplained_violations": sum(1 for v in violations if v.key not in explained),
            "findings": [f.to_dict() for f in findings[:20]]}
