"""make bench-allocator: what the C allocator does to torch-cpu rows and the models built from them.

For a few ViTs of growing token count, the encoder row (one block, one weight copy, as a table
stores it) and the whole model (per encoder layer: model time / depth) are timed with torch-cpu's
``allocator=system`` (glibc's defaults: a large activation is mapped and unmapped on every call) and
``allocator=reuse`` (freed memory kept). Each mode runs in its own process (the setting is
process-wide), the two alternate ``--rounds`` times. Printed per model and mode: row and per-layer
medians over rounds, their spread over rounds, the share of the timed phase spent in the kernel
(page faults), the row / per-layer ratio (1.0: the table agrees with the model), and the process's
peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import numpy as np

from benchmarks._common import header, parser, table

SPECS = ("d=6,h=3,e=64,r=4,I=224,p=16", "d=6,h=6,e=32,r=4,I=160,p=8", "d=6,h=4,e=64,r=4,I=224,p=8",
         "d=6,h=8,e=32,r=4,I=320,p=8")


def _child(mode: str, protocol_name: str, specs: list[str]) -> None:
    """Time every spec's encoder row and model under ``mode``; print one JSON line."""
    from lutnas.devices import get_device
    from lutnas.models import build_block_copies, build_model
    from lutnas.profiler import get_protocol
    from lutnas.spaces import parse_spec

    dev, protocol, out = get_device("torch-cpu", allocator=mode), get_protocol(protocol_name), {}
    for text in specs:
        spec = parse_spec(text)
        (enc, depth), first = next((kc for kc in spec.blocks() if kc[0].kind == "encoder")), next(iter(spec.blocks()))[0]
        res = {}
        for what, (module, x), per in (("row", build_block_copies(enc, 1), 1),
                                       ("model", (build_model(spec), build_block_copies(first, 1)[1]), depth)):
            art = dev.prepare(module, x)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            m = dev.measure(art, protocol, enc)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            res[what] = {"ms": m.median_ms / per, "sys": (r1.ru_stime - r0.ru_stime) / cpu if cpu else 0.0}
        out[text] = {"tokens": enc.tokens, **res}
    out["_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["_allocator"] = dev.fingerprint()["allocator"]
    print(json.dumps(out))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two modes (default 2)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("specs", nargs="*", default=list(SPECS), help="ViT specs (default: 197 to 1,601 tokens)")
    args = p.parse_args()
    if args.child:
        _child(args.child, args.protocol, args.specs)
        return
    header(f"bench-allocator, protocol {args.protocol}, {args.rounds} rounds")
    runs: dict[str, list[dict]] = {"system": [], "reuse": []}
    for r in range(args.rounds):
        for mode in ("system", "reuse") if r % 2 == 0 else ("reuse", "system"):
            cmd = [sys.executable, "-m", "benchmarks.allocator", "--child", mode, "--protocol", args.protocol, *args.specs]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            runs[mode].append(res)
            print(f"  round {r + 1} {mode:<6} ({res['_allocator']}): "
                  + ", ".join(f"{res[s]['tokens']} tok row {res[s]['row']['ms']:.2f} / layer {res[s]['model']['ms']:.2f} ms"
                              for s in args.specs), flush=True)
    rows = []
    for spec in args.specs:
        for mode, rs in runs.items():
            row = np.array([x[spec]["row"]["ms"] for x in rs])
            layer = np.array([x[spec]["model"]["ms"] for x in rs])
            rows.append([spec, rs[0][spec]["tokens"], mode, float(np.median(row)), 100 * (row.max() / row.min() - 1),
                         float(np.median(layer)), 100 * (layer.max() / layer.min() - 1),
                         100 * float(np.median([x[spec]["row"]["sys"] for x in rs])),
                         100 * float(np.median([x[spec]["model"]["sys"] for x in rs])), float(np.median(row / layer))])
    print()
    print(table(rows, ["spec", "tokens", "allocator", "row ms", "row spread %", "per layer ms", "layer spread %",
                       "row sys %", "model sys %", "row / layer"]))
    for mode, rs in runs.items():
        print(f"peak memory ({mode}): {max(x['_rss_mib'] for x in rs):.0f} MiB")


if __name__ == "__main__":
    main()
