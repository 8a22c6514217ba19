"""make bench-fidelity (second part): AutoViT's hybrid space, isolated vs removal tables.

On ``autovit-xxs`` and one device (torch-cpu by default), build three tables — every block timed
in isolation (compositional: a model is the sum of its ~93 blocks), AutoViT's 46-module table
timed in isolation, and the 46-module table by the removal method (whole-model latency drop when
one module is removed) — then measure held-out sampled models once and compare each table's
raw and calibrated predictions (calibration fitted on ``--calibrate`` other models, a robust ratio
below 8 models, least squares from 8). Module tables ignore everything that is not a module
(transition layers, MobileViT convolutions, pooling head), as AutoViT's does; calibration is
what turns their sums into milliseconds.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.analysis.fidelity import fidelity
from lutnas.luts import LUT, fit_calibration
from lutnas.measure import build_lut, measure_models
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="torch-cpu")
    p.add_argument("--space", default="autovit-xxs")
    p.add_argument("--models", type=int, default=30, help="held-out models")
    p.add_argument("--calibrate", type=int, default=10)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    space = get_space(args.space)
    dev = get_device(args.device)
    out = Path(args.out or tempfile.mkdtemp(prefix="lutnas-methods-"))
    header(f"bench-fidelity (methods): {args.space} on {args.device}, protocol {protocol.name}, "
           f"{args.calibrate} calibration + {args.models} held-out models")
    builds = {"isolated, all blocks": dict(method="isolated", modules=False, keys=space.unique_blocks()),
              "isolated, 46 modules": dict(method="isolated", modules=True, keys=None),
              "removal, 46 modules": dict(method="removal", modules=True, keys=None)}
    luts = {}
    for name, kw in builds.items():
        path = out / (name.replace(", ", "-").replace(" ", "_") + ".parquet")
        t0 = time.perf_counter()
        info = build_lut(dev, space, [], path, protocol, ops=False, **kw)
        luts[name] = LUT.read(path)
        flagged = int(luts[name].rows["flagged"].sum())
        print(f"  {name}: {info['rows']} rows in {time.perf_counter() - t0:.0f} s ({flagged} flagged)", flush=True)
    pool = space.sample(args.models + args.calibrate, 2024)
    cal_specs, held = pool[: args.calibrate], pool[args.calibrate:]
    t0 = time.perf_counter()
    measured_cal = measure_models(dev, cal_specs, protocol)
    measured = measure_models(dev, held, protocol)
    print(f"  measured {len(pool)} models in {time.perf_counter() - t0:.0f} s "
          f"(median {np.median(measured):.2f} ms, range {measured.min():.2f}–{measured.max():.2f})", flush=True)
    rows = []
    for name, lut in luts.items():
        raw = lut.predict(held).raw_ms
        cal = fit_calibration(lut.predict(cal_specs).raw_ms, measured_cal)
        for kind, pred in (("raw", raw), ("calibrated", cal["a"] * raw + cal["b"])):
            r = fidelity(pred, measured)
            rows.append([name, kind, r["n"], 100 * r["within_5pct"], 100 * r["within_10pct"], 100 * r["mape"],
                         100 * r["mean_error"], r["kendall_tau"]])
    print()
    print(table(rows, ["table", "prediction", "n", "±5 % (%)", "±10 % (%)", "MAPE %", "mean err %", "Kendall τ"]))
    print(f"tables in {out}")


if __name__ == "__main__":
    main()
