"""Environment settings a runner needs only while it runs, restored afterwards."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def env_default(name: str, value: str) -> Iterator[None]:
    """Set ``name`` to ``value`` unless the user set it, for the duration of the block."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def quiet_kineto() -> contextlib.AbstractContextManager[None]:
    """torch.profiler's kineto prints a "USDT ... profiler_start/stop" pair to stderr for every
    profiled run; level 6 silences it (a value the user set wins). Wrap where a profiler starts."""
    return env_default("KINETO_LOG_LEVEL", "6")
