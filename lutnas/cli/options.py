"""Shared options, defined once so a flag means the same thing in every command.

Cheap checks happen here, at parse time (click's ranges and callbacks: exit 2 with one line),
so a bad value never waits for a device, a Ray connection or a long search.
"""

from __future__ import annotations

import click


def _protocol(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from lutnas.profiler.protocol import PRESETS

    if value is not None and value not in PRESETS:
        raise click.BadParameter(f"{value!r} is not known; choose from {', '.join(PRESETS)}")
    return value


def nonempty_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse ``--out ''`` by name (click.Path accepts the empty string)."""
    if value is not None and not str(value).strip():
        raise click.BadParameter("is empty; name a file or folder")
    return value


json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
values_opt = click.option(
    "--values", "values", multiple=True, metavar="NAME=V1,V2,...",
    help="Replace the candidate values of one factor (repeatable), e.g. --values d=3,6.",
)
values_file_opt = click.option(
    "--values-file", type=click.Path(dir_okay=False), default=None,
    help="TOML file with [values] NAME = [V1, V2, ...] narrowing the space.",
)
space_opt = click.option("--space", default="vit-scaling", show_default=True, help="Search space name (see `lutnas spaces`).")
device_opt = click.option("--device", default="torch-cpu", show_default=True, help="Device name (see `lutnas devices`).")
device_option_opt = click.option("--device-option", "device_options", multiple=True, metavar="KEY=VALUE",
                                 help="Device option, e.g. threads=1 or opt=basic (repeatable; see `lutnas devices`).")
protocol_opt = click.option(
    "--protocol", default="default", show_default=True, callback=_protocol,
    help="Measurement protocol preset: quick, default or thorough.",
)
seed_opt = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed (>= 0).")
batch_opt = click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
                         help="Batch size (>= 1) the table holds or predicts for.")


def model_selection(default_sample: int = 200):
    """``--grid | --sample N | --specs FILE``: which models a command covers, one vocabulary in every
    command (``lut build`` spells the same three). The command receives ``specs_opt`` in the form
    :func:`lutnas.analysis.correlate.specs_from_option` reads (``grid``, ``sample:N`` or a path)."""
    import functools

    from lutnas.errors import InputError

    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, grid: bool, sample: int | None, specs_opt: str | None, **kw):
            if sum([grid, sample is not None, specs_opt is not None]) > 1:
                raise InputError("give one of --grid, --sample N or --specs FILE")
            kw["specs_opt"] = "grid" if grid else f"sample:{sample}" if sample else specs_opt or f"sample:{default_sample}"
            return f(*args, **kw)

        wrapper = click.option("--specs", "specs_opt", default=None, metavar="FILE",
                               help="A file of specs, one per line.")(wrapper)
        wrapper = click.option("--sample", type=click.IntRange(min=1), default=None,
                               help=f"N models sampled with --seed (default {default_sample}).")(wrapper)
        return click.option("--grid", is_flag=True, help="Every model of the space.")(wrapper)

    return deco
