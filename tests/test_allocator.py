"""The torch-cpu ``allocator`` option: freed memory kept in the process (``reuse``) or the C library's
defaults (``system``). Page faults are counted, not timed: each mode runs in a fresh process."""

import subprocess
import sys

import pytest

from lutnas.devices import allocator, get_device
from lutnas.errors import InputError

FAULTS = """
import resource, sys, torch
from lutnas.devices import allocator
print(allocator.apply(sys.argv[1]))
torch.set_num_threads(1)
x = torch.randn(4, 1601, 16)
def call():  # an attention map of 4 x 1601 x 1601 floats: 41 MB, above glibc's largest mmap threshold
    return (x @ x.transpose(-1, -2)).softmax(-1)
for _ in range(10):  # warm-up: the heap settles within a few calls
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def _faults_per_call(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, float(faults)


@pytest.mark.skipif(allocator.effective("reuse") != "reuse", reason="the C library is not glibc")
def test_reuse_stops_faulting_large_blocks_in_on_every_call():
    system, reuse = _faults_per_call("system"), _faults_per_call("reuse")
    assert system[0] == "system" and reuse[0] == "reuse"
    pages = 4 * 1601 * 1601 * 4 / 4096  # one attention map
    assert system[1] > 0.5 * pages  # glibc maps and unmaps the map's block on every call
    assert reuse[1] < 0.05 * pages  # ... kept and reused


def test_option_is_checked_and_recorded():
    with pytest.raises(InputError, match="allocator"):
        get_device("torch-cpu", allocator="jemalloc")
    assert get_device("torch-cpu", allocator="system").fingerprint()["allocator"] == "system"
    assert get_device("torch-cpu").fingerprint()["allocator"] == allocator.effective("reuse")
    with pytest.raises(ValueError, match="allocator must be one of"):
        allocator.apply("tcmalloc")
