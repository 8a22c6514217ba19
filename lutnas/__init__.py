"""lutnas: latency lookup tables for neural-architecture search on real devices.

Subpackages (imports point one way, left to right):
``spaces`` <- ``models`` <- ``devices`` <- ``profiler`` <- ``luts`` <- ``analysis``, ``search``;
``cli`` on top. Times are milliseconds everywhere.
"""

import os as _os

__version__ = "0.1.0"

# torch.profiler's kineto prints a "USDT ... profiler_start/stop" pair to stderr for every profiled
# run; level 6 silences it (a value the user set wins).
_os.environ.setdefault("KINETO_LOG_LEVEL", "6")

from lutnas.errors import DeviceError, InputError, LutnasError

__all__ = ["__version__", "LutnasError", "InputError", "DeviceError"]
