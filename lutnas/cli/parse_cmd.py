"""`lutnas parse FILE`: read a tool's output (TFLite, trtexec, ORT, PyTorch profiler)."""

from __future__ import annotations

import click

from lutnas.cli.options import json_opt
from lutnas.cli.output import emit, table
from lutnas.profiler.parsers import TOOLS, parse_file


@click.command("parse")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--tool", default="auto", show_default=True,
              help=f"auto (detect), or a parser: {', '.join(TOOLS)}, or one from the lutnas.parsers entry points.")
@json_opt
def parse_cmd(file: str, tool: str, as_json: bool) -> None:
    """Parse FILE and print its summary (ms) and per-operator rows with categories."""
    result = parse_file(file, tool)
    data = result.to_dict()
    data["breakdown_ms"] = result.breakdown()
    data["unclassified"] = sorted({op.name for op in result.unclassified()})

    def human(d: dict) -> str:
        lines = [f"{file}: {d['tool']} (version {d['tool_version'] or 'unknown'})"]
        flat = {k: v for k, v in d["summary"].items() if not isinstance(v, dict)}
        lines += [f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}" for k, v in flat.items()]
        for k, v in d["summary"].items():
            if isinstance(v, dict):
                lines.append(f"  {k}: " + ", ".join(f"{kk}={vv:.6g}" for kk, vv in v.items()))
        if d["ops"]:
            rows = sorted(d["ops"], key=lambda o: -o["avg_ms"])[:25]
            lines.append(table([[o["name"][:60], o["type"][:24], o["avg_ms"], o["percent"], o["category"]] for o in rows],
                               ["op (top 25)", "type", "avg ms", "%", "category"]))
            lines.append(table([[c, v] for c, v in d["breakdown_ms"].items()], ["category", "ms"]))
        if d["unclassified"]:
            lines.append(f"unclassified (in Others): {len(d['unclassified'])} names, e.g. " + ", ".join(d["unclassified"][:5]))
        return "\n".join(lines)

    emit(data, as_json, human)
