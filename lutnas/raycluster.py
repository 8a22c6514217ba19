"""Connecting to Ray (extra ``ray``): an existing cluster by address, or a local instance.

Nothing imports Ray unless an ``--executor ray`` path calls :func:`connect`.

Devices are Ray *custom resources* named by their label (``torch-cpu``, ``adb:8ABX0Y123``): a
host that can run a device declares it when it joins the cluster, e.g.
``ray start --address=HEAD:6379 --resources='{"adb:8ABX0Y123": 1, "torch-cpu": 1}'``, and an
actor that measures on that device asks for one unit, so two measurements never share a device.
A local instance declares one unit of every device the run names.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Sequence

from lutnas.errors import DeviceError, InputError


def ray_module():
    try:
        import ray
    except ImportError:
        raise DeviceError("--executor ray needs Ray (pip install 'lutnas[ray]')") from None
    return ray


def connect(address: str | None = None, devices: Sequence[str] = (), num_cpus: int | None = None) -> Any:
    """``ray.init`` once: ``address`` (or ``$RAY_ADDRESS``) joins a cluster; otherwise a local
    instance starts with ``{device: 1}`` resources for ``devices``. Returns the ``ray`` module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    address = check_address(address or os.environ.get("RAY_ADDRESS"))
    if address and address != "auto":
        _reach(address)
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False, "include_dashboard": False,
                              "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, resources={d: 1 for d in devices} or None, **kwargs)
    return ray


def device_units(ray: Any, device: str) -> int:
    """How many units of ``device`` the cluster declares (0: no host has it)."""
    return int(ray.cluster_resources().get(device, 0))


def check_address(address: str | None) -> str | None:
    """``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``; one line for anything else (cheap, no network)."""
    if not address or address == "auto":
        return address
    host, port = _split(address)
    if not host or port is None:
        raise InputError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT, or auto)")
    return address


def _split(address: str) -> tuple[str, int | None]:
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return "", None
    return host.strip("[]"), int(port)


def _reach(address: str) -> None:
    """Ray retries an unreachable cluster for ever: try the port once, within a bounded time."""
    try:
        timeout = float(os.environ.get("LUTNAS_RAY_TIMEOUT", "10"))
    except ValueError:
        timeout = 10.0
    host, port = _split(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise DeviceError(f"cannot reach the Ray cluster at {address} within {timeout:g} s "
                          f"({exc.strerror or exc}); start it (ray start --head) or check --address") from None
