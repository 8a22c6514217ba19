"""torch-cuda without a GPU: the batch search logic and the availability message.

The GPU path itself was verified on an H100 (docs/gpu-verification.md).
"""

import pytest

from lutnas.devices import get_device, list_devices
from lutnas.devices.torch_cuda import TorchCUDADevice, find_max_batch
from lutnas.errors import DeviceError, InputError


def test_max_batch_doubles_until_out_of_memory():
    tried = []

    def fits(b):  # simulated memory: 4 GB, 13 MB per image
        tried.append(b)
        return b * 13 <= 4000

    assert find_max_batch(fits) == 256
    assert tried == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def test_max_batch_edges():
    assert find_max_batch(lambda b: False) == 0
    assert find_max_batch(lambda b: True, limit=64) == 64
    with pytest.raises(InputError, match="power of 2"):
        find_max_batch(lambda b: True, start=3)


def test_registered_and_explains_why_not_usable():
    row = {r["name"]: r for r in list_devices()}["torch-cuda"]
    usable, reason = TorchCUDADevice.availability()
    assert row["usable"] == usable
    if not usable:
        assert reason and ("CPU build" in reason or "no CUDA GPU" in reason)
        with pytest.raises(DeviceError, match="not usable here"):
            get_device("torch-cuda").fingerprint()
