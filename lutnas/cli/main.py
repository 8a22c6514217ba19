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
        except click.UsageError as exc:  # one line, as for every other bad input (click prints usage too)
            _say(f"error: {exc.format_message()}")
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            _say("interrupted")
            ctx.exit(130)
        except Exception as exc:
            if os.environ.get("LUTNAS_DEBUG"):
                raise
            message, code = _one_line(exc)
            if message is None:
                raise
            _say(message)
            ctx.exit(code)


def _one_line(exc: BaseException) -> tuple[str | None, int]:
    """Expected failures as one stderr line and an exit code: 2 for bad input, 1 for the machine."""
    if isinstance(exc, InputError):
        return f"error: {exc}", 2
    if isinstance(exc, DeviceError):
        return f"device error: {exc}", 1
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "allocate memory" in str(exc)):
        return "error: out of memory (a block or batch too large for this machine?)", 1
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"error: {exc.strerror or exc}{where}", 1
    return None, 1


def _say(message: str) -> None:
    """A line on stderr; a broken stderr is ignored (nothing else can be told)."""
    try:
        click.echo(message, err=True)
    except OSError:
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lutnas")
def cli() -> None:
    """lutnas: build latency lookup tables on real devices, explain them, search against them.

    Times are milliseconds everywhere. Set LUTNAS_DEBUG=1 for tracebacks.
    """


def main(argv: list[str] | None = None) -> int:
    """Console-script entry; returns the exit code (130 after Ctrl-C)."""
    try:
        cli.main(args=argv, prog_name="lutnas", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        _say("interrupted")
        code = 130
    else:
        code = 0
    if not _flush_stdout(quiet=code != 0):
        code = code or 1
    return code


def _flush_stdout(quiet: bool = False) -> bool:
    """Flush stdout now; a full or closed stdout (``> /dev/full``, a closed pipe) becomes one line,
    not a traceback at interpreter exit."""
    try:
        sys.stdout.flush()
        return True
    except OSError as exc:
        if not quiet:
            _say(f"error: cannot write the output: {exc.strerror or exc}")
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return False


if __name__ == "__main__":
    sys.exit(main())
