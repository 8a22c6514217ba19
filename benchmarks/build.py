"""make bench-build: device-seconds for a LUT vs measuring every model, and the 2,700-grid projection.

1. vit-mini on torch-cpu: wall time to build its table (52 blocks) vs to measure all 64 models,
   same protocol.
2. The full vit-scaling grid (593 blocks, 2,700 models): a stratified sample of blocks is measured;
   a protocol cost model (warm-up + max(min_time, min_runs × call) capped at max_time, plus a fixed
   per-row overhead) is fitted on the sample's wall times, call times come from the analytic
   multiply-adds at the sample's measured rate, and the model is summed over every block and
   every model. The fit is checked against the sample itself (printed).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.measure import build_lut
from lutnas.measure.validate import measure_models
from lutnas.models import auto_copies
from lutnas.profiler import get_protocol
from lutnas.spaces import block_macs_by_category, get_space


def protocol_seconds(call_ms: np.ndarray, p, overhead_s: float) -> np.ndarray:
    timed = np.minimum(np.maximum(p.min_time_ms, p.min_runs * call_ms), p.max_time_ms)
    warm = np.maximum(p.warmup_ms, p.warmup_runs * call_ms)
    return (timed + warm) / 1e3 + overhead_s


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="torch-cpu")
    p.add_argument("--sample", type=int, default=24)
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    dev = get_device(args.device)
    header(f"bench-build on {args.device}, protocol {protocol.name}")
    mini = get_space("vit-mini")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build_lut(dev, mini, mini.grid(), Path(tmp) / "mini.parquet", protocol, ops=False)
        lut_s = time.perf_counter() - t
    t = time.perf_counter()
    measure_models(dev, mini.grid(), protocol)
    models_s = time.perf_counter() - t
    print(table([["vit-mini", len(mini.unique_blocks()), lut_s, mini.size, models_s, models_s / lut_s]],
                ["space", "blocks", "LUT build s", "models", "measure-all s", "ratio"]))

    grid = get_space("vit-scaling")
    blocks = grid.unique_blocks()
    macs = np.array([sum(block_macs_by_category(k).values()) for k in blocks], float)
    rng = np.random.default_rng(0)
    order = np.argsort(macs)
    strata = np.array_split(order, args.sample)
    sample = [int(rng.choice(s)) for s in strata if len(s)]
    walls, calls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in sample:
            key = blocks[i]
            t = time.perf_counter()
            build_lut(dev, grid, [], Path(tmp) / f"{i}.parquet", protocol, ops=False, keys=[key])
            walls.append(time.perf_counter() - t)
            import pandas as pd

            row = pd.read_parquet(Path(tmp) / f"{i}.parquet").iloc[0]
            calls.append(float(row["median_ms"]) * int(row["copies"]))
            print(f"  {key.canonical():62s} call {calls[-1]:9.3f} ms  wall {walls[-1]:6.2f} s", flush=True)
    walls, calls = np.array(walls), np.array(calls)
    copies = np.array([auto_copies(k) for k in blocks])
    ms_per_mac = np.median(calls / (macs[sample] * copies[sample]))
    overhead = float(np.median(walls - protocol_seconds(calls, protocol, 0.0)))
    fit = protocol_seconds(calls, protocol, overhead)
    print(f"cost model on the sample: predicted {fit.sum():.1f} s vs actual {walls.sum():.1f} s; per-row overhead {overhead:.2f} s")
    all_calls = macs * copies * ms_per_mac
    grid_lut_s = protocol_seconds(all_calls, protocol, overhead).sum()
    specs = grid.grid()
    model_ms = np.array([s.macs() for s in specs], float) * ms_per_mac
    grid_models_s = protocol_seconds(model_ms, protocol, overhead).sum()
    print(table([["vit-scaling", len(blocks), grid_lut_s / 60, len(specs), grid_models_s / 60, grid_models_s / grid_lut_s]],
                ["space", "blocks", "LUT build min (projected)", "models", "measure-all min (projected)", "ratio"]))


if __name__ == "__main__":
    main()
