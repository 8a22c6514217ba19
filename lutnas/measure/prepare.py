"""Export ahead: fill the artifact cache in worker processes before a build times anything.

A TFLite block is a litert-torch export of ~4 s on this host (the 593-block grid: ~40 min of
exports on one core), timed afterwards in ~1 s. Exports do not need a quiet machine, timings do:
``lut build --export-jobs N`` first exports every block still to measure in N processes (the
exports are deterministic, so the build's own ``prepare`` then finds each one in the cache), and
only then times them one at a time. Devices without a slow host-side export
(:meth:`Device.exporter` is None) skip the phase.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from lutnas.devices.base import Device
from lutnas.errors import InputError
from lutnas.spaces.base import BlockKey


def _export_one(fn: Callable[..., Any], kwargs: dict[str, Any], key: BlockKey, copies: int | str, batch: int) -> str:
    import torch

    from lutnas.models import auto_copies, build_block_copies

    torch.set_num_threads(1)
    n = auto_copies(key) if copies == "auto" else int(copies)
    module, example = build_block_copies(key, n, batch=batch)
    fn(module, example, **kwargs)
    return key.canonical()


def export_ahead(device: Device, keys: Sequence[BlockKey], jobs: int, copies: int | str = "auto", batch: int = 1,
                 progress: Callable[[str, dict[str, Any]], None] | None = None) -> int:
    """Export every key's artifact (the same module a build times) in ``jobs`` processes; returns
    how many were exported (0 when the device has no host-side export). A failing export stops
    the phase with its error; the build would have raised the same one."""
    if jobs < 1:
        raise InputError(f"--export-jobs must be >= 1; got {jobs}")
    spec = device.exporter()
    if spec is None or not keys:
        return 0
    fn, kwargs = spec
    done = 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_export_one, fn, kwargs, k, copies, batch) for k in keys]
        for fut in as_completed(futures):
            key = fut.result()
            done += 1
            if progress:
                progress("export", {"key": key, "done": done, "todo": len(keys)})
    return done
