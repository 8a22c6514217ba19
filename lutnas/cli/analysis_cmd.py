"""`lutnas breakdown`, `lutnas correlate`, `lutnas report`."""

from __future__ import annotations

from pathlib import Path

import click

from lutnas.analysis import (
    cosine_distances, file_breakdown, flops_breakdown, heatmap_png, kendall_matrix, lut_breakdown,
    stacked_bar_png,
)
from lutnas.analysis.correlate import cost_table, read_measured_table, specs_from_option
from lutnas.categories import CATEGORIES
from lutnas.cli.options import device_option_opt, json_opt, model_selection, nonempty_path, protocol_opt, seed_opt, values_opt
from lutnas.cli.output import emit, table
from lutnas.devices import get_device, parse_device_options
from lutnas.errors import InputError
from lutnas.luts import LUT
from lutnas.profiler import get_protocol
from lutnas.spaces.select import resolve_space
from lutnas.spaces import parse_spec


def _breakdown_text(d: dict) -> str:
    srcs = d["breakdowns"]
    rows = [[c] + [f"{b['values'][c]:.4g} ({b['percent'][c]:.1f} %)" for b in srcs] for c in CATEGORIES]
    rows.append(["total"] + [f"{b['total']:.4g} {b['unit']}" for b in srcs])
    out = [f"{d['model']}", table(rows, ["category"] + [b["source"] for b in srcs])]
    names = [b["source"] for b in srcs]
    if len(names) > 1:
        out.append(table([[n] + list(r) for n, r in zip(names, d["cosine_distance"])], ["cosine distance"] + names))
    for b in srcs:
        if b["unclassified"]:
            out.append(f"{b['source']}: unclassified in Others ({100 * b['unclassified_share']:.1f} %): "
                       + ", ".join(f"{u['name']} {u['value']:.3g}" for u in b["unclassified"][:8]))
    if d.get("png"):
        out.append(f"plot: {d['png']}")
    return "\n".join(out)


@click.command("breakdown")
@click.option("--model", default="deit-tiny", show_default=True,
              help="A spec name, d=..,h=..,e=..,r=..,I=..,p=.., or a model file (.tflite, SavedModel folder).")
@click.option("--device", "devices", multiple=True, help="Measure on this device (repeatable).")
@device_option_opt
@click.option("--lut", "luts", multiple=True, type=click.Path(dir_okay=False), help="Predict from a table's category columns.")
@click.option("--from", "files", multiple=True, type=click.Path(dir_okay=False),
              help="A tool output to compare (benchmark_model log, trtexec profile, torch trace...).")
@click.option("--flops/--no-flops", default=True, show_default=True, help="Include the FLOPs breakdown.")
@protocol_opt
@click.option("--out-dir", "--out", "out", type=click.Path(file_okay=False), default=None, callback=nonempty_path, help="Folder for the stacked-bar PNG.")
@json_opt
def breakdown_cmd(model, devices, device_options, luts, files, flops, protocol, out, as_json) -> None:
    """Per-category cost of one model on each source, with cosine distances (the ViT-scaling study's Table 11)."""
    from lutnas.measure import measured_breakdown
    from lutnas.measure.target import is_model_file

    spec = model if is_model_file(model) else parse_spec(model)
    if spec is model and luts:
        raise InputError("--lut predicts specs of a space; a model file can only be measured (--device) ")
    items = [flops_breakdown(spec)] if flops and spec is not model else []
    prot = get_protocol(protocol)
    opts = parse_device_options(device_options)
    for name in devices:
        items.append(measured_breakdown(get_device(name, **opts), spec, prot))
    items += [lut_breakdown(LUT.read(p), spec) for p in luts]
    items += [file_breakdown(f) for f in files]
    if not items:
        raise InputError("nothing to break down: give --device, --lut, --from or --flops")
    label = str(model) if spec is model else spec.canonical()
    data = {"model": label, "breakdowns": [b.to_dict() for b in items],
            "sources": [b.source for b in items], "cosine_distance": cosine_distances(items).tolist()}
    if out:
        data["png"] = str(stacked_bar_png(items, Path(out) / "breakdown.png", f"cost breakdown of {label}"))
    emit(data, as_json, _breakdown_text)


@click.command("correlate")
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@model_selection(200)
@click.option("--columns", default=None, help="Comma-separated columns to rank (default: all).")
@click.option("--join", "join", default=None,
              help="Column that names the models in every table (default: spec with LUTs, else each table's key).")
@values_opt
@seed_opt
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--noise-device", default=None, help="Measure models twice on this device for a noise ceiling.")
@click.option("--noise-models", type=click.IntRange(min=2), default=20, show_default=True)
@protocol_opt
@click.option("--out-dir", "--out", "out", type=click.Path(file_okay=False), default=None, callback=nonempty_path, help="Folder for the heat-map PNG.")
@json_opt
def correlate_cmd(inputs, specs_opt, columns, join, values, seed, bootstrap, noise_device, noise_models, protocol, out,
                  as_json) -> None:
    """Kendall τ-b matrix (bootstrap CI, p-value, n) between cost columns over a set of models: LUT files,
    measured tables, or any peer's CSV/Parquet with one row per model and numeric columns."""
    luts, measured = [], []
    for path in inputs:
        if path.endswith(".parquet"):
            from lutnas.luts.schema import META_KEY

            import pyarrow.parquet as pq

            try:
                is_lut = META_KEY in (pq.read_schema(path).metadata or {})
            except Exception:
                raise InputError(f"{path}: not a readable Parquet file") from None
            (luts if is_lut else measured).append(LUT.read(path) if is_lut else read_measured_table(path))
        else:
            measured.append(read_measured_table(path))
    specs = []
    if luts:
        specs = specs_from_option(resolve_space(None, values, table=luts[0]), specs_opt, seed)
    elif not measured:
        raise InputError("give at least one LUT file or measured table")
    costs = cost_table(luts, specs, measured, join)
    cols = [c.strip() for c in columns.split(",")] if columns else list(costs.columns)
    unknown = [c for c in cols if c not in costs.columns]
    if unknown:
        raise InputError(f"--columns: {', '.join(unknown)} not available; columns: {', '.join(costs.columns)}")
    if len(costs) < 3:
        raise InputError(f"only {len(costs)} models in common; need at least 3 to rank")
    matrix = kendall_matrix(costs, cols, bootstrap=bootstrap, seed=seed)
    if noise_device:
        from lutnas.measure.noise import noise_ceiling

        if costs.index.name != "spec":
            raise InputError("--noise-device measures specs; these tables name their models by "
                             f"{costs.index.name!r}, not by spec")
        sample = [parse_spec(s) for s in costs.index[:noise_models]]
        matrix.noise_ceiling = noise_ceiling(get_device(noise_device), sample, get_protocol(protocol))
    data = matrix.to_dict()
    if out:
        data["png"] = str(heatmap_png(matrix, Path(out) / "kendall.png"))

    def human(d: dict) -> str:
        k = d["columns"]
        rows = [[k[i]] + [f"{d['tau'][i][j]:.2f} [{d['ci_low'][i][j]:.2f},{d['ci_high'][i][j]:.2f}]" for j in range(len(k))]
                for i in range(len(k))]
        lines = [f"Kendall τ-b over {d['n']} models (95 % bootstrap CI):", table(rows, [""] + k)]
        if d["noise_ceiling"]:
            nc = d["noise_ceiling"]
            lines.append(f"noise ceiling on {nc['device']}: τ {nc['tau']:.3f} between two measurements of {nc['n']} models")
        if d.get("png"):
            lines.append(f"heat map: {d['png']}")
        return "\n".join(lines)

    emit(data, as_json, human)


@click.command("report")
@click.option("--lut", "luts", multiple=True, required=True, type=click.Path(dir_okay=False))
@click.option("--model", default="deit-tiny", show_default=True, help="The model whose breakdown is shown.")
@click.option("--device", "devices", multiple=True, help="Also measure the model's breakdown on this device.")
@model_selection(200)
@values_opt
@seed_opt
@protocol_opt
@click.option("--out-dir", "--out", "out", type=click.Path(file_okay=False), required=True, callback=nonempty_path,
              help="Folder for report.md and its figures.")
@click.option("--html", is_flag=True, help="Also write report.html (a standalone page beside report.md).")
@json_opt
def report_cmd(luts, model, devices, specs_opt, values, seed, protocol, out, html, as_json) -> None:
    """Write one Markdown page (tables, breakdown, Kendall τ, Pareto front) for the given tables."""
    from lutnas.analysis.report import write_report
    from lutnas.measure import measured_breakdown

    tables = [LUT.read(p) for p in luts]
    specs = specs_from_option(resolve_space(None, values, table=tables[0]), specs_opt, seed)
    spec = parse_spec(model)
    measured = [measured_breakdown(get_device(d), spec, get_protocol(protocol)) for d in devices]
    path = write_report(tables, specs, spec, out, measured, html=html)
    files = sorted(str(p) for p in Path(out).glob("report*.*") if p != path)
    emit({"report": str(path), "files": files}, as_json,
         lambda d: f"report: {d['report']}")
