"""The `lutnas` entry point: one group, one sub-command per job; errors mapped to exit codes."""

from __future__ import annotations

import os
import sys

import click

from lutnas import __version__
from lutnas.errors import DeviceError, InputError


class _Group(click.Group):
    """Maps expected errors to one stderr line: InputError -> exit 2, DeviceError -> exit 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except InputError as exc:
            if os.environ.get("LUTNAS_DEBUG"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except DeviceError as exc:
            if os.environ.get("LUTNAS_DEBUG"):
                raise
            click.echo(f"device error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lutnas")
def cli() -> None:
    """lutnas: build latency lookup tables on real devices, explain them, search against them.

    Times are milliseconds everywhere. Set LUTNAS_DEBUG=1 for tracebacks.
    """


def _mount() -> None:
    from lutnas.cli.analysis_cmd import breakdown_cmd, correlate_cmd, report_cmd
    from lutnas.cli.devices_cmd import devices_cmd, measure_cmd
    from lutnas.cli.farm_cmd import farm_group
    from lutnas.cli.lut_cmd import lut_group
    from lutnas.cli.parse_cmd import parse_cmd
    from lutnas.cli.search_cmd import search_cmd
    from lutnas.cli.spaces_cmd import spaces_cmd, spec_cmd

    for command in (spaces_cmd, spec_cmd, devices_cmd, measure_cmd, parse_cmd, lut_group, farm_group, breakdown_cmd, correlate_cmd,
                    report_cmd, search_cmd):
        cli.add_command(command)


_mount()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry; returns the exit code."""
    try:
        cli.main(args=argv, prog_name="lutnas", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
