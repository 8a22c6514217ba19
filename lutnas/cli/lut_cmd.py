"""`lutnas lut build|show|predict|calibrate|validate`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from lutnas.cli.options import (
    batch_opt, device_opt, device_option_opt, json_opt, nonempty_path, protocol_opt, seed_opt, space_opt, values_file_opt,
    values_opt,
)
from lutnas.cli.output import emit, note, table
from lutnas.cli.progress import build_progress, progress_bar
from lutnas.errors import InputError
from lutnas.locks import writer_lock
from lutnas.luts import LUT, fit_calibration, save_calibration
from lutnas.spaces.select import resolve_space, sample_specs
from lutnas.profiler import get_protocol
from lutnas.spaces import enumerable, parse_spec


def _copies(text: str):
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"--copies must be 'auto' or a positive integer; got {text!r}")
    return n


def _distinct_sample(space, n: int, seed: int, what: str) -> list:
    """``n`` distinct models of ``space`` (never a model twice, so calibration and held-out never overlap)."""
    pool = [] if enumerable(space) and space.size < n else list({s.canonical(): s for s in space.sample(n, seed)}.values())
    if len(pool) < n:
        have = f"holds {space.size}" if enumerable(space) else f"gave {len(pool)} distinct"
        raise InputError(f"space {space.name!r} {have} models; {what} need {n} "
                         f"(calibration and held-out models never overlap)")
    return pool


@click.group("lut")
def lut_group() -> None:
    """Build, inspect, predict with and validate latency lookup tables."""


@lut_group.command("build")
@device_opt
@device_option_opt
@space_opt
@values_opt
@values_file_opt
@click.option("--grid", "select", flag_value="grid", default=True, help="Every spec of the space (default).")
@click.option("--sample", "sample", type=click.IntRange(min=1), default=None,
              help="N specs sampled from the space (with --seed).")
@click.option("--specs", "specs_file", type=click.Path(dir_okay=False), default=None, help="File with one spec per line.")
@seed_opt
@batch_opt
@protocol_opt
@click.option("--copies", default="auto", show_default=True, help="Weight copies per timed call (cache-realistic), or an integer.")
@click.option("--ops/--no-ops", default=True, show_default=True, help="Profile per-operator categories for each row.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, callback=nonempty_path,
              help="The Parquet table to write or resume.")
@click.option("--max-rows", type=click.IntRange(min=1), default=None, help="Measure at most this many rows in this run.")
@click.option("--recheck/--no-recheck", default=True, show_default=True,
              help="At the end, re-measure rows that contradict their neighbours or are flagged.")
@click.option("--sentinel-every", type=click.IntRange(min=0), default=25, show_default=True,
              help="Re-time the drift sentinel every N rows; torch-cpu, ort-cpu and tflite-cpu also time every "
                   "row paired with it (0: both off, raw times).")
@click.option("--export-jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Export the blocks (TFLite, adb:*) in N processes before timing any; 0: one at a time.")
@click.option("--export-only", is_flag=True, help="With --export-jobs: export into the cache and stop (time later, on a quiet host).")
@click.option("--context", "context", is_flag=True,
              help="When the table is complete, measure the device's cache-context curve into it (as `lut context`).")
@click.option("--modules", is_flag=True, help="AutoViT's module table (46 modules for autovit-xxs) instead of every block.")
@click.option("--method", type=click.Choice(["isolated", "removal"]), default="isolated", show_default=True,
              help="isolated: time each block alone; removal (AutoViT): whole-model latency drop when one is removed.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Measure here, or on Ray actors (one per unit of the device resource; see README).")
@click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local instance).")
@json_opt
def build_cmd(device, device_options, space, values, values_file, select, sample, specs_file, seed, batch, protocol,
              copies, ops, out, max_rows, recheck, sentinel_every, export_jobs, export_only, context, modules, method, executor,
              address, as_json) -> None:
    """Measure every unique block the chosen specs need; resumable (re-run the same command).

    Spaces too large to enumerate (autovit-*) build every block any of their specs can use."""
    from lutnas.measure import build_lut

    explicit = click.get_current_context().get_parameter_source("select") == click.core.ParameterSource.COMMANDLINE
    if explicit and (sample or specs_file):
        raise InputError("--grid, --sample and --specs choose the specs three ways; give one")
    if sample and specs_file:
        raise InputError("--sample and --specs choose the specs two ways; give one")
    n_copies = _copies(copies)
    if export_only and not export_jobs:
        raise InputError("--export-only needs --export-jobs N (the processes that export)")
    if executor == "ray":
        from lutnas.raycluster import check_address

        check_address(address)
    sp = resolve_space(space, values, values_file)
    specs, keys = build_selection(sp, sample, specs_file, seed, modules)
    if executor == "ray":
        from lutnas.cli.farm_cmd import ray_build

        if max_rows is not None:
            raise InputError("--max-rows is for local builds; interrupt a Ray build with Ctrl-C (rows are kept)")
        info = ray_build([device], sp, specs, {device: Path(out)}, protocol, device_options, address, as_json,
                         batch=batch, copies=n_copies, ops=ops, method=method, keys=keys, modules=modules)[device]
        emit(info, as_json, lambda d: f"{d['rows']} rows in {d['out']} ({d['measured']} measured now on Ray"
                                       f"{'' if d['complete'] else '; incomplete, re-run to resume'})")
        return
    from lutnas.devices import get_device, parse_device_options

    dev = get_device(device, **parse_device_options(device_options))
    with progress_bar(f"lut build {device}", enabled=not as_json) as update:
        try:
            info = build_lut(dev, sp, specs, out, get_protocol(protocol), batch=batch, copies=n_copies, ops=ops,
                             method=method, keys=keys, modules=modules, progress=build_progress(update, note),
                             stop_after=max_rows, recheck=recheck, sentinel_every=sentinel_every,
                             export_jobs=export_jobs, export_only=export_only)
        except KeyboardInterrupt:
            note(f"interrupted: every row measured so far is saved in {out}; re-run the same command to resume")
            raise SystemExit(130)
    if export_only:
        emit(info, as_json, lambda d: f"{d.get('exported', 0)} blocks exported into the cache; re-run without "
                                       f"--export-only to time them")
        return
    if context and info["complete"]:
        from lutnas.measure.context import measure_context

        try:
            with progress_bar("context", enabled=not as_json) as update:
                ctx = measure_context(out, dev, get_protocol(protocol), progress=lambda i, t: update(i, t, ""))["context"]
            info["context"] = {k: ctx[k] for k in ("footprints_mib", "extra_ms_per_mib")}
        except InputError as exc:  # blocks too small for the caches to matter: the table stands as built
            info["context"] = {"skipped": str(exc)}
            note(f"context not measured: {exc}")
    emit(info, as_json, lambda d: f"{d['rows']} rows in {d['out']} ({d['measured']} measured now in {d['seconds']:.1f} s"
                                   f"{'' if d['complete'] else '; incomplete, re-run to resume'})")


def build_selection(sp, sample: int | None, specs_file: str | None, seed: int, modules: bool):
    """``(specs, keys)`` a build covers: a module table, every block of a space too large to
    enumerate (autovit-*), or the blocks of the grid / a sample / a specs file."""
    how = "file" if specs_file else "sample" if sample else "grid"
    if modules:
        return [], None
    if how == "grid" and not enumerable(sp):
        return [], sp.unique_blocks()
    return sample_specs(sp, how, sample, seed, specs_file), None


@lut_group.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--regressor", is_flag=True, help="Also fit the unseen-block regressor and report its held-out error.")
@json_opt
def show_cmd(path, regressor, as_json) -> None:
    """Device, space, rows, flagged rows, coverage, slowest blocks (--regressor: its held-out error)."""
    lut = LUT.read(path)
    data = lut.summary(lut.space(), regressor=regressor)

    def human(d: dict) -> str:
        lines = [f"{path}: device {d['device']}, space {(d['space'] or {}).get('name')}, protocol {d['protocol']}, "
                 f"{d['rows']} rows ({d['flagged_rows']} flagged), batches {d['batches']}, {d['creator']}"]
        if "coverage" in d:
            c = d["coverage"]
            lines.append(f"coverage: {c['measured']}/{c['space_blocks']} blocks of the space ({c['fraction']:.0%})"
                         if c["fraction"] is not None else "coverage: unknown (the table's space holds no blocks)")
        if d.get("transfer"):
            t = d["transfer"]
            cv = f", cross-validated MAPE {100 * t['cv_mape']:.1f} %" if t.get("cv_mape") is not None else ""
            unc = f", median uncertainty ±{100 * t['uncertainty_median']:.1f} %" if t.get("uncertainty_median") else ""
            lines.append(f"transferred: {t['rows']} of {d['rows']} rows predicted from {', '.join(t['sources'] or [])} "
                         f"by {t['model']}{cv}{unc}; `lutnas lut validate` measures the table's real error")
        fp = d.get("fingerprint") or {}
        lines.append("fingerprint: " + ", ".join(f"{k}={v}" for k, v in fp.items() if v is not None))
        if d.get("calibration"):
            cal = d["calibration"]
            lines.append(f"calibration: measured ≈ {cal['a']:.4f} × sum-of-blocks + {cal['b']:.4f} ms (from {cal['n']} models)")
        lines.append(table([[r["key"], r["median_ms"]] for r in d["slowest"]], ["slowest blocks", "median ms"]))
        reg = d.get("regressor") or {}
        if reg and "error" not in reg:
            lines.append(table([[k, v["model"], v["rows"], 100 * v["cv_mape"]] for k, v in reg.items()],
                               ["unseen-block regressor", "model", "rows", "held-out MAPE %"]))
        return "\n".join(lines)

    emit(data, as_json, human)


@lut_group.command("transfer")
@click.option("--from", "sources", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="A table of another device (repeatable); all of one space.")
@device_opt
@device_option_opt
@click.option("--budget", default="10%", show_default=True, help="Blocks to measure: a share (10%) or a count.")
@click.option("--strategy", type=click.Choice(["kcenter", "random"]), default="kcenter", show_default=True,
              help="kcenter: spread over costs and source latencies; random: the baseline.")
@seed_opt
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True)
@protocol_opt
@click.option("--ops/--no-ops", default=False, show_default=True, help="Profile categories of the measured rows.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The new table (resumable).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Measure the chosen blocks here, or on Ray actors holding the device (as lut build).")
@click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local instance).")
@json_opt
def transfer_cmd(sources, device, device_options, budget, strategy, seed, batch, protocol, ops, out, executor, address,
                 as_json) -> None:
    """A table for a new device from a share of its blocks: measure the chosen ones, predict the
    rest from the --from tables (rows marked method=transferred, with their uncertainty)."""
    from lutnas.luts.transfer import FEW_MEASURED
    from lutnas.measure.transfer import transfer_lut

    tables = [LUT.read(p) for p in sources]
    if executor == "ray":
        from lutnas.cli.farm_cmd import ray_build
        from lutnas.raycluster import check_address

        check_address(address)
        dev = device

        def measure(space, keys, path):
            return ray_build([device], space, [], {device: path}, protocol, device_options, address, as_json,
                             batch=batch, ops=ops, keys=keys)[device]
    else:
        from lutnas.devices import get_device, parse_device_options

        dev, measure = get_device(device, **parse_device_options(device_options)), None
    with progress_bar(f"lut transfer {device}", enabled=not as_json and executor == "local") as update:
        try:
            info = transfer_lut(tables, dev, out, get_protocol(protocol), budget, strategy, seed, batch, ops,
                                progress=build_progress(update, note), measure=measure)
        except KeyboardInterrupt:
            note(f"interrupted: every row measured so far is saved in {out}; re-run the same command to resume")
            raise SystemExit(130)

    def human(d: dict) -> str:
        if not d["complete"]:
            return f"{d['measured']} of {d['chosen']} chosen blocks measured in {d['out']}; re-run to resume"
        cv = ", ".join(f"{k} {100 * v:.1f} %" for k, v in d["cv_mape"].items())
        few = (f"\nonly {d['measured']} blocks measured: models fitted on fewer than ~{FEW_MEASURED} err by 20-30 % "
               f"per row in our benchmarks; a larger --budget buys accuracy" if d["measured"] < FEW_MEASURED else "")
        return (f"{d['out']}: {d['measured']} blocks measured ({d['strategy']}, {d['device_seconds']:.0f} device-seconds), "
                f"{d['predicted']} predicted by {d['model']} (cross-validated MAPE: {cv}; uncertainty "
                f"±{100 * d['uncertainty']:.1f} %, per row median ±{100 * d['row_uncertainty_median']:.1f} %){few}")

    emit(info, as_json, human)


@lut_group.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_opt
def check_cmd(paths, as_json) -> None:
    """Check tables: each reads, matches the schema, covers its space; rows its self-check finds
    suspicious (flagged, non-monotone in a factor, far from the kind's cost model). Exit 2 if one fails."""
    from lutnas.luts.check import check_table

    reports = [check_table(p) for p in paths]

    def human(data: dict) -> str:
        lines = []
        for r in data["tables"]:
            cov = r["coverage"] or {}
            lines.append(f"{r['path']}: {'ok' if r['ok'] else 'FAILED'} — {r['device']}, space {r['space']}, {r['rows']} rows, "
                         f"coverage {cov.get('measured', '?')}/{cov.get('space_blocks', '?')}, {r['suspicious']} suspicious "
                         f"row(s), {r['unexplained_violations']} unexplained monotonicity violation(s)")
            lines += [f"  problem: {p}" for p in r["problems"]]
            lines += [f"  {f['key']}: {f['reason']}" for f in r["findings"][:5]]
        return "\n".join(lines)

    emit({"tables": reports, "ok": all(r["ok"] for r in reports)}, as_json, human)
    if not all(r["ok"] for r in reports):
        raise SystemExit(2)


@lut_group.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None, callback=nonempty_path,
              help="Write the Markdown index to this file (default: print it).")
def index_cmd(paths, out) -> None:
    """A Markdown index of saved tables (device, hardware, rows, date, validation) from their metadata."""
    from lutnas.luts.index import index_markdown

    text = index_markdown(paths)
    if out is None:
        click.echo(text, nl=False)
        return
    Path(out).write_text(text)
    note(f"index of {len(paths)} table(s) written to {out}")


@lut_group.command("predict")
@click.argument("path", type=click.Path(dir_okay=False))
@click.argument("spec")
@batch_opt
@json_opt
def predict_cmd(path, spec, batch, as_json) -> None:
    """Predicted latency (ms) of SPEC: per-block sum, calibrated value, which parts were predicted."""
    lut = LUT.read(path)
    s = parse_spec(spec)
    pred = lut.predict([s], batch)
    parts = lut.parts(s)
    ms, predicted = lut.lookup_keys([k for k, _ in parts], batch)
    for (k, _), p in zip(parts, predicted):
        far = lut.extrapolation(k, batch) if p else None
        if far:
            note(f"warning: {k.canonical()} is predicted by the regressor outside the measured range ({far}); "
                 f"the prediction extrapolates")
    data = {"spec": s.canonical(), "device": lut.device, "batch": batch, "sum_of_blocks_ms": float(pred.raw_ms[0]),
            "calibrated_ms": float(pred.calibrated_ms[0]), "latency_ms": float(pred.calibrated_ms[0]),
            "calibrated": lut.calibration is not None, "any_predicted": bool(pred.predicted[0]),
            "blocks": [{"key": k.canonical(), "count": c, "ms_each": float(m), "ms_total": float(m) * c,
                        "source": "regressor" if p else "measured"} for (k, c), m, p in zip(parts, ms, predicted)]}

    def human(d: dict) -> str:
        rows = [[b["key"], b["count"], b["ms_each"], b["ms_total"], b["source"]] for b in d["blocks"]]
        tail = (f"sum of blocks {d['sum_of_blocks_ms']:.4g} ms; calibrated {d['calibrated_ms']:.4g} ms"
                if d["calibrated"] else f"sum of blocks {d['sum_of_blocks_ms']:.4g} ms (table not calibrated: run lut validate)")
        return f"{d['spec']} on {d['device']}\n" + table(rows, ["block", "count", "ms each", "ms total", "source"]) + "\n" + tail

    emit(data, as_json, human)


def _device_for(lut: LUT, device: str | None, device_options):
    if device and device != lut.device:
        raise InputError(f"table {lut.path} is for device {lut.device!r}, not {device!r}; its calibration and "
                         f"validation must be measured on the device that built it")
    params = dict(lut.meta.get("device_params") or {})
    from lutnas.devices import get_device, parse_device_options

    params.update(parse_device_options(device_options))
    return get_device(lut.device, **params)


def _rejudged_text(d: dict) -> str:
    lines = [f"{d['n']} held-out models (measurements stored by the table's last validation): bias "
             f"{100 * d['bias']:+.1f} %, MAPE {100 * d['mape']:.1f} %, ±10 % {100 * d['within_10pct']:.0f} %, "
             f"Kendall τ {d['kendall_tau']:.3f}"]
    if d.get("noise_ceiling"):
        c = d["noise_ceiling"]
        lines.append(f"noise ceiling (re-measuring): MAPE {100 * c['mape']:.1f} %, τ {c['kendall_tau']:.3f}")
    if d.get("context"):
        lines.append(f"context curve {'applied' if d['context']['applied'] else 'not applied'}: {d['context']['reason']}")
    return "\n".join(lines)


@lut_group.command("context")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--device", default=None, help="Defaults to the table's device.")
@device_option_opt
@click.option("--probes", type=click.IntRange(min=1), default=4, show_default=True, help="Probe blocks (from the table).")
@click.option("--repeats", type=click.IntRange(1, 10), default=2, show_default=True, help="Interleaved passes.")
@protocol_opt
@json_opt
def context_cmd(path, device, device_options, probes, repeats, protocol, as_json) -> None:
    """Measure the device's cache context (a block's extra time when a model's whole weight set
    streams through the caches) and store it in the table; predictions then include it. With
    stored validation measurements, the table is judged again right away and the curve is kept
    only if it lowers their error."""
    from lutnas.measure.context import measure_context

    lut = LUT.read(path)
    dev = _device_for(lut, device, device_options)
    with progress_bar("context", enabled=not as_json) as update:
        result = measure_context(path, dev, get_protocol(protocol), probes, repeats, lambda i, t: update(i, t, ""))

    def human(d: dict) -> str:
        c = d["context"]
        lines = [f"cache context of {c['device']} from {len(c['probes'])} probe blocks, {c['repeats']} passes:",
                 table([[f, 1000 * e] for f, e in zip(c["footprints_mib"], c["extra_ms_per_mib"])],
                       ["working set MiB", "extra µs per MiB of a block's weights"])]
        for p in c["probes"]:
            lines.append(f"  {p['key']} ({p['weight_mib']:.2f} MiB): " +
                         ", ".join(f"{k}×: {v:.3f} ms" for k, v in p["ms_per_block"].items()))
        if d.get("rejudged"):
            lines.append(_rejudged_text(d["rejudged"]))
        else:
            lines.append("no stored validation: run `lutnas lut validate` to judge the table with the curve")
        return "\n".join(lines)

    emit(result, as_json, human)


@lut_group.command("calibrate")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--device", default=None, help="Defaults to the table's device.")
@device_option_opt
@click.option("--sample", "n", type=click.IntRange(min=1), default=5, show_default=True, help="Full models to measure.")
@seed_opt
@values_opt
@protocol_opt
@json_opt
def calibrate_cmd(path, device, device_options, n, seed, values, protocol, as_json) -> None:
    """Fit measured ≈ a × sum-of-blocks + b on N measured full models; store it in the table."""
    from lutnas.measure import measure_models
    from lutnas.measure.validate import table_reference

    lut = LUT.read(path)
    if lut.space() is None:
        raise InputError(f"LUT {path} names no space; cannot sample models")
    space = resolve_space(None, values, table=lut)
    dev = _device_for(lut, device, device_options)
    specs = _distinct_sample(space, n, 10_000 + seed, f"--sample {n}")
    with writer_lock(path, "table"):
        with progress_bar("calibrate", enabled=not as_json) as update:
            measured = measure_models(dev, specs, get_protocol(protocol), progress=lambda i, t: update(i, t, ""),
                                      reference=table_reference(lut, dev))
        cal = fit_calibration(lut.predict(specs).raw_ms, measured)
        cal["models"] = [s.canonical() for s in specs]
        save_calibration(path, cal)
    emit(cal, as_json, lambda c: f"calibration stored in {path}: measured ≈ {c['a']:.4f} × sum + {c['b']:.4f} ms ({c['n']} models)")


@lut_group.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--device", default=None, help="Defaults to the table's device.")
@device_option_opt
@click.option("--sample", "n", type=click.IntRange(min=1), default=20, show_default=True,
              help="Held-out full models to measure.")
@click.option("--calibrate", "n_cal", type=click.IntRange(min=0), default=5, show_default=True,
              help="Models measured first to fit the calibration (0: keep the table's).")
@seed_opt
@values_opt
@values_file_opt
@protocol_opt
@click.option("--blocks", "k_blocks", type=click.IntRange(min=0), default=5, show_default=True,
              help="Re-measure K random rows first: report drift since the build and drift-corrected predictions (0: skip).")
@click.option("--repeats", type=click.IntRange(1, 10), default=2, show_default=True,
              help="Measurements of each model (interleaved); 2 or more give the noise ceiling.")
@click.option("--out-dir", "--out", "out", type=click.Path(file_okay=False), default=None, callback=nonempty_path,
              help="Folder for the scatter and residual PNGs (default: beside the table).")
@click.option("--stored", is_flag=True, help="Measure nothing: judge the table again against the held-out "
                                             "measurements its last validation stored (after `lut context`, say).")
@json_opt
def validate_cmd(path, device, device_options, n, n_cal, seed, values, values_file, protocol, k_blocks, repeats, out,
                 stored, as_json) -> None:
    """Measure held-out full models (each twice, interleaved) and compare with the table: bias, ±5 %,
    ±10 %, MAPE, Kendall τ — each next to the noise ceiling of re-measuring the same models."""
    from lutnas.analysis.fidelity import residual_png, scatter_png
    from lutnas.measure import validate

    lut = LUT.read(path)
    if stored:
        from lutnas.measure.validate import rejudge

        with writer_lock(path, "table"):
            emit(rejudge(lut), as_json, _rejudged_text)
        return
    space = resolve_space(None, values, values_file, lut)
    dev = _device_for(lut, device, device_options)
    pool = _distinct_sample(space, n + n_cal, 20_000 + seed, f"--sample {n} held-out and --calibrate {n_cal}")
    cal_specs, specs = pool[:n_cal], pool[n_cal:]
    prot = get_protocol(protocol)
    with writer_lock(path, "table") if n_cal else contextlib.nullcontext():
        with progress_bar("validate", enabled=not as_json) as update:
            result = validate(lut, dev, specs, prot, cal_specs, progress=lambda i, t: update(i, t, ""),
                              drift_rows=k_blocks, seed=seed, repeats=repeats)
    folder = Path(out) if out else Path(path).parent
    png = scatter_png(result["models"], folder / f"{Path(path).stem}-validate.png",
                      f"{lut.device}: {result['n']} held-out models, {result['within_5pct']:.0%} within ±5 %")
    result["png"] = str(png)
    result["residual_png"] = str(residual_png(result["models"], folder / f"{Path(path).stem}-residuals.png",
                                              f"{lut.device}: prediction error of {result['n']} held-out models"))

    def human(d: dict) -> str:
        lines = [f"{d['n']} held-out models on {d['device']}, each measured {d['repeats']}x (interleaved):"]

        def row(name: str, f: dict) -> list:
            return [name, 100 * f["bias"], 100 * f["within_5pct"], 100 * f["within_10pct"], 100 * f["mape"], f["kendall_tau"]]

        c = d.get("calibration") or {}
        level = c.get("fit") == "drift" and c.get("applied")
        if level:
            corrected = f"× level {c['a']:.3f} (re-measured rows)"
        else:
            corrected = "calibrated" if d.get("calibration_note") is None else "calibrated (not applied: = raw)"
        rows = [row("raw sum of blocks", d["raw"]), row(corrected, d["calibrated"])]
        if d["drift"]["applied"] and not level:
            rows.append(row(f"× host drift {d['drift_ratio']:.3f}", d["drift_corrected"]))
        if d.get("noise_ceiling"):
            rows.append(row("noise ceiling (re-measuring)", {**d["noise_ceiling"], "kendall_tau": d["noise_ceiling"]["kendall_tau"]}))
        lines.append(table(rows, ["prediction", "bias %", "±5 % (%)", "±10 % (%)", "MAPE %", "Kendall τ"]))
        lines.append(f"verdict: {d['verdict']['status']} — {d['verdict']['reason']}")
        if level:
            lines.append(f"level correction from {c['n']} re-measured rows: measured ≈ {c['a']:.4f} × sum; applied: "
                         f"{c.get('reason', '')}")
        elif c:
            lines.append(f"calibration from {c['n']} other models: measured ≈ {c['a']:.4f} × sum + {c['b']:.4f} ms; "
                         f"{'applied' if c.get('applied') else 'not applied'}: {c.get('reason', '')}")
        if d.get("sentinel"):
            s = d["sentinel"]
            lines.append(f"host speed (sentinel {s['key']}): ×{s['median_ratio']:.3f} of the table's baseline; {s['reason']}")
        for factor, groups in d.get("by_factor", {}).items():
            lines.append(f"bias by {factor}: " + ", ".join(f"{g['value']:g}: {100 * g['bias']:+.1f} % (n={g['n']})"
                                                           for g in groups))
        lines.append(table([[w["spec"], w["predicted_ms"], w["measured_ms"], 100 * w["error"]] for w in d["worst"]],
                           ["worst cases", "predicted ms", "measured ms", "error %"]))
        dr = d["drift"]
        if dr["rows"]:
            lines.append(f"drift over {len(dr['rows'])} re-measured rows: median {100 * dr['median_change']:+.1f} %, "
                         f"max |change| {100 * dr['max_abs_change']:.1f} %; correction "
                         f"{'applied' if dr['applied'] else 'not applied'}: {dr['reason']}")
        lines.append(f"plots: {d['png']}, {d['residual_png']}")
        return "\n".join(lines)

    emit(result, as_json, human)
