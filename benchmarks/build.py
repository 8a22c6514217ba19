"""make bench-build: a real full build of the 593-block vit-scaling grid table, and whether the
default protocol's 1.2 s cap on long blocks keeps the medians of 10 s of sampling.

1. Full build: ``build_lut`` over every block of the 2,700-model grid on one core (``--device``,
   protocol default, operator categories on, sentinel and recheck on — exactly what
   ``lutnas lut build`` does): wall minutes, device-seconds per kind, flagged and re-checked rows.
   ``--from TABLE`` reports the same figures from a table already built in one go (its rows carry
   ``measure_s`` and timestamps) instead of building again.
2. Protocol agreement: ``--agree K`` long blocks (the ones the cap shortens) are timed under
   ``default`` and under ``default`` with the old caps (10 s timed phase, warm-up by count), in the
   order A B A' B' so drift hits both alike. The capped protocol keeps the old one's fidelity when
   |A − B| is no larger than the host's own repeat error |A − A'|.
3. Protocol variants: ``--relax KEY=VALUE`` (repeatable, e.g. ``ci_rel=0.01``) times
   ``--relax-blocks`` random grid blocks under ``default`` and under ``default`` with those
   overrides, A B A' B' per block, paired with a sentinel as a build is: seconds per measurement,
   the mean difference, and each protocol's own repeat error |A − A'|, |B − B'| (mean, median, p90).
4. vit-mini: building its table against measuring all 64 models, same protocol (``--skip-mini``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import header, parser, protocol_override, table
from lutnas.devices import get_device
from lutnas.errors import InputError
from lutnas.measure import build_lut
from lutnas.measure.validate import measure_models
from lutnas.models import auto_copies, build_block_copies
from lutnas.profiler import get_protocol
from lutnas.spaces import block_macs_by_category, get_space


def report_table(path: Path, wall_s: float | None = None) -> None:
    import pandas as pd

    rows = pd.read_parquet(path)
    wall = wall_s if wall_s is not None else (rows["timestamp"].max() - rows["timestamp"].min()).total_seconds()
    per_kind = rows.groupby("kind")["measure_s"].agg(["count", "sum", "median", "max"])
    print(table([[k, int(r["count"]), r["sum"] / 60, r["median"], r["max"]] for k, r in per_kind.iterrows()],
                ["kind", "rows", "device-min", "median s/row", "max s/row"]))
    flagged = int(rows["flagged"].sum())
    reasons = rows["flag_reason"].dropna().str.split(" ").str[0].value_counts().to_dict() if "flag_reason" in rows else {}
    print(f"full grid table {path.name}: {len(rows)} rows, wall {wall / 60:.1f} min, device-seconds "
          f"{rows['measure_s'].sum() / 60:.1f} min, {flagged} flagged ({reasons or 'no reasons'})")


def agreement(device: str, k: int) -> None:
    dev = get_device(device)
    new = get_protocol("default")
    old = new.replace(name="default-10s", max_time_ms=10_000, warmup_max_ms=0)
    grid = get_space("vit-scaling")
    blocks = grid.unique_blocks()
    macs = np.array([sum(block_macs_by_category(b).values()) for b in blocks], float)
    longest = [blocks[i] for i in np.argsort(macs)[-4 * k:]]  # the blocks the cap shortens
    keys = [longest[i] for i in np.random.default_rng(0).choice(len(longest), k, replace=False)]
    rows = []
    for key in keys:
        n = auto_copies(key)
        art = dev.prepare(*build_block_copies(key, n))
        t = time.perf_counter()
        a = dev.measure(art, new, key).median_ms
        ta = time.perf_counter() - t
        t = time.perf_counter()
        b = dev.measure(art, old, key).median_ms
        tb = time.perf_counter() - t
        a2, b2 = dev.measure(art, new, key).median_ms, dev.measure(art, old, key).median_ms
        rows.append([key.canonical()[:58], a / n, b / n, 100 * (a / b - 1), 100 * (a2 / a - 1), ta, tb])
        print(f"  {rows[-1][0]:58s} capped {a / n:8.2f} ms  10 s {b / n:8.2f} ms  diff {rows[-1][3]:+5.1f} %  "
              f"repeat {rows[-1][4]:+5.1f} %  ({ta:.1f} s vs {tb:.1f} s)", flush=True)
    d = np.abs([r[3] for r in rows])
    rep = np.abs([r[4] for r in rows])
    print(f"capped vs 10 s: mean |diff| {d.mean():.1f} % (max {d.max():.1f} %); the host's own repeat error "
          f"{rep.mean():.1f} % (max {rep.max():.1f} %); time per block {np.mean([r[5] for r in rows]):.1f} s vs "
          f"{np.mean([r[6] for r in rows]):.1f} s")


def relaxation(device: str, overrides: dict[str, float], k: int) -> None:
    """``default`` against ``default`` with ``overrides``, A B A' B' per block (the order alternates
    between blocks), each measurement paired with a sentinel where the device pairs (as a build
    times its rows)."""
    from lutnas.measure.sentinel import Sentinel, choose_sentinel

    dev = get_device(device)
    base = get_protocol("default")
    variant = base.replace(name="default-variant", **overrides)
    blocks = get_space("vit-scaling").unique_blocks()
    keys = [blocks[i] for i in np.random.default_rng(1).choice(len(blocks), k, replace=False)]
    reference = Sentinel(dev, choose_sentinel(blocks)).reference()
    secs: dict[str, list[float]] = {"default": [], "variant": []}
    diff, rep = [], {"default": [], "variant": []}
    for j, key in enumerate(keys):
        n = auto_copies(key)
        art = dev.prepare(*build_block_copies(key, n))
        order = [("default", base), ("variant", variant)][:: 1 if j % 2 == 0 else -1]
        meds: dict[str, list[float]] = {"default": [], "variant": []}
        for name, prot in order + order:
            t = time.perf_counter()
            meds[name].append(dev.measure(art, prot, key, reference=reference).median_ms)
            secs[name].append(time.perf_counter() - t)
        diff.append(np.log(np.mean(meds["variant"]) / np.mean(meds["default"])))
        for name in rep:
            rep[name].append(abs(np.log(meds[name][0] / meds[name][1])))

    def pct(x: list[float], q: float | None = None) -> float:
        return 100 * float(np.expm1(np.mean(x) if q is None else np.percentile(x, q)))

    print(f"variant protocol ({', '.join(f'{k}={v}' for k, v in overrides.items())}) on {k} random blocks"
          f"{', paired' if reference is not None else ''}: {np.mean(secs['variant']):.2f} s per measurement vs "
          f"{np.mean(secs['default']):.2f} s ({100 * np.sum(secs['variant']) / np.sum(secs['default']):.0f} %); "
          f"variant − default {pct(diff):+.1f} % on average (|.| {pct(np.abs(diff)):.1f} %)")
    for name in rep:
        print(f"  repeat error {name:8s} mean {pct(rep[name]):.1f} %, median {pct(rep[name], 50):.1f} %, "
              f"p90 {pct(rep[name], 90):.1f} %")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="torch-cpu")
    p.add_argument("--from", dest="from_table", default=None, help="report on a table built in one go; do not build")
    p.add_argument("--agree", type=int, default=12, help="long blocks timed under both protocols (0: skip)")
    p.add_argument("--skip-full", action="store_true", help="skip the full build")
    p.add_argument("--relax", action="append", default=[], metavar="KEY=VALUE", type=protocol_override,
                   help="compare default with default under these overrides (repeatable), e.g. the "
                        "earlier rule: --relax ci_rel=0.01 --relax max_time_ms=2500")
    p.add_argument("--relax-blocks", type=int, default=30, help="random blocks for --relax")
    p.add_argument("--skip-mini", action="store_true", help="skip the vit-mini build-vs-models comparison")
    args = p.parse_args()
    protocol = get_protocol(args.protocol)
    try:  # a bad --relax parameter fails here, not after a full build
        get_protocol("default", **dict(args.relax))
    except InputError as exc:
        p.error(str(exc))
    dev = get_device(args.device)
    header(f"bench-build on {args.device}, protocol {protocol.name}")
    if args.from_table:
        report_table(Path(args.from_table))
    elif not args.skip_full:
        grid = get_space("vit-scaling")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "grid.parquet"
            t = time.perf_counter()
            info = build_lut(dev, grid, grid.grid(), out, protocol)
            wall = time.perf_counter() - t
            report_table(out, wall)
            print(f"recheck: {info.get('recheck')}")
    if args.agree:
        agreement(args.device, args.agree)
    if args.relax:
        relaxation(args.device, dict(args.relax), args.relax_blocks)
    if args.skip_mini:
        return
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


if __name__ == "__main__":
    main()
