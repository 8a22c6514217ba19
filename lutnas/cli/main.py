"""The `lutnas` entry point: one group, one sub-command per job; errors mapped to exit codes."""

from __future__ import annotations

import importlib
import os
import sys

import click

from lutnas import __version__
from lutnas.errors import DeviceError, InputError


#: sub-command name -> "module:attribute"; a module is imported only when its command runs (or
#: --help lists it), so `lutnas spaces` does not pay for torch.
COMMANDS: dict[str, str] = {
    "spaces": "lutnas.cli.spaces_cmd:spaces_cmd",
    "spec": "lutnas.cli.spaces_cmd:spec_cmd",
    "devices": "lutnas.cli.devices_cmd:devices_cmd",
    "measure": "lutnas.cli.devices_cmd:measure_cmd",
    "parse": "lutnas.cli.parse_cmd:parse_cmd",
    "lut": "lutnas.cli.lut_cmd:lut_group",
    "farm": "lutnas.cli.farm_cmd:farm_group",
    "breakdown": "lutnas.cli.analysis_cmd:breakdown_cmd",
    "correlate": "lutnas.cli.analysis_cmd:correlate_cmd",
    "report": "lutnas.cli.analysis_cmd:report_cmd",
    "search": "lutnas.cli.search_cmd:search_cmd",
}


class _Group(click.Group):
    """Loads sub-commands lazily (click's documented lazy group) and maps expected errors to one
    stderr line: InputError -> exit 2, DeviceError -> exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

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


def main(argv: list[str] | None = None) -> int:
    """Console-script entry; returns the exit code."""
    try:
        cli.main(args=argv, prog_name="lutnas", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
