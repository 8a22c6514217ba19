"""make bench-scale: a search whose objective is expensive (As-ViT's AsViT proxies), on 1 vs 2
Ray workers on this machine, with the same seed (results must be identical), and a projection to
N hosts.

The projection is Amdahl's law with the serial time measured here: the same search with a free
objective (table lookups, the searcher's own work, history writes) stays on the driver, the
objective time divides by 1 + (workers − 1) × e, where e is what the second worker added here
(on 2 shared cores that also run the driver: a pessimistic e), and each ask/tell round can use at most ``--batch``
workers (the searcher waits for a whole round before the next). It ignores stragglers and Ray's
per-task overhead (measured below as the 2-worker efficiency), so it is an upper bound.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._common import header, parser, table
from lutnas.raycluster import connect
from lutnas.search import get_searcher, run_search
from lutnas.search.executors import RayObjective
from lutnas.search.objectives import get_objective
from lutnas.search.problem import Constraint, Problem, gflops_cost, params_cost
from lutnas.spaces import get_space


#: medium ViTs (101 tokens, widths 192–384): the AsViT proxies take about a second each here
SUBSPACE = {"d": [4, 6], "h": [3, 6], "e": [64], "r": [2, 4], "I": [160], "p": [16]}


def problem(objective) -> Problem:
    space = get_space("vit-scaling", SUBSPACE)
    return Problem(space, {"gflops": gflops_cost, "params_m": params_cost}, [Constraint("gflops", 5.0)], objective)


def search(objective, budget: int, batch: int, seed: int):
    searcher = get_searcher("random")(seed=seed)
    t0 = time.perf_counter()
    res = run_search(problem(objective), searcher, budget, batch)
    return time.perf_counter() - t0, res


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--budget", type=int, default=16, help="objective evaluations (the sub-space holds 16 specs)")
    p.add_argument("--batch", type=int, default=8, help="candidates per ask/tell round")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    header(f"bench-scale: random search on vit-scaling narrowed to {SUBSPACE}, objective asvit (As-ViT proxies), "
           f"{args.budget} evaluations, batch {args.batch}")
    ray = connect(num_cpus=2)
    free, _ = search(lambda specs: np.zeros(len(specs)), args.budget, args.batch, args.seed)
    rows, results = [], {}
    for label, workers in (("local (no Ray)", 0), ("Ray, 1 worker", 1), ("Ray, 2 workers", 2)):
        objective = get_objective("asvit", args.seed)
        if workers:
            objective = RayObjective(objective, workers=workers)
        seconds, res = search(objective, args.budget, args.batch, args.seed)
        results[label] = (seconds, res)
        rows.append([label, workers or 1, seconds, res.best.canonical() if res.best else None, res.score])
    print(table(rows, ["executor", "workers", "wall s", "best", "score"]))
    base = results["Ray, 1 worker"][0]
    two = results["Ray, 2 workers"][0]
    same = len({(r[3], r[4]) for r in rows}) == 1
    eff = min(1.0, max(0.0, base / two - 1))  # what the 2nd worker added here (Ray overhead, 2 shared cores)
    print(f"\nidentical results across executors: {same}")
    print(f"speed-up 1 -> 2 Ray workers: {base / two:.2f}x (the second worker added e = {eff:.2f} of one); serial part "
          f"(same search, free objective): {free:.2f} s of {base:.2f} s")
    objective_s = max(base - free, 1e-9)
    proj = []
    for hosts in (1, 2, 4, 8, 16):
        for cores in (2, 16):
            workers = min(hosts * cores, args.batch)
            t = free + objective_s / (1 + (workers - 1) * eff) if workers > 1 else base
            proj.append([hosts, cores, workers, t, base / t])
    print(table(proj, ["hosts", "cores each", "useful workers (≤ batch)", "projected s", "speed-up vs 1 worker"]))
    print("limits: the ask/tell batch caps useful workers; the serial part (driver: searcher, table lookups, "
          "history) does not shrink; uneven objective cost per spec leaves workers idle at the end of each round.")
    ray.shutdown()


if __name__ == "__main__":
    main()
