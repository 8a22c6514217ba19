"""Verify torch-cuda on a real GPU: DeiT-Tiny latency and per-op breakdown, the ViT-scaling study's max-batch
throughput, and a small LUT with its fidelity at batch 1 and at a large batch.

Run on a GPU machine: ``python -m benchmarks.gpu_verify --out DIR`` (writes gpu_verify.json).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks._common import header, parser, table
from lutnas.devices import get_device, list_devices
from lutnas.measure.target import measurement_summary, measure_target
from lutnas.luts import LUT
from lutnas.measure import build_lut, validate
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space, parse_spec

SUBSPACE = {"d": [3, 6, 12], "h": [2, 3, 6], "e": [32, 64], "r": [2, 4], "I": [128, 160, 224], "p": [16, 32]}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--out", default="out")
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--batches", default="1,64")
    p.add_argument("--graphs", default="0,1", help="CUDA-graph settings to compare for the tables")
    p.add_argument("--skip-basics", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol = get_protocol(args.protocol)
    header(f"gpu-verify, protocol {protocol.name}")
    result: dict = {"devices": list_devices()}
    dev = get_device("torch-cuda")
    result["fingerprint"] = dev.fingerprint()
    print(json.dumps(result["fingerprint"], indent=1))
    tiny = parse_spec("deit-tiny")
    if args.skip_basics:
        return tables(args, out, protocol, result)
    m, ops = measure_target(dev, tiny, protocol, ops=True, op_runs=20)
    s = measurement_summary(m, ops)
    result["deit_tiny_latency"] = {k: s[k] for k in ("median_ms", "p10_ms", "p90_ms", "cv", "n", "op_sum_ms", "op_sum_ratio",
                                                     "breakdown_ms", "unclassified")}
    print(f"DeiT-Tiny batch 1: median {m.median_ms:.4f} ms (p10 {m.p10_ms:.4f}, p90 {m.p90_ms:.4f}, CV {m.cv:.1%}); "
          f"kernel-time sum {s['op_sum_ms']:.4f} ms ({s['op_sum_ratio']:.2f} x)")
    print(table([[c, v] for c, v in s["breakdown_ms"].items()], ["category (GPU kernel time)", "ms"]))
    thr = get_device("torch-cuda", mode="throughput")
    for name in ("deit-tiny", "deit-small"):
        mt, _ = measure_target(thr, parse_spec(name), protocol)
        timing = mt.metadata["timing"]
        result[f"{name}_throughput"] = {"batch": timing["batch"], "median_ms_per_batch": mt.median_ms,
                                        "images_per_s": timing["images_per_s"]}
        print(f"{name} throughput mode: max power-of-2 batch {timing['batch']}, {mt.median_ms:.2f} ms per batch, "
              f"{timing['images_per_s']:.0f} images/s")
    tables(args, out, protocol, result)


def tables(args, out: Path, protocol, result: dict) -> None:
    space = get_space("vit-scaling", SUBSPACE)
    pool = space.sample(args.models + 5, 2024)
    rows = []
    for graphs in (bool(int(g)) for g in args.graphs.split(",")):
        dev = get_device("torch-cuda", graphs=graphs)
        for batch in (int(b) for b in args.batches.split(",")):
            path = out / f"torch-cuda-b{batch}-graphs{int(graphs)}.parquet"
            t = time.perf_counter()
            info = build_lut(dev, space, space.grid(), path, protocol, batch=batch, ops=False)
            build_s = time.perf_counter() - t
            res = validate(LUT.read(path), dev, pool[5:], protocol, pool[:5], batch=batch)
            result[f"lut_b{batch}_graphs{int(graphs)}"] = {
                "rows": info["rows"], "build_s": build_s, "raw": res["raw"], "calibrated": res["calibrated"],
                "calibration": res["calibration"], "worst": res["worst"][:3], "models": res["models"]}
            for kind in ("raw", "calibrated"):
                r = res[kind]
                rows.append([batch, int(graphs), kind, r["n"], 100 * r["within_5pct"], 100 * r["within_10pct"],
                             100 * r["mape"], r["kendall_tau"]])
            print(f"batch {batch} graphs {graphs}: table of {info['rows']} blocks built in {build_s:.0f} s", flush=True)
            (out / "gpu_verify.json").write_text(json.dumps(result, indent=1, default=str))
    print(table(rows, ["batch", "graphs", "prediction", "n", "±5 % (%)", "±10 % (%)", "MAPE %", "Kendall τ"]))


if __name__ == "__main__":
    main()
