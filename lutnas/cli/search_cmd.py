"""`lutnas search`: a latency-constrained search against saved tables."""

from __future__ import annotations

import click
import numpy as np

from lutnas.cli.options import json_opt, nonempty_path, protocol_opt, seed_opt, values_file_opt, values_opt
from lutnas.cli.output import emit, note, table
from lutnas.cli.progress import progress_bar
from lutnas.errors import InputError
from lutnas.params import parse_assignments
from lutnas.search import get_searcher, searcher_names
from lutnas.raycluster import check_address
from lutnas.search.executors import wrap_objective
from lutnas.search.objectives import OBJECTIVES
from lutnas.spaces.select import resolve_space


class _SearchCommand(click.Command):
    """Lists every registered searcher (entry points included) in --help."""

    def format_epilog(self, ctx, formatter):
        with formatter.section("Algorithms (--algorithm)"):
            rows = []
            for name in searcher_names():
                try:
                    rows.append((name, get_searcher(name).description))
                except InputError as exc:
                    rows.append((name, f"(cannot load: {exc})"))
            formatter.write_dl(rows)
        with formatter.section("Objectives (--objective)"):
            rows = []
            for name, kind in OBJECTIVES.items().items():
                if isinstance(kind, Exception):
                    rows.append((name, f"(cannot load: {kind})"))
                else:
                    rows.append((f"{name}:{kind.argument}" if kind.argument else name, kind.help))
            formatter.write_dl(rows)


@click.command("search", cls=_SearchCommand)
@click.option("--lut", "luts", multiple=True, type=click.Path(dir_okay=False), help="Latency table (repeatable: several devices).")
@click.option("--latency-ms", "latency", multiple=True, help="Budget in ms for every table, or DEVICE=MS for one.")
@click.option("--params-m", type=click.FloatRange(min=0, min_open=True), default=None, help="Parameter budget (millions).")
@click.option("--gflops", type=click.FloatRange(min=0, min_open=True), default=None, help="GFLOPs budget.")
@click.option("--window", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Also require cost ≥ WINDOW × budget, WINDOW in (0, 1] (ViT-ResNAS: 0.975).")
@click.option("--algorithm", default="evolutionary", show_default=True)
@click.option("--objective", default="flops", show_default=True)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Searcher parameter, e.g. population=100.")
@click.option("--space", default=None, help="Space (default: the first table's).")
@values_opt
@values_file_opt
@click.option("--budget", type=click.IntRange(min=1), default=1000, show_default=True, help="Evaluations (scored specs).")
@click.option("--batch", type=click.IntRange(min=1), default=256, show_default=True, help="Candidates per ask/tell round.")
@seed_opt
@click.option("--out", type=click.Path(dir_okay=False), default=None, callback=nonempty_path,
              help="History Parquet; an existing one of the same problem is resumed.")
@click.option("--verify", type=click.IntRange(min=0), default=0, help="Measure the K best on the table's device.")
@protocol_opt
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where objective evaluations run: this process, or Ray tasks (a local Ray instance, or --address).")
@click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local instance).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Ray tasks per batch (default: the cluster's CPUs).")
@click.option("--margin", default=None, metavar="auto|FRACTION",
              help="Search under a smaller latency budget so the result meets the real one when measured: auto "
                   "(from the table's validated error: 1 + bias − 2·sd, or the 2.3 % quantile of its errors when "
                   "smaller) or a fraction, e.g. 0.05.")
@json_opt
def search_cmd(luts, latency, params_m, gflops, window, algorithm, objective, params, space, values, values_file, budget,
               batch, seed, out, verify, protocol, executor, address, workers, margin, as_json) -> None:
    """Search a space for the best spec under latency/params/FLOPs budgets, against saved tables."""
    from lutnas.luts import LUT  # pandas/pyarrow: not for --help
    from lutnas.search.run import fastest_spec, run_search
    from lutnas.search.setup import build_problem

    cls = get_searcher(algorithm)
    searcher = cls(seed=seed, **cls.from_strings(parse_assignments(params, "--param")))
    if executor == "ray":
        check_address(address)
    tables = [LUT.read(p) for p in luts]
    if latency and not tables:
        raise InputError("--latency-ms needs at least one --lut table")
    sp = resolve_space(space, values, values_file, tables[0] if tables else None)
    problem = build_problem(sp, tables, latency, params_m, gflops, window, objective, seed, margin=margin)
    problem.objective = wrap_objective(problem.objective, executor, address, workers)
    with progress_bar(f"search {algorithm}", enabled=not as_json) as update:
        result = run_search(problem, searcher, budget, batch, out, progress=lambda i, n: update(i, n, ""))
    data = {"algorithm": algorithm, "objective": objective, "seed": seed, "space": sp.name, "executor": executor,
            "constraints": [str(c) for c in problem.constraints], "evaluations": result.evaluations,
            "from_history": result.cached, "seconds": result.seconds, "feasible": result.feasible,
            "best": result.best.canonical() if result.best else None, "score": result.score,
            "latency_ms": {n[len("latency_ms["):-1]: v for n, v in result.costs.items() if n.startswith("latency_ms[")},
            "gflops": result.costs.get("gflops"), "params_m": result.costs.get("params_m"), "history": out}
    if result.records:
        shown = ["spec", "score", *[c for c in result.records[0] if c.startswith("latency_ms[")], "gflops", "params_m",
                 "predicted_blocks"]
        data["top"] = [{c: r.get(c) for c in shown} for r in result.top(5)]
    data.update(result.extras)
    if problem.margins:
        data["margins"] = problem.margins
    if not result.feasible:
        name = problem.latency_names[0] if problem.latency_names else "gflops"
        spec, cost = fastest_spec(problem, name)
        data["fastest"] = {"spec": spec.canonical(), name: cost}
        note(f"no evaluated spec meets {', '.join(str(c) for c in problem.constraints)}; the cheapest spec of the "
             f"space by {name} is {spec.canonical()} at {cost:.4g}")
    if result.feasible and any(r["spec"] == data["best"] and r["predicted_blocks"] for r in result.records):
        note(f"warning: the latency of {data['best']} includes blocks the table lacks, predicted by its regressor; "
             f"measure them (lut build) or check with --verify")
    if verify and result.feasible and tables:
        data["verify"] = _verify(tables[0], result, verify, protocol, problem)

    def human(d: dict) -> str:
        lines = [f"{d['algorithm']} / {d['objective']}: {d['evaluations']} evaluations in {d['seconds']:.2f} s "
                 f"({d['from_history']} from history); constraints: {'; '.join(d['constraints']) or 'none'}"]
        for dev, m in (d.get("margins") or {}).items():
            rule = ("the 2.3 % quantile of its errors" if m.get("method") == "quantile" else "1 + bias − 2·sd")
            if m["source"] == "validation":
                how = (f"{rule}, from the table's validated error (bias {100 * m['bias']:+.1f} %, "
                       f"sd {100 * m['sd_error']:.1f} %, n={m['n']})")
            elif m["source"] == "transfer":
                how = (f"1 − 2·σ, σ = {100 * m['sigma_p90']:.1f} %: the 90th percentile of {m['specs']} specs' uncertainty "
                       f"from the transferred rows; `lutnas lut validate` measures the real error")
            else:
                how = "fixed"
            lines.append(f"margin on {dev}: budget × {m['factor']:.3f} ({how})")
        if d["feasible"]:
            lat = ", ".join(f"{k} {v:.4g} ms" for k, v in d["latency_ms"].items())
            lines.append(f"best: {d['best']}  score {d['score']:.5g}  {lat}  GFLOPs {d['gflops']:.4g}  params {d['params_m']:.4g} M")
            if d.get("top"):
                lines.append(table([[r["spec"], r["score"], *[r[k] for k in r if k.startswith("latency_ms[")]]
                                    for r in d["top"]], ["top feasible", "score",
                                                          *[k for k in d["top"][0] if k.startswith("latency_ms[")]]))
        else:
            f = d["fastest"]
            lines.append(f"infeasible: nothing meets the budgets; the cheapest spec is {f['spec']} "
                         f"({', '.join(f'{k} {v:.4g}' for k, v in f.items() if k != 'spec')})")
        if d.get("window_relaxed"):
            lines.append("note: too few specs lay inside the cost window; the search continued under the plain budgets")
        if d.get("path"):
            lines.append("greedy path: " + " -> ".join(p["spec"] for p in d["path"]))
        if d.get("family"):
            lines.append("family: " + " -> ".join(d["family"]))
        if d.get("verify"):
            lines.append(table([[v["spec"], v["predicted_ms"], v["measured_ms"], 100 * v["error"], v["meets_budget"]]
                                for v in d["verify"]], ["verified", "predicted ms", "measured ms", "error %", "meets budget"]))
        return "\n".join(lines)

    emit(data, as_json, human)


def _verify(lut, result, k, protocol, problem):
    from lutnas.devices import get_device
    from lutnas.measure.validate import measure_models, table_reference
    from lutnas.profiler import get_protocol
    from lutnas.spaces import parse_spec

    best = result.top(k)
    specs = [parse_spec(r["spec"]) for r in best]
    dev = get_device(lut.device, **(lut.meta.get("device_params") or {}))
    measured = measure_models(dev, specs, get_protocol(protocol), reference=table_reference(lut, dev))
    col = f"latency_ms[{lut.device}]"
    upper = next((c.upper for c in problem.constraints if c.cost == col), np.inf)
    return [{"spec": s.canonical(), "predicted_ms": float(p), "measured_ms": float(m), "error": float(p / m - 1),
             "meets_budget": bool(m <= upper)} for s, p, m in zip(specs, (r[col] for r in best), measured)]
