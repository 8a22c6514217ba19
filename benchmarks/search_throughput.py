"""make bench-search-throughput: latency predictions per second from a LUT, on one core.

Specs are passed as factor columns (the vectorised path a searcher uses); the table covers every
block of the 2,700-model grid (a real table with --lut, else one written with analytic latencies:
throughput does not depend on the values). Targets: >= 10 M predictions/s batched (a gather over
the table's precomputed grid, :mod:`lutnas.luts.dense`), >= 1 M/s for one spec at a time through
``LUT.latency_ms`` (memoised), and a whole ``lutnas search`` under 1 s including start-up.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.luts import LUT, write_table
from lutnas.spaces import block_macs_by_category, get_space


def synthetic_table(path: Path) -> Path:
    space = get_space("vit-scaling")
    rows = []
    for key in space.unique_blocks():
        ms = 0.01 + sum(block_macs_by_category(key).values()) / 2e7
        rows.append({"device": "synthetic", "kind": key.kind, "key": key.canonical(), **key.fields(), "batch": 1,
                     "median_ms": ms, "flagged": False})
    write_table(rows, {"device": "synthetic", "space": space.to_dict()}, path)
    return path


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--lut", default=None)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    header("bench-search-throughput (numpy, 1 core)")
    path = Path(args.lut) if args.lut else synthetic_table(Path(tempfile.mkdtemp()) / "grid.parquet")
    lut = LUT.read(path)
    grid = get_space("vit-scaling").grid()
    base = {f: np.array([getattr(s, f) for s in grid]) for f in "dherIp"}
    rows = []
    for n in (2_700, 100_000, 1_000_000):
        reps = -(-n // len(grid))
        cols = {f: np.tile(v, reps)[:n] for f, v in base.items()}
        lut.predict({f: v[:10] for f, v in cols.items()})  # warm the index
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            lut.predict(cols)
            times.append(time.perf_counter() - t)
        best = min(times)
        rows.append([n, 1e3 * best, n / best])
    t = time.perf_counter()
    for s in grid[:2000]:
        lut.predict([s])
    per_spec = (time.perf_counter() - t) / 2000
    rows.append(["1 (predict([spec]), looped)", 1e3 * per_spec, 1 / per_spec])
    for s in grid:  # first call per spec fills the memo
        lut.latency_ms(s)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for s in grid:
            lut.latency_ms(s)
        times.append((time.perf_counter() - t) / len(grid))
    rows.append(["1 (latency_ms(spec), memoised)", 1e3 * min(times), 1 / min(times)])
    print(table(rows, ["specs per call", "ms per call (best)", "predictions / s"]))
    # end to end: a fresh process searching the grid table with the seed's default settings
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "lutnas.cli", "search", "--lut", str(path), "--latency-ms", "20", "--algorithm",
           "coarse-to-fine", "--json"]
    walls = []
    for _ in range(3):
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
    print(f"lutnas search (coarse-to-fine, fresh process, incl. start-up): best {min(walls):.2f} s "
          f"(exit {res.returncode})")


if __name__ == "__main__":
    main()
