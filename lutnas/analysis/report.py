"""One Markdown page with the tables and figures lutnas can make for a user's tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from lutnas.analysis.breakdown import Breakdown, cosine_distances, flops_breakdown, lut_breakdown, stacked_bar_png
from lutnas.analysis.correlate import cost_table
from lutnas.analysis.pareto import pareto_mask, pareto_png
from lutnas.analysis.rank import heatmap_png, kendall_matrix
from lutnas.categories import CATEGORIES
from lutnas.errors import InputError
from lutnas.luts.table import LUT
from lutnas.spaces.base import Spec


def write_report(luts: Sequence[LUT], specs: Sequence[Spec], model: Spec, out: str | Path,
                 measured: Sequence[Breakdown] = (), html: bool = False) -> Path:
    """Write ``out/report.md`` plus its PNGs (``report-*.png``, so the figures of other commands
    in the same folder are never overwritten) and, with ``html``, ``out/report.html``; returns the
    Markdown path."""
    if not luts:
        raise InputError("a report needs at least one --lut table")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# lutnas report", "", f"_{time.strftime('%Y-%m-%d %H:%M')}; {len(luts)} table(s)._", "", "## Tables", ""]
    lines.append("| table | device | space | rows | flagged | protocol | calibration |")
    lines.append("|---|---|---|---|---|---|---|")
    for lut in luts:
        s = lut.summary()
        cal = s["calibration"]
        cal_txt = f"{cal['a']:.3f} × sum + {cal['b']:.3f} ms ({cal['n']} models)" if cal else "none"
        lines.append(f"| {lut.path} | {s['device']} | {(s['space'] or {}).get('name')} | {s['rows']} | {s['flagged_rows']} | "
                     f"{s['protocol']} | {cal_txt} |")
    items: list[Breakdown] = [flops_breakdown(model)]
    notes = []
    for lut in luts:
        try:
            items.append(lut_breakdown(lut, model))
        except InputError as exc:
            notes.append(f"- {lut.device}: no breakdown ({exc})")
    items += list(measured)
    png = stacked_bar_png(items, out / "report-breakdown.png", f"cost breakdown of {model.canonical()}")
    lines += ["", f"## Breakdown of {model.canonical()}", "", "| category | " + " | ".join(b.source for b in items) + " |",
              "|---|" + "---|" * len(items)]
    for c in CATEGORIES:
        lines.append(f"| {c} | " + " | ".join(f"{b.percent[c]:.1f} %" for b in items) + " |")
    lines.append("| total | " + " | ".join(f"{b.total:.4g} {b.unit}" for b in items) + " |")
    lines += notes
    dist = cosine_distances(items)
    lines += ["", "Cosine distances: " + "; ".join(f"{items[i].source} – {items[j].source} {dist[i, j]:.3f}"
                                                 for i in range(len(items)) for j in range(i + 1, len(items))),
              "", f"![breakdown]({png.name})", ""]
    costs = cost_table(luts, list(specs))
    matrix = kendall_matrix(costs, bootstrap=300)
    hm = heatmap_png(matrix, out / "report-kendall.png")
    lines += [f"## Kendall τ-b over {matrix.n} models", "", "| | " + " | ".join(matrix.columns) + " |",
              "|---|" + "---|" * len(matrix.columns)]
    for i, c in enumerate(matrix.columns):
        lines.append(f"| {c} | " + " | ".join(f"{matrix.tau[i, j]:.3f}" for j in range(len(matrix.columns))) + " |")
    lines += ["", f"![kendall]({hm.name})", ""]
    lat = costs[luts[0].device].to_numpy()
    gf = costs["FLOPs"].to_numpy() / 1e9
    front = pareto_mask(lat, gf)
    pp = pareto_png(lat, gf, out / "report-pareto.png", xlabel=f"latency on {luts[0].device} (ms)", ylabel="GFLOPs",
                    title="capacity vs latency")
    lines += [f"## Pareto front: GFLOPs vs latency on {luts[0].device}", "",
              "| spec | latency ms | GFLOPs |", "|---|---|---|"]
    order = np.argsort(lat[front])
    for i in np.flatnonzero(front)[order]:
        lines.append(f"| {costs.index[i]} | {lat[i]:.4g} | {gf[i]:.4g} |")
    lines += ["", f"![pareto]({pp.name})", ""]
    path = out / "report.md"
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    if html:
        (out / "report.html").write_text(markdown_to_html(text, title=f"lutnas report: {model.canonical()}"))
    return path


def markdown_to_html(text: str, title: str = "lutnas report") -> str:
    """A standalone HTML page from the report's Markdown (markdown-it-py with tables), images by
    relative path so the folder can be moved or served as it is."""
    import html as _html

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}"
             "th:first-child,td:first-child{text-align:left}img{max-width:100%;height:auto}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_html.escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n{body}</body></html>\n")
