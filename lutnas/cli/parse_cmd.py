"""`lutnas parse FILE`: read a tool's output (TFLite, TensorFlow, trtexec, ORT, PyTorch profiler)."""

from __future__ import annotations

import click

from lutnas.cli.options import json_opt
from lutnas.cli.output import emit, table
from lutnas.errors import InputError
from lutnas.profiler.parsers import TOOLS, parse_file


def _run_line(i: int, run: dict, chosen: int | None) -> str:
    stats = ", ".join(f"{k}={v:.6g}" for k, v in run.items() if isinstance(v, float))
    count = f" n={run['count']}" if "count" in run else ""
    mark = "  <- summary" if i == chosen else ""
    where = f" [invocation {run['invocation']}]" if "invocation" in run else ""
    return f"  {i}: {run.get('name', '?')}{where}{count} {stats}{mark}"


def _human(file: str, d: dict) -> str:
    lines = [f"{file}: {d['tool']} (version {d['tool_version'] or 'unknown'})"]
    flat = {k: v for k, v in d["summary"].items() if not isinstance(v, dict)}
    lines += [f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}" for k, v in flat.items()]
    for k, v in d["summary"].items():
        if isinstance(v, dict):
            lines.append(f"  {k}: " + ", ".join(f"{kk}={vv:.6g}" for kk, vv in v.items() if isinstance(vv, float)))
    if d["runs"]:
        lines.append(f"runs ({len(d['runs'])}; the summary is run {d['summary_run']}):")
        lines += [_run_line(i, r, d["summary_run"]) for i, r in enumerate(d["runs"])]
    if d["ops"]:
        rows = sorted(d["ops"], key=lambda o: -o["avg_ms"])[:25]
        lines.append(table([[o["name"][:60], o["type"][:24], o["avg_ms"], o["percent"], o["category"]] for o in rows],
                           ["op (top 25)", "type", "avg ms", "%", "category"]))
        lines.append(table([[c, v] for c, v in d["breakdown_ms"].items()], ["category", "ms"]))
    if d["unclassified"]:
        lines.append(f"unclassified (in Others): {len(d['unclassified'])} names, e.g. " + ", ".join(d["unclassified"][:5]))
    for note in d["partial"]:
        lines.append(f"partial: {note}")
    return "\n".join(lines)


@click.command("parse")
@click.argument("file", type=click.Path())
@click.option("--tool", default="auto", show_default=True,
              help=f"auto (detect), or a parser: {', '.join(TOOLS)}, or one from the lutnas.parsers entry points.")
@click.option("--strict", is_flag=True, help="Refuse a partial parse (skipped lines, a run cut short) with exit 2.")
@json_opt
def parse_cmd(file: str, tool: str, strict: bool, as_json: bool) -> None:
    """Parse FILE and print its summary (ms), every run it holds, and per-operator rows with categories."""
    result = parse_file(file, tool)
    if strict and result.partial:
        raise InputError(f"{file}: partial parse refused (--strict): {'; '.join(result.partial)}")
    data = result.to_dict()
    data["breakdown_ms"] = result.breakdown()
    data["unclassified"] = sorted({op.name for op in result.unclassified()})
    emit(data, as_json, lambda d: _human(file, d))
