"""Device registry: built-ins plus third-party runners from the ``lutnas.devices`` entry-point group.

A device name is either exact (``torch-cpu``) or a prefix pattern (``adb:SERIAL`` is served by
the class registered as ``adb``). Entry points are looked up on request, never at import.
"""

from __future__ import annotations

from typing import Any

from lutnas.devices.base import Device
from lutnas.errors import InputError
from lutnas.registry import Registry

#: every device runner: built-ins and the entry-point group ``lutnas.devices``
DEVICES: Registry[type[Device]] = Registry("device", "lutnas.devices", {
    "torch-cpu": "lutnas.devices.torch_cpu:TorchCPUDevice",
    "ort-cpu": "lutnas.devices.ort_cpu:OrtCPUDevice",
    "torch-cuda": "lutnas.devices.torch_cuda:TorchCUDADevice",
    "tensorrt": "lutnas.devices.tensorrt:TensorRTDevice",
    "tflite-cpu": "lutnas.devices.tflite_cpu:TFLiteCPUDevice",
    "adb": "lutnas.devices.adb:AdbDevice",
}, base=Device, prefixed=True)


def device_classes() -> dict[str, type[Device] | Exception]:
    """Every registered name -> its class (or the exception that stopped it from loading)."""
    return DEVICES.items()


def get_device(name: str, **params: Any) -> Device:
    """Instantiate the device ``name`` (``adb:SERIAL`` passes ``target=SERIAL``) with options.

    String options (``--device-option xnnpack=no``) are converted by the class's declared
    parameter types, then checked (:mod:`lutnas.params`).
    """
    key, arg = DEVICES.resolve(name)
    try:
        cls = DEVICES.load(key)
    except InputError as exc:
        raise InputError(f"device {name!r} could not be loaded: {exc}") from None
    if arg:
        params = {"target": arg, **params}
    return cls(**params)


def list_devices() -> list[dict[str, Any]]:
    """Name, description, usable here, and why not, for every registered device."""
    rows = []
    for name, cls in sorted(device_classes().items()):
        if isinstance(cls, Exception):
            rows.append({"name": name, "description": "", "usable": False, "reason": f"failed to load: {cls}",
                         "op_profile": False, "options": {}})
            continue
        usable, reason = cls.availability()
        rows.append({"name": name, "description": cls.description, "usable": usable, "reason": reason,
                     "op_profile": cls.supports_op_profile, "options": dict(cls.defaults)})
    return rows


def parse_device_options(options: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> dict, numbers converted (``threads=2`` -> 2)."""
    out: dict[str, Any] = {}
    for opt in options:
        if "=" not in opt:
            raise InputError(f"--device-option {opt!r} is not KEY=VALUE")
        k, v = (s.strip() for s in opt.split("=", 1))
        value: Any = v
        if v.lower() in ("true", "false"):
            value = v.lower() == "true"
        else:
            try:
                value = int(v)
            except ValueError:
                try:
                    value = float(v)
                except ValueError:
                    value = v
        out[k] = value
    return out
