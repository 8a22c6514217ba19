"""Plain-data summaries of specs (what `lutnas spec` prints)."""

from __future__ import annotations

from typing import Any

from lutnas.spaces.base import Spec


def spec_summary(spec: Spec) -> dict[str, Any]:
    """Shape, params, GFLOPs and the block list with counts of one spec."""
    shape = spec.shape()
    return {
        "spec": spec.canonical(),
        "factors": spec.factors(),
        "dim": shape.get("dim"),
        "tokens": shape.get("tokens"),
        "params": spec.params(),
        "gflops": spec.gflops,
        "gflops_by_category": {k: v / 1e9 for k, v in spec.macs_by_category().items()},
        "blocks": [
            {"key": key.canonical(), "kind": key.kind, "count": count, "params": key.params(),
             "gflops": key.macs() / 1e9}
            for key, count in spec.blocks()
        ],
    }
