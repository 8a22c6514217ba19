"""A synthetic LUT for tests: latencies an analytic function of each block, written with lutnas' own writer."""

from lutnas.luts import write_table
from lutnas.spaces import block_macs_by_category


def synthetic_rows(space, scale: float = 1.0) -> list[dict]:
    rows = []
    for key in space.unique_blocks():
        ms = scale * (0.01 + sum(block_macs_by_category(key).values()) / 1e8)
        rows.append({"device": "synthetic", "kind": key.kind, "key": key.canonical(), **key.fields(), "batch": 1,
                     "copies": 1, "method": "isolated", "median_ms": ms, "mean_ms": ms, "p10_ms": ms, "p90_ms": ms,
                     "std_ms": 0.0, "cv": 0.0, "n": 10, "flagged": False, "protocol": "synthetic"})
    return rows


def write_synthetic(path, space, rows=None):
    """Write a synthetic table of ``space`` (or the given rows) to ``path``; returns the path."""
    write_table(rows if rows is not None else synthetic_rows(space),
                {"device": "synthetic", "space": space.to_dict(), "protocol": {"name": "synthetic"}}, path)
    return path
