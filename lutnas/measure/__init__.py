"""Everything that drives a device: measure a block or model, build a table (locally or on a Ray
farm), validate a table against measured models, re-measure rows for drift, the noise ceiling,
measured per-operator breakdowns. ``lutnas.luts``, ``lutnas.analysis`` and ``lutnas.search``
never touch a device; they read what this package wrote.
"""

from lutnas.measure.breakdown import measured_breakdown
from lutnas.measure.build import build_lut, measure_row, plan_build
from lutnas.measure.target import measure_target, measurement_summary, prepare_target
from lutnas.measure.validate import drift, measure_models, validate

__all__ = ["build_lut", "drift", "measure_models", "measure_row", "measure_target", "measured_breakdown",
           "measurement_summary", "plan_build", "prepare_target", "validate"]
