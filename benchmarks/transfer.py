"""make bench-transfer: a table for a new device from 5 %, 10 % and 20 % of its blocks.

For every device below a full table of a sub-space is built (resumable in ``--out``) and
``--models`` held-out models are measured once. Then for each ordered pair (source → target) and
budget, the target's rows for the chosen blocks (k-center or random) are taken from its full
table — the very measurements a transfer run would make — the rest are predicted from the
source, and the transferred table predicts the held-out models. Printed: MAPE, bias and Kendall τ
against the measured models, next to the fully measured table's, and the device-seconds spent
(the chosen rows' ``measure_s`` over the full table's). ``--tables luts/*.parquet`` uses tables
already built (the shipped full-grid ones) instead of building sub-space tables; the held-out
models are then those the tables' own validations measured (stored in their metadata, when all
tables hold the same ones), else they are measured.
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
from lutnas.luts.transfer import features, predicted_rows, select, source_latencies
from lutnas.measure import build_lut, measure_models
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space

DEVICES = "torch-cpu,ort-cpu,tflite-cpu,torch-cpu@threads=2,tflite-cpu@xnnpack=false"


def _device(text: str):
    name, _, opts = text.partition("@")
    params = dict(o.split("=", 1) for o in opts.split(";") if o)
    return get_device(name, **{k: (int(v) if v.isdigit() else v) for k, v in params.items()})


def _stored_models(given: dict) -> dict[str, dict[str, float]]:
    """``{device: {spec: measured_ms}}`` from each given table's stored validation, when every table
    has one over the same models (``lut validate`` stores them); else ``{}``."""
    out = {}
    for name, (lut, _) in given.items():
        models = (lut.meta.get("validation") or {}).get("models")
        if not models:
            return {}
        out[name] = {m["spec"]: float(m["measured_ms"]) for m in models}
    if len({tuple(v) for v in out.values()}) != 1:
        return {}
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--devices", default=DEVICES, help="comma-separated; NAME@opt=value for options")
    p.add_argument("--seed", type=int, default=0, help="sub-space seed (see bench-fidelity)")
    p.add_argument("--space", default="vit-scaling", help="vit-scaling (narrowed by --seed) or any space, whole")
    p.add_argument("--models", type=int, default=30, help="held-out models measured per device")
    p.add_argument("--budgets", default="5,10,20", help="percentages of the blocks measured")
    p.add_argument("--strategies", default="kcenter,random")
    p.add_argument("--out", default=None, help="folder for the full tables and measured models (resumable)")
    p.add_argument("--tables", default=None, help="comma-separated full tables to use instead of building (one space)")
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    given = {}
    if args.tables:
        for path in args.tables.split(","):
            lut = LUT.read(path)
            given[lut.device] = (lut, Path(path))
        args.devices = ",".join(given)
        space = next(iter(given.values()))[0].space()
    else:
        space = get_space(args.space, subspace(args.seed) if args.space == "vit-scaling" else {})
    keys = space.unique_blocks()
    header(f"bench-transfer: {len(keys)} blocks of {space.name} (seed {args.seed}), protocol {protocol.name}")
    held = list({s.canonical(): s for s in space.sample(args.models, 777 + args.seed)}.values())
    stored = _stored_models(given)
    if stored:  # the tables' own validations measured the same held-out models: judge against those
        held = [space.parse_spec(spec) for spec in stored[next(iter(stored))]]
        print(f"  held-out: the {len(held)} models each table's validation measured (stored in its metadata)")
    out = Path(args.out or tempfile.mkdtemp(prefix="lutnas-transfer-"))
    tables: dict[str, LUT] = {}
    measured: dict[str, np.ndarray] = {}
    for text in args.devices.split(","):
        if text in given:
            lut, path = given[text]
            dev = get_device(text, **(lut.meta.get("device_params") or {}))
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
            info = build_lut(dev, space, space.grid(), path, protocol, ops=False)
            tables[text] = LUT.read(path)
        cache = path.with_suffix(".models.json")
        if stored:
            measured[text] = np.array(list(stored[text].values()))
        elif cache.exists():
            measured[text] = np.array(json.loads(cache.read_text()))
        else:
            measured[text] = measure_models(dev, held, protocol)
            cache.write_text(json.dumps(measured[text].tolist()))
        print(f"  {text}: {info['rows']} rows ({info['measured']} measured now), {len(held)} models measured", flush=True)
    rows = []
    for target, tlut in tables.items():
        full = fidelity(tlut.predict(held).raw_ms, measured[target])
        full_s = float(pd.to_numeric(tlut.rows.get("measure_s"), errors="coerce").sum())
        rows.append([f"(full) → {target}", "-", "100", 100 * full["mape"], 100 * full["bias"], full["kendall_tau"], full_s, 1.0])
        trows = {r["key"]: r for r in tlut.rows.to_dict("records")}
        for source, slut in tables.items():
            if source == target:
                continue
            src_ms = source_latencies([slut], keys)
            X = features(keys, src_ms)
            for strategy in args.strategies.split(","):
                for pct in (float(b) for b in args.budgets.split(",")):
                    chosen = select(keys, X, max(3, round(pct / 100 * len(keys))), strategy, seed=args.seed)
                    have = {keys[i].canonical(): trows[keys[i].canonical()] for i in chosen}
                    new, model = predicted_rows(keys, X, src_ms, have, tlut.device, protocol.name, seed=args.seed)
                    lut = LUT(pd.DataFrame(list(have.values()) + new), dict(tlut.meta), None)
                    f = fidelity(lut.predict(held).raw_ms, measured[target])
                    secs = float(sum(float(r.get("measure_s") or 0.0) for r in have.values()))
                    rows.append([f"{source} → {target}", strategy, f"{pct:g}", 100 * f["mape"], 100 * f["bias"],
                                 f["kendall_tau"], secs, full_s / secs if secs else float("nan")])
                    print(f"  {source} → {target} {strategy} {pct:g} %: MAPE {100 * f['mape']:.1f} % "
                          f"(full {100 * full['mape']:.1f} %), τ {f['kendall_tau']:.3f}, model {model.name}", flush=True)
    print()
    print(table(rows, ["pair", "strategy", "% measured", "MAPE %", "bias %", "Kendall τ", "device-s", "× fewer"]))
    print(f"tables in {out}")


if __name__ == "__main__":
    main()
