"""Parquet latency lookup tables: schema, resumable builds, vectorised lookup and prediction,
unseen-block regression, calibration, fidelity validation and drift checks."""

from lutnas.luts.build import build_lut, sample_specs
from lutnas.luts.schema import SCHEMA, SCHEMA_VERSION, read_table, write_table
from lutnas.luts.table import LUT, Prediction
from lutnas.luts.validate import drift, fidelity, fit_calibration, validate

__all__ = ["LUT", "Prediction", "SCHEMA", "SCHEMA_VERSION", "build_lut", "drift", "fidelity", "fit_calibration",
           "read_table", "sample_specs", "validate", "write_table"]
