"""The measurement protocol, ``Measurement``, operator categories and tool-output parsers.

The profiler is pure (no device code): devices import it to time under a protocol and to parse
their tools' outputs.
"""

from lutnas.profiler.measurement import Measurement, OpRecord
from lutnas.profiler.protocol import PRESETS, Protocol, get_protocol, run_protocol

__all__ = ["Measurement", "OpRecord", "PRESETS", "Protocol", "get_protocol", "run_protocol"]
