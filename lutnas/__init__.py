"""lutnas: latency lookup tables for neural-architecture search on real devices.

Subpackages (imports point one way, left to right):
``spaces`` <- ``models`` <- ``devices`` <- ``profiler`` <- ``luts`` <- ``analysis``, ``search``;
``cli`` on top. Times are milliseconds everywhere.
"""

__version__ = "0.1.0"

from lutnas.errors import DeviceError, InputError, LutnasError

__all__ = ["__version__", "LutnasError", "InputError", "DeviceError"]
