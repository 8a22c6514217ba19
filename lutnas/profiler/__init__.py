"""The measurement protocol, ``Measurement``, operator categories and tool-output parsers.

The profiler is pure (no device code): devices import it to time under a protocol and to parse
their tools' outputs.
"""

from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import PRESETS, Protocol, get_protocol, run_protocol
from lutnas.profiler.records import OpRecord, breakdown_ms

__all__ = ["Measurement", "OpRecord", "PRESETS", "Protocol", "breakdown_ms", "get_protocol", "run_protocol"]
