"""How the C allocator treats large blocks: the ``allocator`` option of ``torch-cpu``.

Eager PyTorch on a CPU takes every intermediate tensor from the C library's ``malloc``. glibc serves
a block above its mmap threshold (dynamic, at most 32 MiB) with a fresh ``mmap`` and returns it with
``munmap`` when freed, so a block with large activations faults its whole working set in again on
every call: a 1,601-token attention map of 8 heads is 82 MB. Measured on this project's 2-core host
(1 thread): ``softmax(q @ kᵀ)`` at 8×1,601×32 took 110–131 ms per call with glibc's defaults
(40,000 page faults and 75–89 ms of system time per call) and 45–47 ms with freed memory kept; a
1,601-token encoder (width 256) took 203–234 ms in one run and 81–103 ms in the other. What a fault
costs belongs to the host's state (the hypervisor, the neighbours), not to the block: with the
defaults such a block's time swings by tens of per cent between runs, and a table of isolated blocks
disagrees with the models built from them.

``reuse`` (the default) keeps freed memory in the process — glibc's ``M_MMAP_THRESHOLD`` at 1 GiB and
``M_TRIM_THRESHOLD`` at its maximum — which is what jemalloc and tcmalloc, the allocators PyTorch's
CPU inference guides recommend, do anyway. ``system`` leaves the C library as it is. The setting is
process-wide; it is applied when a device first times or profiles, and recorded in its fingerprint
(a table never mixes the two). Where the C library is not glibc (macOS, musl) ``reuse`` has nothing
to set and the fingerprint says ``system``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
import threading

#: the option's values
MODES = ("reuse", "system")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_REUSE = {_M_MMAP_THRESHOLD: 1 << 30, _M_TRIM_THRESHOLD: (1 << 31) - 1}
_SYSTEM = {_M_MMAP_THRESHOLD: 128 * 1024, _M_TRIM_THRESHOLD: 128 * 1024}  # glibc's documented defaults

_lock = threading.Lock()
_current = "system"  # what this process's allocator is set to


@functools.lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def effective(mode: str) -> str:
    """What ``mode`` amounts to on this host: ``reuse`` only where glibc's ``mallopt`` exists."""
    return "reuse" if mode == "reuse" and _mallopt() is not None else "system"


def apply(mode: str) -> str:
    """Set this process's allocator to ``mode`` (``reuse`` or ``system``); returns what is in force.

    Going back to ``system`` after ``reuse`` restores glibc's default thresholds (its dynamic
    adjustment of the mmap threshold stays off for the rest of the process)."""
    global _current
    if mode not in MODES:
        raise ValueError(f"allocator must be one of {MODES}; got {mode!r}")
    want = effective(mode)
    with _lock:
        if want != _current:
            fn = _mallopt()
            if fn is not None:
                for param, value in (_REUSE if want == "reuse" else _SYSTEM).items():
                    fn(param, value)
            _current = want
    return _current
