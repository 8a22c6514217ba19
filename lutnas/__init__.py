"""lutnas: latency lookup tables for neural-architecture search on real devices.

Subpackages (imports point one way, left to right):
``spaces``, ``profiler`` <- ``models`` <- ``devices`` <- ``measure``; ``luts`` <- ``measure``,
``analysis``, ``search``; ``cli`` on top. Times are milliseconds everywhere. Importing lutnas
changes nothing in the process (no environment variables, no RNG, no plotting backend).
"""

__version__ = "0.1.0"

from lutnas.errors import DeviceError, InputError, LutnasError

__all__ = ["__version__", "LutnasError", "InputError", "DeviceError"]
