"""Progress bars on stderr (rich), silent in --json mode or when stderr is not a terminal-like sink."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator



@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """Yields ``update(done, total, text)``; draws an ETA bar on stderr when enabled."""
    if not enabled:
        yield lambda done, total, text="": None
        return
    from rich.console import Console  # not imported for --json runs (~40 ms)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[text]}"))
    bar = Progress(*columns, console=console, transient=False)
    task = None

    def update(done: int, total: int, text: str = "") -> None:
        nonlocal task
        if task is None:  # drawn at the first update: an error before it prints no empty bar
            bar.start()
            task = bar.add_task(description, total=None, text="")
        bar.update(task, completed=done, total=total, text=text[:60])

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()


def build_progress(update: Callable[[int, int, str], None], note: Callable[[str], None]) -> Callable[[str, dict[str, Any]], None]:
    """Adapter from :func:`lutnas.measure.build_lut` events to a bar and stderr notes."""
    state = {"todo": 0}

    def on_event(event: str, info: dict[str, Any]) -> None:
        if event == "plan":
            state["todo"] = info["todo"]
            what = f"{info['specs']} specs need" if info["specs"] else "chosen:"  # a transfer names blocks, not specs
            note(f"{what} {info['blocks']} unique blocks; {info['present']} already in {info['out']}, "
                 f"measuring {info['todo']}")
            for w in info.get("warnings", []):
                note(f"warning: fingerprint differs from the table's: {w}")
            update(0, info["todo"], "")
        elif event == "pause":
            note(f"host {info['ratio']:.2f}x slower than the table's baseline: pausing {info['seconds']:.0f} s")
        elif event == "export":
            update(info["done"], info["todo"], f"exported {info['key']}")
        elif event == "recheck":
            update(info["done"], info["todo"], f"recheck {info['key']}")
        elif event == "row":
            flag = " FLAGGED" if info["flagged"] else ""
            update(info["done"], info["todo"], f"{info['key']} {info['median_ms']:.3g} ms{flag}")

    return on_event
