"""python -m benchmarks.model_vs_rows: a whole model against the sum of its blocks, in one process.

For each spec, the model and each of its blocks (as a table builds them: ``copies="auto"``, and with
one copy) are timed in rounds, every artifact once per round, so the host's drift hits them all
alike; the medians over rounds are compared. Printed per model: model ms, Σ count × row for both
row kinds, and the gap (model − Σ rows) in ms and %. A gap that stays the same in ms across
depths is a per-inference cost no row pays; one that grows with depth belongs to the layers.
"""

from __future__ import annotations

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.models import auto_copies, build_block_copies, build_model, model_input
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space

SPECS = ("d=2,h=2,e=32,r=2,I=64,p=16", "d=4,h=2,e=32,r=2,I=64,p=16", "d=2,h=3,e=64,r=4,I=96,p=16",
         "d=4,h=3,e=64,r=4,I=96,p=16", "d=2,h=3,e=64,r=4,I=64,p=32", "d=4,h=3,e=64,r=4,I=64,p=32")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="torch-cpu")
    p.add_argument("--space", default="vit-mini")
    p.add_argument("--specs", default=",".join(f"[{s}]" for s in SPECS), help="[spec],[spec],...")
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    dev, prot, space = get_device(args.device), get_protocol(args.protocol), get_space(args.space)
    specs = [space.parse_spec(s.strip("[]")) for s in args.specs.split("],[")]
    header(f"model vs rows on {args.device}, {len(specs)} models of {args.space}, {args.rounds} rounds, protocol {prot.name}")
    arts: dict[tuple[str, str], tuple[object, int]] = {}
    for s in specs:
        arts[("model", s.canonical())] = (dev.prepare(build_model(s), model_input(s)), 1)
        for key, _ in s.blocks():
            for kind, n in (("auto", auto_copies(key)), ("one", 1)):
                if (kind, key.canonical()) not in arts:
                    arts[(kind, key.canonical())] = (dev.prepare(*build_block_copies(key, n)), n)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in arts}
    for _ in range(args.rounds):
        for k, (art, n) in arts.items():
            samples, _ = dev.time(art, prot)
            times[k].append(float(np.median(samples)) / n)
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = []
    for s in specs:
        model = med[("model", s.canonical())]
        auto = sum(c * med[("auto", k.canonical())] for k, c in s.blocks())
        one = sum(c * med[("one", k.canonical())] for k, c in s.blocks())
        rows.append([s.canonical(), model, auto, one, model - auto, 100 * (model / auto - 1)])
    print(table(rows, ["spec", "model ms", "Σ rows (auto copies)", "Σ rows (1 copy)", "gap ms", "gap %"]))
    gaps = np.array([r[4] for r in rows])
    print(f"gap (model − Σ auto rows): median {np.median(gaps):.3f} ms, range {gaps.min():.3f}–{gaps.max():.3f} ms")


if __name__ == "__main__":
    main()
