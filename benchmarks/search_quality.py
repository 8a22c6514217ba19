"""make bench-search-quality: each algorithm vs the brute-force optimum on the 2,700-model grid.

Latency comes from a table built on torch-cpu (``--lut``; by default the table is built, resumably,
under out/bench/ with the quick protocol — about 10 min the first time). Objective: maximise GFLOPs
(fixed, deterministic). Budgets: the 25th, 50th and 75th percentiles of the grid's predicted
latency. For each algorithm, evaluation budget (1 %, 5 %, 10 % of 2,700) and 20 seeds: success =
the best found is within 0.5 % of the optimum's score; gap = (optimum − found) / optimum.
Target: the optimum within 0.5 % using <= 5 % of the evaluations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.luts import LUT
from lutnas.measure import build_lut
from lutnas.profiler import get_protocol
from lutnas.search import get_searcher, run_search
from lutnas.search.setup import build_problem
from lutnas.spaces import get_space

ALGORITHMS = ("random", "greedy", "random-permutation", "evolutionary", "coarse-to-fine", "asvit-scaling")
SMALL_POPULATION = {"evolutionary": {"population": 40, "parents": 10, "children": 20, "iterations": 50},
                    "coarse-to-fine": {"population": 20, "parents": 5, "children": 20, "iterations": 50}}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--lut", default=None)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--algorithms", default=",".join(ALGORITHMS))
    args = p.parse_args()
    space = get_space("vit-scaling")
    path = Path(args.lut) if args.lut else Path("out/bench/torch-cpu-grid-quick.parquet")
    if not args.lut:
        build_lut(get_device("torch-cpu"), space, space.grid(), path, get_protocol("quick"), ops=False)
    lut = LUT.read(path)
    header(f"bench-search-quality: vit-scaling (2,700 specs), table {path} ({len(lut.rows)} rows), objective flops")
    grid = space.grid()
    lat = lut.predict(grid).calibrated_ms
    rows = []
    for q in (25, 50, 75):
        budget_ms = float(np.percentile(lat, q))
        problem = build_problem(space, [lut], [f"{budget_ms}"], objective="flops")
        ev = problem.evaluate(grid)
        optimum = float(np.max(np.where(ev.feasible, ev.score, -np.inf)))
        for algorithm in args.algorithms.split(","):
            for frac in (0.01, 0.05, 0.10):
                evals = int(round(frac * len(grid)))
                gaps, used = [], []
                for seed in range(args.seeds):
                    params = SMALL_POPULATION.get(algorithm, {})
                    r = run_search(problem, get_searcher(algorithm)(seed=seed, **params), budget=evals, batch=64)
                    gaps.append((optimum - r.score) / optimum if r.feasible else 1.0)
                    used.append(r.evaluations)
                gaps = np.array(gaps)
                rows.append([f"p{q} = {budget_ms:.2f} ms", algorithm, f"{int(frac * 100)} % ({evals})", np.mean(used),
                             100 * np.mean(gaps <= 0.005), 100 * np.mean(gaps), 100 * np.max(gaps)])
                print(f"  {rows[-1]}", flush=True)
    print(table(rows, ["latency budget", "algorithm", "evaluations", "used (mean)", "success %", "mean gap %", "max gap %"]))


if __name__ == "__main__":
    main()
