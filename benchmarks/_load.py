"""A reproducible memory-bound neighbour for `--load` benchmarks: a numpy streaming copy on the
other core, the kind of load a user's machine has (a browser, a build, a second benchmark)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

#: 64 MiB arrays: far beyond the last-level cache, so every copy streams through DRAM
_NEIGHBOUR = """
import numpy as np, time
a = np.ones(8 * 2**20); b = np.empty_like(a)
end = time.time() + {seconds}
while time.time() < end:
    np.copyto(b, a); np.copyto(a, b)
"""


@contextlib.contextmanager
def memory_neighbour(enabled: bool = True, seconds: float = 4 * 3600) -> Iterator[None]:
    """Run the streaming copy on the last core and this process on the first for the duration."""
    if not enabled:
        yield
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--load needs two cores: one for the benchmark, one for the neighbour")
    mine, theirs = cores[0], cores[-1]
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {mine})
    proc = subprocess.Popen([sys.executable, "-c", _NEIGHBOUR.format(seconds=seconds)],
                            preexec_fn=lambda: os.sched_setaffinity(0, {theirs}))
    try:
        yield
    finally:
        proc.kill()
        proc.wait()
        os.sched_setaffinity(0, old)
