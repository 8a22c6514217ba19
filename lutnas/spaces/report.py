"""Plain-data summaries of specs (what `lutnas spec` prints)."""

from __future__ import annotations

from typing import Any

from lutnas.spaces.vit import ViTSpec, block_macs_by_category, block_params


def spec_summary(spec: ViTSpec) -> dict[str, Any]:
    """Shape, params, GFLOPs and the block list with counts of one spec."""
    return {
        "spec": spec.canonical(),
        "factors": spec.factors(),
        "dim": getattr(spec, "dim", None),
        "tokens": getattr(spec, "tokens", None),
        "params": spec.params(),
        "gflops": spec.gflops,
        "gflops_by_category": {k: v / 1e9 for k, v in spec.macs_by_category().items()},
        "blocks": [
            {"key": key.canonical(), "kind": key.kind, "count": count, "params": block_params(key),
             "gflops": sum(block_macs_by_category(key).values()) / 1e9}
            for key, count in spec.blocks()
        ],
    }
