"""One runner per deployment tool: export an artifact, time it, collect per-operator records."""

from lutnas.devices.base import Artifact, Device
from lutnas.devices.registry import device_classes, get_device, list_devices, parse_device_options

__all__ = ["Artifact", "Device", "device_classes", "get_device", "list_devices", "parse_device_options"]
