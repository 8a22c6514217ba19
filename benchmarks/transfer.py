"""make bench-transfer: a table for a new device from 5 %, 10 % and 20 % of its blocks.

For every device below a full table of a sub-space is built (resumable in ``--out``) and
``--models`` held-out models are measured once. Then for each ordered pair (source → target) and
budget, the target's rows for the chosen blocks (k-center or random) are taken from its full
table — the very measurements a transfer run would make — the rest are predicted from the
source (and from all the other tables at once), and the transferred table predicts the held-out models. Printed: MAPE, bias and Kendall τ
against the measured models, next to the fully measured table's, and the device-seconds spent
(the chosen rows' ``measure_s`` over the full table's). Also, against the full table itself (no
model measured): the predicted rows' MAPE, their share within ±1 σ of the stated uncertainty, and
MAPE and τ over up to 3,000 specs of the space (the whole vit-scaling grid) — figures that do not
carry the held-out models' own noise. ``--repeat T`` names a second full table of one target
device (built at another time): its agreement with the first is what measuring everything again
achieves on this host, the yardstick for the transferred tables. ``--tables luts/*.parquet`` uses tables
already built (the shipped full-grid ones) instead of building sub-space tables; the held-out
models of a target are then those its own validation measured (stored in its metadata), else they
are measured.
Goal: with ≤ 10 % measured, MAPE ≤ 1.5 × the full table's, τ ≥ 0.95, ≥ 10 × fewer device-seconds.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import header, parser, table
from benchmarks.fidelity import subspace
from lutnas.analysis.fidelity import fidelity
from lutnas.devices import get_device
from lutnas.luts import LUT
from lutnas.luts.transfer import CANDIDATES, features, predicted_rows, select, source_latencies, source_seconds
from lutnas.measure import build_lut, measure_models
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space

DEVICES = "torch-cpu,ort-cpu,tflite-cpu,torch-cpu@threads=2,tflite-cpu@xnnpack=false"


def _device(text: str):
    name, _, opts = text.partition("@")
    params = dict(o.split("=", 1) for o in opts.split(";") if o)
    return get_device(name, **{k: (int(v) if v.isdigit() else v) for k, v in params.items()})


def _stored_models(lut: LUT) -> dict[str, float]:
    """``{spec: measured_ms}`` of the table's stored validation (``lut validate`` stores it), or ``{}``."""
    return {m["spec"]: float(m["measured_ms"]) for m in (lut.meta.get("validation") or {}).get("models") or []}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--devices", default=DEVICES, help="comma-separated; NAME@opt=value;opt2=value for options")
    p.add_argument("--seed", type=int, default=0, help="sub-space seed (see bench-fidelity)")
    p.add_argument("--space", default="vit-scaling", help="vit-scaling (narrowed by --seed) or any space, whole")
    p.add_argument("--models", type=int, default=30, help="held-out models measured per device")
    p.add_argument("--budgets", default="5,10,20", help="percentages of the blocks measured")
    p.add_argument("--strategies", default="kcenter,random")
    p.add_argument("--out", default=None, help="folder for the full tables and measured models (resumable)")
    p.add_argument("--tables", default=None, help="comma-separated full tables to use instead of building (one space)")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="transfer models cross-validation picks from")
    p.add_argument("--no-seconds", action="store_true", help="k-center by distance only (not per second of measuring)")
    p.add_argument("--no-recheck", action="store_true", help="do not re-measure odd rows of tables in --out (resuming)")
    p.add_argument("--repeat", default=None, help="a second full table of one target device: build-to-build agreement")
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    given = {}
    if args.tables:
        for path in args.tables.split(","):
            lut = LUT.read(path)
            name = lut.device
            if name in given:  # two tables of one device with other options (threads=2, xnnpack=false...)
                name += "@" + ";".join(f"{k}={v}" for k, v in (lut.meta.get("device_params") or {}).items())
            given[name] = (lut, Path(path))
        args.devices = ",".join(given)
        space = next(iter(given.values()))[0].space()
    else:
        space = get_space(args.space, subspace(args.seed) if args.space == "vit-scaling" else {})
    keys = space.unique_blocks()
    header(f"bench-transfer: {len(keys)} blocks of {space.name} (seed {args.seed}), protocol {protocol.name}")
    sample = list({s.canonical(): s for s in space.sample(args.models, 777 + args.seed)}.values())
    held: dict[str, list] = {}
    out = Path(args.out or tempfile.mkdtemp(prefix="lutnas-transfer-"))
    tables: dict[str, LUT] = {}
    measured: dict[str, np.ndarray] = {}
    for text in args.devices.split(","):
        if text in given:
            lut, path = given[text]
            dev = get_device(lut.device, **(lut.meta.get("device_params") or {}))
            tables[text] = lut
            info = {"rows": len(lut.rows), "measured": 0}
            path = out / f"{path.stem}.parquet"
        else:
            dev = _device(text)
            usable, why = dev.availability()
            if not usable:
                print(f"  {text}: skipped ({why})")
                continue
            path = out / f"{text.replace('@', '_').replace('=', '-')}.parquet"
            info = build_lut(dev, space, space.grid(), path, protocol, ops=False, recheck=not args.no_recheck)
            tables[text] = LUT.read(path)
        cache = path.with_suffix(".models.json")
        stored = _stored_models(tables[text])
        held[text] = [space.parse_spec(spec) for spec in stored] if stored else sample
        if stored:  # the table's own validation measured held-out models: judge against those
            measured[text] = np.array(list(stored.values()))
        elif cache.exists():
            measured[text] = np.array(json.loads(cache.read_text()))
        else:
            measured[text] = measure_models(dev, sample, protocol)
            cache.write_text(json.dumps(measured[text].tolist()))
        print(f"  {text}: {info['rows']} rows ({info['measured']} measured now), {len(held[text])} held-out models "
              f"({'its stored validation' if stored else 'measured'})", flush=True)
    specs = space.grid() if space.size <= 3000 else space.sample(3000, 1)
    again = LUT.read(args.repeat) if args.repeat else None
    rows = []
    for target, tlut in tables.items():
        full = fidelity(tlut.predict(held[target]).raw_ms, measured[target])
        full_s = float(pd.to_numeric(tlut.rows.get("measure_s"), errors="coerce").sum())
        full_grid = tlut.predict(specs).raw_ms
        rows.append([f"(full) → {target}", "-", "100", 100 * full["mape"], 100 * full["bias"], full["kendall_tau"],
                     "-", "-", "-", "-", full_s, 1.0])
        if again is not None and again.device == target:
            # at the first table's host speed (the median row ratio out), as a rebaseline would express it
            scale = float(np.median(tlut.lookup_keys(keys)[0] / again.lookup_keys(keys)[0]))
            print(f"  --repeat {args.repeat}: rows × {scale:.3f} (the two builds' median row ratio)")
            g = fidelity(scale * again.predict(specs).raw_ms, full_grid)
            f = fidelity(scale * again.predict(held[target]).raw_ms, measured[target])
            r = fidelity(scale * again.lookup_keys(keys)[0], tlut.lookup_keys(keys)[0])
            rows.append([f"(again) → {target}", "-", "100", 100 * f["mape"], 100 * f["bias"], f["kendall_tau"],
                         100 * r["mape"], "-", 100 * g["mape"], g["kendall_tau"], "-", "-"])
        trows = {r["key"]: r for r in tlut.rows.to_dict("records")}
        others = [(name, [lut]) for name, lut in tables.items() if name != target]
        if len(others) > 1:  # every other table at once (`lut transfer --from A --from B ...`)
            others.append(("+".join(name for name, _ in others), [lut for _, (lut,) in others]))
        for source, sluts in others:
            src_ms = source_latencies(sluts, keys)
            X = features(keys, src_ms)
            seconds = None if args.no_seconds else source_seconds(sluts, keys)
            for strategy in args.strategies.split(","):
                for pct in (float(b) for b in args.budgets.split(",")):
                    chosen = select(keys, X, max(3, round(pct / 100 * len(keys))), strategy, args.seed, seconds)
                    have = {keys[i].canonical(): trows[keys[i].canonical()] for i in chosen}
                    new, model = predicted_rows(keys, X, src_ms, have, tlut.device, protocol.name, seed=args.seed,
                                                candidates=args.candidates.split(","))
                    lut = LUT(pd.DataFrame(list(have.values()) + new), dict(tlut.meta), None)
                    f = fidelity(lut.predict(held[target]).raw_ms, measured[target])
                    truth = np.array([float(trows[r["key"]]["median_ms"]) for r in new])
                    pred = np.array([r["median_ms"] for r in new])
                    within = float(np.mean(np.abs(np.log(truth / pred)) <= np.log1p([r["uncertainty"] for r in new])))
                    g = fidelity(lut.predict(specs).raw_ms, full_grid)
                    secs = float(sum(float(r.get("measure_s") or 0.0) for r in have.values()))
                    rows.append([f"{source} → {target}", strategy, f"{pct:g}", 100 * f["mape"], 100 * f["bias"],
                                 f["kendall_tau"], 100 * fidelity(pred, truth)["mape"], 100 * within,
                                 100 * g["mape"], g["kendall_tau"], secs, full_s / secs if secs else float("nan")])
                    print(f"  {source} → {target} {strategy} {pct:g} %: MAPE {100 * f['mape']:.1f} % "
                          f"(full {100 * full['mape']:.1f} %), τ {f['kendall_tau']:.3f}, grid τ {g['kendall_tau']:.3f}, "
                          f"model {model.name}", flush=True)
    print()
    print(table(rows, ["pair", "strategy", "% measured", "MAPE %", "bias %", "Kendall τ", "rows MAPE %",
                       "rows in ±1σ %", "grid MAPE %", "grid τ", "device-s", "× fewer"]))
    print("MAPE, bias, Kendall τ: against the held-out models as measured; rows and grid: against the full table")
    print(f"tables in {out}")


if __name__ == "__main__":
    main()
