"""Shared options, defined once so a flag means the same thing in every command."""

from __future__ import annotations

import click

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
    "--protocol", default="default", show_default=True, help="Measurement protocol preset: quick, default or thorough.",
)
seed_opt = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
out_opt = click.option("--out", type=click.Path(), default=None, help="Output file or directory.")
