"""`lutnas spaces` and `lutnas spec`."""

from __future__ import annotations

import click

from lutnas.cli.options import json_opt
from lutnas.cli.output import emit, table
from lutnas.spaces import list_spaces, named_specs, parse_spec
from lutnas.spaces.base import fmt_number as _num
from lutnas.spaces.report import spec_summary


@click.command("spaces")
@json_opt
def spaces_cmd(as_json: bool) -> None:
    """List the search spaces and the named specs."""
    data = {
        "spaces": [
            {**sp.to_dict(), "description": sp.description, "size": sp.size, "unique_blocks": len(sp.unique_blocks()),
             "capabilities": sorted(sp.capabilities)}
            for sp in list_spaces().values()
        ],
        "named_specs": {name: spec.canonical() for name, spec in named_specs().items()},
    }

    def human(d: dict) -> str:
        rows = [[s["name"], s["size"], s["unique_blocks"], "; ".join(f"{k}={','.join(_num(x) for x in v)}" for k, v in s["values"].items())]
                for s in d["spaces"]]
        named = [[n, c] for n, c in d["named_specs"].items()]
        return table(rows, ["space", "specs", "blocks", "values"]) + "\n\n" + table(named, ["named spec", "factors"])

    emit(data, as_json, human)


@click.command("spec")
@click.argument("spec")
@json_opt
def spec_cmd(spec: str, as_json: bool) -> None:
    """Show one model: SPEC is a name (deit-tiny), d=12,h=3,e=64,r=4,I=224,p=16, autovit:c=..,mb=..,t=.. or a plug-in family's FAMILY:..."""
    summary = spec_summary(parse_spec(spec))

    def human(d: dict) -> str:
        shape = f"dim {d['dim']}  tokens {d['tokens']}  " if d["dim"] is not None else ""
        head = (f"{d['spec']}\n  {shape}params {d['params'] / 1e6:.3f} M  "
                f"GFLOPs {d['gflops']:.4f} (multiply-add counted once)\n")
        rows = [[b["key"], b["count"], b["params"], b["gflops"]] for b in d["blocks"]]
        return head + table(rows, ["block", "count", "params", "GFLOPs each"])

    emit(summary, as_json, human)
