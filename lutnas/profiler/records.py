"""``OpRecord``: one operator (or fused node, or layer) of a profiled run, used by parsers and
runners alike, and the one function that turns records into a per-category breakdown (ms)."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from lutnas.categories import CATEGORIES, OTHERS


@dataclasses.dataclass(frozen=True)
class OpRecord:
    """One operator row. ``avg_ms`` is its time per inference (all its calls in one inference).

    ``classified`` is False when no rule knew the name: the record sits in Others and is listed
    as unclassified, never dropped. ``percent`` is the tool's own share where it prints one.
    """

    name: str
    type: str
    category: str
    avg_ms: float
    count: int = 1
    classified: bool = True
    percent: float | None = None

    @property
    def total_ms(self) -> float:
        """Alias of ``avg_ms`` kept for runners' callers: time per inference, in ms."""
        return self.avg_ms

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def op_record(name: str, op_type: str, avg_ms: float, percent: float | None, count: int,
              category: str | None) -> OpRecord:
    """An OpRecord whose unknown category (``None``) goes to Others, marked unclassified."""
    return OpRecord(name, op_type, category if category is not None else OTHERS, float(avg_ms), int(count),
                    category is not None, None if percent is None else float(percent))


def breakdown_ms(records: Iterable[OpRecord]) -> dict[str, float]:
    """Milliseconds per category, all seven categories present."""
    out = {c: 0.0 for c in CATEGORIES}
    for r in records:
        out[r.category] += r.avg_ms
    return out
