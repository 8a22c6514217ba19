"""`lutnas farm build`: several devices' tables in one run on Ray (and `lut build --executor ray`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import click

from lutnas.cli.options import (
    batch_opt, device_option_opt, json_opt, nonempty_path, protocol_opt, seed_opt, space_opt, values_file_opt, values_opt,
)
from lutnas.cli.output import emit, note
from lutnas.devices import parse_device_options
from lutnas.profiler import get_protocol


@contextlib.contextmanager
def farm_progress(devices: Sequence[str], enabled: bool) -> Iterator[Any]:
    """One progress bar per device (rich), or nothing in --json mode."""
    if not enabled:
        yield lambda device, event, info: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[text]}"))
    bar = Progress(*columns, console=Console(stderr=True))
    tasks: dict[str, Any] = {}

    def on_event(device: str, event: str, info: dict[str, Any]) -> None:
        if not tasks:  # drawn at the first event: a failure before it (no cluster) prints no empty bar
            bar.start()
            tasks.update({d: bar.add_task(d, total=None, text="") for d in devices})
        if event == "plan":
            bar.update(tasks[device], total=info["todo"], completed=0,
                       text=f"{info['present']} present, {info['todo']} to measure")
        elif event == "row":
            flag = " FLAGGED" if info["flagged"] else ""
            bar.update(tasks[device], completed=info["done"], text=f"{info['key']} {info['median_ms']:.3g} ms{flag}"[:60])
        elif event == "lost":
            bar.console.print(f"[{device}] lost a worker while measuring {info['key']} ({info['error']}); "
                              f"re-queued, {info['actors_left']} worker(s) left")

    try:
        yield on_event
    finally:
        if tasks:
            bar.stop()


def ray_build(devices: Sequence[str], space: Any, specs: Sequence[Any], outs: dict[str, Path], protocol: str,
              device_options: Sequence[str], address: str | None, as_json: bool, **kwargs: Any) -> dict[str, Any]:
    from lutnas.measure.farm import farm_build

    with farm_progress(devices, not as_json) as progress:
        try:
            return farm_build(devices, space, specs, outs, get_protocol(protocol), parse_device_options(device_options),
                              address, progress=progress, **kwargs)
        except KeyboardInterrupt:
            note("interrupted: every row measured so far is saved; re-run the same command to resume")
            raise SystemExit(130)


def _summary(d: dict) -> str:
    return "\n".join(f"{dev}: {i['rows']} rows in {i['out']} ({i['measured']} measured now"
                     f"{', ' + str(i['actors_lost']) + ' worker(s) lost' if i['actors_lost'] else ''}"
                     f"{_left(i)})" for dev, i in d.items())


def _left(info: dict) -> str:
    return "" if info["complete"] else f"; {info['left']} left, re-run to resume"


@click.group("farm")
def farm_group() -> None:
    """Build tables for many devices at once on a Ray cluster (or a local Ray instance)."""


@farm_group.command("build")
@click.argument("more_devices", nargs=-1, metavar="[DEVICE]...")
@click.option("--devices", "devices", multiple=True,
              help="Device names: --devices adb:A adb:B torch-cpu (the names after the first are taken too).")
@device_option_opt
@space_opt
@values_opt
@values_file_opt
@click.option("--sample", "sample", type=click.IntRange(min=1), default=None,
              help="N specs sampled from the space (with --seed).")
@seed_opt
@batch_opt
@protocol_opt
@click.option("--ops/--no-ops", default=True, show_default=True)
@click.option("--modules", is_flag=True, help="AutoViT's module table instead of every block.")
@click.option("--method", type=click.Choice(["isolated", "removal"]), default="isolated", show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False), required=True, callback=nonempty_path,
              help="One DEVICE.parquet per device here.")
@click.option("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local instance).")
@json_opt
def farm_build_cmd(more_devices, devices, device_options, space, values, values_file, sample, seed, batch, protocol, ops, modules, method,
                   out_dir, address, as_json) -> None:
    """One resumable table per device, all devices measuring at once (one Ray actor per device)."""
    from lutnas.cli.lut_cmd import build_selection
    from lutnas.spaces.select import resolve_space

    from lutnas.errors import InputError

    names = list(dict.fromkeys(d for item in (*devices, *more_devices) for d in item.replace(",", " ").split() if d))
    if not names:
        raise InputError("name at least one device: lutnas farm build --devices adb:A torch-cpu ...")
    from lutnas.raycluster import check_address

    check_address(address)
    sp = resolve_space(space, values, values_file)
    specs, keys = build_selection(sp, sample, None, seed, modules)
    outs = {d: Path(out_dir) / f"{d.replace(':', '_').replace('/', '_')}.parquet" for d in names}
    info = ray_build(names, sp, specs, outs, protocol, device_options, address, as_json, batch=batch, ops=ops,
                     method=method, keys=keys, modules=modules)
    emit(info, as_json, _summary)
