"""make bench-fidelity: does sum-of-blocks predict full models on this machine?

For each CPU device: build a table for the documented sub-space below (cache-realistic weight
copies, and once more with a single copy to show the effect), calibrate on 5 measured models,
then validate on >= 50 other full models. Prints within ±5 %, ±10 %, MAPE and Kendall τ for raw
and calibrated predictions. Targets: >= 99 % within ±5 % after calibration, τ >= 0.95.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.luts import LUT
from lutnas.measure import build_lut, validate
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space

SUBSPACE = {"d": [3, 6, 12], "h": [2, 3, 6], "e": [32, 64], "r": [2, 4], "I": [128, 160, 224], "p": [16, 32]}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--devices", default="torch-cpu,ort-cpu,tflite-cpu", help="devices not usable here are skipped")
    p.add_argument("--models", type=int, default=50, help="held-out models per device")
    p.add_argument("--calibrate", type=int, default=5)
    p.add_argument("--copies", default="auto,1", help="copies settings to compare")
    p.add_argument("--out", default=None, help="folder for tables (default: a temp folder)")
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    space = get_space("vit-scaling", SUBSPACE)
    header(f"bench-fidelity: space vit-scaling narrowed to {SUBSPACE} ({space.size} specs, "
           f"{len(space.unique_blocks())} blocks), protocol {protocol.name}")
    pool = space.sample(args.models + args.calibrate, 2024)
    cal, held = pool[: args.calibrate], pool[args.calibrate:]
    out = Path(args.out or tempfile.mkdtemp(prefix="lutnas-fidelity-"))
    rows = []
    for device in args.devices.split(","):
        usable, why = get_device(device).availability()
        if not usable:
            print(f"  {device}: skipped ({why})")
            continue
        for copies in args.copies.split(","):
            dev = get_device(device)
            path = out / f"{device}-copies{copies}.parquet"
            info = build_lut(dev, space, space.grid(), path, protocol, copies="auto" if copies == "auto" else int(copies),
                             ops=False)
            res = validate(LUT.read(path), dev, held, protocol, cal)
            for kind in ("raw", "calibrated", "drift_corrected"):
                r = res[kind]
                rows.append([device, copies, kind, r["n"], 100 * r["within_5pct"], 100 * r["within_10pct"],
                             100 * r["mape"], 100 * r["mean_error"], r["kendall_tau"]])
            print(f"  {device} copies={copies}: table {info['rows']} rows in {info['seconds']:.0f} s; "
                  f"calibration a={res['calibration']['a']:.4f} b={res['calibration']['b']:.4f} ms; "
                  f"host drift since the build ×{res['drift_ratio']:.3f}; "
                  f"worst {res['worst'][0]['spec']} {100 * res['worst'][0]['error']:+.1f} %", flush=True)
    print()
    print(table(rows, ["device", "copies", "prediction", "n", "±5 % (%)", "±10 % (%)", "MAPE %", "mean err %", "Kendall τ"]))
    print(f"tables in {out}")


if __name__ == "__main__":
    main()
